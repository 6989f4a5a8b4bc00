# Multicast over PMIPv6 (RFC 6224) on the namespace testbed: join, data,
# handover with continued reception, leave; state checked through the
# daemons' JSON. Root and /dev/net/tun; skipped (exit 77) without them.
add_test(NAME netns_pmip_multicast
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same over ebpf tunnels (tc/eBPF encapsulation on the TUN devices,
# issue 20) with ebpf multicast forwarding: lmad's copies into the tunnels
# and the MAGs' decapsulated streams go through both programs.
add_test(NAME netns_pmip_multicast_ebpf_tunnels
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast_ebpf_tunnels PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=ebpf")
# The same with what an operator on Debian's stock kernel runs: kernel tunnel
# devices (ip6tnl) and ip6mr forwarding. SKIPPED, naming the reason, on
# kernels without them; runs in the stock-kernel VM (tests/vm, vm_multicast).
add_test(NAME netns_pmip_multicast_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast_kernel PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;ip6mr;kernel-tunnels" TIMEOUT 600
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=kernel;PMIP_TESTBED_FORWARDING=kernel")

# Two MNs of different LMAs on one MAG: isolated proxy instances, each MN gets
# only its own LMA's stream of the same group.
add_test(NAME netns_pmip_multicast_isolation
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast_isolation.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast_isolation PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 180)

# RFC 7161 multicast context transfer with the MN's reports held back (issue 17).
add_test(NAME netns_pmip_sial
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_sial.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_sial PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same over dynamic M-Tunnels: lmad's context for the new MAG waits for
# its M-Tunnel, made after the PBA (contexts_applied counts it).
add_test(NAME netns_pmip_sial_m_tunnel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_sial.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_sial_m_tunnel PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240
  ENVIRONMENT "PMIP_TESTBED_M_TUNNEL=dynamic")

# Network-initiated multicast from the MN's policy profile (issues 17, 18).
add_test(NAME netns_pmip_profile_multicast
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_profile_multicast.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_profile_multicast PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)

# One MLD proxy instance per upstream tunnel: MNs with GRE-keyed tunnels of their own.
add_test(NAME netns_pmip_multicast_gre_keys
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast_gre_keys.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast_gre_keys PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)

# draft-asaeda PBU-M: the new MAG's PBU asks lmad for the profile's channel
# while its MLD Reports towards lmad are dropped (issue 17).
add_test(NAME netns_pmip_lma_profile
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_lma_profile.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_lma_profile PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
add_test(NAME netns_pmip_pbu_m
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_pbu_m.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_pbu_m PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)

# draft-asaeda Figure 6: the previous MAG's context straight to the new MAG,
# with an LMA that does no SIAL (issue 17).
add_test(NAME netns_pmip_context_peers
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_context_peers.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_context_peers PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)

# The tunnel and the proxy instance made while the first PBU is out (issue 17).
add_test(NAME netns_pmip_prepared_tunnel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_prepared_tunnel.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_prepared_tunnel PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same with kernel tunnels (ip6tnl made down, brought up by netlink):
# skipped where the kernel has no ip6tnl; runs in the stock-kernel VM
# (tests/vm, vm_kernel_tunnels).
add_test(NAME netns_pmip_prepared_tunnel_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_prepared_tunnel.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_prepared_tunnel_kernel PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;kernel-tunnels" TIMEOUT 240
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=kernel;PMIP_TEST_NEEDS_KERNEL_TUNNELS=1")
foreach(mode dynamic static)
  add_test(NAME netns_pmip_m_tunnel_${mode}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_m_tunnel.sh ${CMAKE_BINARY_DIR} ${mode})
  set_tests_properties(netns_pmip_m_tunnel_${mode} PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
endforeach()
# The M-Tunnel on kernel devices (ip6gre with key 0xffffffff beside keyed
# ip6gre unicast tunnels) and ip6mr: run in the stock-kernel VM (vm_multicast).
add_test(NAME netns_pmip_m_tunnel_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_m_tunnel.sh ${CMAKE_BINARY_DIR} dynamic)
set_tests_properties(netns_pmip_m_tunnel_kernel PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;ip6mr;kernel-tunnels" TIMEOUT 600
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=kernel;PMIP_TESTBED_FORWARDING=kernel")
add_test(NAME netns_pmip_direct
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_direct.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_direct PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same on kernel devices and ip6mr: the direct upstream's own MIF and
# ip6mr rule in each instance's table; run in the stock-kernel VM (vm_multicast).
add_test(NAME netns_pmip_direct_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_direct.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_direct_kernel PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;ip6mr;kernel-tunnels" TIMEOUT 600
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=kernel;PMIP_TESTBED_FORWARDING=kernel")
add_test(NAME netns_pmip_listener
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_listener.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_listener PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
foreach(matching first all)
  add_test(NAME netns_pmip_lma_upstreams_${matching}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_lma_upstreams.sh ${CMAKE_BINARY_DIR} ${matching})
  set_tests_properties(netns_pmip_lma_upstreams_${matching} PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
endforeach()
# RFC 7287 peering between the MAGs' proxies (magd [multicast] peering).
add_test(NAME netns_pmip_peering
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_peering.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_peering PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same on kernel devices and ip6mr (no (*,G) entries: a source's entry
# takes the interface its first packet arrives on; the peering's copies are
# taken over by the wrong-interface check): run in the stock-kernel VM
# (vm_multicast).
add_test(NAME netns_pmip_peering_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_peering.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_peering_kernel PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;ip6mr;kernel-tunnels" TIMEOUT 600
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=kernel;PMIP_TESTBED_FORWARDING=kernel")
# magd's mode per LMA ([multicast] lma-mode): two LMAs at mag1, one listener.
add_test(NAME netns_pmip_lma_modes
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_lma_modes.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_lma_modes PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
