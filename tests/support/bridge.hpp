// SPDX-License-Identifier: BSL-1.0
// What the tests of the thread-safe bridge share: the stress scale, a bound for
// "this would hang if a wake-up were lost", and probes that tell whether a
// thread is really asleep in the kernel (so a test that claims to wake a
// sleeping loop does wake a sleeping one).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stress.hpp"

namespace bridge_test {

using namespace std::chrono_literals;

using test_support::stress_scale;

/// `n` operations scaled by the stress scale, at least `floor`.
inline std::uint64_t scaled(std::uint64_t n, std::uint64_t floor = 100) {
    return std::max(floor, static_cast<std::uint64_t>(static_cast<double>(n) * stress_scale()));
}

/// How long a test waits for something that arrives at once unless a wake-up
/// was lost. Never reached by a correct build, however loaded the machine:
/// reaching it is the failure, not a timing assumption.
inline constexpr auto hang_limit = 60s;

/// Time budget of one stress phase: a loaded machine does fewer operations
/// instead of running for minutes. Assertions hold for whatever was done.
inline constexpr auto stress_budget = 1s;

inline pid_t thread_id() { return static_cast<pid_t>(syscall(SYS_gettid)); }

/// CPU time the calling thread has used.
inline std::chrono::nanoseconds thread_cpu_time() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

/// Where thread `tid` of this process sleeps in the kernel ("do_epoll_wait",
/// "futex_wait_queue", ...), "R" if it is running, or "?" if unknown.
inline std::string kernel_wait_channel(pid_t tid) {
    std::string base = "/proc/self/task/" + std::to_string(tid);
    std::ifstream stat_file(base + "/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return "?";
    char state = stat[close_paren + 2];
    if (state != 'S') return std::string(1, state);
    std::ifstream wchan_file(base + "/wchan");
    std::string wchan;
    wchan_file >> wchan;
    return wchan.empty() || wchan == "0" ? "S" : wchan;
}

/// Waits until thread `tid` sleeps in epoll (or, where the kernel hides wait
/// channels, in any interruptible sleep). True once it does; false if it
/// never did within hang_limit, which means it busy-waits.
inline bool wait_until_asleep_in_epoll(pid_t tid) {
    auto deadline = std::chrono::steady_clock::now() + hang_limit;
    while (std::chrono::steady_clock::now() < deadline) {
        std::string where = kernel_wait_channel(tid);
        if (where == "S" || where.find("epoll") != std::string::npos) return true;
        std::this_thread::sleep_for(100us);
    }
    return false;
}

/// Same, for a thread parked on a futex (or any interruptible sleep).
inline bool wait_until_parked_on_futex(pid_t tid) {
    auto deadline = std::chrono::steady_clock::now() + hang_limit;
    while (std::chrono::steady_clock::now() < deadline) {
        std::string where = kernel_wait_channel(tid);
        if (where == "S" || where.find("futex") != std::string::npos) return true;
        std::this_thread::sleep_for(100us);
    }
    return false;
}

/// Sends `signo` to `thread` and waits until `handled()` is true, sending it
/// again after every second without it, for hang_limit at most. clang-14's
/// ThreadSanitizer can lose a signal aimed at another thread (a plain program
/// lost 48 of 200; context_matrix_test lost one aimed at a loop asleep in
/// epoll): this retries only the delivery, so the handler must do its work
/// once however many copies arrive. True once handled.
template <class Handled>
bool signal_until_handled(pthread_t thread, int signo, Handled handled) {
    auto deadline = std::chrono::steady_clock::now() + hang_limit;
    auto resend_at = std::chrono::steady_clock::now();
    while (!handled()) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        if (now >= resend_at) {
            pthread_kill(thread, signo);
            resend_at = now + 1s;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// A stress phase's stop condition: `count` operations or the time budget,
/// whichever comes first.
class Budget {
public:
    explicit Budget(std::uint64_t count, std::chrono::steady_clock::duration time = stress_budget)
        : count_(count), end_(std::chrono::steady_clock::now() + time) {}
    std::uint64_t count() const noexcept { return count_; }
    bool more(std::uint64_t done) const { return done < count_ && std::chrono::steady_clock::now() < end_; }

private:
    std::uint64_t count_;
    std::chrono::steady_clock::time_point end_;
};

}  // namespace bridge_test
