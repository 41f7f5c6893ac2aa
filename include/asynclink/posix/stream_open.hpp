// SPDX-License-Identifier: BSL-1.0
/// @file
/// Opening streams: pipes, socket pairs, pseudo-terminals and serial lines,
/// and TCP connections to any host (asyncio's open_connection). Servers are
/// in posix/server.hpp (start_server).
///
/// | function                                  | task | other loop | thread | signal handler / ISR |
/// |-------------------------------------------|------|------------|--------|----------------------|
/// | open_pipe / open_socketpair               | yes  | yes        | yes    | no                   |
/// | open_pty / open_serial                    | yes  | yes        | yes    | no                   |
/// | TcpListener::open / adopt / port / host   | yes  | yes        | yes    | no                   |
/// | co_await open_connection                  | yes  | no         | no     | no                   |
/// | co_await TcpListener::accept / close      | yes  | no         | no     | no                   |
///
/// The streams returned belong to the first loop that uses them (see
/// posix/stream.hpp). Every descriptor is opened close-on-exec and non-blocking.
/// Failures throw std::system_error naming the call that failed and, for TCP,
/// the host and port ("connect to ::1 port 9: Connection refused").
///
/// TLS is out of scope: a Stream carries bytes. To speak TLS, run a TLS
/// library's engine over memory buffers and move its records through a
/// Stream (docs/guide.md, "TLS").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
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

/// Options of open_connection(host, port).
struct ConnectOptions {
    /// Time allowed for the whole attempt (resolving the name, then each
    /// address in turn); TimeoutError when it runs out. None by default, as
    /// asyncio: a connect to a host that never answers then ends when the
    /// kernel gives up (about two minutes on Linux).
    std::optional<std::chrono::nanoseconds> timeout;
    /// TCP_NODELAY: small writes leave at once instead of waiting for the
    /// peer's acknowledgement (Nagle's algorithm off), as asyncio sets it.
    bool nodelay = true;
    /// The returned stream's buffer limits.
    StreamOptions stream;
};

/// Options of a listening socket (TcpListener::open, start_server).
struct ListenOptions {
    /// Connections the kernel queues before accept() takes them (asyncio's 100).
    int backlog = 100;
    /// SO_REUSEADDR: a restarted server can bind its port while connections of
    /// the previous one linger in TIME_WAIT.
    bool reuse_address = true;
    /// SO_REUSEPORT: several sockets (processes) may listen on one port and
    /// share its connections.
    bool reuse_port = false;
    /// TCP_NODELAY on every accepted connection.
    bool nodelay = true;
};

/// The category of the std::system_error a failed name resolution throws:
/// its values are getaddrinfo's EAI_* codes (message: gai_strerror's, e.g.
/// "Name or service not known"). A resolver that fails with EAI_SYSTEM
/// throws the errno it set, in std::generic_category().
const std::error_category& resolve_category() noexcept;

/// Connects to `host` port `port` (asyncio.open_connection). `host` is a
/// numeric IPv4 or IPv6 address ("192.0.2.7", "::1") or a name ("localhost",
/// "example.com"); a name is resolved off the loop (getaddrinfo on a worker
/// of unblock()'s Context) while the loop runs other tasks. Each address is
/// tried in the resolver's order until one connects. "localhost" and the
/// names under it are the loopback (::1 where IPv6 works on loopback, then
/// 127.0.0.1) without asking the system resolver, as RFC 6761 asks.
///
/// Errors: a name that does not resolve throws std::system_error in
/// resolve_category() ("resolve 'nosuch.invalid': Name or service not
/// known"); a refused or unreachable address throws the connect's errno,
/// naming the address ("connect to ::1 port 9: Connection refused"), and
/// every address tried when there were several; `options.timeout` running
/// out throws TimeoutError. Cancellable at any point: a cancelled resolution
/// returns at once (the worker's late answer is dropped there), a cancelled
/// connect closes its socket.
[[nodiscard]] Task<Stream> open_connection(std::string host, std::uint16_t port, ConnectOptions options = {});

/// Connects to 127.0.0.1:`port` (TCP_NODELAY set). Cancellable.
[[deprecated("use open_connection(\"127.0.0.1\", port)")]] [[nodiscard]] Task<Stream> open_connection(
    std::uint16_t port, StreamOptions options = {});

/// One listening TCP socket: accept() hands out connections. Use
/// start_server() (posix/server.hpp) to serve every connection in a task of
/// its own, and to listen on a name or on every address of a host.
class TcpListener {
public:
    TcpListener() noexcept;
    /// Listens on 127.0.0.1:`port`; port 0 lets the kernel pick a free one.
    static TcpListener open(std::uint16_t port = 0, int backlog = 128);
    /// Listens on a numeric address: "127.0.0.1", "::1", "0.0.0.0" (every
    /// IPv4 interface) or "::" (every IPv6 interface; IPv6 only, as asyncio).
    /// Does not block, so it resolves no names: a name throws UsageError
    /// naming start_server(), which resolves off the loop.
    static TcpListener open(const std::string& host, std::uint16_t port, ListenOptions options = {});
    /// Takes ownership of a bound, listening socket (made non-blocking;
    /// closed with the listener). On failure the caller still owns `fd`.
    static TcpListener adopt(int fd, ListenOptions options = {});

    TcpListener(TcpListener&&) noexcept;
    TcpListener& operator=(TcpListener&&) noexcept;
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;
    /// Closes the listening socket; connections already accepted live on.
    ~TcpListener();

    /// The port listened on.
    std::uint16_t port() const noexcept { return port_; }
    /// The numeric address listened on ("127.0.0.1", "::").
    const std::string& host() const noexcept { return host_; }
    /// The next incoming connection (TCP_NODELAY set unless the options said
    /// otherwise). Cancellable; several tasks may wait at once. Throws
    /// std::system_error (EBADF) once the listener is closed, including for a
    /// task waiting when it closes.
    [[nodiscard]] Task<Stream> accept(StreamOptions options = {});
    void close();

private:
    TcpListener(std::shared_ptr<detail::StreamCore> core, std::string host, std::uint16_t port, bool nodelay) noexcept;

    std::shared_ptr<detail::StreamCore> core_;
    std::string host_;
    std::uint16_t port_ = 0;
    bool nodelay_ = true;
};

namespace detail {
/// Test seam: when set, called on the resolving worker with the host name
/// just before getaddrinfo, so a test can hold a resolution pending, or fail
/// it without asking a DNS server: it returns 0 to resolve as usual, or an
/// EAI_* code to fail with instead. Not for programs.
using ResolveHook = int (*)(const char* host);
void set_resolve_hook(ResolveHook hook) noexcept;

/// Whether open_connection and start_server answer `host` as the loopback
/// themselves, without the system resolver: "localhost" and every name under
/// it, in any case, with or without the root's trailing dot (RFC 6761).
bool is_localhost_name(std::string_view host) noexcept;
}  // namespace detail

}  // namespace asynclink
