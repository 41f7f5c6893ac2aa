// SPDX-License-Identifier: BSL-1.0
// Opening streams. See include/asynclink/posix/stream_open.hpp.
#include "asynclink/posix/stream_open.hpp"

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "asynclink/errors.hpp"
#include "stream_core.hpp"

namespace asynclink {

namespace {

using detail::StreamCore;

[[noreturn]] void throw_error(int error, const std::string& operation) {
    throw std::system_error(error, std::generic_category(), "asynclink: " + operation);
}

/// Closes a descriptor unless it was handed on.
class FdGuard {
public:
    explicit FdGuard(int fd) noexcept : fd_(fd) {}
    ~FdGuard() {
        if (fd_ >= 0) ::close(fd_);
    }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

Stream adopt(FdGuard& fd, StreamOptions options) {
    Stream s = Stream::adopt(fd.get(), options);
    fd.release();
    return s;
}

std::pair<Stream, Stream> adopt_pair(int fds[2], StreamOptions options) {
    FdGuard first(fds[0]);
    FdGuard second(fds[1]);
    Stream a = adopt(first, options);
    Stream b = adopt(second, options);
    return {std::move(a), std::move(b)};
}

void set_raw(int fd, const std::string& operation, speed_t speed) {
    termios tio{};
    if (::tcgetattr(fd, &tio) != 0) throw_error(errno, operation + ": tcgetattr");
    ::cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~static_cast<tcflag_t>(CRTSCTS | CSTOPB | PARENB);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (speed != B0 && (::cfsetispeed(&tio, speed) != 0 || ::cfsetospeed(&tio, speed) != 0)) {
        throw_error(errno, operation + ": cfsetspeed");
    }
    if (::tcsetattr(fd, TCSANOW, &tio) != 0) throw_error(errno, operation + ": tcsetattr");
}

speed_t speed_of(int baud) {
    switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 500000: return B500000;
    case 576000: return B576000;
    case 921600: return B921600;
    case 1000000: return B1000000;
    case 1500000: return B1500000;
    case 2000000: return B2000000;
    case 3000000: return B3000000;
    case 4000000: return B4000000;
    default:
        throw UsageError("open_serial: no termios speed for " + std::to_string(baud) +
                         " baud (use one of 1200 ... 4000000 the kernel defines)");
    }
}

void set_nodelay(int fd) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        throw_error(errno, "setsockopt(TCP_NODELAY)");
}

sockaddr_in loopback(std::uint16_t port) noexcept {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

Task<Stream> connect_loopback(std::uint16_t port, StreamOptions options) {
    const std::string operation = "open_connection(127.0.0.1:" + std::to_string(port) + ")";
    FdGuard fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_error(errno, operation + ": socket");
    std::shared_ptr<StreamCore> core = detail::make_stream_core(fd.get(), true, options);
    fd.release();  // the core closes it from now on, also if this task is cancelled
    sockaddr_in address = loopback(port);
    if (::connect(core->fd(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) throw_error(errno, operation);
        // Writability reports the outcome; SO_ERROR says which.
        for (;;) {
            core->want_writable("open_connection");
            co_await core->wait_writable();
            int error = 0;
            socklen_t length = sizeof error;
            if (::getsockopt(core->fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) throw_error(errno, operation);
            if (error != 0) throw_error(error, operation);
            sockaddr_in peer{};
            socklen_t peer_length = sizeof peer;
            if (::getpeername(core->fd(), reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) break;
            if (errno != ENOTCONN) throw_error(errno, operation);
        }
    }
    set_nodelay(core->fd());
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move): clang 14 evaluates a co_return operand twice
    co_return Stream(std::move(core));
}

Task<Stream> accept_one(std::shared_ptr<StreamCore> core, StreamOptions options) {
    const char* operation = "TcpListener::accept";
    core->bind(operation);
    for (;;) {
        if (core->closing()) throw_error(EBADF, "TcpListener::accept on a closed listener");
        FdGuard fd(::accept4(core->fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd.get() >= 0) {
            set_nodelay(fd.get());
            co_return adopt(fd, options);
        }
        int error = errno;
        if (error == EINTR || error == ECONNABORTED) continue;
        if (error != EAGAIN && error != EWOULDBLOCK) throw_error(error, operation);
        core->want_readable(operation);
        co_await core->wait_readable();
    }
}

}  // namespace

std::pair<Stream, Stream> open_pipe(StreamOptions options) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw_error(errno, "open_pipe: pipe2");
    return adopt_pair(fds, options);
}

std::pair<Stream, Stream> open_socketpair(StreamOptions options) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        throw_error(errno, "open_socketpair: socketpair");
    }
    return adopt_pair(fds, options);
}

PtyPair open_pty(StreamOptions options) {
    FdGuard controller(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (controller.get() < 0) throw_error(errno, "open_pty: posix_openpt");
    if (::grantpt(controller.get()) != 0) throw_error(errno, "open_pty: grantpt");
    if (::unlockpt(controller.get()) != 0) throw_error(errno, "open_pty: unlockpt");
    char name[128];
    if (int error = ::ptsname_r(controller.get(), name, sizeof name); error != 0) {
        throw_error(error, "open_pty: ptsname_r");
    }
    FdGuard terminal(::open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (terminal.get() < 0) throw_error(errno, std::string("open_pty: open ") + name);
    set_raw(terminal.get(), "open_pty", B0);
    Stream c = adopt(controller, options);
    Stream t = adopt(terminal, options);
    return PtyPair{std::move(c), std::move(t), name};
}

Stream open_serial(const std::string& path, int baud, StreamOptions options) {
    speed_t speed = speed_of(baud);
    FdGuard fd(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) throw_error(errno, "open_serial: open " + path);
    set_raw(fd.get(), "open_serial " + path, speed);
    return adopt(fd, options);
}

Task<Stream> open_connection(std::uint16_t port, StreamOptions options) { return connect_loopback(port, options); }

// ---------------------------------------------------------------- TcpListener

TcpListener::TcpListener() noexcept = default;
TcpListener::TcpListener(std::shared_ptr<detail::StreamCore> core, std::uint16_t port) noexcept
    : core_(std::move(core)), port_(port) {}
TcpListener::TcpListener(TcpListener&&) noexcept = default;

TcpListener& TcpListener::operator=(TcpListener&& other) noexcept {
    if (this != &other) {
        if (core_) core_->abort();
        core_ = std::move(other.core_);
        port_ = other.port_;
    }
    return *this;
}

TcpListener::~TcpListener() {
    if (core_) core_->abort();
}

TcpListener TcpListener::open(std::uint16_t port, int backlog) {
    const std::string operation = "TcpListener::open(127.0.0.1:" + std::to_string(port) + ")";
    FdGuard fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_error(errno, operation + ": socket");
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        throw_error(errno, operation + ": setsockopt(SO_REUSEADDR)");
    }
    sockaddr_in address = loopback(port);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        throw_error(errno, operation + ": bind");
    }
    if (::listen(fd.get(), backlog) != 0) throw_error(errno, operation + ": listen");
    socklen_t length = sizeof address;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw_error(errno, operation + ": getsockname");
    }
    std::shared_ptr<StreamCore> core = detail::make_stream_core(fd.get(), true, StreamOptions{});
    fd.release();
    return TcpListener(std::move(core), ntohs(address.sin_port));
}

Task<Stream> TcpListener::accept(StreamOptions options) {
    if (!core_) throw UsageError("TcpListener::accept on an empty TcpListener (default-constructed or moved from)");
    return accept_one(core_, options);
}

void TcpListener::close() {
    if (core_) core_->close("TcpListener::close");
}

}  // namespace asynclink
