// SPDX-License-Identifier: BSL-1.0
// Model-based fuzzing of the second wave's loop-only API (SPEC 3b): a random
// sequence of Condition waits, notifies and cancels; BoundedSemaphore
// acquires, releases and over-releases; PriorityQueue and LifoQueue puts and
// gets against a reference container; task groups whose children succeed,
// fail or are cancelled at random turns; and select() over queue gets and an
// event wait that are ready or not, sometimes cancelled while it waits. The
// models are the contracts:
//   Condition: notify without the lock is a UsageError; a waiter ends woken or
//     cancelled, never more woken than notified, and notify_all wakes every
//     waiter left; nobody holds the lock once all have settled.
//   BoundedSemaphore(k): value() == k - held; a release beyond k is a
//     UsageError that changes nothing; a pending acquirer means value() == 0.
//   PriorityQueue / LifoQueue: get gives the least / the latest item; QueueFull
//     and QueueEmpty exactly when the model is full or empty.
//   task_group: returns only once every child has ended; throws an
//     ExceptionGroup holding exactly the failures that happened, or returns
//     every child's count when none failed.
//   select: at least one branch engaged; an engaged get holds an item that was
//     put, and a get that was not engaged left its item in the queue (every item
//     put is taken exactly once in the end); a cancelled select loses nothing.
#include <algorithm>
#include <list>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "fuzz_driver.hpp"

namespace al = asynclink;

namespace {

/// Cancels one of `tasks`, picked by the input (none if there are none).
void cancel_one(std::list<al::TaskHandle<void>>& tasks, fuzz::Input& in) {
    if (tasks.empty()) return;
    auto it = tasks.begin();
    std::advance(it, in.pick(static_cast<unsigned>(tasks.size())));
    it->cancel();
}

// ---------------------------------------------------------------- Condition

struct ConditionModel {
    al::Condition c;
    std::list<al::TaskHandle<void>> waiters;
    std::size_t woken = 0;
    std::size_t notified = 0;  ///< wake-ups requested, capped at the waiters parked then

    static al::Task<void> wait_once(al::Condition& c, std::size_t& woken) {
        auto guard = co_await c.acquire();
        co_await c.wait(guard);
        ++woken;
    }

    std::size_t parked() const {
        return static_cast<std::size_t>(
            std::count_if(waiters.begin(), waiters.end(), [](const auto& t) { return !t.done(); }));
    }

    al::Task<void> step(fuzz::Input& in) {
        switch (in.pick(4)) {
        case 0: waiters.push_back(al::create_task(wait_once(c, woken))); break;
        case 1: {
            co_await fuzz::settle(2);  // the new waiters park
            std::size_t n = in.pick(3);
            auto guard = co_await c.acquire();
            notified += std::min(n, parked());
            c.notify(n);
            break;
        }
        case 2: {
            // Without holding the lock ourselves: refused unless a woken
            // waiter holds it (the check is that the lock is held).
            bool refused = false;
            std::size_t could_wake = std::min<std::size_t>(1, parked());
            try {
                c.notify();
                notified += could_wake;
            } catch (const al::UsageError&) {
                refused = true;
            }
            FUZZ_CHECK(refused != c.lock().locked());
            break;
        }
        default: cancel_one(waiters, in); break;
        }
        co_await fuzz::settle(1);
        FUZZ_CHECK(woken <= notified + waiters.size());
    }

    al::Task<void> finish() {
        co_await fuzz::settle();
        {
            auto guard = co_await c.acquire();
            notified += parked();
            c.notify_all();
        }
        co_await fuzz::settle();
        for (auto& t : waiters) FUZZ_CHECK(t.done());
        FUZZ_CHECK(woken <= notified);
        FUZZ_CHECK(!c.lock().locked());
    }
};

// ---------------------------------------------------------------- BoundedSemaphore

struct SemaphoreModel {
    std::size_t bound;
    al::BoundedSemaphore sem;
    std::size_t held = 0;
    std::list<al::TaskHandle<void>> acquirers;

    explicit SemaphoreModel(std::size_t k) : bound(k), sem(k) {}

    static al::Task<void> acquire_one(al::BoundedSemaphore& s, std::size_t& held) {
        auto permit = co_await s.acquire();
        permit.detach();  // held until the driver's release()
        ++held;
    }

    al::Task<void> step(fuzz::Input& in) {
        switch (in.pick(3)) {
        case 0: acquirers.push_back(al::create_task(acquire_one(sem, held))); break;
        case 1: {
            bool refused = false;
            try {
                sem.release();
            } catch (const al::UsageError&) {
                refused = true;
            }
            if (refused) {
                FUZZ_CHECK(held == 0);  // over-release: nothing changed
            } else {
                FUZZ_CHECK(held > 0);
                --held;
            }
            break;
        }
        default: cancel_one(acquirers, in); break;
        }
        co_await fuzz::settle(2);
        acquirers.remove_if([](const al::TaskHandle<void>& t) { return t.done(); });
        FUZZ_CHECK(held <= bound);
        FUZZ_CHECK(sem.value() == bound - held);
        FUZZ_CHECK(acquirers.empty() || sem.value() == 0);
    }

    al::Task<void> finish() {
        for (auto& t : acquirers) t.cancel();
        co_await fuzz::settle();
        while (held > 0) {
            sem.release();
            --held;
        }
        FUZZ_CHECK(sem.value() == bound);
    }
};

// ---------------------------------------------------------------- PriorityQueue / LifoQueue

template <class Q, bool Lifo>
struct OrderedQueueModel {
    std::size_t maxsize;
    Q q;
    std::multiset<int> by_value;  // the priority model
    std::vector<int> stack;       // the lifo model

    explicit OrderedQueueModel(std::size_t m) : maxsize(m), q(m) {}

    std::size_t size() const { return Lifo ? stack.size() : by_value.size(); }
    int take_expected() {
        if constexpr (Lifo) {
            int v = stack.back();
            stack.pop_back();
            return v;
        } else {
            int v = *by_value.begin();
            by_value.erase(by_value.begin());
            return v;
        }
    }

    al::Task<void> step(fuzz::Input& in) {
        switch (in.pick(3)) {
        case 0: {
            int v = in.pick(16);
            bool full = false;
            try {
                q.put_nowait(v);
            } catch (const al::QueueFull&) {
                full = true;
            }
            FUZZ_CHECK(full == (maxsize != 0 && size() == maxsize));
            if (!full) {
                if constexpr (Lifo) {
                    stack.push_back(v);
                } else {
                    by_value.insert(v);
                }
            }
            break;
        }
        case 1: {
            std::optional<int> got;
            try {
                got = q.get_nowait();
            } catch (const al::QueueEmpty&) {
            }
            FUZZ_CHECK(got.has_value() == (size() != 0));
            if (got) FUZZ_CHECK(*got == take_expected());
            break;
        }
        default:
            if (size() != 0) {
                int got = co_await q.get();  // ready: does not wait
                FUZZ_CHECK(got == take_expected());
            }
            break;
        }
        FUZZ_CHECK(q.qsize() == size());
    }
};

// ---------------------------------------------------------------- task_group

struct ChildPlan {
    int turns;  ///< yields before it ends
    bool fails;
};

al::Task<void> group_round(fuzz::Input& in) {
    std::vector<ChildPlan> plans(1 + in.pick(4));
    for (ChildPlan& p : plans) p = {static_cast<int>(in.pick(4)), in.pick(4) == 0};
    bool cancel_owner = in.pick(4) == 0;
    int cancel_after = static_cast<int>(in.pick(4));
    std::size_t thrown = 0;
    std::size_t completed = 0;
    std::vector<al::TaskHandle<void>> children;

    auto child = [](ChildPlan plan, std::size_t& thrown_count, std::size_t& completed_count) -> al::Task<void> {
        for (int i = 0; i < plan.turns; ++i) co_await al::sleep(0);
        if (plan.fails) {
            ++thrown_count;
            throw std::runtime_error("child failed");
        }
        ++completed_count;
    };
    auto owner = al::create_task([&]() -> al::Task<void> {
        co_await al::task_group([&](al::TaskGroup& group) -> al::Task<void> {
            for (const ChildPlan& p : plans) children.push_back(group.create_task(child(p, thrown, completed)));
            co_return;
        });
    });
    for (int i = 0; i < cancel_after && cancel_owner; ++i) co_await al::sleep(0);
    if (cancel_owner) owner.cancel();
    std::size_t reported = 0;
    bool cancelled = false;
    try {
        co_await owner;
    } catch (const al::ExceptionGroup& e) {
        reported = e.exceptions().size();
    } catch (const al::CancelledError&) {
        cancelled = true;
    }
    for (auto& c : children) FUZZ_CHECK(c.done());  // none outlives the group
    FUZZ_CHECK(reported == thrown);
    if (thrown == 0 && !cancelled) FUZZ_CHECK(completed == plans.size());
    if (thrown != 0) FUZZ_CHECK(!cancelled);  // the failures win over the cancel
}

// ---------------------------------------------------------------- select

struct SelectModel {
    al::Queue<int> a, b;
    al::Event event;
    std::size_t put = 0;
    std::size_t taken = 0;
    std::list<al::TaskHandle<void>> selects;

    al::Task<void> step(fuzz::Input& in) {
        switch (in.pick(4)) {
        case 0:
            (in.pick(2) == 0 ? a : b).put_nowait(static_cast<int>(put));
            ++put;
            break;
        case 1: event.set(); break;
        case 2: {
            // Now, over what is ready or not; the sleep ends it if nothing is.
            event.clear();
            auto [x, y, e, slept] = co_await al::select(a.get(), b.get(), event.wait(), al::sleep(0));
            FUZZ_CHECK(x || y || e || slept);
            taken += (x ? 1 : 0) + (y ? 1 : 0);
            break;
        }
        default:
            if (in.pick(2) == 0) {
                // In a task of its own, cancelled now or later.
                selects.push_back(al::create_task([](SelectModel& m) -> al::Task<void> {
                    auto [x, y, e] = co_await al::select(m.a.get(), m.b.get(), m.event.wait());
                    FUZZ_CHECK(x || y || e);
                    m.taken += (x ? 1 : 0) + (y ? 1 : 0);
                }(*this)));
            } else {
                cancel_one(selects, in);
            }
            break;
        }
        co_await fuzz::settle(1);
        selects.remove_if([](const al::TaskHandle<void>& t) { return t.done(); });
        // Every item taken once, or still queued. (A select still running may
        // hold an item its branch took and not yet have returned it.)
        if (selects.empty()) FUZZ_CHECK(taken + a.qsize() + b.qsize() == put);
    }

    al::Task<void> finish() {
        for (auto& t : selects) t.cancel();
        co_await fuzz::settle();
        FUZZ_CHECK(taken + a.qsize() + b.qsize() == put);
    }
};

al::Task<void> drive(fuzz::Input& in) {
    ConditionModel condition;
    SemaphoreModel semaphore(1 + in.pick(3));
    OrderedQueueModel<al::PriorityQueue<int>, false> priority(in.pick(4));
    OrderedQueueModel<al::LifoQueue<int>, true> lifo(in.pick(4));
    SelectModel select;
    while (in.more()) {
        switch (in.pick(6)) {
        case 0: co_await condition.step(in); break;
        case 1: co_await semaphore.step(in); break;
        case 2: co_await priority.step(in); break;
        case 3: co_await lifo.step(in); break;
        case 4: co_await group_round(in); break;
        default: co_await select.step(in); break;
        }
    }
    co_await condition.finish();
    co_await semaphore.finish();
    co_await select.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    al::run(drive(in));
    return 0;
}
