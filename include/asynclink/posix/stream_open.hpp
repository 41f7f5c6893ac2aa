// SPDX-License-Identifier: BSL-1.0
/// @file
/// Opening streams: pipes, socket pairs, pseudo-terminals and serial lines,
/// and TCP connections on the loopback interface.
///
/// | function                              | task | other loop | thread | signal handler / ISR |
/// |---------------------------------------|------|------------|--------|----------------------|
/// | open_pipe / open_socketpair           | yes  | yes        | yes    | no                   |
/// | open_pty / open_serial                | yes  | yes        | yes    | no                   |
/// | TcpListener::open / port              | yes  | yes        | yes    | no                   |
/// | co_await open_connection              | yes  | no         | no     | no                   |
/// | co_await TcpListener::accept / close  | yes  | no         | no     | no                   |
///
/// The streams returned belong to the first loop that uses them (see
/// posix/stream.hpp). Every descriptor is opened close-on-exec and non-blocking.
/// Failures throw std::system_error naming the call that failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "asynclink/posix/stream.hpp"
#include "asynclink/task.hpp"

namespace asynclink {

/// A pipe: `first` is the read end, `second` the write end. Closing the write
/// end is the reader's end of stream; writing after the reader is gone fails
/// with EPIPE (never SIGPIPE).
std::pair<Stream, Stream> open_pipe(StreamOptions options = {});

/// Two connected UNIX stream sockets, each readable and writable.
std::pair<Stream, Stream> open_socketpair(StreamOptions options = {});

/// A pseudo-terminal used as a serial line between two ends of one process.
struct PtyPair {
    /// The controlling side (POSIX's "master", from posix_openpt).
    Stream controller;
    /// The terminal side (POSIX's "slave"), set to raw mode: 8-bit clean, no
    /// echo, no line editing, no signals or flow-control characters.
    Stream terminal;
    /// The terminal side's device path (e.g. /dev/pts/3), for open_serial().
    std::string terminal_path;
};

/// Opens a pseudo-terminal pair in raw mode. Like a real line, closing one
/// side hangs up: the other reads the end of the stream. Bytes the terminal
/// side has not read yet when the controller closes are discarded (a hang-up),
/// so close the terminal side first, or wait for the reader's answer.
PtyPair open_pty(StreamOptions options = {});

/// Opens a serial device (a UART's /dev/ttyUSB0, or a pty's terminal_path) in
/// raw mode at `baud` (8N1, no flow control, modem lines ignored). Throws
/// UsageError for a baud rate the kernel has no constant for.
Stream open_serial(const std::string& path, int baud = 115200, StreamOptions options = {});

/// Connects to 127.0.0.1:`port` (TCP_NODELAY set). Cancellable.
[[nodiscard]] Task<Stream> open_connection(std::uint16_t port, StreamOptions options = {});

/// A TCP socket listening on 127.0.0.1 (loopback only, by design: the tests
/// and examples need no network).
class TcpListener {
public:
    TcpListener() noexcept;
    /// Listens on 127.0.0.1:`port`; port 0 lets the kernel pick a free one.
    static TcpListener open(std::uint16_t port = 0, int backlog = 128);

    TcpListener(TcpListener&&) noexcept;
    TcpListener& operator=(TcpListener&&) noexcept;
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;
    /// Closes the listening socket; connections already accepted live on.
    ~TcpListener();

    /// The port listened on.
    std::uint16_t port() const noexcept { return port_; }
    /// The next incoming connection (TCP_NODELAY set). Cancellable; several
    /// tasks may wait at once. Throws std::system_error (EBADF) once the
    /// listener is closed, including for a task waiting when it closes.
    [[nodiscard]] Task<Stream> accept(StreamOptions options = {});
    void close();

private:
    TcpListener(std::shared_ptr<detail::StreamCore> core, std::uint16_t port) noexcept;

    std::shared_ptr<detail::StreamCore> core_;
    std::uint16_t port_ = 0;
};

}  // namespace asynclink
