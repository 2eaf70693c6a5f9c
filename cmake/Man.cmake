# SPDX-License-Identifier: BSD-3-Clause
# Man pages from the man-page-shaped READMEs (scripts/md2man.py), into build/man/manN/, at
# build time: section 1 for nbdkit, the tools, every plugin and filter; section 3 for the APIs.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(nbd_man_pages "")
function(nbd_man src name section)
  set(out ${CMAKE_BINARY_DIR}/man/man${section}/${name}.${section})
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man/man${section}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/md2man.py ${src} ${out} ${name} ${section}
            ${PROJECT_VERSION}
    DEPENDS ${src} ${CMAKE_SOURCE_DIR}/scripts/md2man.py VERBATIM)
  set(nbd_man_pages ${nbd_man_pages} ${out} PARENT_SCOPE)
endfunction()

nbd_man(${CMAKE_SOURCE_DIR}/src/server/README.md nbdkit 1)
foreach(tool nbdcopy nbdinfo nbddump nbdfuse)
  nbd_man(${CMAKE_SOURCE_DIR}/tools/${tool}/README.md ${tool} 1)
endforeach()
nbd_man(${CMAKE_SOURCE_DIR}/bindings/python/README.md nbdsh 1)
file(GLOB readmes CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/plugins/*/README.md ${CMAKE_SOURCE_DIR}/filters/*/README.md)
foreach(r ${readmes})
  get_filename_component(dir ${r} DIRECTORY)
  get_filename_component(n ${dir} NAME)
  get_filename_component(kind ${dir} DIRECTORY)
  get_filename_component(kind ${kind} NAME)
  if(kind STREQUAL "filters" AND n STREQUAL "common")
    continue()  # shared code, not a filter
  endif()
  string(REGEX REPLACE "s$" "" kind ${kind})
  nbd_man(${r} nbdkit-${n}-${kind} 1)
endforeach()
nbd_man(${CMAKE_SOURCE_DIR}/docs/plugin-api.md nbdkitpp-plugin 3)
nbd_man(${CMAKE_SOURCE_DIR}/src/client/README.md nbdkitpp-client 3)
nbd_man(${CMAKE_SOURCE_DIR}/bindings/c/README.md nbdkitpp-libnbd 3)
add_custom_target(man ALL DEPENDS ${nbd_man_pages})
