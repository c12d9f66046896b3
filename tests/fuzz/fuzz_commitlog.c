/*
 * fuzz_commitlog - libFuzzer program over il_commitlog_decode(), the reader
 * of __consumer_offsets records (bytes from the broker, so untrusted).
 *
 * An input is split into a record's key and value:
 *	byte 0      flags: bit 0 set = a tombstone (value NULL), bit 1 set =
 *	            no key at all (key NULL)
 *	bytes 1-2   the key's length, big-endian (cut to what follows)
 *	then        the key, then the value (the rest)
 * An input shorter than three bytes is a key alone (a tombstone).  Key and
 * value are copied into buffers of their exact size, so ASan reports a read
 * past either end (in libFuzzer's single buffer a read past the key would
 * land in the value unnoticed).
 *
 * The target itself is fuzz_commitlog_one() in targets.h, which
 * tests/unit/test_fuzz_corpus.c replays.
 */
#include "targets.h"

FUZZ_MAIN(fuzz_commitlog_one)
