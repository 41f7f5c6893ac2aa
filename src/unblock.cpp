// SPDX-License-Identifier: BSL-1.0
// The shared Context behind unblock(). See include/asynclink/unblock.hpp.
#include "asynclink/unblock.hpp"

#include <algorithm>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

Context& unblock_context() {
    // A function-local static: built on first use, thread-safe, and destroyed
    // at exit after every pending call has run, so no worker outlives main.
    static Context context(64, static_cast<std::size_t>(std::min(32, port::cpu_count() + 4)));
    return context;
}

}  // namespace asynclink::detail
