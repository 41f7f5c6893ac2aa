// SPDX-License-Identifier: BSL-1.0
// settle(): lets the tasks a test created run up to their next suspension.
#pragma once

#include <asynclink/asynclink.hpp>

namespace test_support {

/// Yields `yields` times, so every ready task runs to its next suspension and
/// the wake-ups posted meanwhile are taken (each yield is one loop iteration).
inline asynclink::Task<void> settle(int yields = 3) {
    for (int i = 0; i < yields; ++i) co_await asynclink::sleep(0);
}

}  // namespace test_support
