// SPDX-License-Identifier: BSL-1.0
/// @file
/// Shared<T>: a value one context writes and others read as a consistent
/// snapshot, without ever blocking the writer or a reader (the seed's "pool",
/// section 2.1, which had to disable interrupts for this).
///
/// | method      | task | other loop | thread | signal handler / ISR           |
/// |-------------|------|------------|--------|--------------------------------|
/// | write       | yes  | yes        | yes    | yes (one writing context only) |
/// | read        | yes  | yes        | yes    | yes                            |
/// | try_read    | yes  | yes        | yes    | yes                            |
///
/// Use this for state that is overwritten as a whole (a set of sensor readings,
/// a configuration) and read now and then. To pass every value rather than the
/// latest, use ThreadSafeQueue; to also wake tasks, use Message.
///
/// It is a two-copy latch (Linux's seqcount latch): the value is kept twice,
/// and write() updates one copy, then the other, moving the sequence number on
/// before each. At every moment one copy is still: a reader copies the one the
/// sequence points it to and keeps the copy if the sequence did not move
/// meanwhile. So a reader never waits for a writer: a writer that is preempted
/// (or interrupted by the reader's signal handler) mid-write stops moving the
/// sequence, and the reader's next attempt reads the still copy. A reader
/// retries only when a write moved on during its copy, that is, when the
/// writer made progress; against a writer that never pauses, try_read(n) gives
/// up after n such attempts. version() counts completed writes.
///
/// T must be trivially copyable (it is copied word by word); it need not be
/// default-constructible. Two contexts writing at once is a usage error: it is
/// detected and aborts with a message, since write() may run in a signal
/// handler where throwing is not possible.
#pragma once

#include <array>
#include <atomic>
#include <bit>
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
    using Words = std::array<Word, word_count>;

public:
    explicit Shared(const T& initial) noexcept {
        store_words(copies_[0], initial);
        store_words(copies_[1], initial);
    }
    /// Starts with a value-initialised T (T must then be default-constructible).
    Shared() noexcept(std::is_nothrow_default_constructible_v<T>) : Shared(T{}) {}
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

    /// Replaces the value. One writing context; never blocks.
    void write(const T& value) noexcept {
        // relaxed: a second writer is caught by the count alone; the ordering
        // of the copies comes from the sequence below.
        if (writers_.fetch_add(1, std::memory_order_relaxed) != 0) {
            port::fatal("asynclink: Shared<T>::write called from two contexts at once; it has one writer");
        }
        // relaxed: only the writer changes the sequence.
        std::uint32_t seq = sequence_.load(std::memory_order_relaxed);
        // Odd: readers go to copy 1 while copy 0 changes. The release fence
        // orders the sequence store before the word stores (a reader that
        // sees a new word sees the new sequence at its re-check).
        sequence_.store(seq + 1, std::memory_order_relaxed);
        port::atomic_thread_fence(std::memory_order_release);
        store_words(copies_[0], value);
        // Even: readers go back to copy 0, now whole (release: its words are
        // visible to a reader that loads this sequence with acquire), then
        // copy 1 changes (the fence again orders the store before the words).
        sequence_.store(seq + 2, std::memory_order_release);
        port::atomic_thread_fence(std::memory_order_release);
        store_words(copies_[1], value);
        // release: a later writer's count sees this write's stores ordered before.
        writers_.fetch_sub(1, std::memory_order_release);
    }

    /// A consistent snapshot. Never waits for the writer; retries only while
    /// writes keep completing steps during its copy.
    T read() const noexcept {
        for (;;) {
            if (auto v = try_read(1)) return *v;
        }
    }

    /// A consistent snapshot, or nullopt if `attempts` copies all overlapped
    /// a step of a write.
    std::optional<T> try_read(unsigned attempts = 64) const noexcept {
        for (unsigned i = 0; i < attempts; ++i) {
            // acquire: pairs with write()'s release store of the even
            // sequence: the copy it points to is whole and visible.
            std::uint32_t before = sequence_.load(std::memory_order_acquire);
            const auto& source = copies_[before & 1];
            std::array<unsigned char, sizeof(T)> bytes;
            Words copy;
            // relaxed: validated by the sequence re-check after the fence.
            for (std::size_t w = 0; w < word_count; ++w) copy[w] = source[w].load(std::memory_order_relaxed);
            // acquire fence: the word loads complete before the re-check; a
            // word from a newer write makes the re-check see its sequence.
            port::atomic_thread_fence(std::memory_order_acquire);
            if (sequence_.load(std::memory_order_relaxed) == before) {
                std::memcpy(bytes.data(), copy.data(), sizeof(T));
                return std::bit_cast<T>(bytes);  // no default constructor needed
            }
        }
        return std::nullopt;
    }

    /// How many writes have completed (a cheap "has it changed?" check).
    std::uint32_t version() const noexcept { return sequence_.load(std::memory_order_acquire) / 2; }

private:
    using Copy = std::array<port::atomic<Word>, word_count>;

    static void store_words(Copy& target, const T& value) noexcept {
        Words copy{};
        std::memcpy(copy.data(), &value, sizeof(T));
        // relaxed: ordered by the fence before and the release after.
        for (std::size_t w = 0; w < word_count; ++w) target[w].store(copy[w], std::memory_order_relaxed);
    }

    port::atomic<std::uint32_t> sequence_{0};  // 2 x completed writes, +1 while copy 0 changes
    port::atomic<std::uint32_t> writers_{0};   // write() calls in progress: more than one is misuse
    std::array<Copy, 2> copies_{};
};

}  // namespace asynclink
