// SPDX-License-Identifier: BSL-1.0
// Model-based fuzzing of ThreadSafeFlag, ThreadSafeEvent and Message driven
// from the loop: waiters that start, get cancelled, time out; set and clear in
// any order; loop turns. Reference model: a waiter that was waiting when set()
// ran is woken (unless it was cancelled first); a flag's set is consumed by at
// most one wait and never lost (a cancelled waiter leaves it for the next);
// a Message waiter receives the latest value set.
#include <list>
#include <vector>

#include "fuzz_driver.hpp"

namespace al = asynclink;

namespace {

struct Waiter {
    al::TaskHandle<void> task;
    bool woken = false;
    bool present_at_set = false;  // was waiting when a set() ran
};

al::Task<void> drive_event(fuzz::Input& in) {
    al::ThreadSafeEvent ev;
    std::list<Waiter> waiters;
    while (in.more()) {
        switch (in.pick(5)) {
        case 0: {
            auto& w = waiters.emplace_back();
            w.task = al::create_task([](al::ThreadSafeEvent& e, bool& woken) -> al::Task<void> {
                co_await e.wait();
                woken = true;
            }(ev, w.woken));
            break;
        }
        case 1:
            // Waiters whose task has begun waiting are owed a wake-up.
            for (auto& w : waiters) {
                if (!w.task.done() && w.task.state().started()) w.present_at_set = true;
            }
            ev.set();
            break;
        case 2: ev.clear(); break;
        case 3:
            if (!waiters.empty()) {
                auto it = waiters.begin();
                std::advance(it, in.pick(static_cast<unsigned>(waiters.size())));
                if (it->task.cancel()) it->present_at_set = false;
            }
            break;
        default:
            co_await fuzz::settle(2 + in.pick(2));  // one turn for a posted wake-up, one for the woken task
            for (auto& w : waiters) {
                if (w.present_at_set) FUZZ_CHECK(w.task.done() && (w.woken || w.task.cancelled()));
                if (w.woken) FUZZ_CHECK(w.task.done());
            }
            break;
        }
    }
    for (auto& w : waiters) w.task.cancel();
    co_await fuzz::settle();
}

al::Task<void> drive_flag(fuzz::Input& in) {
    al::ThreadSafeFlag flag;
    bool model_set = false;  // the flag's state as the model sees it
    std::optional<al::TaskHandle<void>> waiter;
    bool woken = false;
    while (in.more()) {
        switch (in.pick(5)) {
        case 0:
            if (waiter && !waiter->done()) break;  // one waiter at a time
            woken = false;
            waiter = al::create_task([](al::ThreadSafeFlag& f, bool& w) -> al::Task<void> {
                co_await f.wait();
                w = true;
            }(flag, woken));
            break;
        case 1:
            flag.set();
            model_set = true;
            break;
        case 2:
            flag.clear();
            model_set = false;
            break;
        case 3:
            if (waiter) waiter->cancel();
            break;
        default:
            // Two turns at least: one for the posted wake-up to reach the loop,
            // one for the woken task to run.
            co_await fuzz::settle(2 + in.pick(2));
            if (waiter && woken) {
                // The wait consumed a set.
                model_set = false;
            }
            if (waiter && !waiter->done()) {
                // A parked waiter means no set is pending: otherwise it was lost.
                FUZZ_CHECK(!flag.is_set());
                FUZZ_CHECK(!model_set);
            }
            if (!waiter || waiter->done()) FUZZ_CHECK(flag.is_set() == model_set);
            if (woken) waiter.reset();
            break;
        }
    }
    if (waiter) waiter->cancel();
    co_await fuzz::settle();
}

al::Task<void> drive_message(fuzz::Input& in) {
    al::Message<int> msg;
    int latest = 0;
    std::list<std::pair<al::TaskHandle<void>, int>> readers;  // task, value it got (-1: none yet)
    while (in.more()) {
        switch (in.pick(4)) {
        case 0: {
            auto& r = readers.emplace_back(al::TaskHandle<void>{}, -1);
            r.first = al::create_task(
                [](al::Message<int>& m, int& out) -> al::Task<void> { out = co_await m; }(msg, r.second));
            break;
        }
        case 1: msg.set(++latest); break;
        case 2: msg.clear(); break;
        default:
            co_await fuzz::settle(2 + in.pick(2));  // one turn for a posted wake-up, one for the woken task
            for (auto& [task, got] : readers) {
                // A reader that returned got a value that was set, never a newer one than exists.
                if (got != -1) FUZZ_CHECK(got >= 1 && got <= latest);
                // With the message set, nobody may still be waiting.
                if (msg.is_set()) FUZZ_CHECK(task.done());
            }
            break;
        }
    }
    for (auto& r : readers) r.first.cancel();
    co_await fuzz::settle();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    switch (in.pick(3)) {
    case 0: al::run(drive_event(in)); break;
    case 1: al::run(drive_flag(in)); break;
    default: al::run(drive_message(in)); break;
    }
    return 0;
}
