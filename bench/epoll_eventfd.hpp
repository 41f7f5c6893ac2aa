// SPDX-License-Identifier: BSL-1.0
// An eventfd watched by its own epoll set, for the benchmarks' floors: what a
// loop's sleep and wake cost without the loop (bridge_bench, wake_cpu).
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace bench {

/// An eventfd watched by its own epoll set: the raw material of a loop's sleep.
class EpollEventfd {
public:
    EpollEventfd() : epoll_(epoll_create1(EPOLL_CLOEXEC)), event_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        epoll_ctl(epoll_, EPOLL_CTL_ADD, event_, &ev);
    }
    ~EpollEventfd() {
        close(event_);
        close(epoll_);
    }
    EpollEventfd(const EpollEventfd&) = delete;
    EpollEventfd& operator=(const EpollEventfd&) = delete;

    /// Async-signal-safe.
    void signal() const noexcept {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = write(event_, &one, sizeof one);
    }
    /// Sleeps in epoll_wait until signalled (or until a signal handler ran).
    void wait() const noexcept {
        epoll_event ev{};
        if (epoll_wait(epoll_, &ev, 1, -1) == 1) {
            std::uint64_t drained;
            [[maybe_unused]] auto r = read(event_, &drained, sizeof drained);
        }
    }
    /// Sleeps until signalled, through any number of signal interruptions.
    void wait_signalled() const noexcept {
        epoll_event ev{};
        while (epoll_wait(epoll_, &ev, 1, -1) != 1) {
        }
        std::uint64_t drained;
        [[maybe_unused]] auto r = read(event_, &drained, sizeof drained);
    }

private:
    int epoll_;
    int event_;
};

}  // namespace bench
