/*
 * jwt.c - the HS256 tokens of the emulator's login, as graphql_jwt makes
 * them: header.payload.signature, base64url without padding, with "exp".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "emu.h"
#include "xalloc.h"

/* Tokens longer than this are not ours. */
#define IL_EMU_JWT_MAX 4096

static const char il_emu_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends base64url of @p data (no padding) to @p out (room: 4n/3 + 4). */
static size_t
il_emu_b64url_encode(const unsigned char *data, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];

		out[o++] = il_emu_b64url[(v >> 18) & 63];
		out[o++] = il_emu_b64url[(v >> 12) & 63];
		out[o++] = il_emu_b64url[(v >> 6) & 63];
		out[o++] = il_emu_b64url[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)data[i] << 16;

		out[o++] = il_emu_b64url[(v >> 18) & 63];
		out[o++] = il_emu_b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;

		out[o++] = il_emu_b64url[(v >> 18) & 63];
		out[o++] = il_emu_b64url[(v >> 12) & 63];
		out[o++] = il_emu_b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int
il_emu_b64url_val(char c)
{
	const char *p = c != '\0' ? strchr(il_emu_b64url, c) : NULL;

	return p != NULL ? (int)(p - il_emu_b64url) : -1;
}

/* Decodes @p n chars of base64url into @p out; @returns bytes or -1. */
static long
il_emu_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	unsigned v = 0;
	int bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int x = il_emu_b64url_val(in[i]);

		if (x < 0)
			return -1;
		v = (v << 6) | (unsigned)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)((v >> bits) & 0xff);
		}
	}
	return (long)o;
}

static void
il_emu_jwt_sign(const unsigned char key[32], const char *data, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	HMAC(EVP_sha256(), key, 32, (const unsigned char *)data, len, mac, &maclen);
	il_emu_b64url_encode(mac, maclen, out);
}

char *
il_emu_jwt_make(const unsigned char key[32], const char *user, long long exp)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char payload[512], *token;
	size_t plen, n;

	plen = (size_t)snprintf(payload, sizeof(payload),
	    "{\"username\":\"%.128s\",\"exp\":%lld,\"origIat\":%lld}", user, exp, (long long)time(NULL));
	if (plen >= sizeof(payload))
		plen = sizeof(payload) - 1;
	token = il_xmalloc((sizeof(header) + plen) * 2 + 128);
	n = il_emu_b64url_encode((const unsigned char *)header, sizeof(header) - 1, token);
	token[n++] = '.';
	n += il_emu_b64url_encode((const unsigned char *)payload, plen, token + n);
	token[n] = '.';
	il_emu_jwt_sign(key, token, n, token + n + 1);
	return token;
}

bool
il_emu_jwt_check(const unsigned char key[32], const char *token, long long now)
{
	char sig[128];
	unsigned char payload[IL_EMU_JWT_MAX];
	const char *dot1, *dot2;
	cJSON *claims = NULL;
	const cJSON *exp;
	long plen;
	bool ok = false;

	if (strlen(token) > IL_EMU_JWT_MAX)
		return false;
	dot1 = strchr(token, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strlen(dot2 + 1) >= sizeof(sig))
		return false;
	il_emu_jwt_sign(key, token, (size_t)(dot2 - token), sig);
	if (strlen(sig) != strlen(dot2 + 1) || CRYPTO_memcmp(sig, dot2 + 1, strlen(sig)) != 0)
		return false;
	plen = il_emu_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof(payload));
	if (plen < 0)
		return false;
	claims = cJSON_ParseWithLength((const char *)payload, (size_t)plen);
	exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
	ok = cJSON_IsNumber(exp) && exp->valuedouble > (double)now;
	cJSON_Delete(claims);
	return ok;
}
