// SPDX-License-Identifier: BSL-1.0
// GCC 12's SLP vectorizer miscompiles this coroutine; no asynclink in it.
//
// collect() fills a std::vector<std::string> from values it awaits and
// co_returns it. At -O2, g++ 12.2 (Debian 12.2.0-14+deb12u1) hands back a
// garbage vector: the {_M_start, _M_finish} pair that co_return moves into the
// promise is built as a vector(2) from the loop's reloads of the two pointers,
// but the SLP pass (slp1) puts that vector constructor at the start of the
// actor, ahead of the loads that define its operands; -fdump-tree-optimized
// shows it, sunk to the loop latch, still two statements before those loads.
// -fdump-tree-slp-details shows why: the loop-header PHIs and the co_return
// stores lie in the first region the pass analyses, the loop latch with the
// loads in a later one; the loads count as "external" defs, and a vector of
// externals goes at the start of the region, which the loads do not dominate.
//
//   g++ -std=c++20 -O2 docs/gcc12-slp-coroutine.cpp && ./a.out
//     size 2964242323325: WRONG                     (exit status 1)
//   g++ -std=c++20 -O2 -fno-tree-slp-vectorize ...  size 3: ok
//   g++ -std=c++20 -O2 -fno-tree-pre ...            size 3: ok
//   g++ -std=c++20 -O1 / -O3 ...                    size 3: ok
//   g++ -std=c++20 -O2 -fsanitize=undefined ...     size 3: ok
//   g++ -std=c++20 -O0 -fsanitize=address,undefined -fno-sanitize-recover=all
//                                                   size 3: ok (no report)
//   g++ -std=c++20 -O2 -fsanitize=address ...       size 3: ok (no report)
//   clang++-14 -std=c++20 -O2 (and -O3) ...         size 3: ok
// g++ -Wall -Wextra and clang++ -Wall -Wextra warn about nothing. The size
// differs from run to run. asynclink's own tests/consumer/main.cpp, a larger
// program of the same shape, fails at -O3 instead.
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

using Strings = std::vector<std::string>;

struct Box {
    std::string value;
    bool has = false;
    std::coroutine_handle<> waiter;
};

struct Wait {
    Box& box;
    bool await_ready() { return box.has; }
    void await_suspend(std::coroutine_handle<> h) { box.waiter = h; }
    std::string await_resume() { return box.value; }
};

struct Task {
    struct promise_type {
        Task get_return_object() { return Task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_value(Strings&& v) noexcept { result = std::move(v); }
        void unhandled_exception() { std::abort(); }
        Strings result;
    };
    std::coroutine_handle<promise_type> h;
    ~Task() { h.destroy(); }
};

Task collect(Box& box, int count) {
    Strings received;
    while (static_cast<int>(received.size()) < count) {
        std::string s = co_await Wait{box};
        box.has = false;
        received.push_back(s);
    }
    co_return received;
}

int main() {
    Box box;
    const int count = 3;
    Task t = collect(box, count);
    t.h.resume();  // runs to the first Wait
    for (int k = 1; !t.h.done(); ++k) {
        box.value = "Hello " + std::to_string(k);
        box.has = true;
        std::exchange(box.waiter, {}).resume();
    }
    Strings& got = t.h.promise().result;
    bool ok = got.size() == count;
    for (int i = 0; ok && i < count; ++i) ok = got[i] == "Hello " + std::to_string(i + 1);
    std::printf("size %zu: %s\n", got.size(), ok ? "ok" : "WRONG");
    std::fflush(stdout);
    if (!ok) std::_Exit(1);  // the vector is garbage: destroying it would crash
    return 0;
}
