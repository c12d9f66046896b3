/* cmd_replay.c - placeholder until the command lands. */
#include <stdio.h>

#include "imislink.h"

static int
cmd_replay_exec(il_cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	fprintf(stderr, "imislink: replay: not implemented yet\n");
	return 1;
}

const il_cmd_entry il_cmd_replay_entry = {
	"replay", "replay ...", "", cmd_replay_exec,
};
