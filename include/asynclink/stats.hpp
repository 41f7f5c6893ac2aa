// SPDX-License-Identifier: BSL-1.0
/// @file
/// The counters' snapshots: what stats() of a queue, a flag, an event, a
/// message and a loop return.
///
/// | call                       | task | other loop | thread | signal handler / ISR |
/// |----------------------------|------|------------|--------|----------------------|
/// | stats() of a primitive     | yes  | yes        | yes    | yes                  |
/// | operator<< of a snapshot   | yes  | yes        | yes    | no                   |
///
/// Use these to see what a primitive did: how many items went through a queue
/// and how close it came to full, how many set()s merged into one wake-up
/// (the interrupt that "went missing"), how often the loop slept. Every
/// counter is updated with a relaxed increment, lock-free and allocation-free
/// in any context (detail::Counter), so they may stay on in production;
/// -DASYNCLINK_COUNTERS=OFF compiles them out (every field then reads 0). For
/// the order of events and who woke whom, record a trace (asynclink/trace.hpp).
///
/// A snapshot is a plain struct, read counter by counter: taken while other
/// contexts work, its fields may be a few operations apart (gets may briefly
/// exceed the puts read a moment earlier). Counters are words: they wrap at
/// 2^32 on a 32-bit port.
///
/// Example:
/// @code
///   std::cout << queue.stats() << '\n';
///   // puts 1000 gets 998 refused-full 3 waits 0/12 high-water 64/64
/// @endcode
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>

#include "asynclink/detail/config.hpp"

namespace asynclink {

/// ThreadSafeQueue's counters.
struct QueueStats {
    std::size_t puts = 0;            ///< items enqueued
    std::size_t gets = 0;            ///< items dequeued
    std::size_t refused_full = 0;    ///< try_put / put_sync(block = false) that found the queue full
    std::size_t producer_waits = 0;  ///< puts that had to wait for room (a task suspended or a thread blocked)
    std::size_t consumer_waits = 0;  ///< gets that had to wait for an item
    /// The most items seen queued at once. The consumer samples the distance
    /// to the tail each time it reads the tail again, and a refused or
    /// waiting put saw the queue full: a lower bound of the true peak, exact
    /// when the queue ever filled. Sampled by the ends, not by a shared
    /// compare-and-swap on every put, so it costs the producer nothing.
    std::size_t high_water = 0;
    std::size_t capacity = 0;
};

/// ThreadSafeFlag's, ThreadSafeEvent's and Message's counters.
struct SignalStats {
    /// Every set(). Not counted one by one: each set() raised the flag (a
    /// wait() or next() then took it, a clear() withdrew it, or it is still
    /// up) or coalesced, and those are counted; so the set() that raises the
    /// flag and wakes a task pays for no count.
    std::size_t sets = 0;
    /// set()s that found the flag or event already set, its wake-up still
    /// pending, or, for a Message, that replaced a value no next() had taken:
    /// they merged into an earlier one's wake-up. The interrupts that seem to
    /// "go missing" are counted here.
    std::size_t coalesced = 0;
    std::size_t wakeups = 0;  ///< tasks woken by a set()
};

namespace detail {
/// A SignalStats from what a flag, event or message counts. Every set()
/// either raised it, which a wait()/next() then took (`taken`), a clear()
/// withdrew (`cleared`), or which is still up, or coalesced: so sets need no
/// counter of their own.
constexpr SignalStats derived_signal_stats(std::size_t coalesced, std::size_t taken, std::size_t cleared,
                                           bool still_set, std::size_t wakeups) noexcept {
    return {.sets = coalesced + taken + cleared + (still_set ? 1 : 0), .coalesced = coalesced, .wakeups = wakeups};
}
}  // namespace detail

/// A histogram of durations in log2 buckets of microseconds: bucket 0 counts
/// those under 1 us, bucket k those in [2^(k-1), 2^k) us, the last one the
/// rest (2^30 us and more, about 18 minutes).
struct Log2Histogram {
    static constexpr std::size_t buckets = 32;
    std::array<std::size_t, buckets> counts{};

    /// The bucket of `nanoseconds`.
    static constexpr std::size_t bucket_of(std::uint64_t nanoseconds) noexcept {
        std::uint64_t us = nanoseconds / 1000;
        std::size_t b = 0;
        while (us != 0 && b + 1 < buckets) {
            us >>= 1;
            ++b;
        }
        return b;
    }
    std::size_t total() const noexcept {
        std::size_t n = 0;
        for (std::size_t c : counts) n += c;
        return n;
    }
};

/// A loop's counters.
struct LoopStats {
    std::size_t iterations = 0;        ///< turns of the loop (run and step alike)
    std::size_t sleeps = 0;            ///< waits in the kernel (or WFI) with nothing to run
    std::size_t woken_by_posts = 0;    ///< turns that ran work posted from another context
    std::size_t woken_by_timers = 0;   ///< turns that ran expired timers
    std::size_t woken_by_io = 0;       ///< turns that found ready descriptors
    std::size_t scheduled = 0;         ///< schedule()/call_soon_threadsafe calls accepted
    std::size_t schedule_refused = 0;  ///< refused (the loop had ended, or its schedule ring was full)
    /// Only while slices are timed (a stall threshold is set, or the trace
    /// records): the clock is read for nothing else. From the post that woke
    /// the sleeping loop (a set(), try_put(), schedule() from another
    /// context) to the loop awake again, about to run the woken task.
    Log2Histogram wake_latency;
    /// Only while slices are timed: how late each timer fired after its deadline.
    Log2Histogram timer_lateness;
};

template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const QueueStats& s) {
    return os << "puts " << s.puts << " gets " << s.gets << " refused-full " << s.refused_full << " waits "
              << s.producer_waits << '/' << s.consumer_waits << " high-water " << s.high_water << '/' << s.capacity;
}

template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const SignalStats& s) {
    return os << "sets " << s.sets << " coalesced " << s.coalesced << " wakeups " << s.wakeups;
}

/// Prints the non-empty buckets as `<upper bound>:count`: `<1us:3 <4us:1 ...`.
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const Log2Histogram& h) {
    bool first = true;
    for (std::size_t b = 0; b < Log2Histogram::buckets; ++b) {
        if (h.counts[b] == 0) continue;
        if (!first) os << ' ';
        first = false;
        if (b + 1 == Log2Histogram::buckets) {
            os << ">=" << (std::uint64_t{1} << (b - 1)) << "us:" << h.counts[b];
        } else {
            os << '<' << (std::uint64_t{1} << b) << "us:" << h.counts[b];
        }
    }
    if (first) os << '-';
    return os;
}

/// One line of counts; the histograms on lines of their own when they hold any.
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const LoopStats& s) {
    os << "iterations " << s.iterations << " sleeps " << s.sleeps << " woken-by posts " << s.woken_by_posts
       << " timers " << s.woken_by_timers << " io " << s.woken_by_io << " scheduled " << s.scheduled << " refused "
       << s.schedule_refused;
    if (s.wake_latency.total() != 0) os << "\n  wake latency   " << s.wake_latency;
    if (s.timer_lateness.total() != 0) os << "\n  timer lateness " << s.timer_lateness;
    return os;
}

}  // namespace asynclink
