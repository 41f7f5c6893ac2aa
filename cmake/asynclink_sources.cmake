# SPDX-License-Identifier: BSL-1.0
# The library's sources, listed once for every build that compiles them: the
# hosted library (CMakeLists.txt), the fuzzers (fuzz/) and the Cortex-M
# firmware (baremetal/firmware/). No glob: a file is compiled only where it
# belongs (cortex_m.cpp never on Linux, the POSIX parts never on bare metal).
set(_asynclink_src ${CMAKE_CURRENT_LIST_DIR}/../src)

# The freestanding core: the loop and the remote-wake state. The primitives are
# headers. Builds for every port (trace.cpp is empty where the recorder is off,
# trace_export.cpp also on bare metal:
# asynclink/detail/config.hpp).
set(ASYNCLINK_CORE_SOURCES
  ${_asynclink_src}/loop.cpp
  ${_asynclink_src}/loop_embed.cpp
  ${_asynclink_src}/loop_idle.cpp
  ${_asynclink_src}/loop_timers.cpp
  ${_asynclink_src}/task_base.cpp
  ${_asynclink_src}/trace.cpp
  ${_asynclink_src}/trace_export.cpp
  ${_asynclink_src}/wake_core.cpp)

# One port per build: the only place asynclink meets the platform.
set(ASYNCLINK_LINUX_PORT_SOURCES ${_asynclink_src}/port/linux.cpp)
set(ASYNCLINK_CORTEX_M_PORT_SOURCES ${_asynclink_src}/port/cortex_m.cpp)
# The sim port and its explorer (asynclink::sim, docs/testing.md): the core's
# schedules explored on fibers, and Context (its workers are the sim's
# threads, port/threads.hpp); needs Boost.Context.
set(ASYNCLINK_SIM_PORT_SOURCES
  ${_asynclink_src}/context.cpp
  ${_asynclink_src}/port/sim.cpp
  ${_asynclink_src}/sim/allocations.cpp
  ${_asynclink_src}/sim/choice.cpp
  ${_asynclink_src}/sim/contexts.cpp
  ${_asynclink_src}/sim/explore.cpp
  ${_asynclink_src}/sim/fiber.cpp
  ${_asynclink_src}/sim/hooks.cpp
  ${_asynclink_src}/sim/interrupts.cpp
  ${_asynclink_src}/sim/scheduler.cpp)

# The hosted contexts: worker threads, and the POSIX streams and timer signal.
set(ASYNCLINK_HOSTED_SOURCES
  ${_asynclink_src}/context.cpp
  ${_asynclink_src}/unblock.cpp
  ${_asynclink_src}/posix/periodic_signal.cpp
  ${_asynclink_src}/posix/stream.cpp
  ${_asynclink_src}/posix/stream_core.cpp
  ${_asynclink_src}/posix/server.cpp
  ${_asynclink_src}/posix/stream_open.cpp
  ${_asynclink_src}/posix/tcp.cpp)
