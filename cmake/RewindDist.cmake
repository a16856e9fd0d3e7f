# SPDX-License-Identifier: Apache-2.0
# What makes rewind part of a Debian system: the apt hook, the systemd units,
# the man pages and the bash completion, built and installed where Debian
# keeps them. With the prefix /usr (a package build, `cmake --install build
# --prefix /usr`) the hook goes to /etc/apt/apt.conf.d and the units to
# /lib/systemd/system (Debian 12's unit directory); with any other prefix
# both stay under it (PREFIX/etc/..., PREFIX/lib/systemd/system), so a test
# install into a temporary prefix touches nothing outside it.
include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_rewind_unitdir_default /lib/systemd/system)
else()
  set(_rewind_unitdir_default lib/systemd/system)
endif()
set(REWIND_SYSTEMD_UNITDIR ${_rewind_unitdir_default}
    CACHE STRING "Where the systemd units are installed (relative: under the prefix)")

# The installed programs, as the units and the hook call them.
set(REWIND_BIN ${CMAKE_INSTALL_FULL_BINDIR}/rewind)
set(REWINDD_BIN ${CMAKE_INSTALL_FULL_SBINDIR}/rewindd)

set(_dist ${PROJECT_SOURCE_DIR}/dist)
set(_out ${PROJECT_BINARY_DIR}/dist)

# apt hook.
configure_file(${_dist}/apt/99rewind.in ${_out}/apt/99rewind @ONLY)
install(FILES ${_out}/apt/99rewind DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/apt/apt.conf.d)

# systemd units: *.in name the programs, the rest are copied.
set(REWIND_UNITS rewindd.service rewind-verify.service rewind-verify.timer rewind-cleanup.service
                 rewind-cleanup.timer rewind-recover.service rewind-boot-check.service)
foreach(unit IN LISTS REWIND_UNITS)
  if(EXISTS ${_dist}/systemd/${unit}.in)
    configure_file(${_dist}/systemd/${unit}.in ${_out}/systemd/${unit} @ONLY)
  else()
    configure_file(${_dist}/systemd/${unit} ${_out}/systemd/${unit} COPYONLY)
  endif()
  if(unit STREQUAL "rewindd.service" AND NOT TARGET rewindd)
    continue()  # no daemon in this build
  endif()
  install(FILES ${_out}/systemd/${unit} DESTINATION ${REWIND_SYSTEMD_UNITDIR})
endforeach()

# bash completion.
install(FILES ${_dist}/bash-completion/rewind
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# Man pages: the hand-written parts around the options and commands of the
# built binary's help text (scripts/gen-man.sh; no network, no help2man).
set(_man_pages "")
foreach(prog rewind rewindd)
  if(NOT TARGET ${prog})
    continue()
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/doc/man/${prog}.8.head ${_out}/man/${prog}.8.head @ONLY)
  add_custom_command(
    OUTPUT ${_out}/man/${prog}.8
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh $<TARGET_FILE:${prog}> ${_out}/man/${prog}.8.head
            ${PROJECT_SOURCE_DIR}/doc/man/${prog}.8.tail ${_out}/man/${prog}.8
    DEPENDS ${prog} ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh ${_out}/man/${prog}.8.head
            ${PROJECT_SOURCE_DIR}/doc/man/${prog}.8.tail
    COMMENT "Generating the man page ${prog}(8) from its help text"
    VERBATIM)
  list(APPEND _man_pages ${_out}/man/${prog}.8)
endforeach()
add_custom_target(rewind-man ALL DEPENDS ${_man_pages})
install(FILES ${_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
if(TARGET rewindd)
  install(TARGETS rewindd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()
