// SPDX-License-Identifier: BSL-1.0
// PeriodicSignal: timer_create with SIGEV_THREAD_ID aimed at the creating
// thread, and one SA_SIGINFO handler shared by every instance.
#include "asynclink/posix/periodic_signal.hpp"

#include "asynclink/trace.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <mutex>
#include <system_error>

#include <sys/syscall.h>
#include <unistd.h>

namespace asynclink {

struct PeriodicSignalAccess {
    static void on_signal(int, siginfo_t* info, void*) noexcept {
        if (info->si_code != SI_TIMER || info->si_value.sival_ptr == nullptr) return;
        trace::HandlerScope trace_lane("PeriodicSignal");  // the trace draws the handler on a lane of its own
        int saved_errno = errno;
        PeriodicSignal::dispatch(*static_cast<PeriodicSignal*>(info->si_value.sival_ptr), info->si_overrun);
        errno = saved_errno;
    }
};

namespace {

std::mutex install_mutex;
int instances = 0;
struct sigaction previous_action {};

void install_handler() {
    std::lock_guard lock(install_mutex);
    if (instances++ != 0) return;
    struct sigaction action {};
    action.sa_sigaction = &PeriodicSignalAccess::on_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(PeriodicSignal::signal_number(), &action, &previous_action) != 0) {
        --instances;
        throw std::system_error(errno, std::generic_category(), "asynclink: PeriodicSignal sigaction");
    }
}

void uninstall_handler() noexcept {
    std::lock_guard lock(install_mutex);
    if (--instances == 0) sigaction(PeriodicSignal::signal_number(), &previous_action, nullptr);
}

}  // namespace

int PeriodicSignal::signal_number() noexcept { return SIGRTMIN + 2; }

void PeriodicSignal::dispatch(PeriodicSignal& self, int overrun) noexcept {
    // Relaxed: statistics only; the callback's own primitives order its data.
    self.ticks_.fetch_add(1, std::memory_order_relaxed);
    if (overrun > 0) self.overruns_.fetch_add(static_cast<std::uint32_t>(overrun), std::memory_order_relaxed);
    self.callback_(self.arg_);
}

PeriodicSignal::PeriodicSignal(std::chrono::nanoseconds period, Callback callback, void* arg)
    : callback_(callback), arg_(arg) {
    if (period < std::chrono::microseconds(10)) period = std::chrono::microseconds(10);
    install_handler();
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = signal_number();
    event.sigev_value.sival_ptr = this;
    event._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
    timer_t timer{};
    if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) {
        int err = errno;
        uninstall_handler();
        throw std::system_error(err, std::generic_category(), "asynclink: PeriodicSignal timer_create");
    }
    timer_ = timer;
    itimerspec spec{};
    spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
    spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
    spec.it_value = spec.it_interval;
    if (timer_settime(timer, 0, &spec, nullptr) != 0) {
        int err = errno;
        timer_delete(timer);
        uninstall_handler();
        throw std::system_error(err, std::generic_category(), "asynclink: PeriodicSignal timer_settime");
    }
}

PeriodicSignal::~PeriodicSignal() {
    // Linux removes the timer's pending signal along with the timer, and the
    // handler runs only on this thread, so no callback can follow.
    timer_delete(static_cast<timer_t>(timer_));
    uninstall_handler();
}

}  // namespace asynclink
