# SPDX-License-Identifier: BSD-3-Clause
# Small helpers so each folder's CMakeLists.txt is a few declarative lines.

# nbd_layer_headers(TARGET PUBLIC|PRIVATE LAYER): lets TARGET (and, with PUBLIC, whoever links
# it) write #include "LAYER/foo.h" for src/LAYER/foo.h, and nothing else of src/. Each layer
# gets a directory of its own in the build holding one link, src/LAYER.
function(nbd_layer_headers target scope layer)
  set(dir ${CMAKE_BINARY_DIR}/layer-headers/${layer})
  if(NOT EXISTS ${dir}/${layer})
    file(MAKE_DIRECTORY ${dir})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${layer} ${dir}/${layer} SYMBOLIC)
  endif()
  target_include_directories(${target} ${scope} ${dir})
endfunction()

# nbd_plugin(NAME name SOURCES a.cc ... [LIBS x y])
# Builds a static library nbdplugin_<name> that defines `nbd::plugins::<id>_plugin_info`
# (id = name with '-' replaced by '_') and registers it for the built-in plugin table.
function(nbd_plugin)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_library(nbdplugin_${P_NAME} STATIC ${P_SOURCES})
  target_link_libraries(nbdplugin_${P_NAME} PUBLIC nbd_runtime ${P_LIBS})
  set_property(GLOBAL APPEND PROPERTY NBD_PLUGINS ${P_NAME})
endfunction()

# nbd_filter(NAME name SOURCES ... [LIBS ...]): the same for filters (`<id>_filter_info`).
function(nbd_filter)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_library(nbdfilter_${P_NAME} STATIC ${P_SOURCES})
  target_link_libraries(nbdfilter_${P_NAME} PUBLIC nbd_runtime ${P_LIBS})
  set_property(GLOBAL APPEND PROPERTY NBD_FILTERS ${P_NAME})
endfunction()

# nbd_gtest(NAME test_name SOURCES ... [LIBS ...] [LAYERS server client ...]): a GoogleTest
# binary registered with ctest; LAYERS are internal layers whose headers it may include
# (nbd_layer_headers). Nothing when NBD_TESTS is off (see the top CMakeLists.txt).
function(nbd_gtest)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS;LAYERS" ${ARGN})
  if(NOT NBD_TESTS)
    return()
  endif()
  add_executable(${P_NAME} ${P_SOURCES})
  target_link_libraries(${P_NAME} PRIVATE ${P_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  foreach(layer ${P_LAYERS})
    nbd_layer_headers(${P_NAME} PRIVATE ${layer})
  endforeach()
  # Shared test helpers: #include "fixtures/fake_disk.h", "fixtures/scratch.h".
  target_include_directories(${P_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  set_target_properties(${P_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${P_NAME} COMMAND ${P_NAME})
  set_tests_properties(${P_NAME} PROPERTIES LABELS "unit;asan" TIMEOUT 300)
endfunction()

# nbd_shell_test(NAME name SCRIPT path [LABELS ...] [TIMEOUT s]): a bash test script run with
# the built binaries first on PATH. Exit 77 means "skipped" (ctest reports it as skipped,
# never as passed); any other non-zero exit fails.
function(nbd_shell_test)
  cmake_parse_arguments(P "" "NAME;SCRIPT;TIMEOUT" "LABELS" ${ARGN})
  if(NOT P_TIMEOUT)
    set(P_TIMEOUT 300)
  endif()
  add_test(NAME ${P_NAME} COMMAND bash ${P_SCRIPT})
  set(env "NBD_BUILD=${CMAKE_BINARY_DIR};NBD_SRC=${CMAKE_SOURCE_DIR};NBD_BIN=${CMAKE_BINARY_DIR}/bin")
  # Plugin and filter tests drive requests with our own Python module nbd (bindings/python),
  # so a failure there is ours; tests/interop keeps Debian's python3-libnbd as a peer.
  if(P_SCRIPT MATCHES "/(plugins|filters)/")
    string(APPEND env ";PYTHONPATH=${CMAKE_BINARY_DIR}/python")
  endif()
  set_tests_properties(${P_NAME} PROPERTIES
    LABELS "${P_LABELS}" TIMEOUT ${P_TIMEOUT} SKIP_RETURN_CODE 77 ENVIRONMENT "${env}")
endfunction()
