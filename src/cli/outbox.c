/* outbox.c - HOME/outbox: sealed mail waiting for the server (outbox.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <letterlock/msg.h>

#include "cli.h"
#include "outbox.h"

#define META_MAX 4096
#define ERROR_MAX 511
/* one copy's recipients: LL_MSG_MAX_RECIPIENTS lines of an address */
#define RCPT_FILE_MAX ((size_t)LL_MSG_MAX_RECIPIENTS * 330)
/* a sealed copy of a message of LL_MSG_MAX_SIZE: base64 twice over */
#define COPY_MAX (4 * (size_t)LL_MSG_MAX_SIZE)
#define NEW_PREFIX ".new-"
#define UNFINISHED_AGE 60 /* seconds */

static int oops(const char *what, const char *name)
{
	fprintf(stderr, "letterlock: outbox: %s%s%s: %s\n", what,
		name ? " " : "", name ? name : "", strerror(errno));
	return -1;
}

/* A new file NAME in directory DFD holding DATA, on disk when this
 * returns 0 (its directory entry once DFD is fsync'd). */
static int put_file(int dfd, const char *name, const char *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			0600);

	if (fd < 0)
		return oops("creating", name);
	if (cli_write_all(fd, data, len) < 0 || fsync(fd) != 0) {
		oops("writing", name);
		close(fd);
		return -1;
	}
	if (close(fd) != 0)
		return oops("writing", name);
	return 0;
}

/* File NAME of DFD into *out (malloc'd, NUL-terminated, *len bytes):
 * 0; -1 (errno set; EFBIG when larger than MAX). */
static int get_file(int dfd, const char *name, size_t max, char **out,
		    size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t n = 0;

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
	if (buf == NULL)
		goto fail;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r == 0 ? EIO : errno;
			goto fail;
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	n = (size_t)errno;
	free(buf);
	close(fd);
	errno = (int)n;
	return -1;
}

/* HOME/outbox, created (mode 0700) if MAKE; its fd, or -1 (errno). */
static int open_outbox(const char *home, int make)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/outbox", home) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT || !make)
		return fd;
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) { /* the new directory's own entry, on disk */
		fsync(fd);
		close(fd);
	}
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Remove the directory NAME of PARENT and the files in it, META
 * first (an entry without it is known to be remains). */
static int remove_tree(int parent, const char *name)
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

static void free_entry(struct outbox_entry *e)
{
	if (e == NULL)
		return;
	if (e->dirfd >= 0)
		close(e->dirfd);
	for (size_t i = 0; e->rcpts != NULL && i < e->ncopies; i++)
		ll_strv_free(&e->rcpts[i]);
	free(e->rcpts);
	free(e->sent);
	free(e->from);
	free(e);
}

void outbox_close(struct outbox_entry **pp)
{
	if (pp == NULL)
		return;
	free_entry(*pp);
	*pp = NULL;
}

static struct outbox_entry *new_entry(size_t ncopies)
{
	struct outbox_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->dirfd = -1;
	e->ncopies = ncopies;
	e->rcpts = calloc(ncopies + 1, sizeof(*e->rcpts));
	e->sent = calloc(ncopies + 1, 1);
	if (e->rcpts == NULL || e->sent == NULL) {
		free_entry(e);
		return NULL;
	}
	return e;
}

/* A copy of the N addresses V, NULL-terminated. */
static char **strv_copy(const char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof(*out));

	for (size_t i = 0; out != NULL && i < n; i++) {
		out[i] = strdup(v[i]);
		if (out[i] == NULL)
			ll_strv_free(&out);
	}
	return out;
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

static int make_id(char id[OUTBOX_ID_MAX])
{
	unsigned char r[5];
	time_t now = time(NULL);
	struct tm tm;
	size_t n;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	gmtime_r(&now, &tm);
	n = strftime(id, OUTBOX_ID_MAX, "%Y%m%dT%H%M%SZ-", &tm);
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(id + n + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Write the files of an entry into DFD (the new, locked directory). */
static int write_entry(int dfd, time_t queued, const char *from,
		       const struct outbox_copy *copies, size_t n)
{
	char name[32], meta[META_MAX];
	int rc = 0, len;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t total = 0, at = 0;
		char *list;

		for (size_t k = 0; k < copies[i].nrcpts; k++)
			total += strlen(copies[i].rcpts[k]) + 1;
		list = malloc(total + 1);
		if (list == NULL)
			return oops("queueing", NULL);
		for (size_t k = 0; k < copies[i].nrcpts; k++)
			at += (size_t)sprintf(list + at, "%s\n",
					      copies[i].rcpts[k]);
		snprintf(name, sizeof(name), "%zu.rcpt", i + 1);
		rc = put_file(dfd, name, list, total);
		free(list);
		snprintf(name, sizeof(name), "%zu.eml", i + 1);
		if (rc == 0)
			rc = put_file(dfd, name, copies[i].data, copies[i].len);
	}
	len = snprintf(meta, sizeof(meta), "queued %lld\nfrom %s\ncopies %zu\n",
		       (long long)queued, from, n);
	if (rc == 0 && (len < 0 || (size_t)len >= sizeof(meta))) {
		errno = ENAMETOOLONG;
		return oops("queueing", NULL);
	}
	if (rc == 0)
		rc = put_file(dfd, "meta", meta, (size_t)len);
	if (rc == 0 && fsync(dfd) != 0)
		rc = oops("queueing", NULL);
	return rc;
}

int outbox_add(struct outbox_entry **out, const char *home, const char *from,
	       const struct outbox_copy *copies, size_t n)
{
	struct outbox_entry *e = new_entry(n);
	char tmp[OUTBOX_ID_MAX + sizeof(NEW_PREFIX)];
	int obfd, rc = -1, tries = 0;

	*out = NULL;
	obfd = open_outbox(home, 1);
	if (e == NULL || obfd < 0) {
		rc = oops("opening", "HOME/outbox");
		goto out;
	}
	e->queued = time(NULL);
	e->from = strdup(from);
	for (size_t i = 0; e->from != NULL && i < n; i++) {
		e->rcpts[i] = strv_copy(copies[i].rcpts, copies[i].nrcpts);
		if (e->rcpts[i] == NULL)
			break;
	}
	if (e->from == NULL || (n > 0 && e->rcpts[n - 1] == NULL)) {
		errno = ENOMEM;
		rc = oops("queueing", NULL);
		goto out;
	}
	do {
		if (make_id(e->id) < 0) {
			rc = oops("queueing", NULL);
			goto out;
		}
		snprintf(tmp, sizeof(tmp), NEW_PREFIX "%s", e->id);
	} while (mkdirat(obfd, tmp, 0700) != 0 && errno == EEXIST &&
		 ++tries < 8);
	e->dirfd = openat(obfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->dirfd < 0 || flock(e->dirfd, LOCK_EX) != 0) {
		rc = oops("creating", tmp);
		goto out;
	}
	rc = write_entry(e->dirfd, e->queued, from, copies, n);
	if (rc == 0 &&
	    (renameat(obfd, tmp, obfd, e->id) != 0 || fsync(obfd) != 0))
		rc = oops("queueing", e->id);
	if (rc < 0) {
		remove_tree(obfd, tmp);
		goto out;
	}
	*out = e;
	e = NULL;
out:
	free_entry(e);
	if (obfd >= 0)
		close(obfd);
	return rc;
}

/* Fill E from the files of its directory. */
static int read_entry(struct outbox_entry *e)
{
	char *meta = NULL, *list = NULL, *err = NULL, name[32];
	long long queued;
	size_t len, n;
	int rc = -1, at = 0;

	if (get_file(e->dirfd, "meta", META_MAX, &meta, &len) < 0)
		return oops("reading", e->id);
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
	    n > LL_MSG_MAX_RECIPIENTS + 1)
		goto bad;
	e->ncopies = n;
	e->rcpts = calloc(n + 1, sizeof(*e->rcpts));
	e->sent = calloc(n + 1, 1);
	if (e->rcpts == NULL || e->sent == NULL)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%zu.rcpt", i + 1);
		if (get_file(e->dirfd, name, RCPT_FILE_MAX, &list, &len) < 0) {
			oops("reading", e->id);
			goto out;
		}
		e->rcpts[i] = split_lines(list);
		free(list);
		list = NULL;
		if (e->rcpts[i] == NULL || e->rcpts[i][0] == NULL)
			goto bad;
		snprintf(name, sizeof(name), "%zu.sent", i + 1);
		e->sent[i] = faccessat(e->dirfd, name, F_OK, 0) == 0;
	}
	if (get_file(e->dirfd, "error", ERROR_MAX, &err, &len) == 0)
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

int outbox_open(struct outbox_entry **out, const char *home, const char *id)
{
	struct outbox_entry *e = NULL;
	int obfd, rc;

	*out = NULL;
	if (strlen(id) >= OUTBOX_ID_MAX || strchr(id, '/') != NULL ||
	    id[0] == '.' || id[0] == '\0') {
		fprintf(stderr, "letterlock: outbox: no entry %s\n", id);
		return -1;
	}
	obfd = open_outbox(home, 0);
	if (obfd < 0)
		return errno == ENOENT ? 2 : oops("opening", "HOME/outbox");
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		close(obfd);
		return oops("opening", id);
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->dirfd = openat(obfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->dirfd < 0) {
		rc = errno == ENOENT ? 2 : oops("opening", id);
	} else if (flock(e->dirfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? 1 : oops("locking", id);
	} else if (faccessat(e->dirfd, "meta", F_OK, 0) != 0) {
		/* removed while we waited, or remains of a removal */
		rc = remove_tree(obfd, id) < 0 ? oops("removing", id) : 2;
	} else {
		rc = read_entry(e);
	}
	close(obfd);
	if (rc == 0) {
		*out = e;
		e = NULL;
	}
	free_entry(e);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A NEW_PREFIX directory nobody holds, untouched for a while: its
 * writer died before it was complete (nothing of it was sent).
 * Removed.  (A writer locks its directory just after making it.) */
static void drop_unfinished(int obfd, const char *name)
{
	int fd = openat(obfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && time(NULL) - st.st_mtime > UNFINISHED_AGE &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0)
		remove_tree(obfd, name);
	close(fd);
}

int outbox_ids(char ***ids, const char *home)
{
	size_t n = 0, cap = 16;
	char **v = calloc(cap + 1, sizeof(*v)), **nv;
	struct dirent *de;
	DIR *d = NULL;
	int obfd = open_outbox(home, 0);

	*ids = NULL;
	if (v == NULL || (obfd < 0 && errno != ENOENT)) {
		oops("reading", "HOME/outbox");
		goto fail;
	}
	if (obfd >= 0) {
		d = fdopendir(obfd);
		if (d == NULL) {
			oops("reading", "HOME/outbox");
			close(obfd);
			goto fail;
		}
	}
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, NEW_PREFIX, strlen(NEW_PREFIX)) == 0)
			drop_unfinished(dirfd(d), de->d_name);
		if (de->d_name[0] == '.' || strlen(de->d_name) >= OUTBOX_ID_MAX)
			continue;
		if (n == cap) {
			cap *= 2;
			nv = realloc(v, (cap + 1) * sizeof(*v));
			if (nv == NULL)
				goto nomem;
			v = nv;
		}
		v[n] = strdup(de->d_name);
		if (v[n] == NULL)
			goto nomem;
		v[++n] = NULL;
	}
	if (d != NULL)
		closedir(d);
	qsort(v, n, sizeof(*v), by_name);
	*ids = v;
	return 0;
nomem:
	errno = ENOMEM;
	oops("reading", "HOME/outbox");
	closedir(d);
fail:
	ll_strv_free(&v);
	return -1;
}

int outbox_load(const struct outbox_entry *e, size_t i, char **data,
		size_t *len)
{
	char name[32];

	snprintf(name, sizeof(name), "%zu.eml", i + 1);
	if (get_file(e->dirfd, name, COPY_MAX, data, len) < 0)
		return oops("reading", e->id);
	return 0;
}

int outbox_mark_sent(struct outbox_entry *e, size_t i)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "%zu.sent", i + 1);
	fd = openat(e->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fsync(fd) != 0 || close(fd) != 0 || fsync(e->dirfd) != 0)
		return oops("marking sent in", e->id);
	e->sent[i] = 1;
	return 0;
}

int outbox_set_error(struct outbox_entry *e, const char *text)
{
	size_t len = strnlen(text, ERROR_MAX);

	unlinkat(e->dirfd, "error.new", 0);
	if (put_file(e->dirfd, "error.new", text, len) < 0 ||
	    renameat(e->dirfd, "error.new", e->dirfd, "error") != 0)
		return oops("noting the failure in", e->id);
	snprintf(e->error, sizeof(e->error), "%.*s", (int)len, text);
	return 0;
}

int outbox_remove(struct outbox_entry **pp, const char *home)
{
	struct outbox_entry *e = *pp;
	int obfd, rc;

	obfd = open_outbox(home, 0);
	rc = obfd < 0 ? -1 : remove_tree(obfd, e->id);
	if (rc < 0)
		oops("removing", e->id);
	if (obfd >= 0)
		close(obfd);
	outbox_close(pp);
	return rc;
}
