// SPDX-License-Identifier: BSL-1.0
// Building blocks for awaiters that park a task: the cancellable base and an
// intrusive FIFO of waiters (so waiting never allocates).
#pragma once

#include <coroutine>
#include <string>

#include "asynclink/errors.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"

namespace asynclink::detail {

/// Base of every awaiter that suspends a task and can be cancelled there.
class Parked : public Suspension {
public:
    explicit Parked(CancelResult (*on_cancel)(Suspension&) noexcept) noexcept : Suspension{on_cancel} {}

    TaskBase* task = nullptr;
    bool cancelled = false;

    /// Parks the task at `h`. Returns false, with `cancelled` set, when a
    /// cancellation is pending: the caller must not suspend.
    template <class P>
    bool park(std::coroutine_handle<P> h) noexcept {
        task = &task_of(h);
        if (!task->park(h, this)) {
            cancelled = true;
            return false;
        }
        return true;
    }
    void throw_if_cancelled() const {
        if (cancelled) ASYNCLINK_THROW(CancelledError);
    }
};

/// A waiter in an intrusive doubly-linked FIFO.
struct ListedWaiter {
    ListedWaiter* prev = nullptr;
    ListedWaiter* next = nullptr;
    bool listed = false;
};

class WaiterList {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    ListedWaiter* front() const noexcept { return head_; }
    void push_back(ListedWaiter& w) noexcept {
        w.prev = tail_;
        w.next = nullptr;
        w.listed = true;
        if (tail_ != nullptr) {
            tail_->next = &w;
        } else {
            head_ = &w;
        }
        tail_ = &w;
    }
    void remove(ListedWaiter& w) noexcept {
        if (!w.listed) return;
        (w.prev != nullptr ? w.prev->next : head_) = w.next;
        (w.next != nullptr ? w.next->prev : tail_) = w.prev;
        w.prev = w.next = nullptr;
        w.listed = false;
    }
    ListedWaiter* pop_front() noexcept {
        ListedWaiter* w = head_;
        if (w != nullptr) remove(*w);
        return w;
    }

private:
    ListedWaiter* head_ = nullptr;
    ListedWaiter* tail_ = nullptr;
};

/// Ties a primitive to the loop that uses it, and rejects calls from any
/// thread that is not running that loop.
///
/// The binding is to the loop's identity, not its address: it holds a
/// reference to the loop's wake core, which no other loop can have while the
/// reference lives (a new Loop at the old one's address has a new core). Once
/// the bound loop has ended (its core is closed), the next loop to use the
/// primitive takes it over: a global primitive serves successive run() calls.
/// The primitive is idle then, since the loop's end ran every task to
/// completion. While the bound loop lives, another loop's thread is refused.
class LoopBinding {
public:
    LoopBinding() noexcept = default;
    LoopBinding(const LoopBinding&) = delete;
    LoopBinding& operator=(const LoopBinding&) = delete;
    ~LoopBinding() {
        if (core_ != nullptr) core_->release();
    }

    Loop& check(const char* operation, const char* alternative) {
        Loop* current = port::current_loop();
        if (current == nullptr || !try_bind(*current)) [[unlikely]] {
            fail(operation, alternative);
        }
        return *current;
    }
    /// Binds to `loop`, unless bound to another loop that is still running:
    /// false then.
    bool try_bind(Loop& loop) noexcept {
        WakeCore& core = detail::LoopAccess::wake_core(loop);
        return core_ == &core || rebind(core);
    }
    /// The bound loop while it lives; nullptr if none or it has ended.
    Loop* loop() const noexcept { return core_ != nullptr && !core_->closed() ? core_->owner() : nullptr; }

private:
    bool rebind(WakeCore& next) noexcept {
        if (core_ != nullptr && !core_->closed()) return false;
        next.add_ref();
        if (core_ != nullptr) core_->release();
        core_ = &next;
        return true;
    }
    [[noreturn]] static void fail(const char* operation, const char* alternative) {
        ASYNCLINK_THROW(
            UsageError,
            std::string(operation) +
                " called from a thread that is not running the primitive's loop (loop-only primitive); use " +
                alternative);
    }
    WakeCore* core_ = nullptr;  // a reference, held while bound
};

}  // namespace asynclink::detail
