target_sources(pmip_common_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/test_common_message_auth.cpp)
