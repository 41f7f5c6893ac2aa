// SPDX-License-Identifier: BSL-1.0
// Model-based fuzzing of ThreadSafeQueue<T, many_producers>: random sequences
// of try_put, put_sync without blocking, async puts by up to three tasks at
// once (so several putters wait on a full queue and are served in turn),
// try_get, get_sync without blocking, an async get or next, cancellation,
// close and loop turns, over capacities 1 to 6 (any, not only powers of two)
// and many laps. Checked at every step: qsize within the capacity and equal
// to what was accepted and not delivered (give or take the putters served but
// not yet resumed); what comes out is what went in, each value once, the
// driver's own puts in their order; at the end, everything accepted arrived.
#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "fuzz_driver.hpp"

namespace al = asynclink;

namespace {

using Queue = al::ThreadSafeQueue<std::unique_ptr<int>, al::many_producers>;

al::Task<void> drive(fuzz::Input& in) {
    std::size_t capacity = 1 + in.pick(6);
    Queue q(capacity);
    bool closed = false;
    int next_value = 1;
    std::vector<int> delivered;  // in the order taken
    std::set<int> accepted;      // values the queue accepted
    std::set<int> seen;          // values delivered so far
    int last_direct = 0;         // the driver's own puts come out in order
    std::set<int> direct;        // values the driver put itself
    std::array<std::optional<al::TaskHandle<void>>, 3> putters;
    std::optional<al::TaskHandle<void>> getter;

    auto pending_putters = [&] {
        std::size_t n = 0;
        for (auto& p : putters) n += p && !p->done() ? 1 : 0;
        return n;
    };
    auto take = [&](int v) {
        FUZZ_CHECK(seen.insert(v).second);  // never twice
        delivered.push_back(v);
        if (direct.count(v) != 0) {
            FUZZ_CHECK(v > last_direct);  // FIFO for the driver's own puts
            last_direct = v;
        }
    };

    while (in.more()) {
        switch (in.pick(9)) {
        case 0: {  // try_put
            int v = next_value++;
            auto item = std::make_unique<int>(v);
            bool ok = q.try_put(std::move(item));
            if (ok) {
                FUZZ_CHECK(item == nullptr);
                FUZZ_CHECK(!closed);
                accepted.insert(v);
                direct.insert(v);
            } else {
                FUZZ_CHECK(item != nullptr && *item == v);  // left with the caller
                FUZZ_CHECK(closed || q.qsize() == capacity);
            }
            break;
        }
        case 1: {  // try_get (nothing here is ever a hole: one thread)
            if (getter && !getter->done()) break;
            std::size_t before = q.qsize();
            auto got = q.try_get();
            FUZZ_CHECK(got.has_value() == (before > 0));
            if (got) take(**got);
            break;
        }
        case 2: {  // put_sync without blocking
            int v = next_value++;
            try {
                q.put_sync(std::make_unique<int>(v));
                accepted.insert(v);
                direct.insert(v);
            } catch (const al::QueueFull&) {
                FUZZ_CHECK(!closed && q.qsize() == capacity);
            } catch (const al::QueueClosed&) {
                FUZZ_CHECK(closed);
            }
            break;
        }
        case 3: {  // get_sync without blocking
            if (getter && !getter->done()) break;
            try {
                take(*q.get_sync());
            } catch (const al::QueueEmpty&) {
                FUZZ_CHECK(q.qsize() == 0);
            } catch (const al::QueueClosed&) {
                FUZZ_CHECK(closed && q.qsize() == 0);
            }
            break;
        }
        case 4: {  // an async put by one of three producer tasks
            auto& slot = putters[in.pick(3)];
            if (slot && !slot->done()) break;
            int v = next_value++;
            slot = al::create_task(fuzz::put_task(q, v, accepted));
            break;
        }
        case 5: {  // async get (or next)
            if (getter && !getter->done()) break;
            bool iterate = in.pick(2) == 0;
            getter = al::create_task(fuzz::get_task(q, iterate, delivered));
            break;
        }
        case 6: {  // cancel a pending task
            std::size_t which = in.pick(4);
            if (which == 3) {
                if (getter) getter->cancel();
            } else if (putters[which]) {
                putters[which]->cancel();
            }
            break;
        }
        case 7:
            q.close();
            closed = true;
            break;
        default: co_await fuzz::settle(1 + in.pick(3)); break;
        }
        // The async getter appends directly: account for its values.
        for (std::size_t i = seen.size(); i < delivered.size(); ++i) {
            FUZZ_CHECK(seen.insert(delivered[i]).second);
            if (direct.count(delivered[i]) != 0) {
                FUZZ_CHECK(delivered[i] > last_direct);
                last_direct = delivered[i];
            }
        }
        FUZZ_CHECK(q.qsize() <= capacity);
        FUZZ_CHECK(q.closed() == closed);
        // Queued = accepted - delivered, but a putter served by the loop and
        // not yet resumed has its item queued before `accepted` knows it.
        std::size_t in_or_out = q.qsize() + delivered.size();
        FUZZ_CHECK(in_or_out >= accepted.size() && in_or_out <= accepted.size() + pending_putters());
    }
    // Shutdown: close, let every task finish, drain; nothing may be lost.
    q.close();
    co_await fuzz::settle(4);
    for (auto& p : putters) {
        if (p) p->cancel();
    }
    while (auto v = q.try_get()) delivered.push_back(**v);
    co_await fuzz::settle(4);
    if (getter) getter->cancel();
    co_await fuzz::settle();
    std::set<int> all(delivered.begin(), delivered.end());
    FUZZ_CHECK(all.size() == delivered.size());
    FUZZ_CHECK(all == accepted);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    al::run(drive(in));
    return 0;
}
