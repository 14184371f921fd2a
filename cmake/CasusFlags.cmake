# Per-target compile and link flags. Every casus target calls casus_flags(target);
# nothing is set globally so that third-party code is never built with our -Werror.
include(CheckCCompilerFlag)

set(CASUS_WARNINGS
  -Wall -Wextra -Wshadow -Wformat=2 -Wformat-security
  -Wconversion -Wsign-conversion -Wstrict-prototypes -Wmissing-prototypes
  -Wold-style-definition -Wpointer-arith -Wcast-qual -Wvla -Wundef
  -Wnull-dereference -Wimplicit-fallthrough -Wmissing-declarations)
# CASUS_WERROR (top CMakeLists.txt, default ON, on in CI): every warning above is an
# error. Switch it off only to see all warnings of a new compiler at once.
if(CASUS_WERROR)
  list(APPEND CASUS_WARNINGS -Werror)
endif()
set(CASUS_HARDEN -fstack-protector-strong -fstack-clash-protection -fno-strict-aliasing)
set(CASUS_LINK_HARDEN -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)

if(CASUS_SANITIZE)
  set(CASUS_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
endif()
if(CASUS_FUZZ)
  # instrument every casus target (not only the drivers) so coverage guides the fuzzer
  set(CASUS_SAN_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  set(CASUS_SAN_LINK -fsanitize=address,undefined)
endif()
if(CASUS_COVERAGE)
  set(CASUS_COV_FLAGS --coverage)
endif()

function(casus_flags target)
  target_compile_options(${target} PRIVATE ${CASUS_WARNINGS} ${CASUS_HARDEN} ${CASUS_SAN_FLAGS} ${CASUS_COV_FLAGS})
  if(NOT CASUS_SANITIZE AND NOT CASUS_FUZZ AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    target_compile_definitions(${target} PRIVATE _FORTIFY_SOURCE=2)
  endif()
  target_compile_definitions(${target} PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
  if(CASUS_FUZZ)
    target_link_options(${target} PRIVATE ${CASUS_LINK_HARDEN} ${CASUS_SAN_LINK} ${CASUS_COV_FLAGS})
  else()
    target_link_options(${target} PRIVATE ${CASUS_LINK_HARDEN} ${CASUS_SAN_FLAGS} ${CASUS_COV_FLAGS})
  endif()
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "EXECUTABLE")
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_link_options(${target} PRIVATE -pie)
  endif()
endfunction()
