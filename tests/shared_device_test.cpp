// SPDX-License-Identifier: BSL-1.0
// Sharing a stream device (the seed guide's section 5), over a socketpair and
// over a pseudo-terminal used as a serial line:
//   - transmission: tasks writing multi-part messages through one stream
//     under a Lock never interleave; without the Lock they do, and the check
//     catches it (the negative control proves the check can fail);
//   - reception: one task parses the byte stream and routes each message by
//     its header to a per-destination Queue; every message reaches exactly
//     its destination, in order.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/stress.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using test_support::stress_scale;

std::size_t scaled(std::size_t n, std::size_t at_least) {
    return std::max(at_least, static_cast<std::size_t>(static_cast<double>(n) * stress_scale()));
}

// A generous deadline turns a hang into a failure; nothing relies on it to pass.
al::Task<void> bounded(al::Task<void> body) { co_await al::wait_for(std::move(body), 120s); }

enum class Line { socketpair, pty_controller_to_terminal, pty_terminal_to_controller };

std::string line_name(const testing::TestParamInfo<Line>& info) {
    switch (info.param) {
    case Line::socketpair: return "Socketpair";
    case Line::pty_controller_to_terminal: return "PtyControllerToTerminal";
    case Line::pty_terminal_to_controller: return "PtyTerminalToController";
    }
    return "Unknown";
}

// {transmitting end, receiving end}. A small high-water mark makes drain()
// suspend often, so writers really are parked mid-message.
std::pair<al::Stream, al::Stream> open_line(Line line) {
    al::StreamOptions options;
    options.high_water = 2048;
    options.low_water = 512;
    if (line == Line::socketpair) return al::open_socketpair(options);
    al::PtyPair pty = al::open_pty(options);
    if (line == Line::pty_controller_to_terminal) return {std::move(pty.controller), std::move(pty.terminal)};
    return {std::move(pty.terminal), std::move(pty.controller)};
}

std::uint8_t byte_at(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }
char as_char(unsigned v) { return static_cast<char>(v & 0xff); }

// Writes `message` in 1-4 parts, each write() + drain(), and between parts
// yields 0-2 times: without a Lock another writer gets in there.
al::Task<void> write_in_parts(al::Stream& s, const std::string& message, std::mt19937& rng) {
    std::size_t parts = 1 + rng() % 4;
    std::size_t pos = 0;
    for (std::size_t part = 1; pos < message.size(); ++part) {
        std::size_t left = message.size() - pos;
        std::size_t n = part == parts ? left : std::min(left, 1 + rng() % (message.size() / parts + 1));
        s.write(std::string_view(message).substr(pos, n));
        co_await s.drain();
        pos += n;
        for (auto y = rng() % 3; y > 0; --y) co_await al::sleep(0);
    }
}

// ---------------------------------------------------------------- transmission

// [0xA5][writer][seq: 2][length: 2][payload: length][0x5A], the payload a
// function of (writer, seq, index), so any foreign byte is noticed.
constexpr unsigned max_payload = 600;

std::uint8_t payload_byte(unsigned writer, unsigned seq, std::size_t i) {
    return static_cast<std::uint8_t>(writer * 37 + seq * 11 + i * 3 + (i >> 5));
}

std::string framed(unsigned writer, unsigned seq, std::size_t length) {
    std::string m;
    m += as_char(0xA5);
    m += as_char(writer);
    m += as_char(seq);
    m += as_char(seq >> 8);
    m += as_char(static_cast<unsigned>(length));
    m += as_char(static_cast<unsigned>(length >> 8));
    for (std::size_t i = 0; i < length; ++i) m += static_cast<char>(payload_byte(writer, seq, i));
    m += as_char(0x5A);
    return m;
}

struct Parsed {
    std::vector<unsigned> next_seq;  ///< per writer: messages received intact, in order
    std::size_t intact = 0;
    std::string problem;  ///< the first thing wrong, empty if none
};

// Parses the received bytes back into messages; stops at the first one that
// is not exactly what some writer sent next.
Parsed parse(std::string_view bytes, unsigned writers) {
    Parsed p;
    p.next_seq.assign(writers, 0);
    std::size_t pos = 0;
    auto fail = [&](const std::string& what) { p.problem = what + " at byte " + std::to_string(pos); };
    while (pos < bytes.size()) {
        if (bytes.size() - pos < 7) return fail("truncated header"), p;
        if (byte_at(bytes, pos) != 0xA5) return fail("bad magic"), p;
        unsigned writer = byte_at(bytes, pos + 1);
        unsigned seq = byte_at(bytes, pos + 2) | byte_at(bytes, pos + 3) << 8;
        std::size_t length = byte_at(bytes, pos + 4) | byte_at(bytes, pos + 5) << 8;
        if (writer >= writers) return fail("unknown writer"), p;
        if (seq != p.next_seq[writer]) return fail("writer " + std::to_string(writer) + " out of order"), p;
        if (length > max_payload || bytes.size() - pos < 7 + length) return fail("bad length"), p;
        for (std::size_t i = 0; i < length; ++i) {
            if (byte_at(bytes, pos + 6 + i) != payload_byte(writer, seq, i)) return fail("foreign payload byte"), p;
        }
        if (byte_at(bytes, pos + 6 + length) != 0x5A) return fail("bad trailer"), p;
        ++p.next_seq[writer];
        ++p.intact;
        pos += 7 + length;
    }
    return p;
}

al::Task<void> transmitter(al::Stream& s, al::Lock* lock, const std::vector<std::string>& messages,
                           std::uint32_t seed) {
    std::mt19937 rng(seed);
    for (const std::string& m : messages) {
        std::optional<al::Lock::Guard> guard;
        if (lock != nullptr) guard = co_await lock->acquire();
        co_await write_in_parts(s, m, rng);
    }
}

struct TransmitOutcome {
    Parsed parsed;
    std::size_t messages = 0;
};

// `writers` tasks send `per_writer` messages each through one stream, under
// `lock` if given; the other end reads every byte and parses it.
al::Task<void> transmit(Line line, bool use_lock, unsigned writers, std::size_t per_writer, TransmitOutcome& out) {
    auto [tx, rx] = open_line(line);
    std::vector<std::vector<std::string>> plan(writers);
    std::size_t total = 0;
    std::mt19937 rng(1234);
    for (unsigned w = 0; w < writers; ++w) {
        for (unsigned seq = 0; seq < per_writer; ++seq) {
            plan[w].push_back(framed(w, seq, 1 + rng() % max_payload));
            total += plan[w].back().size();
        }
    }
    al::Lock lock;
    std::vector<al::TaskHandle<void>> senders;
    for (unsigned w = 0; w < writers; ++w) {
        senders.push_back(al::create_task(transmitter(tx, use_lock ? &lock : nullptr, plan[w], 100 + w)));
    }
    // Every byte arrives whether or not messages interleave, so this cannot hang.
    std::string received = co_await rx.readexactly(total);
    for (auto& s : senders) co_await s;
    out.parsed = parse(received, writers);
    out.messages = writers * per_writer;
}

class SharedDevice : public testing::TestWithParam<Line> {};

TEST_P(SharedDevice, MessagesWrittenUnderALockNeverInterleave) {
    const unsigned writers = 8;
    const std::size_t per_writer = scaled(1000, 50);
    TransmitOutcome out;
    al::run(bounded(transmit(GetParam(), true, writers, per_writer, out)));
    EXPECT_EQ(out.parsed.problem, "");
    EXPECT_EQ(out.parsed.intact, out.messages);
    for (unsigned w = 0; w < writers; ++w) EXPECT_EQ(out.parsed.next_seq[w], per_writer) << "writer " << w;
}

// The negative control: the same traffic without the Lock must be caught
// interleaving, or the test above proves nothing.
TEST_P(SharedDevice, WithoutTheLockInterleavingIsDetected) {
    const unsigned writers = 8;
    const std::size_t per_writer = scaled(1000, 50);
    TransmitOutcome out;
    al::run(bounded(transmit(GetParam(), false, writers, per_writer, out)));
    EXPECT_NE(out.parsed.problem, "") << "no interleaving seen among " << out.messages << " messages";
    EXPECT_LT(out.parsed.intact, out.messages);
}

// ---------------------------------------------------------------- reception and routing

// Frame: [destination][length: 2][payload]; payload: [destination][sender]
// [seq per (sender, destination): 2][filler], so a destination can tell a
// message meant for another, a lost one, a duplicate and a reordering.
constexpr unsigned destinations = 5;
constexpr unsigned senders = 4;

std::string routed_payload(unsigned dest, unsigned sender, unsigned seq, std::size_t filler) {
    std::string p;
    p += as_char(dest);
    p += as_char(sender);
    p += as_char(seq);
    p += as_char(seq >> 8);
    for (std::size_t i = 0; i < filler; ++i) p += as_char(dest * 7 + sender * 13 + seq + static_cast<unsigned>(i));
    return p;
}

std::string routed_frame(unsigned dest, const std::string& payload) {
    std::string f;
    f += as_char(dest);
    f += as_char(static_cast<unsigned>(payload.size()));
    f += as_char(static_cast<unsigned>(payload.size() >> 8));
    return f + payload;
}

// The one receiving task: parses the byte stream and routes by header.
al::Task<void> router(al::Stream& rx, std::vector<std::unique_ptr<al::Queue<std::string>>>& queues,
                      std::size_t messages, std::size_t& misrouted) {
    for (std::size_t i = 0; i < messages; ++i) {
        std::string header = co_await rx.readexactly(3);
        unsigned dest = byte_at(header, 0);
        std::size_t length = byte_at(header, 1) | byte_at(header, 2) << 8;
        std::string payload = co_await rx.readexactly(length);
        if (dest >= queues.size()) {
            ++misrouted;
            co_return;  // the stream is out of step: nothing after this can be trusted
        }
        co_await queues[dest]->put(std::move(payload));
    }
}

struct Inbox {
    std::size_t received = 0;
    std::vector<unsigned> next_seq = std::vector<unsigned>(senders, 0);
    std::string problem;
};

al::Task<void> destination(unsigned id, al::Queue<std::string>& queue, std::size_t expected, Inbox& inbox) {
    for (std::size_t i = 0; i < expected; ++i) {
        std::string p = co_await queue.get();
        ++inbox.received;
        if (!inbox.problem.empty()) continue;
        if (p.size() < 4 || byte_at(p, 0) != id) {
            inbox.problem = "a message for another destination";
            continue;
        }
        unsigned sender = byte_at(p, 1);
        unsigned seq = byte_at(p, 2) | byte_at(p, 3) << 8;
        if (sender >= senders || seq != inbox.next_seq[sender]) {
            inbox.problem = "lost, duplicated or reordered message";
            continue;
        }
        if (p != routed_payload(id, sender, seq, p.size() - 4)) inbox.problem = "corrupted payload";
        ++inbox.next_seq[sender];
    }
}

al::Task<void> route(Line line, std::size_t per_sender, std::vector<Inbox>& inboxes,
                     std::vector<std::vector<unsigned>>& sent_counts, std::size_t& misrouted) {
    auto [tx, rx] = open_line(line);
    // The plan: each sender's messages, each to a random destination.
    std::vector<std::vector<std::string>> frames(senders);
    std::vector<std::size_t> expected(destinations, 0);
    sent_counts.assign(destinations, std::vector<unsigned>(senders, 0));
    std::mt19937 rng(99);
    for (unsigned s = 0; s < senders; ++s) {
        for (std::size_t i = 0; i < per_sender; ++i) {
            auto dest = static_cast<unsigned>(rng() % destinations);
            unsigned seq = sent_counts[dest][s]++;
            frames[s].push_back(routed_frame(dest, routed_payload(dest, s, seq, rng() % 400)));
            ++expected[dest];
        }
    }
    al::Lock lock;
    std::vector<std::unique_ptr<al::Queue<std::string>>> queues;
    for (unsigned d = 0; d < destinations; ++d) queues.push_back(std::make_unique<al::Queue<std::string>>(4));
    inboxes.assign(destinations, Inbox{});
    std::vector<al::TaskHandle<void>> tasks;
    for (unsigned d = 0; d < destinations; ++d) {
        tasks.push_back(al::create_task(destination(d, *queues[d], expected[d], inboxes[d])));
    }
    for (unsigned s = 0; s < senders; ++s) {
        tasks.push_back(al::create_task(transmitter(tx, &lock, frames[s], 500 + s)));
    }
    co_await router(rx, queues, senders * per_sender, misrouted);
    for (auto& t : tasks) co_await t;
}

TEST_P(SharedDevice, OneReceiverRoutesEveryMessageToExactlyItsDestinationInOrder) {
    const std::size_t per_sender = scaled(1000, 50);
    std::vector<Inbox> inboxes;
    std::vector<std::vector<unsigned>> sent;
    std::size_t misrouted = 0;
    al::run(bounded(route(GetParam(), per_sender, inboxes, sent, misrouted)));
    EXPECT_EQ(misrouted, 0u);
    ASSERT_EQ(inboxes.size(), destinations);
    std::size_t total = 0;
    for (unsigned d = 0; d < destinations; ++d) {
        EXPECT_EQ(inboxes[d].problem, "") << "destination " << d;
        EXPECT_EQ(inboxes[d].next_seq, sent[d]) << "destination " << d << " missed messages";
        total += inboxes[d].received;
    }
    EXPECT_EQ(total, senders * per_sender);
}

INSTANTIATE_TEST_SUITE_P(Lines, SharedDevice,
                         testing::Values(Line::socketpair, Line::pty_controller_to_terminal,
                                         Line::pty_terminal_to_controller),
                         line_name);

}  // namespace
