# SPDX-License-Identifier: Apache-2.0
# What makes rewind part of a Debian system: the apt hook, the systemd units,
# the man pages and the bash completion, built and installed where Debian
# keeps them. With the prefix /usr (a package build, `cmake --install build
# --prefix /usr`, with DESTDIR) the hook goes to /etc/apt/apt.conf.d and the
# units to /lib/systemd/system (Debian 12's unit directory); with any other
# prefix both stay under it (PREFIX/etc/..., PREFIX/lib/systemd/system), so a
# test install into a temporary prefix touches nothing outside it.
include(GNUInstallDirs)

set(REWIND_SYSTEMD_UNITDIR "" CACHE STRING
    "Where the systemd units are installed (default: /lib/systemd/system for the prefix /usr, \
else PREFIX/lib/systemd/system)")

# The hook file and the units name the installed programs, so they are
# written when they are installed, for the prefix of that `cmake --install`
# (which may differ from the configured one): cmake/RewindDistInstall.cmake.
set(REWIND_UNITS rewind-verify.service rewind-verify.timer rewind-cleanup.service
                 rewind-cleanup.timer rewind-recover.service rewind-boot-check.service)
if(TARGET rewindd)
  list(APPEND REWIND_UNITS rewindd.service)
endif()
install(CODE "set(REWIND_DIST_DIR \"${PROJECT_SOURCE_DIR}/dist\")
set(REWIND_UNITS \"${REWIND_UNITS}\")
set(REWIND_SYSTEMD_UNITDIR \"${REWIND_SYSTEMD_UNITDIR}\")
set(REWIND_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(REWIND_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/RewindDistInstall.cmake)

# bash completion.
install(FILES ${PROJECT_SOURCE_DIR}/dist/bash-completion/rewind
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# Man pages: the hand-written parts around the options and commands of the
# built binary's help text (scripts/gen-man.sh; no network, no help2man).
set(_man_pages "")
foreach(prog rewind rewindd)
  if(NOT TARGET ${prog})
    continue()
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/doc/man/${prog}.8.head ${PROJECT_BINARY_DIR}/man/${prog}.8.head @ONLY)
  add_custom_command(
    OUTPUT ${PROJECT_BINARY_DIR}/man/${prog}.8
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh $<TARGET_FILE:${prog}> ${PROJECT_BINARY_DIR}/man/${prog}.8.head
            ${PROJECT_SOURCE_DIR}/doc/man/${prog}.8.tail ${PROJECT_BINARY_DIR}/man/${prog}.8
    DEPENDS ${prog} ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh ${PROJECT_BINARY_DIR}/man/${prog}.8.head
            ${PROJECT_SOURCE_DIR}/doc/man/${prog}.8.tail
    COMMENT "Generating the man page ${prog}(8) from its help text"
    VERBATIM)
  list(APPEND _man_pages ${PROJECT_BINARY_DIR}/man/${prog}.8)
endforeach()
add_custom_target(rewind-man ALL DEPENDS ${_man_pages})
install(FILES ${_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
if(TARGET rewindd)
  install(TARGETS rewindd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()
