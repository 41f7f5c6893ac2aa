// SPDX-License-Identifier: BSL-1.0
// FramePool: coroutine frames from a static pool of equal blocks, for builds
// that must not touch the heap after start-up (bare metal).
//
// Enabled by defining ASYNCLINK_FRAME_POOL_BLOCKS (how many frames may exist
// at once) and optionally ASYNCLINK_FRAME_BLOCK_SIZE (bytes per frame, default
// 256). A coroutine whose frame is larger than a block, or created while every
// block is in use, is not created: the call returns an empty Task (valid() is
// false) through the promise's get_return_object_on_allocation_failure, and
// create_task() of an empty Task returns an empty TaskHandle in a build without
// exceptions. Equal blocks make allocation and release O(1) with no
// fragmentation; the price is the largest frame's size for every frame.
//
// Loop context only: frames are created and destroyed by the loop's tasks.
#pragma once

#include <cstddef>

#if defined(ASYNCLINK_FRAME_POOL_BLOCKS)

#ifndef ASYNCLINK_FRAME_BLOCK_SIZE
#define ASYNCLINK_FRAME_BLOCK_SIZE 256
#endif

namespace asynclink::detail {

class FramePool {
public:
    static constexpr std::size_t block_size = (ASYNCLINK_FRAME_BLOCK_SIZE + alignof(std::max_align_t) - 1) /
                                              alignof(std::max_align_t) * alignof(std::max_align_t);
    static constexpr std::size_t block_count = ASYNCLINK_FRAME_POOL_BLOCKS;

    /// A block for a frame of `size` bytes, or nullptr.
    static void* allocate(std::size_t size) noexcept {
        if (size > block_size) return nullptr;
        if (FreeBlock* b = free_) {
            free_ = b->next;
            ++in_use_;
            return b;
        }
        // Blocks never used are handed out in order: no start-up pass over the pool.
        if (never_used_ == block_count) return nullptr;
        ++in_use_;
        return &storage_[block_size * never_used_++];
    }
    static void release(void* p) noexcept {
        auto* b = static_cast<FreeBlock*>(p);
        b->next = free_;
        free_ = b;
        --in_use_;
    }
    /// Frames alive now (for tests and footprint reports).
    static std::size_t in_use() noexcept { return in_use_; }

private:
    struct FreeBlock {
        FreeBlock* next;
    };
    alignas(std::max_align_t) static inline unsigned char storage_[block_size * block_count];
    static inline FreeBlock* free_ = nullptr;
    static inline std::size_t never_used_ = 0;
    static inline std::size_t in_use_ = 0;
};

}  // namespace asynclink::detail

#endif
