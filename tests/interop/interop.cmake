# Interop checks against independent decoders/builders (DESIGN.md section 7
# item 4), included from tests/CMakeLists.txt:
#   interop_tshark  pmip-mh encode -> tshark -T json, field by field
#   interop_scapy   scapy-built messages -> pmip-mh decode (hex and pcap),
#                   and pmip-mh encode == scapy's octets
# Needs tshark and python3-scapy (tools/setup.sh installs both).
#
# python3-scapy is a Debian package: prefer Debian's /usr/bin/python3 over a
# pyenv/venv python3 that is earlier on PATH (test_scapy.py also falls back to
# Debian's dist-packages itself).
find_program(PMIP_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(PMIP_PYTHON3 NAMES python3)

add_test(NAME interop_tshark
         COMMAND ${PMIP_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_tshark.py $<TARGET_FILE:pmip-mh>)
add_test(NAME interop_scapy
         COMMAND ${PMIP_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_scapy.py $<TARGET_FILE:pmip-mh>)
set_tests_properties(interop_tshark interop_scapy PROPERTIES LABELS interop TIMEOUT 120)
