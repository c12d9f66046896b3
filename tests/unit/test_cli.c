/*
 * test_cli - the start-up helpers of common/cli.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "log.h"

static void
test_parse_int(void **state)
{
	static const char *const bad[] = {
		"", " 5", "+5", "5 ", "5x", "0x10", "-", "--5", "1e3", "9223372036854775808",
	};
	long long v;
	size_t i;

	(void)state;
	assert_true(il_cli_parse_int("0", 0, 10, &v));
	assert_int_equal(v, 0);
	assert_true(il_cli_parse_int("-42", -100, 100, &v));
	assert_int_equal(v, -42);
	assert_true(il_cli_parse_int("9223372036854775807", 0, INT64_MAX, &v));
	assert_int_equal(v, INT64_MAX);
	assert_true(il_cli_parse_int("007", 1, 10, &v));
	assert_int_equal(v, 7);
	v = 99;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_cli_parse_int(bad[i], INT64_MIN, INT64_MAX, &v))
			fail_msg("\"%s\" accepted", bad[i]);
	}
	/* the range is inclusive, and out of it nothing is written */
	assert_true(il_cli_parse_int("16", 1, 16, &v));
	assert_false(il_cli_parse_int("17", 1, 16, &v));
	assert_false(il_cli_parse_int("0", 1, 16, &v));
	assert_false(il_cli_parse_int(NULL, 1, 16, &v));
	assert_int_equal(v, 16);
}

/* il_cli_fatal() ends the process with status 1 and one JSON error line. */
static void
test_fatal(void **state)
{
	char line[512] = "";
	FILE *tmp = tmpfile();
	int status = 0;
	pid_t pid;

	(void)state;
	assert_non_null(tmp);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		il_log_init("clitest", IL_LOG_INFO, tmp);
		il_cli_fatal("could not open file \"%s\": %s", "/x", "No such file or directory");
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	rewind(tmp);
	assert_non_null(fgets(line, sizeof(line), tmp));
	assert_non_null(strstr(line, "\"level\":\"error\""));
	assert_non_null(strstr(line, "\"program\":\"clitest\""));
	assert_non_null(strstr(line,
	    "\"msg\":\"could not open file \\\"/x\\\": No such file or directory\""));
	fclose(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_fatal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
