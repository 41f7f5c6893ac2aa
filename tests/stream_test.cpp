// SPDX-License-Identifier: BSL-1.0
// Streams over file descriptors: read/readline/readuntil/readexactly, write
// and drain with flow control, EOF and errors, cancellation safety, closing,
// the loop binding, and each kind of descriptor (pipe, socketpair, TCP on
// loopback, pseudo-terminal as a serial line).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>

#include "support/stress.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

// ASSERT_* returns from the function, which a coroutine cannot do.
#define CO_ASSERT(condition)                                  \
    do {                                                      \
        if (!(condition)) {                                   \
            ADD_FAILURE() << "assertion failed: " #condition; \
            co_return;                                        \
        }                                                     \
    } while (false)

namespace {

using test_support::stress_scale;

std::size_t scaled(std::size_t n, std::size_t at_least = 1) {
    return std::max(at_least, static_cast<std::size_t>(static_cast<double>(n) * stress_scale()));
}

// Every test body runs under a generous deadline, so a bug fails the test
// instead of hanging it; no test relies on the deadline to pass.
al::Task<void> bounded(al::Task<void> body) { co_await al::wait_for(std::move(body), 120s); }
void run_bounded(al::Task<void> body) { al::run(bounded(std::move(body))); }

std::string pattern(std::size_t n, unsigned seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
    return s;
}

al::Task<void> yield(int n = 1) {
    for (int i = 0; i < n; ++i) co_await al::sleep(0);
}

// Reads until the end of the stream.
al::Task<std::string> read_to_eof(al::Stream& s) {
    std::string all;
    for (;;) {
        std::string chunk = co_await s.read(64 * 1024);
        if (chunk.empty()) co_return all;
        all += chunk;
    }
}

template <class F>
al::Task<void> expect_system_error(F&& operation, int error, const char* name) {
    try {
        co_await operation();
        ADD_FAILURE() << "expected std::system_error " << error;
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), error) << e.what();
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
}

// ---------------------------------------------------------------- reading

TEST(Stream, ReadReturnsWhatIsBufferedUpToMax) {
    run_bounded([]() -> al::Task<void> {
        auto [a, b] = al::open_socketpair();
        a.write("hello world");
        EXPECT_EQ(co_await b.read(5), "hello");
        EXPECT_EQ(co_await b.read(100), " world");
        EXPECT_EQ(co_await b.read(0), "");
        a.write("more");
        EXPECT_EQ(co_await b.read(100), "more");
    }());
}

TEST(Stream, ReadSuspendsUntilBytesArrive) {
    run_bounded([]() -> al::Task<void> {
        auto [a, b] = al::open_socketpair();
        auto reader = al::create_task(b.read(100));
        co_await yield(3);
        EXPECT_FALSE(reader.done());
        a.write("late");
        EXPECT_EQ(co_await reader, "late");
    }());
}

TEST(Stream, ReadlineSplitsLinesAndReturnsTheRestAtEof) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        w.write("first\nsecond\n");
        w.write("la");
        w.write("st");
        w.close();
        co_await w.wait_closed();
        EXPECT_EQ(co_await r.readline(), "first\n");
        EXPECT_EQ(co_await r.readline(), "second\n");
        EXPECT_FALSE(r.at_eof());
        EXPECT_EQ(co_await r.readline(), "last");
        EXPECT_EQ(co_await r.readline(), "");
        EXPECT_TRUE(r.at_eof());
        EXPECT_EQ(co_await r.read(10), "");
    }());
}

TEST(Stream, ReadlineWaitsForTheRestOfALineWrittenInPieces) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        auto line = al::create_task(r.readline());
        for (char c : std::string("piece by piece\n")) {
            w.write(std::string(1, c));
            co_await yield();
        }
        EXPECT_EQ(co_await line, "piece by piece\n");
    }());
}

TEST(Stream, ReaduntilFindsASeparatorSplitAcrossChunks) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        auto first = al::create_task(r.readuntil("--"));
        w.write("abc-");
        co_await yield(3);
        EXPECT_FALSE(first.done());
        w.write("-def--");
        EXPECT_EQ(co_await first, "abc--");
        EXPECT_EQ(co_await r.readuntil("--"), "def--");
        w.write("tail");
        w.close();
        try {
            co_await r.readuntil("--");
            ADD_FAILURE() << "expected IncompleteReadError";
        } catch (const al::IncompleteReadError& e) {
            EXPECT_EQ(e.partial(), "tail");
            EXPECT_FALSE(e.expected().has_value());
        }
        EXPECT_TRUE(r.at_eof());
    }());
}

TEST(Stream, ReaduntilBeyondTheLimitThrowsAndConsumesNothing) {
    run_bounded([]() -> al::Task<void> {
        al::StreamOptions options;
        options.limit = 8;
        auto [w, r] = al::open_socketpair(options);
        w.write("0123456789abcdef");
        try {
            co_await r.readuntil("\n");
            ADD_FAILURE() << "expected LimitOverrunError";
        } catch (const al::LimitOverrunError& e) {
            EXPECT_GE(e.buffered(), 9u);
        }
        EXPECT_EQ(co_await r.read(100), "0123456789abcdef");  // as asyncio: still buffered
        // A line of exactly the limit (separator excluded) is accepted.
        w.write("12345678\n123456789\n");
        EXPECT_EQ(co_await r.readuntil("\n"), "12345678\n");
        EXPECT_THROW(co_await r.readuntil("\n"), al::LimitOverrunError);
        EXPECT_EQ(co_await r.readuntil("9\n"), "123456789\n");
    }());
}

// readline() skips a line longer than the limit, as the
// docs say, instead of throwing at every later call while read() returns it.
TEST(Stream, ReadlineBeyondTheLimitThrowsOnceAndSkipsThatLine) {
    run_bounded([]() -> al::Task<void> {
        al::StreamOptions options;
        options.limit = 8;
        auto [w, r] = al::open_socketpair(options);
        // The separator beyond the limit is already buffered.
        w.write("0123456789\nnext\n");
        EXPECT_THROW(co_await r.readline(), al::LimitOverrunError);
        EXPECT_EQ(co_await r.readline(), "next\n");
        // The rest of the overlong line has not arrived yet: it is skipped as it comes.
        w.write("0123456789abcdef");
        EXPECT_THROW(co_await r.readline(), al::LimitOverrunError);
        auto line = al::create_task(r.readline());
        co_await yield(3);
        w.write("still the long line");
        co_await yield(3);
        w.write(" and its end\nshort\n");
        EXPECT_EQ(co_await line, "short\n");
        // read() does not see a skipped line either.
        w.write("0123456789abcdef");
        EXPECT_THROW(co_await r.readline(), al::LimitOverrunError);
        w.write("more of it\nafter");
        EXPECT_EQ(co_await r.read(100), "after");
        w.close();
        EXPECT_EQ(co_await r.read(100), "");
    }());
}

TEST(Stream, ReadexactlyCollectsBytesArrivingOneAtATime) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        const std::string sent = pattern(1000);
        auto exact = al::create_task(r.readexactly(sent.size()));
        for (char c : sent) {
            w.write(std::string(1, c));
            co_await yield();
        }
        EXPECT_EQ(co_await exact, sent);
    }());
}

TEST(Stream, ReadexactlyAtEofThrowsIncompleteReadErrorWithThePartialBytes) {
    run_bounded([]() -> al::Task<void> {
        auto [r, w] = al::open_pipe();
        w.write("abc");
        w.close();
        try {
            co_await r.readexactly(5);
            ADD_FAILURE() << "expected IncompleteReadError";
        } catch (const al::IncompleteReadError& e) {
            EXPECT_EQ(e.partial(), "abc");
            EXPECT_EQ(e.expected(), std::optional<std::size_t>(5));
            EXPECT_NE(std::string(e.what()).find("3 of 5"), std::string::npos) << e.what();
            EXPECT_TRUE(dynamic_cast<const std::runtime_error*>(&e) != nullptr);
        }
        EXPECT_EQ(co_await r.read(10), "");
        EXPECT_TRUE(r.at_eof());
    }());
}

TEST(Stream, ASecondConcurrentReaderIsAUsageError) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        auto first = al::create_task(r.readexactly(4));
        co_await yield();
        w.write("ab");  // the first reader collects these ...
        co_await yield(3);
        // ... so a second reader would steal them: refused, whatever it asks for.
        EXPECT_THROW(co_await r.read(1), al::UsageError);
        EXPECT_THROW(co_await r.readline(), al::UsageError);
        w.write("cd");
        EXPECT_EQ(co_await first, "abcd");
        w.write("e");
        EXPECT_EQ(co_await r.read(1), "e");  // free again once the first read ended
    }());
}

// ---------------------------------------------------------------- cancellation

TEST(Stream, ACancelledReadKeepsTheBytesItAlreadyPulledIn) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        w.write("abcd");
        auto reader = al::create_task(r.readexactly(10));
        co_await yield();  // the reader runs first: it pulls "abcd" in and parks for more
        EXPECT_FALSE(reader.done());
        reader.cancel();
        EXPECT_THROW(co_await reader, al::CancelledError);
        w.write("efghij");
        EXPECT_EQ(co_await r.readexactly(10), "abcdefghij");

        // Same for readline and readuntil.
        w.write("par");
        auto line = al::create_task(r.readline());
        co_await yield();
        line.cancel();
        EXPECT_THROW(co_await line, al::CancelledError);
        w.write("tial\n");
        EXPECT_EQ(co_await r.readline(), "partial\n");
    }());
}

// A reader that keeps timing out while bytes trickle in must still see every
// byte, once and in order: a read either returns bytes or leaves them buffered.
TEST(Stream, ReadsCancelledByTimeoutsLoseNoBytes) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        const std::string sent = pattern(scaled(20000, 2000), 3);
        std::mt19937 rng(42);
        auto writer = al::create_task([](al::Stream& s, const std::string& data) -> al::Task<void> {
            std::mt19937 wrng(7);
            for (std::size_t i = 0; i < data.size();) {
                std::size_t n = std::min<std::size_t>(data.size() - i, 1 + wrng() % 64);
                s.write(std::string_view(data).substr(i, n));
                co_await s.drain();
                i += n;
                co_await al::sleep(std::chrono::microseconds(wrng() % 50));
            }
        }(w, sent));
        std::string got;
        std::size_t timeouts = 0;
        while (got.size() < sent.size()) {
            std::size_t want = 1 + rng() % 200;
            want = std::min(want, sent.size() - got.size());
            try {
                switch (rng() % 3) {
                case 0: got += co_await al::wait_for(r.read(want), std::chrono::microseconds(rng() % 100)); break;
                case 1:
                    got += co_await al::wait_for(r.readexactly(want), std::chrono::microseconds(rng() % 100));
                    break;
                default:
                    got += co_await al::wait_for(r.readuntil(std::string(1, sent[got.size() + want - 1])),
                                                 std::chrono::microseconds(rng() % 100));
                    break;
                }
            } catch (const al::TimeoutError&) {
                ++timeouts;
            }
        }
        co_await writer;
        EXPECT_EQ(got.size(), sent.size());
        EXPECT_TRUE(got == sent) << "bytes lost, duplicated or reordered";
        RecordProperty("timeouts", static_cast<int>(timeouts));
    }());
}

TEST(Stream, ACancelledDrainLosesNoBytes) {
    run_bounded([]() -> al::Task<void> {
        al::StreamOptions options;
        options.high_water = 1024;
        options.low_water = 256;
        auto [w, r] = al::open_socketpair(options);
        const std::string sent = pattern(4 << 20, 5);
        w.write(sent);
        CO_ASSERT(w.write_buffer_size() > options.high_water);  // the kernel cannot take 4 MiB at once
        auto drain = al::create_task(w.drain());
        co_await yield();
        EXPECT_FALSE(drain.done());
        drain.cancel();
        EXPECT_THROW(co_await drain, al::CancelledError);
        w.close();  // the rest still leaves, in the background
        std::string got = co_await read_to_eof(r);
        co_await w.wait_closed();
        EXPECT_EQ(got.size(), sent.size());
        EXPECT_TRUE(got == sent);
    }());
}

// ---------------------------------------------------------------- writing

TEST(Stream, DrainSuspendsAboveHighWaterUntilBelowLowWater) {
    run_bounded([]() -> al::Task<void> {
        al::StreamOptions options;
        options.high_water = 64 * 1024;
        options.low_water = 16 * 1024;
        auto [w, r] = al::open_socketpair(options);
        const std::string sent = pattern(4 << 20, 9);
        w.write(sent.substr(0, 1000));
        co_await w.drain();  // under the high-water mark: returns at once
        w.write(sent.substr(1000));
        CO_ASSERT(w.write_buffer_size() > options.high_water);
        auto drain = al::create_task(w.drain());
        co_await yield(3);
        EXPECT_FALSE(drain.done()) << "nobody reads, so the buffer cannot shrink";
        auto reader = al::create_task(r.readexactly(sent.size()));
        co_await drain;
        EXPECT_LE(w.write_buffer_size(), options.low_water);
        EXPECT_TRUE(co_await reader == sent);
    }());
}

TEST(Stream, HighWaterZeroMakesDrainWaitForEveryByte) {
    run_bounded([]() -> al::Task<void> {
        al::StreamOptions options;
        options.high_water = 0;
        options.low_water = 0;
        auto [w, r] = al::open_socketpair(options);
        const std::string sent = pattern(1 << 20, 11);
        auto reader = al::create_task(r.readexactly(sent.size()));
        w.write(sent);
        co_await w.drain();
        EXPECT_EQ(w.write_buffer_size(), 0u);
        EXPECT_TRUE(co_await reader == sent);
    }());
}

TEST(Stream, ManyWritesKeepTheirOrder) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        std::string sent;
        auto reader =
            al::create_task([](al::Stream& s) -> al::Task<std::string> { co_return co_await read_to_eof(s); }(r));
        for (std::size_t i = 0; i < scaled(20000, 500); ++i) {
            std::string piece = pattern(1 + i % 300, static_cast<unsigned>(i));
            sent += piece;
            w.write(piece);
            if (i % 50 == 0) co_await w.drain();
        }
        w.close();
        co_await w.wait_closed();
        EXPECT_TRUE(co_await reader == sent);
    }());
}

// ---------------------------------------------------------------- EOF, errors, closing

TEST(Stream, WritingToAPipeWithoutReaderFailsWithEpipeInsteadOfSigpipe) {
    run_bounded([]() -> al::Task<void> {
        auto pipe = al::open_pipe();  // not a structured binding: clang 14 cannot capture those
        al::Stream& r = pipe.first;
        al::Stream& w = pipe.second;
        r.close();
        co_await expect_system_error(
            [&]() -> al::Task<void> {
                w.write("nobody listens");
                co_return;
            },
            EPIPE, "Stream::write");
        // The failure sticks: later writes and drains report it too.
        EXPECT_THROW(w.write("again"), std::system_error);
        co_await expect_system_error([&] { return w.drain(); }, EPIPE, "Stream::drain");
    }());
}

TEST(Stream, AFailedBackgroundSendIsReportedByDrain) {
    run_bounded([]() -> al::Task<void> {
        auto pair = al::open_socketpair();
        al::Stream& a = pair.first;
        al::Stream& b = pair.second;
        a.write(pattern(4 << 20));  // more than the kernel takes: the rest is buffered
        CO_ASSERT(a.write_buffer_size() > 0u);
        b.close();  // the peer goes away with the bytes unread
        co_await expect_system_error([&] { return a.drain(); }, EPIPE, "Stream::drain");
        a.close();
        co_await expect_system_error([&] { return a.wait_closed(); }, EPIPE, "Stream::wait_closed");
    }());
}

TEST(Stream, PeerResetIsAReadErrorNamingTheCall) {
    run_bounded([]() -> al::Task<void> {
        al::TcpListener listener = al::TcpListener::open();
        al::Stream client = co_await al::open_connection("127.0.0.1", listener.port());
        al::Stream server = co_await listener.accept();
        client.write("unread");
        co_await client.drain();
        co_await yield(3);
        server.abort();  // closing with unread bytes sends a reset
        co_await expect_system_error([&] { return client.read(10); }, ECONNRESET, "Stream::read");
    }());
}

TEST(Stream, WriteEofEndsOneDirectionOfASocket) {
    run_bounded([]() -> al::Task<void> {
        auto [a, b] = al::open_socketpair();
        EXPECT_TRUE(a.can_write_eof());
        a.write("question");
        a.write_eof();
        EXPECT_THROW(a.write("more"), al::UsageError);
        EXPECT_EQ(co_await read_to_eof(b), "question");
        b.write("answer");
        b.close();
        EXPECT_EQ(co_await read_to_eof(a), "answer");

        auto [pr, pw] = al::open_pipe();
        EXPECT_FALSE(pw.can_write_eof());
        EXPECT_THROW(pw.write_eof(), al::UsageError);
    }());
}

TEST(Stream, CloseSendsTheBufferedBytesBeforeClosing) {
    run_bounded([]() -> al::Task<void> {
        auto [w, r] = al::open_socketpair();
        const std::string sent = pattern(4 << 20, 13);
        w.write(sent);
        CO_ASSERT(w.write_buffer_size() > 0u);
        w.close();
        EXPECT_TRUE(w.is_closing());
        EXPECT_THROW(w.write("late"), al::UsageError);
        EXPECT_NE(w.fd(), -1) << "still sending";
        auto closed = al::create_task(w.wait_closed());
        EXPECT_TRUE(co_await read_to_eof(r) == sent);
        co_await closed;
        EXPECT_EQ(w.fd(), -1);
    }());
}

TEST(Stream, CloseEndsAReadInProgress) {
    run_bounded([]() -> al::Task<void> {
        auto [a, b] = al::open_socketpair();
        auto reader = al::create_task(b.read(10));
        co_await yield();
        b.close();
        EXPECT_EQ(co_await reader, "");
        EXPECT_TRUE(b.at_eof());
    }());
}

TEST(Stream, AbortDiscardsUnsentBytesAndTellsTheDrainer) {
    run_bounded([]() -> al::Task<void> {
        auto [a, b] = al::open_socketpair();
        a.write(pattern(4 << 20));
        auto drain = al::create_task(a.drain());
        co_await yield();
        a.abort();
        co_await expect_system_error([&]() -> al::Task<void> { co_await drain; }, ECANCELED, "Stream::drain");
        EXPECT_EQ(a.fd(), -1);
        std::string got = co_await read_to_eof(b);
        EXPECT_LT(got.size(), std::size_t{4 << 20});
    }());
}

TEST(Stream, DestroyingAStreamEndsTheTaskReadingIt) {
    run_bounded([]() -> al::Task<void> {
        auto pair = std::make_unique<std::pair<al::Stream, al::Stream>>(al::open_socketpair());
        auto reader = al::create_task(pair->second.readexactly(4));
        co_await yield();
        pair.reset();  // the reader holds the stream's core, not the Stream
        EXPECT_THROW(co_await reader, al::IncompleteReadError);
    }());
}

TEST(Stream, BorrowedDescriptorStaysOpen) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    run_bounded([](int rfd, int wfd) -> al::Task<void> {
        al::Stream w = al::Stream::borrow(wfd);
        al::Stream r = al::Stream::borrow(rfd);
        w.write("x");
        EXPECT_EQ(co_await r.read(1), "x");
        w.close();
        r.close();
    }(fds[0], fds[1]));
    EXPECT_EQ(::write(fds[1], "y", 1), 1) << "borrow must not close the descriptor";
    char c = 0;
    EXPECT_EQ(::read(fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'y');
    ::close(fds[0]);
    ::close(fds[1]);
}

// ---------------------------------------------------------------- misuse

TEST(Stream, MisuseIsAClearUsageError) {
    al::Stream empty;
    EXPECT_FALSE(empty);
    EXPECT_THROW((void)empty.read(1), al::UsageError);
    EXPECT_THROW(empty.write("x"), al::UsageError);
    EXPECT_EQ(empty.fd(), -1);
    EXPECT_THROW(al::Stream::adopt(-1), al::UsageError);
    al::StreamOptions inverted;
    inverted.low_water = inverted.high_water + 1;
    EXPECT_THROW(al::open_socketpair(inverted), al::UsageError);
    al::StreamOptions no_limit;
    no_limit.limit = 0;
    EXPECT_THROW(al::open_pipe(no_limit), al::UsageError);
    EXPECT_THROW(al::open_serial("/dev/null", 12345), al::UsageError);
    EXPECT_THROW(al::open_serial("/dev/null", 9600), std::system_error);  // not a terminal
    EXPECT_THROW(al::open_serial("/nonexistent/tty", 9600), std::system_error);

    auto [a, b] = al::open_socketpair();
    try {
        a.write("x");  // no loop runs on this thread
        ADD_FAILURE() << "expected UsageError";
    } catch (const al::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("ThreadSafeQueue"), std::string::npos) << e.what();
    }
}

TEST(Stream, ACallFromAnotherThreadIsAUsageError) {
    run_bounded([]() -> al::Task<void> {
        auto pair = al::open_socketpair();
        al::Stream& a = pair.first;
        al::Stream& b = pair.second;
        a.write("bound");  // binds `a` to this loop
        bool refused = false;
        std::thread other([&a, &refused] {
            try {
                a.write("from a thread");
            } catch (const al::UsageError&) {
                refused = true;
            }
        });
        other.join();
        EXPECT_TRUE(refused);
        EXPECT_EQ(co_await b.read(100), "bound");
    }());
}

// A stream that outlives its loop works on a new loop built where the old one
// lived: the old registration (kept for the next read) is known to be gone.
TEST(Stream, AStreamOutlivingItsLoopWorksOnANewLoopAtTheSameAddress) {
    auto [a, b] = al::open_socketpair();
    std::optional<al::Loop> loop;
    for (int round = 0; round < 3; ++round) {
        loop.emplace();
        loop->run_until_complete([](al::Stream& w, al::Stream& r, int n) -> al::Task<void> {
            auto reader = al::create_task(r.read(100));  // parks: readability is registered
            co_await yield();
            w.write("round " + std::to_string(n));
            EXPECT_EQ(co_await reader, "round " + std::to_string(n));
        }(a, b, round));
        loop.reset();
    }
}

TEST(Stream, BytesLeftBufferedWhenALoopEndsAreSentByTheNextLoop) {
    auto [w, r] = al::open_socketpair();
    const std::string sent = pattern(4 << 20, 21);
    std::optional<al::Loop> loop;
    loop.emplace();
    loop->run_until_complete([](al::Stream& s, const std::string& data) -> al::Task<void> {
        s.write(data);  // more than the kernel takes: the rest waits in the buffer, watched for writability
        CO_ASSERT(s.write_buffer_size() > 0u);
    }(w, sent));
    loop.reset();
    loop.emplace();
    loop->run_until_complete(bounded([](al::Stream& s, al::Stream& peer, const std::string& data) -> al::Task<void> {
        auto reader = al::create_task(peer.readexactly(data.size()));
        co_await s.drain();
        EXPECT_TRUE(co_await reader == data);
    }(w, r, sent)));
}

TEST(Stream, PendingReadIsCancelledCleanlyAtLoopShutdown) {
    auto [a, b] = al::open_socketpair();
    bool cancelled = false;
    al::run([](al::Stream& r, bool& flag) -> al::Task<void> {
        al::create_task([](al::Stream& s, bool& f) -> al::Task<void> {
            try {
                co_await s.read(10);
            } catch (const al::CancelledError&) {
                f = true;
                throw;
            }
        }(r, flag));
        co_await yield();
    }(b, cancelled));
    EXPECT_TRUE(cancelled);
}

// ---------------------------------------------------------------- kinds of descriptor

TEST(Stream, PipeCarriesBytesAndEndsWhenTheWriterCloses) {
    run_bounded([]() -> al::Task<void> {
        auto [r, w] = al::open_pipe();
        const std::string sent = pattern(1 << 20, 17);
        auto reader = al::create_task(read_to_eof(r));
        w.write(sent);
        w.close();
        co_await w.wait_closed();
        EXPECT_TRUE(co_await reader == sent);
    }());
}

TEST(Stream, TcpOnLoopbackConnectsAcceptsAndEchoes) {
    run_bounded([]() -> al::Task<void> {
        al::TcpListener listener = al::TcpListener::open();
        CO_ASSERT(listener.port() != 0);
        auto server = al::create_task([](al::TcpListener& l) -> al::Task<void> {
            for (int i = 0; i < 2; ++i) {
                al::Stream s = co_await l.accept();
                for (;;) {
                    std::string line = co_await s.readline();
                    if (line.empty()) break;
                    s.write("echo: " + line);
                    co_await s.drain();
                }
                s.close();
                co_await s.wait_closed();
            }
        }(listener));
        for (int i = 0; i < 2; ++i) {
            al::Stream c = co_await al::open_connection("127.0.0.1", listener.port());
            c.write("one\ntwo\n");
            EXPECT_EQ(co_await c.readline(), "echo: one\n");
            EXPECT_EQ(co_await c.readline(), "echo: two\n");
            c.write_eof();
            EXPECT_EQ(co_await c.readline(), "");
            c.close();
        }
        co_await server;
    }());
}

TEST(Stream, TcpConnectionRefusedAndClosedListenerAreErrors) {
    run_bounded([]() -> al::Task<void> {
        std::uint16_t port;
        {
            al::TcpListener gone = al::TcpListener::open();
            port = gone.port();
        }
        co_await expect_system_error([&] { return al::open_connection("127.0.0.1", port); }, ECONNREFUSED,
                                     "connect to 127.0.0.1 port");

        al::TcpListener listener = al::TcpListener::open();
        auto waiting = al::create_task(listener.accept());
        co_await yield();
        listener.close();
        co_await expect_system_error([&]() -> al::Task<void> { co_await waiting; }, EBADF, "closed listener");
    }());
}

TEST(Stream, PtyIsAnEightBitCleanSerialLineBothWays) {
    run_bounded([]() -> al::Task<void> {
        al::PtyPair pty = al::open_pty();
        EXPECT_NE(pty.terminal_path.find("/dev/pts/"), std::string::npos);
        std::string every_byte;
        for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
        std::string sent;
        for (int i = 0; i < 64; ++i) sent += every_byte;  // 16 KiB: more than the line buffers hold
        auto at_terminal = al::create_task(pty.terminal.readexactly(sent.size()));
        pty.controller.write(sent);
        co_await pty.controller.drain();
        EXPECT_TRUE(co_await at_terminal == sent) << "raw mode must pass every byte unchanged";
        auto at_controller = al::create_task(pty.controller.readexactly(sent.size()));
        pty.terminal.write(sent);
        co_await pty.terminal.drain();
        EXPECT_TRUE(co_await at_controller == sent);
    }());
}

TEST(Stream, PtyHangUpIsTheEndOfTheStream) {
    run_bounded([]() -> al::Task<void> {
        al::PtyPair pty = al::open_pty();
        pty.terminal.write("last words\nno newline");
        pty.terminal.close();
        co_await pty.terminal.wait_closed();
        EXPECT_EQ(co_await pty.controller.readline(), "last words\n");
        EXPECT_EQ(co_await pty.controller.readline(), "no newline");
        EXPECT_EQ(co_await pty.controller.read(10), "");
        EXPECT_TRUE(pty.controller.at_eof());
    }());
}

TEST(Stream, OpenSerialOpensThePtyTerminalByPath) {
    run_bounded([]() -> al::Task<void> {
        al::PtyPair pty = al::open_pty();
        al::Stream line = al::open_serial(pty.terminal_path, 115200);
        line.write("AT\r\n");
        EXPECT_EQ(co_await pty.controller.readuntil("\r\n"), "AT\r\n");
        pty.controller.write("OK\r\n");
        EXPECT_EQ(co_await line.readuntil("\r\n"), "OK\r\n");
    }());
}

}  // namespace

// A Stream destroyed on another thread while a task reads
// it would wake the reader from that thread (a data race, and an empty read):
// the program stops with a message instead.
TEST(StreamDeathTest, DestroyedOnAnotherThreadWhileATaskReadsStopsWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(run_bounded([]() -> al::Task<void> {
                     auto [w, r] = al::open_socketpair();
                     auto reader = al::create_task(r.read(10));
                     co_await yield(3);  // the reader waits for bytes
                     al::Stream* stream = &r;
                     std::thread([stream] { al::Stream dying = std::move(*stream); }).join();
                     co_await yield(3);
                     (void)co_await reader;
                 }()),
                 "Stream destroyed \\(or assigned to\\) on a thread that is not running its loop");
}
