// SPDX-License-Identifier: BSL-1.0
// ThreadSanitizer can leave a thread with every signal blocked; no asynclink in it.
//
// Two threads send two different signals to the main thread, whose handlers
// do nothing but count with an atomic increment; the main thread makes
// intercepted calls (pthread_sigmask) in a loop and checks its signal mask.
// Without a sanitizer the mask stays empty. Under ThreadSanitizer, sooner or
// later every signal is blocked on the main thread for good: no handler runs
// again, and the signals queue up until the user's RLIMIT_SIGPENDING is full
// (then timer_create fails with EAGAIN in every process of that user).
//
//   clang++ -std=c++20 -O1 -fsanitize=thread docs/tsan-signal-mask.cpp && ./a.out
//     stuck: every signal blocked after 1013 handlers     (exit status 1)
//   clang++ -std=c++20 -O1 ... (no sanitizer)             ok: 3066 handlers
// With clang 14 (Debian 14.0.6) it stuck in 6 of 10 runs on a 2-core VM.
// g++ 12.2's libtsan has the same code; this program stuck in 0 of 10 runs
// there, and in 1 of 6 when each handler also wrote to a pipe.
//
// The cause, in the runtime (tsan_interceptors_posix.cpp; LLVM main has the
// same code): a handler that arrives outside a blocking call is deferred and
// run later by ProcessPendingSignalsImpl, at the thread's next interceptor or
// atomic operation. That function first clears the thread's "pending" flag,
// then blocks every signal, saving the old mask in the thread's signal
// context (sctx->oldset), runs the deferred handlers and restores the saved
// mask. If a second signal arrives between the clearing and the blocking, it
// is deferred too and sets the flag again; the first handler's atomic
// operation then enters ProcessPendingSignalsImpl once more, which saves the
// current mask, every signal blocked, over sctx->oldset. The outer call
// restores that: the thread keeps every signal blocked. One signal number
// alone cannot do it (a signal already deferred is not deferred twice).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

namespace {

std::atomic<long> handled{0};
std::atomic<bool> stop{false};

extern "C" void on_signal(int) { handled.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

int main() {
    struct sigaction action {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGRTMIN + 2, &action, nullptr);
    sigaction(SIGRTMIN + 5, &action, nullptr);
    pthread_t main_thread = pthread_self();
    auto sender = [main_thread](int signal, int pause_us) {
        return std::thread([=] {
            while (!stop.load(std::memory_order_relaxed)) {
                pthread_kill(main_thread, signal);
                usleep(pause_us);
            }
        });
    };
    std::thread first = sender(SIGRTMIN + 2, 50);
    std::thread second = sender(SIGRTMIN + 5, 70);
    int status = 0;
    for (long i = 0; i < 2'000'000; ++i) {
        sigset_t current;
        pthread_sigmask(SIG_BLOCK, nullptr, &current);
        if (sigismember(&current, SIGRTMIN + 2) && sigismember(&current, SIGRTMIN + 5)) {
            std::printf("stuck: every signal blocked after %ld handlers\n", handled.load());
            status = 1;
            break;
        }
    }
    stop.store(true);
    first.join();
    second.join();
    if (status == 0) std::printf("ok: %ld handlers\n", handled.load());
    return status;
}
