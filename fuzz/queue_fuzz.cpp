// SPDX-License-Identifier: BSL-1.0
// Model-based fuzzing of the loop-only Queue<T>: tasks that put and get (with
// and without waiting), cancellations at random points and loop turns. The
// reference model is the queue's contract: every item whose put completed is
// delivered exactly once, in put order, or is still queued; a cancelled put
// enqueued nothing; a cancelled get took nothing (or kept what it was handed).
#include <algorithm>
#include <list>
#include <vector>

#include "fuzz_driver.hpp"

namespace al = asynclink;

namespace {

al::Task<void> drive(fuzz::Input& in) {
    std::size_t maxsize = in.pick(4);  // 0 = unbounded
    al::Queue<int> q(maxsize);
    std::vector<int> accepted;  // completed puts, in completion order of enqueueing
    std::vector<int> delivered;
    std::list<al::TaskHandle<void>> tasks;
    int next_value = 1;

    auto putter = [](al::Queue<int>& queue, int v, std::vector<int>& acc) -> al::Task<void> {
        co_await queue.put(v);
        acc.push_back(v);
    };
    auto getter = [](al::Queue<int>& queue, std::vector<int>& out) -> al::Task<void> {
        out.push_back(co_await queue.get());
    };

    while (in.more()) {
        switch (in.pick(7)) {
        case 0: tasks.push_back(al::create_task(putter(q, next_value++, accepted))); break;
        case 1: tasks.push_back(al::create_task(getter(q, delivered))); break;
        case 2: {
            int v = next_value++;
            try {
                q.put_nowait(v);
                accepted.push_back(v);
            } catch (const al::QueueFull&) {
                FUZZ_CHECK(maxsize != 0 && q.qsize() == maxsize);
            }
            break;
        }
        case 3: try { delivered.push_back(q.get_nowait());
            } catch (const al::QueueEmpty&) {
                FUZZ_CHECK(q.qsize() == 0);
            }
            break;
        case 4:
            if (!tasks.empty()) {
                auto it = tasks.begin();
                std::advance(it, in.pick(static_cast<unsigned>(tasks.size())));
                it->cancel();
            }
            break;
        case 5: {
            // A get with a timeout: either an item or TimeoutError, never both.
            tasks.push_back(al::create_task([](al::Queue<int>& queue, std::vector<int>& out) -> al::Task<void> {
                try {
                    out.push_back(co_await al::wait_for(queue.get(), std::chrono::microseconds(1)));
                } catch (const al::TimeoutError&) {
                }
            }(q, delivered)));
            break;
        }
        default: co_await fuzz::settle(1 + in.pick(3)); break;
        }
        tasks.remove_if([](const al::TaskHandle<void>& t) { return t.done(); });
        FUZZ_CHECK(maxsize == 0 || q.qsize() <= maxsize);
    }
    for (auto& t : tasks) t.cancel();
    co_await fuzz::settle();
    while (!q.empty()) delivered.push_back(q.get_nowait());
    // A put records its value when its task resumes, which need not be the
    // order in which items entered the queue: compare as sets (every value is
    // unique), which catches any item lost, duplicated or invented.
    FUZZ_CHECK(delivered.size() == accepted.size());
    std::sort(delivered.begin(), delivered.end());
    std::sort(accepted.begin(), accepted.end());
    FUZZ_CHECK(delivered == accepted);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    al::run(drive(in));
    return 0;
}
