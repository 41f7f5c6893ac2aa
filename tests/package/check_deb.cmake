# SPDX-License-Identifier: BSL-1.0
# The Debian packages, end to end: configures asynclink as a shared library
# for /usr, builds it, makes the .deb packages with CPack, unpacks both into a
# throw-away root, and there checks what a user of the packages relies on:
#   - the package names, versions and dependencies, and that the version in
#     the packages, the CMake package (asynclinkConfigVersion.cmake) and the
#     pkg-config file is the project's;
#   - the library's SONAME, and that it exports asynclink's symbols only;
#   - tests/consumer builds and runs against the root, through find_package
#     and through pkg-config, linked to the shared library (NEEDED).
# Run by ctest as package_deb:
#   cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<scratch> -DCXX=<c++> -DVERSION=<x.y.z> -P check_deb.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE ${WORK_DIR})
set(build ${WORK_DIR}/build)
set(root ${WORK_DIR}/root)

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
function(capture var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${err}")
  endif()
  set(${var} "${out}" PARENT_SCOPE)
endfunction()
function(expect_equal what got wanted)
  if(NOT "${got}" STREQUAL "${wanted}")
    message(FATAL_ERROR "${what}: got '${got}', expected '${wanted}'")
  endif()
  message(STATUS "${what}: ${got}")
endfunction()

string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" major_minor "${VERSION}")
set(soversion ${major_minor})
set(runtime_package libasynclink${soversion})

# 1. Build the shared library for /usr and make the packages.
step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build} -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX}
     -DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_PREFIX=/usr -DASYNCLINK_BUILD_TESTS=OFF
     -DASYNCLINK_BUILD_EXAMPLES=OFF -DASYNCLINK_BUILD_BENCH=OFF -DASYNCLINK_WERROR=ON)
step(${CMAKE_COMMAND} --build ${build})
execute_process(COMMAND cpack -G DEB WORKING_DIRECTORY ${build} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G DEB failed:\n${out}")
endif()
file(GLOB debs ${build}/*.deb)
list(LENGTH debs count)
expect_equal("packages made" "${count}" 2)

# 2. Their control fields.
foreach(deb ${debs})
  capture(package dpkg-deb -f ${deb} Package)
  capture(version dpkg-deb -f ${deb} Version)
  capture(depends dpkg-deb -f ${deb} Depends)
  expect_equal("version of ${package}" "${version}" "${VERSION}")
  if(package STREQUAL "libasynclink-dev")
    string(FIND "${depends}" "${runtime_package} (= ${VERSION})" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "libasynclink-dev must depend on ${runtime_package} (= ${VERSION}); Depends: ${depends}")
    endif()
  elseif(NOT package STREQUAL runtime_package)
    message(FATAL_ERROR "unexpected package ${package} (expected libasynclink-dev and ${runtime_package})")
  endif()
  step(dpkg-deb -x ${deb} ${root})
endforeach()

# 3. The library in the root: SONAME, and only asynclink's symbols exported.
file(GLOB_RECURSE libs LIST_DIRECTORIES false ${root}/usr/lib/libasynclink.so.${VERSION}
     ${root}/usr/lib/*/libasynclink.so.${VERSION})
list(LENGTH libs count)
expect_equal("libasynclink.so.${VERSION} in the root" "${count}" 1)
get_filename_component(libdir ${libs} DIRECTORY)
capture(dynamic readelf -d ${libs})
string(REGEX MATCH "Library soname: \\[([^]]*)\\]" _ "${dynamic}")
expect_equal("SONAME" "${CMAKE_MATCH_1}" "libasynclink.so.${soversion}")
foreach(link libasynclink.so libasynclink.so.${soversion})
  if(NOT EXISTS ${libdir}/${link})
    message(FATAL_ERROR "${link} missing in ${libdir} (the runtime package holds the SONAME link, the dev package the .so link)")
  endif()
endforeach()
capture(symbols nm -D --defined-only -C ${libs})
string(REPLACE "\n" ";" symbols "${symbols}")
set(own 0)
foreach(line ${symbols})
  if(line MATCHES "asynclink::")
    math(EXPR own "${own} + 1")
  elseif(NOT line MATCHES " A ASYNCLINK_")
    message(FATAL_ERROR "libasynclink.so exports a symbol that is not asynclink's: ${line}")
  endif()
endforeach()
if(own LESS 50)
  message(FATAL_ERROR "libasynclink.so exports only ${own} asynclink symbols: is the version script too narrow?")
endif()
message(STATUS "exported: ${own} symbols, all asynclink's")

# 4. The versions in the CMake package and the pkg-config file.
file(GLOB_RECURSE version_files ${root}/usr/lib/*asynclinkConfigVersion.cmake)
file(STRINGS ${version_files} line REGEX "set\\(PACKAGE_VERSION ")
string(REGEX MATCH "\"([^\"]*)\"" _ "${line}")
expect_equal("asynclinkConfigVersion.cmake" "${CMAKE_MATCH_1}" "${VERSION}")
file(GLOB_RECURSE pc_files ${root}/usr/lib/*asynclink.pc)
file(STRINGS ${pc_files} line REGEX "^Version:")
string(REGEX REPLACE "^Version: *" "" pc_version "${line}")
expect_equal("asynclink.pc" "${pc_version}" "${VERSION}")

# 5. A consumer through find_package, linked to the shared library.
step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/consumer -G Ninja
     -DCMAKE_PREFIX_PATH=${root}/usr -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
capture(dynamic readelf -d ${WORK_DIR}/consumer/consumer)
string(FIND "${dynamic}" "[libasynclink.so.${soversion}]" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the find_package consumer does not load libasynclink.so.${soversion}:\n${dynamic}")
endif()
step(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${WORK_DIR}/consumer/consumer)

# 6. And through pkg-config, with the root as the sysroot.
get_filename_component(pc_dir ${pc_files} DIRECTORY)
capture(flags ${CMAKE_COMMAND} -E env PKG_CONFIG_SYSROOT_DIR=${root} PKG_CONFIG_LIBDIR=${pc_dir}
        pkg-config --cflags --libs asynclink)
separate_arguments(flags UNIX_COMMAND "${flags}")
step(${CXX} -O2 ${SOURCE_DIR}/tests/consumer/main.cpp ${flags} -o ${WORK_DIR}/consumer_pc)
step(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${WORK_DIR}/consumer_pc)
message(STATUS "package_deb: both packages install and serve a consumer")
