// SPDX-License-Identifier: BSL-1.0
/// @file
/// Task<T>: the coroutine type of asynclink (an `async def` function).
///
/// A Task is lazy: nothing runs until it is co_awaited (it then runs inside the
/// awaiting task, like `await coro()`), passed to create_task()/gather()/
/// wait_for() (it then becomes a task of its own), or given to run().
///
/// | operation          | task | other loop | thread | signal handler / ISR |
/// |--------------------|------|------------|--------|----------------------|
/// | co_await task      | yes  | -          | -      | -                    |
/// | create Task object | yes  | yes        | yes    | no (allocates frame) |
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "asynclink/detail/config.hpp"
#include "asynclink/detail/frame_pool.hpp"
#include "asynclink/detail/task_base.hpp"
#include "asynclink/errors.hpp"

namespace asynclink {

template <class T = void>
class Task;

namespace detail {

template <class X>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};

class PromiseBase {
public:
    TaskBase* task = nullptr;              ///< the task this coroutine runs in
    std::coroutine_handle<> continuation;  ///< the awaiting coroutine; empty for a task's root
    ErrorPtr error;
    TaskBase root_state;  ///< used when this coroutine is the root of a task

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            // Back to the awaiting coroutine, no trip through the loop. Either
            // may destroy this frame, which is allowed once it is suspended.
            if (p.continuation) {
                p.task->transfer(p.continuation);
            } else {
                p.task->root_ended();
            }
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept {
#if ASYNCLINK_NO_EXCEPTIONS
        port::fatal("asynclink: unhandled_exception without exceptions");
#else
        error = std::current_exception();
#endif
    }

#if defined(ASYNCLINK_FRAME_POOL_BLOCKS)
    // Frames come from the static pool; a failed allocation makes the call
    // return an empty Task (see detail/frame_pool.hpp).
    static void* operator new(std::size_t size) noexcept { return FramePool::allocate(size); }
    static void operator delete(void* frame, std::size_t) noexcept { FramePool::release(frame); }
#endif
};

template <class T>
class Promise : public PromiseBase {
public:
    Task<T> get_return_object() noexcept;
#if defined(ASYNCLINK_FRAME_POOL_BLOCKS)
    static Task<T> get_return_object_on_allocation_failure() noexcept;
#endif

    // clang-format off
    template <class U>
        requires std::is_convertible_v<U&&, T>
    void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        // clang-format on
        ::new (static_cast<void*>(&storage_)) T(std::forward<U>(value));
        has_value_ = true;
    }

    ~Promise() {
        if (has_value_) value_ref().~T();
    }

    bool has_value() const noexcept { return has_value_; }
    void destroy_value() noexcept {
        if (has_value_) value_ref().~T();
        has_value_ = false;
    }
    T& value_ref() noexcept { return *std::launder(reinterpret_cast<T*>(&storage_)); }

    /// The outcome for the one awaiter of a sub-coroutine (moved out).
    T take() {
        rethrow_if_error(error);
        return std::move(value_ref());
    }

private:
    alignas(T) unsigned char storage_[sizeof(T)];
    bool has_value_ = false;
};

/// Task<T&>: the coroutine returns a reference; the object must outlive
/// every use of it, as for any function returning a reference.
template <class T>
class Promise<T&> : public PromiseBase {
public:
    Task<T&> get_return_object() noexcept;
#if defined(ASYNCLINK_FRAME_POOL_BLOCKS)
    static Task<T&> get_return_object_on_allocation_failure() noexcept;
#endif

    void return_value(T& value) noexcept { value_ = std::addressof(value); }

    bool has_value() const noexcept { return value_ != nullptr; }
    void destroy_value() noexcept { value_ = nullptr; }
    T& value_ref() noexcept { return *value_; }
    T& take() {
        rethrow_if_error(error);
        return *value_;
    }

private:
    T* value_ = nullptr;
};

template <>
class Promise<void> : public PromiseBase {
public:
    Task<void> get_return_object() noexcept;
#if defined(ASYNCLINK_FRAME_POOL_BLOCKS)
    static Task<void> get_return_object_on_allocation_failure() noexcept;
#endif
    void return_void() noexcept { has_value_ = true; }
    bool has_value() const noexcept { return has_value_; }
    void take() { rethrow_if_error(error); }

private:
    bool has_value_ = false;
};

/// Gives a newly created root coroutine its own task state.
template <class T>
TaskBase& make_root(std::coroutine_handle<Promise<T>> h, Loop& loop) noexcept {
    Promise<T>& p = h.promise();
    p.task = &p.root_state;
    p.root_state.frame = h;
    p.root_state.resume_point = h;
    p.root_state.root = &p;
    p.root_state.loop = &loop;
#if ASYNCLINK_PORT_HAS_THREADS
    p.root_state.home = &port::current_loop();
#endif
    return p.root_state;
}

/// The task a suspended awaiter belongs to. Every asynclink awaitable must be
/// co_awaited from an asynclink coroutine, and this is where that is enforced.
template <class P>
TaskBase& task_of(std::coroutine_handle<P> h) noexcept {
    static_assert(std::is_base_of_v<PromiseBase, P>,
                  "asynclink awaitables can only be co_awaited inside an asynclink::Task coroutine");
    return *h.promise().task;
}

}  // namespace detail

/// A coroutine returning T. Move-only; owns its frame until it is awaited or
/// handed to the loop.
template <class T>
class [[nodiscard]] Task {
public:
    using promise_type = detail::Promise<T>;
    using value_type = T;

    Task() noexcept = default;
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            if (handle_) handle_.destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() {
        if (handle_) handle_.destroy();
    }

    bool valid() const noexcept { return static_cast<bool>(handle_); }

    /// Gives up ownership of the frame (create_task, run).
    std::coroutine_handle<promise_type> release() noexcept { return std::exchange(handle_, {}); }

    class Awaiter {
    public:
        explicit Awaiter(std::coroutine_handle<promise_type> child) noexcept : child_(child) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> parent) noexcept {
            detail::TaskBase& task = detail::task_of(parent);
            child_.promise().task = &task;
            child_.promise().continuation = parent;
            task.transfer(child_);  // start the child now, no trip through the loop; `this` may be gone after
        }
        T await_resume() { return child_.promise().take(); }

    private:
        std::coroutine_handle<promise_type> child_;
    };

    /// Awaiting a Task runs it inside the awaiting task, like `await coro()`.
    Awaiter operator co_await() && {
        if (!handle_) ASYNCLINK_THROW(UsageError, "co_await on an empty Task (moved from, or already awaited)");
        return Awaiter{handle_};
    }
    /// `co_await t` on a named Task: rejected with a message at compile time.
    template <class Self = Task>
    Awaiter operator co_await() const& {
        static_assert(sizeof(Self) == 0,
                      "asynclink: co_await on a Task lvalue; a Task runs once, so await it as an rvalue: "
                      "co_await std::move(t), or co_await f() directly. To await one result in several places, "
                      "start it with create_task(std::move(t)) and co_await the TaskHandle, which may be "
                      "awaited any number of times");
        return Awaiter{handle_};
    }

private:
    std::coroutine_handle<promise_type> handle_;
};

namespace detail {
/// F is a callable whose call makes a Task (a coroutine lambda, say).
template <class F>
concept TaskFactory = !is_task<std::remove_cvref_t<F>>::value && std::invocable<std::decay_t<F>&> &&
                      is_task<std::invoke_result_t<std::decay_t<F>&>>::value;
template <class F>
using factory_value_t = typename std::invoke_result_t<std::decay_t<F>&>::value_type;
}  // namespace detail

/// A Task that calls `make()` and awaits the Task it returns, keeping `make`
/// alive in its own frame meanwhile. For a coroutine lambda with captures:
/// the coroutine refers to its captures through the lambda object, so
/// `create_task([x] () -> Task<> { ... }())` reads `x` from a closure that
/// was destroyed at the end of that statement. Pass the lambda itself:
/// `owning_task([x] () -> Task<> { ... })` (or create_task(lambda), which
/// uses this) holds the closure as long as the coroutine runs.
// clang-format off
template <class F>
    requires detail::TaskFactory<F>
Task<detail::factory_value_t<F>> owning_task(F make) {
    // clang-format on
    co_return co_await make();
}

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
template <class T>
Task<T&> Promise<T&>::get_return_object() noexcept {
    return Task<T&>(std::coroutine_handle<Promise<T&>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
#if defined(ASYNCLINK_FRAME_POOL_BLOCKS)
template <class T>
Task<T> Promise<T>::get_return_object_on_allocation_failure() noexcept {
    return Task<T>();
}
template <class T>
Task<T&> Promise<T&>::get_return_object_on_allocation_failure() noexcept {
    return Task<T&>();
}
inline Task<void> Promise<void>::get_return_object_on_allocation_failure() noexcept { return Task<void>(); }
#endif
}  // namespace detail

}  // namespace asynclink
