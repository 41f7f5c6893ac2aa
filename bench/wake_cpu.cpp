// SPDX-License-Identifier: BSL-1.0
// The CPU a wait costs, not only its latency: what each side of an exchange
// between a thread and a task spends per wake-up, with the loop's default spin
// before sleeping (LoopOptions::spin_before_sleep) and without it, so a user who
// pays for CPU or battery can choose.
//
//   flag/<placement>/partner:<d>us/spin:<s>
//       The thread busy-waits d, sets a ThreadSafeFlag; the task waiting on it
//       answers at once through a ThreadSafeQueue to the thread blocked in
//       get_sync(true). What the loop spends waiting for a partner that answers
//       after d; the thread's own wait is only for the loop's answer.
//   get_sync/<placement>/producer:<d>us/spin:<s>
//       The task busy-waits d, then puts an item; the thread blocked in
//       get_sync(true) takes it and sets a ThreadSafeFlag the task waits on
//       before its next item. What a blocking get_sync spends waiting for a
//       producer that answers after d (its spin is the queue end's adaptive
//       one, detail::SpinBudget, whatever the loop's option says).
//   .../queue_spin:0us
//       The same two exchanges with the queue's blocking ends never spinning
//       either (ThreadSafeQueue::set_spin_before_block(0)), with the loop's
//       spin_before_sleep 0: nothing spins anywhere.
//   floor/<placement>/partner:<d>us
//       The flag exchange without asynclink and without any spin: the thread
//       busy-waits d and writes an eventfd another thread sleeps on in
//       epoll_wait; that one answers through a futex the first sleeps on. What
//       a sleep-and-wake costs each side on this machine whoever does it.
//   idle/spin:<s>
//       After a fast exchange has filled the loop's spin budget, its one task
//       waits for a ThreadSafeFlag that is set only after S seconds: the CPU an
//       idle loop spends per second of wall time, and how often it slept (from
//       its last answer to just before the wake-up that ends it, read from
//       another thread: the final wake-up is not counted).
//
// Placement: the loop's thread on CPU 0, the thread on CPU 1 (across) or CPU 0
// (same_cpu). A delay is a busy-wait on the clock, so it is exact; its CPU
// (measured around it, plus one clock read) is subtracted from its side's.
//
// Per configuration and repetition (rounds after a warm-up, so the adaptive
// spins have settled), per wake-up:
//   loop_ns, thread_ns   CPU of each side's thread (CLOCK_THREAD_CPUTIME_ID)
//   process_ns           CPU of the process (getrusage(RUSAGE_SELF), both
//                        threads and anything else in it) over the whole run:
//                        warm-up, starting and joining the threads included
//                        (see Run::process_cpu); idle: once the loop sleeps
//   latency              flag: set() -> the task runs; get_sync: the put ->
//                        get_sync returns; floor: the eventfd write ->
//                        epoll_wait returns (median and 90th percentile)
//   sleeps               voluntary context switches of each side's thread
//                        (getrusage(RUSAGE_THREAD).ru_nvcsw; idle: the loop
//                        thread's /proc/self/task/<tid>/status): a kernel sleep,
//                        epoll_wait or futex; a spin that caught the wake-up has none
//   core                 each side's waiting CPU over wall time (1 = a whole core)
// then a summary: the median of the repetitions and their spread.
//
//   build-bench/bench/wake_cpu [--repetitions N] [--rounds N] [--idle-seconds S] [--only TEXT]
#include <asynclink/asynclink.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "epoll_eventfd.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- what the kernel counts

std::int64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t nanoseconds(const timeval& tv) { return std::int64_t{tv.tv_sec} * 1'000'000'000 + tv.tv_usec * 1000; }

std::int64_t process_cpu_ns() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime);
}

/// Times the calling thread went to sleep in the kernel.
std::int64_t thread_sleeps() {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nvcsw;
}

std::int64_t wall_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(al::Clock::now().time_since_epoch()).count();
}

/// The CPU one thread_cpu_ns() costs: the part of the two reads around a
/// delay that falls outside it (about one read) is charged to the delay.
std::int64_t clock_read_cpu = 0;

void calibrate_clock_read() {
    constexpr int reads = 20000;
    std::int64_t before = thread_cpu_ns();
    for (int i = 0; i < reads; ++i) thread_cpu_ns();
    clock_read_cpu = (thread_cpu_ns() - before) / (reads + 1);
}

/// Busy-waits `delay` on the clock (a partner computing its answer); returns
/// the CPU it took, to be subtracted from its side's.
std::int64_t busy_for(std::chrono::microseconds delay) {
    if (delay.count() == 0) return 0;
    std::int64_t cpu0 = thread_cpu_ns();
    al::Clock::time_point end = al::Clock::now() + delay;
    while (al::Clock::now() < end) al::port::cpu_relax();
    return thread_cpu_ns() - cpu0 + clock_read_cpu;
}

/// One side's bill over the measured rounds.
struct Side {
    std::int64_t cpu = 0;
    std::int64_t delay_cpu = 0;
    std::int64_t sleeps = 0;

    void start() {
        cpu = -thread_cpu_ns();
        sleeps = -thread_sleeps();
        delay_cpu = 0;
    }
    void stop() {
        cpu += thread_cpu_ns();
        sleeps += thread_sleeps();
    }
    std::int64_t waiting_cpu() const { return cpu - delay_cpu; }
};

/// The wall time of the measured rounds, taken by the thread that is not the loop's.
struct Span {
    std::int64_t wall = 0;

    void start() { wall = -wall_ns(); }
    void stop() { wall += wall_ns(); }
};

// ---------------------------------------------------------------- placement

constexpr int loop_cpu = 0;

enum class Placement { across, same_cpu };

const char* name(Placement p) { return p == Placement::across ? "across" : "same_cpu"; }

/// Starts fn on a new thread pinned to `cpu` before fn runs.
template <class F>
std::thread start_pinned(int cpu, F fn) {
    std::thread thread(std::move(fn));
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread.native_handle(), sizeof set, &set);
    return thread;
}

// ---------------------------------------------------------------- the exchanges

struct Config {
    enum class Kind { flag, get_sync, floor, idle } kind;
    Placement placement;
    std::chrono::microseconds delay;
    al::Clock::duration spin;
    /// The queue's blocking ends' limit (ThreadSafeQueue::set_spin_before_block).
    al::Clock::duration block_spin = std::chrono::microseconds(50);

    std::string label() const {
        auto spin_us = std::chrono::duration_cast<std::chrono::microseconds>(spin).count();
        std::string spin_text = "/spin:" + std::to_string(spin_us) + "us";
        if (block_spin != std::chrono::microseconds(50)) {
            spin_text += "/queue_spin:" +
                         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(block_spin).count()) +
                         "us";
        }
        switch (kind) {
        case Kind::flag:
            return std::string("flag/") + name(placement) + "/partner:" + std::to_string(delay.count()) + "us" +
                   spin_text;
        case Kind::get_sync:
            return std::string("get_sync/") + name(placement) + "/producer:" + std::to_string(delay.count()) + "us" +
                   spin_text;
        case Kind::floor:
            return std::string("floor/") + name(placement) + "/partner:" + std::to_string(delay.count()) + "us";
        case Kind::idle: return "idle" + spin_text;
        }
        return {};
    }
};

struct Run {
    std::uint32_t rounds = 0;
    Side loop;
    Side thread;
    Span span;
    // The process's CPU over the whole run, warm-up included: getrusage sums
    // the threads' times, but a thread running on another CPU has its time
    // brought up to date only at its next tick or switch, so a sample taken
    // while the loop spins misses up to a tick of it. Taken before the threads
    // start and after they have ended, it is exact.
    std::int64_t process_cpu = 0;
    std::uint32_t process_rounds = 0;
    std::int64_t process_delay_cpu = 0;   // every round's delay, warm-up included
    std::vector<std::int64_t> latencies;  // ns, one per measured round
    bool in_order = true;
};

struct Exchange {
    Exchange(std::uint32_t warmup_rounds, std::uint32_t measured_rounds)
        : warmup(warmup_rounds), total(warmup_rounds + measured_rounds), started(total), arrived(total) {}
    al::ThreadSafeFlag flag;
    al::ThreadSafeQueue<std::uint32_t> queue{1};
    std::uint32_t warmup;
    std::uint32_t total;
    std::vector<std::int64_t> started;  // the wake-up's cause, ns on al::Clock
    std::vector<std::int64_t> arrived;  // its waiter running
};

// flag: the task's side.
al::Task<void> answer_flags(Exchange& x, Side& loop) {
    for (std::uint32_t i = 0; i < x.total; ++i) {
        if (i == x.warmup) loop.start();
        co_await x.flag.wait();
        x.arrived[i] = wall_ns();
        x.queue.try_put(i);  // never full: the thread takes each answer before it sets again
    }
    loop.stop();
}

// flag: the thread's side.
void set_flags(Exchange& x, std::chrono::microseconds delay, Run& run) {
    for (std::uint32_t i = 0; i < x.total; ++i) {
        if (i == x.warmup) {
            run.thread.start();
            run.span.start();
        }
        std::int64_t delay_cpu = busy_for(delay);
        run.process_delay_cpu += delay_cpu;
        if (i >= x.warmup) run.thread.delay_cpu += delay_cpu;
        x.started[i] = wall_ns();
        x.flag.set();
        run.in_order &= x.queue.get_sync(true) == i;
    }
    run.span.stop();
    run.thread.stop();
}

// get_sync: the task's side.
al::Task<void> produce(Exchange& x, std::chrono::microseconds delay, Run& run) {
    for (std::uint32_t i = 0; i < x.total; ++i) {
        if (i == x.warmup) run.loop.start();
        std::int64_t delay_cpu = busy_for(delay);
        run.process_delay_cpu += delay_cpu;
        if (i >= x.warmup) run.loop.delay_cpu += delay_cpu;
        x.started[i] = wall_ns();
        x.queue.try_put(i);      // never full: the thread took the last item before it set the flag
        co_await x.flag.wait();  // the thread has the item and will block for the next
    }
    run.loop.stop();
}

// get_sync: the thread's side.
void consume(Exchange& x, Run& run) {
    for (std::uint32_t i = 0; i < x.total; ++i) {
        if (i == x.warmup) {
            run.thread.start();
            run.span.start();
        }
        run.in_order &= x.queue.get_sync(true) == i;
        x.arrived[i] = wall_ns();
        x.flag.set();
    }
    run.span.stop();
    run.thread.stop();
}

/// Runs the loop's side and the thread's on their CPUs until both end, and
/// bills the process for all of it (see Run::process_cpu).
template <class LoopSide, class ThreadSide>
void run_sides(Run& run, Placement placement, std::uint32_t total_rounds, LoopSide loop_side, ThreadSide thread_side) {
    std::int64_t process_before = process_cpu_ns();
    std::thread loop_thread = start_pinned(loop_cpu, std::move(loop_side));
    std::thread partner = start_pinned(placement == Placement::across ? 1 : loop_cpu, std::move(thread_side));
    partner.join();
    loop_thread.join();
    run.process_cpu = process_cpu_ns() - process_before;
    run.process_rounds = total_rounds;
}

Run exchange(const Config& c, std::uint32_t warmup, std::uint32_t rounds) {
    Run run;
    run.rounds = rounds;
    Exchange x(warmup, rounds);
    x.queue.set_spin_before_block(c.block_spin);
    al::LoopOptions options;
    options.spin_before_sleep = c.spin;
    run_sides(
        run, c.placement, x.total,
        [&] {
            if (c.kind == Config::Kind::flag) {
                al::run(answer_flags(x, run.loop), options);
            } else {
                al::run(produce(x, c.delay, run), options);
            }
        },
        [&] {
            if (c.kind == Config::Kind::flag) {
                set_flags(x, c.delay, run);
            } else {
                consume(x, run);
            }
        });
    for (std::uint32_t i = warmup; i < x.total; ++i) run.latencies.push_back(x.arrived[i] - x.started[i]);
    return run;
}

// floor: an eventfd one thread sleeps on in epoll_wait (the loop's sleep,
// without the loop) and a futex word the other sleeps on (a blocked get_sync's).
using bench::EpollEventfd;

/// 0 empty, 1 answered, 2 a waiter sleeps (the answerer must wake it).
class FutexFlag {
public:
    void set() noexcept {
        // acq_rel: release publishes the answer; the exchange keeps a waiter's 2 from being lost.
        if (word_.exchange(1, std::memory_order_acq_rel) == 2) al::port::unblock_threads(word_);
    }
    void wait_and_clear() noexcept {
        std::uint32_t expected = 0;
        // acquire on success and failure: pairs with set()'s release.
        if (word_.compare_exchange_strong(expected, 2, std::memory_order_acquire, std::memory_order_acquire)) {
            // acquire: pairs with set()'s release once it stops reading 2.
            while (word_.load(std::memory_order_acquire) == 2) al::port::block_thread(word_, 2);
        }
        // Relaxed: the next set() answers our next request, published by its own synchronisation.
        word_.store(0, std::memory_order_relaxed);
    }

private:
    std::atomic<std::uint32_t> word_{0};
};

Run floor(const Config& c, std::uint32_t warmup, std::uint32_t rounds) {
    Run run;
    run.rounds = rounds;
    Exchange x(warmup, rounds);
    EpollEventfd ping;
    FutexFlag pong;
    run_sides(
        run, c.placement, x.total,
        [&] {
            for (std::uint32_t i = 0; i < x.total; ++i) {
                if (i == x.warmup) run.loop.start();
                ping.wait_signalled();
                x.arrived[i] = wall_ns();
                pong.set();
            }
            run.loop.stop();
        },
        [&] {
            for (std::uint32_t i = 0; i < x.total; ++i) {
                if (i == x.warmup) {
                    run.thread.start();
                    run.span.start();
                }
                std::int64_t delay_cpu = busy_for(c.delay);
                run.process_delay_cpu += delay_cpu;
                if (i >= x.warmup) run.thread.delay_cpu += delay_cpu;
                x.started[i] = wall_ns();
                ping.signal();
                pong.wait_and_clear();
            }
            run.span.stop();
            run.thread.stop();
        });
    for (std::uint32_t i = warmup; i < x.total; ++i) run.latencies.push_back(x.arrived[i] - x.started[i]);
    return run;
}

// idle: a fast exchange first, so the loop's budget is full when it goes idle.
al::Task<void> idle_after_exchange(Exchange& x, al::ThreadSafeFlag& stop, Side& loop) {
    for (std::uint32_t i = 0; i < x.total; ++i) {
        co_await x.flag.wait();
        // The bill starts here (the queue publishes it with the last answer):
        // the loop is about to go idle, and its spin counts.
        if (i + 1 == x.total) loop.start();
        x.queue.try_put(i);
    }
    co_await stop.wait();
}

/// Voluntary context switches of thread `tid` of this process, from /proc.
std::int64_t sleeps_of(long tid) {
    std::string path = "/proc/self/task/" + std::to_string(tid) + "/status";
    std::int64_t sleeps = -1;
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, f) != nullptr) {
            long long n = 0;
            if (std::sscanf(line, "voluntary_ctxt_switches: %lld", &n) == 1) sleeps = n;
        }
        std::fclose(f);
    }
    return sleeps;
}

std::int64_t cpu_of(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Run idle(const Config& c, std::chrono::milliseconds length) {
    Run run;
    run.rounds = 1;
    Exchange x(1000, 0);
    al::ThreadSafeFlag stop;
    al::LoopOptions options;
    options.spin_before_sleep = c.spin;
    std::atomic<long> loop_tid{0};
    std::thread loop_thread = start_pinned(loop_cpu, [&] {
        // Release: the partner reads it after the exchange, which orders it anyway.
        loop_tid.store(static_cast<long>(syscall(SYS_gettid)), std::memory_order_release);
        al::run(idle_after_exchange(x, stop, run.loop), options);
    });
    clockid_t loop_clock{};
    pthread_getcpuclockid(loop_thread.native_handle(), &loop_clock);
    std::thread partner = start_pinned(1, [&] {
        for (std::uint32_t i = 0; i < x.total; ++i) {
            x.flag.set();
            run.in_order &= x.queue.get_sync(true) == i;
        }
        long tid = loop_tid.load(std::memory_order_acquire);
        run.thread.start();
        run.span.start();
        // The process's sample waits for the loop to go to sleep (see
        // Run::process_cpu): it bills the idle period after the loop's spin.
        std::int64_t loop_sleeps = run.loop.sleeps;  // negated at the loop's last answer
        while (sleeps_of(tid) + loop_sleeps == 0) std::this_thread::sleep_for(100us);
        run.process_cpu = -process_cpu_ns();
        std::this_thread::sleep_for(length);
        run.process_cpu += process_cpu_ns();
        run.span.stop();
        run.thread.stop();
        // Read from here, before the wake-up that ends the loop's idle period.
        run.loop.cpu += cpu_of(loop_clock);
        run.loop.sleeps += sleeps_of(tid);
        stop.set();
    });
    partner.join();
    loop_thread.join();
    return run;
}

// ---------------------------------------------------------------- reporting

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<std::int64_t> v, double p) {
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))]);
}

/// One repetition's figures, per wake-up (idle: per second of wall time).
struct Figures {
    double loop_ns, thread_ns, process_ns;
    double latency_median_ns, latency_p90_ns;
    double loop_sleeps, thread_sleeps;
    double loop_core, thread_core;
};

Figures figures(const Run& r, bool idle) {
    double per = idle ? static_cast<double>(r.span.wall) / 1e9 : static_cast<double>(r.rounds);
    auto wall = static_cast<double>(r.span.wall);
    Figures f{};
    f.loop_ns = static_cast<double>(r.loop.waiting_cpu()) / per;
    f.thread_ns = static_cast<double>(r.thread.waiting_cpu()) / per;
    f.process_ns =
        static_cast<double>(r.process_cpu - r.process_delay_cpu) / (idle ? per : static_cast<double>(r.process_rounds));
    f.latency_median_ns = r.latencies.empty() ? 0 : percentile(r.latencies, 0.5);
    f.latency_p90_ns = r.latencies.empty() ? 0 : percentile(r.latencies, 0.9);
    // Idle: the count over the whole span (1: it went to sleep once and stayed asleep).
    f.loop_sleeps = static_cast<double>(r.loop.sleeps) / (idle ? 1 : per);
    f.thread_sleeps = static_cast<double>(r.thread.sleeps) / (idle ? 1 : per);
    f.loop_core = static_cast<double>(r.loop.waiting_cpu()) / wall;
    f.thread_core = static_cast<double>(r.thread.waiting_cpu()) / wall;
    return f;
}

void print_repetition(const std::string& label, int rep, const Figures& f, bool in_order) {
    std::printf(
        "%-44s rep %d  loop %9.0f ns  thread %9.0f ns  process %9.0f ns  latency %8.0f ns (p90 %8.0f)  "
        "sleeps loop %.3f thread %.3f  core loop %.3f thread %.3f%s\n",
        label.c_str(), rep, f.loop_ns, f.thread_ns, f.process_ns, f.latency_median_ns, f.latency_p90_ns, f.loop_sleeps,
        f.thread_sleeps, f.loop_core, f.thread_core, in_order ? "" : "  OUT OF ORDER");
    std::fflush(stdout);
}

/// "median [min-max]" of one figure over the repetitions.
std::string spread(const std::vector<Figures>& reps, double Figures::*field, double scale, const char* format) {
    std::vector<double> v;
    for (const Figures& f : reps) v.push_back(f.*field / scale);
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char buf[96];
    std::string fmt = std::string(format) + " [" + format + "-" + format + "]";
    std::snprintf(buf, sizeof buf, fmt.c_str(), median(v), *lo, *hi);
    return buf;
}

struct Row {
    std::string label;
    bool idle;
    std::vector<Figures> reps;
};

void print_summary(const std::vector<Row>& rows) {
    std::printf(
        "\nsummary: median [min-max] of the repetitions; CPU in us per wake-up "
        "(idle: per second of wall time); latency in us; sleeps per wake-up (idle: in all)\n");
    std::printf("%-44s | %-20s | %-20s | %-20s | %-20s | %-18s | %-18s | %-18s | %-18s\n", "configuration", "loop CPU",
                "thread CPU", "process CPU", "latency median", "loop sleeps", "thread sleeps", "loop core",
                "thread core");
    for (const Row& row : rows) {
        std::printf("%-44s | %-20s | %-20s | %-20s | %-20s | %-18s | %-18s | %-18s | %-18s\n", row.label.c_str(),
                    spread(row.reps, &Figures::loop_ns, 1000, "%.2f").c_str(),
                    spread(row.reps, &Figures::thread_ns, 1000, "%.2f").c_str(),
                    spread(row.reps, &Figures::process_ns, 1000, "%.2f").c_str(),
                    row.idle ? "-" : spread(row.reps, &Figures::latency_median_ns, 1000, "%.1f").c_str(),
                    spread(row.reps, &Figures::loop_sleeps, 1, "%.2f").c_str(),
                    spread(row.reps, &Figures::thread_sleeps, 1, "%.2f").c_str(),
                    spread(row.reps, &Figures::loop_core, 1, "%.3f").c_str(),
                    spread(row.reps, &Figures::thread_core, 1, "%.3f").c_str());
    }
}

void print_machine() {
    double load[3] = {0, 0, 0};
    if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = load[1] = load[2] = 0;
        std::fclose(f);
    }
    std::printf("cpus %d; load average %.2f %.2f %.2f; one CLOCK_THREAD_CPUTIME_ID read %lld ns of CPU\n",
                al::port::cpu_count(), load[0], load[1], load[2], static_cast<long long>(clock_read_cpu));
}

}  // namespace

int main(int argc, char** argv) {
    int repetitions = 5;
    std::uint32_t rounds = 2000;
    double idle_seconds = 2;
    std::string only;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--repetitions") == 0) {
            repetitions = std::atoi(argv[i + 1]);
        } else if (std::strcmp(argv[i], "--rounds") == 0) {
            rounds = static_cast<std::uint32_t>(std::atoi(argv[i + 1]));
        } else if (std::strcmp(argv[i], "--idle-seconds") == 0) {
            idle_seconds = std::atof(argv[i + 1]);
        } else if (std::strcmp(argv[i], "--only") == 0) {
            only = argv[i + 1];
        } else {
            std::fprintf(stderr, "usage: %s [--repetitions N] [--rounds N] [--idle-seconds S] [--only TEXT]\n",
                         argv[0]);
            return 2;
        }
    }
    if (al::port::cpu_count() < 2) {
        std::fprintf(stderr, "wake_cpu: needs two CPUs\n");
        return 1;
    }
    calibrate_clock_read();
    print_machine();

    const al::Clock::duration spins[] = {al::LoopOptions{}.spin_before_sleep, al::Clock::duration::zero()};
    // 40 us: the spin's worst case, a partner answering just inside the default budget.
    const std::chrono::microseconds delays[] = {0us, 10us, 40us, 100us};
    std::vector<Config> configs;
    for (auto kind : {Config::Kind::flag, Config::Kind::get_sync}) {
        for (Placement placement : {Placement::across, Placement::same_cpu}) {
            for (auto delay : delays) {
                for (auto spin : spins) configs.push_back({kind, placement, delay, spin});
            }
        }
    }
    // Nothing spinning anywhere: the loop's option and the queue's both 0.
    for (auto kind : {Config::Kind::flag, Config::Kind::get_sync}) {
        for (auto delay : delays) {
            configs.push_back(
                {kind, Placement::across, delay, al::Clock::duration::zero(), al::Clock::duration::zero()});
        }
    }
    for (Placement placement : {Placement::across, Placement::same_cpu}) {
        for (auto delay : delays) configs.push_back({Config::Kind::floor, placement, delay, {}});
    }
    for (auto spin : spins) configs.push_back({Config::Kind::idle, Placement::across, 0us, spin});

    const std::uint32_t warmup = std::max<std::uint32_t>(200, rounds / 10);
    auto idle_length = std::chrono::milliseconds(static_cast<std::int64_t>(idle_seconds * 1000));
    std::vector<Row> rows;
    bool all_in_order = true;
    for (const Config& c : configs) {
        std::string label = c.label();
        if (!only.empty() && label.find(only) == std::string::npos) continue;
        Row row{label, c.kind == Config::Kind::idle, {}};
        for (int rep = 1; rep <= repetitions; ++rep) {
            Run run = row.idle                        ? idle(c, idle_length)
                      : c.kind == Config::Kind::floor ? floor(c, warmup, rounds)
                                                      : exchange(c, warmup, rounds);
            all_in_order &= run.in_order;
            row.reps.push_back(figures(run, row.idle));
            print_repetition(label, rep, row.reps.back(), run.in_order);
        }
        rows.push_back(std::move(row));
    }
    print_summary(rows);
    print_machine();
    return all_in_order ? 0 : 1;
}
