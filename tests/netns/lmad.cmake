# The real lmad in network namespaces (root), answering PBUs that scapy
# builds: registration, handoff, de-registration after MinDelayBeforeBCEDelete,
# rejections, Binding Error / ICMPv6 reactions, heartbeats, policy reload,
# Binding Revocation (pmipctl revoke -> BRI on the wire, scapy-built BRA,
# retransmission and clean-up, global BRI), tshark decoding every PBA, BRI
# and BRA, clean shutdown and the restart counter. Needs
# python3-scapy (Debian's /usr/bin/python3), tshark/dumpcap and /dev/net/tun;
# skipped (exit 77) without them or without root.
add_test(NAME netns_lmad
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_lmad.sh $<TARGET_FILE:lmad> $<TARGET_FILE:pmipctl>)
set_tests_properties(netns_lmad PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 300)

# lmad / pmipctl command lines without root (--help, --check messages, exit
# statuses); the example configuration in conf/ must pass --check.
add_test(NAME lmad_cli
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/test_lmad_cli.sh $<TARGET_FILE:lmad> $<TARGET_FILE:pmipctl>
          ${PROJECT_SOURCE_DIR}/conf)
set_tests_properties(lmad_cli PROPERTIES LABELS cli TIMEOUT 60)

# Hostile input (issue 16): 20,000 forged PBUs in 2 s (random sources of the
# MAGs' /64, random MN identifiers, unsigned) and 2,000 forged from the MAG's
# own address, while the authorized MAG's signed registrations go on: no
# binding from a forged PBU, every signed PBU answered 0, lmad's RSS grows by
# less than 16 MiB. The benchmark (tools/bench/bench_lmad_flood.sh) with
# --check at a fifth of its default flood; the figures are in README.
add_test(NAME netns_lmad_flood
  COMMAND bash ${PROJECT_SOURCE_DIR}/tools/bench/bench_lmad_flood.sh ${CMAKE_BINARY_DIR} 20000 10000 --check)
set_tests_properties(netns_lmad_flood PROPERTIES SKIP_RETURN_CODE 77 LABELS netns TIMEOUT 180
  RUN_SERIAL TRUE)
