# Helpers for plugin authors, installed with the SDK and loaded by find_package(tessera).

# tessera_add_plugin(<name> SOURCES src... [OUTPUT_DIRECTORY dir])
# Builds the MODULE library libtessera-<name>.so (target tessera-<name>) the way the Tessera
# loader expects it: only tsr_plugin_get_api / tsr_plugin_score exported (hidden visibility
# by default; mark them TSR_PLUGIN_EXPORT), no undefined symbols, C++17 at least.
function(tessera_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "tessera_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "tessera_add_plugin(${name}): the name must be lower-case [a-z0-9_]")
  endif()
  set(target tessera-${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE tessera::sdk)
  target_compile_features(${target} PRIVATE cxx_std_17)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME tessera-${name}
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()

# tessera_add_conformance_test(<name> [ARGS extra-args...])
# Registers CTest test conformance.<name>: tessera-conformance --plugin <the plugin>. The
# suite exits 77 when no test ran (no device here), which CTest reports as Skipped.
function(tessera_add_conformance_test name)
  cmake_parse_arguments(ARG "" "" "ARGS" ${ARGN})
  if(NOT TARGET tessera::conformance)
    message(FATAL_ERROR "tessera_add_conformance_test: tessera::conformance is not installed")
  endif()
  add_test(NAME conformance.${name}
           COMMAND tessera::conformance --plugin $<TARGET_FILE:tessera-${name}> ${ARG_ARGS})
  set_tests_properties(conformance.${name} PROPERTIES SKIP_RETURN_CODE 77)
endfunction()
