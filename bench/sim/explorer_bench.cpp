// SPDX-License-Identifier: BSL-1.0
// How fast the sim explores: schedules per second of the random strategy for
// a flag set/wait body and a thread putting 4 items through a ThreadSafeQueue
// to a task, and the time of the exhaustive search with preemption bound 2 of
// the flag body; each with its preemption points per schedule.
//   build/bench/sim_explorer_bench [schedules]
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>

namespace al = asynclink;
namespace sim = asynclink::sim;

namespace {

void flag_body(std::size_t ring) {
    al::ThreadSafeFlag flag;
    sim::Thread setter([&] { flag.set(); });
    al::LoopOptions o;
    o.schedule_capacity = ring;
    al::run([&]() -> al::Task<> { co_await flag.wait(); }(), o);
}

void queue_body() {
    al::ThreadSafeQueue<int> q(4);
    sim::Thread producer([&] {
        for (int i = 0; i < 4; ++i) q.put_sync(i, true);
        q.close();
    });
    al::LoopOptions o;
    o.schedule_capacity = 2;
    al::run(
        [&]() -> al::Task<> {
            int expected = 0;
            while (auto v = co_await q.next()) sim::check(*v == expected++, "in order");
        }(),
        o);
}

void report(const char* name, const sim::Result& r) {
    std::printf("%-44s %8zu schedules %s in %7.3f s: %9.0f schedules/s, %6.1f points/schedule (max %zu)%s\n", name,
                r.schedules, r.complete ? "(all)" : "     ", r.seconds, static_cast<double>(r.schedules) / r.seconds,
                static_cast<double>(r.total_steps) / static_cast<double>(r.schedules), r.max_steps,
                r.ok() ? "" : "  FAILED");
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t schedules = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
    sim::Options random;
    random.max_schedules = schedules;
    random.time_budget = std::chrono::minutes(10);
    report("random (PCT d=3), flag, ring of 64", sim::explore(random, [] { flag_body(64); }));
    report("random (PCT d=3), flag, ring of 2", sim::explore(random, [] { flag_body(2); }));
    report("random (PCT d=3), queue of 4, thread -> task", sim::explore(random, queue_body));
    sim::Options exhaustive;
    exhaustive.strategy = sim::Strategy::exhaustive;
    exhaustive.preemption_bound = 2;
    exhaustive.max_schedules = 100'000'000;
    exhaustive.time_budget = std::chrono::minutes(10);
    report("exhaustive (bound 2), flag, ring of 64", sim::explore(exhaustive, [] { flag_body(64); }));
    report("exhaustive (bound 2), flag, ring of 2", sim::explore(exhaustive, [] { flag_body(2); }));
    report("exhaustive (bound 2), queue of 4", sim::explore(exhaustive, queue_body));
    exhaustive.reduce = true;
    report("exhaustive (bound 2, sleep sets), flag, ring of 64", sim::explore(exhaustive, [] { flag_body(64); }));
    report("exhaustive (bound 2, sleep sets), flag, ring of 2", sim::explore(exhaustive, [] { flag_body(2); }));
    report("exhaustive (bound 2, sleep sets), queue of 4", sim::explore(exhaustive, queue_body));
    return 0;
}
