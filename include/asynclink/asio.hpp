// SPDX-License-Identifier: BSL-1.0
/// @file
/// Boost.Asio and asynclink on one thread (target asynclink::asio, built where
/// Boost.Asio is found; docs/embedding.md):
///   - asio::Attachment: an io_context drives a Loop (its descriptor() through
///     a posix::stream_descriptor, its timers through a steady_timer), so the
///     loop's tasks run on the io_context's thread with no thread of their own;
///   - asio::use_task: a completion token making an Asio operation a Task an
///     asynclink task co_awaits; cancelling the task cancels the operation;
///   - asio::await(loop, aw, token): an Asio operation that runs an asynclink
///     awaitable (ThreadSafeQueue::get, ThreadSafeFlag::wait, a Task) on the
///     loop; an Asio cancellation (awaitable_operators `||`, a
///     cancellation_signal) cancels the asynclink side.
///
/// | operation              | task | other loop | thread | signal handler / ISR |
/// |------------------------|------|------------|--------|----------------------|
/// | Attachment(ex, loop)   | no   | no         | host   | no                   |
/// | Attachment::stop       | yes  | no         | host   | no                   |
/// | co_await op(use_task)  | yes  | no         | no     | no                   |
/// | asio::await            | yes  | no         | io     | no                   |
///
/// "host": the thread that runs the io_context and steps the loop. "io": an
/// Asio coroutine or handler on an io_context's thread; when that is not the
/// loop's thread, the task is started and cancelled through
/// Loop::call_soon_threadsafe, and the result comes back through the
/// handler's executor.
///
/// Use this when the program's main loop is an io_context; use libuv.hpp or
/// glib.hpp for those loops, and Loop::step() for any other.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include <unistd.h>

#include "asynclink/asynclink.hpp"

namespace asynclink::asio {

namespace net = boost::asio;

// ------------------------------------------------------------------ Attachment

/// Drives `loop` from an io_context: whenever the loop's descriptor is
/// readable, or the time its last step() asked for has come, or it asked to
/// be stepped again at once, a handler on `ex` calls loop.step(). Construct
/// and destroy it on the io_context's thread (which then steps the loop, see
/// Loop::step); the Loop outlives it. While attached, the io_context always
/// has work (a wait on the descriptor): stop() (or the destructor) detaches,
/// and io_context::run() returns once nothing else is pending.
class Attachment {
public:
    template <class Executor>
    Attachment(const Executor& ex, Loop& loop) : state_(std::make_shared<State>(net::any_io_executor(ex), loop)) {
        state_->step(state_);
    }
    ~Attachment() { stop(); }
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;

    /// Stops stepping the loop and cancels the waits; the loop's tasks stay as
    /// they are (step it again, or destroy it, to end them). Idempotent.
    void stop() noexcept {
        if (!state_ || state_->stopped) return;
        state_->stopped = true;
        boost::system::error_code ignored;
        state_->descriptor.cancel(ignored);
        try {
            state_->timer.cancel();
        } catch (const boost::system::system_error&) {
            // The reactor refused: the wait stays, and its handler, when it
            // comes, finds the attachment stopped and does nothing.
        }
    }

private:
    // The handlers hold the state, so a handler that runs after stop() (with
    // operation_aborted, or a post) finds it alive and does nothing.
    struct State {
        State(net::any_io_executor ex, Loop& l)
            : loop(l), descriptor(ex, ::dup(l.descriptor())), timer(ex), executor(std::move(ex)) {}
        Loop& loop;
        net::posix::stream_descriptor descriptor;  // a dup: closing it leaves the loop's own
        net::steady_timer timer;
        net::any_io_executor executor;
        bool stopped = false;
        bool descriptor_waiting = false;
        bool step_posted = false;
        std::uint64_t timer_generation = 0;  // a timer wait for an older step() is stale

        void step(const std::shared_ptr<State>& self) {
            std::optional<Clock::duration> due = loop.step();
            if (stopped) return;  // a task stopped the attachment
            if (due && due->count() == 0) {
                if (!step_posted) {
                    step_posted = true;
                    net::post(executor, [self] {
                        self->step_posted = false;
                        if (!self->stopped) self->step(self);
                    });
                }
                return;
            }
            if (due) {
                std::uint64_t generation = ++timer_generation;
                timer.expires_after(std::chrono::duration_cast<net::steady_timer::duration>(*due));
                timer.async_wait([self, generation](boost::system::error_code ec) {
                    if (!ec && !self->stopped && generation == self->timer_generation) self->step(self);
                });
            }
            if (!descriptor_waiting) {
                descriptor_waiting = true;
                descriptor.async_wait(net::posix::stream_descriptor::wait_read, [self](boost::system::error_code ec) {
                    self->descriptor_waiting = false;
                    if (!ec && !self->stopped) self->step(self);
                });
            }
        }
    };
    std::shared_ptr<State> state_;
};

// ------------------------------------------------------------------ use_task

/// The completion token making an Asio operation a Task<R> for an asynclink
/// task to co_await (as use_awaitable does for Asio's coroutines):
///     std::size_t n = co_await net::async_read(socket, buffer, asio::use_task);
///     co_await timer.async_wait(asio::use_task);
/// The operation starts when the Task is awaited. Its result: void() and
/// void(error_code) give Task<void>, void(error_code, T) gives Task<T>; an
/// error is thrown as boost::system::system_error. The completion may come on
/// any thread (it sets a ThreadSafeFlag). Cancelling the awaiting task emits
/// a terminal cancellation to the operation (on its executor) and waits for
/// it to end: operation_aborted is thrown as CancelledError; an operation that
/// completed anyway returns its result and the task's next suspension point
/// throws CancelledError instead (nothing it did is lost).
struct use_task_t {};
inline constexpr use_task_t use_task{};

namespace detail {

template <class... Args>
struct OpResult;
template <>
struct OpResult<> {
    using type = void;
};
template <>
struct OpResult<boost::system::error_code> {
    using type = void;
};
template <class T>
struct OpResult<boost::system::error_code, T> {
    using type = T;
};

template <class... Args>
struct OpState {
    ThreadSafeFlag done;
    net::cancellation_signal cancel;
    std::optional<std::tuple<std::decay_t<Args>...>> result;
};

template <class... Args>
struct OpHandler {
    std::shared_ptr<OpState<Args...>> state;
    template <class... A>
    void operator()(A&&... a) {
        state->result.emplace(std::forward<A>(a)...);
        state->done.set();
    }
};

template <class Init>
auto initiation_executor(const Init& init) {
    if constexpr (requires { init.get_executor(); }) {
        return std::optional<net::any_io_executor>(init.get_executor());
    } else {
        return std::optional<net::any_io_executor>();
    }
}

template <class... Args, class Init, class... InitArgs>
Task<typename OpResult<std::decay_t<Args>...>::type> run_operation(Init init, InitArgs... args) {
    auto state = std::make_shared<OpState<Args...>>();
    std::optional<net::any_io_executor> ex = initiation_executor(init);
    std::move(init)(net::bind_cancellation_slot(state->cancel.slot(), OpHandler<Args...>{state}), std::move(args)...);
    bool cancelled = false;
    while (!state->result) {
        try {
            co_await state->done.wait();
        } catch (const CancelledError&) {
            if (!cancelled) {
                cancelled = true;
                // The signal is the operation's: emit it on its executor.
                auto emit = [state] { state->cancel.emit(net::cancellation_type::terminal); };
                if (ex) {
                    net::dispatch(*ex, emit);
                } else {
                    emit();
                }
            }
        }
    }
    auto& result = *state->result;
    if constexpr (sizeof...(Args) >= 1) {
        const boost::system::error_code& ec = std::get<0>(result);
        if (cancelled && ec == net::error::operation_aborted) throw CancelledError();
        if (cancelled) current_task().cancel();  // too late: the next suspension point throws
        if (ec) throw boost::system::system_error(ec);
    } else if (cancelled) {
        current_task().cancel();
    }
    if constexpr (sizeof...(Args) == 2) co_return std::move(std::get<1>(result));
}

}  // namespace detail

// ------------------------------------------------------------------ await

namespace detail {

/// What co_await of an asynclink awaitable `Aw` gives.
template <class Aw>
auto await_result_of() {
    if constexpr (requires(Aw a) { std::move(a).operator co_await(); }) {
        using Awaiter = decltype(std::declval<Aw>().operator co_await());
        return std::type_identity<decltype(std::declval<Awaiter&>().await_resume())>();
    } else {
        return std::type_identity<decltype(std::declval<Aw&>().await_resume())>();
    }
}
template <class Aw>
using await_result_t = typename decltype(await_result_of<Aw>())::type;

template <class Aw>
Task<await_result_t<Aw>> awaiting_task(Aw aw) {
    co_return co_await std::move(aw);
}

template <class R>
struct AwaitSignature {
    using type = void(std::exception_ptr, R);
};
template <>
struct AwaitSignature<void> {
    using type = void(std::exception_ptr);
};

/// One await(): the asynclink task, the Asio handler, and which side ends it.
template <class R, class Handler>
struct AwaitOp : std::enable_shared_from_this<AwaitOp<R, Handler>> {
    AwaitOp(Loop& l, Handler h, net::any_io_executor fallback)
        : loop(l), handler(std::move(h)), work(net::get_associated_executor(handler, fallback)) {}
    Loop& loop;
    Handler handler;
    net::executor_work_guard<net::associated_executor_t<Handler, net::any_io_executor>> work;
    net::cancellation_slot slot;  // the handler's, or unconnected
    // The task running the awaitable, while it runs: the one a cancellation
    // reaches. complete() runs it as a task of its own so that a cancel,
    // even before it starts, still ends in complete(), which always calls
    // the handler. Loop thread only, as is cancel_requested.
    TaskHandle<R> body_task;
    bool cancel_requested = false;

    void start(Task<R> body) {
        auto self = this->shared_from_this();
        auto run = [self, body = std::make_shared<Task<R>>(std::move(body))]() mutable {
            create_task(complete(self, std::move(*body)));
        };
        if (loop.is_running_here()) {
            run();
        } else {
            loop.call_soon_threadsafe(std::move(run));
        }
        // Taken now, as Asio's own operations do: an Asio coroutine's
        // handler answers only while the operation is being started.
        slot = net::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            slot.assign([self](net::cancellation_type) { self->cancel(); });
        }
    }
    void cancel() {
        auto self = this->shared_from_this();
        auto do_cancel = [self] {
            self->cancel_requested = true;
            if (self->body_task) self->body_task.cancel();
        };
        if (loop.is_running_here()) {
            do_cancel();
        } else {
            loop.call_soon_threadsafe(do_cancel);
        }
    }
    /// The task: `self` is a parameter so the frame holds the operation from
    /// its creation (a coroutine's body runs only when the task first runs).
    static Task<void> complete(std::shared_ptr<AwaitOp> self, Task<R> body) {
        std::exception_ptr error;
        std::optional<std::conditional_t<std::is_void_v<R>, int, R>> value;
        self->body_task = create_task(std::move(body));
        if (self->cancel_requested) self->body_task.cancel();
        try {
            if constexpr (std::is_void_v<R>) {
                co_await self->body_task;
                value.emplace(0);
            } else {
                value.emplace(co_await self->body_task);
            }
        } catch (...) {
            error = std::current_exception();
        }
        self->body_task = TaskHandle<R>();
        // Posted, not run here: the handler (an Asio coroutine) must not run
        // inside this task.
        auto ex = self->work.get_executor();
        net::post(ex, [self, error, value = std::move(value)]() mutable {
            if (self->slot.is_connected()) self->slot.clear();
            auto h = std::move(self->handler);
            self->work.reset();
            if constexpr (std::is_void_v<R>) {
                std::move(h)(error);
            } else {
                std::move(h)(error, value ? std::move(*value) : R());
            }
        });
    }
};

}  // namespace detail

namespace detail {
template <class Aw, class Token>
auto await_on(Loop& loop, net::any_io_executor fallback, Aw aw, Token&& token) {
    using R = await_result_t<Aw>;
    return net::async_initiate<Token, typename AwaitSignature<R>::type>(
        [&loop, fallback](auto handler, Aw a) {
            auto op = std::make_shared<AwaitOp<R, decltype(handler)>>(loop, std::move(handler), fallback);
            op->start(awaiting_task(std::move(a)));
        },
        token, std::move(aw));
}
}  // namespace detail

/// An Asio asynchronous operation that co_awaits `aw` (any asynclink
/// awaitable: q.get(), flag.wait(), a Task, a TaskHandle) in a new task on
/// `loop`, and completes with (exception_ptr[, result]) as co_spawn does:
///     int v = co_await asio::await(loop, q.get(), net::use_awaitable);
/// The awaitable's objects (the queue) must outlive the operation. The
/// handler runs through its associated executor (`ex` for a handler without
/// one). A cancellation from the handler's slot cancels the task: the
/// awaitable's own cancellation safety holds (a queue's item stays in the
/// queue), and the operation completes with CancelledError.
template <class Executor, class Aw, class Token>
auto await(const Executor& ex, Loop& loop, Aw aw, Token&& token) {
    return detail::await_on(loop, net::any_io_executor(ex), std::move(aw), std::forward<Token>(token));
}

/// await(ex, loop, aw, token) for a token with an associated executor (an
/// Asio coroutine's use_awaitable, a handler bound to an executor); a plain
/// callback would be posted to Asio's system executor (a thread of its own):
/// give it `ex` with the four-argument form instead.
template <class Aw, class Token>
auto await(Loop& loop, Aw aw, Token&& token) {
    return detail::await_on(loop, net::any_io_executor(net::system_executor()), std::move(aw),
                            std::forward<Token>(token));
}

}  // namespace asynclink::asio

// use_task's binding to Asio (kept out of the API reference: Doxygen cannot
// place a specialization of another library's template).
/// @cond
template <class... Args>
struct boost::asio::async_result<asynclink::asio::use_task_t, void(Args...)> {
    template <class Initiation, class... InitArgs>
    static auto initiate(Initiation init, asynclink::asio::use_task_t, InitArgs... args) {
        return asynclink::asio::detail::run_operation<Args...>(std::move(init), std::move(args)...);
    }
};
/// @endcond
