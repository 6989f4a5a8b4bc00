# The same namespace checks over the kernel backend (ip6tnl / ip6gre devices).
# Skipped (exit 77) on kernels without those device types, naming the reason
# that kernel_tunnel_unavailable_reason() gives. tunnel_harness comes from
# tunnels.cmake.
add_test(NAME netns_kernel_tunnels
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_kernel_tunnels.sh $<TARGET_FILE:tunnel_harness>
          $<TARGET_FILE:mcast_proxy_harness>)
set_tests_properties(netns_kernel_tunnels PROPERTIES SKIP_RETURN_CODE 77 LABELS "netns;kernel-tunnels" TIMEOUT 300)
