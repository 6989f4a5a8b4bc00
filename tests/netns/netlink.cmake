# netns_netlink: NetlinkRouteManager and NetlinkLinkMonitor against the real
# kernel, every test case in a fresh private network namespace. Needs root;
# exits 77 (reported as skipped) where namespaces cannot be created.
add_executable(netns_netlink_tests
  ${CMAKE_CURRENT_LIST_DIR}/netns_netlink_main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_netns_netlink.cpp)
target_link_libraries(netns_netlink_tests PRIVATE pmip_common Catch2::Catch2)
add_test(NAME netns_netlink COMMAND netns_netlink_tests)
set_tests_properties(netns_netlink PROPERTIES SKIP_RETURN_CODE 77 LABELS netns)
