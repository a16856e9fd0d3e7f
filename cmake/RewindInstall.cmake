# SPDX-License-Identifier: Apache-2.0
# Install rules: the rewind binary, the public headers (include/rewind/*.h),
# the static libraries behind the facade, a CMake package
# (find_package(rewind) -> rewind::rewind) and a pkg-config file (rewind.pc).
#
# The libraries installed are rewind_system and everything it links, found by
# walking the link graph, so a new layer below the facade is exported without
# editing this file. Their imported dependencies become find_dependency()
# calls in rewindConfig.cmake and Requires in rewind.pc (see the tables below).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(REWIND_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/rewind)

# Walks the link graph below a target (depth first). Afterwards
# _rewind_order holds rewind's own targets in link order (each before the
# ones it links), _rewind_imported the imported targets they link and
# _rewind_plain plain library names (m, dl, ...).
function(_rewind_visit t)
  if(t IN_LIST _rewind_seen)
    return()
  endif()
  list(APPEND _rewind_seen ${t})
  get_target_property(_real ${t} ALIASED_TARGET)
  get_target_property(_is_imported ${t} IMPORTED)
  if(_is_imported)
    list(APPEND _rewind_imported ${t})
  elseif(_real)
    _rewind_visit(${_real})
  else()
    get_target_property(_type ${t} TYPE)
    get_target_property(_libs ${t} INTERFACE_LINK_LIBRARIES)
    if(NOT _libs)
      set(_libs "")
    endif()
    if(NOT _type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(_own ${t} LINK_LIBRARIES)
      if(_own)
        list(APPEND _libs ${_own})
      endif()
    endif()
    foreach(_l IN LISTS _libs)
      if(_l MATCHES "^\\$<LINK_ONLY:([^$<>]+)>$")
        set(_l ${CMAKE_MATCH_1})
      endif()
      if(_l MATCHES "\\$<")
        message(WARNING "rewind install: cannot follow '${_l}', linked by ${t}")
      elseif(TARGET ${_l})
        _rewind_visit(${_l})
      elseif(NOT _l MATCHES "^-" AND NOT _l MATCHES "/")
        list(APPEND _rewind_plain ${_l})
      endif()
    endforeach()
    list(PREPEND _rewind_order ${t})
  endif()
  foreach(_v _rewind_seen _rewind_order _rewind_imported _rewind_plain)
    set(${_v} ${${_v}} PARENT_SCOPE)
  endforeach()
endfunction()

set(_rewind_seen "")
set(_rewind_order "")
set(_rewind_imported "")
set(_rewind_plain "")
_rewind_visit(rewind_system)
list(REMOVE_DUPLICATES _rewind_plain)
set(REWIND_EXPORTED_LIBS ${_rewind_order})
set(REWIND_IMPORTED_DEPS ${_rewind_imported})
set(REWIND_PLAIN_LINK_LIBS ${_rewind_plain})
message(STATUS "rewind package: libraries ${REWIND_EXPORTED_LIBS}")

# The one target consumers link: rewind::rewind (also usable from a parent
# project that adds rewind with add_subdirectory).
add_library(rewind_package INTERFACE)
set_target_properties(rewind_package PROPERTIES EXPORT_NAME rewind)
target_link_libraries(rewind_package INTERFACE rewind_system)
target_compile_features(rewind_package INTERFACE cxx_std_20)
add_library(rewind::rewind ALIAS rewind_package)

install(TARGETS rewind RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/rewind
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS ${REWIND_EXPORTED_LIBS} rewind_package
        EXPORT rewindTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT rewindTargets
        NAMESPACE rewind::
        DESTINATION ${REWIND_INSTALL_CMAKEDIR})

# Imported dependency -> how rewindConfig.cmake finds it, and its pkg-config
# module (empty: header-only or not needed by consumers' link line; "-pthread":
# a flag for Libs).
set(_rewind_find "")
set(_rewind_pc_requires "")
set(_rewind_pc_libs_extra "")
foreach(dep IN LISTS REWIND_IMPORTED_DEPS)
  set(_find "")
  set(_pc "")
  if(dep STREQUAL "tl::expected")
    set(_find "find_dependency(tl-expected)")
  elseif(dep MATCHES "^fmt::")
    set(_find "find_dependency(fmt)")
    set(_pc fmt)
  elseif(dep MATCHES "^zstd::")
    set(_find "find_dependency(zstd)")
    set(_pc libzstd)
  elseif(dep MATCHES "^OpenSSL::")
    set(_find "find_dependency(OpenSSL 3)")
    if(dep STREQUAL "OpenSSL::SSL")
      set(_pc libssl)
    else()
      set(_pc libcrypto)
    endif()
  elseif(dep STREQUAL "SQLite::SQLite3")
    set(_find "find_dependency(SQLite3)")
    set(_pc sqlite3)
  elseif(dep MATCHES "^nlohmann_json::")
    set(_find "find_dependency(nlohmann_json)")
  elseif(dep MATCHES "^tomlplusplus::")
    set(_find "find_dependency(tomlplusplus)")
    set(_pc tomlplusplus)
  elseif(dep STREQUAL "Threads::Threads")
    set(_find "find_dependency(Threads)")
    list(APPEND _rewind_pc_libs_extra -pthread)
  elseif(dep MATCHES "^spdlog::")
    set(_find "find_dependency(spdlog)")
    set(_pc spdlog)
  elseif(dep MATCHES "^CLI11::")
    set(_find "find_dependency(CLI11)")
  elseif(dep STREQUAL "PkgConfig::SODIUM")
    set(_find "find_dependency(PkgConfig)\npkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)")
    set(_pc libsodium)
  elseif(dep STREQUAL "PkgConfig::SYSTEMD")
    set(_find "find_dependency(PkgConfig)\npkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)")
    set(_pc libsystemd)
  else()
    message(WARNING "rewind install: the package does not know how to find ${dep}, which "
                    "${REWIND_EXPORTED_LIBS} link; add it to cmake/RewindInstall.cmake")
    continue()
  endif()
  string(FIND "${_rewind_find}" "${_find}" _at)
  if(_at EQUAL -1)
    string(APPEND _rewind_find "${_find}\n")
  endif()
  if(_pc)
    list(APPEND _rewind_pc_requires ${_pc})
  endif()
endforeach()
list(REMOVE_DUPLICATES _rewind_pc_requires)
foreach(l IN LISTS REWIND_PLAIN_LINK_LIBS)
  list(APPEND _rewind_pc_libs_extra -l${l})
endforeach()
list(REMOVE_DUPLICATES _rewind_pc_libs_extra)

set(REWIND_FIND_DEPENDENCIES "${_rewind_find}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/rewindConfig.cmake.in
  ${PROJECT_BINARY_DIR}/rewindConfig.cmake
  INSTALL_DESTINATION ${REWIND_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/rewindConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/rewindConfig.cmake
              ${PROJECT_BINARY_DIR}/rewindConfigVersion.cmake
        DESTINATION ${REWIND_INSTALL_CMAKEDIR})

# rewind.pc. The libraries are static, so their dependencies must be on every
# consumer's link line: they go in Requires and Libs (not Requires.private and
# Libs.private), which `pkg-config --libs rewind` expands without --static.
# The prefix is found from the .pc file's own place, so `cmake --install
# --prefix DIR` works for any DIR.
set(_rewind_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH _rewind_pc_up /${_rewind_pc_dir} /)
string(REGEX REPLACE "/$" "" _rewind_pc_up "${_rewind_pc_up}")
set(REWIND_PC_PREFIX "\${pcfiledir}/${_rewind_pc_up}")
set(REWIND_PC_LIBS "")
foreach(lib IN LISTS REWIND_EXPORTED_LIBS)
  get_target_property(_type ${lib} TYPE)
  if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "SHARED_LIBRARY")
    get_target_property(_name ${lib} OUTPUT_NAME)
    if(NOT _name)
      set(_name ${lib})
    endif()
    string(APPEND REWIND_PC_LIBS " -l${_name}")
  endif()
endforeach()
string(STRIP "${REWIND_PC_LIBS}" REWIND_PC_LIBS)
list(JOIN _rewind_pc_requires " " REWIND_PC_REQUIRES)
list(JOIN _rewind_pc_libs_extra " " REWIND_PC_LIBS_EXTRA)
configure_file(${PROJECT_SOURCE_DIR}/cmake/rewind.pc.in ${PROJECT_BINARY_DIR}/rewind.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/rewind.pc DESTINATION ${_rewind_pc_dir})
