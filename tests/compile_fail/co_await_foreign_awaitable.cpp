// Must not compile: co_await of an awaitable asynclink cannot resume (issue 10
// item 25). std::suspend_always would leave the task suspended where nothing
// reaches it, and run() would hang without a word. The test
// `compile_fail_co_await_foreign_awaitable` checks the compiler says so.
#include <asynclink/task.hpp>

#include <coroutine>

asynclink::Task<void> awaits_suspend_always() { co_await std::suspend_always{}; }
