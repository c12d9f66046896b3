/* cmd_lag.c - placeholder until the command lands. */
#include <stdio.h>

#include "imislink.h"

static int
cmd_lag_exec(il_cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	fprintf(stderr, "imislink: lag: not implemented yet\n");
	return 1;
}

const il_cmd_entry il_cmd_lag_entry = {
	"lag", "lag ...", "", cmd_lag_exec,
};
