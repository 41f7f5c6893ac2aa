# SPDX-License-Identifier: BSL-1.0
# Installs the already built library into a scratch prefix, then builds and runs
# tests/consumer against it twice: through find_package(asynclink) and through
# pkg-config. Fails on any step.
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}")
  endif()
endfunction()
step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build -G Ninja
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step(${WORK_DIR}/build/consumer)
find_program(PKG_CONFIG pkg-config REQUIRED)
execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig
                ${PKG_CONFIG} --cflags --libs asynclink
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know asynclink")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
step(${CXX} -O2 ${SOURCE_DIR}/tests/consumer/main.cpp ${flags} -o ${WORK_DIR}/consumer_pc)
step(${WORK_DIR}/consumer_pc)
# The GCC 12 workaround travels in the .pc file: the reduced miscompile
# (docs/gcc12-slp-coroutine.cpp, no asynclink in it) built with only what
# pkg-config gives prints the wrong vector and exits 1 without it.
step(${CXX} -std=c++20 -O2 ${SOURCE_DIR}/docs/gcc12-slp-coroutine.cpp ${flags} -o ${WORK_DIR}/gcc12_slp_pc)
step(${WORK_DIR}/gcc12_slp_pc)
