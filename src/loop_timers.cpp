// SPDX-License-Identifier: BSL-1.0
// The loop's timers. See include/asynclink/loop.hpp.
#include "asynclink/loop.hpp"

#include <algorithm>
#include <utility>

#include "asynclink/errors.hpp"
#include "asynclink/trace.hpp"

namespace asynclink {

// --- timers: a binary min-heap with each node's index kept in the node, so a
// cancelled sleep leaves the heap in O(log n). Sifting moves a hole and writes
// each entry once, instead of swapping pairs.

void Loop::add_timer(detail::TimerNode& timer) {
    if (timers_.full()) port::fatal("asynclink: more timers pending than the port's max_timers");
    timers_.push_back(TimerEntry{timer.deadline, timer_sequence_++, &timer});
    sift_up(timers_.size() - 1, timers_.back());
    wake_host();
}

void Loop::remove_timer(detail::TimerNode& timer) noexcept {
    std::size_t i = timer.heap_index;
    if (i == detail::TimerNode::not_queued) return;
    timer.heap_index = detail::TimerNode::not_queued;
    TimerEntry last = timers_.back();
    timers_.pop_back();
    if (i == timers_.size()) return;  // it was the last entry
    sift_down_then_up(i, last);
}

void Loop::sift_up(std::size_t hole, TimerEntry entry) noexcept {
    while (hole > 0) {
        std::size_t parent = (hole - 1) / 2;
        if (!earlier(entry, timers_[parent])) break;
        place_timer(hole, timers_[parent]);
        hole = parent;
    }
    place_timer(hole, entry);
}

// Floyd's variant: the entry refilling a hole came from the bottom of the heap
// and nearly always belongs near it again, so the hole first sinks to a leaf
// along the earlier child (one comparison per level instead of two), then the
// entry rises from there as far as it must: usually a level or none, above the
// original hole when that was mid-heap and the entry is earlier than its parent.
void Loop::sift_down_then_up(std::size_t hole, TimerEntry entry) noexcept {
    std::size_t size = timers_.size();
    for (std::size_t child = 2 * hole + 1; child < size; child = 2 * hole + 1) {
        if (child + 1 < size && earlier(timers_[child + 1], timers_[child])) ++child;
        place_timer(hole, timers_[child]);
        hole = child;
    }
    sift_up(hole, entry);
}

void Loop::fire_timers() {
    if (timers_.empty()) return;
    now_ = Clock::now();
    while (!timers_.empty() && timers_.front().deadline <= now_) {
        detail::TimerNode* t = timers_.front().node;
        remove_timer(*t);
        counts_[Count::timers].add_by_owner();
        // The lateness only while slices are timed (the stall detector or the
        // trace): now_ is read anyway, but the bucket costs a loop of shifts
        // the hot path should not pay. One test covers both.
        if ((ASYNCLINK_COUNTERS != 0 || ASYNCLINK_TRACE != 0) && timing_slices()) [[unlikely]]
            note_lateness(*t);
        t->fire(*t);
    }
#if ASYNCLINK_TRACE
    trace_cause_ = 0;
#endif
}

void Loop::note_lateness(const detail::TimerNode& timer) noexcept {
    [[maybe_unused]] Clock::duration late = now_ - timer.deadline;
#if ASYNCLINK_COUNTERS
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(late).count();
    counts_.at(Count::timer_lateness, Log2Histogram::bucket_of(static_cast<std::uint64_t>(ns))).add_by_owner();
#endif
#if ASYNCLINK_TRACE
    // The timer's instant: the task it wakes draws its arrow from it.
    if (trace::detail::on()) trace_cause_ = trace::detail::record_timer(id_, late);
#endif
}

#if ASYNCLINK_PORT_HAS_THREADS

TimerHandle Loop::call_later(Clock::duration delay, std::function<void()> fn) {
    check_thread("Loop::call_later", "Loop::call_soon_threadsafe");
    return call_at(detail::deadline_after(Clock::now(), std::max(delay, Clock::duration::zero())), std::move(fn));
}

TimerHandle Loop::call_at(Clock::time_point when, std::function<void()> fn) {
    check_thread("Loop::call_at", "Loop::call_soon_threadsafe");
    if (!fn) ASYNCLINK_THROW(UsageError, "call_later()/call_at() given an empty function");
    auto* t = new detail::CallbackTimer;
    t->fn = std::move(fn);
    t->deadline = when;
    t->fire = &fire_callback;
    TimerHandle handle(*t);
    add_timer(*t);  // may stop the program (a port's max_timers), never throws
    t->loop = this;
    ++t->refs;  // the loop's, while queued
    t->next = callback_timers_;
    if (callback_timers_ != nullptr) callback_timers_->prev = t;
    callback_timers_ = t;
    return handle;
}

void Loop::unlink(detail::CallbackTimer& t) noexcept {
    if (t.prev != nullptr) {
        t.prev->next = t.next;
    } else {
        callback_timers_ = t.next;
    }
    if (t.next != nullptr) t.next->prev = t.prev;
    t.prev = t.next = nullptr;
    t.loop = nullptr;
}

void Loop::fire_callback(detail::TimerNode& node) noexcept {
    auto& t = static_cast<detail::CallbackTimer&>(node);
    Loop& loop = *t.loop;
    loop.unlink(t);
#if ASYNCLINK_NO_EXCEPTIONS
    t.fn();
#else
    try {
        t.fn();
    } catch (...) {
        loop.report(std::current_exception());
    }
#endif
    t.release();  // the loop's reference
}

void TimerHandle::cancel() noexcept {
    if (timer_ == nullptr || timer_->cancelled) return;
    timer_->cancelled = true;
    if (Loop* loop = timer_->loop) {
        loop->remove_timer(*timer_);
        loop->unlink(*timer_);
        timer_->release();  // the loop's reference; ours keeps it alive
    }
}

#endif

}  // namespace asynclink
