/*
 * jwt.h - HS256 JSON Web Tokens (RFC 7519): header.payload.signature in
 * base64url without padding, with an "exp" claim in seconds since the epoch.
 *
 * What the DCI gateway issues at /oauth2/client/token and the openIMIS
 * emulator at its login; only HS256 is made or accepted, so a token naming
 * another algorithm ("none" included) is refused.
 */
#ifndef IL_JWT_H
#define IL_JWT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

/* Tokens longer than this are refused unread. */
#define IL_JWT_MAX 4096

/**
 * @brief Makes a token of the claims object @p claims (which should carry
 * "exp"), signed with the @p keylen bytes at @p key.
 * @returns a new string the caller frees, or NULL when @p claims is not an
 * object or cJSON runs out of memory.
 */
char *il_jwt_make(const void *key, size_t keylen, const cJSON *claims);

/**
 * @brief Checks @p token: its form, the HS256 header, the signature with the
 * @p keylen bytes at @p key, and "exp" after @p now_s.  On success the claims
 * go to @p claims (unless NULL; the caller frees them with cJSON_Delete()).
 * @returns IL_OK; IL_ERR_DECODE for a token that is not one of ours
 * (malformed, another algorithm, a wrong signature), IL_ERR_TIMEOUT for an
 * expired one (or one without "exp"); the reason in @p errbuf.
 */
il_err il_jwt_check(const void *key, size_t keylen, const char *token, long long now_s,
    cJSON **claims, char *errbuf, size_t errsz);

#endif
