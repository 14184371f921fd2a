# Packaging.cmake: the Debian package (CPack's DEB generator) and its tests.
#
#   cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-release -j2 && (cd build-release && cpack -G DEB)
#     -> build-release/casus_<version>_<arch>.deb
#   apt-get install ./casus_<version>_<arch>.deb      (on the server: no compilers)
#
# The package holds casusd, casus, casus-admin, the systemd units (casusd.service,
# casus-backup.service/.timer), sysusers.d and tmpfiles.d files for the casus user
# and its folders, backup.sh and restore.sh in /usr/lib/casus, the default
# configuration in /etc/casus (a conffile), the policies in /usr/share/casus and
# the docs. Its Depends are computed by dpkg-shlibdeps from the binaries: run-time
# libraries only. Maintainer scripts: deploy/debian/.

# --- what is installed ----------------------------------------------------------
set(CASUS_UNITDIR lib/systemd/system)
install(FILES deploy/systemd/casusd.service deploy/systemd/casus-backup.service
              deploy/systemd/casus-backup.timer
        DESTINATION ${CASUS_UNITDIR})
install(FILES deploy/systemd/casus.sysusers DESTINATION lib/sysusers.d RENAME casus.conf)
install(FILES deploy/systemd/casus.tmpfiles DESTINATION lib/tmpfiles.d RENAME casus.conf)
install(PROGRAMS deploy/backup.sh deploy/restore.sh DESTINATION lib/casus)
# /etc/casus whatever the prefix: the unit and the docs name /etc/casus/casusd.json
install(FILES deploy/casusd.json DESTINATION /etc/casus)
install(FILES deploy/casusd.json DESTINATION ${CMAKE_INSTALL_DATADIR}/casus RENAME casusd.json.example)
install(DIRECTORY deploy/policy/ DESTINATION ${CMAKE_INSTALL_DATADIR}/casus/policy FILES_MATCHING PATTERN "*.json")
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")

# --- the package ----------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME casus)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "casus")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "end-to-end encrypted case-conference messenger (server and tools)")
set(CPACK_PACKAGE_DESCRIPTION "casusd serves casus case conferences: the server sees ciphertext and metadata only.
 This package holds the server casusd, the command-line client casus, the
 administrator's tool casus-admin, a hardened systemd unit, a nightly backup
 timer and the operations manual (/usr/share/doc/casus/OPERATIONS.md).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "casus operations <ops@casus.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# flock (restore.sh) is in util-linux, sha256sum in coreutils: both essential.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "openssl")
configure_file(${CMAKE_SOURCE_DIR}/deploy/debian/conffiles.in ${CMAKE_BINARY_DIR}/debian/conffiles COPYONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/debian/conffiles
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# --- tests ------------------------------------------------------------------------
# The unit's exposure score, offline (no running systemd needed).
find_program(CASUS_SYSTEMD_ANALYZE systemd-analyze)
find_program(CASUS_PY3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
add_test(NAME package.unit_security
         COMMAND ${CASUS_PY3} ${CMAKE_SOURCE_DIR}/tests/packaging/test_unit_security.py)
set_tests_properties(package.unit_security PROPERTIES
  ENVIRONMENT "CASUS_SRC=${CMAKE_SOURCE_DIR}" LABELS package TIMEOUT 300)
# Build the .deb from a Release build of this source (<build>/package-release), install it on this machine (root, serialised
# with a lock, everything removed afterwards), start casusd from the installed
# unit's command as its user and smoke-test it with the installed casus.
# Not registered in sanitizer/coverage/fuzz builds: those binaries are not what ships.
if(CASUS_SANITIZE OR CASUS_COVERAGE OR CASUS_FUZZ)
  message(STATUS "package.deb test not registered: this is an instrumented build")
else()
  add_test(NAME package.deb COMMAND ${CASUS_PY3} ${CMAKE_SOURCE_DIR}/tests/packaging/test_package.py)
  set_tests_properties(package.deb PROPERTIES
    ENVIRONMENT "CASUS_BUILD=${CMAKE_BINARY_DIR};CASUS_SRC=${CMAKE_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1"
    LABELS package TIMEOUT 2400)
endif()
