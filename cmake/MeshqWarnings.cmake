# Project-wide compiler flags: warnings (as errors by default) and optional sanitizers.
add_library(meshq_warnings INTERFACE)
target_compile_options(meshq_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(MESHQ_WERROR)
  target_compile_options(meshq_warnings INTERFACE -Werror)
endif()

if(MESHQ_SANITIZE)
  add_compile_options(-fsanitize=${MESHQ_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${MESHQ_SANITIZE})
  if(MESHQ_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # g++ 12 warns (-Wtsan) that TSan does not model Asio's atomic_thread_fence; with -Werror
    # that would fail every Asio user. The fences are not on paths TSan needs to see.
    add_compile_options(-Wno-tsan)
  endif()
endif()

# Use ccache when present: developers and CI rebuild the same sources in several build trees.
find_program(MESHQ_CCACHE ccache)
if(MESHQ_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MESHQ_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${MESHQ_CCACHE})
endif()
