// SPDX-License-Identifier: BSL-1.0
/// @file
/// The Linux port: the only place where asynclink meets the operating system.
/// This header includes no OS header; src/port/linux.cpp holds the system calls.
///
/// | piece          | realisation                                                  |
/// |----------------|--------------------------------------------------------------|
/// | clock          | CLOCK_MONOTONIC                                              |
/// | idle / wake    | epoll_pwait2 on an epoll set holding an eventfd; wake() writes |
/// |                | the eventfd, which is async-signal-safe                      |
/// | thread blocking| futex on a 32-bit atomic word (wake is async-signal-safe)    |
/// | spinning       | pause instruction; sched_yield                               |
/// | affinity       | sched_setaffinity                                            |
/// | current loop   | a thread_local pointer                                       |
/// | descriptor     | the epoll fd, for a host event loop (Loop::descriptor)       |
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#define ASYNCLINK_PORT_HAS_THREADS 1
/// The loop's idle is a descriptor another event loop can poll (Loop::descriptor).
#define ASYNCLINK_PORT_HAS_DESCRIPTOR 1

namespace asynclink {
class Loop;
}

namespace asynclink::port {

/// Every atomic operation and fence above the port goes through these names,
/// so that a port can watch them (the sim port makes each one a preemption
/// point). Here they are the standard library's own: an alias, so the code
/// is the same as if std::atomic were written.
template <class T>
using atomic = std::atomic<T>;
using std::atomic_thread_fence;

/// The monotonic clock every timer in the loop runs on.
struct Clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::duration<rep, period>;
    using time_point = std::chrono::time_point<Clock>;
    static constexpr bool is_steady = true;
    static time_point now() noexcept;
};

/// Readiness of a watched file descriptor, as reported to an IoWatch.
enum IoEvents : std::uint32_t { io_readable = 1, io_writable = 2, io_error = 4 };

/// Something that wants to hear about a file descriptor's readiness. The
/// callback runs on the loop's thread, inside Idle::wait().
struct IoWatch {
    void (*ready)(IoWatch& self, std::uint32_t events) noexcept = nullptr;
};

/// A loop's way to sleep in the kernel and to be woken from anywhere.
/// One per loop; wait() is called only by the loop's thread.
class Idle {
public:
    Idle();
    ~Idle();
    Idle(const Idle&) = delete;
    Idle& operator=(const Idle&) = delete;

    /// Sleeps until wake() is called, a watched descriptor is ready, or
    /// `timeout` passes (no timeout: until woken). A zero timeout only polls.
    /// Throws std::system_error if an earlier wake() failed in the kernel, so a
    /// lost wake-up is reported instead of turning into a hang.
    void wait(std::optional<Clock::duration> timeout);

    /// Makes a current or the next wait() return. Async-signal-safe, lock-free,
    /// callable from any thread or signal handler. False if the kernel refused
    /// the eventfd write (other than a full counter, which wakes anyway): the
    /// error is kept for wait() to report, and the caller must treat the loop
    /// as still asleep.
    bool wake() noexcept;

    /// Watches `fd` for the given IoEvents (0 stops watching for events but
    /// keeps the registration). Loop thread only.
    void watch(int fd, std::uint32_t events, IoWatch& watcher);
    void unwatch(int fd) noexcept;

    /// The epoll descriptor: readable while wait(zero) would find something
    /// (the wake eventfd written, a watched descriptor ready), so a host loop
    /// can poll it (Loop::descriptor).
    int descriptor() const noexcept { return epoll_fd_; }

    /// Test hook for fault injection: makes the next wake() fail as if the
    /// kernel had refused the eventfd write with `error_number`.
    void inject_wake_failure(int error_number) noexcept;

private:
    int epoll_fd_ = -1;
    int event_fd_ = -1;
    std::atomic<int> wake_error_{0};  // written in signal handlers: lock-free (asserted below)
    std::atomic<int> injected_wake_error_{0};
    bool have_pwait2_;  // false: epoll_wait (millisecond timeouts); see linux.cpp
};

/// Blocks the calling thread while `word` holds `expected` (spurious returns
/// are possible: callers re-check). Not for loop threads.
void block_thread(const std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
/// Wakes every thread blocked on `word`. Async-signal-safe.
void unblock_threads(const std::atomic<std::uint32_t>& word) noexcept;

/// The two fences of an asymmetric Dekker (ThreadSafeQueue): a side that
/// publishes on every item (a store, then a look at the other side's
/// "waiting" flag) pays publish_fence(); a side about to sleep (its flag set,
/// then one more look) pays sleep_fence(). Between them they order each
/// side's store before its load, as a full fence on both sides would.
///
/// Where the kernel has membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (4.14+,
/// not refused by a seccomp filter), sleep_fence() is that call: every CPU
/// running a thread of this process passes a full barrier during it, so the
/// publisher's store and load cannot straddle the sleeper's arming unseen,
/// and publish_fence() only keeps the compiler from reordering them. Where it
/// is missing both are full fences. The choice is made once, by
/// prepare_sleep_fence() (every queue's construction); until it is made,
/// both are full fences.
namespace detail {
/// 0: not chosen yet; 1: membarrier registered; 2: unavailable (full fences).
inline constinit std::atomic<int> membarrier_state{0};
}  // namespace detail
/// Chooses the fences (registers the process for membarrier); any context,
/// idempotent, async-signal-safe.
void prepare_sleep_fence() noexcept;
/// The sleeping side's fence: membarrier, or a full fence. Async-signal-safe.
void sleep_fence() noexcept;
/// The publishing side's fence, on every item.
[[gnu::always_inline]] inline void publish_fence() noexcept {
    // relaxed: the state only selects the fence; a publisher that reads 1
    // runs after the registration, so every sleep_fence() from then on is a
    // membarrier that covers its store and load (see above).
    if (detail::membarrier_state.load(std::memory_order_relaxed) == 1) {
        std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }
}

/// Whether publish_fence() and sleep_fence() differ (membarrier pairs with a
/// compiler barrier): a queue whose ends wait often may then trade them for a
/// full fence on both sides (ThreadSafeQueue's fence modes).
#define ASYNCLINK_PORT_ASYMMETRIC_FENCES 1
inline constexpr bool asymmetric_fences = true;
/// Whether the fences in use are the asymmetric pair (membarrier registered),
/// not the fallback. relaxed: as in publish_fence().
inline bool asymmetric_fences_in_use() noexcept {
    return detail::membarrier_state.load(std::memory_order_relaxed) == 1;
}

/// Tells the CPU the caller is polling (x86 `pause`): the poll loop leaves
/// the memory system alone and exits without a mis-speculation penalty.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}
/// Offers the calling thread's CPU to another runnable thread (sched_yield);
/// returns at once if there is none. Not for signal handlers.
void yield_thread() noexcept;

/// Pins the calling thread to one CPU. Returns false if the CPU does not exist
/// or the kernel refused.
bool pin_current_thread(int cpu) noexcept;
/// The CPU the calling thread runs on now, or -1 if unknown.
int current_cpu() noexcept;
/// How many CPUs this process may run on.
int cpu_count() noexcept;

/// Hosted atomics are lock-free, so the thread-safe primitives never need to
/// mask interrupts here; the type exists so that code written for the seam
/// compiles on every port.
class CriticalSection {
public:
    CriticalSection() noexcept = default;
    CriticalSection(const CriticalSection&) = delete;
    CriticalSection& operator=(const CriticalSection&) = delete;
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<void*>::is_always_lock_free &&
                  std::atomic<int>::is_always_lock_free,
              "the Linux port relies on lock-free atomics for signal-handler safety");

/// The slot behind current_loop(). Inline and constant-initialized, so a read
/// is one load relative to the thread pointer where the library is linked
/// into the program: no call and no TLS wrapper (queue operations ask on
/// every call; in a shared library it is the usual TLS look-up).
inline constinit thread_local Loop* current_loop_slot = nullptr;

/// The loop running on the calling thread (nullptr if none).
inline Loop*& current_loop() noexcept { return current_loop_slot; }

/// Ends the process after misuse that cannot be reported by throwing: prints
/// `message` to stderr and aborts. Async-signal-safe.
[[noreturn]] void fatal(const char* message) noexcept;

/// How far apart two contexts' hot words are kept so they never share a cache
/// line (the loop's posted list, a queue's two indices).
inline constexpr std::size_t cache_line = 64;
/// Reading a word another thread writes pulls its line from that thread's
/// core: a queue end keeps a copy of the other end's index and reads the
/// other's word only when the copy runs out.
inline constexpr bool coherent_caches = true;

/// The loop polls for posted work before it sleeps in the kernel
/// (LoopOptions::spin_before_sleep): a sleep-and-wake costs tens of microseconds.
inline constexpr bool idle_spins = true;

/// Never: while a signal handler runs, other threads run on (see the
/// Cortex-M port).
inline constexpr bool runs_alone() noexcept { return false; }

/// The loop's timer heap and schedule() cells grow on the heap.
inline constexpr std::size_t max_timers = 0;
inline constexpr std::size_t max_schedule_capacity = 0;

}  // namespace asynclink::port
