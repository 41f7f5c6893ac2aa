// SPDX-License-Identifier: BSL-1.0
// What op_counts.cpp shares with the rows of op_counts_ends.cpp: the count's
// ends and the check. Those rows live in a file of their own because the
// compiler's inlining is decided per file: with put_sync() and co_await put()
// in op_counts.cpp, g++ 12 moved push() out of the try_put row's loop, and
// try_put counted 60 instructions instead of 46 with no change to the queue.
#pragma once

#include <asynclink/asynclink.hpp>

namespace op_counts {

/// Counts a failed check; the program then exits with 1.
void check(bool ok, const char* what);
/// A body calls this once its setup (a queue's storage, its filling) is done:
/// the count starts here.
void start_counting();
/// And this where the operations end, if what follows (a teardown) is not
/// part of them; otherwise the count ends with the body.
void stop_counting();

// The queue's ends one at a time, each with its answer there (op_counts_ends.cpp).
asynclink::Task<void> queue_task_put_room(int n);
asynclink::Task<void> queue_task_get_ready(int n);
void queue_put_sync(int n);
void queue_get_sync(int n);

}  // namespace op_counts
