// SPDX-License-Identifier: BSL-1.0
// A wake-up request posted to a loop from any context (another thread, a
// signal handler, an ISR). See detail::WakeCore::post for the protocol.
#pragma once

#include <cstdint>

#include "asynclink/detail/config.hpp"
#include "asynclink/port/port.hpp"

namespace asynclink::detail {

struct RemoteNode {
    /// Written by the poster before the publishing CAS, read by the loop after
    /// taking the list: ordered by that CAS, so a plain pointer.
    RemoteNode* next = nullptr;
    /// True from the post until the loop has taken the node off its list, so a
    /// node is never linked twice; repeated posts in between coalesce.
    port::atomic<bool> queued{false};
#if ASYNCLINK_TRACE
    /// The trace flow id of the hand-over that posted it (asynclink/trace.hpp):
    /// the slice of the task its run() wakes ends that arrow. Written by any
    /// poster, read by the loop; fits in the padding after `queued`.
    port::atomic<std::uint32_t> trace_flow{0};
#endif
    /// Runs on the loop's thread. It only moves waiters to the ready queue; it
    /// never runs user code.
    void (*run)(RemoteNode& self) noexcept = nullptr;
    /// The primitive the node belongs to, for run().
    void* owner = nullptr;
};

}  // namespace asynclink::detail
