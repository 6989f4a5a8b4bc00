# pmip-mh command-line checks (decode/encode, hex/pcap, exit statuses),
# included from tests/CMakeLists.txt. Needs bash and python3-scapy.
add_test(NAME pmip_mh_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_pmip_mh_cli.sh $<TARGET_FILE:pmip-mh>)
set_tests_properties(pmip_mh_cli PROPERTIES LABELS cli)
