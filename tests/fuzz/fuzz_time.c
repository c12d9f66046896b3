/*
 * fuzz_time - libFuzzer program; the target itself is
 * fuzz_time_one() in targets.h, which tests/unit/test_fuzz_corpus.c replays.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_time_one)
