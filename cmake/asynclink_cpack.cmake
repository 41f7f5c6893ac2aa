# SPDX-License-Identifier: BSL-1.0
# Debian packages: `cpack -G DEB` in a build configured with
#   -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_SHARED_LIBS=ON
# makes libasynclink<major>.<minor> (the shared library: the runtime
# component) and libasynclink-dev (headers, the .so link, the CMake package,
# the pkg-config file, the sim library: the dev component), versioned as the
# project. A static build makes libasynclink-dev alone. tests/package checks
# both packages in a throw-away root.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME asynclink)
set(CPACK_PACKAGE_VENDOR asynclink)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "asynclink developers <asynclink@localhost>")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
# The packages install where this build was configured to (the .pc file and
# the libdir were computed from it): /usr for a Debian package.
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)

set(ASYNCLINK_DEB_RUNTIME libasynclink${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libasynclink-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION "${PROJECT_DESCRIPTION} (development files)")
# A consumer compiles asynclink's headers with its own compiler: C++20.
set(ASYNCLINK_DEB_DEV_DEPENDS "libstdc++-12-dev | libc++-dev")
find_program(ASYNCLINK_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(BUILD_SHARED_LIBS)
  set(CPACK_COMPONENTS_ALL runtime dev)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${ASYNCLINK_DEB_RUNTIME})
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
  set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "${PROJECT_DESCRIPTION} (shared library)")
  # shlibs and the ldconfig trigger, so packages built against it depend on it.
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_GENERATE_SHLIBS ON)
  if(ASYNCLINK_DPKG_SHLIBDEPS)
    set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  else()
    set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 12)")
  endif()
  set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${ASYNCLINK_DEB_RUNTIME} (= ${PROJECT_VERSION}), ${ASYNCLINK_DEB_DEV_DEPENDS}")
else()
  set(CPACK_COMPONENTS_ALL dev)
  set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${ASYNCLINK_DEB_DEV_DEPENDS}")
endif()
include(CPack)
