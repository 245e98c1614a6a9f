# What `cmake --install` puts where (GNUInstallDirs): the programs in sbin, the systemd units, the
# man pages, the example Corefile as <sysconfdir>/wgsd/Corefile, and the documentation.
include(GNUInstallDirs)

# systemd's own unit directory when installing for the system (/usr), as pkg-config systemd says;
# under any other prefix its lib/systemd/system, which systemd also reads for /usr/local.
if(NOT DEFINED WGSD_SYSTEMD_UNITDIR)
  set(wgsd_unitdir lib/systemd/system)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    pkg_get_variable(wgsd_pc_unitdir systemd systemdsystemunitdir)
    if(wgsd_pc_unitdir)
      set(wgsd_unitdir ${wgsd_pc_unitdir})
    endif()
  endif()
  set(WGSD_SYSTEMD_UNITDIR ${wgsd_unitdir} CACHE STRING "where the systemd units are installed")
endif()

set(WGSD_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(WGSD_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
set(wgsd_units wgsd-server.service wgsd-client@.service wgsd-client-daemon@.service)
foreach(unit ${wgsd_units})
  configure_file(dist/systemd/${unit}.in dist/systemd/${unit} @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/dist/systemd/${unit} DESTINATION ${WGSD_SYSTEMD_UNITDIR})
endforeach()
configure_file(dist/systemd/wgsd-client@.timer dist/systemd/wgsd-client@.timer COPYONLY)
install(FILES dist/systemd/wgsd-client@.timer DESTINATION ${WGSD_SYSTEMD_UNITDIR})

install(TARGETS wgsd-server wgsd-client RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
# The Corefile is the operator's once installed: a later install never overwrites an edited one.
install(CODE "set(WGSD_ETC \"${CMAKE_INSTALL_FULL_SYSCONFDIR}/wgsd\")\nset(WGSD_EXAMPLE \"${PROJECT_SOURCE_DIR}/Corefile.example\")")
install(SCRIPT dist/install_corefile.cmake)
install(FILES README.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Every page of docs/, as the README links them.
file(GLOB wgsd_docs CONFIGURE_DEPENDS docs/*.md docs/*.png)
install(FILES ${wgsd_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES Corefile.example dist/default/wgsd-client-wg0 DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES man/wgsd-server.8 man/wgsd-client.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES man/wgsd-corefile.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
