// SPDX-License-Identifier: BSL-1.0
// The trace recorder: its lanes, the records, and the raw dump. Every port
// that has the recorder (include/asynclink/trace.hpp); the JSON export is
// hosted (src/trace_export.cpp). The formats are in docs/tracing.md.
//
// Layout. One buffer of lanes × capacity records (trace::Options): allocated
// by the first start() where there is a heap, a static ring on bare metal.
// Each context claims a lane for the current recording by one CAS on the
// lane's owner word, which holds the recording's session and the context's
// key. Hosted, a context is a thread (or a signal handler inside a
// HandlerScope) and remembers its lane in a thread_local (trivially
// initialised: safe to touch in a signal handler); its key is 0. Bare metal,
// a context is an exception number (0: thread mode), its key that number + 1,
// and it finds its lane by that key. A lane never wraps: its head counts the
// records taken, and once it reaches the capacity every further record is
// only counted as dropped, so nothing is overwritten and nobody waits.
//
// Records. A record is taken by a CAS on its lane's head (a handler that
// interrupts its own context mid-record takes the next one: reentrant), then
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
#include <bit>
#include <string_view>

#include "asynclink/errors.hpp"
#include "asynclink/loop.hpp"
#include "trace_format.hpp"

#if ASYNCLINK_PORT_HAS_THREADS
#include <string>
#endif

namespace asynclink::trace {

namespace {

using format::coalesced_flag;
using format::index_bits;
using format::Kind;
using format::LaneKind;
using format::max_records;
using format::name_part;
using format::name_parts;

#if ASYNCLINK_PORT_HAS_THREADS
constexpr std::size_t max_lanes = 32;
#else
constexpr std::size_t max_lanes = ASYNCLINK_TRACE_LANES;
static_assert(ASYNCLINK_TRACE_LANES >= 1 && ASYNCLINK_TRACE_LANES <= 32, "ASYNCLINK_TRACE_LANES: 1 to 32");
static_assert(ASYNCLINK_TRACE_RECORDS >= 1 && ASYNCLINK_TRACE_RECORDS <= max_records,
              "ASYNCLINK_TRACE_RECORDS: 1 to 2^24");
#endif
constexpr std::uint32_t busy = 0xffffffffU;

struct Record {
    port::atomic<std::uint32_t> sequence{0};
    port::atomic<std::uint32_t> word[format::record_words] = {};
};
static_assert(sizeof(Record) == 32, "a record is half a cache line");

/// An owner word: the session in the high bits, the context's key (bare metal:
/// exception number + 1; hosted: 0) in the low ones.
constexpr std::uint32_t key_bits = 10;
constexpr std::uint32_t owner(std::uint32_t s, std::uint32_t key) noexcept { return (s << key_bits) | key; }
constexpr bool owned_in(std::uint32_t owner_word, std::uint32_t s) noexcept {
    return (owner_word >> key_bits) == (s & (~std::uint32_t{0} >> key_bits));
}

struct Lane {
    /// The recording and context that claimed it; any other session: free.
    port::atomic<std::uint32_t> owner{0};
    port::atomic<std::uint32_t> head{0};  ///< records taken, dropped ones included
    /// Added to a record's index in its flow id (modulo 2^24): advanced by
    /// the records a recording took whenever the lane is claimed again, so a
    /// flow id left behind by an earlier recording (in a task, a posted node)
    /// names no record of a later one.
    port::atomic<std::uint32_t> flow_base{0};
    port::atomic<std::uint32_t> kind{0};
    port::atomic<std::uint32_t> number{0};  ///< the loop's id (its low 32 bits), the thread's ordinal, the exception
    port::atomic<const char*> label{nullptr};
};

Lane lanes[max_lanes];
/// The records of every lane, lane after lane. Hosted, a start() asking for
/// another size makes a new one and keeps the old (reachable through
/// `previous`): a writer that passed the "recording" check before may still be
/// writing to it.
struct Buffer {
    std::uint32_t lanes;     ///< lanes in use (Options::lanes)
    std::uint32_t capacity;  ///< records per lane
    Buffer* previous;
    Record* records;
    Record& at(std::uint32_t lane, std::uint32_t index) const noexcept {
        return records[static_cast<std::size_t>(lane) * capacity + index];
    }
};
#if !ASYNCLINK_PORT_HAS_THREADS
Record ring[static_cast<std::size_t>(ASYNCLINK_TRACE_LANES) * ASYNCLINK_TRACE_RECORDS];
Buffer ring_buffer{ASYNCLINK_TRACE_LANES, ASYNCLINK_TRACE_RECORDS, nullptr, ring};
#endif
port::atomic<Buffer*> buffer{nullptr};
port::atomic<std::uint32_t> session{0};
port::atomic<std::uint32_t> next_task_id{0};
port::atomic<std::uint32_t> next_thread{0};
port::atomic<std::uint32_t> lost{0};  ///< records of contexts that found no free lane

std::uint32_t stamp(std::uint32_t s, std::uint32_t index) noexcept { return (s << index_bits) | index; }
std::uint32_t lane_index(const Lane& lane) noexcept { return static_cast<std::uint32_t>(&lane - lanes); }

/// The lanes this recording may use.
std::uint32_t usable_lanes() noexcept {
    // acquire: pairs with start()'s release, as in write().
    const Buffer* b = buffer.load(std::memory_order_acquire);
    return b != nullptr ? b->lanes : 0;
}

Lane* claim(std::uint32_t s, std::uint32_t key, LaneKind kind, const char* label, std::uint32_t number) noexcept {
    std::uint32_t usable = usable_lanes();
    for (Lane& lane : lanes) {
        if (lane_index(lane) >= usable) break;
        // Relaxed: the CAS decides; the lane's words are each read whole.
        std::uint32_t was = lane.owner.load(std::memory_order_relaxed);
        if (owned_in(was, s)) continue;
        if (lane.owner.compare_exchange_strong(was, owner(s, key), std::memory_order_relaxed)) {
            lane.kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
            lane.label.store(label, std::memory_order_relaxed);
            lane.number.store(number, std::memory_order_relaxed);
            // Relaxed, as the words above: only the claimer writes them now.
            std::uint32_t taken = lane.head.exchange(0, std::memory_order_relaxed);
            lane.flow_base.store((lane.flow_base.load(std::memory_order_relaxed) + taken) & (max_records - 1),
                                 std::memory_order_relaxed);
            return &lane;
        }
    }
    lost.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
}

#if ASYNCLINK_PORT_HAS_THREADS

/// The calling thread's lanes. Trivially initialised (constinit), so a signal
/// handler may touch it.
struct ThreadLanes {
    Lane* lane = nullptr;
    std::uint32_t session = 0;
    Lane* handler = nullptr;  ///< inside a HandlerScope: its lane
    const char* label = nullptr;
};
constinit thread_local ThreadLanes self;

Lane* current_lane() noexcept {
    if (self.handler != nullptr) return self.handler;
    // Relaxed: a stale session only makes this context claim a lane of the
    // recording it read.
    std::uint32_t s = session.load(std::memory_order_relaxed);
    if (self.session == s && self.lane != nullptr) return self.lane;
    // A handler that interrupts this claim (without a HandlerScope) may claim
    // one too: a lane wasted, nothing torn.
    Lane* lane = claim(s, 0, LaneKind::thread, self.label, next_thread.fetch_add(1, std::memory_order_relaxed) + 1);
    self.lane = lane;
    self.session = s;
    return lane;
}

#else

/// The exception running (IPSR): 0 in thread mode, 15 in SysTick, 16 + n in IRQ n.
std::uint32_t exception_number() noexcept {
    std::uint32_t ipsr = 0;
    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    return ipsr & 0x1ffU;
}

/// The lane of the exception running. The owner word names the context, so a
/// higher-priority handler that preempts a claim never takes the lane being
/// claimed for another; the same exception does not preempt itself.
Lane* current_lane() noexcept {
    std::uint32_t key = exception_number() + 1;
    // Relaxed: as hosted, a stale session only claims a lane of the recording read.
    std::uint32_t s = session.load(std::memory_order_relaxed);
    std::uint32_t mine = owner(s, key);
    std::uint32_t usable = usable_lanes();
    for (Lane& lane : lanes) {
        if (lane_index(lane) >= usable) break;
        if (lane.owner.load(std::memory_order_relaxed) == mine) return &lane;
    }
    return claim(s, key, key == 1 ? LaneKind::thread : LaneKind::handler, nullptr, key - 1);
}

#endif

/// Takes the lane's next record and writes it; returns its index, or
/// max_records if it was dropped (lane full, or no lane). With `stamp_now`,
/// words 0-1 get the clock read once the record is taken (a dropped record
/// costs no clock read).
std::uint32_t flow_id(const Lane* lane, std::uint32_t index) noexcept;

std::uint32_t write(Lane* lane, std::uint32_t (&words)[format::record_words], bool stamp_now) noexcept {
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
    // A hand-over or a timer carries its own flow id: the export pairs the
    // ids the woken carry with these (format version 2).
    if (auto kind = static_cast<Kind>(words[2] & 0xff); kind == Kind::handover || kind == Kind::timer) {
        words[4] = flow_id(lane, index);
    }
    if (stamp_now) {
        auto taken_at = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
        words[0] = static_cast<std::uint32_t>(taken_at);
        words[1] = static_cast<std::uint32_t>(taken_at >> 32);
    }
    Record& r = b->at(lane_index(*lane), index);
    r.sequence.store(busy, std::memory_order_relaxed);
    // release fence: a reader that sees any data word below also sees "busy".
    port::atomic_thread_fence(std::memory_order_release);
    for (std::size_t i = 0; i < format::record_words; ++i) r.word[i].store(words[i], std::memory_order_relaxed);
    // release: a reader that sees the stamp sees the data.
    r.sequence.store(stamp(session.load(std::memory_order_relaxed), index), std::memory_order_release);
    return index;
}

std::uint64_t ticks(Clock::time_point t) noexcept { return static_cast<std::uint64_t>(t.time_since_epoch().count()); }

void fill(std::uint32_t (&w)[format::record_words], Clock::time_point t, Kind kind, std::uint32_t op_and_flags,
          std::uint32_t task, std::uint32_t flow, std::uint64_t value) noexcept {
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
    std::uint32_t w[format::record_words];
    fill(w, t, kind, op_and_flags, task, flow, value);
    return write(lane, w, t == now);
}

/// A hand-over or a timer, recorded now: its flow id, which write() put in
/// the record (0 if it was dropped).
std::uint32_t record_source(Lane* lane, Kind kind, std::uint32_t op_and_flags, std::uint64_t value) noexcept {
    std::uint32_t w[format::record_words];
    fill(w, now, kind, op_and_flags, 0, 0, value);
    write(lane, w, true);
    return w[4];
}

std::uint32_t flow_id(const Lane* lane, std::uint32_t index) noexcept {
    if (index >= max_records) return 0;
    // Relaxed: set by the claim of this lane for this recording, on this
    // context or before the lane was handed to it.
    std::uint32_t numbered = (lane->flow_base.load(std::memory_order_relaxed) + index) & (max_records - 1);
    return ((lane_index(*lane) + 1) << index_bits) | numbered;
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

/// The name the task was given ("" if none).
std::string_view given_name(const asynclink::detail::TaskBase& task) noexcept {
#if ASYNCLINK_PORT_HAS_THREADS
    return task.name;
#else
    return task.name != nullptr ? std::string_view(task.name) : std::string_view();
#endif
}

/// Writes `prefix` and `number` in decimal into `out` (no allocation, no
/// printf: legal in a handler, small on bare metal), cut at `size`; its length.
std::size_t prefixed_number(char* out, std::size_t size, std::string_view prefix, std::uint32_t number) noexcept {
    char digits[10];
    std::size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + number % 10);
        number /= 10;
    } while (number != 0);
    std::size_t length = std::min(size, prefix.size() + n);
    for (std::size_t i = 0; i < length; ++i)
        out[i] = i < prefix.size() ? prefix[i] : digits[n - 1 - (i - prefix.size())];
    return length;
}

/// Gives the task its trace id, and puts its name in this recording once
/// (after its first step: create_task(task, name) names it after creating it).
std::uint32_t identify(Lane* lane, asynclink::detail::TaskBase& task) noexcept {
    if (task.trace_id == 0) task.trace_id = next_task_id.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint32_t s = session.load(std::memory_order_relaxed);
    if (task.trace_session == s || task.state == asynclink::detail::TaskState::created) return task.trace_id;
    task.trace_session = s;
    // No allocation here: the name is copied from the task's own string, or
    // written into this buffer ("Task-<n>").
    char buf[name_part * name_parts] = {};
    std::string_view given = given_name(task);
    std::size_t length = 0;
    if (given.empty()) {
        length = prefixed_number(buf, sizeof buf, "Task-", task.number);  // asyncio's default name
    } else {
        length = std::min(given.size(), sizeof buf);
        std::copy_n(given.data(), length, buf);
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
        std::uint32_t w[format::record_words] = {
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
    std::uint32_t flags =
        (static_cast<std::uint32_t>(coalesced ? coalesced_flag : 0) << 8) | static_cast<std::uint32_t>(op);
    return record_source(current_lane(), Kind::handover, flags, reinterpret_cast<std::uintptr_t>(object));
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
    return record_source(loop_lane(loop_id), Kind::timer, 0,
                         static_cast<std::uint64_t>(std::max(lateness.count(), {})));
}

void record_stall(asynclink::detail::TaskBase& task, Clock::duration ran_for) noexcept {
    Lane* lane = current_lane();
    record(lane, now, Kind::stall, 0, identify(lane, task), 0, static_cast<std::uint64_t>(ran_for.count()));
}

void record_sleep(std::uint64_t loop_id, Clock::time_point begin, Clock::time_point end) noexcept {
    record(loop_lane(loop_id), begin, Kind::sleep, 0, 0, 0, ticks(end) - ticks(begin));
}

void record_thread_woken(std::uint32_t flow) noexcept { record(current_lane(), now, Kind::woken, 0, 0, flow, 0); }

bool holds_old_flow(const asynclink::detail::TaskBase& task) noexcept {
    // A task's first recorded slice in a recording writes its name there and
    // takes its flow id: until then, any flow id it holds is an older one's.
    // Relaxed: as current_lane().
    return task.trace_session != session.load(std::memory_order_relaxed);
}

}  // namespace detail

// ---------------------------------------------------------------- control

void start(const Options& options) {
#if ASYNCLINK_PORT_HAS_THREADS
    constexpr std::size_t most_records = max_records;
#else
    constexpr std::size_t most_records = ASYNCLINK_TRACE_RECORDS;
#endif
    if (options.records_per_lane == 0 || options.records_per_lane > most_records) {
        ASYNCLINK_THROW(UsageError, "trace::start: records_per_lane must be between 1 and " +
                                        std::to_string(most_records) + ", got " +
                                        std::to_string(options.records_per_lane));
    }
    if (options.lanes == 0 || options.lanes > max_lanes) {
        ASYNCLINK_THROW(UsageError, "trace::start: lanes must be between 1 and " + std::to_string(max_lanes) +
                                        ", got " + std::to_string(options.lanes));
    }
    auto cap = static_cast<std::uint32_t>(options.records_per_lane);
    auto count = static_cast<std::uint32_t>(options.lanes);
#if ASYNCLINK_PORT_HAS_THREADS
    // The buffers stay for the program's life: a writer that passed the
    // "recording" check before a later stop() may still be writing.
    Buffer* current = buffer.load(std::memory_order_acquire);
    if (current == nullptr || current->capacity != cap || current->lanes != count) {
        // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): never freed, see Buffer
        auto* fresh = new Buffer{count, cap, current, new Record[count * static_cast<std::size_t>(cap)]};
        // release: pairs with write()'s acquire; the records exist.
        buffer.store(fresh, std::memory_order_release);
    }
#else
    // One static ring: a smaller shape reuses its start. Set before a
    // recording, so no writer reads it while it changes.
    ring_buffer.lanes = count;
    ring_buffer.capacity = cap;
    // release: pairs with write()'s acquire.
    buffer.store(&ring_buffer, std::memory_order_release);
#endif
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

#if ASYNCLINK_PORT_HAS_THREADS

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
        if (owned_in(lane.owner.load(std::memory_order_relaxed), s) &&
            lane.kind.load(std::memory_order_relaxed) == static_cast<std::uint32_t>(LaneKind::handler) &&
            lane.label.load(std::memory_order_relaxed) == name) {
            self.handler = &lane;
            return;
        }
    }
    if (Lane* lane = claim(s, 0, LaneKind::handler, name, 0)) self.handler = lane;
}

HandlerScope::~HandlerScope() { self.handler = static_cast<Lane*>(outer_); }

#else

// Bare metal: the exception already has its own lane; the scope names it.
HandlerScope::HandlerScope(const char* name) noexcept : outer_(nullptr) {
    if (!detail::on()) return;
    if (Lane* lane = current_lane()) lane->label.store(name, std::memory_order_relaxed);
}

HandlerScope::~HandlerScope() = default;

#endif

// ---------------------------------------------------------------- dump

namespace {

/// Little-endian words to the sink, a buffer at a time.
class DumpWriter {
public:
    DumpWriter(Sink sink, void* context) noexcept : sink_(sink), context_(context) {}
    DumpWriter(const DumpWriter&) = delete;
    DumpWriter& operator=(const DumpWriter&) = delete;
    ~DumpWriter() { flush(); }

    void word(std::uint32_t w) noexcept {
        for (int i = 0; i < 4; ++i) bytes_[size_++] = static_cast<unsigned char>(w >> (8 * i));
        if (size_ == sizeof bytes_) flush();
    }
    /// `text` in label_words words, cut to leave a final NUL.
    void label(std::string_view text) noexcept {
        constexpr std::size_t room = format::label_words * 4;
        text = text.substr(0, room - 1);
        for (std::size_t i = 0; i < format::label_words; ++i) {
            std::uint32_t w = 0;
            for (std::size_t b = 0; b < 4; ++b) {
                std::size_t at = 4 * i + b;
                if (at < text.size()) w |= static_cast<std::uint32_t>(static_cast<unsigned char>(text[at])) << (8 * b);
            }
            word(w);
        }
    }
    void flush() noexcept {
        if (size_ != 0) sink_(bytes_, size_, context_);
        size_ = 0;
    }

private:
    Sink sink_;
    void* context_;
    unsigned char bytes_[64];
    std::size_t size_ = 0;
};

/// The lane's label as the dump carries it: the name given, or (bare metal)
/// the exception's. Hosted, the export names unlabelled lanes by number.
std::string_view label_of(const Lane& lane, char (&scratch)[16]) noexcept {
    if (const char* label = lane.label.load(std::memory_order_relaxed)) return label;
#if !ASYNCLINK_PORT_HAS_THREADS
    std::uint32_t exception = lane.number.load(std::memory_order_relaxed);
    if (lane.kind.load(std::memory_order_relaxed) == static_cast<std::uint32_t>(LaneKind::handler)) {
        switch (exception) {
        case 2: return "NMI";
        case 3: return "HardFault";
        case 11: return "SVCall";
        case 14: return "PendSV";
        case 15: return "SysTick";
        default: break;
        }
        bool irq = exception >= 16;
        return {scratch,
                prefixed_number(scratch, sizeof scratch, irq ? "IRQ" : "exception ", irq ? exception - 16 : exception)};
    }
#else
    (void)scratch;
#endif
    return {};
}

}  // namespace

void dump(Sink sink, void* context) noexcept {
    DumpWriter out(sink, context);
    // acquire: pairs with start()'s release (the buffer's records exist).
    const Buffer* b = buffer.load(std::memory_order_acquire);
    std::uint32_t s = session.load(std::memory_order_relaxed);
    std::uint32_t cap = b != nullptr ? b->capacity : 0;
    // The lanes owned now are the ones written: the header promises their
    // count, and a late writer may claim another before the loop below gets
    // there (it is in the next dump).
    std::uint32_t counted = 0;  // bit li: lane li
    for (std::uint32_t li = 0; b != nullptr && li < b->lanes; ++li) {
        if (owned_in(lanes[li].owner.load(std::memory_order_relaxed), s)) counted |= std::uint32_t{1} << li;
    }
    out.word(format::magic);
    out.word(format::version);
    out.word(static_cast<std::uint32_t>(Clock::period::num));
    out.word(static_cast<std::uint32_t>(Clock::period::den));
    out.word(static_cast<std::uint32_t>(ASYNCLINK_PORT_HAS_THREADS ? format::Port::hosted : format::Port::cortex_m));
    out.word(cap);
    out.word(lost.load(std::memory_order_relaxed));
    out.word(static_cast<std::uint32_t>(std::popcount(counted)));
    for (std::uint32_t li = 0; b != nullptr && li < b->lanes; ++li) {
        const Lane& lane = lanes[li];
        if ((counted & (std::uint32_t{1} << li)) == 0) continue;
        std::uint32_t head = lane.head.load(std::memory_order_relaxed);
        std::uint32_t taken = std::min(head, cap);
        // The valid records first (a record being written is left out).
        std::uint32_t valid = 0;
        for (std::uint32_t i = 0; i < taken; ++i) {
            // acquire: pairs with the writer's release of the stamp.
            if (b->at(li, i).sequence.load(std::memory_order_acquire) == stamp(s, i)) ++valid;
        }
        char scratch[16];
        out.word(li + 1);
        out.word(lane.kind.load(std::memory_order_relaxed));
        out.word(lane.number.load(std::memory_order_relaxed));
        out.word(head);
        out.label(label_of(lane, scratch));
        out.word(valid);
        std::uint32_t written = 0;
        for (std::uint32_t i = 0; i < taken && written < valid; ++i) {
            const Record& r = b->at(li, i);
            // acquire: pairs with the writer's release of the stamp.
            std::uint32_t before = r.sequence.load(std::memory_order_acquire);
            if (before != stamp(s, i)) continue;  // being written, or another recording's
            std::uint32_t w[format::record_words];
            for (std::size_t k = 0; k < format::record_words; ++k) w[k] = r.word[k].load(std::memory_order_relaxed);
            // acquire fence: the data loads above happen before the re-check.
            port::atomic_thread_fence(std::memory_order_acquire);
            // A record rewritten since the count (a late writer of a later
            // recording) is written as empty, keeping the count promised.
            bool still = r.sequence.load(std::memory_order_relaxed) == before;
            out.word(i);
            for (std::uint32_t word : w) out.word(still ? word : 0);
            ++written;
        }
        // Records that turned invalid after the count: empty ones in their place.
        for (; written < valid; ++written) {
            out.word(0);
            for (std::size_t k = 0; k < format::record_words; ++k) out.word(0);
        }
    }
    out.word(format::end_magic);
}

#if defined(__arm__) && !ASYNCLINK_PORT_HAS_THREADS

namespace {

/// A semihosting call (the debugger, or QEMU, carries it out).
int semihost(int operation, const void* argument) noexcept {
    register int r0 __asm__("r0") = operation;
    register const void* r1 __asm__("r1") = argument;
    __asm__ __volatile__("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihosting_sink(const void* bytes, std::size_t size, void* context) noexcept {
    auto* handle = static_cast<int*>(context);
    if (*handle < 0) return;
    const std::uintptr_t block[3] = {static_cast<std::uintptr_t>(*handle), reinterpret_cast<std::uintptr_t>(bytes),
                                     size};
    if (semihost(0x05, block) != 0) *handle = -1;  // SYS_WRITE: the bytes not written
}

}  // namespace

bool dump_semihosting(const char* path) noexcept {
    std::size_t length = std::string_view(path).size();
    const std::uintptr_t open_block[3] = {reinterpret_cast<std::uintptr_t>(path), 5, length};  // mode 5: "wb"
    int handle = semihost(0x01, open_block);                                                   // SYS_OPEN
    if (handle < 0) return false;
    int file = handle;
    dump(semihosting_sink, &handle);
    const std::uintptr_t close_block[1] = {static_cast<std::uintptr_t>(file)};
    bool closed = semihost(0x02, close_block) == 0;  // SYS_CLOSE
    return handle >= 0 && closed;
}

#endif

}  // namespace asynclink::trace

#endif
