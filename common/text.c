/*
 * text.c - checking text from outside and naming what it holds.
 */
#include <ctype.h>
#include "text.h"

#include <stdint.h>

bool
il_text_utf8_valid(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp, min;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			goto invalid;
		}
		if (len - i <= n)
			goto invalid;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto invalid;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms could smuggle a '/' or a NUL past a check on
		 * the bytes; surrogates and code points past Unicode are no
		 * characters at all. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto invalid;
		i += n + 1;
	}
	return true;

invalid:
	if (bad != NULL)
		*bad = i;
	return false;
}

const char *
il_text_json_kind(const cJSON *j, bool bool_value)
{
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsBool(j) && bool_value)
		return cJSON_IsTrue(j) ? "true" : "false";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNumber(j) || cJSON_IsRaw(j))
		return "a number";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "an invalid value";
}

void
il_text_one_line(const char *msg, char *out, size_t outsz)
{
	size_t i, n = 0;
	bool space = false;

	if (outsz == 0)
		return;
	for (i = 0; msg != NULL && msg[i] != '\0' && n + 1 < outsz; i++) {
		if (isspace((unsigned char)msg[i])) {
			space = n > 0;
			continue;
		}
		if (space) {
			if (n + 2 >= outsz)
				break;
			out[n++] = ' ';
		}
		space = false;
		out[n++] = msg[i];
	}
	out[n] = '\0';
}

int
il_text_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
