# SPDX-License-Identifier: BSL-1.0
# Every public header's context table (the comment table whose header row names
# the "task" column; it belongs in the header's /// @file comment) must be in
# the API reference:
# the header's Doxygen file page holds a Markdown table with the
# "signal handler / ISR" column. Run by ctest as api_reference_tables, after
# api_reference has written the pages:
#   cmake -DSOURCE_DIR=<repo> -DHTML_DIR=<build>/docs/html -P tools/check-api-tables.cmake
file(GLOB_RECURSE headers ${SOURCE_DIR}/include/asynclink/*.hpp)
set(checked 0)
set(missing "")
foreach(header ${headers})
  file(STRINGS ${header} rows REGEX "^///? \\|.*\\| task \\|")
  if(NOT rows)
    continue()
  endif()
  # Doxygen's page name: '_' doubled, '.' as _8, and a folder as <dir>_2 when
  # the base name alone is taken by another header.
  file(RELATIVE_PATH rel ${SOURCE_DIR}/include/asynclink ${header})
  get_filename_component(base ${rel} NAME)
  get_filename_component(dir ${rel} DIRECTORY)
  string(REPLACE "_" "__" page "${base}")
  string(REPLACE "." "_8" page "${page}")
  set(candidates ${HTML_DIR}/${page}.html)
  if(dir)
    string(REPLACE "_" "__" mangled_dir "${dir}")
    list(PREPEND candidates ${HTML_DIR}/${mangled_dir}_2${page}.html)
  endif()
  set(found FALSE)
  foreach(candidate ${candidates})
    if(EXISTS ${candidate})
      file(READ ${candidate} html)
      string(FIND "${html}" "markdownTable" table_at)
      string(FIND "${html}" "signal handler / ISR" column_at)
      if(NOT table_at EQUAL -1 AND NOT column_at EQUAL -1)
        set(found TRUE)
        break()
      endif()
    endif()
  endforeach()
  math(EXPR checked "${checked} + 1")
  if(NOT found)
    string(APPEND missing "\n  ${rel} (looked in: ${candidates})")
  endif()
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "api_reference_tables: no header with a /// context table under ${SOURCE_DIR}/include")
endif()
if(missing)
  message(FATAL_ERROR "api_reference_tables: context tables missing from the API reference (is the header's "
                      "comment a /// @file block?):${missing}")
endif()
message(STATUS "api_reference_tables: the context tables of ${checked} headers are in the API reference")
