// SPDX-License-Identifier: BSL-1.0
/// @file
/// Message<T, Setters>: an event with a payload (the seed's Message).
///
/// | method                    | task | other loop | thread | signal handler / ISR       |
/// |---------------------------|------|------------|--------|----------------------------|
/// | set(value)                | yes  | yes        | yes    | yes, if handler_safe (1)   |
/// | clear / is_set / stats    | yes  | yes        | yes    | yes                        |
/// | co_await m / wait / next  | yes  | no         | no     | no                         |
/// | value()                   | yes  | no         | no     | no                         |
///
/// (1) At most `Setters` set() calls may be in progress at the same moment
///     (default 2). Count one per context that may set while another set() is
///     running: each thread, and each interrupt or signal nesting level that
///     calls set() (a handler that interrupts a set() on its own thread counts
///     as one more). Within the bound a set() never waits; a set() beyond it
///     ends the program through port::fatal naming the template parameter,
///     rather than hang. In a handler T must be handler_safe (below).
///
/// Use this when a context must tell tasks "this happened, and here is the
/// latest data": a sensor reading, a command. There is no queue: a set() that
/// comes before the waiters ran replaces the earlier value (the latest wins).
/// When every value matters, use ThreadSafeQueue; for a value that is only
/// read now and then, with no waking, use Shared.
///
/// A reader never sees a torn payload, whatever T's size, and never waits for
/// a setter: values live in Setters + 2 slots; a setter claims a slot no one
/// else holds (one per setter in progress, the current one, the one the loop
/// is copying from: one is always free), fills it, publishes its index and
/// only then rings the wake-up flag, so a woken reader finds the value there.
/// The loop pins the slot it copies from, straight into the caller's variable.
///
/// set() takes no lock and allocates nothing itself. It destroys the value of
/// the slot it reuses, in its own context: T's destructor, like its copy or
/// move constructor, runs in the setting context. In a signal handler or ISR
/// that is only safe when both are trivial: static_assert(handler_safe) next
/// to such a set(). (The loop cannot take the destruction over: with the loop
/// stalled and sets going on, it would need a slot per set.)
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "asynclink/detail/event_core.hpp"

namespace asynclink {

template <class T, unsigned Setters = 2>
class Message {
    static_assert(Setters >= 1 && Setters <= 8, "Message<T, Setters>: Setters is between 1 and 8");
    static constexpr std::uint32_t slot_count = Setters + 2;

    // slots_state_, one word so that every change is one atomic step:
    //   bits 0-3   current slot: the latest value (none = 15)
    //   bits 4-7   slot pinned by the loop while it copies (none = 15)
    //   bit  8     the message is set; cleared by next() in the same step as
    //              it pins the current slot, so next() takes each set() once
    //   bits 9-    one busy bit per slot a setter is filling
    static constexpr std::uint32_t none = 15;
    static constexpr std::uint32_t pinned_shift = 4;
    static constexpr std::uint32_t set_bit = 1u << 8;
    static constexpr std::uint32_t busy_shift = 9;
    static constexpr std::uint32_t slot_mask = (1u << slot_count) - 1;
    static constexpr std::uint32_t initial_state = none | (none << pinned_shift);
    static constexpr std::uint32_t current_field = 15u;
    static constexpr std::uint32_t pinned_field = 15u << pinned_shift;
    static constexpr std::uint32_t busy_field = slot_mask << busy_shift;
    static_assert(busy_shift + slot_count <= 32 && slot_count < none,
                  "Message<T, Setters>: Setters + 2 slots must fit the state word (Setters at most 12)");
    static_assert((current_field & pinned_field) == 0 && ((current_field | pinned_field) & set_bit) == 0 &&
                      ((current_field | pinned_field | set_bit) & busy_field) == 0,
                  "Message's state fields must not overlap");

    static std::uint32_t current_of(std::uint32_t s) noexcept { return s & current_field; }
    static std::uint32_t pinned_of(std::uint32_t s) noexcept { return (s >> pinned_shift) & 15; }
    static std::uint32_t busy_of(std::uint32_t s) noexcept { return (s >> busy_shift) & slot_mask; }
    // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): slot < Setters + 2 (see claim_slot())
    static std::uint32_t busy_bit(std::uint32_t slot) noexcept { return 1u << (busy_shift + slot); }
    static std::uint32_t bit(std::uint32_t slot) noexcept { return slot == none ? 0 : 1u << slot; }
    static std::uint32_t with_pinned(std::uint32_t s, std::uint32_t slot) noexcept {
        return (s & ~pinned_field) | (slot << pinned_shift);
    }

public:
    /// set() may run in a signal handler or ISR with this T: copying it is a
    /// memcpy and the value it replaces needs no destructor (no free(), no lock).
    static constexpr bool handler_safe = std::is_trivially_copyable_v<T>;

    Message() = default;
    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;
    ~Message() {
        for (auto& slot : slots_) {
            if (slot.full) slot.value().~T();
        }
    }

    /// Stores `value` as the latest payload and sets the message, waking every
    /// waiting task. Any context (see the table for handlers and Setters).
    template <class U = T>
    void set(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        std::uint32_t slot = claim_slot();
        Slot& s = slots_[slot];
        if (s.full) s.value().~T();  // in this context: see handler_safe
        s.full = false;
        // If T's constructor throws, the slot goes back to the free ones.
        struct Unclaim {
            port::atomic<std::uint32_t>* state;
            std::uint32_t busy;
            ~Unclaim() {
                // release: a writer that claims the slot next sees it empty (full == false).
                if (state != nullptr) state->fetch_and(~busy, std::memory_order_release);
            }
        } unclaim{&slots_state_, busy_bit(slot)};
        ::new (static_cast<void*>(s.storage)) T(std::forward<U>(value));
        unclaim.state = nullptr;
        s.full = true;
        publish(slot);
        // Fence F3, with the readers' F4 after they clear the wake-up flag:
        // either core_.set() below sees that clear (and raises the flag, and
        // posts if a reader waits), or the reader's look after F4 sees this
        // publication. Without it, a core_.set() coalescing with a flag still
        // up could have it cleared by a reader that then misses this value.
        port::atomic_thread_fence(std::memory_order_seq_cst);  // F3
        core_.set(trace::Op::message_set);
    }

    /// Any context. The payload stays; waiters wait again until the next set().
    void clear() noexcept {
        // release: orders the clear before a later set() for observers. The
        // wake-up flag is left alone: the readers treat it as a doorbell and
        // look at this bit before they trust it.
        std::uint32_t old = slots_state_.fetch_and(~set_bit, std::memory_order_release);
        if ((old & set_bit) != 0) counts_[Count::cleared].add();
    }
    /// Any context: set()s; those that replaced a value no next() had taken
    /// and no clear() had withdrawn (a next() reader never sees it); and the
    /// tasks woken (asynclink/stats.hpp). Every set() either raised the
    /// message, which a next() then took or a clear() withdrew or which is
    /// still up, or replaced such a value: the set()s are counted without a
    /// counter of their own.
    SignalStats stats() const noexcept {
        return detail::derived_signal_stats(counts_[Count::coalesced].get(), counts_[Count::taken].get(),
                                            counts_[Count::cleared].get(), is_set(), core_.wakeups());
    }
    /// Any context; a snapshot.
    bool is_set() const noexcept {
        // acquire: whoever sees it set also sees the payload.
        return (slots_state_.load(std::memory_order_acquire) & set_bit) != 0;
    }

    /// The latest payload. Loop thread only. Throws UsageError if set() was
    /// never called.
    T value() {
        bind("Message::value");
        return copy_out(pin_latest());
    }

    /// co_await m: suspends until the message is set (not at all if it is)
    /// and returns the latest payload; the message stays set. Every task
    /// waiting while a set() runs is woken, even if clear() follows at once.
    class Waiter : public detail::EventCore::Waiter {
    public:
        explicit Waiter(Message& m) noexcept : detail::EventCore::Waiter(m.core_, "Message::wait"), message_(m) {}
        bool await_ready() {
            message_.bind("Message::wait");
            (void)detail::EventCore::Waiter::await_ready();  // checks the loop again, now bound
            if (message_.is_set()) return true;
            // Clear the doorbell, then look again: a set() not seen here rings it after.
            message_.clear_doorbell();
            return message_.is_set();
        }
        T await_resume() {
            detail::EventCore::Waiter::await_resume();
            // Rung (or seen set) only after a publication: there is a value.
            return message_.copy_out(message_.pin_latest());
        }

    private:
        Message& message_;
    };

    /// Suspends until the message is set and returns the latest payload; the
    /// message stays set. Loop thread only. Cancellable.
    [[nodiscard]] Waiter wait() noexcept { return Waiter(*this); }
    Waiter operator co_await() noexcept { return wait(); }

    /// Iteration (the seed's `async for data in msg`): waits for the message to
    /// be set, clears it and returns the payload it was set with, in one step,
    /// so each call yields one new set() (sets in between coalesce: the latest
    /// wins) and never the same one twice. A set() that clear() undid before
    /// next() took it is not yielded. It is for one iterating task; several
    /// tasks that each want every value use co_await m (or a ThreadSafeQueue
    /// each). Loop thread only. Cancellable.
    // Modelled in proof/message_next.pml (two setters, a clearer, next()).
    class NextWaiter : public detail::EventCore::Waiter {
    public:
        explicit NextWaiter(Message& m) noexcept
            : detail::EventCore::Waiter(m.core_, "Message::next", &on_ring), message_(m) {}
        NextWaiter(NextWaiter&& other) noexcept
            : detail::EventCore::Waiter(std::move(other)),
              message_(other.message_),
              pinned_(std::exchange(other.pinned_, none)) {}
        NextWaiter& operator=(NextWaiter&&) = delete;
        ~NextWaiter() {
            if (pinned_ != none) message_.unpin();  // taken, then never resumed
        }

        bool await_ready() {
            message_.bind("Message::next");
            (void)detail::EventCore::Waiter::await_ready();  // checks the loop again, now bound
            return try_take();
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            for (;;) {
                if (detail::EventCore::Waiter::await_suspend(h)) return true;
                if (cancelled || try_take()) return false;
                // The doorbell rang for a set() whose value is gone (taken
                // before, or cleared): it is down again; wait once more.
            }
        }
        T await_resume() {
            detail::EventCore::Waiter::await_resume();
            std::uint32_t slot = pinned_;
            pinned_ = none;
            return message_.copy_out(slot);
        }

    private:
        /// Takes the set value, or clears the doorbell and looks once more.
        /// Never waits: a set() this misses rings the doorbell after the clear.
        bool try_take() noexcept {
            if ((pinned_ = message_.take_if_set()) != none) return true;
            message_.clear_doorbell();
            return (pinned_ = message_.take_if_set()) != none;
        }
        // On the loop, for a due wake-up: take the value, or wait on if the
        // ring was for a value already gone (a spurious wake, filtered here).
        static bool on_ring(detail::EventCore::Waiter& w) noexcept {
            auto& self = static_cast<NextWaiter&>(w);
            for (;;) {
                if (self.try_take()) return true;
                if (self.keep_waiting_from_now()) return false;
                // Rung again since the clear: that set() published first; look again.
            }
        }

        Message& message_;
        std::uint32_t pinned_ = none;  // the slot taken for this next(), until copied out
    };

    [[nodiscard]] NextWaiter next() noexcept { return NextWaiter(*this); }

private:
    struct Slot {
        alignas(T) unsigned char storage[sizeof(T)];
        bool full = false;  // owned by whoever holds the slot (setter's busy bit / loop's pin)
        T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }
    };

    // The message's loop is its doorbell's: one binding for value() and the waiters.
    void bind(const char* operation) { core_.check(operation, "a ThreadSafeQueue to move values to other contexts"); }

    void clear_doorbell() noexcept {
        core_.clear_on_loop();
        port::atomic_thread_fence(std::memory_order_seq_cst);  // F4: pairs with set()'s F3
    }

    std::uint32_t claim_slot() noexcept {
        // relaxed: the CAS below carries the ordering.
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        for (;;) {
            std::uint32_t busy = busy_of(s);
            if (std::popcount(busy) == static_cast<int>(Setters)) {
                port::fatal(
                    "asynclink: Message::set: more set() calls at once than the Setters template parameter "
                    "of Message<T, Setters> allows; raise Setters to the number of contexts that may set "
                    "at the same moment");
            }
            // At most Setters - 1 busy, the current one and the pinned one:
            // of Setters + 2 slots one is free.
            std::uint32_t free = ~(busy | bit(current_of(s)) | bit(pinned_of(s))) & slot_mask;
            auto slot = static_cast<std::uint32_t>(std::countr_zero(free));
            // acquire: pairs with the release that last freed this slot (the
            // loop's unpin, or a publish that superseded it), so our writes
            // into it cannot overlap an earlier reader's copy or writer's fill.
            if (slots_state_.compare_exchange_weak(s, s | busy_bit(slot), std::memory_order_acquire,
                                                   std::memory_order_relaxed)) {
                return slot;
            }
        }
    }

    void publish(std::uint32_t slot) noexcept {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        std::uint32_t next;
        do {
            next = ((s & ~current_field) | slot | set_bit) & ~busy_bit(slot);
            // release: the payload written into the slot is visible to whoever
            // pins it (acquire) after seeing this index.
        } while (!slots_state_.compare_exchange_weak(s, next, std::memory_order_release, std::memory_order_relaxed));
        if ((s & set_bit) != 0) counts_[Count::coalesced].add();  // replaced a value nobody took
    }

    /// Pins the current slot. Throws UsageError if no value was ever set.
    std::uint32_t pin_latest() {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        do {
            if (current_of(s) == none) ASYNCLINK_THROW(UsageError, "Message::value: no value has been set yet");
            // acquire: pairs with publish()'s release, making the payload visible.
        } while (!slots_state_.compare_exchange_weak(s, with_pinned(s, current_of(s)), std::memory_order_acquire,
                                                     std::memory_order_relaxed));
        return current_of(s);
    }

    /// If the message is set: clears it and pins the slot it was set with, in
    /// one step, and returns that slot; otherwise none.
    std::uint32_t take_if_set() noexcept {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        do {
            if ((s & set_bit) == 0) return none;
            // acquire: pairs with publish()'s release, making the payload visible.
        } while (!slots_state_.compare_exchange_weak(s, with_pinned(s & ~set_bit, current_of(s)),
                                                     std::memory_order_acquire, std::memory_order_relaxed));
        counts_[Count::taken].add_by_owner();  // on the loop only
        return current_of(s);
    }

    void unpin() noexcept {
        // release: our copy completes before a writer may claim the slot.
        slots_state_.fetch_or(none << pinned_shift, std::memory_order_release);
    }

    /// Copies the pinned slot's value straight into the caller's result (no
    /// temporary: a payload larger than the stack works), then unpins it.
    T copy_out(std::uint32_t slot) {
        struct Unpin {
            Message& message;
            ~Unpin() { message.unpin(); }
        } unpin{*this};
        return slots_[slot].value();
    }

    detail::EventCore core_;  // the doorbell: rung by set() after each publication
    Slot slots_[slot_count];
    port::atomic<std::uint32_t> slots_state_{initial_state};
    // coalesced and cleared: by set()'s and clear()'s callers; taken: by the
    // loop's next() only. The wake-ups are the doorbell's.
    enum class Count { coalesced, taken, cleared, kinds };
    [[no_unique_address]] detail::CounterArray<Count> counts_;
};

}  // namespace asynclink
