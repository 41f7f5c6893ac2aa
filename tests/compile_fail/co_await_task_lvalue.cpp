// SPDX-License-Identifier: BSL-1.0
// Must not compile: `co_await t` on a named Task. The test
// `compile_fail_co_await_task_lvalue` checks that the compiler says why, in
// asynclink's words, instead of a page of overload candidates.
#include <asynclink/task.hpp>

asynclink::Task<int> one() { co_return 1; }

asynclink::Task<int> awaits_a_named_task() {
    asynclink::Task<int> t = one();
    co_return co_await t;
}
