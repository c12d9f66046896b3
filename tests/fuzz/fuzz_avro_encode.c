/*
 * fuzz_avro_encode - libFuzzer program; the target itself is
 * fuzz_avro_encode_one() in targets.h, which tests/unit/test_fuzz_corpus.c replays.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_avro_encode_one)
