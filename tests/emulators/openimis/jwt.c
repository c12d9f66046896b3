/*
 * jwt.c - the HS256 tokens of the emulator's login, as graphql_jwt makes
 * them: header.payload.signature, base64url without padding, with "exp"
 * (common/jwt.h does the encoding and checking).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "emu.h"
#include "jwt.h"

char *
il_emu_jwt_make(const unsigned char key[32], const char *user, long long exp)
{
	cJSON *claims = cJSON_CreateObject();
	char name[129];
	char *token;

	/* graphql_jwt's claims; the user name bounded as before. */
	snprintf(name, sizeof(name), "%s", user);
	cJSON_AddStringToObject(claims, "username", name);
	cJSON_AddNumberToObject(claims, "exp", (double)exp);
	cJSON_AddNumberToObject(claims, "origIat", (double)time(NULL));
	token = il_jwt_make(key, 32, claims);
	cJSON_Delete(claims);
	if (token == NULL) {
		/* Only cJSON running out of memory: as xalloc.h does. */
		fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory making a token\"}\n");
		abort();
	}
	return token;
}

bool
il_emu_jwt_check(const unsigned char key[32], const char *token, long long now)
{
	char errbuf[128];

	return il_jwt_check(key, 32, token, now, NULL, errbuf, sizeof(errbuf)) == IL_OK;
}
