# Multicast over PMIPv6 (RFC 6224) on the namespace testbed: join, data,
# handover with continued reception, leave; state checked through the
# daemons' JSON. Root and /dev/net/tun; skipped (exit 77) without them.
add_test(NAME netns_pmip_multicast
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 240)

# Two MNs of different LMAs on one MAG: isolated proxy instances, each MN gets
# only its own LMA's stream of the same group.
add_test(NAME netns_pmip_multicast_isolation
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_multicast_isolation.sh ${CMAKE_BINARY_DIR})
set_tests_properties(netns_pmip_multicast_isolation PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 180)
