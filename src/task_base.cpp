// SPDX-License-Identifier: BSL-1.0
// A task's life on its loop: cancel, wake, finish, release. See
// include/asynclink/detail/task_base.hpp.
#include "asynclink/loop.hpp"

#include <cstdio>

#include "asynclink/errors.hpp"
#include "asynclink/task.hpp"

namespace asynclink::detail {

bool TaskBase::cancel() noexcept {
    if (done) return false;
    // Already on its way to throw CancelledError: as in asyncio, further
    // cancels before it runs add nothing (a second one would hit its clean-up).
    if (cancel_delivering) return true;
    if (started && suspension != nullptr) {
        switch (suspension->cancel(*suspension)) {
        case CancelResult::resume_now:
            suspension = nullptr;
            cancel_delivering = true;
            detail::LoopAccess::enqueue(*loop, *this);
            return true;
        case CancelResult::already_scheduled:
            suspension = nullptr;
            cancel_delivering = true;
            return true;
        case CancelResult::forwarded: return true;  // the suspension stays: a later cancel() forwards again
        case CancelResult::too_late: break;
        }
    }
    // Not started, running, or its wait already satisfied: the next suspension
    // point (or the first step) throws.
    cancel_requested = true;
    return true;
}

void TaskBase::wake() noexcept {
    suspension = nullptr;
    detail::LoopAccess::enqueue(*loop, *this);
}

#if !ASYNCLINK_NO_EXCEPTIONS
std::exception_ptr TaskBase::exception() const noexcept { return root->error; }
#endif

void TaskBase::finish_cancelled() noexcept {
#if ASYNCLINK_NO_EXCEPTIONS
    cancelled = true;
#else
    root->error = std::make_exception_ptr(CancelledError());
#endif
    finish();
}

void TaskBase::finish() noexcept {
    done = true;
#if !ASYNCLINK_NO_EXCEPTIONS
    if (root->error) {
        try {
            std::rethrow_exception(root->error);
        } catch (const CancelledError&) {
            cancelled = true;
        } catch (...) {
        }
    }
#endif
    // Wake every waiter: each enqueues its own task; none runs user code here.
    for (DoneWaiter* w = std::exchange(done_waiters, nullptr); w != nullptr;) {
        DoneWaiter* next = w->next;
        w->on_done(*w);
        w = next;
    }
    if (loop != nullptr) detail::LoopAccess::task_finished(*loop, *this);
    release();  // the loop's reference
}

void TaskBase::release() noexcept {
    if (--refs != 0) return;
#if !ASYNCLINK_NO_EXCEPTIONS
    if (done && root->error && !cancelled && !outcome_observed) {
        if (loop != nullptr) {
            detail::LoopAccess::report(*loop, root->error);
        } else {
            try {
                std::rethrow_exception(root->error);
            } catch (const CancelledError& e) {  // not a std::exception (see errors.hpp)
                std::fprintf(stderr, "asynclink: task exception was never retrieved: %s\n", e.what());
            } catch (const std::exception& e) {
                std::fprintf(stderr, "asynclink: task exception was never retrieved: %s\n", e.what());
            } catch (...) {
                std::fprintf(stderr, "asynclink: task exception was never retrieved (not a std::exception)\n");
            }
        }
    }
#endif
    if (loop != nullptr) detail::LoopAccess::forget_task(*loop, *this);
    frame.destroy();
}

}  // namespace asynclink::detail
