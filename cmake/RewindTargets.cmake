# SPDX-License-Identifier: Apache-2.0
# rewind_add_library(NAME SOURCES ... DEPS ...) and rewind_add_test(NAME SOURCES ... DEPS ... LABELS ...)
# declare every target the same way, with the project's warning set.

set(REWIND_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wsuggest-override -Wimplicit-fallthrough)
# g++ 12 reports a false -Wrestrict inside libstdc++'s std::string operator+
# (GCC bug 105329); it is not about our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND REWIND_WARNINGS -Wno-restrict)
endif()

function(rewind_target_defaults target)
  target_compile_options(${target} PRIVATE ${REWIND_WARNINGS})
  if(REWIND_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # Build-tree paths only: installed targets get <prefix>/include from the
  # install rules (cmake/RewindInstall.cmake); src/ is never installed.
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                              $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>)
endfunction()

function(rewind_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  rewind_target_defaults(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

function(rewind_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  rewind_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} rewind_test_support GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
