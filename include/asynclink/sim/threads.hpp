// SPDX-License-Identifier: BSL-1.0
// The sim port's threads, mutex and condition variable (port/threads.hpp):
// a Thread is a context of the scheduler; the mutex and the condition
// variable are built on sim atomics and block_thread, so every step of them
// is a preemption point and a thread waiting on them is a blocked context.
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "asynclink/port/sim.hpp"

namespace asynclink::port {

class Thread {
public:
    using id = int;

    Thread() noexcept = default;
    template <class F, class... Args>
    explicit Thread(F&& f, Args&&... args)
        : Thread(std::function<void()>(
              [fn = std::decay_t<F>(std::forward<F>(f)),
               ... bound = std::decay_t<Args>(std::forward<Args>(args))]() mutable { std::invoke(fn, bound...); })) {}
    Thread(Thread&& other) noexcept : id_(std::exchange(other.id_, -1)) {}
    Thread& operator=(Thread&& other) noexcept {
        if (joinable()) fatal("asynclink sim: a joinable Thread was assigned to");
        id_ = std::exchange(other.id_, -1);
        return *this;
    }
    ~Thread() {
        if (joinable()) fatal("asynclink sim: a Thread was destroyed without join()");
    }

    bool joinable() const noexcept { return id_ >= 0; }
    id get_id() const noexcept { return id_; }
    void join() noexcept;

private:
    explicit Thread(std::function<void()> fn);
    int id_ = -1;
};

/// The running context's id (a Thread's get_id() inside it).
Thread::id this_thread_id() noexcept;

/// A mutex whose waiters block on its word.
class Mutex {
public:
    Mutex() noexcept = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    void lock() noexcept {
        // seq_cst throughout: the sim runs every schedule sequentially consistent anyway.
        while (state_.exchange(1) != 0) block_thread(state_, 1);
    }
    bool try_lock() noexcept { return state_.exchange(1) == 0; }
    void unlock() noexcept {
        state_.store(0);
        unblock_threads(state_);
    }

private:
    atomic<std::uint32_t> state_{0};  // 1: locked
};

/// A condition variable on a sequence word: a waiter reads it under the lock,
/// so a notify after that changes it and the block returns at once.
class ConditionVariable {
public:
    ConditionVariable() noexcept = default;
    ConditionVariable(const ConditionVariable&) = delete;
    ConditionVariable& operator=(const ConditionVariable&) = delete;

    template <class Lock>
    void wait(Lock& lock) {
        std::uint32_t seen = sequence_.load();
        lock.unlock();
        block_thread(sequence_, seen);
        lock.lock();
    }
    template <class Lock, class Predicate>
    void wait(Lock& lock, Predicate ready) {
        while (!ready()) wait(lock);
    }
    void notify_one() noexcept { notify_all(); }
    void notify_all() noexcept {
        sequence_.fetch_add(1);
        unblock_threads(sequence_);
    }

private:
    atomic<std::uint32_t> sequence_{0};
};

}  // namespace asynclink::port
