# Tunnels in network namespaces (root): the userspace backend (TUN + raw
# sockets) carrying ip6ip6, GRE and keyed GRE between two namespaces, with
# routes, multicast routing (MRT6) and clean-up checks. Also builds
# tunnel_harness, which the kernel-backend test and the tunnel benchmark use.
add_executable(tunnel_harness ${CMAKE_CURRENT_LIST_DIR}/tunnel_harness.cpp)
target_link_libraries(tunnel_harness PRIVATE pmip_common)

add_test(NAME netns_tunnels
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_tunnels.sh $<TARGET_FILE:tunnel_harness>
          $<TARGET_FILE:mcast_proxy_harness>)
set_tests_properties(netns_tunnels PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 300)

# The same over the ebpf backend (tc/eBPF encapsulation and decapsulation on
# the userspace backend's TUN devices): also checks that the keyed-GRE flows
# were carried by the programs, not the userspace data plane.
add_test(NAME netns_tunnels_ebpf
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_tunnels.sh $<TARGET_FILE:tunnel_harness>
          $<TARGET_FILE:mcast_proxy_harness>)
set_tests_properties(netns_tunnels_ebpf PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 300
  ENVIRONMENT PMT_BACKEND=ebpf)

# ebpf tunnels made (or prepared and brought up) while the peer already sends
# into them: nothing reordered, nothing taken by the userspace data plane
# while the programs' entry is being written (session 28).
add_test(NAME netns_tunnel_setup_order
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_tunnel_setup_order.sh $<TARGET_FILE:tunnel_harness>)
set_tests_properties(netns_tunnel_setup_order PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 180)
