# magd + lmad end to end with the real Linux kernel as the mobile node, on the
# namespace testbed (tools/testbed/testbed.sh) of this build directory: SLAAC
# from magd's RAs, ping through both tunnels, handover by moving the MN's link
# from mag1 to mag2, detach, tshark on the wire, clean exit. Root,
# /dev/net/tun, tshark/dumpcap; skipped (exit 77) without them.
add_test(NAME netns_pmip_e2e
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_e2e.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_e2e PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)
