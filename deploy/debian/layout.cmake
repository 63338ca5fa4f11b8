# CPack pre-build script (CPackDeb.cmake): turns the staged `cmake --install`
# of component fsagent with prefix /usr into the Debian layout before CPack
# packs it. GNUInstallDirs keeps the relative "etc" for prefix /usr, so the
# staging has usr/etc/fsagent; Debian wants /etc/fsagent. Each step fails
# loudly when what it edits is not there, so a changed install section
# cannot silently produce a wrong package.
set(D "${CPACK_TEMPORARY_DIRECTORY}")

function(fsa_need path)
  if(NOT EXISTS "${D}/${path}")
    message(FATAL_ERROR "layout.cmake: ${path} not in the staged install (install section changed?)")
  endif()
endfunction()

# /etc/fsagent/config.yaml, the conffile: the example with a header saying
# what to do with it. 0640 (it holds passwords); postinst makes it root:fsagent.
fsa_need(usr/etc/fsagent/config.example.yaml)
file(READ "${D}/usr/etc/fsagent/config.example.yaml" example)
file(MAKE_DIRECTORY "${D}/etc/fsagent")
file(WRITE "${D}/etc/fsagent/config.yaml"
"# /etc/fsagent/config.yaml: the agent's configuration (Debian package fsagent).
# A dpkg conffile: your changes are kept on upgrade. Set freeswitch_instances
# and opentelemetry, then:
#   fsagent --check-config --config /etc/fsagent/config.yaml
#   systemctl enable --now fsagent
# The unmodified example is /usr/share/doc/fsagent/examples/config.example.yaml.
#
${example}")
file(CHMOD "${D}/etc/fsagent/config.yaml" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

# The example itself goes with the documentation: nothing under /etc that is
# not a conffile.
file(MAKE_DIRECTORY "${D}/usr/share/doc/fsagent/examples")
file(RENAME "${D}/usr/etc/fsagent/config.example.yaml" "${D}/usr/share/doc/fsagent/examples/config.example.yaml")
file(REMOVE_RECURSE "${D}/usr/etc")

# The unit: /usr/etc -> /etc, and the first-start notes of `cmake --install`
# replaced by the package's (the user and config.yaml already exist).
set(unit "${D}/usr/lib/systemd/system/fsagent.service")
fsa_need(usr/lib/systemd/system/fsagent.service)
file(READ "${unit}" text)
string(REPLACE "/usr/etc/fsagent/" "/etc/fsagent/" text "${text}")
set(last "systemctl enable --now fsagent\n")
string(FIND "${text}" "# Installed by `cmake --install`" from)
string(FIND "${text}" "${last}" to)
if(from EQUAL -1 OR to EQUAL -1 OR to LESS from)
  message(FATAL_ERROR "layout.cmake: the first-start notes of fsagent.service changed; update layout.cmake")
endif()
string(LENGTH "${last}" n)
math(EXPR to "${to} + ${n}")
string(SUBSTRING "${text}" 0 ${from} head)
string(SUBSTRING "${text}" ${to} -1 tail)
set(text "${head}# Installed by the Debian package fsagent, which created the fsagent user and
# /etc/fsagent/config.yaml (root:fsagent 0640). Before the first start:
#   edit /etc/fsagent/config.yaml: freeswitch_instances, opentelemetry
#   fsagent --check-config --config /etc/fsagent/config.yaml
#   systemctl enable --now fsagent
${tail}")
if(text MATCHES "/usr/local|/usr/etc")
  message(FATAL_ERROR "layout.cmake: fsagent.service still names /usr/local or /usr/etc")
endif()
file(WRITE "${unit}" "${text}")

# Man pages are gzipped (Debian policy 12.1); -n keeps the name and time out,
# so the same page gives the same bytes.
fsa_need(usr/share/man/man8/fsagent.8)
execute_process(COMMAND gzip -9n "${D}/usr/share/man/man8/fsagent.8" COMMAND_ERROR_IS_FATAL ANY)
