// SPDX-License-Identifier: BSL-1.0
// Whether this translation unit is built with AddressSanitizer (g++ or
// clang): ASYNCLINK_SIM_ASAN, and then the sanitizer's fiber and report
// interfaces. The fibers tell ASan about every stack switch, and the
// scheduler names the schedule a report came from.
#pragma once

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASYNCLINK_SIM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ASYNCLINK_SIM_ASAN 1
#endif
#if defined(ASYNCLINK_SIM_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
