# Unit tests of common/: TimerQueue, EventLoop, logging, control socket, heap.
# Included from tests/CMakeLists.txt into the pmip_common_tests target.
target_sources(pmip_common_tests PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/test_common_loop.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_common_log.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_common_control.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_common_heap.cpp
)
