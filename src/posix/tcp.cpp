// SPDX-License-Identifier: BSL-1.0
// TCP: name resolution off the loop, open_connection to any host over IPv4
// or IPv6, and TcpListener. See include/asynclink/posix/stream_open.hpp and
// src/posix/tcp.hpp; start_server is in server.cpp.
#include "tcp.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "asynclink/errors.hpp"
#include "asynclink/unblock.hpp"
#include "asynclink/wait_for.hpp"
#include "stream_core.hpp"

namespace asynclink {

namespace {

using detail::FdGuard;
using detail::ResolveFor;
using detail::SocketAddress;
using detail::StreamCore;

[[noreturn]] void throw_error(int error, const std::string& operation) {
    throw std::system_error(error, std::generic_category(), "asynclink: " + operation);
}

class ResolveCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "asynclink.resolve"; }
    std::string message(int code) const override { return ::gai_strerror(code); }
};

// Relaxed would do for the pointer itself; acquire/release also orders what
// the test prepared before installing the hook before the worker's call.
std::atomic<detail::ResolveHook> resolve_hook{nullptr};

// Owns getaddrinfo's list.
struct AddrinfoList {
    addrinfo* head = nullptr;
    AddrinfoList() = default;
    AddrinfoList(const AddrinfoList&) = delete;
    AddrinfoList& operator=(const AddrinfoList&) = delete;
    ~AddrinfoList() {
        if (head != nullptr) ::freeaddrinfo(head);
    }
};

addrinfo hints_for(ResolveFor use, int extra_flags) noexcept {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | extra_flags | (use == ResolveFor::listen ? AI_PASSIVE : 0);
    return hints;
}

// The addresses of a successful getaddrinfo, duplicates dropped, order kept.
std::vector<SocketAddress> addresses_of(const addrinfo* list) {
    std::vector<SocketAddress> addresses;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        SocketAddress a;
        a.length = std::min<socklen_t>(ai->ai_addrlen, sizeof a.storage);
        std::memcpy(&a.storage, ai->ai_addr, a.length);
        bool seen = std::any_of(addresses.begin(), addresses.end(), [&](const SocketAddress& b) {
            return b.length == a.length && std::memcmp(&b.storage, &a.storage, a.length) == 0;
        });
        if (!seen) addresses.push_back(a);
    }
    return addresses;
}

// Whether ::1 can be bound here: IPv6 can be off on loopback (a container
// started without it, or net.ipv6.conf.lo.disable_ipv6).
bool ipv6_loopback_works() noexcept {
    FdGuard fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return false;
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

// The loopback addresses a localhost name stands for, in the order glibc's
// getaddrinfo gives them for Debian's /etc/hosts (RFC 6724 puts ::1 first):
// ::1 where IPv6 works on loopback, then 127.0.0.1. Numeric, so no resolver
// is asked.
std::vector<SocketAddress> loopback_addresses(std::uint16_t port, ResolveFor use) {
    std::vector<SocketAddress> addresses;
    if (ipv6_loopback_works()) addresses = detail::resolve_numeric("::1", port, use);
    std::vector<SocketAddress> four = detail::resolve_numeric("127.0.0.1", port, use);
    addresses.insert(addresses.end(), four.begin(), four.end());
    return addresses;
}

[[noreturn]] void throw_resolve_error(int code, int error, const std::string& host) {
    const std::string what = "asynclink: resolve '" + host + "'";
    if (code == EAI_SYSTEM) throw std::system_error(error, std::generic_category(), what);
    throw std::system_error(code, resolve_category(), what);
}

void set_nodelay(int fd, const std::string& where) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        throw_error(errno, where + ": setsockopt(TCP_NODELAY)");
    }
}

std::string describe(const SocketAddress& address) {
    return address.host() + " port " + std::to_string(address.port());
}

/// A connect to one address that failed: where, and why.
struct ConnectFailure {
    std::string where;
    std::error_code code;
};

/// Connects a new socket to `address`. Throws std::system_error naming it.
Task<Stream> connect_one(SocketAddress address, bool nodelay, StreamOptions options) {
    const std::string where = "connect to " + describe(address);
    FdGuard fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_error(errno, where + ": socket");
    std::shared_ptr<StreamCore> core = detail::make_stream_core(fd.get(), true, options);
    fd.release();  // the core closes it from now on, also if this task is cancelled
    if (::connect(core->fd(), address.get(), address.length) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) throw_error(errno, where);
        // Writability reports the outcome; SO_ERROR says which.
        for (;;) {
            core->want_writable("open_connection");
            co_await core->wait_writable();
            int error = 0;
            socklen_t length = sizeof error;
            if (::getsockopt(core->fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) throw_error(errno, where);
            if (error != 0) throw_error(error, where);
            sockaddr_storage peer{};
            socklen_t peer_length = sizeof peer;
            if (::getpeername(core->fd(), reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) break;
            if (errno != ENOTCONN) throw_error(errno, where);
        }
    }
    if (nodelay) set_nodelay(core->fd(), where);
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move): clang 14 evaluates a co_return operand twice
    co_return Stream(std::move(core));
}

/// Resolves `host` (off the loop unless numeric), then tries each address in
/// turn, as asyncio's create_connection does (no happy eyeballs).
Task<Stream> connect_any(std::string host, std::uint16_t port, ConnectOptions options) {
    std::vector<SocketAddress> addresses = detail::resolve_numeric(host, port, ResolveFor::connect);
    const bool numeric = !addresses.empty();
    if (!numeric) addresses = co_await unblock(&detail::resolve_blocking, host, port, ResolveFor::connect);
    std::vector<ConnectFailure> failures;
    for (const SocketAddress& address : addresses) {
        try {
            co_return co_await connect_one(address, options.nodelay, options.stream);
        } catch (const std::system_error& e) {
            failures.push_back(ConnectFailure{"connect to " + describe(address), e.code()});
        }
    }
    if (numeric && failures.size() == 1) throw std::system_error(failures[0].code, "asynclink: " + failures[0].where);
    // A name: say which it was and every address tried; the last one's error
    // is the exception's code.
    std::string what = "asynclink: " + detail::describe_call("open_connection", host, port) + ": ";
    for (std::size_t i = 0; i + 1 < failures.size(); ++i) {
        what += failures[i].where + ": " + failures[i].code.message() + "; ";
    }
    what += failures.back().where;
    throw std::system_error(failures.back().code, what);
}

Task<Stream> connect_within(std::string host, std::uint16_t port, ConnectOptions options) {
    const std::chrono::nanoseconds timeout = *options.timeout;
    const std::string call = detail::describe_call("open_connection", host, port);
    try {
        co_return co_await wait_for(connect_any(std::move(host), port, options), timeout);
    } catch (const TimeoutError&) {
        throw TimeoutError(call + ": no connection within " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                           " ms");
    }
}

Task<Stream> accept_one(std::shared_ptr<StreamCore> core, StreamOptions options, bool nodelay) {
    const char* operation = "TcpListener::accept";
    core->bind(operation);
    for (;;) {
        if (core->closing()) throw_error(EBADF, "TcpListener::accept on a closed listener");
        FdGuard fd(::accept4(core->fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd.get() >= 0) {
            if (nodelay) set_nodelay(fd.get(), operation);
            Stream s = Stream::adopt(fd.get(), options);
            fd.release();
            co_return s;
        }
        int error = errno;
        if (error == EINTR || error == ECONNABORTED) continue;
        if (error != EAGAIN && error != EWOULDBLOCK) throw_error(error, operation);
        core->want_readable(operation);
        co_await core->wait_readable();
    }
}

SocketAddress local_address(int fd, const std::string& operation) {
    SocketAddress a;
    a.length = sizeof a.storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) {
        throw_error(errno, operation + ": getsockname");
    }
    return a;
}

}  // namespace

// ---------------------------------------------------------------- addresses and resolution

namespace detail {

std::uint16_t SocketAddress::port() const noexcept {
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

void SocketAddress::set_port(std::uint16_t port) noexcept {
    if (family() == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    } else {
        reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
    }
}

std::string SocketAddress::host() const {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = family() == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr);
    if (::inet_ntop(family(), raw, text, sizeof text) == nullptr) return "?";
    return text;
}

std::vector<SocketAddress> resolve_numeric(const std::string& host, std::uint16_t port, ResolveFor use) {
    if (host.empty() && use == ResolveFor::connect) {
        throw UsageError(
            "open_connection given an empty host; name the host to connect to (\"127.0.0.1\", \"::1\", "
            "\"localhost\", ...)");
    }
    addrinfo hints = hints_for(use, AI_NUMERICHOST);
    AddrinfoList list;
    const std::string service = std::to_string(port);
    int code = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &list.head);
    if (code == EAI_NONAME) return {};  // a name, not a number
    if (code != 0) throw_resolve_error(code, errno, host);
    return addresses_of(list.head);
}

std::vector<SocketAddress> resolve_blocking(const std::string& host, std::uint16_t port, ResolveFor use) {
    // Acquire: see resolve_hook.
    if (ResolveHook hook = resolve_hook.load(std::memory_order_acquire)) {
        if (int code = hook(host.c_str()); code != 0) throw_resolve_error(code, 0, host);
    }
    // A localhost name is the loopback, whatever the system resolver says or
    // lacks (a minimal root has no /etc/hosts, and glibc then asks DNS).
    if (is_localhost_name(host)) return loopback_addresses(port, use);
    addrinfo hints = hints_for(use, 0);
    AddrinfoList list;
    const std::string service = std::to_string(port);
    int code = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list.head);
    if (code != 0) throw_resolve_error(code, errno, host);
    std::vector<SocketAddress> addresses = addresses_of(list.head);
    if (addresses.empty()) throw_resolve_error(EAI_NODATA, 0, host);
    return addresses;
}

bool is_localhost_name(std::string_view host) noexcept {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    constexpr std::string_view localhost = "localhost";
    if (host.size() < localhost.size()) return false;
    std::string_view tail = host.substr(host.size() - localhost.size());
    bool same = std::equal(tail.begin(), tail.end(), localhost.begin(), [](char a, char b) {
        return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;  // ASCII, whatever the locale
    });
    return same && (host.size() == localhost.size() || host[host.size() - localhost.size() - 1] == '.');
}

void set_resolve_hook(ResolveHook hook) noexcept {
    // Release: see resolve_hook.
    resolve_hook.store(hook, std::memory_order_release);
}

std::string describe_call(const char* function, const std::string& host, std::uint16_t port) {
    return std::string(function) + "(\"" + host + "\", " + std::to_string(port) + ")";
}

int listen_socket(const SocketAddress& address, const ListenOptions& options) {
    const std::string where = "listen on " + describe(address);
    FdGuard fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_error(errno, where + ": socket");
    int one = 1;
    if (options.reuse_address && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        throw_error(errno, where + ": setsockopt(SO_REUSEADDR)");
    }
    if (options.reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        throw_error(errno, where + ": setsockopt(SO_REUSEPORT)");
    }
    // IPv6 only, as asyncio: "::" and "0.0.0.0" are then two sockets on one
    // port, instead of the first taking IPv4 too and the second failing.
    if (address.family() == AF_INET6 && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
        throw_error(errno, where + ": setsockopt(IPV6_V6ONLY)");
    }
    if (::bind(fd.get(), address.get(), address.length) != 0) throw_error(errno, where + ": bind");
    if (::listen(fd.get(), options.backlog) != 0) throw_error(errno, where + ": listen");
    return fd.release();
}

}  // namespace detail

const std::error_category& resolve_category() noexcept {
    static const ResolveCategory category;
    return category;
}

// ---------------------------------------------------------------- open_connection

Task<Stream> open_connection(std::string host, std::uint16_t port, ConnectOptions options) {
    if (options.timeout) return connect_within(std::move(host), port, options);
    return connect_any(std::move(host), port, options);
}

Task<Stream> open_connection(std::uint16_t port, StreamOptions options) {
    ConnectOptions connect;
    connect.stream = options;
    return open_connection("127.0.0.1", port, connect);
}

// ---------------------------------------------------------------- TcpListener

TcpListener::TcpListener() noexcept = default;
TcpListener::TcpListener(std::shared_ptr<detail::StreamCore> core, std::string host, std::uint16_t port,
                         bool nodelay) noexcept
    : core_(std::move(core)), host_(std::move(host)), port_(port), nodelay_(nodelay) {}
TcpListener::TcpListener(TcpListener&&) noexcept = default;

TcpListener& TcpListener::operator=(TcpListener&& other) noexcept {
    if (this != &other) {
        if (core_) core_->abort();
        core_ = std::move(other.core_);
        host_ = std::move(other.host_);
        port_ = other.port_;
        nodelay_ = other.nodelay_;
    }
    return *this;
}

TcpListener::~TcpListener() {
    if (core_) core_->abort();
}

TcpListener TcpListener::open(std::uint16_t port, int backlog) {
    ListenOptions options;
    options.backlog = backlog;
    return open("127.0.0.1", port, options);
}

TcpListener TcpListener::open(const std::string& host, std::uint16_t port, ListenOptions options) {
    if (host.empty()) {
        throw UsageError(
            "TcpListener::open given an empty host, which means two sockets (\"0.0.0.0\" and \"::\"); "
            "use start_server(handler, \"\", port), or name one address");
    }
    std::vector<SocketAddress> addresses = detail::resolve_numeric(host, port, ResolveFor::listen);
    if (addresses.empty()) {
        throw UsageError("TcpListener::open(\"" + host +
                         "\", ...) needs a numeric address (\"127.0.0.1\", \"::1\", \"0.0.0.0\", \"::\"): resolving a "
                         "name could block the loop; use start_server(handler, \"" +
                         host + "\", port), which resolves it off the loop");
    }
    FdGuard fd(detail::listen_socket(addresses.front(), options));
    TcpListener listener = adopt(fd.get(), options);
    fd.release();
    return listener;
}

TcpListener TcpListener::adopt(int fd, ListenOptions options) {
    if (fd < 0) throw UsageError("TcpListener::adopt given a negative file descriptor");
    SocketAddress address = local_address(fd, "TcpListener::adopt");
    std::shared_ptr<StreamCore> core = detail::make_stream_core(fd, true, StreamOptions{});
    return TcpListener(std::move(core), address.host(), address.port(), options.nodelay);
}

Task<Stream> TcpListener::accept(StreamOptions options) {
    if (!core_) throw UsageError("TcpListener::accept on an empty TcpListener (default-constructed or moved from)");
    return accept_one(core_, options, nodelay_);
}

void TcpListener::close() {
    if (core_) core_->close("TcpListener::close");
}

}  // namespace asynclink
