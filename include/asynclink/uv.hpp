// SPDX-License-Identifier: BSL-1.0
/// @file
/// libuv drives asynclink (target asynclink::uv, built where libuv is found;
/// docs/embedding.md): uv::Attachment steps a Loop from a uv_loop_t, with a
/// uv_poll_t on Loop::descriptor() and a uv_timer_t for the loop's timers, so
/// the loop's tasks run on the libuv loop's thread with no thread of their own.
///
/// | operation                 | task | other loop | thread | signal handler / ISR |
/// |---------------------------|------|------------|--------|----------------------|
/// | uv::Attachment(uv, loop)  | no   | no         | host   | no                   |
/// | uv::Attachment::stop      | yes  | no         | host   | no                   |
///
/// "host": the thread that runs the uv_loop_t and steps the loop. From
/// another thread, reach the loop's tasks through the thread-safe primitives
/// or Loop::call_soon_threadsafe, as always. Use asio.hpp or glib.hpp for
/// those loops, and Loop::step() for any other.
#pragma once

#include <uv.h>

#include <chrono>
#include <optional>
#include <system_error>

#include "asynclink/asynclink.hpp"

namespace asynclink::uv {

/// Steps `loop` whenever its descriptor is readable, or the time its last
/// step() asked for has come, or at the libuv loop's next turn when it asked
/// for that. Construct and destroy it on the libuv loop's thread; the Loop
/// and the uv_loop_t outlive it. While attached, uv_run() always has an
/// active handle: stop() (or the destructor) closes the handles, and uv_run()
/// returns once nothing else is active. Throws std::system_error if libuv
/// refuses a handle.
class Attachment {
public:
    Attachment(uv_loop_t* uv, Loop& loop) : state_(new State(loop)) {
        check(uv_poll_init(uv, &state_->poll, loop.descriptor()), "uv_poll_init");
        state_->poll.data = state_;
        if (int rc = uv_timer_init(uv, &state_->timer); rc != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&state_->poll), State::closed);  // frees the state
            state_->pending_closes = 1;
            check(rc, "uv_timer_init");
        }
        state_->timer.data = state_;
        check(uv_poll_start(&state_->poll, UV_READABLE, State::on_readable), "uv_poll_start");
        state_->step();
    }
    ~Attachment() { stop(); }
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;

    /// Stops stepping the loop and closes the handles (the loop's tasks stay
    /// as they are). Idempotent; callable from one of the loop's tasks.
    void stop() noexcept {
        if (state_ == nullptr) return;
        state_->stopped = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&state_->poll), State::closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&state_->timer), State::closed);
        state_ = nullptr;  // freed by the second close callback
    }

private:
    static void check(int rc, const char* what) {
        if (rc != 0) throw std::system_error(-rc, std::generic_category(), std::string("asynclink::uv: ") + what);
    }

    // The handles' memory must outlive their close callbacks, which run at a
    // later turn of the libuv loop: the state lives on the heap until then.
    struct State {
        explicit State(Loop& l) noexcept : loop(l) {}
        Loop& loop;
        uv_poll_t poll{};
        uv_timer_t timer{};
        bool stopped = false;
        int pending_closes = 2;

        void step() {
            std::optional<Clock::duration> due = loop.step();
            if (stopped) return;  // a task stopped the attachment
            if (!due) {
                uv_timer_stop(&timer);
                return;
            }
            // libuv's timers count milliseconds: round up, never early (a
            // step that comes early asks again for what is left).
            auto ms = std::chrono::ceil<std::chrono::milliseconds>(*due).count();
            uv_timer_start(&timer, on_timer, static_cast<std::uint64_t>(ms), 0);
        }
        static void on_readable(uv_poll_t* handle, int, int) { static_cast<State*>(handle->data)->step(); }
        static void on_timer(uv_timer_t* handle) { static_cast<State*>(handle->data)->step(); }
        static void closed(uv_handle_t* handle) {
            auto* self = static_cast<State*>(handle->data);
            if (--self->pending_closes == 0) delete self;
        }
    };
    State* state_;
};

}  // namespace asynclink::uv
