// SPDX-License-Identifier: BSL-1.0
// ChildTasks: the tasks an awaiter waits for (WaitSome, WaitAll), with one
// done-list node each. Owned (vectors) for a range of tasks, or borrowed
// (spans over arrays in the caller's coroutine frame) when their number is
// known at compile time, so that select() waits without allocating.
// Loop thread only.
#pragma once

#include <span>
#include <utility>
#include <vector>

#include "asynclink/detail/task_base.hpp"

namespace asynclink::detail {

template <class Node>
class ChildTasks {
public:
    explicit ChildTasks(std::vector<TaskBase*> tasks)
        : owned_tasks_(std::move(tasks)),
          owned_nodes_(owned_tasks_.size()),
          tasks_(owned_tasks_),
          nodes_(owned_nodes_) {}
    /// Borrows both; `nodes` holds one node per task, and both outlive this.
    ChildTasks(std::span<TaskBase* const> tasks, std::span<Node> nodes) noexcept : tasks_(tasks), nodes_(nodes) {}
    // The spans may point into this object's own vectors: never moved.
    ChildTasks(const ChildTasks&) = delete;
    ChildTasks& operator=(const ChildTasks&) = delete;

    std::size_t size() const noexcept { return tasks_.size(); }
    TaskBase* operator[](std::size_t i) const noexcept { return tasks_[i]; }
    Node& node(std::size_t i) const noexcept { return nodes_[i]; }
    auto begin() const noexcept { return tasks_.begin(); }
    auto end() const noexcept { return tasks_.end(); }

private:
    std::vector<TaskBase*> owned_tasks_;
    std::vector<Node> owned_nodes_;
    std::span<TaskBase* const> tasks_;
    std::span<Node> nodes_;
};

}  // namespace asynclink::detail
