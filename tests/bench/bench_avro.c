/*
 * bench_avro - Avro encode and decode rates of EligibilityEvents on one core.
 *
 * Encodes the JSON form into the Avro body and decodes the body back into
 * the JSON form (including the pre-walk that checks untrusted bytes), in a
 * loop on one thread, for three events of tests/data/avro: the full one (every
 * optional field set, a household of two members: three registrants), the
 * typical one (every field of one registrant set) and the seed's individual.
 * Target: above 100 000 of each per second.  Each figure is the best of
 * five rounds, since a shared machine only ever slows a round down.
 *
 *	bench_avro [-n COUNT]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avro.h"
#include "bench.h"
#include "buf.h"
#include "cli.h"
#include "../unit/testutil.h"

static void
bench_event(const il_schema *s, const char *file, const char *label, long count)
{
	cJSON *j = il_test_avro_json(file), *out;
	char name[64], err[512];
	double t0, secs, best;
	il_buf body;
	int round;
	long i;

	il_buf_init(&body, 1 << 20);
	best = 0;
	for (round = 0; round < 5; round++) {
		t0 = bench_now();
		for (i = 0; i < count; i++) {
			il_buf_reset(&body);
			if (il_avro_encode_json(s, j, &body, err, sizeof(err)) != IL_OK) {
				fprintf(stderr, "encode failed: %s\n", err);
				exit(1);
			}
		}
		secs = bench_now() - t0;
		if (best == 0 || secs < best)
			best = secs;
	}
	snprintf(name, sizeof(name), "avro_encode_%s", label);
	bench_report(name, (double)count / best, "events/s", ">100000");

	best = 0;
	for (round = 0; round < 5; round++) {
		t0 = bench_now();
		for (i = 0; i < count; i++) {
			if (il_avro_decode_json(s, body.data, body.len, &out, err,
			    sizeof(err)) != IL_OK) {
				fprintf(stderr, "decode failed: %s\n", err);
				exit(1);
			}
			cJSON_Delete(out);
		}
		secs = bench_now() - t0;
		if (best == 0 || secs < best)
			best = secs;
	}
	snprintf(name, sizeof(name), "avro_decode_%s", label);
	bench_report(name, (double)count / best, "events/s", ">100000");
	snprintf(name, sizeof(name), "avro_body_bytes_%s", label);
	bench_report(name, (double)body.len, "bytes", "");
	il_buf_free(&body);
	cJSON_Delete(j);
}

int
main(int argc, char **argv)
{
	long long count = 50000;
	il_schema_set *set;
	int opt;

	bench_init(argc, argv);
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || !il_cli_parse_int(optarg, 1, LONG_MAX, &count)) {
			fprintf(stderr, "usage: %s [-n COUNT]\n", argv[0]);
			return 2;
		}
	}
	set = il_test_load_schemas(IL_SCHEMAS_DIR);
	bench_event(il_schema_set_latest(set, "EligibilityEvent"), "event-full.json", "full_event",
	    (long)count);
	bench_event(il_schema_set_latest(set, "EligibilityEvent"), "event-typical.json",
	    "typical_event", (long)count);
	bench_event(il_schema_set_latest(set, "EligibilityEvent"),
	    "event-seed-individual-66.json", "seed_individual", (long)count);
	il_schema_set_destroy(set);
	return 0;
}
