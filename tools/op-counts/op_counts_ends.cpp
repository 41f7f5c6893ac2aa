// SPDX-License-Identifier: BSL-1.0
// The rows of op_counts that count one end of a ThreadSafeQueue alone, each
// with its answer there, so that nothing waits: a task's put with room and
// get with an item, and the blocking ends of a thread (which refuse a thread
// that runs a loop, so these run before or after it). See op_counts.hpp for
// why they are in a file of their own.
#include "op_counts.hpp"

#include <cstddef>

namespace al = asynclink;

namespace op_counts {

al::Task<void> queue_task_put_room(int n) {
    al::ThreadSafeQueue<int> q(static_cast<std::size_t>(n));
    start_counting();
    for (int i = 0; i < n; ++i) co_await q.put(i);
    stop_counting();
    check(q.qsize() == static_cast<std::size_t>(n), "queue_task_put_room: an item is missing");
}

al::Task<void> queue_task_get_ready(int n) {
    al::ThreadSafeQueue<int> q(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) (void)q.try_put(i);
    start_counting();
    for (int i = 0; i < n; ++i) check(co_await q.get() == i, "queue_task_get_ready: wrong item");
    stop_counting();
}

void queue_put_sync(int n) {
    al::ThreadSafeQueue<int> q(static_cast<std::size_t>(n));
    start_counting();
    for (int i = 0; i < n; ++i) q.put_sync(i, true);
    stop_counting();
    check(q.qsize() == static_cast<std::size_t>(n), "queue_put_sync: an item is missing");
}

void queue_get_sync(int n) {
    al::ThreadSafeQueue<int> q(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) (void)q.try_put(i);
    start_counting();
    for (int i = 0; i < n; ++i) check(q.get_sync(true) == i, "queue_get_sync: wrong item");
    stop_counting();
}

}  // namespace op_counts
