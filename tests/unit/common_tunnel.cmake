# Tunnel manager, names, overhead and the userspace tunnel's per-packet
# functions (common/src/tunnel_packet.hpp, a private header): unit tests in
# pmip_common_tests, no root needed.
target_sources(pmip_common_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/test_common_tunnel.cpp)
target_include_directories(pmip_common_tests PRIVATE ${CMAKE_SOURCE_DIR}/common/src)
