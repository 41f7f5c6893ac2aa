// SPDX-License-Identifier: BSL-1.0
// What the recorder (src/trace.cpp, every port) and the export
// (src/trace_export.cpp, hosted) agree on: the record's kinds and the dump
// format of docs/tracing.md. Private to the library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace asynclink::trace::format {

/// A dump is a sequence of little-endian 32-bit words:
///   header:   magic, version, clock period numerator, denominator (a tick
///             in seconds), port, records per lane, lost, lanes
///   per lane: tid, lane kind, number, head, label (label_words words, NUL
///             padded), records, then per record its index and its 7 words
///   trailer:  end_magic
inline constexpr std::uint32_t magic = 0x52544c41U;      ///< "ALTR"
inline constexpr std::uint32_t end_magic = 0x21444e45U;  ///< "END!"
/// Version 2: a hand-over's or a timer's record holds its own flow id, which
/// is no longer its lane and index (see below). The reader takes 1 too.
inline constexpr std::uint32_t version = 2;
inline constexpr std::uint32_t oldest_version = 1;
inline constexpr std::size_t label_words = 8;  ///< 32 bytes, the last one NUL
inline constexpr std::size_t record_words = 7;

/// A record's index takes the low 24 bits of a stamp and of a flow id.
inline constexpr std::uint32_t index_bits = 24;
inline constexpr std::uint32_t max_records = std::uint32_t{1} << index_bits;

/// What a record holds. Words 0-1: the time (clock ticks); word 2: kind |
/// op << 8 | flags << 16; word 3: the task's trace id; word 4: a flow id;
/// words 5-6: a 64-bit value (a duration, lateness, object address). A name
/// record holds its task in word 3 and 20 characters in words 0, 1, 4, 5, 6.
enum class Kind : std::uint8_t {
    empty,
    slice,  ///< value: duration; flow: the hand-over that woke the task
    created,
    finished,
    name,      ///< flags: which 20-character part of the name
    handover,  ///< op; flags: coalesced; flow: its own id; value: the object
    timer,     ///< flow: its own id; value: lateness
    stall,     ///< value: how long the task ran
    sleep,     ///< the loop slept in its port's idle wait; value: for how long
    woken,     ///< a thread blocked in the kernel ran again; flow: the hand-over that woke it
};
inline constexpr std::uint32_t coalesced_flag = 1;
inline constexpr std::size_t name_part = 20;  ///< characters in one name record
inline constexpr std::size_t name_parts = 3;

enum class LaneKind : std::uint32_t { thread, loop, handler };
/// Where the dump was made: how its clock and its lanes read.
enum class Port : std::uint32_t { hosted, cortex_m };

}  // namespace asynclink::trace::format
