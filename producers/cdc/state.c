/*
 * state.c - the change producer's state file, replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "xalloc.h"

static il_err
write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return IL_ERR_IO;
		data += n;
		len -= (size_t)n;
	}
	return IL_OK;
}

/* fsync of the directory holding @p path, so that a rename in it is durable. */
static int
sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc;

	if (slash == NULL)
		dir = il_xstrdup(".");
	else if (slash == path)
		dir = il_xstrdup("/");
	else
		dir = il_xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

il_err
cdc_state_replace(const char *path, const char *text, size_t len, char *errbuf, size_t errsz)
{
	size_t plen = strlen(path);
	char *tmp = il_xmalloc(plen + 5);
	const char *step = "create", *file = tmp;
	il_err err = IL_OK;
	int fd, rc;

	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	step = "write";
	if (write_all(fd, text, len) != IL_OK) {
		close(fd);
		goto fail_unlink;
	}
	step = "fsync";
	if (fsync(fd) != 0) {
		close(fd);
		goto fail_unlink;
	}
	step = "close";
	if (close(fd) != 0)
		goto fail_unlink;
	step = "rename";
	if (rename(tmp, path) != 0)
		goto fail_unlink;
	/* The rename is durable only once its directory is. */
	step = "fsync the directory of";
	file = path;
	if (sync_dir(path) != 0)
		goto fail;
	goto done;
fail_unlink:
	rc = errno;
	unlink(tmp);
	errno = rc;
fail:
	il_err_setf(errbuf, errsz, "could not %s cdc.state.file \"%s\": %s", step, file, strerror(errno));
	err = IL_ERR_IO;
done:
	free(tmp);
	return err;
}

il_err
cdc_state_read(const char *path, il_buf *out, bool *found, char *errbuf, size_t errsz)
{
	char why[512];

	*found = access(path, F_OK) == 0 || errno != ENOENT;
	if (!*found)
		return IL_OK;
	if (il_buf_read_file(out, path, why, sizeof(why)) != IL_OK) {
		il_err_setf(errbuf, errsz, "cdc.state.file: %s", why);
		return IL_ERR_CONFIG;
	}
	return IL_OK;
}
