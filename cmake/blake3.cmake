# BLAKE3: the official C implementation with run-time SIMD dispatch.
# Prefer a system libblake3; otherwise build the C sources that Debian's
# librust-blake3-dev ships. Either way the target is `blake3`.
# castor needs blake3_impl.h (BLAKE3's internal tree functions) for verified
# ranges later, so the source build is the usual path.
find_library(BLAKE3_SYSTEM_LIB blake3)
find_path(BLAKE3_SYSTEM_INCLUDE blake3.h)
file(GLOB BLAKE3_SRC_DIRS LIST_DIRECTORIES true /usr/share/cargo/registry/blake3-*/c)
list(SORT BLAKE3_SRC_DIRS COMPARE NATURAL ORDER DESCENDING)
list(LENGTH BLAKE3_SRC_DIRS _n)
if(_n GREATER 0)
  list(GET BLAKE3_SRC_DIRS 0 BLAKE3_C_DIR)
  message(STATUS "BLAKE3: building the C sources from ${BLAKE3_C_DIR}")
  add_library(blake3 STATIC
    ${BLAKE3_C_DIR}/blake3.c
    ${BLAKE3_C_DIR}/blake3_dispatch.c
    ${BLAKE3_C_DIR}/blake3_portable.c
    ${BLAKE3_C_DIR}/blake3_sse2_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_sse41_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_avx2_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_avx512_x86-64_unix.S)
  target_include_directories(blake3 SYSTEM PUBLIC ${BLAKE3_C_DIR})
  set_target_properties(blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_compile_options(blake3 PRIVATE -O3)
elseif(BLAKE3_SYSTEM_LIB AND BLAKE3_SYSTEM_INCLUDE)
  message(STATUS "BLAKE3: system library ${BLAKE3_SYSTEM_LIB}")
  add_library(blake3 INTERFACE)
  target_link_libraries(blake3 INTERFACE ${BLAKE3_SYSTEM_LIB})
  target_include_directories(blake3 SYSTEM INTERFACE ${BLAKE3_SYSTEM_INCLUDE})
else()
  message(FATAL_ERROR "BLAKE3 not found: install librust-blake3-dev (scripts/setup.sh does)")
endif()
