// SPDX-License-Identifier: BSL-1.0
// The soak: every context at once, with random pauses and random
// cancellations, for a given time. It prints what moved where, the wake-ups,
// the worst wake latency and the resident memory at the start and the end,
// and exits non-zero if anything was lost, duplicated, reordered or torn.
//
//   soak [--stats] [seconds] (default 10)
//                           --stats: at the end, print the loop's and every
//                           primitive's counters (stats()), with the loop's
//                           slices timed (stall threshold 100 ms) so that its
//                           wake-latency and timer-lateness histograms fill,
//                           and check that each queue's puts are its gets
//   soak --sim SECONDS [seed]
//                           the sim's random search over the same channels,
//                           small, for SECONDS (millions of schedules):
//                           runs soak_sim, built next to this program
//
// Channels:
//   thread (other CPU) -> task      ThreadSafeQueue<uint64_t>, put_sync(block)
//   task -> thread (other CPU)      ThreadSafeQueue<uint64_t>, get_sync(block)
//   loop B -> loop A                ThreadSafeQueue<uint64_t>, both ends async
//   signal handler -> task          ThreadSafeQueue (try_put; refusals counted),
//                                   ThreadSafeFlag with a time stamp (latency),
//                                   Shared<Pool> written in the handler
//   thread -> tasks                 ThreadSafeEvent rounds, some waiters cancelled
//   thread -> tasks                 Message<256-byte payload with checksum>
//   thread -> loop                  Loop::schedule and call_soon_threadsafe
//   task -> worker threads          Context::assign, some awaiting tasks cancelled
#include <asynclink/asynclink.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace al = asynclink;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> stopping{false};
std::atomic<int> failures{0};

void fail(const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
    std::fprintf(stderr, "soak: FAILED: %s (%" PRIu64 ", %" PRIu64 ")\n", what, a, b);
    failures.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter read after joins
}

long rss_kib() {
    std::ifstream statm("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    statm >> pages_total >> pages_resident;
    return pages_resident * 4;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

/// Random short pauses so every interleaving gets its turn.
class Pauses {
public:
    explicit Pauses(unsigned seed) : rng_(seed) {}
    void thread_pause() {
        unsigned r = rng_() % 1024;
        if (r == 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 200));
        } else if (r < 8) {
            std::this_thread::yield();
        } else if (r < 64) {
            for (auto i = rng_() % 200; i > 0; --i) spin_sink_ = spin_sink_ + 1;
        }
    }
    bool task_should_yield() { return rng_() % 64 == 0; }
    unsigned next(unsigned n) { return static_cast<unsigned>(rng_() % n); }

private:
    std::minstd_rand rng_;
    volatile unsigned spin_sink_ = 0;  // a busy pause the compiler cannot remove
};

struct Pool {
    std::uint64_t sequence;
    std::uint64_t a, b, c;  // each equals sequence * k: a snapshot is consistent or torn
};

struct Payload {
    std::uint64_t sequence;
    std::array<std::uint8_t, 240> bytes;
    std::uint64_t checksum;
};
static_assert(sizeof(Payload) == 256);

Payload make_payload(std::uint64_t seq) {
    Payload p{};
    p.sequence = seq;
    std::uint64_t sum = seq;
    for (std::size_t i = 0; i < p.bytes.size(); ++i) {
        p.bytes[i] = static_cast<std::uint8_t>(seq * 31 + i);
        sum = sum * 131 + p.bytes[i];
    }
    p.checksum = sum;
    return p;
}
bool payload_ok(const Payload& p) {
    return make_payload(p.sequence).checksum == p.checksum && make_payload(p.sequence).bytes == p.bytes;
}

struct Stats {
    std::uint64_t thread_to_task = 0, task_to_thread = 0, loop_to_loop = 0;
    std::uint64_t signal_items = 0, signal_refused = 0, flag_wakes = 0, pool_reads = 0;
    std::uint64_t event_rounds = 0, event_wakes = 0, event_cancels = 0;
    std::uint64_t messages = 0, scheduled = 0, threadsafe_calls = 0;
    std::uint64_t jobs_done = 0, jobs_cancelled = 0;
    std::int64_t max_latency_ns = 0;
};

// --- the signal handler (PeriodicSignal on the loop thread)
struct SignalSide {
    al::ThreadSafeQueue<std::uint64_t>* queue;
    al::ThreadSafeFlag* flag;
    al::Shared<Pool>* pool;
    std::atomic<std::int64_t> stamp{0};
    std::uint64_t next = 1;
    std::atomic<std::uint64_t> refused{0};
    std::uint64_t pool_seq = 0;
};

void on_signal(void* arg) noexcept {
    auto& s = *static_cast<SignalSide*>(arg);
    std::uint64_t v = s.next;
    if (s.queue->try_put(v)) {
        ++s.next;
    } else {
        s.refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    }
    ++s.pool_seq;
    s.pool->write(Pool{s.pool_seq, s.pool_seq * 3, s.pool_seq * 5, s.pool_seq * 7});
    // Relaxed: the flag's set() publishes it (release) to the waiting task.
    s.stamp.store(now_ns(), std::memory_order_relaxed);
    s.flag->set();
}

// Prints one primitive's counters under its name.
template <class Primitive>
void print_stats(const char* name, const Primitive& p) {
    std::cout << "  " << name << ": " << p.stats() << '\n';
}

// Every item a queue accepted was taken (the soak drains them all).
template <class Queue>
void check_counted(const char* what, const Queue& q) {
    al::QueueStats s = q.stats();
    if (s.puts != s.gets + q.qsize()) fail(what, s.puts, s.gets);
}

al::Task<void> soak_main(double seconds, bool stats, Stats& st) {
    al::Loop& loop = al::Loop::current();
    if (stats) loop.set_stall_threshold(al::LoopOptions::recommended_stall_threshold);
    Pauses pauses(1);
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    int other_cpu = al::port::cpu_count() > 1 ? 1 : 0;

    // thread -> task
    al::ThreadSafeQueue<std::uint64_t> in_q(64);
    std::thread producer([&] {
        al::port::pin_current_thread(other_cpu);
        Pauses p(2);
        std::uint64_t v = 1;
        try {
            while (!stopping.load(std::memory_order_relaxed)) {  // relaxed: a stop hint
                in_q.put_sync(v, true);
                ++v;
                p.thread_pause();
            }
        } catch (const al::QueueClosed&) {
        }
        in_q.close();
    });
    auto consume_in = al::create_task([](al::ThreadSafeQueue<std::uint64_t>& q, Stats& s, Pauses& p) -> al::Task<void> {
        std::uint64_t expect = 1;
        while (auto v = co_await q.next()) {
            if (*v != expect) fail("thread->task order", *v, expect);
            expect = *v + 1;
            ++s.thread_to_task;
            if (p.task_should_yield()) co_await al::sleep(0);
        }
    }(in_q, st, pauses));

    // task -> thread
    al::ThreadSafeQueue<std::uint64_t> out_q(64);
    std::atomic<std::uint64_t> out_received{0};
    std::thread consumer([&] {
        al::port::pin_current_thread(other_cpu);
        Pauses p(3);
        std::uint64_t expect = 1;
        try {
            for (;;) {
                std::uint64_t v = out_q.get_sync(true);
                if (v != expect) fail("task->thread order", v, expect);
                expect = v + 1;
                out_received.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
                p.thread_pause();
            }
        } catch (const al::QueueClosed&) {
        }
    });
    auto produce_out =
        al::create_task([](al::ThreadSafeQueue<std::uint64_t>& q, Stats& s, Pauses& p) -> al::Task<void> {
            std::uint64_t v = 1;
            while (!stopping.load(std::memory_order_relaxed)) {
                co_await q.put(v++);
                ++s.task_to_thread;
                if (p.task_should_yield()) co_await al::sleep(0);
            }
            q.close();
        }(out_q, st, pauses));

    // loop B -> loop A
    al::ThreadSafeQueue<std::uint64_t> ll_q(32);
    std::thread loop_b([&] {
        al::run([](al::ThreadSafeQueue<std::uint64_t>& q) -> al::Task<void> {
            Pauses p(4);
            std::uint64_t v = 1;
            while (!stopping.load(std::memory_order_relaxed)) {
                co_await q.put(v++);
                if (p.task_should_yield()) co_await al::sleep(0);
            }
            q.close();
        }(ll_q));
    });
    auto consume_ll = al::create_task([](al::ThreadSafeQueue<std::uint64_t>& q, Stats& s) -> al::Task<void> {
        std::uint64_t expect = 1;
        while (auto v = co_await q.next()) {
            if (*v != expect) fail("loop->loop order", *v, expect);
            expect = *v + 1;
            ++s.loop_to_loop;
        }
    }(ll_q, st));

    // signal handler -> task
    al::ThreadSafeQueue<std::uint64_t> sig_q(256);
    al::ThreadSafeFlag sig_flag;
    al::Shared<Pool> pool;
    SignalSide side{&sig_q, &sig_flag, &pool};
    auto consume_sig = al::create_task([](al::ThreadSafeQueue<std::uint64_t>& q, Stats& s) -> al::Task<void> {
        std::uint64_t expect = 1;
        while (auto v = co_await q.next()) {
            if (*v != expect) fail("signal->task order", *v, expect);
            expect = *v + 1;
            ++s.signal_items;
        }
    }(sig_q, st));
    auto flag_waiter =
        al::create_task([](al::ThreadSafeFlag& f, SignalSide& sd, al::Shared<Pool>& p, Stats& s) -> al::Task<void> {
            while (!stopping.load(std::memory_order_relaxed)) {
                co_await f.wait();
                std::int64_t latency = now_ns() - sd.stamp.load(std::memory_order_relaxed);
                if (latency > s.max_latency_ns) s.max_latency_ns = latency;
                ++s.flag_wakes;
                Pool snap = p.read();
                if (snap.a != snap.sequence * 3 || snap.b != snap.sequence * 5 || snap.c != snap.sequence * 7)
                    fail("torn Shared<Pool> snapshot", snap.sequence, snap.a);
                ++s.pool_reads;
            }
        }(sig_flag, side, pool, st));

    // thread -> tasks: event rounds with cancellations; message; schedule; call_soon_threadsafe
    al::ThreadSafeEvent ev;
    al::Message<Payload> msg;
    std::atomic<std::uint64_t> scheduled_sent{0}, scheduled_run{0}, calls_sent{0}, calls_run{0};
    std::thread setter([&] {
        al::port::pin_current_thread(other_cpu);
        Pauses p(5);
        std::uint64_t seq = 0;
        while (!stopping.load(std::memory_order_relaxed)) {
            ev.set();
            msg.set(make_payload(++seq));
            if (loop.schedule(
                    [](void* a) {
                        static_cast<std::atomic<std::uint64_t>*>(a)->fetch_add(1, std::memory_order_relaxed);
                    },
                    &scheduled_run)) {
                scheduled_sent.fetch_add(1, std::memory_order_relaxed);
            }
            if (p.next(16) == 0) {
                calls_sent.fetch_add(1, std::memory_order_relaxed);
                loop.call_soon_threadsafe([&calls_run] { calls_run.fetch_add(1, std::memory_order_relaxed); });
            }
            p.thread_pause();
            std::this_thread::sleep_for(std::chrono::microseconds(50 + p.next(200)));
        }
    });
    auto message_reader = al::create_task([](al::Message<Payload>& m, Stats& s) -> al::Task<void> {
        std::uint64_t last = 0;
        while (!stopping.load(std::memory_order_relaxed)) {
            Payload p = co_await m.next();
            if (!payload_ok(p)) fail("torn Message payload", p.sequence, p.checksum);
            if (p.sequence < last) fail("Message went backwards", p.sequence, last);
            last = p.sequence;
            ++s.messages;
        }
    }(msg, st));

    // Context with cancellations
    al::Context ctx(8, 2);

    auto event_rounds = al::create_task([](al::ThreadSafeEvent& e, Stats& s, Pauses& p) -> al::Task<void> {
        while (!stopping.load(std::memory_order_relaxed)) {
            std::vector<al::TaskHandle<void>> waiters;
            for (int i = 0; i < 4; ++i) {
                waiters.push_back(
                    al::create_task([](al::ThreadSafeEvent& ev2) -> al::Task<void> { co_await ev2.wait(); }(e)));
            }
            co_await al::sleep(0);
            unsigned victim = p.next(4);
            if (p.next(2) == 0) waiters[victim].cancel();
            auto outcomes = co_await al::gather(al::return_exceptions, std::move(waiters));
            for (auto& o : outcomes) {
                if (o.has_value()) {
                    ++s.event_wakes;
                } else {
                    ++s.event_cancels;
                }
            }
            e.clear();
            ++s.event_rounds;
        }
    }(ev, st, pauses));

    auto jobs = al::create_task([](al::Context& c, Stats& s, Pauses& p) -> al::Task<void> {
        while (!stopping.load(std::memory_order_relaxed)) {
            auto job = al::create_task([](al::Context& cc, unsigned spin) -> al::Task<std::uint64_t> {
                co_return co_await cc.assign([spin] {
                    std::uint64_t x = spin;
                    for (unsigned i = 0; i < spin * 100; ++i) x = x * 6364136223846793005ULL + 1;
                    return x | 1;
                });
            }(c, p.next(64)));
            if (p.next(4) == 0) {
                co_await al::sleep(0);
                job.cancel();
            }
            try {
                if ((co_await job) != 0) ++s.jobs_done;
            } catch (const al::CancelledError&) {
                ++s.jobs_cancelled;
            }
        }
    }(ctx, st, pauses));

    long rss_start = rss_kib();
    std::printf("soak: %.0f s, rss at start %ld KiB\n", seconds, rss_start);
    {
        al::PeriodicSignal timer(std::chrono::microseconds(500), &on_signal, &side);
        auto next_report = Clock::now() + 5s;
        while (Clock::now() < deadline) {
            co_await al::sleep(50ms);
            if (Clock::now() >= next_report) {
                next_report += 5s;
                std::printf("  t->task %" PRIu64 "  task->t %" PRIu64 "  loop->loop %" PRIu64 "  signal %" PRIu64
                            " (refused %" PRIu64 ")  flag wakes %" PRIu64 "  events %" PRIu64 "  msgs %" PRIu64
                            "  jobs %" PRIu64 "  max latency %.1f us  rss %ld KiB\n",
                            st.thread_to_task, st.task_to_thread, st.loop_to_loop, st.signal_items,
                            side.refused.load(std::memory_order_relaxed), st.flag_wakes, st.event_rounds, st.messages,
                            st.jobs_done, static_cast<double>(st.max_latency_ns) / 1000.0, rss_kib());
                std::fflush(stdout);
            }
        }
        stopping.store(true, std::memory_order_relaxed);
    }
    // Wind down: every stream ends with its end marker; every count must match.
    sig_q.close();
    sig_flag.set();
    ev.set();
    msg.set(make_payload(~std::uint64_t{0} >> 1));
    co_await consume_in;
    co_await produce_out;
    co_await consume_ll;
    co_await consume_sig;
    co_await flag_waiter;
    co_await event_rounds;
    co_await message_reader;
    co_await jobs;
    producer.join();
    consumer.join();
    loop_b.join();
    setter.join();
    co_await al::sleep(10ms);  // the last schedule()d callbacks and calls run

    st.signal_refused = side.refused.load(std::memory_order_relaxed);
    st.scheduled = scheduled_run.load(std::memory_order_relaxed);
    st.threadsafe_calls = calls_run.load(std::memory_order_relaxed);
    if (out_received.load() != st.task_to_thread)
        fail("task->thread lost items", out_received.load(), st.task_to_thread);
    if (side.next - 1 != st.signal_items) fail("signal->task lost items", side.next - 1, st.signal_items);
    if (scheduled_sent.load() != st.scheduled) fail("schedule() callbacks lost", scheduled_sent.load(), st.scheduled);
    if (calls_sent.load() != st.threadsafe_calls)
        fail("call_soon_threadsafe calls lost", calls_sent.load(), st.threadsafe_calls);
    long rss_end = rss_kib();
    std::printf("soak: moved thread->task %" PRIu64 ", task->thread %" PRIu64 ", loop->loop %" PRIu64
                ", signal->task %" PRIu64 " (refused when full %" PRIu64 "), flag wakes %" PRIu64
                ", event rounds %" PRIu64 " (wakes %" PRIu64 ", cancelled %" PRIu64 "), messages %" PRIu64
                ", schedule %" PRIu64 ", call_soon_threadsafe %" PRIu64 ", jobs %" PRIu64 " (cancelled %" PRIu64
                "), pool reads %" PRIu64 "\n",
                st.thread_to_task, st.task_to_thread, st.loop_to_loop, st.signal_items, st.signal_refused,
                st.flag_wakes, st.event_rounds, st.event_wakes, st.event_cancels, st.messages, st.scheduled,
                st.threadsafe_calls, st.jobs_done, st.jobs_cancelled, st.pool_reads);
    std::printf("soak: max signal->task latency %.1f us; rss start %ld KiB, end %ld KiB (growth %ld KiB)\n",
                static_cast<double>(st.max_latency_ns) / 1000.0, rss_start, rss_end, rss_end - rss_start);
    if (stats) {
        std::fflush(stdout);
        std::cout << "soak: counters\n  loop: " << loop.stats() << '\n';
        print_stats("thread->task queue", in_q);
        print_stats("task->thread queue", out_q);
        print_stats("loop->loop queue", ll_q);
        print_stats("signal->task queue", sig_q);
        print_stats("signal->task flag", sig_flag);
        print_stats("thread->tasks event", ev);
        print_stats("thread->tasks message", msg);
        std::cout.flush();
        check_counted("thread->task queue: counted puts != gets", in_q);
        check_counted("task->thread queue: counted puts != gets", out_q);
        check_counted("loop->loop queue: counted puts != gets", ll_q);
        check_counted("signal->task queue: counted puts != gets", sig_q);
        if (sig_q.stats().refused_full != st.signal_refused)
            fail("signal->task queue: counted refusals differ", sig_q.stats().refused_full, st.signal_refused);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--sim") {
        // The sim's soak is its own program (another port); it lives next to us.
        std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
        std::string sim = self.substr(0, self.rfind('/') + 1) + "soak_sim";
        std::vector<char*> args{sim.data()};
        for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
        args.push_back(nullptr);
        execv(sim.c_str(), args.data());
        std::perror("soak --sim: cannot run soak_sim");
        return 2;
    }
    int arg = 1;
    bool stats = argc > arg && std::string(argv[arg]) == "--stats";
    if (stats) ++arg;
    double seconds = argc > arg ? std::atof(argv[arg]) : 10.0;
    Stats st;
    al::run(soak_main(seconds, stats, st));
    int f = failures.load();
    if (f != 0) {
        std::printf("soak: %d check(s) FAILED\n", f);
        return 1;
    }
    std::printf("soak: 0 lost, 0 duplicated, 0 reordered, 0 torn: all checks passed\n");
    return 0;
}
