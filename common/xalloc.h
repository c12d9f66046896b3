/*
 * xalloc.h - allocation that cannot fail.
 *
 * Every imislink allocation goes through these.  Running out of memory is not
 * a condition a daemon can recover from sensibly, so they abort with a message
 * naming the size, as tmux's xmalloc does.  The caller owns what they return.
 */
#ifndef IL_XALLOC_H
#define IL_XALLOC_H

#include <stddef.h>

void *il_xmalloc(size_t size);
void *il_xcalloc(size_t nmemb, size_t size);
void *il_xrealloc(void *ptr, size_t size);
char *il_xstrdup(const char *s);
char *il_xstrndup(const char *s, size_t n);
/** @returns a newly allocated formatted string; caller frees. */
char *il_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
