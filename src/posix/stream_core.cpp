// SPDX-License-Identifier: BSL-1.0
// StreamCore, the state a Stream shares with its pending operations: the
// descriptor's readiness, the read and write buffers, reading, writing and
// closing. See src/posix/stream_core.hpp; the Stream API is in stream.cpp.
#include "stream_core.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asynclink/errors.hpp"

namespace asynclink {

namespace detail {

namespace {

constexpr std::size_t read_chunk = std::size_t{64} * 1024;

bool would_block(int error) noexcept { return error == EAGAIN || error == EWOULDBLOCK; }

[[noreturn]] void throw_error(int error, const char* operation) {
    throw std::system_error(error, std::generic_category(), std::string("asynclink: ") + operation);
}

// A write to a pipe whose reader is gone raises SIGPIPE, whose default action
// kills the process. Sockets have MSG_NOSIGNAL; for a pipe, block the signal
// on this thread around the write and take back the one the write raised.
ssize_t write_without_sigpipe(int fd, const char* bytes, std::size_t n) noexcept {
    sigset_t pipe_only;
    sigset_t previous;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
    ssize_t r = ::write(fd, bytes, n);
    int error = errno;
    if (r < 0 && error == EPIPE && sigismember(&previous, SIGPIPE) == 0) {
        // It was not blocked before, so any pending SIGPIPE is the one we raised.
        timespec no_wait{};
        sigtimedwait(&pipe_only, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    errno = error;
    return r;
}

ssize_t send_some(int fd, StreamCore::Kind kind, const char* bytes, std::size_t n) noexcept {
    for (;;) {
        ssize_t r;
        switch (kind) {
        case StreamCore::Kind::socket: r = ::send(fd, bytes, n, MSG_NOSIGNAL); break;
        case StreamCore::Kind::fifo: r = write_without_sigpipe(fd, bytes, n); break;
        default: r = ::write(fd, bytes, n); break;
        }
        if (r >= 0 || errno != EINTR) return r;
    }
}

StreamCore::Kind kind_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_error(errno, "Stream: fstat");
    if (S_ISSOCK(st.st_mode)) return StreamCore::Kind::socket;
    if (S_ISFIFO(st.st_mode)) return StreamCore::Kind::fifo;
    if (S_ISCHR(st.st_mode) && ::isatty(fd) == 1) return StreamCore::Kind::terminal;
    return StreamCore::Kind::other;
}

}  // namespace

FdGuard::~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
}

// ---------------------------------------------------------------- ByteBuffer

char* ByteBuffer::prepare(std::size_t n) {
    if (capacity_ - end_ >= n) return storage_.get() + end_;
    std::size_t used = size();
    if (capacity_ - used >= n) {
        if (used != 0) std::memmove(storage_.get(), data(), used);
    } else {
        std::size_t capacity = std::max(capacity_ * 2, used + n);
        auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
        if (used != 0) std::memcpy(bigger.get(), data(), used);
        storage_ = std::move(bigger);
        capacity_ = capacity;
    }
    begin_ = 0;
    end_ = used;
    return storage_.get() + end_;
}

void ByteBuffer::append(std::string_view bytes) {
    if (bytes.empty()) return;
    std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
    commit(bytes.size());
}

std::string ByteBuffer::take(std::size_t n) {
    std::string bytes(data(), n);
    consume(n);
    return bytes;
}

// ---------------------------------------------------------------- StreamCore

StreamCore::StreamCore(int fd, bool owned, StreamOptions options)
    : fd_(fd), owned_(owned), kind_(kind_of(fd)), options_(options) {
    ready = &on_ready;
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) throw_error(errno, "Stream: fcntl(F_GETFL)");
    if ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        throw_error(errno, "Stream: fcntl(F_SETFL, O_NONBLOCK)");
    }
}

StreamCore::~StreamCore() { close_now(); }

Loop& StreamCore::bind(const char* operation) {
    Loop* current = port::current_loop();
    if (current == nullptr || (loop_ != nullptr && loop_ != current)) [[unlikely]] {
        throw UsageError(std::string(operation) +
                         " called from a thread that is not running the stream's loop (a Stream belongs to the first "
                         "loop that uses it); hand the bytes to a task of that loop through a ThreadSafeQueue or "
                         "Loop::call_soon_threadsafe");
    }
    if (loop_id_ != current->id()) {
        // First use, or a new loop where a dead one lived: the dead loop's
        // registration and io-watch count ended with it.
        armed_ = 0;
        loop_id_ = current->id();
    }
    loop_ = current;
    return *current;
}

Loop* StreamCore::loop_here() const noexcept {
    Loop* current = port::current_loop();
    return current != nullptr && current == loop_ && current->id() == loop_id_ ? current : nullptr;
}

void StreamCore::wake_all(WaiterList& list) noexcept {
    while (ListedWaiter* w = list.pop_front()) static_cast<Waiter*>(w)->task->wake();
}

void StreamCore::want(std::uint32_t events, const char* operation) {
    Loop& loop = bind(operation);
    std::uint32_t next = armed_ | events;
    if (next == armed_) return;
    detail::LoopAccess::idle(loop).watch(fd_, next, *this);
    if (armed_ == 0) detail::LoopAccess::add_io_watch(loop);
    armed_ = next;
}

void StreamCore::unwant(std::uint32_t events) noexcept {
    std::uint32_t next = armed_ & ~events;
    if (next == armed_) return;
    Loop* loop = loop_here();
    if (loop == nullptr) return;
    if (next == 0) {
        detail::LoopAccess::idle(*loop).unwatch(fd_);
        detail::LoopAccess::remove_io_watch(*loop);
        armed_ = 0;
        return;
    }
    try {
        detail::LoopAccess::idle(*loop).watch(fd_, next, *this);
        armed_ = next;
    } catch (...) {
        // Still watching more than needed only costs a spurious report, at
        // which the next attempt is made.
    }
}

void StreamCore::on_ready(port::IoWatch& self, std::uint32_t events) noexcept {
    auto& core = static_cast<StreamCore&>(self);
    if (core.loop_ != nullptr) detail::LoopAccess::count_io(*core.loop_);
    std::uint32_t unwanted = 0;
    if ((events & (port::io_writable | port::io_error)) != 0) {
        core.flush();
        if (core.fd_ < 0) return;  // closed once flushed (or failed): nothing is watched any more
        if (!core.paused_) wake_all(core.writers_);
        if (core.wbuf_.empty() && core.writers_.empty()) unwanted |= port::io_writable;
    }
    if ((events & (port::io_readable | port::io_error)) != 0) {
        core.drained_ = false;
        if (!core.readers_.empty()) {
            wake_all(core.readers_);
            core.reader_woken_ = true;
        } else if (!core.reader_woken_) {
            unwanted |= port::io_readable;
        }
    }
    core.unwant(unwanted);
}

// --- reading

StreamCore::ReadSession::ReadSession(StreamCore& core, const char* operation) : core_(core) {
    core.bind(operation);
    if (core.reading_) {
        throw UsageError(std::string(operation) +
                         " while another task is reading the same stream; let one task read and route the messages "
                         "(e.g. to Queues)");
    }
    core.reading_ = true;
}

bool StreamCore::fill(const char* operation) {
    if (eof_) return true;
    if (closing_ || fd_ < 0) {
        eof_ = true;
        return true;
    }
    bind(operation);  // armed_ is only meaningful for the loop running now
    if (drained_ && (armed_ & port::io_readable) != 0) return false;
    for (;;) {
        ssize_t n = ::read(fd_, rbuf_.prepare(read_chunk), read_chunk);
        if (n > 0) {
            rbuf_.commit(static_cast<std::size_t>(n));
            drained_ = static_cast<std::size_t>(n) < read_chunk;
            return true;
        }
        if (n == 0) {
            eof_ = true;
            return true;
        }
        int error = errno;
        if (error == EINTR) continue;
        if (would_block(error)) {
            drained_ = true;
            want(port::io_readable, operation);
            return false;
        }
        // A terminal reports the other side's hang-up as EIO: the end of the line.
        if (error == EIO && kind_ == Kind::terminal) {
            eof_ = true;
            return true;
        }
        throw_error(error, operation);
    }
}

// --- writing

void StreamCore::throw_if_write_failed(const char* operation) const {
    if (write_error_ != 0) throw_error(write_error_, operation);
}

void StreamCore::write(std::string_view data, const char* operation) {
    bind(operation);
    throw_if_write_failed(operation);
    if (write_closed_) throw UsageError(std::string(operation) + " after close() or write_eof()");
    if (data.empty()) return;
    if (wbuf_.empty()) {
        // Nothing queued ahead of these bytes: offer them to the kernel now.
        ssize_t n = send_some(fd_, kind_, data.data(), data.size());
        if (n < 0) {
            int error = errno;
            if (!would_block(error)) {
                fail_write(error);
                throw_error(error, operation);
            }
        } else {
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        if (data.empty()) return;
    }
    wbuf_.append(data);
    if (wbuf_.size() > options_.high_water) paused_ = true;
    try {
        want(port::io_writable, operation);
    } catch (const std::system_error& e) {
        fail_write(e.code().value());
        throw;
    }
}

void StreamCore::flush() noexcept {
    while (!wbuf_.empty()) {
        std::size_t size = wbuf_.size();
        ssize_t n = send_some(fd_, kind_, wbuf_.data(), size);
        if (n < 0) {
            int error = errno;
            if (would_block(error)) break;
            fail_write(error);
            return;
        }
        wbuf_.consume(static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < size) break;  // the kernel's buffer is full
    }
    if (paused_ && wbuf_.size() <= options_.low_water) {
        paused_ = false;
        wake_all(drainers_);
    }
    after_flush();
}

void StreamCore::fail_write(int error) noexcept {
    write_error_ = error;
    wbuf_.clear();
    paused_ = false;
    wake_all(drainers_);
    after_flush();
}

void StreamCore::after_flush() noexcept {
    if (!wbuf_.empty()) return;
    if (eof_pending_) {
        eof_pending_ = false;
        if (write_error_ == 0 && fd_ >= 0 && ::shutdown(fd_, SHUT_WR) != 0) write_error_ = errno;
    }
    if (closing_) close_now();
}

void StreamCore::write_eof(const char* operation) {
    bind(operation);
    if (kind_ != Kind::socket) {
        throw UsageError(std::string(operation) +
                         " needs a socket; close() the stream to end a pipe or a terminal line");
    }
    if (write_closed_) return;
    write_closed_ = true;
    eof_pending_ = true;
    after_flush();
}

// --- closing

void StreamCore::close(const char* operation) {
    bind(operation);
    if (closing_) return;
    closing_ = true;
    write_closed_ = true;
    wake_all(readers_);  // a read in progress sees the end of the stream
    after_flush();       // closes now, unless bytes wait to be sent
}

void StreamCore::abort() noexcept {
    if (fd_ < 0) return;
    if (!wbuf_.empty() && write_error_ == 0) write_error_ = ECANCELED;
    wbuf_.clear();
    close_now();
}

void StreamCore::close_now() noexcept {
    if (fd_ < 0) return;
    if (armed_ != 0) {
        if (Loop* loop = loop_here()) {
            detail::LoopAccess::idle(*loop).unwatch(fd_);
            detail::LoopAccess::remove_io_watch(*loop);
        }
        armed_ = 0;
    }
    if (owned_) ::close(fd_);
    fd_ = -1;
    closing_ = true;
    write_closed_ = true;
    paused_ = false;
    wake_all(readers_);
    wake_all(writers_);
    wake_all(drainers_);
    wake_all(closers_);
}

void StreamCore::check_released_here() const noexcept {
    bool in_use = reading_ || !readers_.empty() || !writers_.empty() || !drainers_.empty() || !closers_.empty();
    if (in_use && loop_here() == nullptr) [[unlikely]] {
        port::fatal(
            "asynclink: Stream destroyed (or assigned to) on a thread that is not running its loop while a "
            "task reads or waits on it; close or destroy it in a task of that loop (hand the request over "
            "with Loop::call_soon_threadsafe)");
    }
}

std::shared_ptr<StreamCore> make_stream_core(int fd, bool owned, StreamOptions options) {
    if (fd < 0) throw UsageError("Stream given a negative file descriptor");
    if (options.limit == 0) throw UsageError("StreamOptions::limit must be at least 1");
    if (options.low_water > options.high_water) {
        throw UsageError("StreamOptions::low_water (" + std::to_string(options.low_water) +
                         ") must not exceed high_water (" + std::to_string(options.high_water) + ")");
    }
    return std::make_shared<StreamCore>(fd, owned, options);
}

}  // namespace detail

}  // namespace asynclink
