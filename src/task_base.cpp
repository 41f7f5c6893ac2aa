// SPDX-License-Identifier: BSL-1.0
// A task's life on its loop: cancel, wake, finish, release. See
// include/asynclink/detail/task_base.hpp.
#include "asynclink/loop.hpp"

#include <cstdio>

#include "asynclink/errors.hpp"
#include "asynclink/task.hpp"
#include "asynclink/trace.hpp"

namespace asynclink::detail {

bool TaskBase::cancel() noexcept {
    if (done()) return false;
    // Already on its way to throw CancelledError: as in asyncio, further
    // cancels before it runs add nothing (a second one would hit its clean-up).
    if (cancel_state == CancelState::delivering) return true;
    if (started() && suspension != nullptr) {
        switch (suspension->cancel(*suspension)) {
        case CancelResult::resume_now:
            suspension = nullptr;
            cancel_state = CancelState::delivering;
            detail::LoopAccess::enqueue(*loop, *this);
            return true;
        case CancelResult::already_scheduled:
            suspension = nullptr;
            cancel_state = CancelState::delivering;
            return true;
        case CancelResult::forwarded: return true;  // the suspension stays: a later cancel() forwards again
        case CancelResult::too_late: break;
        }
    }
    // Not started, running, or its wait already satisfied: the next suspension
    // point (or the first step) throws.
    request_cancel();
    return true;
}

void TaskBase::wake() noexcept {
    suspension = nullptr;
#if ASYNCLINK_TRACE
    // The first wake-up since its last slice draws the arrow (a flow id an
    // earlier recording left behind does not count).
    if (trace::detail::on() && (trace_flow == 0 || trace::detail::holds_old_flow(*this))) [[unlikely]]
        trace_flow = detail::LoopAccess::trace_cause(*loop);
#endif
    detail::LoopAccess::enqueue(*loop, *this);
}

#if !ASYNCLINK_NO_EXCEPTIONS
std::exception_ptr TaskBase::exception() const noexcept { return root->error; }
#endif

void TaskBase::finish_cancelled() noexcept {
#if !ASYNCLINK_NO_EXCEPTIONS
    // One CancelledError for every task that ends here: made once (a thread-safe
    // static), then each copy only counts a reference, so ending cancelled
    // allocates nothing. CancelledError holds no state to share.
    static const std::exception_ptr cancelled = std::make_exception_ptr(CancelledError());
    root->error = cancelled;
#endif
    end_as(TaskState::cancelled);
}

void TaskBase::finish() noexcept {
    TaskState final_state = TaskState::finished;
#if !ASYNCLINK_NO_EXCEPTIONS
    if (root->error) {
        try {
            std::rethrow_exception(root->error);
        } catch (const CancelledError&) {
            final_state = TaskState::cancelled;
        } catch (...) {
        }
    }
#endif
    end_as(final_state);
}

void TaskBase::end_as(TaskState final_state) noexcept {
    state = final_state;
#if ASYNCLINK_TRACE
    if (trace::detail::on()) [[unlikely]]
        trace::detail::record_task_finished(*this);
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
    if (state == TaskState::finished && root->error && !outcome_observed) {
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
