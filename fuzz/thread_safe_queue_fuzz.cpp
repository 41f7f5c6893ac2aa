// SPDX-License-Identifier: BSL-1.0
// Model-based fuzzing of ThreadSafeQueue<T>: random sequences of try_put,
// try_get, put_sync/get_sync without blocking, async put/get/next by tasks,
// cancellation of those tasks, close and loop turns, checked step by step
// against a std::deque with the same capacity.
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "fuzz_driver.hpp"

namespace al = asynclink;

namespace {

struct Model {
    std::size_t capacity;
    std::deque<int> items;
    bool closed = false;
    int next_value = 1;
};

al::Task<void> drive(fuzz::Input& in) {
    std::size_t capacity = 1 + in.pick(5);
    al::ThreadSafeQueue<std::unique_ptr<int>> q(capacity);
    Model m{capacity, {}, false, 1};
    std::vector<int> delivered;  // values taken by any path, in order
    std::vector<int> accepted;   // values the queue accepted, in order
    // At most one async getter and one async putter at a time: one consumer
    // context and one producer context, as the queue's contract says.
    std::optional<al::TaskHandle<void>> getter, putter;

    auto check_sizes = [&] {
        FUZZ_CHECK(q.qsize() <= capacity);
        FUZZ_CHECK(q.closed() == m.closed);
    };

    while (in.more()) {
        switch (in.pick(9)) {
        case 0: {                                  // try_put
            if (putter && !putter->done()) break;  // the producer end is busy
            int v = m.next_value++;
            auto item = std::make_unique<int>(v);
            bool ok = q.try_put(std::move(item));
            FUZZ_CHECK(ok == (!m.closed && m.items.size() < capacity));
            if (ok) {
                FUZZ_CHECK(item == nullptr);  // moved in
                accepted.push_back(v);
            } else {
                FUZZ_CHECK(item != nullptr && *item == v);  // left with the caller
            }
            break;
        }
        case 1: {  // try_get
            if (getter && !getter->done()) break;
            auto got = q.try_get();
            if (got) delivered.push_back(**got);
            break;
        }
        case 2: {  // put_sync without blocking
            if (putter && !putter->done()) break;
            int v = m.next_value++;
            try {
                q.put_sync(std::make_unique<int>(v));
                accepted.push_back(v);
            } catch (const al::QueueFull&) {
                FUZZ_CHECK(!m.closed);
            } catch (const al::QueueClosed&) {
                FUZZ_CHECK(m.closed);
            }
            break;
        }
        case 3: {  // get_sync without blocking
            if (getter && !getter->done()) break;
            try {
                delivered.push_back(*q.get_sync());
            } catch (const al::QueueEmpty&) {
                FUZZ_CHECK(!m.closed);
            } catch (const al::QueueClosed&) {
                FUZZ_CHECK(m.closed);
            }
            break;
        }
        case 4: {  // async put by a task
            if (putter && !putter->done()) break;
            int v = m.next_value++;
            putter = al::create_task(fuzz::put_task(q, v, accepted));
            break;
        }
        case 5: {  // async get (or next) by a task
            if (getter && !getter->done()) break;
            bool iterate = in.pick(2) == 0;
            getter = al::create_task(fuzz::get_task(q, iterate, delivered));
            break;
        }
        case 6:  // cancel a pending task
            if (in.pick(2) == 0) {
                if (getter) getter->cancel();
            } else {
                if (putter) putter->cancel();
            }
            break;
        case 7:
            q.close();
            m.closed = true;
            break;
        default: co_await fuzz::settle(1 + in.pick(3)); break;
        }
        check_sizes();
        // Conservation: what was accepted is delivered or still queued, in order.
        FUZZ_CHECK(delivered.size() + q.qsize() == accepted.size());
        for (std::size_t i = 0; i < delivered.size(); ++i) FUZZ_CHECK(delivered[i] == accepted[i]);
        m.items.assign(accepted.begin() + static_cast<std::ptrdiff_t>(delivered.size()), accepted.end());
    }
    // Shutdown: close, let the consumer end drain; nothing may be lost.
    if (putter) putter->cancel();
    co_await fuzz::settle();
    q.close();
    while (auto v = q.try_get()) delivered.push_back(**v);
    co_await fuzz::settle();
    if (getter) getter->cancel();
    co_await fuzz::settle();
    FUZZ_CHECK(delivered.size() == accepted.size());
    for (std::size_t i = 0; i < delivered.size(); ++i) FUZZ_CHECK(delivered[i] == accepted[i]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    al::run(drive(in));
    return 0;
}
