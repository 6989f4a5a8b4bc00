# Routes, rules and links (common/: route_manager.hpp, link_monitor.hpp):
# unit tests of the fakes, included from tests/CMakeLists.txt into
# pmip_common_tests. The kernel side is tested in tests/netns/netlink.cmake.
target_sources(pmip_common_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/test_common_netlink_fakes.cpp)
