# netns_netlink: NetlinkRouteManager and NetlinkLinkMonitor against the real
# kernel, every test case in a fresh private network namespace. Needs root;
# exits 77 (reported as skipped) where namespaces cannot be created.
add_executable(netns_netlink_tests
  ${CMAKE_CURRENT_LIST_DIR}/netns_netlink_main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_netns_netlink.cpp)
target_link_libraries(netns_netlink_tests PRIVATE pmip_common pmip_mcast PkgConfig::LIBBPF Catch2::Catch2)
add_test(NAME netns_netlink COMMAND netns_netlink_tests "~[ip6mr]" --warn NoTests)
set_tests_properties(netns_netlink PROPERTIES SKIP_RETURN_CODE 77 LABELS netns)
# The ip6mr rule cases: SKIPPED (with the reason) on kernels without IPv6
# multicast routing; they run in the stock-kernel VM.
add_test(NAME netns_netlink_ip6mr COMMAND netns_netlink_tests "[ip6mr]" --warn NoTests)
set_tests_properties(netns_netlink_ip6mr PROPERTIES SKIP_RETURN_CODE 77 LABELS "netns;ip6mr"
  ENVIRONMENT PMIP_TEST_NEEDS_IP6MR=1)

# netns_ebpf: the ebpf forwarding program's per-packet rules, judged by the
# kernel (BPF_PROG_TEST_RUN on crafted packets) in private namespaces;
# SKIPPED with the reason where the program cannot load.
add_executable(netns_ebpf_tests
  ${CMAKE_CURRENT_LIST_DIR}/netns_netlink_main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_ebpf_forwarding.cpp)
target_link_libraries(netns_ebpf_tests PRIVATE pmip_common pmip_mcast PkgConfig::LIBBPF Catch2::Catch2)
add_test(NAME netns_ebpf COMMAND netns_ebpf_tests "~[hold]")
set_tests_properties(netns_ebpf PROPERTIES SKIP_RETURN_CODE 77 LABELS "netns;ebpf"
  ENVIRONMENT PMIP_TEST_NEEDS_EBPF=1)
# netns_ebpf_hold: the program's unresolved queue (packets without an entry
# held, sent when it is written); apart so that the stock-kernel VM runs it
# too (vm_multicast): it counts packets sent from the daemon's packet
# socket, not copies made inside BPF_PROG_TEST_RUN.
add_test(NAME netns_ebpf_hold COMMAND netns_ebpf_tests "[hold]")
set_tests_properties(netns_ebpf_hold PROPERTIES SKIP_RETURN_CODE 77 LABELS "netns;ebpf"
  ENVIRONMENT PMIP_TEST_NEEDS_EBPF=1)
