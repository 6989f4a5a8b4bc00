# The link-layer sender (common/link_layer_frame.hpp, link_layer_sender.hpp):
# byte-exact packets, checksums and the per-link path choice in
# pmip_common_tests (no root needed); and, labelled cli, the cross-check of
# the same packets against scapy (skipped, exit 77, without python3-scapy).
target_sources(pmip_common_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/test_common_link_layer.cpp)

add_executable(link_layer_frame_dump ${CMAKE_SOURCE_DIR}/tests/cli/link_layer_frame_dump.cpp)
target_link_libraries(link_layer_frame_dump PRIVATE pmip_common pmip_mag pmip_mcast)
find_program(PMIP_LINK_LAYER_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(PMIP_LINK_LAYER_PYTHON3 NAMES python3)
add_test(NAME link_layer_scapy
         COMMAND ${PMIP_LINK_LAYER_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/cli/test_link_layer_scapy.py
                 $<TARGET_FILE:link_layer_frame_dump>)
set_tests_properties(link_layer_scapy PROPERTIES LABELS cli SKIP_RETURN_CODE 77 TIMEOUT 60)
