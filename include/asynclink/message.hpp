// Message<T>: an event with a payload (the seed's Message).
//
// | method                    | task | other loop | thread | signal handler / ISR  |
// |---------------------------|------|------------|--------|-----------------------|
// | set(value)                | yes  | yes        | yes    | yes (if T's copy is)  |
// | clear / is_set            | yes  | yes        | yes    | yes                   |
// | co_await m / wait / next  | yes  | no         | no     | no                    |
// | value()                   | yes  | no         | no     | no                    |
//
// Use this when a context must tell tasks "this happened, and here is the
// latest data": a sensor reading, a command. There is no queue: a set() that
// comes before the waiters ran replaces the earlier value (the latest wins).
// When every value matters, use ThreadSafeQueue.
//
// A reader never sees a torn payload, whatever T's size: values live in four
// slots; a writer fills a slot no one reads and then publishes its index; the
// loop pins the slot it copies from. Up to two set() calls at the same moment
// never wait; a third waits for one of those to finish. set() takes no lock
// and allocates nothing itself (T's copy or move constructor must not either,
// for use in a signal handler).
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <new>
#include <optional>
#include <utility>

#include "asynclink/detail/event_core.hpp"

namespace asynclink {

template <class T>
class Message {
    static constexpr std::uint32_t slot_count = 4;
    static constexpr std::uint32_t none = 7;
    // slots_state_: bits 0-2 current slot (none = 7), 3-5 slot pinned by the
    // loop (none = 7), 6-9 one busy bit per slot being written.
    // Bit 10: the message is set. It changes in the same step as the current
    // slot, so a reader that clears it takes exactly the value it was set with.
    static constexpr std::uint32_t message_set_bit = 1u << 10;
    static constexpr std::uint32_t initial_state = none | (none << 3);
    static std::uint32_t current_of(std::uint32_t s) noexcept { return s & 7; }
    static std::uint32_t pinned_of(std::uint32_t s) noexcept { return (s >> 3) & 7; }
    static std::uint32_t busy_of(std::uint32_t s) noexcept { return (s >> 6) & 0xF; }
    static std::uint32_t bit(std::uint32_t slot) noexcept { return slot == none ? 0 : 1u << slot; }

public:
    Message() = default;
    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;
    ~Message() {
        for (auto& slot : slots_) {
            if (slot.full) slot.value().~T();
        }
    }

    /// Stores `value` as the latest payload and sets the message, waking every
    /// waiting task. Any context.
    template <class U = T>
    void set(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        std::uint32_t slot = claim_slot();
        Slot& s = slots_[slot];
        if (s.full) s.value().~T();
        s.full = false;
        // If T's constructor throws, the slot goes back to the free ones: kept
        // busy, four such throws would leave set() no slot to claim, ever.
        struct Unclaim {
            std::atomic<std::uint32_t>* state;
            std::uint32_t busy_bit;
            ~Unclaim() {
                // release: a writer that claims the slot next sees it empty (full == false).
                if (state != nullptr) state->fetch_and(~busy_bit, std::memory_order_release);
            }
        } unclaim{&slots_state_, 1u << (6 + slot)};
        ::new (static_cast<void*>(s.storage)) T(std::forward<U>(value));
        unclaim.state = nullptr;
        s.full = true;
        // The wake-up flag goes up before the value is published, so no flag
        // is ever raised late for a value next() already took; next() covers
        // the short window by waiting for `publishing_` to drop.
        // Relaxed increment, then fence F3: with next()'s fence F4 (after its
        // core_.clear()) either next() sees this set() in flight, or core_.set()
        // below sees next()'s clear and raises the flag again (and posts if a
        // waiter is registered). Without it, a core_.set() that coalesced with a
        // flag still up from an earlier set() could have that flag cleared by
        // next() before this value is published: the wake-up would be lost.
        publishing_.fetch_add(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);  // F3
        core_.set();
        publish(slot);
        // release: the publication happens before a reader sees the count drop.
        publishing_.fetch_sub(1, std::memory_order_release);
    }

    /// Any context. The payload stays; wait() suspends again until the next set().
    void clear() noexcept {
        // release: orders the clear before a later set() for observers.
        slots_state_.fetch_and(~message_set_bit, std::memory_order_release);
        core_.clear();
        // A set() in flight may have raised the wake-up flag (or found it still
        // up) before this clear, and publish its value after it: the message
        // would end set with the flag down, and its waiters asleep. Fence F4
        // pairs with set()'s F3: either its core_.set() sees our clear and
        // raises the flag itself, or we see that set() here: still in flight,
        // or (the count back down) its value published. Then we raise the flag
        // again; the woken waiters read its value or a newer one. Nothing here
        // waits, so clear() stays legal in a signal handler.
        // (proof/message_next.pml -DWAIT_CLEAR; its mutant drops this step.)
        std::atomic_thread_fence(std::memory_order_seq_cst);  // F4
        // acquire: pairs with set()'s release decrement, so a set() seen
        // finished has its publication visible to the check after it.
        if (publishing_.load(std::memory_order_acquire) != 0 || is_set()) core_.set();
    }
    /// Any context; a snapshot.
    bool is_set() const noexcept {
        // acquire: whoever sees it set also sees the payload.
        return (slots_state_.load(std::memory_order_acquire) & message_set_bit) != 0;
    }

    /// The latest payload. Loop thread only. Throws UsageError if set() was
    /// never called.
    T value() {
        binding_.check("Message::value", "a ThreadSafeQueue to move values to other contexts");
        return read_latest();
    }

    class Waiter : public detail::EventCore::Waiter {
    public:
        explicit Waiter(Message& m) noexcept : detail::EventCore::Waiter(m.core_, "Message::wait"), message_(m) {}
        T await_resume() {
            detail::EventCore::Waiter::await_resume();
            // The flag goes up just before the value is published: let the
            // set() that woke us finish, so we read its value or a newer one.
            // acquire: pairs with set()'s release decrement.
            while (message_.publishing_.load(std::memory_order_acquire) != 0) {
            }
            return message_.read_latest();
        }

    private:
        Message& message_;
    };

    /// Suspends until the message is set and returns the latest payload; the
    /// message stays set. Loop thread only. Cancellable.
    [[nodiscard]] Waiter wait() noexcept { return Waiter(*this); }
    Waiter operator co_await() noexcept { return wait(); }

    /// Iteration (the seed's `async for data in msg`): waits for the message to
    /// be set, clears it and returns the payload it was set with, so each call
    /// yields one new set() (sets in between coalesce: the latest wins) and
    /// never the same one twice. It is for one iterating task: a set() is
    /// taken by the next() that clears it, so several tasks that each want
    /// every value use co_await m (or one ThreadSafeQueue each). Loop thread
    /// only. Cancellable.
    // Modelled in proof/message_next.pml (with the mutant that drops the wait
    // for a set() in flight).
    class NextWaiter : public detail::EventCore::Waiter {
    public:
        explicit NextWaiter(Message& m) noexcept : detail::EventCore::Waiter(m.core_, "Message::next"), message_(m) {}
        bool await_ready() {
            message_.binding_.check("Message::next", "a ThreadSafeQueue to move values to other contexts");
            if ((item_ = message_.take_if_set())) return true;
            // Clear the wake-up flag, then look again. A set() that raises the
            // flag after this clear is seen by the wait. A set() in flight, whose
            // flag this clear may have erased, is waited out: its value is taken
            // now, or it was taken before (then the wait goes on).
            message_.core_.clear();
            std::atomic_thread_fence(std::memory_order_seq_cst);  // F4: pairs with set()'s F3
            for (;;) {
                if ((item_ = message_.take_if_set())) return true;
                // acquire: pairs with set()'s release decrement: its value is published.
                if (message_.publishing_.load(std::memory_order_acquire) == 0) {
                    if ((item_ = message_.take_if_set())) return true;
                    break;
                }
            }
            detail::EventCore::Waiter::await_ready();  // binds the wait to this loop
            return false;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            if (detail::EventCore::Waiter::await_suspend(h)) return true;
            if (!cancelled) item_ = message_.take_published();  // a set() came in meanwhile
            return false;
        }
        T await_resume() {
            detail::EventCore::Waiter::await_resume();
            if (!item_) item_ = message_.take_published();
            return std::move(*item_);
        }

    private:
        Message& message_;
        std::optional<T> item_;
    };

    [[nodiscard]] NextWaiter next() noexcept { return NextWaiter(*this); }

private:
    struct Slot {
        alignas(T) unsigned char storage[sizeof(T)];
        bool full = false;  // owned by whoever holds the slot (writer busy bit / loop pin)
        T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }
    };

    std::uint32_t claim_slot() noexcept {
        // relaxed: the CAS below carries the ordering.
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        for (;;) {
            std::uint32_t taken = busy_of(s) | bit(current_of(s)) | bit(pinned_of(s));
            std::uint32_t free = ~taken & 0xF;
            if (free == 0) {
                // Two writers and the reader hold every other slot: wait for one.
                s = slots_state_.load(std::memory_order_relaxed);
                continue;
            }
            auto slot = static_cast<std::uint32_t>(std::countr_zero(free));
            // acquire: pairs with the release that last freed this slot (a
            // publish that superseded it or the loop's unpin), so our writes
            // into it cannot overlap an earlier reader's copy.
            if (slots_state_.compare_exchange_weak(s, s | (1u << (6 + slot)), std::memory_order_acquire,
                                                   std::memory_order_relaxed)) {
                return slot;
            }
        }
    }

    void publish(std::uint32_t slot) noexcept {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        std::uint32_t next;
        do {
            next = (((s & ~7u) | slot) & ~(1u << (6 + slot))) | message_set_bit;
            // release: the payload written into the slot is visible to whoever
            // pins it (acquire) after seeing this index.
        } while (!slots_state_.compare_exchange_weak(s, next, std::memory_order_release, std::memory_order_relaxed));
    }

    T read_latest() {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        std::uint32_t slot;
        do {
            slot = current_of(s);
            if (slot == none) ASYNCLINK_THROW(UsageError, "Message::value: no value has been set yet");
            // acquire: pairs with publish()'s release, making the payload visible.
        } while (!slots_state_.compare_exchange_weak(s, (s & ~(7u << 3)) | (slot << 3), std::memory_order_acquire,
                                                     std::memory_order_relaxed));
        struct Unpin {
            std::atomic<std::uint32_t>& state;
            ~Unpin() {
                // release: our copy completes before a writer may claim the slot.
                state.fetch_or(none << 3, std::memory_order_release);
            }
        } unpin{slots_state_};
        return slots_[slot].value();
    }

    /// After the wake-up flag was seen up: the payload of that set(), once its
    /// writer has published it. If another context clear()ed the message in
    /// between, that set still happened and its payload is the latest.
    T take_published() {
        for (;;) {
            if (auto v = take_if_set()) return std::move(*v);
            // acquire: pairs with set()'s release decrement; the publication is visible.
            if (publishing_.load(std::memory_order_acquire) == 0) {
                if (auto v = take_if_set()) return std::move(*v);
                return read_latest();
            }
        }
    }

    /// If the message is set: clears it and pins the slot it was set with, in
    /// one step, and returns that payload.
    std::optional<T> take_if_set() {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        do {
            if ((s & message_set_bit) == 0) return std::nullopt;
            // acquire: pairs with publish()'s release, making the payload visible.
        } while (!slots_state_.compare_exchange_weak(s, (s & ~(message_set_bit | (7u << 3))) | (current_of(s) << 3),
                                                     std::memory_order_acquire, std::memory_order_relaxed));
        struct Unpin {
            std::atomic<std::uint32_t>& state;
            ~Unpin() {
                state.fetch_or(none << 3, std::memory_order_release);  // release: as in read_latest()
            }
        } unpin{slots_state_};
        return std::optional<T>(slots_[current_of(s)].value());
    }

    detail::EventCore core_;
    detail::LoopBinding binding_;
    Slot slots_[slot_count];
    std::atomic<std::uint32_t> slots_state_{initial_state};
    std::atomic<std::uint32_t> publishing_{0};  // set() calls between raising the flag and publishing
};

}  // namespace asynclink
