// SPDX-License-Identifier: BSL-1.0
// The loop's timers. See include/asynclink/loop.hpp.
#include "asynclink/loop.hpp"

#include <utility>

namespace asynclink {

// --- timers: a binary min-heap with each node's index kept in the node, so a
// cancelled sleep leaves the heap in O(log n). Sifting moves a hole and writes
// each entry once, instead of swapping pairs.

void Loop::add_timer(detail::TimerNode& timer) {
    if (timers_.full()) port::fatal("asynclink: more timers pending than the port's max_timers");
    timers_.push_back(TimerEntry{timer.deadline, timer_sequence_++, &timer});
    sift_up(timers_.size() - 1, timers_.back());
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
        t->fire(*t);
    }
}

}  // namespace asynclink
