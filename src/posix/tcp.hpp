// SPDX-License-Identifier: BSL-1.0
// The private half of TCP: socket addresses, name resolution, listening
// sockets and the error messages that name a host and a port. Shared by
// open_connection, TcpListener (stream_open.cpp) and start_server
// (server.cpp). Not installed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "asynclink/posix/stream_open.hpp"

namespace asynclink::detail {

/// One resolved socket address (IPv4 or IPv6).
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const noexcept { return storage.ss_family; }
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    std::uint16_t port() const noexcept;
    void set_port(std::uint16_t port) noexcept;
    /// The numeric host: "127.0.0.1", "::1".
    std::string host() const;
};

/// How a name is looked up: for connecting to it, or for listening on it
/// (an empty host then means every interface, as AI_PASSIVE).
enum class ResolveFor : std::uint8_t { connect, listen };

/// A numeric host ("127.0.0.1", "::1", "" for listening) resolved on the
/// calling thread: getaddrinfo with AI_NUMERICHOST never blocks. Empty for a
/// name, which needs resolve_blocking() off the loop.
std::vector<SocketAddress> resolve_numeric(const std::string& host, std::uint16_t port, ResolveFor use);

/// getaddrinfo for a host name: blocks (DNS, /etc/hosts), so it runs on a
/// worker (unblock). Duplicates are dropped; the resolver's order is kept.
/// A localhost name (is_localhost_name) is answered here as the loopback.
/// Throws std::system_error in resolve_error_category() ("resolve 'name'
/// port 80: Name or service not known").
std::vector<SocketAddress> resolve_blocking(const std::string& host, std::uint16_t port, ResolveFor use);

/// `function("host", 80)`: the call, for messages.
std::string describe_call(const char* function, const std::string& host, std::uint16_t port);

/// A socket bound to `address` and listening, close-on-exec and non-blocking.
/// IPv6 sockets are IPv6-only (as asyncio's), so "::" and "0.0.0.0" can both
/// be listened on at one port. Throws std::system_error naming the address.
int listen_socket(const SocketAddress& address, const ListenOptions& options);

}  // namespace asynclink::detail
