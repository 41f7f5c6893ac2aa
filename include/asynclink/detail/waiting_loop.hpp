// SPDX-License-Identifier: BSL-1.0
// WaitingLoop: the loop a thread-safe primitive's waiting side waits on, as
// each context reaches it. ThreadSafeFlag, EventCore (ThreadSafeEvent and
// Message) and each end of a ThreadSafeQueue hold one.
//
// - The waiting side (its loop's thread) checks that it may wait on the
//   current loop: one live loop at a time, taken over once that loop has
//   ended (LoopBinding's rule), so a wake-up posted there never runs on
//   another loop's thread.
// - Before it publishes its waiting bit, it points the slot at its loop (or at
//   none: a thread end of a queue blocks on a futex instead). The RMW or
//   release CAS that publishes the bit publishes the slot with it.
// - Any context that takes the waiting bit posts the primitive's RemoteNode
//   through the slot, which keeps that loop's wake core alive meanwhile.
// - Before a node goes, on the waiting loop's thread, that loop runs what
//   was posted to it, so the node is not left on its posted list.
#pragma once

#include <atomic>
#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/detail/wake_core.hpp"

namespace asynclink::detail {

class WaitingLoop {
public:
    WaitingLoop() noexcept = default;
    WaitingLoop(const WaitingLoop&) = delete;
    WaitingLoop& operator=(const WaitingLoop&) = delete;

    // ------------------------------------------------ the waiting side

    /// The calling thread's loop, if the waiting side may wait on it; else
    /// throws UsageError naming `operation` and `alternative`.
    Loop& check(const char* operation, const char* alternative) { return binding_.check(operation, alternative); }
    /// Makes `loop` the one to wait on: false if the waiting side belongs to
    /// another loop that is still running (the caller says why it fails).
    bool try_bind(Loop& loop) noexcept { return binding_.try_bind(loop); }

    /// The waiting task is on `loop`. Before the waiting bit is published.
    void wait_on(const Loop& loop) noexcept { slot_.bind(&LoopAccess::wake_core(loop)); }
    /// The waiting side is a thread, which the poster unblocks itself.
    void wait_on_thread() noexcept { slot_.bind(nullptr); }

    // ------------------------------------------------ any context

    /// Posts `node` to the waiting loop; false if the waiting side is a
    /// thread. A loop that has ended refuses the post, which then does nothing.
    bool post(RemoteNode& node) noexcept { return slot_.post(node); }
    /// Calls f(core) with the waiting loop's core borrowed; false (f not
    /// called) if the waiting side is a thread.
    template <class F>
    bool with_core(F&& f) noexcept {
        return slot_.with_core(std::forward<F>(f));
    }

    // ------------------------------------------------ destruction

    /// Before `node` goes: if a post left it queued on the waiting loop, and
    /// this is that loop's thread, runs the loop's posted work now. A loop of
    /// another thread, or one that has ended (its close took every node off),
    /// has nothing of this primitive to run here.
    void drain(const RemoteNode& node) noexcept {
        // acquire: pairs with the release of a refused post that left the node not queued.
        if (!node.queued.load(std::memory_order_acquire)) return;
        Loop* here = port::current_loop();
        if (here != nullptr && binding_.loop() == here) LoopAccess::drain_notifications(*here);
    }

private:
    WakeSlot slot_;
    LoopBinding binding_;
};

}  // namespace asynclink::detail
