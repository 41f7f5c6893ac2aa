// SPDX-License-Identifier: BSL-1.0
// ASYNCLINK_TEST_UNDER_TSAN: defined when the test is built with
// ThreadSanitizer (g++ says so with __SANITIZE_THREAD__, clang with
// __has_feature), for the few checks whose point the runtime itself changes.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define ASYNCLINK_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ASYNCLINK_TEST_UNDER_TSAN 1
#endif
#endif
