// SPDX-License-Identifier: BSL-1.0
/// @file
/// start_server(handler, host, port) and Server: a TCP server that runs a
/// task per connection (asyncio.start_server, MicroPython's too).
///
/// | operation                                    | task | other loop | thread | signal handler / ISR |
/// |----------------------------------------------|------|------------|--------|----------------------|
/// | co_await start_server                        | yes  | no         | no     | no                   |
/// | close / close_clients / is_serving           | yes  | no         | no     | no                   |
/// | co_await wait_closed / serve_forever         | yes  | no         | no     | no                   |
/// | sockets / port                               | yes  | no         | no     | no                   |
/// | move / destroy                               | yes  | no         | no     | no                   |
///
/// ```cpp
/// al::Task<void> echo(al::Stream s) {
///     for (std::string line; !(line = co_await s.readline()).empty();) {
///         s.write(line);
///         co_await s.drain();
///     }
/// }
/// al::Server server = co_await al::start_server(echo, "localhost", 8888);
/// co_await server.serve_forever();   // until cancelled, or until server.close()
/// ```
///
/// Use this to accept connections and serve each one independently. For one
/// listening socket whose connections you take one at a time, use TcpListener
/// (posix/stream_open.hpp); to connect, open_connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "asynclink/posix/stream.hpp"
#include "asynclink/posix/stream_open.hpp"
#include "asynclink/task.hpp"

namespace asynclink {

namespace detail {
class ServerCore;
}

/// Options of start_server(): the listening sockets' (backlog, SO_REUSEADDR,
/// SO_REUSEPORT, TCP_NODELAY on each connection) and each connection's
/// stream limits (asyncio's `limit`).
struct ServerOptions : ListenOptions {
    StreamOptions stream;
};

/// An address a server listens on.
struct Endpoint {
    std::string host;  ///< numeric: "127.0.0.1", "::"
    std::uint16_t port = 0;
};

/// What start_server() runs for each connection, as a task of its own. The
/// Stream is the connection (asyncio's reader and writer in one object); it
/// is closed (aborted) when the handler returns without closing it.
using ConnectionHandler = std::function<Task<void>(Stream)>;

/// A running server: its listening sockets and the tasks serving its
/// connections (asyncio.Server). Move-only; destroying it closes it (stops
/// listening) but lets the connection tasks finish.
class Server {
public:
    /// An empty server: every operation throws UsageError.
    Server() noexcept;
    Server(Server&&) noexcept;
    /// Closes the server this one held, then takes over `other`'s.
    Server& operator=(Server&& other) noexcept;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();

    /// The address of each listening socket (asyncio's
    /// `[s.getsockname() for s in server.sockets]`); empty once closed.
    std::vector<Endpoint> sockets() const;
    /// The port listened on: every socket of a server shares it, also when
    /// start_server was given port 0 (the kernel's choice for the first
    /// socket is used for the others).
    std::uint16_t port() const;
    /// True until close().
    bool is_serving() const;

    /// Stops listening: the sockets close and no connection is accepted any
    /// more. Connections already accepted are served on. Idempotent.
    void close();
    /// Cancels every connection's handler task (its Stream is aborted when
    /// the task ends); asyncio's close_clients() closes the transports
    /// instead. Does not stop listening: close() first to shut down.
    void close_clients();
    /// Suspends until the server is closed and every connection's handler
    /// task has ended (asyncio 3.12's wait_closed).
    [[nodiscard]] Task<void> wait_closed();
    /// Suspends until the server is closed. Cancelling it closes the server
    /// (asyncio's serve_forever; it does not wait for the connections: await
    /// wait_closed() for that).
    [[nodiscard]] Task<void> serve_forever();

    explicit operator bool() const noexcept { return core_ != nullptr; }

    /// For start_server(): wraps a running core.
    explicit Server(std::shared_ptr<detail::ServerCore> core) noexcept;

private:
    detail::ServerCore& core(const char* operation) const;

    std::shared_ptr<detail::ServerCore> core_;
};

/// Listens on `host` port `port` and runs `handler(stream)` as a task for
/// each connection accepted (asyncio.start_server(client_connected_cb, host,
/// port)). `host` may be a numeric address, a name resolved off the loop
/// ("localhost": one socket per address, 127.0.0.1 and ::1), or "" for
/// every interface ("0.0.0.0" and "::"). IPv6 sockets are IPv6-only, as
/// asyncio's. Port 0 lets the kernel choose (see Server::port()).
///
/// The handler is kept (and a capturing lambda's captures with it) until the
/// last connection's task ends. An exception escaping a handler ends only
/// that connection; the loop's exception handler reports it. Throws
/// std::system_error naming the address if a socket cannot listen (nothing
/// is left listening then), and as open_connection() for a name that does
/// not resolve.
[[nodiscard]] Task<Server> start_server(ConnectionHandler handler, std::string host, std::uint16_t port,
                                        ServerOptions options = {});

}  // namespace asynclink
