# Debian package of the agent for bare metal (docs/operations.md#install-on-bare-metal):
#   scripts/package-deb.sh                      -> build-deb/fsagent_<version>_amd64.deb
#   cmake --build BUILD --target package        (cpack -G DEB in a plain build folder)
# It holds component "fsagent" only (not the bench tools), laid out for /usr
# and /etc whatever prefix BUILD was configured with: CPack installs the
# component with prefix /usr into a staging folder, then layout.cmake moves the
# config to /etc (the conffile), fixes the unit's paths and gzips the man page.
if(NOT FSA_SANITIZE STREQUAL "" OR FSA_FUZZ)
  return()  # sanitizer and fuzzing builds are for testing, never to ship
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fsagent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "fsagent maintainers <maintainers@users.noreply.r-seed-342cccf3.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FreeSWITCH call-quality metrics agent")
# The extended description, one control-file line each (CPack indents them).
string(JOIN "\n" CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "fsagent connects to FreeSWITCH servers over the Event Socket (ESL), turns"
  "RTCP reports and end-of-call statistics into call-quality metrics (jitter,"
  "loss, round-trip time, an E-model MOS per leg) and exports them over"
  "OTLP/gRPC to an OpenTelemetry Collector. See fsagent(8).")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # fsagent_<version>_amd64.deb
# Depends: the libraries' packages from what the binary links (dpkg-shlibdeps,
# from dpkg-dev), plus what postinst creates the user with.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser | systemd-sysusers")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/conffiles ${CMAKE_CURRENT_LIST_DIR}/postinst
    ${CMAKE_CURRENT_LIST_DIR}/prerm ${CMAKE_CURRENT_LIST_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644

# Component fsagent of this build, installed with prefix /usr and DESTDIR, so
# the install(CODE) that writes the unit sees /usr, not the staging folder.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};fsagent;fsagent;/")
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)  # Debian ships binaries stripped
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/layout.cmake)
include(CPack)
