// SPDX-License-Identifier: BSL-1.0
// Opening streams: pipes, socket pairs, terminals. See
// include/asynclink/posix/stream_open.hpp; TCP is in tcp.cpp.
#include "asynclink/posix/stream_open.hpp"

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include <fcntl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "asynclink/errors.hpp"
#include "stream_core.hpp"

namespace asynclink {

namespace {

using detail::FdGuard;

[[noreturn]] void throw_error(int error, const std::string& operation) {
    throw std::system_error(error, std::generic_category(), "asynclink: " + operation);
}

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

}  // namespace asynclink
