// A program built against the installed asynclink package.
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>

namespace al = asynclink;
using namespace std::chrono_literals;

al::Task<int> twice(int x) {
    co_await al::sleep(1ms);
    co_return 2 * x;
}

al::Task<int> run_all() {
    auto [a, b] = co_await al::gather(twice(1), twice(20));
    co_return a + b;
}

int main() {
    int r = al::run(run_all());
    std::printf("consumer: %d\n", r);
    return r == 42 ? 0 : 1;
}
