# SPDX-License-Identifier: BSL-1.0
# Mutants: a defect that asynclink fixed, or that a Promela model's mutant
# stands for, re-introduced into the real code; the sim must find it
# (tests/sim/mutants_sim_test.cpp prints after how many schedules). Each
# replaces one exact piece of one file: the copy goes to an overlay that the
# mutant's executable sees first (a header through its include path, a source
# file compiled into the executable, so the linker takes no other copy from
# libasynclink_sim.a). If the piece is gone, configuring fails and names the
# mutant to update.
function(asynclink_sim_mutant name test file)  # then pairs: find replace [find replace ...]
  set(overlay ${CMAKE_CURRENT_BINARY_DIR}/mutants/${name})
  file(READ ${PROJECT_SOURCE_DIR}/${file} text)
  # ARGV<n> one by one: the code has semicolons, which a list would split at.
  math(EXPR last "${ARGC} - 1")
  foreach(i RANGE 3 ${last} 2)
    math(EXPR j "${i} + 1")
    set(find "${ARGV${i}}")
    set(replace "${ARGV${j}}")
    string(FIND "${text}" "${find}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "sim mutant ${name}: the code it changes is no longer in ${file}; update tests/sim/mutants.cmake")
    endif()
    string(REPLACE "${find}" "${replace}" text "${text}")
  endforeach()
  file(WRITE ${overlay}/${file} "${text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${file})
  set(sources ${CMAKE_CURRENT_SOURCE_DIR}/mutants_sim_test.cpp)
  if(file MATCHES "\\.cpp$")
    list(APPEND sources ${overlay}/${file})
  endif()
  add_executable(sim_mutant_${name} ${sources})
  target_include_directories(sim_mutant_${name} BEFORE PRIVATE ${overlay}/include)
  target_compile_definitions(sim_mutant_${name} PRIVATE ASYNCLINK_SIM_MUTANT=${name})
  target_link_libraries(sim_mutant_${name} PRIVATE asynclink::sim GTest::gtest_main asynclink_build_flags)
  add_test(NAME sim_mutant_${name} COMMAND sim_mutant_${name} --gtest_filter=*.${test})
  set_tests_properties(sim_mutant_${name} PROPERTIES LABELS sim TIMEOUT 300)
endfunction()

# Found by AddressSanitizer inside a schedule: only in the ASan build.
if(ASYNCLINK_SANITIZE MATCHES "address")
  asynclink_sim_mutant(setter_without_borrow SetterWithoutBorrow include/asynclink/detail/wake_core.hpp
    "        } while (!word_.compare_exchange_weak(word, word + 1, std::memory_order_acquire, std::memory_order_relaxed));\n        return core_of(word);"
    "        } while (false);\n        return core_of(word);"
    "    void give_back(WakeCore& core) noexcept {\n"
    "    void give_back(WakeCore& core) noexcept {\n        return;\n")
  # The wake block dies with the queue, as when it was part of the queue
  # object: a wake-up still posted to the other end's loop runs on freed memory.
  asynclink_sim_mutant(queue_node_in_queue QueueNodeInQueue include/asynclink/detail/queue_end.hpp
    "if (QueueEndWake* block = block_.load(std::memory_order_relaxed)) block->release();"
    "if (QueueEndWake* block = block_.load(std::memory_order_relaxed)) delete block;")
  return()
endif()

asynclink_sim_mutant(loop_sleeps_without_recheck LoopSleepsWithoutRecheck src/loop_idle.cpp
  "    if (core_->has_posted_work()) {\n        core_->end_sleep();\n        return;\n    }\n#if ASYNCLINK_TRACE"
  "#if ASYNCLINK_TRACE")
asynclink_sim_mutant(queue_close_reads_bit QueueCloseReadsTheBit include/asynclink/thread_safe_queue.hpp
  "if (waiting_[index(Side::producer)].exchange(0, std::memory_order_seq_cst) != 0) wake<Side::producer>();"
  "if (waiting_[index(Side::producer)].load(std::memory_order_seq_cst) != 0) wake<Side::producer>();")
asynclink_sim_mutant(queue_push_ignores_close QueuePushIgnoresClose include/asynclink/thread_safe_queue.hpp
  "        publish_fence();\n        if (is_closed()) {"
  "        publish_fence();\n        if (false) {")
asynclink_sim_mutant(queue_put_without_busy QueuePutWithoutBusy include/asynclink/thread_safe_queue.hpp
  "        producer_.word.store(t | busy_bit, std::memory_order_relaxed);\n"
  "")
asynclink_sim_mutant(schedule_close_skips_claimed ScheduleCloseSkipsClaimed src/wake_core.cpp
  "if (cell.sequence.compare_exchange_strong(seen, claimed + position_step, std::memory_order_acquire,\n                                                  std::memory_order_acquire)) {\n            continue;\n        }"
  "if (cell.sequence.load(std::memory_order_acquire) == seen) continue;")
asynclink_sim_mutant(schedule_plain_publish SchedulePlainPublish src/wake_core.cpp
  "if (!cell.sequence.compare_exchange_strong(expected, pos + 1, std::memory_order_release,\n                                                           std::memory_order_relaxed)) {\n                    return false;\n                }"
  "cell.sequence.store(expected + 1, std::memory_order_release);")
asynclink_sim_mutant(loop_accepts_post_after_close LoopAcceptsPostAfterClose src/wake_core.cpp
  "        if (head == closed_nodes()) {"
  "        if (false) {")
asynclink_sim_mutant(message_ring_before_publish MessageRingBeforePublish include/asynclink/message.hpp
  "        publish(slot);\n        // Fence F3,"
  "        core_.set(trace::Op::message_set);\n        publish(slot);\n        // Fence F3,"
  "        port::atomic_thread_fence(std::memory_order_seq_cst);  // F3\n        core_.set(trace::Op::message_set);"
  "        port::atomic_thread_fence(std::memory_order_seq_cst);  // F3")
asynclink_sim_mutant(flag_clear_zeroes FlagClearZeroes include/asynclink/thread_safe_flag.hpp
  "        std::uint32_t old = state_.fetch_and(~set_bit, std::memory_order_release);"
  "        std::uint32_t old = state_.exchange(0, std::memory_order_release);")
asynclink_sim_mutant(message_claim_ignores_pin MessageClaimIgnoresPin include/asynclink/message.hpp
  "std::uint32_t free = ~(busy | bit(current_of(s)) | bit(pinned_of(s))) & slot_mask;"
  "std::uint32_t free = ~(busy | bit(current_of(s))) & slot_mask;")
asynclink_sim_mutant(message_reader_waits_for_setter MessageReaderWaitsForSetter include/asynclink/message.hpp
  "    std::uint32_t take_if_set() noexcept {\n        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);"
  "    std::uint32_t take_if_set() noexcept {\n        while (busy_of(slots_state_.load(std::memory_order_acquire)) != 0) {\n        }\n        std::uint32_t s = slots_state_.load(std::memory_order_relaxed);")
asynclink_sim_mutant(message_no_second_look MessageNoSecondLook include/asynclink/message.hpp
  "            message_.clear_doorbell();\n            return (pinned_ = message_.take_if_set()) != none;"
  "            message_.clear_doorbell();\n            return false;")
asynclink_sim_mutant(event_no_epoch EventNoEpoch include/asynclink/detail/event_core.hpp
  "if ((s & set_bit) != 0 || w->epoch_ != epoch) {"
  "if ((s & set_bit) != 0 || (w->epoch_ != epoch && false)) {")
asynclink_sim_mutant(queue_looks_before_publish QueueLooksBeforePublish include/asynclink/thread_safe_queue.hpp
  "        // release: publishes the item (and clears the busy mark).\n"
  "        if (take_waiter<Side::consumer>()) wake<Side::consumer>();\n"
  "        if (take_waiter<Side::consumer>()) wake<Side::consumer>(trace_flow);\n        return PushResult::ok;"
  "        (void)trace_flow;\n        return PushResult::ok;")
asynclink_sim_mutant(many_producer_claim_ignores_close ManyProducerClaimIgnoresClose include/asynclink/many_producer_queue.hpp
  "                if ((claim & closed_bit) != 0) return PushResult::closed;\n                ticket = claim >> claim_shift;"
  "                ticket = claim >> claim_shift;"
  "if (claim_.compare_exchange_weak(claim, advance(ticket) << claim_shift, std::memory_order_relaxed,"
  "if (claim_.compare_exchange_weak(claim, (advance(ticket) << claim_shift) | (claim & closed_bit), std::memory_order_relaxed,")
asynclink_sim_mutant(many_producer_publish_before_write ManyProducerPublishBeforeWrite include/asynclink/many_producer_queue.hpp
  "            ::new (static_cast<void*>(c.storage)) T(std::move(item));\n"
  ""
  "            if ((old & consumer_waits_here) != 0) take_consumer_wait(trace_flow);\n            return PushResult::ok;"
  "            if ((old & consumer_waits_here) != 0) take_consumer_wait(trace_flow);\n            ::new (static_cast<void*>(c.storage)) T(std::move(item));\n            return PushResult::ok;")
asynclink_sim_mutant(many_producer_no_recheck ManyProducerNoRecheck include/asynclink/many_producer_queue.hpp
  "        if ((stamp & ~consumer_waits_here) == stamp_of(lap_of(head_ticket_), true)) return true;"
  "        (void)stamp;")
