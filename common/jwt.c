/*
 * jwt.c - HS256 tokens: base64url, HMAC-SHA256 and the "exp" claim.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"
#include "xalloc.h"

static const char il_jwt_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Writes base64url of @p data (no padding) to @p out (room: 4n/3 + 4). */
static size_t
il_jwt_b64_encode(const unsigned char *data, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
		out[o++] = il_jwt_b64url[(v >> 18) & 63];
		out[o++] = il_jwt_b64url[(v >> 12) & 63];
		out[o++] = il_jwt_b64url[(v >> 6) & 63];
		out[o++] = il_jwt_b64url[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)data[i] << 16;
		out[o++] = il_jwt_b64url[(v >> 18) & 63];
		out[o++] = il_jwt_b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
		out[o++] = il_jwt_b64url[(v >> 18) & 63];
		out[o++] = il_jwt_b64url[(v >> 12) & 63];
		out[o++] = il_jwt_b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

/* Decodes @p n chars of base64url into @p out; @returns bytes or -1. */
static long
il_jwt_b64_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	const char *p;
	unsigned v = 0;
	int bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		p = in[i] != '\0' ? strchr(il_jwt_b64url, in[i]) : NULL;
		if (p == NULL)
			return -1;
		v = (v << 6) | (unsigned)(p - il_jwt_b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)((v >> bits) & 0xff);
		}
	}
	/* A lone sixth of a byte cannot come from an encoder. */
	if (n % 4 == 1)
		return -1;
	return (long)o;
}

/* Writes base64url of HMAC-SHA256 of @p data to @p out (room: 48). */
static void
il_jwt_sign(const void *key, size_t keylen, const char *data, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac, &maclen);
	il_jwt_b64_encode(mac, maclen, out);
}

char *
il_jwt_make(const void *key, size_t keylen, const cJSON *claims)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *payload, *token;
	size_t plen, n;

	if (!cJSON_IsObject(claims))
		return NULL;
	payload = cJSON_PrintUnformatted(claims);
	if (payload == NULL)
		return NULL;
	plen = strlen(payload);
	token = il_xmalloc((sizeof(header) + plen) * 2 + 128);
	n = il_jwt_b64_encode((const unsigned char *)header, sizeof(header) - 1, token);
	token[n++] = '.';
	n += il_jwt_b64_encode((const unsigned char *)payload, plen, token + n);
	token[n] = '.';
	il_jwt_sign(key, keylen, token, n, token + n + 1);
	cJSON_free(payload);
	return token;
}

/* @returns the decoded JSON object of the @p n base64url chars at @p part, or NULL. */
static cJSON *
il_jwt_part(const char *part, size_t n)
{
	unsigned char text[IL_JWT_MAX];
	long len;
	cJSON *j;

	len = il_jwt_b64_decode(part, n, text, sizeof(text));
	if (len < 0)
		return NULL;
	j = cJSON_ParseWithLength((const char *)text, (size_t)len);
	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

il_err
il_jwt_check(const void *key, size_t keylen, const char *token, long long now_s,
    cJSON **claims, char *errbuf, size_t errsz)
{
	char sig[64];
	const char *dot1, *dot2;
	cJSON *header = NULL, *body = NULL;
	const cJSON *alg, *exp;
	size_t tlen;
	il_err err = IL_ERR_DECODE;

	if (claims != NULL)
		*claims = NULL;
	tlen = token != NULL ? strlen(token) : 0;
	if (tlen == 0 || tlen > IL_JWT_MAX) {
		snprintf(errbuf, errsz, "token: empty or longer than %d bytes", IL_JWT_MAX);
		return IL_ERR_DECODE;
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL || strlen(dot2 + 1) >= sizeof(sig)) {
		snprintf(errbuf, errsz, "token: not header.payload.signature");
		return IL_ERR_DECODE;
	}
	header = il_jwt_part(token, (size_t)(dot1 - token));
	alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
		snprintf(errbuf, errsz, "token: header is not that of an HS256 token");
		goto done;
	}
	il_jwt_sign(key, keylen, token, (size_t)(dot2 - token), sig);
	if (strlen(sig) != strlen(dot2 + 1) || CRYPTO_memcmp(sig, dot2 + 1, strlen(sig)) != 0) {
		snprintf(errbuf, errsz, "token: signature does not match");
		goto done;
	}
	body = il_jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (body == NULL) {
		snprintf(errbuf, errsz, "token: payload is not a JSON object");
		goto done;
	}
	exp = cJSON_GetObjectItemCaseSensitive(body, "exp");
	if (!cJSON_IsNumber(exp) || exp->valuedouble <= (double)now_s) {
		snprintf(errbuf, errsz, "token: expired or without \"exp\"");
		err = IL_ERR_TIMEOUT;
		goto done;
	}
	if (claims != NULL) {
		*claims = body;
		body = NULL;
	}
	err = IL_OK;

done:
	cJSON_Delete(header);
	cJSON_Delete(body);
	return err;
}
