# SPDX-License-Identifier: BSD-3-Clause
# `make install` (cmake --install): binaries, the client library, the C and C++ headers,
# pkg-config files (nbdkit.pc as upstream's, with plugindir/filterdir; nbdkitpp.pc for the
# client), a CMake package (find_package(nbdkitpp)), man pages, bash completion, and the empty
# plugin and filter directories. `make uninstall` removes what the manifest lists
# (cmake/Uninstall.cmake.in). Everything is placed relative to the prefix given at install time.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
include(${CMAKE_SOURCE_DIR}/cmake/Man.cmake)

file(RELATIVE_PATH nbd_plugindir_rel ${CMAKE_INSTALL_PREFIX} ${NBD_PLUGINDIR})
file(RELATIVE_PATH nbd_filterdir_rel ${CMAKE_INSTALL_PREFIX} ${NBD_FILTERDIR})

install(TARGETS nbdkit nbdcopy nbdinfo nbddump nbdfuse RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS nbdkitpp EXPORT nbdkitppTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

# Headers for plugins and filters: upstream's C API at the top of includedir, ours under nbdkit++/.
add_library(nbdkitpp_plugin INTERFACE)
target_include_directories(nbdkitpp_plugin INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
                                                     $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/nbdkit++>)
target_compile_features(nbdkitpp_plugin INTERFACE cxx_std_20)
set_target_properties(nbdkitpp_plugin PROPERTIES EXPORT_NAME plugin)
install(TARGETS nbdkitpp_plugin EXPORT nbdkitppTargets)
install(FILES include/nbdkit-common.h include/nbdkit-plugin.h include/nbdkit-filter.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/nbd DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nbdkit++)
install(DIRECTORY DESTINATION ${nbd_plugindir_rel})
if(TARGET nbdkit_python_plugin)
  install(TARGETS nbdkit_python_plugin LIBRARY DESTINATION ${nbd_plugindir_rel})
endif()
install(DIRECTORY DESTINATION ${nbd_filterdir_rel})

# pkg-config files carry absolute paths, so they are written when the prefix is known.
set(pc_dir ${CMAKE_BINARY_DIR}/pkgconfig)
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(libdir \"\${prefix}/${CMAKE_INSTALL_LIBDIR}\")
  set(includedir \"\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\")
  set(plugindir \"\${prefix}/${nbd_plugindir_rel}\")
  set(filterdir \"\${prefix}/${nbd_filterdir_rel}\")
  set(PROJECT_VERSION ${PROJECT_VERSION})
  configure_file(${CMAKE_SOURCE_DIR}/cmake/nbdkit.pc.in ${pc_dir}/nbdkit.pc @ONLY)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/nbdkitpp.pc.in ${pc_dir}/nbdkitpp.pc @ONLY)
")
install(FILES ${pc_dir}/nbdkit.pc ${pc_dir}/nbdkitpp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The CMake package: paths relative to its own directory.
set(cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/nbdkitpp)
file(RELATIVE_PATH config_to_prefix /prefix/${cmake_dir} /prefix)
set(plugindir_rel ${nbd_plugindir_rel})
set(filterdir_rel ${nbd_filterdir_rel})
configure_file(cmake/nbdkitppConfig.cmake.in ${CMAKE_BINARY_DIR}/cmake/nbdkitppConfig.cmake @ONLY)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/nbdkitppConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(EXPORT nbdkitppTargets NAMESPACE nbdkitpp:: DESTINATION ${cmake_dir})
install(FILES ${CMAKE_BINARY_DIR}/cmake/nbdkitppConfig.cmake ${CMAKE_BINARY_DIR}/cmake/nbdkitppConfigVersion.cmake
        DESTINATION ${cmake_dir})

if(TARGET _nbd)
  install(TARGETS _nbd LIBRARY DESTINATION ${NBD_PYTHONDIR})
  install(FILES bindings/python/nbd.py bindings/python/nbdsh.py DESTINATION ${NBD_PYTHONDIR})
  install(PROGRAMS ${CMAKE_BINARY_DIR}/python-install/nbdsh DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# libnbd.so.0 with libnbd.h and libnbd.pc: a drop-in for libnbd (under /usr/local it comes
# before the distribution's in the loader's search path; see bindings/c/README.md).
if(TARGET nbd_c_abi)
  install(TARGETS nbd_c_abi LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES bindings/c/libnbd.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES ${CMAKE_BINARY_DIR}/libnbd.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR})
foreach(cmd nbdkit nbdcopy nbdinfo nbddump nbdsh nbdfuse)
  install(FILES scripts/bash-completion/nbdkit DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME ${cmd})
endforeach()
set(plugindir_from_bindir ${nbd_plugindir_from_bindir})
set(filterdir_from_bindir ${nbd_filterdir_from_bindir})
configure_file(cmake/Uninstall.cmake.in ${CMAKE_BINARY_DIR}/cmake/Uninstall.cmake @ONLY)
install(FILES README.md docs/compatibility.md docs/plugin-api.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
