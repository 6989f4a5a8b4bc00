# magd command lines without root (--help, --check messages, exit statuses);
# the example configuration in conf/ must pass --check.
add_test(NAME magd_cli
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/test_magd_cli.sh $<TARGET_FILE:magd> ${PROJECT_SOURCE_DIR}/conf)
set_tests_properties(magd_cli PROPERTIES LABELS cli TIMEOUT 60)
