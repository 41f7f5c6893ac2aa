// SPDX-License-Identifier: BSL-1.0
/// @file
/// Stream: asyncio's StreamReader and StreamWriter in one object, over a
/// non-blocking file descriptor (pipe, socket, pseudo-terminal, serial line).
///
/// | method                                             | task | other loop | thread | signal handler / ISR |
/// |----------------------------------------------------|------|------------|--------|----------------------|
/// | co_await read / readline / readuntil / readexactly | yes  | no         | no     | no                   |
/// | write / write_eof / close / abort                  | yes  | no         | no     | no                   |
/// | co_await drain / wait_closed                       | yes  | no         | no     | no                   |
/// | at_eof / write_buffer_size / is_closing            | yes  | no         | no     | no                   |
/// | adopt / borrow / open_* (posix/stream_open.hpp)    | yes  | yes        | yes    | no                   |
/// | move / destroy                                     | yes  | no         | no     | no                   |
///
/// A Stream belongs to the first loop that uses it; a call from any other
/// thread or loop throws UsageError. To write from a thread or an ISR, hand the
/// bytes to a task through a ThreadSafeQueue; to read in several tasks, let one
/// task read and route (see "Sharing a device" below). Besides on its loop, a
/// Stream may be moved or destroyed before the loop first uses it and after
/// the Loop object is destroyed; not between two runs of a Loop object that
/// lives on (its registration with that loop would dangle). Destroying it on
/// another thread while a task reads or waits on it stops the program with a
/// message (port::fatal); without such a task, that misuse is not detected.
///
/// Sharing a device. Several tasks may write; a message written in several
/// write()/drain() steps must be guarded by a Lock, or another task's bytes
/// land in the middle of it. Only one task may read at a time (a second
/// concurrent read throws UsageError): one receiving task parses the byte
/// stream and routes each message to its destination, e.g. through Queues.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "asynclink/task.hpp"

namespace asynclink {

namespace detail {
class StreamCore;
}

struct StreamOptions {
    /// Longest line readline()/readuntil() accept, separator excluded
    /// (asyncio's `limit`). Longer lines throw LimitOverrunError.
    std::size_t limit = std::size_t{64} * 1024;
    /// Flow control (asyncio's write buffer limits): once more than
    /// `high_water` bytes wait in the write buffer, drain() suspends until no
    /// more than `low_water` do. Zero for both makes every drain() wait until
    /// each byte has been handed to the kernel.
    std::size_t high_water = std::size_t{64} * 1024;
    std::size_t low_water = std::size_t{16} * 1024;
};

/// readexactly() or readuntil() met the end of the stream first. The bytes
/// read so far are consumed from the stream and carried here.
class IncompleteReadError : public std::runtime_error {
public:
    IncompleteReadError(std::string partial, std::optional<std::size_t> expected);
    const std::string& partial() const noexcept { return partial_; }
    /// The byte count readexactly() wanted; empty for readuntil()/readline().
    std::optional<std::size_t> expected() const noexcept { return expected_; }

private:
    std::string partial_;
    std::optional<std::size_t> expected_;
};

/// readuntil()/readline() found no separator within StreamOptions::limit
/// bytes. After readuntil(), nothing is consumed (as asyncio): the bytes stay
/// buffered for the next read. After readline(), the overlong line is
/// skipped: its bytes up to and including the '\n', those buffered and those
/// still to come, are dropped, and the next read starts after it.
class LimitOverrunError : public std::runtime_error {
public:
    LimitOverrunError(std::size_t buffered, std::size_t limit);
    std::size_t buffered() const noexcept { return buffered_; }

private:
    std::size_t buffered_;
};

/// A buffered, bidirectional byte stream over one file descriptor, driven by
/// the loop's readiness notifications (epoll on Linux).
///
/// Reading (StreamReader): bytes come from the kernel into a buffer only when
/// a read needs them. Every read is cancellation-safe: a cancelled read
/// consumes nothing, and bytes it already pulled in stay buffered for the next
/// read. The end of the stream (peer closed, pipe writer gone, terminal hung
/// up) is an empty read(); errors throw std::system_error naming the call.
///
/// Writing (StreamWriter): write() never suspends. It hands what the kernel
/// takes at once to the kernel and buffers the rest, which the loop sends in
/// the background; drain() applies flow control and reports a failed
/// background send. Bytes leave in write() order.
///
/// Use this for byte streams on Linux. Use a ThreadSafeQueue to pass values
/// between contexts, and Context/unblock for blocking device APIs.
class Stream {
public:
    /// An empty stream: every operation throws UsageError.
    Stream() noexcept;
    /// Takes ownership of `fd` (closed by close(), abort() or the destructor)
    /// and puts it in non-blocking mode. Throws UsageError for a negative fd
    /// or inconsistent options, std::system_error if fd is not open.
    static Stream adopt(int fd, StreamOptions options = {});
    /// Like adopt(), but never closes `fd`: the caller keeps it, open, and in
    /// non-blocking mode, after the stream is closed.
    static Stream borrow(int fd, StreamOptions options = {});

    /// Moving never disturbs a task waiting on the stream: the waiters and the
    /// buffers live in a shared core that the awaitables keep alive.
    Stream(Stream&& other) noexcept;
    /// Aborts the stream this one held, then takes over `other`'s.
    Stream& operator=(Stream&& other) noexcept;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    /// abort(): bytes not yet sent are discarded. close() and co_await
    /// wait_closed() first to be sure every byte left.
    ~Stream();

    // --- reading (one reading task at a time)

    /// Up to `max` bytes: what is buffered, or else whatever the next chunk
    /// from the kernel brings; suspends only while nothing is buffered. Empty
    /// at the end of the stream (and for max == 0).
    [[nodiscard]] Task<std::string> read(std::size_t max);
    /// Bytes up to and including the next '\n'; at the end of the stream, the
    /// bytes left (possibly none, which means the end). Throws
    /// LimitOverrunError for a line longer than StreamOptions::limit, and
    /// skips that line: the next read starts after its '\n'.
    [[nodiscard]] Task<std::string> readline();
    /// Bytes up to and including `separator` (not empty). Throws
    /// IncompleteReadError if the stream ends first, LimitOverrunError if no
    /// separator comes within StreamOptions::limit bytes (the bytes stay
    /// buffered: read() or readexactly() can take them).
    [[nodiscard]] Task<std::string> readuntil(std::string separator);
    /// Exactly `n` bytes. Throws IncompleteReadError (holding the bytes that
    /// came) if the stream ends first.
    [[nodiscard]] Task<std::string> readexactly(std::size_t n);
    /// True once the end of the stream was seen and every byte was read.
    bool at_eof() const;

    // --- writing (any number of tasks; a Lock keeps multi-part messages whole)

    /// Queues `data` for sending. Never suspends. Throws std::system_error if
    /// the stream has failed to send (every later write and drain throws it
    /// too), UsageError after close() or write_eof().
    void write(std::string_view data);
    /// Returns at once while no more than StreamOptions::high_water bytes are
    /// buffered; otherwise suspends until no more than low_water are. Throws
    /// the error that stopped sending, if any. Cancelling it loses no byte.
    [[nodiscard]] Task<void> drain();
    /// Ends the sending direction once the buffered bytes are sent
    /// (shutdown(SHUT_WR): the peer reads the end of the stream) while reading
    /// goes on. Sockets only: throws UsageError for other descriptors.
    void write_eof();
    bool can_write_eof() const;
    std::size_t write_buffer_size() const;

    // --- closing

    /// Stops reading and writing (a read in progress sees the end of the
    /// stream) and closes the descriptor as soon as the buffered bytes are
    /// sent, in the background. Idempotent.
    void close();
    bool is_closing() const;
    /// Suspends until the descriptor is closed. Throws the error that stopped
    /// sending, if sending failed (bytes were lost).
    [[nodiscard]] Task<void> wait_closed();
    /// Closes the descriptor now, discarding bytes not yet sent (a drain()
    /// waiting for them throws std::system_error with ECANCELED). Idempotent.
    void abort() noexcept;

    /// The descriptor (for ioctl/termios settings); -1 once closed or empty.
    int fd() const noexcept;
    explicit operator bool() const noexcept { return core_ != nullptr; }

    /// For the open_* helpers: wraps an existing core.
    explicit Stream(std::shared_ptr<detail::StreamCore> core) noexcept;

private:
    detail::StreamCore& core(const char* operation) const;

    std::shared_ptr<detail::StreamCore> core_;
};

}  // namespace asynclink
