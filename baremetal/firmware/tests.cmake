# SPDX-License-Identifier: BSL-1.0
# The firmware tests, shared by the firmware build (firmware/CMakeLists.txt)
# and the hosted ctest registration (baremetal/CMakeLists.txt).
# Single-core tests run on both boards, dual-core ones on mps2-an521 only.
set(ASYNCLINK_FIRMWARE_SINGLE_CORE_TESTS sleep cancel frame_pool isr_queue isr_flag isr_event isr_message isr_schedule
  isr_many_producers idle_wakeups)
set(ASYNCLINK_FIRMWARE_DUAL_CORE_TESTS dual_core)
# Run under baremetal/count-instructions, which checks their counts against
# firmware/tests/instruction_counts.ceilings (they pass run alone too).
set(ASYNCLINK_FIRMWARE_COUNT_TESTS instruction_counts)
# These end through port::fatal on purpose: ctest checks their message.
set(ASYNCLINK_FIRMWARE_FATAL_TESTS misuse)
# Built with the trace recorder and the counters (ASYNCLINK_TRACE=1,
# ASYNCLINK_COUNTERS=1); baremetal/run-traced-firmware converts the dump each
# writes over semihosting and checks it.
set(ASYNCLINK_FIRMWARE_TRACE_TESTS trace_isr)
