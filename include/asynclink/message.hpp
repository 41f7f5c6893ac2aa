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
#include "asynclink/task.hpp"

namespace asynclink {

template <class T>
class Message {
    static constexpr std::uint32_t slot_count = 4;
    static constexpr std::uint32_t none = 7;
    // slots_state_: bits 0-2 current slot (none = 7), 3-5 slot pinned by the
    // loop (none = 7), 6-9 one busy bit per slot being written.
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
        // Relaxed: a ticket; the slot's publication (release) carries it to the reader.
        s.version = versions_.fetch_add(1, std::memory_order_relaxed) + 1;
        publish(slot);
        core_.set();
    }

    /// Any context. The payload stays; wait() suspends again until the next set().
    void clear() noexcept { core_.clear(); }
    /// Any context; a snapshot.
    bool is_set() const noexcept { return core_.is_set(); }

    /// The latest payload. Loop thread only. Throws UsageError if set() was
    /// never called.
    T value() {
        binding_.check("Message::value", "a ThreadSafeQueue to move values to other contexts");
        return read_latest().first;
    }

    class Waiter : public detail::EventCore::Waiter {
    public:
        explicit Waiter(Message& m) noexcept : detail::EventCore::Waiter(m.core_, "Message::wait"), message_(m) {}
        T await_resume() {
            detail::EventCore::Waiter::await_resume();
            return message_.read_latest().first;
        }

    private:
        Message& message_;
    };

    /// Suspends until the message is set and returns the latest payload; the
    /// message stays set. Loop thread only. Cancellable.
    [[nodiscard]] Waiter wait() noexcept { return Waiter(*this); }
    Waiter operator co_await() noexcept { return wait(); }

    /// Iteration (the seed's `async for data in msg`): returns a payload set
    /// since the previous next() returned, waiting for one if there is none, and
    /// clears the message. Sets in between coalesce (the latest wins), and a
    /// value is never returned twice, even when its set() is still on its way
    /// while the value is already readable. Loop thread only. Cancellable.
    Task<T> next() {
        binding_.check("Message::next", "a ThreadSafeQueue to move values to other contexts");
        for (;;) {
            if (auto v = take_if_new()) co_return std::move(*v);
            // Clear, then look again: a set() whose value we miss here comes
            // after this clear, so its set bit wakes the wait below.
            core_.clear();
            if (auto v = take_if_new()) co_return std::move(*v);
            // A late set() of a value already taken wakes us for nothing: loop.
            co_await core_.wait("Message::next");
        }
    }

private:
    struct Slot {
        alignas(T) unsigned char storage[sizeof(T)];
        bool full = false;           // owned by whoever holds the slot (writer busy bit / loop pin)
        std::uint64_t version = 0;  // which set() wrote it; same ownership
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
            next = ((s & ~7u) | slot) & ~(1u << (6 + slot));
            // release: the payload written into the slot is visible to whoever
            // pins it (acquire) after seeing this index.
        } while (!slots_state_.compare_exchange_weak(s, next, std::memory_order_release, std::memory_order_relaxed));
    }

    /// The latest payload and the version of the set() that wrote it.
    std::pair<T, std::uint64_t> read_latest() {
        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);
        std::uint32_t slot;
        do {
            slot = current_of(s);
            if (slot == none) throw UsageError("Message::value: no value has been set yet");
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
        return {slots_[slot].value(), slots_[slot].version};
    }

    /// The latest payload if next() has not returned it yet.
    std::optional<T> take_if_new() {
        if (current_of(slots_state_.load(std::memory_order_acquire)) == none) return std::nullopt;
        auto [value, version] = read_latest();
        if (version == last_taken_) return std::nullopt;
        last_taken_ = version;
        return std::optional<T>(std::move(value));
    }

    detail::EventCore core_;
    detail::LoopBinding binding_;
    Slot slots_[slot_count];
    std::atomic<std::uint32_t> slots_state_{initial_state};
    std::atomic<std::uint64_t> versions_{0};
    std::uint64_t last_taken_ = 0;  // loop thread only: the version next() returned last
};

}  // namespace asynclink
