// SPDX-License-Identifier: BSL-1.0
// The trace export (hosted): a dump (src/trace.cpp, from this program or read
// back from a device) turned into Chrome trace event JSON. The formats are in
// docs/tracing.md.
#include "asynclink/trace.hpp"

#if ASYNCLINK_TRACE && ASYNCLINK_PORT_HAS_THREADS

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <istream>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "trace_format.hpp"

#ifndef ASYNCLINK_VERSION
#define ASYNCLINK_VERSION "unknown"
#endif

namespace asynclink::trace {

namespace {

using format::coalesced_flag;
using format::index_bits;
using format::Kind;
using format::LaneKind;

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

struct LaneInfo {
    std::uint32_t tid;
    LaneKind kind;
    std::uint32_t number;
    std::string label;
};

/// A dump read back: its lanes, their records, and what was dropped.
struct Snapshot {
    std::uint32_t version = format::version;
    format::Port port = format::Port::hosted;
    std::vector<LaneInfo> lanes;
    std::vector<Event> events;
    std::map<std::string, std::uint64_t> dropped;
};

/// Reads the words of a dump, saying where it ends short.
class WordReader {
public:
    explicit WordReader(std::istream& in) : in_(in) {}
    std::uint32_t word(const char* what) {
        unsigned char b[4];
        if (!in_.read(reinterpret_cast<char*>(b), 4)) {
            throw std::runtime_error("asynclink trace dump: cut short at byte " + std::to_string(offset_) +
                                     ", reading " + what);
        }
        offset_ += 4;
        return b[0] | static_cast<std::uint32_t>(b[1]) << 8 | static_cast<std::uint32_t>(b[2]) << 16 |
               static_cast<std::uint32_t>(b[3]) << 24;
    }
    std::size_t offset() const noexcept { return offset_; }
    /// Fails on the word just read, or on the one at byte `at`.
    [[noreturn]] void fail(const std::string& what) const { fail(what, offset_ - 4); }
    [[noreturn]] static void fail(const std::string& what, std::size_t at) {
        throw std::runtime_error("asynclink trace dump: " + what + " (at byte " + std::to_string(at) + ")");
    }

private:
    std::istream& in_;
    std::size_t offset_ = 0;
};

std::string lane_name(const LaneInfo& lane) {
    switch (lane.kind) {
    case LaneKind::loop: return "loop #" + std::to_string(lane.number);
    case LaneKind::handler: return "handler " + (lane.label.empty() ? std::string("?") : lane.label);
    case LaneKind::thread: break;
    }
    return "thread " + (lane.label.empty() ? std::to_string(lane.number) : lane.label);
}

/// The characters packed in `words`, up to the first NUL.
std::string unpack(std::initializer_list<std::uint32_t> words) {
    std::string text;
    for (std::uint32_t w : words) {
        for (int byte = 0; byte < 4; ++byte) {
            auto c = static_cast<char>((w >> (8 * byte)) & 0xff);
            if (c == '\0') return text;
            text += c;
        }
    }
    return text;
}

Snapshot parse(std::istream& in) {
    WordReader r(in);
    Snapshot snap;
    if (r.word("the header") != format::magic) r.fail("not a trace dump (no \"ALTR\" at its start)");
    snap.version = r.word("the header");
    if (snap.version < format::oldest_version || snap.version > format::version) {
        r.fail("dump format version " + std::to_string(snap.version) + ", this reader knows " +
               std::to_string(format::oldest_version) + " to " + std::to_string(format::version));
    }
    std::uint32_t num = r.word("the header");
    std::uint32_t den = r.word("the header");
    if (num == 0 || den == 0) r.fail("a clock period of " + std::to_string(num) + "/" + std::to_string(den) + " s");
    std::uint32_t port = r.word("the header");
    if (port > static_cast<std::uint32_t>(format::Port::cortex_m)) r.fail("unknown port " + std::to_string(port));
    snap.port = static_cast<format::Port>(port);
    std::uint32_t cap = r.word("the header");
    if (cap > format::max_records) r.fail(std::to_string(cap) + " records per lane, more than 2^24");
    std::uint32_t lost = r.word("the header");
    std::uint32_t count = r.word("the header");
    if (count > 32) r.fail(std::to_string(count) + " lanes, more than 32");
    // Ticks to nanoseconds, exactly for the periods ports use (1 ns: num = 1, den = 1e9).
    auto to_ns = [num, den](std::uint64_t t) {
        if (num == 1 && den == 1'000'000'000U) return t;
        return static_cast<std::uint64_t>(static_cast<long double>(t) * num * 1e9L / den);
    };
    for (std::uint32_t l = 0; l < count; ++l) {
        LaneInfo lane{};
        lane.tid = r.word("a lane");
        if (lane.tid == 0 || lane.tid > 32) r.fail("lane id " + std::to_string(lane.tid) + " (1 to 32)");
        std::uint32_t kind = r.word("a lane");
        if (kind > static_cast<std::uint32_t>(LaneKind::handler)) r.fail("unknown lane kind " + std::to_string(kind));
        lane.kind = static_cast<LaneKind>(kind);
        lane.number = r.word("a lane");
        std::uint32_t head = r.word("a lane");
        std::uint32_t label[format::label_words];
        for (std::uint32_t& w : label) w = r.word("a lane's label");
        lane.label = unpack({label[0], label[1], label[2], label[3], label[4], label[5], label[6], label[7]});
        std::uint32_t records = r.word("a lane");
        if (records > cap) r.fail(std::to_string(records) + " records in a lane of " + std::to_string(cap));
        if (head > cap) snap.dropped[lane_name(lane)] += head - cap;
        for (std::uint32_t k = 0; k < records; ++k) {
            std::size_t record_at = r.offset();
            std::uint32_t index = r.word("a record");
            if (index >= cap) r.fail("record index " + std::to_string(index) + " in a lane of " + std::to_string(cap));
            std::uint32_t w[format::record_words];
            for (std::uint32_t& word : w) word = r.word("a record");
            Event e{};
            e.tid = lane.tid;
            e.index = index;
            e.kind = static_cast<Kind>(w[2] & 0xff);
            if (e.kind > Kind::woken) r.fail("unknown record kind " + std::to_string(w[2] & 0xff), record_at);
            e.flags = w[2] >> 8;
            e.task = w[3];
            if (e.kind == Kind::name) {
                e.text = unpack({w[0], w[1], w[4], w[5], w[6]});
            } else if (e.kind != Kind::empty) {
                e.ts = to_ns(w[0] | static_cast<std::uint64_t>(w[1]) << 32);
                e.flow = w[4];
                e.value = w[5] | static_cast<std::uint64_t>(w[6]) << 32;
                // Durations and lateness are clock ticks too.
                if (e.kind == Kind::slice || e.kind == Kind::timer || e.kind == Kind::stall || e.kind == Kind::sleep) {
                    e.value = to_ns(e.value);
                }
            }
            if (e.kind != Kind::empty) snap.events.push_back(std::move(e));
        }
        snap.lanes.push_back(std::move(lane));
    }
    if (r.word("the end mark") != format::end_magic) r.fail("no end mark after the last lane");
    if (in.peek() != std::char_traits<char>::eof()) r.fail("bytes after the end mark");
    if (lost != 0) snap.dropped["(no free lane)"] += lost;
    return snap;
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

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "\"0x%" PRIx64 "\"", v);
    return buf;
}

void write_json(const Snapshot& snap, std::ostream& out) {
    const std::vector<Event>& events = snap.events;
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
        // Version 2: a source carries its own flow id; version 1: the id was
        // its lane's and its index.
        if (e.kind == Kind::handover || e.kind == Kind::timer)
            sources[snap.version >= 2 ? e.flow : (e.tid << index_bits) | e.index] = i;
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        if ((e.kind != Kind::slice && e.kind != Kind::woken) || e.flow == 0) continue;
        if (auto it = sources.find(e.flow); it != sources.end()) woken[it->second].push_back(i);
    }
    std::map<std::uint32_t, std::string> lane_names;
    for (const LaneInfo& lane : snap.lanes) lane_names[lane.tid] = lane_name(lane);
    // What a hand-over's instant names as woken: a task, or a blocked thread.
    auto target = [&](const Event& f) {
        if (f.kind == Kind::woken) return ",\"thread\":" + quoted(lane_names[f.tid]);
        return ",\"task\":" + std::to_string(f.task);
    };
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
    for (const LaneInfo& lane : snap.lanes) {
        std::uint32_t order = lane.kind == LaneKind::loop ? 0 : lane.kind == LaneKind::thread ? 1 : 2;
        emit("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":" + std::to_string(lane.tid) +
             ",\"args\":{\"name\":" + quoted(lane_name(lane)) + "}}");
        emit("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":" + std::to_string(lane.tid) +
             ",\"args\":{\"sort_index\":" + std::to_string(order * 100 + lane.tid) + "}}");
    }
    std::uint64_t next_arrow = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        std::string task = std::to_string(e.task);
        switch (e.kind) {
        case Kind::slice:
            emit("{\"ph\":\"X\",\"cat\":\"task\",\"name\":" + quoted(name_of(e.task)) + at(e) +
                 ",\"dur\":" + micros(e.value) + ",\"args\":{\"task\":" + task + "}}");
            break;
        case Kind::woken: emit("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"thread\",\"name\":\"woken\"" + at(e) + "}"); break;
        case Kind::sleep:
            emit("{\"ph\":\"X\",\"cat\":\"idle\",\"name\":\"loop asleep\"" + at(e) + ",\"dur\":" + micros(e.value) +
                 "}");
            break;
        case Kind::created:
        case Kind::finished:
            emit(std::string("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"task\",\"name\":") +
                 quoted((e.kind == Kind::created ? "create " : "finish ") + name_of(e.task)) + at(e) +
                 ",\"args\":{\"task\":" + task + "}}");
            break;
        case Kind::stall:
            emit("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"stall\",\"name\":" + quoted("stall " + name_of(e.task)) + at(e) +
                 ",\"args\":{\"task\":" + task + ",\"duration_ns\":" + std::to_string(e.value) + "}}");
            break;
        case Kind::handover:
        case Kind::timer: {
            auto it = woken.find(i);
            std::string args;
            if (e.kind == Kind::handover) {
                args = "\"object\":" + hex(e.value);
                if (it != woken.end()) args += target(events[it->second.front()]);
                if (((e.flags >> 8) & coalesced_flag) != 0) args += ",\"coalesced\":true";
                emit(std::string("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"handover\",\"name\":\"") +
                     op_name(e.flags & 0xff) + "\"" + at(e) + ",\"args\":{" + args + "}}");
            } else {
                args = "\"lateness_ns\":" + std::to_string(e.value);
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
    for (const auto& [lane, n] : snap.dropped) {
        out << (first_drop ? "" : ",") << quoted(lane) << ":" << n;
        first_drop = false;
    }
    out << "},\"clock\":\"" << (snap.port == format::Port::cortex_m ? "cortex-m" : "steady") << "\"}}\n";
}

void append(const void* bytes, std::size_t size, void* context) noexcept {
    // Were the append to throw (no memory), the dump is cut short and the
    // parse says so.
    try {
        static_cast<std::string*>(context)->append(static_cast<const char*>(bytes), size);
    } catch (...) {
    }
}

}  // namespace

void convert_dump(std::istream& in, std::ostream& out) { write_json(parse(in), out); }

void write_chrome_json(std::ostream& out) {
    std::string bytes;
    dump(append, &bytes);
    std::istringstream in(bytes);
    convert_dump(in, out);
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
