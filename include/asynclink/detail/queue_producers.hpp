// SPDX-License-Identifier: BSL-1.0
// The producer policy of ThreadSafeQueue: how many contexts may put at once.
// ThreadSafeQueue<T> is ThreadSafeQueue<T, single_producer> (thread_safe_queue.hpp);
// ThreadSafeQueue<T, many_producers> is a queue of its own (many_producer_queue.hpp).
#pragma once

namespace asynclink {

/// Exactly one context puts (the default): the fastest queue.
struct single_producer {};
/// Any number of contexts put at once: interrupts of several priorities,
/// threads on any core, tasks on other loops.
struct many_producers {};

template <class T, class Producers = single_producer>
class ThreadSafeQueue;

}  // namespace asynclink
