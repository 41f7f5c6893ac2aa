// SPDX-License-Identifier: BSL-1.0
// System calls of the Linux port. See include/asynclink/port/linux.hpp.
#include "asynclink/port/linux.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <system_error>

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace asynclink::port {

namespace {

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), std::string("asynclink: ") + what);
}

constexpr std::uint64_t wake_token = ~std::uint64_t{0};  // epoll data marking the eventfd

#if defined(__SANITIZE_THREAD__)
#define ASYNCLINK_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ASYNCLINK_UNDER_TSAN 1
#endif
#endif

// ThreadSanitizer runs a signal handler at once only while the thread is in a
// call it knows blocks; anywhere else it defers the handler to the thread's
// next intercepted call or atomic operation. A raw epoll_pwait2 system call is
// not such a call (this ThreadSanitizer does not intercept epoll_pwait2), and
// it is the loop's last step before sleeping: a handler arriving after the
// loop's last atomic operation was deferred, the loop slept, and the
// handler's wake-up waited for something else to wake the loop, perhaps
// forever. The kernel has no such window (it runs the handler at once, and the
// eventfd write ends the wait), so this is ThreadSanitizer's, but it hung
// SelectRace.QueueGetAndSleep and FromASignalHandler/LoopSchedule for 60 s.
// Under ThreadSanitizer the loop therefore sleeps in epoll_wait, which it
// intercepts as blocking (deferred handlers run before the wait, new ones at
// once), at the price of millisecond timeouts rounded up, as on kernels
// before 5.11. tests/signal_wake_test.cpp reproduces the hang.
#ifdef ASYNCLINK_UNDER_TSAN
constexpr bool use_pwait2 = false;
#else
constexpr bool use_pwait2 = true;
#endif

}  // namespace

Clock::time_point Clock::now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return time_point(duration(std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec));
}

Idle::Idle() : have_pwait2_(use_pwait2) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_errno("epoll_create1");
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) {
        int saved = errno;
        close(epoll_fd_);
        errno = saved;
        throw_errno("eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_token;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) != 0) {
        int saved = errno;
        close(event_fd_);
        close(epoll_fd_);
        errno = saved;
        throw_errno("epoll_ctl(eventfd)");
    }
}

Idle::~Idle() {
    close(event_fd_);
    close(epoll_fd_);
}

// NOLINTNEXTLINE(misc-no-recursion): calls itself once, after have_pwait2_ is cleared, to use epoll_wait
void Idle::wait(std::optional<Clock::duration> timeout) {
    // A wake() that failed means some set() may never reach us: say so.
    // Relaxed: the error code is the whole message, nothing else is published with it.
    if (int err = wake_error_.exchange(0, std::memory_order_relaxed); err != 0) {
        throw std::system_error(err, std::generic_category(), "asynclink: waking the loop failed (eventfd write)");
    }
    epoll_event events[32];
    int n;
    if (timeout && timeout->count() < 0) timeout = Clock::duration::zero();
    if (have_pwait2_) {
        timespec ts{};
        timespec* tsp = nullptr;
        if (timeout) {
            ts.tv_sec = static_cast<time_t>(timeout->count() / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(timeout->count() % 1'000'000'000);
            tsp = &ts;
        }
        n = static_cast<int>(syscall(SYS_epoll_pwait2, epoll_fd_, events, 32, tsp, nullptr, 0));
        if (n < 0 && errno == ENOSYS) {
            have_pwait2_ = false;
            return wait(timeout);
        }
    } else {
        int ms = -1;
        if (timeout) {
            // Round up so a timer is never woken for early.
            auto us = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
            ms = us > 0x7fffffff ? 0x7fffffff : static_cast<int>(us);
        }
        n = epoll_wait(epoll_fd_, events, 32, ms);
    }
    if (n < 0) {
        if (errno == EINTR) return;  // a signal handler ran; the loop re-checks everything
        throw_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == wake_token) {
            std::uint64_t drained;
            // EAGAIN only means another wait already drained it.
            [[maybe_unused]] auto r = read(event_fd_, &drained, sizeof drained);
            continue;
        }
        auto* watcher = static_cast<IoWatch*>(events[i].data.ptr);
        std::uint32_t what = 0;
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) what |= io_readable;
        if (events[i].events & EPOLLOUT) what |= io_writable;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) what |= io_error;
        watcher->ready(*watcher, what);
    }
}

bool Idle::wake() noexcept {
    int saved_errno = errno;  // a signal handler must leave errno as it found it
    std::uint64_t one = 1;
    // Relaxed: a test-only knob; nothing is published through it.
    int injected = injected_wake_error_.exchange(0, std::memory_order_relaxed);
    ssize_t r = injected != 0 ? -1 : write(event_fd_, &one, sizeof one);
    if (r < 0) {
        int err = injected != 0 ? injected : errno;
        // EAGAIN: the counter is saturated, so the loop is certainly going to wake.
        // Relaxed: the loop only needs to see the error code eventually, and its
        // next wait() (which reads it) happens after it is woken by something.
        if (err != EAGAIN) {
            wake_error_.store(err, std::memory_order_relaxed);
            errno = saved_errno;
            return false;
        }
    }
    errno = saved_errno;
    return true;
}

void Idle::inject_wake_failure(int error_number) noexcept {
    injected_wake_error_.store(error_number, std::memory_order_relaxed);
}

void Idle::watch(int fd, std::uint32_t events, IoWatch& watcher) {
    epoll_event ev{};
    // EPOLLRDHUP only with EPOLLIN: it is level-triggered and reported as
    // io_readable, so a writer waiting on a half-closed socket would otherwise
    // be woken in a loop.
    if (events & io_readable) ev.events |= EPOLLIN | EPOLLRDHUP;
    if (events & io_writable) ev.events |= EPOLLOUT;
    ev.data.ptr = &watcher;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
        if (errno != ENOENT || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl(watch)");
    }
}

void Idle::unwatch(int fd) noexcept { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void block_thread(const std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr,
            0);
}

void unblock_threads(const std::atomic<std::uint32_t>& word) noexcept {
    int saved_errno = errno;
    syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 0x7fffffff, nullptr, nullptr,
            0);
    errno = saved_errno;
}

void prepare_sleep_fence() noexcept {
    // relaxed: the state only selects a fence (see publish_fence()).
    if (detail::membarrier_state.load(std::memory_order_relaxed) != 0) return;
    int saved_errno = errno;
    long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool ok = supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
              syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    errno = saved_errno;
    // Relaxed, and a race of two first callers is harmless: registration is
    // idempotent, and both reach the same answer. Stored after the
    // registration, so a publisher that reads 1 is covered by the membarriers.
    int expected = 0;
    detail::membarrier_state.compare_exchange_strong(expected, ok ? 1 : 2, std::memory_order_relaxed);
}

void sleep_fence() noexcept {
    // relaxed: as in publish_fence(). Not chosen yet (0) is the fallback's
    // full fence, as publish_fence() is then too.
    if (detail::membarrier_state.load(std::memory_order_relaxed) == 1) {
        int saved_errno = errno;
        // The kernel runs a full barrier on this CPU around the call, and on
        // every other CPU running one of our threads during it. Once the
        // process is registered it has no failure to report (EPERM is only
        // for an unregistered process, EINVAL for an unknown command).
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
        errno = saved_errno;
        return;
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

void yield_thread() noexcept { sched_yield(); }

bool pin_current_thread(int cpu) noexcept {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

int current_cpu() noexcept { return sched_getcpu(); }

int cpu_count() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return CPU_COUNT(&set);
}

void fatal(const char* message) noexcept {
    // write(), not stdio: a signal handler may end up here.
    [[maybe_unused]] auto r1 = write(2, message, std::strlen(message));
    [[maybe_unused]] auto r2 = write(2, "\n", 1);
    std::abort();
}

}  // namespace asynclink::port
