// SPDX-License-Identifier: BSL-1.0
// Context: worker threads fed by a bounded job queue. See
// include/asynclink/context.hpp.
//
// One mutex guards the queue, the paused list and every job's state. The
// loop thread takes it to submit a job and to withdraw one (a cancellation),
// never to complete one: a worker posts the completion to the job's wake
// core, of which it holds a reference of its own while it posts, so the loop
// may end (and its task finish) at any moment without the worker touching
// freed memory, and the loop never waits for a worker.
#include "asynclink/context.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "asynclink/port/port.hpp"
#include "asynclink/port/threads.hpp"

namespace asynclink {

namespace detail {

/// An intrusive FIFO of jobs through Job::prev / Job::next_job.
class JobList {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }
    void push_back(Job& job) noexcept {
        job.prev = tail_;
        job.next_job = nullptr;
        (tail_ != nullptr ? tail_->next_job : head_) = &job;
        tail_ = &job;
        ++size_;
    }
    void remove(Job& job) noexcept {
        (job.prev != nullptr ? job.prev->next_job : head_) = job.next_job;
        (job.next_job != nullptr ? job.next_job->prev : tail_) = job.prev;
        job.prev = job.next_job = nullptr;
        --size_;
    }
    Job* pop_front() noexcept {
        Job* job = head_;
        if (job != nullptr) remove(*job);
        return job;
    }

private:
    Job* head_ = nullptr;
    Job* tail_ = nullptr;
    std::size_t size_ = 0;
};

/// The part of a Context that jobs share: it lives until the Context and
/// every job record are gone, so a task cancelled after its Context was
/// destroyed can still take the mutex safely.
class ContextCore {
public:
    explicit ContextCore(std::size_t maxsize) noexcept : maxsize_(maxsize) {}

    void add_ref() noexcept {
        // Relaxed: the caller already holds a reference (see Job::add_ref).
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        // acq_rel: as Job::release, the destroyer sees every holder's writes.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    port::Mutex mutex;
    port::ConditionVariable work_ready;  ///< workers sleep on it while the queue is empty

    // --- guarded by mutex
    JobList queue;
    JobList paused;
    bool closed = false;
    std::size_t started_workers = 0;
    bool pin_failed = false;
    int failed_cpu = 0;
    port::ConditionVariable workers_started;

    /// Joined by ~Context, before the core can go.
    std::vector<port::Thread> workers;

    /// Queues paused jobs, in order, while there is room, and wakes a worker
    /// for each. Under mutex.
    void admit_paused() {
        for (std::size_t n = admit_paused_quietly(); n > 0; --n) work_ready.notify_one();
    }

    /// admit_paused() without the wake-ups: returns how many jobs it queued,
    /// for the caller to wake as many workers once it has released the mutex
    /// (a worker woken under the mutex would only block on it again). Under mutex.
    std::size_t admit_paused_quietly() {
        std::size_t admitted = 0;
        while (queue.size() < maxsize_ && !paused.empty()) {
            Job* job = paused.pop_front();
            job->state = JobState::queued;
            queue.push_back(*job);
            ++admitted;
        }
        return admitted;
    }

    /// Stores `error` as the job's outcome and wakes its task, handing the
    /// Context's reference to the posted notification. Under mutex.
    static void finish_with(Job& job, std::exception_ptr error) noexcept;

private:
    std::size_t maxsize_;
    port::atomic<std::uint32_t> refs_{1};
};

namespace {

/// Wakes a finished job's task: posts the job to its loop, handing the post
/// the Context's reference. A loop that has ended refuses it, and the
/// reference is dropped here instead.
void post_completion(Job& job) noexcept {
    // Our own reference: the loop may take the post, finish the task and end
    // before post() returns.
    WakeRef loop = job.wake;
    if (!loop->post(job)) job.release();
}

/// Runs on the job's loop after a worker (or shutdown) finished it.
void on_finished(RemoteNode& node) noexcept {
    auto& job = static_cast<Job&>(node);
    if (TaskBase* task = std::exchange(job.waiter, nullptr)) task->wake();
    job.release();  // the notification's reference
}

/// Takes a job off the Context on behalf of a task that stops waiting for it
/// (cancelled, or its frame destroyed). Returns true if the job had already
/// finished: its outcome is on its way to the task. Loop thread.
bool detach(Job& job) noexcept {
    bool owned_by_queue = false;
    bool finished = false;
    {
        std::lock_guard lock(job.core->mutex);
        switch (job.state) {
        case JobState::paused:
            job.core->paused.remove(job);
            job.state = JobState::withdrawn;
            owned_by_queue = true;
            break;
        case JobState::queued:
            job.core->queue.remove(job);
            job.state = JobState::withdrawn;
            job.core->admit_paused();
            owned_by_queue = true;
            break;
        case JobState::running:
            job.state = JobState::abandoned;  // the worker drops the result and does not notify
            break;
        case JobState::finished: finished = true; break;
        case JobState::created:
        case JobState::abandoned:
        case JobState::withdrawn: break;
        }
    }
    if (!finished) job.waiter = nullptr;
    // Outside the lock: the job's destructor runs user code (fn's captures).
    if (owned_by_queue) job.release();
    return finished;
}

/// A worker's life: take the oldest job, run it, post its outcome.
void work(ContextCore& core, int cpu, bool pin) {
    bool pinned = !pin || port::pin_current_thread(cpu);
    std::unique_lock lock(core.mutex);
    ++core.started_workers;
    if (!pinned) {
        core.pin_failed = true;
        core.failed_cpu = cpu;
    }
    core.workers_started.notify_all();
    for (;;) {
        core.work_ready.wait(lock, [&] { return !core.queue.empty() || core.closed; });
        // Closed and empty: with run_pending, admit_paused() has already
        // emptied the paused list into the queue, so nothing is left behind.
        if (core.queue.empty()) return;
        Job* job = core.queue.pop_front();
        job->state = JobState::running;
        core.admit_paused();
        lock.unlock();
        job->execute();
        lock.lock();
        if (job->state == JobState::abandoned) {
            job->state = JobState::finished;
            lock.unlock();
            job->release();  // the result is dropped here, on the worker
            lock.lock();
        } else {
            job->state = JobState::finished;
            lock.unlock();
            post_completion(*job);  // the Context's reference goes with the notification
            lock.lock();
        }
    }
}

}  // namespace

void ContextCore::finish_with(Job& job, std::exception_ptr error) noexcept {
    job.error = std::move(error);
    job.state = JobState::finished;
    post_completion(job);
}

Job::Job() noexcept { run = &on_finished; }

Job::~Job() {
    if (core != nullptr) core->release();
}

AssignmentBase::AssignmentBase(AssignmentBase&& other) noexcept
    : Parked(other), job_(std::exchange(other.job_, nullptr)) {}

AssignmentBase::~AssignmentBase() {
    if (job_ == nullptr) return;
    detach(*job_);
    // A frame destroyed while its finished job's notification is still on the
    // way: the notification must not wake a task that is gone.
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.NewDelete): detach() drops the queue's reference, not ours
    job_->waiter = nullptr;
    job_->release();  // the awaiter's reference
}

bool AssignmentBase::submit(TaskBase& waiting) {
    Job& job = *job_;
    ContextCore& core = *job.core;
    std::unique_lock lock(core.mutex);
    if (core.closed) {
        job.state = JobState::withdrawn;
        job.error = std::make_exception_ptr(ContextClosed());
        return false;
    }
    job.wake = WakeRef(detail::LoopAccess::wake_core(*waiting.loop));
    job.waiter = &waiting;
    job.add_ref();  // the Context's reference, until a worker or shutdown is done with it
    // Through the paused list, behind any job already paused there: FIFO.
    core.paused.push_back(job);
    job.state = JobState::paused;
    std::size_t admitted = core.admit_paused_quietly();
    lock.unlock();
    // After the unlock, so the woken worker finds the mutex free. The core
    // outlives this: the job holds a reference to it, and we hold the job.
    for (; admitted > 0; --admitted) core.work_ready.notify_one();
    return true;
}

CancelResult AssignmentBase::on_cancel(Suspension& self) noexcept {
    auto& a = static_cast<AssignmentBase&>(self);
    if (detach(*a.job_)) return CancelResult::too_late;
    a.cancelled = true;
    return CancelResult::resume_now;
}

}  // namespace detail

// ---------------------------------------------------------------- Context

Context::Context(std::size_t qsize, std::size_t threads, std::vector<int> cpus)
    : core_(nullptr), maxsize_(qsize), threads_(threads) {
    if (qsize == 0) {
        throw UsageError("Context(qsize = 0): the job queue needs room for at least one job");
    }
    if (threads == 0) {
        throw UsageError("Context(qsize, threads = 0): a Context needs at least one worker thread");
    }
    core_ = new detail::ContextCore(qsize);
    auto stop = [this] {
        shutdown();
        for (auto& w : core_->workers) w.join();
        core_->release();
    };
    try {
        core_->workers.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) {
            int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
            core_->workers.emplace_back(detail::work, std::ref(*core_), cpu, !cpus.empty());
        }
    } catch (...) {
        stop();
        throw;
    }
    if (cpus.empty()) return;
    // Wait for every worker to have tried its CPU, so a bad one is reported here.
    std::unique_lock lock(core_->mutex);
    core_->workers_started.wait(lock, [&] { return core_->started_workers == threads; });
    if (core_->pin_failed) {
        int cpu = core_->failed_cpu;
        lock.unlock();
        stop();
        throw UsageError("Context: cannot pin a worker thread to CPU " + std::to_string(cpu) +
                         "; this process may use " + std::to_string(port::cpu_count()) + " CPU(s)");
    }
}

Context::~Context() {
    shutdown();
    for (auto& w : core_->workers) {
        if (w.get_id() == port::this_thread_id()) {
            std::fprintf(stderr,
                         "asynclink: a Context was destroyed by one of its own jobs, which would join its own "
                         "thread; destroy it from a task or another thread\n");
            std::abort();
        }
    }
    for (auto& w : core_->workers) w.join();
    core_->release();
}

void Context::check_loop_thread() const {
    if (Loop::current_or_null() == nullptr) [[unlikely]] {
        throw UsageError(
            "Context::assign called from a thread that is not running a loop; call the function directly "
            "there, or start the co_await from a task (Loop::call_soon_threadsafe to reach a loop)");
    }
}

void Context::attach(detail::Job& job) noexcept {
    job.core = core_;
    core_->add_ref();
}

void Context::shutdown(ContextShutdown mode) {
    std::lock_guard lock(core_->mutex);
    core_->closed = true;
    if (mode == ContextShutdown::fail_pending) {
        std::exception_ptr closed = std::make_exception_ptr(ContextClosed());
        while (detail::Job* job = core_->queue.pop_front()) detail::ContextCore::finish_with(*job, closed);
        while (detail::Job* job = core_->paused.pop_front()) detail::ContextCore::finish_with(*job, closed);
    }
    core_->work_ready.notify_all();
}

std::size_t Context::qsize() const {
    std::lock_guard lock(core_->mutex);
    return core_->queue.size();
}

std::size_t Context::waiting() const {
    std::lock_guard lock(core_->mutex);
    return core_->paused.size();
}

bool Context::closed() const {
    std::lock_guard lock(core_->mutex);
    return core_->closed;
}

}  // namespace asynclink
