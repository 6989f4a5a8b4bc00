# MLD proxy (KernelProxy) in network namespaces (root): listeners behind a
# proxy namespace receive streams from a source upstream (ASM and SSM), two
# instances with their own MRT6 tables stay isolated, a downstream added at
# run time receives after its General Query, a leave stops forwarding, the
# Linux bridge's MLD querier upstream sees and refreshes our membership, and
# tshark decodes every MLD message on the proxy's links.
add_executable(mcast_proxy_harness ${CMAKE_CURRENT_LIST_DIR}/mcast_proxy_harness.cpp)
target_link_libraries(mcast_proxy_harness PRIVATE pmip_mcast)

# netns_mcast: the ebpf forwarding backend (tc programs, no ip6mr needed);
# netns_mcast_ip6mr: the same with the kernel backend (ip6mr; SKIPPED with
# the reason on kernels without it, run in the stock-kernel VM).
add_test(NAME netns_mcast
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_mcast.sh $<TARGET_FILE:mcast_proxy_harness> ebpf)
set_tests_properties(netns_mcast PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
add_test(NAME netns_mcast_ip6mr
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_mcast.sh $<TARGET_FILE:mcast_proxy_harness> kernel)
set_tests_properties(netns_mcast_ip6mr PROPERTIES SKIP_RETURN_CODE 77 LABELS "netns;ip6mr" TIMEOUT 240)

# netns_mcast_scale: lmad + magd with the ebpf backend, one magd instance
# with 200 MN links (past ip6mr's 31 MIFs) of which 150 listen: every
# listener gets every datagram, the others none, no duplicates; leaves stop
# their copies; then lmad with 100 more MAG tunnels (scapy MAGs), all
# receiving. SKIPPED where the ebpf program cannot load.
add_test(NAME netns_mcast_scale
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_mcast_scale.sh ${CMAKE_BINARY_DIR} 200 150 100)
# RUN_SERIAL: 200 listeners must each get every datagram; beside another
# namespace test (ctest -j2) 5 of them once missed some (session 14).
set_tests_properties(netns_mcast_scale PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 300
  RUN_SERIAL TRUE)
