/*
 * outbox_dir.c - outbox entries of the earlier format, a directory
 * HOME/outbox/ID/ of files, as letterlock wrote them before an entry
 * was one file: read, marked, sent and removed, so that nothing queued
 * before an upgrade is lost (outbox_dir.h).  Nothing new is written in
 * this format.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "outbox.h"
#include "outbox_dir.h"

/* one copy's recipients: LL_MSG_MAX_RECIPIENTS lines of an address */
#define RCPT_FILE_MAX ((size_t)LL_MSG_MAX_RECIPIENTS * 330)

/* File NAME of DFD into *out (malloc'd, NUL-terminated, *len bytes):
 * 0; -1 (errno set; EFBIG when larger than MAX). */
static int get_file(int dfd, const char *name, size_t max, char **out,
		    size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	int saved;

	*out = NULL;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if ((size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || outbox_read_at(fd, buf, (size_t)st.st_size, 0) < 0)
		goto fail;
	close(fd);
	buf[st.st_size] = '\0';
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

int outbox_dir_remove(int parent, const char *name)
{
	int dfd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	if (unlinkat(dfd, "meta", 0) == 0)
		fsync(dfd);
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return -1;
	fsync(parent);
	return 0;
}

/* The lines of TEXT (an address each), NULL-terminated. */
static char **split_lines(char *text)
{
	size_t n = 0, k = 0;
	char **out, *save = NULL, *line;

	for (const char *p = text; *p != '\0'; p++)
		n += *p == '\n';
	out = calloc(n + 2, sizeof(*out));
	for (line = strtok_r(text, "\n", &save); out != NULL && line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		out[k] = strdup(line);
		if (out[k++] == NULL)
			ll_strv_free(&out);
	}
	return out;
}

/* Fill E from the files of its directory (e->fd). */
static int dir_read(struct outbox_entry *e)
{
	char *meta = NULL, *list = NULL, *err = NULL, name[32];
	long long queued;
	size_t len, n;
	int rc = -1, at = 0;

	if (get_file(e->fd, "meta", META_MAX, &meta, &len) < 0)
		return outbox_oops("reading", e->id);
	/* "queued N\nfrom ADDR\ncopies N\n" (ADDR may be empty) */
	if (sscanf(meta, "queued %lld%n", &queued, &at) != 1 ||
	    strncmp(meta + at, "\nfrom ", 6) != 0)
		goto bad;
	e->queued = (time_t)queued;
	at += 6;
	len = strcspn(meta + at, "\n");
	e->from = strndup(meta + at, len);
	if (e->from == NULL ||
	    sscanf(meta + at + len, "\ncopies %zu", &n) != 1 || n == 0 ||
	    n > COPIES_MAX)
		goto bad;
	e->ncopies = n;
	e->rcpts = calloc(n + 1, sizeof(*e->rcpts));
	e->sent = calloc(n + 1, 1);
	if (e->rcpts == NULL || e->sent == NULL)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%zu.rcpt", i + 1);
		if (get_file(e->fd, name, RCPT_FILE_MAX, &list, &len) < 0) {
			outbox_oops("reading", e->id);
			goto out;
		}
		e->rcpts[i] = split_lines(list);
		free(list);
		list = NULL;
		if (e->rcpts[i] == NULL || e->rcpts[i][0] == NULL)
			goto bad;
		snprintf(name, sizeof(name), "%zu.sent", i + 1);
		e->sent[i] = faccessat(e->fd, name, F_OK, 0) == 0;
	}
	if (get_file(e->fd, "error", ERROR_MAX, &err, &len) == 0)
		snprintf(e->error, sizeof(e->error), "%s", err);
	rc = 0;
	goto out;
bad:
	fprintf(stderr, "letterlock: outbox: %s: damaged entry\n", e->id);
out:
	free(meta);
	free(err);
	return rc;
}

int outbox_dir_open(struct outbox_entry *e, int obfd)
{
	e->is_dir = 1;
	e->fd = openat(obfd, e->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->fd < 0)
		return errno == ENOENT ? 2 : outbox_oops("opening", e->id);
	if (flock(e->fd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK ? 1 : outbox_oops("locking", e->id);
	if (faccessat(e->fd, "meta", F_OK, 0) != 0)
		/* removed while we waited, or remains of a removal */
		return outbox_dir_remove(obfd, e->id) < 0 ?
			       outbox_oops("removing", e->id) :
			       2;
	return dir_read(e);
}

int outbox_dir_mark_sent(struct outbox_entry *e, size_t i)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "%zu.sent", i + 1);
	fd = openat(e->fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fsync(fd) != 0 || close(fd) != 0 || fsync(e->fd) != 0)
		return outbox_oops("marking sent in", e->id);
	return 0;
}

int outbox_dir_set_error(struct outbox_entry *e, const char *text, size_t len)
{
	int fd;

	unlinkat(e->fd, "error.new", 0);
	fd = openat(e->fd, "error.new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0 || cli_write_all(fd, text, len) < 0 || close(fd) != 0 ||
	    renameat(e->fd, "error.new", e->fd, "error") != 0)
		return outbox_oops("noting the failure in", e->id);
	return 0;
}

void outbox_dir_forget(int idsfd, const char *id)
{
	char text[OUTBOX_ID_MAX];
	struct dirent *d;
	DIR *dir;
	int dup_fd = dup(idsfd);

	dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (dir == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		ssize_t n;
		int fd;

		if (d->d_name[0] == '.')
			continue;
		fd = openat(idsfd, d->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, text, sizeof(text));
		close(fd);
		if (n > 0 && (size_t)n == strlen(id) &&
		    memcmp(text, id, (size_t)n) == 0)
			unlinkat(idsfd, d->d_name, 0);
	}
	closedir(dir);
}

int outbox_dir_load(const struct outbox_entry *e, size_t i, char **data,
		    size_t *len)
{
	char name[32];

	snprintf(name, sizeof(name), "%zu.eml", i + 1);
	if (get_file(e->fd, name, COPY_MAX, data, len) < 0)
		return outbox_oops("reading", e->id);
	return 0;
}
