// SPDX-License-Identifier: BSL-1.0
// Streams over file descriptors: the Stream API and its errors. See
// include/asynclink/posix/stream.hpp; the shared state is in stream_core.cpp.
#include "asynclink/posix/stream.hpp"

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
#include "stream_core.hpp"

namespace asynclink {

// ---------------------------------------------------------------- errors

IncompleteReadError::IncompleteReadError(std::string partial, std::optional<std::size_t> expected)
    : std::runtime_error(expected ? "asynclink: stream ended after " + std::to_string(partial.size()) + " of " +
                                        std::to_string(*expected) + " bytes"
                                  : "asynclink: stream ended before the separator, after " +
                                        std::to_string(partial.size()) + " bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

LimitOverrunError::LimitOverrunError(std::size_t buffered, std::size_t limit)
    : std::runtime_error("asynclink: no separator within the stream's limit of " + std::to_string(limit) + " bytes (" +
                         std::to_string(buffered) + " buffered)"),
      buffered_(buffered) {}

// ---------------------------------------------------------------- Stream

namespace {

using detail::StreamCore;

Task<std::string> read_some(std::shared_ptr<StreamCore> core, std::size_t max) {
    const char* operation = "Stream::read";
    StreamCore::ReadSession session(*core, operation);
    detail::ByteBuffer& buffer = core->read_buffer();
    if (max == 0) co_return std::string();
    for (;;) {
        core->drop_skipped();
        if (!buffer.empty() || core->eof()) break;
        if (!core->fill(operation)) co_await core->wait_readable();
    }
    co_return buffer.take(std::min(max, buffer.size()));
}

Task<std::string> read_exactly(std::shared_ptr<StreamCore> core, std::size_t n) {
    const char* operation = "Stream::readexactly";
    StreamCore::ReadSession session(*core, operation);
    detail::ByteBuffer& buffer = core->read_buffer();
    for (;;) {
        core->drop_skipped();
        if (buffer.size() >= n) break;
        if (core->eof()) throw IncompleteReadError(buffer.take(buffer.size()), n);
        if (!core->fill(operation)) co_await core->wait_readable();
    }
    co_return buffer.take(n);
}

// readuntil(), and readline() when `is_readline` (the bytes left at the end
// of the stream are returned instead of thrown, and a line beyond the limit is
// skipped instead of left buffered).
Task<std::string> read_until(std::shared_ptr<StreamCore> core, std::string separator, const char* operation,
                             bool is_readline) {
    if (separator.empty()) throw UsageError(std::string(operation) + " given an empty separator");
    StreamCore::ReadSession session(*core, operation);
    detail::ByteBuffer& buffer = core->read_buffer();
    const std::size_t limit = core->options().limit;
    auto overrun = [&] {
        LimitOverrunError error(buffer.size(), limit);
        if (is_readline) {
            core->skip_line();
            core->drop_skipped();
        }
        return error;
    };
    std::size_t searched = 0;  // no separator starts before this offset
    for (;;) {
        if (core->drop_skipped()) searched = 0;
        std::size_t at = buffer.view().find(separator, searched);
        if (at != std::string_view::npos) {
            if (at > limit) throw overrun();
            co_return buffer.take(at + separator.size());
        }
        // A separator still to come would start at `searched` or later.
        searched = buffer.size() >= separator.size() ? buffer.size() - separator.size() + 1 : 0;
        if (searched > limit) throw overrun();
        if (core->eof()) {
            if (is_readline) co_return buffer.take(buffer.size());
            throw IncompleteReadError(buffer.take(buffer.size()), std::nullopt);
        }
        if (!core->fill(operation)) co_await core->wait_readable();
    }
}

Task<void> drain_core(std::shared_ptr<StreamCore> core) {
    const char* operation = "Stream::drain";
    while (core->paused()) {
        // Normally already watched since write(); not if the loop that watched it has ended.
        core->want_writable(operation);
        co_await core->wait_drained();
    }
    core->throw_if_write_failed(operation);
}

Task<void> wait_closed_core(std::shared_ptr<StreamCore> core) {
    const char* operation = "Stream::wait_closed";
    core->bind(operation);
    while (!core->closed()) {
        if (core->closing()) core->want_writable(operation);  // the bytes still to send before closing
        co_await core->wait_closed();
    }
    core->throw_if_write_failed(operation);
}

}  // namespace

Stream::Stream() noexcept = default;
Stream::Stream(std::shared_ptr<detail::StreamCore> core) noexcept : core_(std::move(core)) {}
Stream::Stream(Stream&& other) noexcept = default;

Stream& Stream::operator=(Stream&& other) noexcept {
    if (this != &other) {
        if (core_) {
            core_->check_released_here();
            core_->abort();
        }
        core_ = std::move(other.core_);
    }
    return *this;
}

Stream::~Stream() {
    if (core_) {
        core_->check_released_here();
        core_->abort();
    }
}

Stream Stream::adopt(int fd, StreamOptions options) { return Stream(detail::make_stream_core(fd, true, options)); }
Stream Stream::borrow(int fd, StreamOptions options) { return Stream(detail::make_stream_core(fd, false, options)); }

detail::StreamCore& Stream::core(const char* operation) const {
    if (!core_) throw UsageError(std::string(operation) + " on an empty Stream (default-constructed or moved from)");
    return *core_;
}

Task<std::string> Stream::read(std::size_t max) {
    core("Stream::read");
    return read_some(core_, max);
}

Task<std::string> Stream::readline() {
    core("Stream::readline");
    return read_until(core_, "\n", "Stream::readline", true);
}

Task<std::string> Stream::readuntil(std::string separator) {
    core("Stream::readuntil");
    return read_until(core_, std::move(separator), "Stream::readuntil", false);
}

Task<std::string> Stream::readexactly(std::size_t n) {
    core("Stream::readexactly");
    return read_exactly(core_, n);
}

bool Stream::at_eof() const {
    StreamCore& c = core("Stream::at_eof");
    c.bind("Stream::at_eof");
    return c.eof() && c.read_buffer().empty();
}

void Stream::write(std::string_view data) { core("Stream::write").write(data, "Stream::write"); }

Task<void> Stream::drain() {
    core("Stream::drain");
    return drain_core(core_);
}

void Stream::write_eof() { core("Stream::write_eof").write_eof("Stream::write_eof"); }

bool Stream::can_write_eof() const { return core("Stream::can_write_eof").is_socket(); }

std::size_t Stream::write_buffer_size() const {
    StreamCore& c = core("Stream::write_buffer_size");
    c.bind("Stream::write_buffer_size");
    return c.write_buffer_size();
}

void Stream::close() { core("Stream::close").close("Stream::close"); }

bool Stream::is_closing() const {
    StreamCore& c = core("Stream::is_closing");
    c.bind("Stream::is_closing");
    return c.closing();
}

Task<void> Stream::wait_closed() {
    core("Stream::wait_closed");
    return wait_closed_core(core_);
}

void Stream::abort() noexcept {
    if (core_) core_->abort();
}

int Stream::fd() const noexcept { return core_ ? core_->fd() : -1; }

}  // namespace asynclink
