// SPDX-License-Identifier: BSL-1.0
// A Message<T> with a 256-byte payload is never seen torn. Writers set it at
// full speed — a thread on the other core and a second writer thread, so two
// set() calls overlap — while the loop reads as fast as it can through
// co_await, value() and next(). Every payload carries its writer, a sequence
// number, bytes derived from both and a checksum over all of them: a payload
// mixed from two writes fails the checksum. Per writer the sequence never
// goes backwards (the latest value wins, an older one never comes back).
// A second test adds a periodic signal handler on the loop's own thread that
// sets the message while the loop is in the middle of copying it out.
//
// The reading runs for a time budget (scaled by ASYNCLINK_STRESS_SCALE), and
// at least until every writer has been seen.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/pauses.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;
using bridge_test::scaled;
using stress_test::Watchdog;
using test_support::loop_cpu;
using test_support::other_cpu;

namespace {

constexpr unsigned writer_count = 3;  // two threads, and a signal handler in the second test: Message<T, 3>

/// 256 bytes: who wrote it, which write it was, bytes that depend on both, and
/// a checksum (FNV-1a) over everything before it.
struct Payload {
    std::uint64_t writer;
    std::uint64_t sequence;
    std::array<std::uint8_t, 232> bytes;
    std::uint64_t checksum;

    static Payload make(std::uint64_t writer, std::uint64_t sequence) noexcept {
        Payload p;
        p.writer = writer;
        p.sequence = sequence;
        for (std::size_t i = 0; i < p.bytes.size(); ++i) {
            p.bytes[i] = static_cast<std::uint8_t>(sequence * 131 + i * 7 + writer * 29);
        }
        p.checksum = p.sum();
        return p;
    }
    bool intact() const noexcept { return writer < writer_count && checksum == sum(); }

private:
    std::uint64_t sum() const noexcept {
        std::uint64_t h = 0xcbf29ce484222325;
        auto mix = [&h](std::uint8_t byte) {
            h ^= byte;
            h *= 0x100000001b3;
        };
        for (int shift = 0; shift < 64; shift += 8) mix(static_cast<std::uint8_t>(writer >> shift));
        for (int shift = 0; shift < 64; shift += 8) mix(static_cast<std::uint8_t>(sequence >> shift));
        for (std::uint8_t b : bytes) mix(b);
        return h;
    }
};
static_assert(sizeof(Payload) == 256);

/// Writers set until told to stop; each counts its writes.
class Writers {
public:
    explicit Writers(al::Message<Payload, writer_count>& message) : message_(message) {}

    void start() {
        // Writer 0 on the other core; writer 1 wherever the scheduler puts it,
        // so the two overlap on two CPUs or by preemption mid-set().
        threads_.emplace_back([this] {
            EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
            write(0);
        });
        threads_.emplace_back([this] { write(1); });
    }
    void stop() {
        stop_.store(true, std::memory_order_relaxed);  // relaxed: the writers only need to see it eventually
        for (auto& t : threads_) t.join();
    }
    std::uint64_t writes(std::size_t writer) const noexcept {
        return writes_[writer].load(std::memory_order_relaxed);  // relaxed: a tally, read after stop()
    }

private:
    void write(std::uint64_t writer) {
        for (std::uint64_t seq = 1; !stop_.load(std::memory_order_relaxed); ++seq) {  // relaxed: as in stop()
            message_.set(Payload::make(writer, seq));
            writes_[writer].store(seq, std::memory_order_relaxed);  // relaxed: a tally
        }
    }

    al::Message<Payload, writer_count>& message_;
    std::atomic<bool> stop_{false};
    std::array<std::atomic<std::uint64_t>, 2> writes_{};
    std::vector<std::thread> threads_;
};

/// What the loop saw: torn payloads, sequences going backwards, per writer.
struct Reader {
    std::uint64_t reads = 0;
    std::uint64_t torn = 0;
    std::uint64_t went_back = 0;
    std::array<std::uint64_t, writer_count> last{};
    std::array<std::uint64_t, writer_count> seen{};
    std::atomic<std::uint64_t> progress{0};

    void check(const Payload& p) noexcept {
        ++reads;
        if (!p.intact()) {
            ++torn;
            return;
        }
        if (p.sequence < last[p.writer]) ++went_back;
        last[p.writer] = p.sequence;
        ++seen[p.writer];
        // Relaxed: a progress report for the watchdog.
        if ((reads & 255) == 0) progress.store(reads, std::memory_order_relaxed);
    }
    bool saw_every(std::size_t writers) const noexcept {
        for (std::size_t w = 0; w < writers; ++w) {
            if (seen[w] == 0) return false;
        }
        return true;
    }

    /// Reads until the budget is spent and every writer has been seen: mostly
    /// co_await (returns at once while set), a quarter value(), and one read
    /// in 1024 next(), which clears and waits for a new set (the sleep/wake
    /// path; rare, since each costs a wake-up).
    al::Task<void> read(al::Message<Payload, writer_count>& message, std::size_t writers) {
        bridge_test::Budget budget(scaled(5'000'000), std::chrono::milliseconds(scaled(2000, 200)));
        for (std::uint64_t i = 0; budget.more(i) || !saw_every(writers); ++i) {
            if ((i & 1023) == 0) {
                check(co_await al::wait_for(message.next(), hang_limit));
            } else if ((i & 3) == 0) {
                check(message.value());
            } else {
                check(co_await message);
            }
        }
    }

    void expect_clean(std::size_t writers) const {
        EXPECT_EQ(torn, 0u) << "torn payloads in " << reads << " reads";
        EXPECT_EQ(went_back, 0u) << "a writer's sequence went backwards";
        EXPECT_TRUE(saw_every(writers));
        std::printf("%llu reads; seen per writer:", static_cast<unsigned long long>(reads));
        for (std::size_t w = 0; w < writers; ++w) std::printf(" %llu", static_cast<unsigned long long>(seen[w]));
        std::printf("\n");
    }
};

/// The signal handler's writer: its own sequence, touched only by the handler
/// (which always runs on the loop's thread, one invocation at a time).
struct HandlerWriter {
    al::Message<Payload, writer_count>* message;
    std::uint64_t sequence = 0;
    static void write(void* self) noexcept {
        auto& w = *static_cast<HandlerWriter*>(self);
        w.message->set(Payload::make(2, ++w.sequence));
    }
};

}  // namespace

TEST(MessageTorn, TwoWriterThreadsAtFullSpeedNeverTearA256BytePayload) {
    al::Message<Payload, writer_count> message;
    message.set(Payload::make(0, 0));
    Reader reader;
    Watchdog watchdog(reader.progress, [&] { return "message reader stuck"; });
    Writers writers(message);
    writers.start();
    std::thread loop_thread([&] {
        EXPECT_TRUE(al::port::pin_current_thread(loop_cpu));
        al::run(reader.read(message, 2));
    });
    loop_thread.join();
    writers.stop();
    reader.expect_clean(2);
    EXPECT_LE(reader.last[0], writers.writes(0)) << "a payload nobody wrote yet";
    EXPECT_LE(reader.last[1], writers.writes(1)) << "a payload nobody wrote yet";
}

TEST(MessageTorn, ASignalHandlerSettingItWhileTheLoopCopiesItOutNeverTearsIt) {
    al::Message<Payload, writer_count> message;
    message.set(Payload::make(0, 0));
    Reader reader;
    Watchdog watchdog(reader.progress, [&] { return "message reader stuck"; });
    Writers writers(message);
    writers.start();
    HandlerWriter handler_writer{&message};
    std::uint64_t ticks = 0;
    std::thread loop_thread([&] {
        EXPECT_TRUE(al::port::pin_current_thread(loop_cpu));
        al::run([&]() -> al::Task<void> {
            // The signal interrupts this thread wherever it is, including in
            // the middle of copying the payload out of its slot.
            al::PeriodicSignal timer(50us, &HandlerWriter::write, &handler_writer);
            co_await reader.read(message, 3);
            ticks = timer.ticks();
        }());
    });
    loop_thread.join();
    writers.stop();
    reader.expect_clean(3);
    EXPECT_GT(ticks, 0u);
    EXPECT_GE(handler_writer.sequence, ticks);
    EXPECT_LE(reader.last[2], handler_writer.sequence) << "a payload nobody wrote yet";
    EXPECT_LE(reader.last[0], writers.writes(0));
    EXPECT_LE(reader.last[1], writers.writes(1));
}
