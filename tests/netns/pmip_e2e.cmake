# magd + lmad end to end with the real Linux kernel as the mobile node, on the
# namespace testbed (tools/testbed/testbed.sh) of this build directory: SLAAC
# from magd's RAs, ping through both tunnels, handover by moving the MN's link
# from mag1 to mag2, detach, tshark on the wire, clean exit. Root,
# /dev/net/tun, tshark/dumpcap; skipped (exit 77) without them.
add_test(NAME netns_pmip_e2e
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_e2e.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_e2e PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same with magd's [binding] uplink-routing = rules (one rule per home
# network prefix, what kernels without IPv6 subtrees get) instead of the
# source routes auto picks on every kernel we run.
add_test(NAME netns_pmip_e2e_rules
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_e2e.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_e2e_rules PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240
  ENVIRONMENT "PMIP_TESTBED_UPLINK_ROUTING=rules")
# The same over ebpf tunnels (tc/eBPF encapsulation and decapsulation on
# the TUN devices, issue 20).
add_test(NAME netns_pmip_e2e_ebpf
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_e2e.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_e2e_ebpf PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=ebpf")
# The same with [tunnel] backend = auto, which must pick the kernel backend
# (ip6tnl devices) where the kernel has it: SKIPPED, naming the reason, where
# it has not; runs in the stock-kernel VM (tests/vm, vm_kernel_tunnels).
add_test(NAME netns_pmip_e2e_auto
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_e2e.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_e2e_auto PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;kernel-tunnels" TIMEOUT 600
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=auto;PMIP_TEST_NEEDS_KERNEL_TUNNELS=1")

# Authenticated signalling (issue 16): keys on both daemons, forged PBUs and
# BRI from scapy dropped or answered 146, a replayed PBU creates nothing, key
# rotation by reload; tshark decodes the authentication option.
add_test(NAME netns_pmip_auth
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_auth.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_auth PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)

# IPsec for the Mobility Header (RFC 5213 section 4) set up with strongSwan
# (testbed.sh up ... ipsec): signalling only inside ESP, a plaintext PBU with
# a MAG's address dropped by the LMA's kernel. SKIPPED here, naming why, on
# kernels without ESP; runs in the stock-kernel VM (tests/vm, vm_ipsec).
add_test(NAME netns_pmip_ipsec
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_ipsec.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_ipsec PROPERTIES SKIP_RETURN_CODE 77 LABELS "netns;ipsec" TIMEOUT 300)
# The testbed's link-delay stage (pmip-delay-link): round trips through it
# with the real kernel's ping, 1000 datagrams in order, its counters.
add_test(NAME netns_delay_link
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_delay_link.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_delay_link PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 120)
# RFC 8885 distributed mobility management: lmad as the CMD, three magd as
# MAARs, the kernel MN moving across them with a UDP stream on its first
# prefix (tests/netns/test_pmip_dmm.sh).
add_test(NAME netns_pmip_dmm
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_dmm.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_dmm PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
# The same with kernel ip6ip6 tunnels between the MAARs (and lmad - mag4):
# skipped where the kernel has no ip6tnl; runs in the stock-kernel VM
# (tests/vm, vm_kernel_tunnels).
add_test(NAME netns_pmip_dmm_kernel
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_dmm.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_dmm_kernel PROPERTIES SKIP_RETURN_CODE 77
  LABELS "netns;kernel-tunnels" TIMEOUT 400
  ENVIRONMENT "PMIP_TESTBED_TUNNELS=kernel;PMIP_TEST_NEEDS_KERNEL_TUNNELS=1")
# An MN's interface moving between two access links of one MAG, make before
# break (the old link keeps its carrier): one binding kept, no de-registration,
# the path through the new link (tests/netns/test_pmip_intra_mag.sh).
add_test(NAME netns_pmip_intra_mag
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_intra_mag.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_intra_mag PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 180)

# RFC 8885 MAAR: the MN's interface moving between two access links of the
# same MAAR keeps its session, prefixes and tunnels
# (tests/netns/test_pmip_intra_maar.sh).
add_test(NAME netns_pmip_intra_maar
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_intra_maar.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_intra_maar PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 180)
