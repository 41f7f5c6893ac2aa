// SPDX-License-Identifier: BSL-1.0
// The trace recorder: its lanes, the records, and the Chrome trace event
// export. See include/asynclink/trace.hpp; the file format is in
// docs/tracing.md.
//
// Layout. One buffer of lanes × capacity records (trace::Options), allocated
// by the first start(). Each context (a thread, or a signal handler inside a HandlerScope)
// claims a lane for the current recording by one CAS on the lane's session
// word, and remembers it in a thread_local (trivially initialised: safe to
// touch in a signal handler). A lane never wraps: its head counts the records
// taken, and once it reaches the capacity every further record is only
// counted as dropped, so nothing is overwritten and nobody waits.
//
// Records. A record is taken by a CAS on its lane's head (a handler that
// interrupts its own thread mid-record takes the next one: reentrant), then
// written seqlock-style: the sequence word says "busy", the seven data words
// are stored, and the sequence word is set to the record's stamp (the
// recording's session and the record's index) with release. The reader keeps
// a record only if it sees the stamp before and after reading the data, so a
// record still being written, or one left by an earlier recording, is
// skipped, never torn. Every word is an atomic: a writer that outlives
// stop() and start() (it passed the "recording" check before) races with
// nobody in the C++ sense, and at worst loses its record.
//
// Flow ids. A hand-over's flow id is its lane and its index there, unique in
// a recording without a shared counter. The primitive hands it to the loop
// with its wake-up (RemoteNode::trace_flow, a schedule() cell, a posted
// call); the loop sets it as the cause while it runs that wake-up, the task
// it wakes keeps it (TaskBase::trace_flow) and its next slice record carries
// it. The export pairs them into an arrow.
#include "asynclink/trace.hpp"

#if ASYNCLINK_TRACE

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "asynclink/errors.hpp"
#include "asynclink/loop.hpp"

#ifndef ASYNCLINK_VERSION
#define ASYNCLINK_VERSION "unknown"
#endif

namespace asynclink::trace {

namespace {

constexpr std::size_t max_lanes = 32;
constexpr std::uint32_t index_bits = 24;
constexpr std::uint32_t max_records = std::uint32_t{1} << index_bits;
constexpr std::uint32_t busy = 0xffffffffU;

/// What a record holds. Words 0-1: the time (clock ticks); word 2: kind |
/// op << 8 | flags << 16; word 3: the task's trace id; word 4: a flow id;
/// words 5-6: a 64-bit value (a duration, lateness, object address). A name
/// record holds its task in word 3 and 20 characters in words 0, 1, 4, 5, 6.
enum class Kind : std::uint8_t {
    empty,
    slice,  ///< value: duration; flow: the hand-over that woke the task
    created,
    finished,
    name,      ///< flags: which 24-character part of the name
    handover,  ///< op; flags: coalesced; flow: its own id; value: the object
    timer,     ///< flow: its own id; value: lateness
    stall,     ///< value: how long the task ran
};
constexpr std::uint32_t coalesced_flag = 1;
constexpr std::size_t name_part = 20;  ///< characters in one name record
constexpr std::size_t name_parts = 3;

struct Record {
    port::atomic<std::uint32_t> sequence{0};
    port::atomic<std::uint32_t> word[7] = {};
};
static_assert(sizeof(Record) == 32, "a record is half a cache line");

enum class LaneKind : std::uint32_t { thread, loop, handler };

struct Lane {
    /// The recording that claimed it; any other value: free.
    port::atomic<std::uint32_t> session{0};
    port::atomic<std::uint32_t> head{0};  ///< records taken, dropped ones included
    port::atomic<std::uint32_t> kind{0};
    port::atomic<std::uint32_t> number{0};  ///< the loop's id (its low 32 bits), or the thread's ordinal
    port::atomic<const char*> label{nullptr};
};

Lane lanes[max_lanes];
/// The records of every lane, lane after lane. A start() asking for another
/// size makes a new one and keeps the old (reachable through `previous`): a
/// writer that passed the "recording" check before may still be writing to it.
struct Buffer {
    std::uint32_t lanes;     ///< lanes in use (Options::lanes)
    std::uint32_t capacity;  ///< records per lane
    Buffer* previous;
    std::unique_ptr<Record[]> records;
    Record& at(std::uint32_t lane, std::uint32_t index) const noexcept {
        return records[static_cast<std::size_t>(lane) * capacity + index];
    }
};
port::atomic<Buffer*> buffer{nullptr};
port::atomic<std::uint32_t> session{0};
port::atomic<std::uint32_t> next_task_id{0};
port::atomic<std::uint32_t> next_thread{0};
port::atomic<std::uint32_t> lost{0};  ///< records of contexts that found no free lane

/// The calling thread's lanes. Trivially initialised (constinit), so a signal
/// handler may touch it.
struct ThreadLanes {
    Lane* lane = nullptr;
    std::uint32_t session = 0;
    Lane* handler = nullptr;  ///< inside a HandlerScope: its lane
    const char* label = nullptr;
};
constinit thread_local ThreadLanes self;

std::uint32_t stamp(std::uint32_t s, std::uint32_t index) noexcept { return (s << index_bits) | index; }
std::uint32_t lane_index(const Lane& lane) noexcept { return static_cast<std::uint32_t>(&lane - lanes); }

Lane* claim(std::uint32_t s, LaneKind kind, const char* label, std::uint32_t number) noexcept {
    // acquire: pairs with start()'s release, as in write().
    const Buffer* b = buffer.load(std::memory_order_acquire);
    std::uint32_t usable = b != nullptr ? b->lanes : 0;
    for (Lane& lane : lanes) {
        if (lane_index(lane) >= usable) break;
        // Relaxed: the CAS decides; the lane's words are each read whole.
        std::uint32_t owner = lane.session.load(std::memory_order_relaxed);
        if (owner == s) continue;
        if (lane.session.compare_exchange_strong(owner, s, std::memory_order_relaxed)) {
            lane.kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
            lane.label.store(label, std::memory_order_relaxed);
            lane.number.store(number, std::memory_order_relaxed);
            lane.head.store(0, std::memory_order_relaxed);
            return &lane;
        }
    }
    lost.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
}

Lane* current_lane() noexcept {
    if (self.handler != nullptr) return self.handler;
    // Relaxed: a stale session only makes this context claim a lane of the
    // recording it read.
    std::uint32_t s = session.load(std::memory_order_relaxed);
    if (self.session == s && self.lane != nullptr) return self.lane;
    // A handler that interrupts this claim (without a HandlerScope) may claim
    // one too: a lane wasted, nothing torn.
    Lane* lane = claim(s, LaneKind::thread, self.label, next_thread.fetch_add(1, std::memory_order_relaxed) + 1);
    self.lane = lane;
    self.session = s;
    return lane;
}

/// Takes the lane's next record and writes it; returns its index, or
/// max_records if it was dropped (lane full, or no lane). With `stamp_now`,
/// words 0-1 get the clock read once the record is taken (a dropped record
/// costs no clock read).
std::uint32_t write(Lane* lane, std::uint32_t (&words)[7], bool stamp_now) noexcept {
    if (lane == nullptr) return max_records;
    // acquire: pairs with start()'s release; the buffer's records exist.
    const Buffer* b = buffer.load(std::memory_order_acquire);
    if (b == nullptr) return max_records;
    std::uint32_t cap = b->capacity;
    std::uint32_t index = lane->head.load(std::memory_order_relaxed);
    do {
        // Full: count it (the head goes on counting) and keep what is there.
        if (index >= cap) {
            lane->head.fetch_add(1, std::memory_order_relaxed);
            return max_records;
        }
        // Relaxed: the CAS only hands out the index; the sequence word orders the data.
    } while (!lane->head.compare_exchange_weak(index, index + 1, std::memory_order_relaxed));
    if (stamp_now) {
        auto taken_at = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
        words[0] = static_cast<std::uint32_t>(taken_at);
        words[1] = static_cast<std::uint32_t>(taken_at >> 32);
    }
    Record& r = b->at(lane_index(*lane), index);
    r.sequence.store(busy, std::memory_order_relaxed);
    // release fence: a reader that sees any data word below also sees "busy".
    port::atomic_thread_fence(std::memory_order_release);
    for (std::size_t i = 0; i < 7; ++i) r.word[i].store(words[i], std::memory_order_relaxed);
    // release: a reader that sees the stamp sees the data.
    r.sequence.store(stamp(session.load(std::memory_order_relaxed), index), std::memory_order_release);
    return index;
}

std::uint64_t ticks(Clock::time_point t) noexcept { return static_cast<std::uint64_t>(t.time_since_epoch().count()); }

void fill(std::uint32_t (&w)[7], Clock::time_point t, Kind kind, std::uint32_t op_and_flags, std::uint32_t task,
          std::uint32_t flow, std::uint64_t value) noexcept {
    std::uint64_t ts = ticks(t);
    w[0] = static_cast<std::uint32_t>(ts);
    w[1] = static_cast<std::uint32_t>(ts >> 32);
    w[2] = static_cast<std::uint32_t>(kind) | (op_and_flags << 8);
    w[3] = task;
    w[4] = flow;
    w[5] = static_cast<std::uint32_t>(value);
    w[6] = static_cast<std::uint32_t>(value >> 32);
}

/// A record at `t`, or at the moment it is taken if `t` is `now`.
constexpr Clock::time_point now{};
std::uint32_t record(Lane* lane, Clock::time_point t, Kind kind, std::uint32_t op_and_flags, std::uint32_t task,
                     std::uint32_t flow, std::uint64_t value) noexcept {
    std::uint32_t w[7];
    fill(w, t, kind, op_and_flags, task, flow, value);
    return write(lane, w, t == now);
}

std::uint32_t flow_id(const Lane* lane, std::uint32_t index) noexcept {
    if (index >= max_records) return 0;
    return ((lane_index(*lane) + 1) << index_bits) | index;
}

/// The lane of the loop thread calling: named after the loop from now on.
Lane* loop_lane(std::uint64_t loop_id) noexcept {
    Lane* lane = current_lane();
    if (lane != nullptr && lane->kind.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(LaneKind::loop)) {
        lane->number.store(static_cast<std::uint32_t>(loop_id), std::memory_order_relaxed);
        lane->kind.store(static_cast<std::uint32_t>(LaneKind::loop), std::memory_order_relaxed);
    }
    return lane;
}

/// Gives the task its trace id, and puts its name in this recording once
/// (after its first step: create_task(task, name) names it after creating it).
std::uint32_t identify(Lane* lane, asynclink::detail::TaskBase& task) noexcept {
    if (task.trace_id == 0) task.trace_id = next_task_id.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint32_t s = session.load(std::memory_order_relaxed);
    if (task.trace_session == s || task.state == asynclink::detail::TaskState::created) return task.trace_id;
    task.trace_session = s;
    // No allocation here: the name is copied from the task's own string, or
    // printed into this buffer ("Task-<n>").
    char buf[name_part * name_parts] = {};
    std::size_t length = 0;
    if (task.name.empty()) {
        int n = std::snprintf(buf, sizeof buf, "Task-%" PRIu32, task.number);
        length = n > 0 ? static_cast<std::size_t>(n) : 0;
    } else {
        length = std::min(task.name.size(), sizeof buf);
        std::copy_n(task.name.data(), length, buf);
    }
    for (std::size_t part = 0; part == 0 || part * name_part < length; ++part) {
        std::uint32_t packed[5];
        for (std::size_t i = 0; i < 5; ++i) {
            packed[i] = 0;
            for (std::size_t b = 0; b < 4; ++b) {
                packed[i] |= static_cast<std::uint32_t>(static_cast<unsigned char>(buf[part * name_part + 4 * i + b]))
                             << (8 * b);
            }
        }
        std::uint32_t w[7] = {
            packed[0],     packed[1], static_cast<std::uint32_t>(Kind::name) | static_cast<std::uint32_t>(part) << 16,
            task.trace_id, packed[2], packed[3],
            packed[4]};
        write(lane, w, false);
    }
    return task.trace_id;
}

}  // namespace

// ---------------------------------------------------------------- the hooks

namespace detail {

std::uint32_t record_handover(Op op, const void* object, bool coalesced) noexcept {
    Lane* lane = current_lane();
    std::uint32_t flags =
        (static_cast<std::uint32_t>(coalesced ? coalesced_flag : 0) << 8) | static_cast<std::uint32_t>(op);
    std::uint32_t index = record(lane, now, Kind::handover, flags, 0, 0, reinterpret_cast<std::uintptr_t>(object));
    return flow_id(lane, index);
}

void record_slice(std::uint64_t loop_id, asynclink::detail::TaskBase& task, Clock::time_point begin,
                  Clock::time_point end) noexcept {
    Lane* lane = loop_lane(loop_id);
    std::uint32_t id = identify(lane, task);
    record(lane, begin, Kind::slice, 0, id, std::exchange(task.trace_flow, 0), ticks(end) - ticks(begin));
}

void record_task_created(asynclink::detail::TaskBase& task) noexcept {
    Lane* lane = current_lane();
    record(lane, now, Kind::created, 0, identify(lane, task), 0, 0);
}

void record_task_finished(asynclink::detail::TaskBase& task) noexcept {
    Lane* lane = current_lane();
    record(lane, now, Kind::finished, 0, identify(lane, task), 0, 0);
}

std::uint32_t record_timer(std::uint64_t loop_id, Clock::duration lateness) noexcept {
    Lane* lane = loop_lane(loop_id);
    std::uint32_t index =
        record(lane, now, Kind::timer, 0, 0, 0, static_cast<std::uint64_t>(std::max(lateness.count(), {})));
    return flow_id(lane, index);
}

void record_stall(asynclink::detail::TaskBase& task, Clock::duration ran_for) noexcept {
    Lane* lane = current_lane();
    record(lane, now, Kind::stall, 0, identify(lane, task), 0, static_cast<std::uint64_t>(ran_for.count()));
}

}  // namespace detail

// ---------------------------------------------------------------- control

void start(const Options& options) {
    if (options.records_per_lane == 0 || options.records_per_lane > max_records) {
        ASYNCLINK_THROW(UsageError, "trace::start: records_per_lane must be between 1 and 2^24, got " +
                                        std::to_string(options.records_per_lane));
    }
    if (options.lanes == 0 || options.lanes > max_lanes) {
        ASYNCLINK_THROW(UsageError, "trace::start: lanes must be between 1 and " + std::to_string(max_lanes) +
                                        ", got " + std::to_string(options.lanes));
    }
    // The buffers stay for the program's life: a writer that passed the
    // "recording" check before a later stop() may still be writing.
    auto cap = static_cast<std::uint32_t>(options.records_per_lane);
    auto count = static_cast<std::uint32_t>(options.lanes);
    Buffer* current = buffer.load(std::memory_order_acquire);
    if (current == nullptr || current->capacity != cap || current->lanes != count) {
        // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): never freed, see Buffer
        auto* fresh =
            new Buffer{count, cap, current, std::make_unique<Record[]>(count * static_cast<std::size_t>(cap))};
        // release: pairs with write()'s acquire; the records exist.
        buffer.store(fresh, std::memory_order_release);
    }
    // A new session frees every lane and invalidates every stamp of the last
    // recording (the low 8 bits of the session are in the stamp; 0 is never used).
    std::uint32_t s = session.load(std::memory_order_relaxed) + 1;
    if ((s & 0xff) == 0) ++s;
    session.store(s, std::memory_order_relaxed);
    next_thread.store(0, std::memory_order_relaxed);
    lost.store(0, std::memory_order_relaxed);
    // release: a context that sees recording on sees the session and buffer.
    detail::recording_word.store(1, std::memory_order_release);
}

void stop() noexcept {
    // Relaxed: a hook that still sees it on records one event more.
    detail::recording_word.store(0, std::memory_order_relaxed);
}

bool recording() noexcept { return detail::on(); }

void name_this_thread(const char* name) noexcept {
    self.label = name;
    if (self.lane != nullptr && self.session == session.load(std::memory_order_relaxed)) {
        self.lane->label.store(name, std::memory_order_relaxed);
    }
}

HandlerScope::HandlerScope(const char* name) noexcept : outer_(self.handler) {
    if (!detail::on()) return;
    std::uint32_t s = session.load(std::memory_order_relaxed);
    for (Lane& lane : lanes) {
        if (lane.session.load(std::memory_order_relaxed) == s &&
            lane.kind.load(std::memory_order_relaxed) == static_cast<std::uint32_t>(LaneKind::handler) &&
            lane.label.load(std::memory_order_relaxed) == name) {
            self.handler = &lane;
            return;
        }
    }
    if (Lane* lane = claim(s, LaneKind::handler, name, 0)) self.handler = lane;
}

HandlerScope::~HandlerScope() { self.handler = static_cast<Lane*>(outer_); }

// ---------------------------------------------------------------- export

namespace {

struct Event {
    std::uint32_t tid;
    std::uint32_t index;  ///< its slot in its lane: with tid, a source's flow id
    Kind kind;
    std::uint32_t flags;
    std::uint32_t task;
    std::uint32_t flow;
    std::uint64_t ts;  ///< nanoseconds
    std::uint64_t value;
    std::string text;  ///< a name record's characters
};

std::uint64_t nanoseconds(std::uint64_t t) noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::duration(static_cast<Clock::rep>(t))).count());
}

/// Microseconds with the nanoseconds as a fraction, as the format wants.
std::string micros(std::uint64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIu64 ".%03" PRIu64, ns / 1000, ns % 1000);
    return buf;
}

std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

const char* op_name(std::uint32_t op) noexcept {
    switch (static_cast<Op>(op)) {
    case Op::flag_set: return "ThreadSafeFlag.set";
    case Op::event_set: return "ThreadSafeEvent.set";
    case Op::message_set: return "Message.set";
    case Op::queue_put: return "ThreadSafeQueue.put";
    case Op::queue_get: return "ThreadSafeQueue.get";
    case Op::many_producer_put: return "ThreadSafeQueue<many_producers>.put";
    case Op::many_producer_get: return "ThreadSafeQueue<many_producers>.get";
    case Op::schedule: return "Loop.schedule";
    case Op::call_soon_threadsafe: return "Loop.call_soon_threadsafe";
    }
    return "handover";
}

std::string lane_name(const Lane& lane) {
    const char* label = lane.label.load(std::memory_order_relaxed);
    std::uint32_t number = lane.number.load(std::memory_order_relaxed);
    switch (static_cast<LaneKind>(lane.kind.load(std::memory_order_relaxed))) {
    case LaneKind::loop: return "loop #" + std::to_string(number);
    case LaneKind::handler: return std::string("handler ") + (label != nullptr ? label : "?");
    case LaneKind::thread: break;
    }
    return "thread " + (label != nullptr ? std::string(label) : std::to_string(number));
}

}  // namespace

namespace {

/// Copies out the valid records of the current recording.
std::vector<Event> collect(std::vector<std::uint32_t>& tids, std::map<std::string, std::uint64_t>& dropped) {
    std::vector<Event> events;
    // acquire: pairs with start()'s release (the buffer's records exist).
    const Buffer* b = buffer.load(std::memory_order_acquire);
    if (b == nullptr) return events;
    std::uint32_t cap = b->capacity;
    std::uint32_t s = session.load(std::memory_order_relaxed);
    for (std::uint32_t li = 0; li < b->lanes; ++li) {
        const Lane& lane = lanes[li];
        if (lane.session.load(std::memory_order_relaxed) != s) continue;
        std::uint32_t head = lane.head.load(std::memory_order_relaxed);
        if (head > cap) dropped[lane_name(lane)] += head - cap;
        tids.push_back(li + 1);
        for (std::uint32_t i = 0; i < std::min(head, cap); ++i) {
            const Record& r = b->at(li, i);
            // acquire: pairs with the writer's release of the stamp.
            std::uint32_t before = r.sequence.load(std::memory_order_acquire);
            if (before != stamp(s, i)) continue;  // being written, or another recording's
            std::uint32_t w[7];
            for (std::size_t k = 0; k < 7; ++k) w[k] = r.word[k].load(std::memory_order_relaxed);
            // acquire fence: the data loads above happen before the re-check.
            port::atomic_thread_fence(std::memory_order_acquire);
            if (r.sequence.load(std::memory_order_relaxed) != before) continue;
            Event e{};
            e.tid = li + 1;
            e.index = i;
            e.kind = static_cast<Kind>(w[2] & 0xff);
            e.flags = w[2] >> 8;
            e.task = w[3];
            if (e.kind == Kind::name) {
                for (std::uint32_t word : {w[0], w[1], w[4], w[5], w[6]}) {
                    for (int byte = 0; byte < 4; ++byte) {
                        auto c = static_cast<char>((word >> (8 * byte)) & 0xff);
                        if (c != '\0') e.text += c;
                    }
                }
            } else {
                e.ts = nanoseconds(w[0] | static_cast<std::uint64_t>(w[1]) << 32);
                e.flow = w[4];
                e.value = w[5] | static_cast<std::uint64_t>(w[6]) << 32;
            }
            events.push_back(std::move(e));
        }
    }
    if (std::uint32_t n = lost.load(std::memory_order_relaxed); n != 0) dropped["(no free lane)"] += n;
    return events;
}

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "\"0x%" PRIx64 "\"", v);
    return buf;
}

}  // namespace

void write_chrome_json(std::ostream& out) {
    std::vector<std::uint32_t> tids;
    std::map<std::string, std::uint64_t> dropped;
    std::vector<Event> events = collect(tids, dropped);

    // Names (in parts), the sources an arrow may start at (by flow id), and
    // the slices that end one (each gets an arrow of its own).
    std::map<std::uint32_t, std::map<std::uint32_t, std::string>> parts;
    std::map<std::uint32_t, std::size_t> sources;
    std::map<std::size_t, std::vector<std::size_t>> woken;  // source -> slices
    std::uint64_t base = UINT64_MAX;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        if (e.kind == Kind::name) {
            parts[e.task][e.flags >> 8] = e.text;
            continue;
        }
        base = std::min(base, e.ts);
        if (e.kind == Kind::handover || e.kind == Kind::timer) sources[(e.tid << index_bits) | e.index] = i;
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        if (e.kind != Kind::slice || e.flow == 0) continue;
        if (auto it = sources.find(e.flow); it != sources.end()) woken[it->second].push_back(i);
    }
    if (base == UINT64_MAX) base = 0;
    auto name_of = [&](std::uint32_t task) {
        auto it = parts.find(task);
        if (it == parts.end()) return "task#" + std::to_string(task);
        std::string n;
        for (const auto& part : it->second) n += part.second;
        return n;
    };
    auto at = [&](const Event& e) {
        return ",\"pid\":1,\"tid\":" + std::to_string(e.tid) + ",\"ts\":" + micros(e.ts - base);
    };

    out << "{\"traceEvents\":[\n";
    bool first = true;
    auto emit = [&](const std::string& json) {
        out << (first ? "" : ",\n") << json;
        first = false;
    };
    for (std::uint32_t tid : tids) {
        const Lane& lane = lanes[tid - 1];
        auto kind = static_cast<LaneKind>(lane.kind.load(std::memory_order_relaxed));
        std::uint32_t order = kind == LaneKind::loop ? 0 : kind == LaneKind::thread ? 1 : 2;
        emit("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":" + std::to_string(tid) +
             ",\"args\":{\"name\":" + quoted(lane_name(lane)) + "}}");
        emit("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":" + std::to_string(tid) +
             ",\"args\":{\"sort_index\":" + std::to_string(order * 100 + tid) + "}}");
    }
    std::uint64_t next_arrow = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        std::string task = std::to_string(e.task);
        switch (e.kind) {
        case Kind::slice:
            emit("{\"ph\":\"X\",\"cat\":\"task\",\"name\":" + quoted(name_of(e.task)) + at(e) +
                 ",\"dur\":" + micros(nanoseconds(e.value)) + ",\"args\":{\"task\":" + task + "}}");
            break;
        case Kind::created:
        case Kind::finished:
            emit(std::string("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"task\",\"name\":") +
                 quoted((e.kind == Kind::created ? "create " : "finish ") + name_of(e.task)) + at(e) +
                 ",\"args\":{\"task\":" + task + "}}");
            break;
        case Kind::stall:
            emit("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"stall\",\"name\":" + quoted("stall " + name_of(e.task)) + at(e) +
                 ",\"args\":{\"task\":" + task + ",\"duration_ns\":" + std::to_string(nanoseconds(e.value)) + "}}");
            break;
        case Kind::handover:
        case Kind::timer: {
            auto it = woken.find(i);
            std::string args;
            if (e.kind == Kind::handover) {
                args = "\"object\":" + hex(e.value);
                if (it != woken.end()) args += ",\"task\":" + std::to_string(events[it->second.front()].task);
                if (((e.flags >> 8) & coalesced_flag) != 0) args += ",\"coalesced\":true";
                emit(std::string("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"handover\",\"name\":\"") +
                     op_name(e.flags & 0xff) + "\"" + at(e) + ",\"args\":{" + args + "}}");
            } else {
                args = "\"lateness_ns\":" + std::to_string(nanoseconds(e.value));
                if (it != woken.end()) args += ",\"task\":" + std::to_string(events[it->second.front()].task);
                emit("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"timer\",\"name\":\"timer fired\"" + at(e) + ",\"args\":{" +
                     args + "}}");
            }
            if (it == woken.end()) break;
            for (std::size_t slice : it->second) {
                const Event& f = events[slice];
                std::string id = std::to_string(++next_arrow);
                std::uint64_t latency = f.ts > e.ts ? f.ts - e.ts : 0;
                emit("{\"ph\":\"s\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":" + id + at(e) + "}");
                emit("{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":" + id + at(f) +
                     ",\"args\":{\"latency_ns\":" + std::to_string(latency) + "}}");
            }
            break;
        }
        case Kind::empty:
        case Kind::name: break;
        }
    }
    out << "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"asynclink\":\"" ASYNCLINK_VERSION "\",\"dropped\":{";
    bool first_drop = true;
    for (const auto& [lane, n] : dropped) {
        out << (first_drop ? "" : ",") << quoted(lane) << ":" << n;
        first_drop = false;
    }
    out << "},\"clock\":\"steady\"}}\n";
}

void write_chrome_json(const std::string& path) {
    std::ofstream file(path);
    if (!file) throw std::runtime_error("asynclink: cannot write the trace to " + path);
    write_chrome_json(file);
    file.close();
    if (!file) throw std::runtime_error("asynclink: writing the trace to " + path + " failed");
}

}  // namespace asynclink::trace

#endif
