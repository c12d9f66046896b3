/*
 * fuzz_event_openspp - libFuzzer program; the target itself is
 * fuzz_event_openspp_one() in targets.h, which tests/unit/test_fuzz_corpus.c replays.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_event_openspp_one)
