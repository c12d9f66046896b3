#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
il_xalloc_die(size_t size)
{
	fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory allocating %zu bytes\"}\n", size);
	abort();
}

void *
il_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		il_xalloc_die(size);
	return p;
}

void *
il_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		il_xalloc_die(nmemb * size);
	return p;
}

void *
il_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		il_xalloc_die(size);
	return p;
}

char *
il_xstrdup(const char *s)
{
	return il_xstrndup(s, strlen(s));
}

char *
il_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = il_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
il_xasprintf(const char *fmt, ...)
{
	va_list ap;
	int len;
	char *p;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		il_xalloc_die(0);
	p = il_xmalloc((size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return p;
}
