/*
 * test_err - the result codes and the reason formatter of common/err.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void
test_setf(void **state)
{
	char buf[8];

	(void)state;
	il_err_setf(buf, sizeof(buf), "%s \"%d\"", "id", 42);
	assert_string_equal(buf, "id \"42\"");
	/* cut to fit, always terminated */
	il_err_setf(buf, sizeof(buf), "could not open file \"%s\"", "x");
	assert_string_equal(buf, "could n");
	/* no room, or no buffer: nothing is written */
	memcpy(buf, "keep", 5);
	il_err_setf(buf, 0, "%s", "lost");
	assert_string_equal(buf, "keep");
	il_err_setf(NULL, 64, "%s", "lost");
}

static void
test_str(void **state)
{
	(void)state;
	assert_string_equal(il_err_str(IL_OK), "success");
	assert_string_equal(il_err_str(IL_ERR_DECODE_MAGIC), "wrong magic byte");
	assert_int_equal(IL_ERR_CLASS(IL_ERR_DECODE_MAGIC), IL_ERR_DECODE);
	assert_string_equal(il_err_str((il_err)0x7fff), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setf),
		cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
