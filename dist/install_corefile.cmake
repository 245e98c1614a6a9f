# Run by `cmake --install`: puts the example Corefile at <sysconfdir>/wgsd/Corefile unless one is
# there already (the operator's, possibly edited, is never overwritten). WGSD_ETC and WGSD_EXAMPLE
# are set by dist/install.cmake.
set(corefile "$ENV{DESTDIR}${WGSD_ETC}/Corefile")
if(EXISTS "${corefile}")
  message(STATUS "Kept (the operator's): ${corefile}")
else()
  message(STATUS "Installing: ${corefile}")
  file(MAKE_DIRECTORY "$ENV{DESTDIR}${WGSD_ETC}")
  file(COPY_FILE "${WGSD_EXAMPLE}" "${corefile}")
endif()
