# SPDX-License-Identifier: BSL-1.0
cmake_minimum_required(VERSION 3.25)
# The installed asynclink.pc resolves its libdir and includedir to where the
# library and headers are, whatever the libdir's depth: lib, lib64 and
# Debian's multiarch lib/<triplet> (there ${pcfiledir}/../.. would be <prefix>/lib).
# Run: cmake -DSOURCE_DIR=... -DWORK_DIR=... -P check_pc_paths.cmake
include(${SOURCE_DIR}/cmake/pkg_config_paths.cmake)
find_program(PKG_CONFIG pkg-config REQUIRED)
set(PROJECT_DESCRIPTION "check")
set(PROJECT_VERSION "0")
set(ASYNCLINK_PC_EXTRA_CFLAGS "")
file(REMOVE_RECURSE ${WORK_DIR})
foreach(libdir lib lib64 lib/x86_64-linux-gnu)
  set(prefix ${WORK_DIR}/usr)
  asynclink_pkg_config_paths("${prefix}" "${libdir}" "include")
  configure_file(${SOURCE_DIR}/cmake/asynclink.pc.in ${prefix}/${libdir}/pkgconfig/asynclink.pc @ONLY)
  foreach(kind libdir includedir)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/${libdir}/pkgconfig
                    ${PKG_CONFIG} --variable=${kind} asynclink
                    OUTPUT_VARIABLE got OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "pkg-config --variable=${kind} failed for libdir ${libdir}")
    endif()
    file(REAL_PATH "${got}" got)
    if(kind STREQUAL "libdir")
      set(want ${prefix}/${libdir})
    else()
      set(want ${prefix}/include)
    endif()
    if(NOT got STREQUAL want)
      message(FATAL_ERROR "libdir ${libdir}: pkg-config's ${kind} is ${got}, the files are in ${want}")
    endif()
  endforeach()
  message(STATUS "libdir ${libdir}: the .pc file resolves to ${prefix}")
endforeach()
