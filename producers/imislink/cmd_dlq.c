/* cmd_dlq.c - placeholder until the command lands. */
#include <stdio.h>

#include "imislink.h"

static int
cmd_dlq_exec(il_cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	fprintf(stderr, "imislink: dlq: not implemented yet\n");
	return 1;
}

const il_cmd_entry il_cmd_dlq_entry = {
	"dlq", "dlq ...", "", cmd_dlq_exec,
};
