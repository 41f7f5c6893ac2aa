# SPDX-License-Identifier: BSL-1.0
# Every row of every context table in a public header (the comment table whose
# header row names the "task" column) must appear in docs/primitives.md, so the
# reference cannot drift from the headers. Whitespace runs count as one space;
# the header and separator rows are not compared (their widths and first
# column's name may differ). Run by ctest as context_tables:
#   cmake -DSOURCE_DIR=<repo> -P tools/check-context-tables.cmake
file(GLOB_RECURSE headers ${SOURCE_DIR}/include/asynclink/*.hpp)
file(READ ${SOURCE_DIR}/docs/primitives.md doc)
string(REGEX REPLACE "[ \t]+" " " doc "${doc}")
set(checked 0)
set(missing "")
foreach(header ${headers})
  file(STRINGS ${header} rows REGEX "^///? \\|")
  list(LENGTH rows n)
  if(n LESS 3)
    continue()
  endif()
  list(GET rows 0 first)
  if(NOT first MATCHES "\\| task \\|")
    continue()
  endif()
  list(SUBLIST rows 2 -1 body)
  foreach(row ${body})
    string(REGEX REPLACE "^///? " "" row "${row}")
    string(REGEX REPLACE "[ \t]+" " " row "${row}")
    string(STRIP "${row}" row)
    string(FIND "${doc}" "${row}" at)
    math(EXPR checked "${checked} + 1")
    if(at EQUAL -1)
      file(RELATIVE_PATH name ${SOURCE_DIR} ${header})
      string(APPEND missing "\n  ${name}: ${row}")
    endif()
  endforeach()
endforeach()
if(missing)
  message(FATAL_ERROR "context_tables: rows of the headers' context tables missing from docs/primitives.md "
                      "(copy them there, or fix the header):${missing}")
endif()
message(STATUS "context_tables: ${checked} rows of the headers' context tables are in docs/primitives.md")
