# Tests in Debian's stock kernel (6.1, linux-image-amd64) under QEMU, through
# tools/vm/pmip-vm: the production kernel paths this host's kernel may lack
# (ip6tnl/ip6gre tunnel devices, ip6mr multicast routing), and the ebpf
# forwarding backend on an older kernel. Each batch is one boot (~5 s) and
# runs its namespace tests one after the other inside, where a skip counts
# as a failure; timing bounds there are relaxed x4 (TCG: code runs 15-25x
# slower), so these tests check function, never timing. SKIPPED (77) with the
# reason where no VM can run. RUN_SERIAL: a TCG guest uses every host core,
# and the host's own timing-sensitive tests must not run beside it.
set(PMIP_VM_BATCH ${CMAKE_CURRENT_LIST_DIR}/run_batch.sh)

# The runner itself: exit status, streamed output, arguments and directory,
# guest writes kept from the host, timeout, SIGTERM and SIGKILL leave no
# QEMU process and no file behind.
add_test(NAME vm_runner COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_runner.sh)
set_tests_properties(vm_runner PROPERTIES SKIP_RETURN_CODE 77 LABELS vm RUN_SERIAL TRUE TIMEOUT 300)

# Kernel tunnel devices: ip6ip6, GRE, keyed GRE with ping, 1,000 datagrams,
# ip6mr and ebpf multicast through them, SIGTERM and SIGKILL + --cleanup;
# rtnetlink routes, links and ip6mr rules; magd + lmad end to end with
# [tunnel] backend = auto, which must pick kernel; RFC 8885 DMM (three MAARs,
# the CMD, a MAG beside them) on ip6tnl; the ebpf tunnel backend on Debian's
# kernel too (netns_tunnels_ebpf: its TCP flows carry GSO packets through the
# programs both ways, a route to the peer moves, RFC 6040 ECN, L3 underlays:
# TUN and WireGuard, which only this kernel has; netns_pmip_e2e_ebpf: magd and
# lmad over ebpf tunnels). Not netns_ebpf: on 6.1 a
# bpf_clone_redirect made inside BPF_PROG_TEST_RUN transmits nothing (3 of
# its cases count those copies), while real packets are cloned: netns_mcast
# (ebpf) passes there, in vm_multicast, and so does netns_ebpf_hold.
add_test(NAME vm_kernel_tunnels
  COMMAND bash ${PMIP_VM_BATCH} ${CMAKE_BINARY_DIR} 1200
          netns_kernel_tunnels netns_netlink netns_netlink_ip6mr netns_pmip_e2e_auto
          netns_pmip_prepared_tunnel_kernel netns_pmip_dmm_kernel netns_tunnels_ebpf
          netns_pmip_e2e_ebpf)
set_tests_properties(vm_kernel_tunnels PROPERTIES SKIP_RETURN_CODE 77 LABELS vm RUN_SERIAL TRUE TIMEOUT 1300)

# Multicast: the MLD proxy with the kernel (ip6mr) and the ebpf backend, and
# RFC 6224 end to end (join, receive, handover, detach, nothing left) with
# kernel tunnels + ip6mr, the configuration an operator on Debian runs, and
# the M-Tunnel on ip6gre beside keyed ip6gre unicast tunnels, proxy-direct
# and RFC 7287 peering with ip6mr tables.
add_test(NAME vm_multicast
  COMMAND bash ${PMIP_VM_BATCH} ${CMAKE_BINARY_DIR} 1200
          netns_mcast netns_ebpf_hold netns_mcast_ip6mr netns_pmip_multicast_kernel netns_pmip_m_tunnel_kernel
          netns_pmip_direct_kernel netns_pmip_peering_kernel)
set_tests_properties(vm_multicast PROPERTIES SKIP_RETURN_CODE 77 LABELS vm RUN_SERIAL TRUE TIMEOUT 1300)

# Live interop with OAI / UMIP pmip6d (tests/interop): there the peers' own
# ip6tnl tunnels exist, so besides signalling, SLAAC and de-registration the
# MN pings a correspondent behind the LMA through the peer's tunnel and ours,
# in both directions (peer MAG -> lmad, magd -> peer LMA).
add_test(NAME vm_interop
  COMMAND bash ${PMIP_VM_BATCH} ${CMAKE_BINARY_DIR} 1200
          interop_oai_mag interop_oai_lma interop_umip_mag interop_umip_lma)
set_tests_properties(vm_interop PROPERTIES SKIP_RETURN_CODE 77 LABELS vm RUN_SERIAL TRUE TIMEOUT 1300)

# IPsec (ESP, which this host's kernel lacks) for the Mobility Header between
# MAGs and LMA, keyed by strongSwan, with magd and lmad on the testbed.
add_test(NAME vm_ipsec
  COMMAND bash ${PMIP_VM_BATCH} ${CMAKE_BINARY_DIR} 1200 netns_pmip_ipsec)
set_tests_properties(vm_ipsec PROPERTIES SKIP_RETURN_CODE 77 LABELS vm RUN_SERIAL TRUE TIMEOUT 1300)
