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

# Live interop with OAI-PMIPv6-FM and UMIP pmip6d (issue 15), built from
# PMIP_PEERS_DIR (../shared/peers beside the checkout) into
# BUILD/interop-peers once (tests/interop/build_peers.sh), each direction with
# the real Linux kernel as the MN (tests/interop/test_peer_interop.sh):
#   interop_<peer>_mag  the peer as MAG, lmad as LMA
#   interop_<peer>_lma  magd as MAG, the peer as LMA
# Root and namespaces; SKIPPED (77) with the reason when the peers are absent.
set(PMIP_PEERS_DIR "${PROJECT_SOURCE_DIR}/../shared/peers" CACHE PATH
    "OAI/UMIP pmip6d sources and build patches for the interop tests")
foreach(peer oai umip)
  foreach(role mag lma)
    add_test(NAME interop_${peer}_${role}
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_peer_interop.sh ${CMAKE_BINARY_DIR}
                     ${PMIP_PEERS_DIR} ${peer} ${role})
    set_tests_properties(interop_${peer}_${role} PROPERTIES
                         LABELS "interop;netns" SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
endforeach()
