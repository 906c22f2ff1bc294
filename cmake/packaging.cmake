# The Debian package (scripts/package.sh: cpack -G DEB in the build dir): what
# `cmake --install` lays out (castor, the systemd units, the mount helper, man
# pages, shell completions), under the configured prefix. The units and the
# mount helper name ${CMAKE_INSTALL_FULL_BINDIR}/castor, so the package keeps
# that prefix rather than CPack's /usr: scripts/package.sh configures /usr.
set(CPACK_PACKAGE_NAME castor)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "castor")
set(CPACK_PACKAGE_CONTACT "castor maintainers <castor@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "content-addressed store for file trees, with a lazy read-only FUSE filesystem")
set(CPACK_PACKAGE_DESCRIPTION
  "castor imports directory trees into a BLAKE3 content-addressed store\n\
(local, gRPC or S3 backends), exports them back, and mounts them read-only\n\
with FUSE, fetching file content only when it is read.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # castor_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies from dpkg-shlibdeps (dpkg-dev), plus fusermount3
# and /dev/fuse's udev rules for `castor mount`.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
include(CPack)
