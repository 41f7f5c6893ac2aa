// SPDX-License-Identifier: BSL-1.0
// ASYNCLINK_STRESS_SCALE, the one knob of every stress test's size: 1 in
// Release, 0.05 under the sanitizers, 0.01 under valgrind (tools/run-tests and
// tools/valgrind set it). One definition for the whole suite.
#pragma once

#include <algorithm>
#include <cstdlib>

namespace test_support {

/// The scale from ASYNCLINK_STRESS_SCALE; 1 when unset, empty or not positive.
inline double stress_scale() {
    const char* text = std::getenv("ASYNCLINK_STRESS_SCALE");
    if (text == nullptr || *text == '\0') return 1.0;
    double scale = std::strtod(text, nullptr);
    return scale > 0 ? scale : 1.0;
}

/// `n` scaled by the stress scale, at least `at_least`.
template <class N>
N scaled(N n, N at_least) {
    return std::max(at_least, static_cast<N>(static_cast<double>(n) * stress_scale()));
}

}  // namespace test_support
