# SPDX-License-Identifier: Apache-2.0
# Install-time part of RewindDist.cmake: writes the apt hook and the systemd
# units with the paths of this installation (CMAKE_INSTALL_PREFIX is the
# prefix `cmake --install` was given), under DESTDIR, and records them in
# install_manifest.txt. Set by RewindDist.cmake's install(CODE): REWIND_DIST_DIR,
# REWIND_UNITS, REWIND_SYSTEMD_UNITDIR, REWIND_BINDIR, REWIND_SBINDIR.
set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(_prefix STREQUAL "/usr")
  set(_etc /etc)
  set(_units /lib/systemd/system)
else()
  set(_etc ${_prefix}/etc)
  set(_units ${_prefix}/lib/systemd/system)
endif()
if(REWIND_SYSTEMD_UNITDIR)
  set(_units ${REWIND_SYSTEMD_UNITDIR})
  if(NOT IS_ABSOLUTE "${_units}")
    set(_units ${_prefix}/${_units})
  endif()
endif()
set(REWIND_BIN ${_prefix}/${REWIND_BINDIR}/rewind)
set(REWINDD_BIN ${_prefix}/${REWIND_SBINDIR}/rewindd)

function(_rewind_write src dest)
  message(STATUS "Installing: $ENV{DESTDIR}${dest}")
  if(src MATCHES "\\.in$")
    configure_file(${src} $ENV{DESTDIR}${dest} @ONLY)
  else()
    configure_file(${src} $ENV{DESTDIR}${dest} COPYONLY)
  endif()
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES $ENV{DESTDIR}${dest})
  set(CMAKE_INSTALL_MANIFEST_FILES ${CMAKE_INSTALL_MANIFEST_FILES} PARENT_SCOPE)
endfunction()

_rewind_write(${REWIND_DIST_DIR}/apt/99rewind.in ${_etc}/apt/apt.conf.d/99rewind)
foreach(unit IN LISTS REWIND_UNITS)
  if(EXISTS ${REWIND_DIST_DIR}/systemd/${unit}.in)
    _rewind_write(${REWIND_DIST_DIR}/systemd/${unit}.in ${_units}/${unit})
  else()
    _rewind_write(${REWIND_DIST_DIR}/systemd/${unit} ${_units}/${unit})
  endif()
endforeach()
