/*
 * fuzz_schema - libFuzzer program; the target itself is
 * fuzz_schema_one() in targets.h, which tests/unit/test_fuzz_corpus.c replays.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_schema_one)

/*
 * avro-c 1.11.1 leaks on some schema texts it refuses (a named type defined
 * twice: "Cannot save fixed schema"), which only a broken registry could
 * serve and serde.c then remembers as unusable for a minute.  This target
 * looks for crashes, undefined behaviour and slowness in imislink's schema
 * compiler and body walker, so leaks of memory allocated inside avro-c are
 * not reported here; the other targets, on the tree's schemas, keep
 * reporting them.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libavro.so\n";
}
