/*
 * fuzz_conf_file - libFuzzer program; the target itself is
 * fuzz_conf_file_one() in targets.h, which tests/unit/test_fuzz_corpus.c replays.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_conf_file_one)
