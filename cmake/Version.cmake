# Version.cmake: the version every program prints with --version.
# CASUS_VERSION_FULL is the CMake project version, followed by `git describe`
# when the source is a git checkout (read at configure time: re-run cmake to
# refresh it). It is written to <build>/generated/casus_version.h.
set(CASUS_GIT_DESCRIBE "")
find_program(CASUS_GIT git)
if(CASUS_GIT AND EXISTS ${CMAKE_SOURCE_DIR}/.git)
  execute_process(COMMAND ${CASUS_GIT} -C ${CMAKE_SOURCE_DIR} describe --always --dirty --tags
                  OUTPUT_VARIABLE CASUS_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE _casus_git_rc)
  if(NOT _casus_git_rc EQUAL 0)
    set(CASUS_GIT_DESCRIBE "")
  endif()
endif()
if(CASUS_GIT_DESCRIBE)
  set(CASUS_VERSION_FULL "${PROJECT_VERSION} (git ${CASUS_GIT_DESCRIBE})")
else()
  set(CASUS_VERSION_FULL "${PROJECT_VERSION}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/casus_version.h.in ${CMAKE_BINARY_DIR}/generated/casus_version.h @ONLY)
set(CASUS_GENERATED_INCLUDE ${CMAKE_BINARY_DIR}/generated)
