# SPDX-License-Identifier: BSL-1.0
# Sets ASYNCLINK_PC_PREFIX, ASYNCLINK_PC_LIBDIR and ASYNCLINK_PC_INCLUDEDIR for
# cmake/asynclink.pc.in. The .pc file finds its prefix from its own place, so
# an installed tree can move: up from <libdir>/pkgconfig as many levels as that
# path has (two for lib/pkgconfig, three for Debian's multiarch
# lib/x86_64-linux-gnu/pkgconfig). An absolute libdir or includedir is not
# under the prefix and is used as it is. Checked by tests/consumer/check_pc_paths.cmake.
function(asynclink_pkg_config_paths install_prefix libdir includedir)
  if(IS_ABSOLUTE "${libdir}")
    set(prefix "${install_prefix}")
  else()
    file(RELATIVE_PATH up "/p/${libdir}/pkgconfig" "/p")
    string(REGEX REPLACE "/$" "" up "${up}")
    set(prefix "\${pcfiledir}/${up}")
  endif()
  set(ASYNCLINK_PC_PREFIX "${prefix}" PARENT_SCOPE)
  foreach(kind libdir includedir)
    if(IS_ABSOLUTE "${${kind}}")
      set(value "${${kind}}")
    else()
      set(value "\${prefix}/${${kind}}")
    endif()
    string(TOUPPER ${kind} upper)
    set(ASYNCLINK_PC_${upper} "${value}" PARENT_SCOPE)
  endforeach()
endfunction()
