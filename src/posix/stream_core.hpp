// SPDX-License-Identifier: BSL-1.0
// The private half of Stream and TcpListener: one file descriptor, its
// buffers, its readiness registration with the loop and the tasks waiting on
// it. Loop thread only. Not installed.
//
// Registration with epoll is lazy: a direction a task waited for stays
// watched after the wake-up (the next wait then costs no system call) until a
// readiness report arrives that nobody waits for. Writability is dropped as
// soon as the write buffer is empty, because it is nearly always true.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/posix/stream.hpp"

namespace asynclink::detail {

/// Closes a descriptor unless it was handed on (to a StreamCore, say).
class FdGuard {
public:
    explicit FdGuard(int fd) noexcept : fd_(fd) {}
    ~FdGuard();
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

/// A byte queue: append at the back, consume at the front, no zero-filling
/// of the space a read() syscall is about to fill.
class ByteBuffer {
public:
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    const char* data() const noexcept { return storage_.get() + begin_; }
    std::string_view view() const noexcept { return {data(), size()}; }

    /// Room for at least `n` more bytes at the back; commit() what was used.
    char* prepare(std::size_t n);
    void commit(std::size_t n) noexcept { end_ += n; }
    void append(std::string_view bytes);
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    std::string take(std::size_t n);
    void clear() noexcept { begin_ = end_ = 0; }

private:
    std::unique_ptr<char[]> storage_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

class StreamCore : public port::IoWatch {
public:
    enum class Kind : std::uint8_t { socket, fifo, terminal, other };

    StreamCore(int fd, bool owned, StreamOptions options);
    ~StreamCore();
    StreamCore(const StreamCore&) = delete;
    StreamCore& operator=(const StreamCore&) = delete;

    /// Checks the calling thread runs this stream's loop (binding it on first
    /// use) and returns that loop.
    Loop& bind(const char* operation);

    /// Parks a task until the loop reports the descriptor ready in one
    /// direction, or the stream closes. Wake-ups may be spurious: re-check.
    /// `woken`, if given, is cleared when the task runs again.
    class Waiter : public Parked, public ListedWaiter {
    public:
        explicit Waiter(WaiterList& list, bool* woken = nullptr) noexcept
            : Parked(&on_cancel), list_(list), woken_(woken) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            list_.push_back(*this);
            return true;
        }
        void await_resume() const {
            if (woken_ != nullptr) *woken_ = false;
            throw_if_cancelled();
        }

    private:
        static CancelResult on_cancel(Suspension& self) noexcept {
            auto& w = static_cast<Waiter&>(self);
            w.list_.remove(w);
            w.cancelled = true;
            return CancelResult::resume_now;
        }
        WaiterList& list_;
        bool* woken_;
    };

    // --- reading

    /// Pulls what the kernel has into the read buffer. Returns false if
    /// nothing is there yet, after making sure readability is watched; true
    /// after bytes or the end of the stream arrived. Throws on errors.
    bool fill(const char* operation);
    /// Suspends until the descriptor may be readable (after fill() said no).
    Waiter wait_readable() noexcept { return Waiter(readers_, &reader_woken_); }

    ByteBuffer& read_buffer() noexcept { return rbuf_; }
    bool eof() const noexcept { return eof_; }

    /// After readline() met a line longer than the limit: every read skips
    /// the bytes up to and including the next '\n', buffered or still to come.
    void skip_line() noexcept { skipping_line_ = true; }
    /// Drops what skip_line() asked for from the buffer, as far as it goes;
    /// true if it dropped anything.
    bool drop_skipped() noexcept {
        if (!skipping_line_ || rbuf_.empty()) return false;
        std::size_t end = rbuf_.view().find('\n');
        if (end == std::string_view::npos) {
            rbuf_.clear();
        } else {
            rbuf_.consume(end + 1);
            skipping_line_ = false;
        }
        return true;
    }
    const StreamOptions& options() const noexcept { return options_; }

    /// One reading task at a time: held for the whole read operation, so a
    /// second reader cannot take bytes the first one is collecting.
    class ReadSession {
    public:
        ReadSession(StreamCore& core, const char* operation);
        ~ReadSession() { core_.reading_ = false; }
        ReadSession(const ReadSession&) = delete;
        ReadSession& operator=(const ReadSession&) = delete;

    private:
        StreamCore& core_;
    };

    // --- writing

    void write(std::string_view data, const char* operation);
    /// Throws the error that stopped sending, if any.
    void throw_if_write_failed(const char* operation) const;
    bool paused() const noexcept { return paused_; }
    Waiter wait_drained() noexcept { return Waiter(drainers_); }
    /// Suspends until the descriptor may be writable (a connect in progress).
    Waiter wait_writable() noexcept { return Waiter(writers_); }
    /// Makes sure writability is watched before wait_writable().
    void want_writable(const char* operation) { want(port::io_writable, operation); }
    void write_eof(const char* operation);
    bool is_socket() const noexcept { return kind_ == Kind::socket; }
    std::size_t write_buffer_size() const noexcept { return wbuf_.size(); }

    // --- closing

    void close(const char* operation);
    void abort() noexcept;
    /// Before the Stream object lets go of the core (destroyed, assigned to):
    /// on a thread that is not running the stream's loop while a task reads
    /// or waits on it, the abort would wake that task from here, racing the
    /// loop. Stops the program with a message instead. (Without a task using
    /// it, letting go elsewhere is allowed: before the first use, and after
    /// the loop is gone.)
    void check_released_here() const noexcept;
    bool closing() const noexcept { return closing_; }
    bool closed() const noexcept { return fd_ < 0; }
    Waiter wait_closed() noexcept { return Waiter(closers_); }
    int fd() const noexcept { return fd_; }

    /// Makes sure readability is watched (before wait_readable()).
    void want_readable(const char* operation) { want(port::io_readable, operation); }

private:
    static void on_ready(port::IoWatch& self, std::uint32_t events) noexcept;
    void want(std::uint32_t events, const char* operation);
    void unwant(std::uint32_t events) noexcept;
    /// Sends from the write buffer until the kernel refuses; records failure.
    void flush() noexcept;
    /// Runs what was waiting for the buffer to empty: shutdown, close.
    void after_flush() noexcept;
    void fail_write(int error) noexcept;
    void close_now() noexcept;
    /// The owning loop, when it is the one running on this thread; touching
    /// the registration from anywhere else would reach a dead or foreign loop.
    Loop* loop_here() const noexcept;
    static void wake_all(WaiterList& list) noexcept;

    int fd_;
    bool owned_;
    Kind kind_;
    StreamOptions options_;

    Loop* loop_ = nullptr;
    std::uint64_t loop_id_ = 0;  ///< Loop::id() of the loop the registration below belongs to
    std::uint32_t armed_ = 0;    ///< port::IoEvents watched now

    ByteBuffer rbuf_;
    ByteBuffer wbuf_;
    WaiterList readers_;   ///< reads and accepts waiting for readability
    WaiterList writers_;   ///< connects waiting for writability
    WaiterList drainers_;  ///< drains waiting for the buffer to go below low water
    WaiterList closers_;   ///< wait_closed()

    bool reading_ = false;
    /// Readers were woken and have not run yet. The readiness they were woken
    /// for is reported again (level-triggered) until they read: not a reason
    /// to stop watching, which would cost two system calls per wake-up.
    bool reader_woken_ = false;
    /// The last read() returned less than it asked for and no readiness was
    /// reported since: while readability is watched, reading again would only
    /// return EAGAIN, and the next (level-triggered) report says when not.
    bool drained_ = false;
    bool eof_ = false;
    bool skipping_line_ = false;  ///< see skip_line()
    bool paused_ = false;         ///< more than high_water buffered; drain() waits
    bool closing_ = false;        ///< close() called: close once flushed
    bool eof_pending_ = false;    ///< write_eof() called: shut down once flushed
    bool write_closed_ = false;   ///< no write() accepted any more
    int write_error_ = 0;         ///< errno that stopped sending (ECANCELED: abort() discarded bytes)
};

/// Validates the options and wraps `fd` (owned: closed with the core).
/// Throws UsageError for a negative fd or inconsistent options.
std::shared_ptr<StreamCore> make_stream_core(int fd, bool owned, StreamOptions options);

}  // namespace asynclink::detail
