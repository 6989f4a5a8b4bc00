# JSON form of Mobility Header messages (mobility-header/json): unit tests,
# included from tests/CMakeLists.txt into the pmip_unit_tests target.
target_sources(pmip_unit_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/test_mh_json.cpp)
target_link_libraries(pmip_unit_tests PRIVATE pmip_mh_json)
