/*
 * fuzz_pgoutput - libFuzzer program over the reader of PostgreSQL's logical
 * replication stream (common/pgoutput.c): il_pgoutput_parse_copydata(),
 * il_pgoutput_decode() and the relation cache, whose bytes come from the
 * database server (so untrusted).
 *
 * An input is a flags byte and CopyData frames (see fuzz_pgoutput_one() in
 * targets.h, which tests/unit/test_fuzz_corpus.c replays): what decodes must
 * encode again to the same bytes, point only into its input, and go through
 * the relation cache as it came.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_pgoutput_one)
