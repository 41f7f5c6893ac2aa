// Shared<T>: a value one context writes and others read as a consistent
// snapshot, without ever blocking the writer (the seed's "pool", section 2.1,
// which had to disable interrupts for this).
//
// | method      | task | other loop | thread | signal handler / ISR                        |
// |-------------|------|------------|--------|---------------------------------------------|
// | write       | yes  | yes        | yes    | yes (one writing context only)              |
// | read        | yes  | yes        | yes    | only if it never interrupts the writer      |
// | try_read    | yes  | yes        | yes    | yes                                         |
//
// Use this for state that is overwritten as a whole (a set of sensor readings,
// a configuration) and read now and then. It is a sequence lock: the writer
// never waits; a reader that overlapped a write retries. A read from a signal
// handler that interrupted the writer on the same thread would retry forever,
// so such a reader uses try_read(), which gives up after a bounded number of
// attempts. To pass every value rather than the latest, use ThreadSafeQueue;
// to also wake tasks, use Message.
//
// T must be trivially copyable (it is copied word by word). Two contexts
// writing at once is a usage error: it is detected and aborts with a message,
// since write() may run in a signal handler where throwing is not possible.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

#include "asynclink/port/port.hpp"

namespace asynclink {

template <class T>
class Shared {
    static_assert(std::is_trivially_copyable_v<T>, "Shared<T> copies T word by word: T must be trivially copyable");
    using Word = std::uintptr_t;
    static constexpr std::size_t word_count = (sizeof(T) + sizeof(Word) - 1) / sizeof(Word);

public:
    explicit Shared(const T& initial = T{}) noexcept { store_words(initial); }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

    /// Replaces the value. One writing context; never blocks.
    void write(const T& value) noexcept {
        // relaxed: only the writer changes the sequence; the CAS detects a second writer.
        std::uint32_t seq = sequence_.load(std::memory_order_relaxed);
        // relaxed CAS + release fence: the odd sequence must be visible before
        // any word changes; the fence orders it before the word stores.
        if ((seq & 1) != 0 || !sequence_.compare_exchange_strong(seq, seq + 1, std::memory_order_relaxed)) {
            port::fatal("asynclink: Shared<T>::write called from two contexts at once; it has one writer");
        }
        std::atomic_thread_fence(std::memory_order_release);
        store_words(value);
        // release: a reader that sees the even sequence sees every word written.
        sequence_.store(seq + 2, std::memory_order_release);
    }

    /// A consistent snapshot; retries while a write overlaps.
    T read() const noexcept {
        for (;;) {
            if (auto v = try_read(1)) return *v;
        }
    }

    /// A consistent snapshot, or nullopt if `attempts` reads all overlapped a write.
    std::optional<T> try_read(unsigned attempts = 64) const noexcept {
        for (unsigned i = 0; i < attempts; ++i) {
            // acquire: pairs with write()'s final release store.
            std::uint32_t before = sequence_.load(std::memory_order_acquire);
            if ((before & 1) != 0) continue;
            std::array<Word, word_count> copy;
            for (std::size_t w = 0; w < word_count; ++w) copy[w] = words_[w].load(std::memory_order_relaxed);
            // acquire fence: the word loads complete before the sequence re-check.
            std::atomic_thread_fence(std::memory_order_acquire);
            if (sequence_.load(std::memory_order_relaxed) == before) {
                T value;
                // Through void*: a T with default member initialisers is still
                // trivially copyable, but g++ warns (-Wclass-memaccess) on a typed pointer.
                std::memcpy(static_cast<void*>(&value), copy.data(), sizeof(T));
                return value;
            }
        }
        return std::nullopt;
    }

    /// How many writes have completed (a cheap "has it changed?" check).
    std::uint32_t version() const noexcept { return sequence_.load(std::memory_order_acquire) / 2; }

private:
    void store_words(const T& value) noexcept {
        std::array<Word, word_count> copy{};
        std::memcpy(copy.data(), &value, sizeof(T));
        // relaxed: ordered by the fence before and the release store after.
        for (std::size_t w = 0; w < word_count; ++w) words_[w].store(copy[w], std::memory_order_relaxed);
    }

    std::atomic<std::uint32_t> sequence_{0};
    std::array<std::atomic<Word>, word_count> words_{};
};

}  // namespace asynclink
