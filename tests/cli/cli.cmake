# pmip-mh command-line checks (decode/encode, hex/pcap, exit statuses),
# included from tests/CMakeLists.txt. Needs bash and python3-scapy.
add_test(NAME pmip_mh_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_mh_cli.sh $<TARGET_FILE:pmip-mh>)
set_tests_properties(pmip_mh_cli PROPERTIES LABELS cli)

# pmip-handover-meter on loopback: plain stream, interoperability with
# handover_meter_reference.py (the first, Python meter), a known pause measured as a gap, usage errors. ~10 s.
add_test(NAME handover_meter_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_handover_meter.sh
  $<TARGET_FILE:pmip-handover-meter> ${CMAKE_CURRENT_LIST_DIR}/handover_meter_reference.py)
# RUN_SERIAL: it measures 1000/s streams on loopback; parallel tests on 2 cores
# made its Python meter miss datagrams.
set_tests_properties(handover_meter_cli PROPERTIES LABELS cli TIMEOUT 60 RUN_SERIAL TRUE)

# The Wireshark Lua plugin tools/wireshark/pmip6-rfc8885.lua (RFC 8885 D flag,
# options 65-70) in tshark, on captures from pmip-mh and from scapy. Needs
# tshark built with Lua and python3-scapy; exits 77 (skipped) without a
# tshark with Lua. ~7 s.
add_test(NAME wireshark_rfc8885_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_wireshark_rfc8885.sh
  $<TARGET_FILE:pmip-mh> ${PROJECT_SOURCE_DIR}/tools/wireshark/pmip6-rfc8885.lua)
set_tests_properties(wireshark_rfc8885_cli PROPERTIES LABELS cli SKIP_RETURN_CODE 77 TIMEOUT 60)
