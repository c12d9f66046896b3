/*
 * state.h - the change producer's own state file (cdc.state.file): the
 * polling cursor, or the slot whose initial load finished.  A new state
 * replaces the old one atomically (a temporary file beside it, fsync,
 * rename, fsync of the directory), so a crash leaves one or the other, never
 * a mixture, and a state written is on disk before the caller acts on it.
 */
#ifndef IL_CDC_STATE_H
#define IL_CDC_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/**
 * @brief Replaces the file at @p path with the @p len bytes of @p text.
 * @returns IL_OK; IL_ERR_IO with the step, the file and the cause in
 * @p errbuf ("could not rename cdc.state.file \"x\": ...").
 */
il_err cdc_state_replace(const char *path, const char *text, size_t len, char *errbuf, size_t errsz);

/**
 * @brief Reads the file at @p path into @p out (appended); @p *found tells
 * whether there is one (a missing file is not an error).
 * @returns IL_OK; IL_ERR_CONFIG naming cdc.state.file when it exists but
 * cannot be read.
 */
il_err cdc_state_read(const char *path, il_buf *out, bool *found, char *errbuf, size_t errsz);

#endif
