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
#include "outbox_dir.h"

#define NEW_PREFIX ".new-"
#define UNFINISHED_AGE 60 /* seconds */

/*
 * The file of an entry.  Its header, lines ending in \n:
 *
 *   letterlock-outbox 2 LLLLLLLLLL   the header's length, 10 digits
 *   sent FF...                       a flag per copy: - waiting, + done
 *   error TEXT                       ERROR_MAX bytes, padded with blanks
 *   id ID
 *   queued SECONDS
 *   from ADDRESS                     (may be empty)
 *   key KEY                          (may be empty)
 *   copies N
 *   copy LENGTH NRCPTS               for each copy, followed by its
 *   rcpt ADDRESS                     NRCPTS recipients
 *   (an empty line)
 *
 * and then the copies' bytes, one after the other.  The flags and the
 * failure have fixed places: they are written in place.
 */
#define MAGIC "letterlock-outbox 2 "
#define MAGIC_LINE (sizeof(MAGIC) - 1 + 10 + 1)
#define ADDR_MAX 1000
#define HEADER_MAX                                        \
	(META_MAX + ERROR_MAX + (size_t)COPIES_MAX * 48 + \
	 (size_t)LL_MSG_MAX_RECIPIENTS * (ADDR_MAX + 6))

int outbox_oops(const char *what, const char *name)
{
	fprintf(stderr, "letterlock: outbox: %s%s%s: %s\n", what,
		name ? " " : "", name ? name : "", strerror(errno));
	return -1;
}

/* PATH is HOME/SUB; 0, or -1 (errno) when it does not fit. */
static int sub_path(char path[4096], const char *home, const char *sub)
{
	if (snprintf(path, 4096, "%s/%s", home, sub) >= 4096) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* HOME/outbox, created (mode 0700) if MAKE; its fd, or -1 (errno). */
static int open_outbox(const char *home, int make)
{
	char path[4096];
	int fd;

	if (sub_path(path, home, "outbox") < 0)
		return -1;
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

/* HOME/ids (the resubmission keys); its fd, or -1 (errno). */
static int open_ids(const char *home)
{
	char path[4096];

	if (sub_path(path, home, "ids") < 0)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* LEN bytes at OFF of FD: written from W when W is not NULL, else read
 * into R.  0, or -1 (errno; EIO when the file ends before). */
static int io_at(int fd, char *r, const char *w, size_t len, off_t off)
{
	size_t n = 0;

	while (n < len) {
		ssize_t k = w != NULL ?
				    pwrite(fd, w + n, len - n, off + (off_t)n) :
				    pread(fd, r + n, len - n, off + (off_t)n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			errno = k == 0 ? EIO : errno;
			return -1;
		}
		n += (size_t)k;
	}
	return 0;
}

int outbox_read_at(int fd, char *buf, size_t len, off_t off)
{
	return io_at(fd, buf, NULL, len, off);
}

/* All of DATA (LEN bytes) to FD at OFF: 0, or -1 (errno). */
static int write_at(int fd, const char *data, size_t len, off_t off)
{
	return io_at(fd, NULL, data, len, off);
}

static void free_entry(struct outbox_entry *e)
{
	if (e == NULL)
		return;
	if (e->fd >= 0)
		close(e->fd);
	for (size_t i = 0; e->rcpts != NULL && i < e->ncopies; i++)
		ll_strv_free(&e->rcpts[i]);
	free(e->rcpts);
	free(e->sent);
	free(e->copy_at);
	free(e->copy_len);
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

/* An entry of NCOPIES copies, its arrays zeroed; NULL out of memory. */
static struct outbox_entry *new_entry(size_t ncopies)
{
	struct outbox_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->fd = -1;
	e->ncopies = ncopies;
	e->rcpts = calloc(ncopies + 1, sizeof(*e->rcpts));
	e->sent = calloc(ncopies + 1, 1);
	e->copy_at = calloc(ncopies + 1, sizeof(*e->copy_at));
	e->copy_len = calloc(ncopies + 1, sizeof(*e->copy_len));
	if (e->rcpts == NULL || e->sent == NULL || e->copy_at == NULL ||
	    e->copy_len == NULL) {
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

/* An ID or a KEY that names a file of its directory and nothing else. */
static int plain_name(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	return n > 0 && n < max && s[0] != '.' && strchr(s, '/') == NULL;
}

/* The failure TEXT as it is kept: at most ERROR_MAX printable bytes
 * into SLOT, padded with blanks to ERROR_MAX; its length. */
static size_t error_slot(char slot[ERROR_MAX], const char *text)
{
	size_t n = strnlen(text, ERROR_MAX);

	for (size_t i = 0; i < ERROR_MAX; i++)
		slot[i] = i >= n			? ' ' :
			  (unsigned char)text[i] < 0x20 ? ' ' :
							  text[i];
	return n;
}

/* ------------------------------------------------- the header, made */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->p == NULL || b->len + n > b->cap) {
		b->len = b->cap + 1; /* too small: said by the caller */
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_line(struct buf *b, const char *word, const char *value)
{
	put(b, word, strlen(word));
	put(b, " ", 1);
	put(b, value, strlen(value));
	put(b, "\n", 1);
}

/* The header of an entry (struct outbox_entry E, queued as COPIES) into
 * *out (malloc'd, *len bytes); E's offsets set.  -1 when it does not
 * fit (an address too long, too many) or out of memory. */
static int make_header(char **out, size_t *len, struct outbox_entry *e,
		       const struct outbox_copy *copies)
{
	struct buf b = { 0 };
	char num[64], slot[ERROR_MAX];
	off_t at;

	*out = NULL;
	if (strlen(e->from) > ADDR_MAX || e->ncopies == 0 ||
	    e->ncopies > COPIES_MAX)
		return -1;
	b.cap = 256 + ERROR_MAX + 2 * e->ncopies + strlen(e->from);
	for (size_t i = 0; i < e->ncopies; i++) {
		b.cap += 48;
		if (copies[i].nrcpts == 0 || copies[i].len > COPY_MAX)
			return -1;
		for (size_t k = 0; k < copies[i].nrcpts; k++) {
			if (strlen(copies[i].rcpts[k]) > ADDR_MAX)
				return -1;
			b.cap += strlen(copies[i].rcpts[k]) + 6;
		}
	}
	if (b.cap > HEADER_MAX)
		return -1;
	b.p = malloc(b.cap);
	/* the length goes in once it is known */
	put(&b, MAGIC "0000000000\nsent ", MAGIC_LINE + 5);
	e->sent_at = (off_t)b.len;
	for (size_t i = 0; i < e->ncopies; i++)
		put(&b, "-", 1);
	put(&b, "\nerror ", 7);
	e->error_at = (off_t)b.len;
	error_slot(slot, "");
	put(&b, slot, sizeof(slot));
	put(&b, "\n", 1);
	puts_line(&b, "id", e->id);
	snprintf(num, sizeof(num), "%lld", (long long)e->queued);
	puts_line(&b, "queued", num);
	puts_line(&b, "from", e->from);
	puts_line(&b, "key", e->key);
	snprintf(num, sizeof(num), "%zu", e->ncopies);
	puts_line(&b, "copies", num);
	for (size_t i = 0; i < e->ncopies; i++) {
		snprintf(num, sizeof(num), "%zu %zu", copies[i].len,
			 copies[i].nrcpts);
		puts_line(&b, "copy", num);
		for (size_t k = 0; k < copies[i].nrcpts; k++)
			puts_line(&b, "rcpt", copies[i].rcpts[k]);
	}
	put(&b, "\n", 1);
	if (b.len > b.cap) {
		free(b.p);
		return -1;
	}
	snprintf(num, sizeof(num), "%010zu", b.len);
	memcpy(b.p + sizeof(MAGIC) - 1, num, 10);
	e->header_len = (off_t)b.len;
	at = e->header_len;
	for (size_t i = 0; i < e->ncopies; i++) {
		e->copy_at[i] = at;
		e->copy_len[i] = copies[i].len;
		at += (off_t)copies[i].len;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ------------------------------------------------- the header, read */

struct cur {
	const char *base, *p, *end;
};

/* The next line of C, without its \n, into *s and *n: 0, or -1 when
 * there is none. */
static int next_line(struct cur *c, const char **s, size_t *n)
{
	const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));

	if (nl == NULL)
		return -1;
	*s = c->p;
	*n = (size_t)(nl - c->p);
	c->p = nl + 1;
	return 0;
}

/* The next line is WORD and a blank: its value into *v, *n (no NUL
 * inside); 0, or -1. */
static int field(struct cur *c, const char *word, const char **v, size_t *n)
{
	size_t wl = strlen(word);
	const char *s;
	size_t len;

	if (next_line(c, &s, &len) < 0 || len <= wl ||
	    memcmp(s, word, wl) != 0 || s[wl] != ' ' ||
	    memchr(s, '\0', len) != NULL)
		return -1;
	*v = s + wl + 1;
	*n = len - wl - 1;
	return 0;
}

/* Decimal digits S (N of them, 1 to 19) at most MAX into *v: 0, or -1. */
static int number(const char *s, size_t n, unsigned long long max,
		  unsigned long long *v)
{
	*v = 0;
	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (unsigned long long)(s[i] - '0');
	}
	return *v <= max ? 0 : -1;
}

/* A field whose value is a number at most MAX. */
static int field_number(struct cur *c, const char *word, unsigned long long max,
			unsigned long long *v)
{
	const char *s;
	size_t n;

	return field(c, word, &s, &n) < 0 ? -1 : number(s, n, max, v);
}

/* "copy LENGTH NRCPTS" */
static int copy_line(struct cur *c, unsigned long long *len,
		     unsigned long long *nrcpts)
{
	const char *s, *sp;
	size_t n;

	if (field(c, "copy", &s, &n) < 0)
		return -1;
	sp = memchr(s, ' ', n);
	if (sp == NULL)
		return -1;
	return number(s, (size_t)(sp - s), COPY_MAX, len) < 0 ||
			       number(sp + 1, n - (size_t)(sp - s) - 1,
				      LL_MSG_MAX_RECIPIENTS, nrcpts) < 0 ?
		       -1 :
		       0;
}

/* The header HDR (LEN bytes, as read_header gave it) into E: 0, or -1
 * when it is not one of ours. */
static int parse_header(struct outbox_entry *e, const char *hdr, size_t len)
{
	struct cur c = { hdr, hdr, hdr + len };
	unsigned long long v, clen, nr;
	const char *s, *flags;
	size_t n, nflags;
	off_t at = (off_t)len;

	if (len < MAGIC_LINE || memcmp(hdr, MAGIC, sizeof(MAGIC) - 1) != 0)
		return -1;
	c.p = hdr + MAGIC_LINE;
	if (field(&c, "sent", &flags, &nflags) < 0 || nflags > COPIES_MAX)
		return -1;
	e->sent_at = (off_t)(flags - hdr);
	if (field(&c, "error", &s, &n) < 0 || n != ERROR_MAX)
		return -1;
	e->error_at = (off_t)(s - hdr);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	snprintf(e->error, sizeof(e->error), "%.*s", (int)n, s);
	if (field(&c, "id", &s, &n) < 0 || n >= OUTBOX_ID_MAX)
		return -1;
	memcpy(e->id, s, n);
	e->id[n] = '\0';
	if (!plain_name(e->id, OUTBOX_ID_MAX) ||
	    field_number(&c, "queued", (1ull << 62), &v) < 0)
		return -1;
	e->queued = (time_t)v;
	/* an empty "from" is the null sender <> */
	if (field(&c, "from", &s, &n) < 0 || n > ADDR_MAX)
		return -1;
	e->from = strndup(s, n);
	if (e->from == NULL || field(&c, "key", &s, &n) < 0 ||
	    n >= OUTBOX_KEY_MAX)
		return -1;
	memcpy(e->key, s, n);
	e->key[n] = '\0';
	if (field_number(&c, "copies", COPIES_MAX, &v) < 0 || v == 0 ||
	    v != nflags)
		return -1;
	e->ncopies = (size_t)v;
	e->rcpts = calloc(v + 1, sizeof(*e->rcpts));
	e->sent = calloc(v + 1, 1);
	e->copy_at = calloc(v + 1, sizeof(*e->copy_at));
	e->copy_len = calloc(v + 1, sizeof(*e->copy_len));
	if (e->rcpts == NULL || e->sent == NULL || e->copy_at == NULL ||
	    e->copy_len == NULL)
		return -1;
	for (size_t i = 0; i < e->ncopies; i++) {
		if (flags[i] != '-' && flags[i] != '+')
			return -1;
		e->sent[i] = flags[i] == '+';
		if (copy_line(&c, &clen, &nr) < 0 || nr == 0)
			return -1;
		e->copy_at[i] = at;
		e->copy_len[i] = (size_t)clen;
		at += (off_t)clen;
		e->rcpts[i] = calloc(nr + 1, sizeof(char *));
		for (size_t k = 0; e->rcpts[i] != NULL && k < nr; k++) {
			if (field(&c, "rcpt", &s, &n) < 0)
				return -1;
			e->rcpts[i][k] = strndup(s, n);
			if (e->rcpts[i][k] == NULL)
				return -1;
		}
		if (e->rcpts[i] == NULL)
			return -1;
	}
	if (next_line(&c, &s, &n) < 0 || n != 0 || c.p != c.end)
		return -1;
	e->header_len = (off_t)len;
	return 0;
}

/* The header of the entry file FD into *out (malloc'd, *len bytes);
 * *size the file's size.  0, or -1 (errno; EBADMSG when it is not an
 * entry's). */
static int read_header(int fd, char **out, size_t *len, off_t *size)
{
	char first[MAGIC_LINE];
	unsigned long long hl;
	struct stat st;
	char *buf;

	*out = NULL;
	if (fstat(fd, &st) != 0)
		return -1;
	*size = st.st_size;
	if (st.st_size < (off_t)MAGIC_LINE) {
		errno = EBADMSG;
		return -1;
	}
	if (outbox_read_at(fd, first, sizeof(first), 0) < 0)
		return -1;
	if (memcmp(first, MAGIC, sizeof(MAGIC) - 1) != 0 ||
	    first[MAGIC_LINE - 1] != '\n' ||
	    number(first + sizeof(MAGIC) - 1, 10, HEADER_MAX, &hl) < 0 ||
	    hl < MAGIC_LINE || (off_t)hl > st.st_size) {
		errno = EBADMSG;
		return -1;
	}
	buf = malloc(hl + 1);
	if (buf == NULL)
		return -1;
	if (outbox_read_at(fd, buf, hl, 0) < 0) {
		free(buf);
		return -1;
	}
	buf[hl] = '\0';
	*out = buf;
	*len = hl;
	return 0;
}

/* ----------------------------------------------------------- entries */

/* Link the entry ID of OBFD as IDSFD's KEY: 0, or -1 (said). */
static int link_key(int obfd, const char *id, int idsfd, const char *key)
{
	if (linkat(obfd, id, idsfd, key, 0) == 0)
		return 0;
	/* a key left by an entry given up or never named, or the same
	 * message queued again meanwhile: this entry is newer */
	if (errno == EEXIST && unlinkat(idsfd, key, 0) == 0 &&
	    linkat(obfd, id, idsfd, key, 0) == 0)
		return 0;
	fprintf(stderr,
		"letterlock: outbox: %s: its key cannot be kept (%s): a "
		"resubmission of it will not be recognised\n",
		id, strerror(errno));
	return -1;
}

int outbox_add(struct outbox_entry **out, const char *home, const char *from,
	       const char *key, const struct outbox_copy *copies, size_t n)
{
	struct outbox_entry *e = new_entry(n);
	char tmp[OUTBOX_ID_MAX + sizeof(NEW_PREFIX)], *hdr = NULL;
	size_t hlen = 0;
	int obfd, idsfd = -1, rc = -1, tries = 0, linked = 0, named = 0;

	*out = NULL;
	obfd = open_outbox(home, 1);
	if (e == NULL || obfd < 0) {
		rc = outbox_oops("opening", "HOME/outbox");
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
		rc = outbox_oops("queueing", NULL);
		goto out;
	}
	if (key != NULL && key[0] != '\0' && plain_name(key, OUTBOX_KEY_MAX)) {
		snprintf(e->key, sizeof(e->key), "%s", key);
		idsfd = open_ids(home);
		if (idsfd < 0)
			outbox_oops("opening", "HOME/ids");
	}
	do {
		if (make_id(e->id) < 0) {
			rc = outbox_oops("queueing", NULL);
			goto out;
		}
		snprintf(tmp, sizeof(tmp), NEW_PREFIX "%s", e->id);
		e->fd = openat(obfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			       0600);
	} while (e->fd < 0 && errno == EEXIST && ++tries < 8);
	if (e->fd < 0 || flock(e->fd, LOCK_EX) != 0) {
		rc = outbox_oops("creating", tmp);
		goto out;
	}
	named = 1;
	if (make_header(&hdr, &hlen, e, copies) < 0) {
		errno = ENAMETOOLONG;
		rc = outbox_oops("queueing", NULL);
		goto out;
	}
	/* the whole entry on disk under its temporary name, then named */
	rc = cli_write_all(e->fd, hdr, hlen);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = cli_write_all(e->fd, copies[i].data, copies[i].len);
	if (rc < 0 || fdatasync(e->fd) != 0) {
		rc = outbox_oops("writing", tmp);
		goto out;
	}
	/* The key before the name: killed between the two, the key names
	 * an entry that never came to be, which outbox_seen does not take
	 * for a message queued or sent; the other way round, a message
	 * queued without its key would be queued again when its client
	 * (which had no answer) sends it again. */
	linked = idsfd >= 0 && link_key(obfd, tmp, idsfd, e->key) == 0;
	if (!linked)
		e->key[0] = '\0';
	if (renameat(obfd, tmp, obfd, e->id) != 0) {
		rc = outbox_oops("queueing", e->id);
		goto out;
	}
	named = 2;
	if (fsync(obfd) != 0 || (linked && fsync(idsfd) != 0)) {
		rc = outbox_oops("queueing", e->id);
		goto out;
	}
	*out = e;
	e = NULL;
	rc = 0;
out:
	if (e != NULL && linked)
		unlinkat(idsfd, e->key, 0);
	if (e != NULL && named == 1)
		unlinkat(obfd, tmp, 0);
	if (e != NULL && named == 2) {
		/* fsync failed: whether the entry is there is not known;
		 * the caller says "not queued", so it must not be */
		unlinkat(obfd, e->id, 0);
		fsync(obfd);
	}
	free(hdr);
	free_entry(e);
	if (idsfd >= 0)
		close(idsfd);
	if (obfd >= 0)
		close(obfd);
	return rc;
}

/* The header of the entry file FD (not taken) into a new entry *out
 * (its fd -1): 0, or -1 when it is not one of ours. */
static int load_header(struct outbox_entry **out, int fd)
{
	struct outbox_entry *e = calloc(1, sizeof(*e));
	char *hdr = NULL;
	size_t hlen = 0;
	off_t size;
	int rc = -1;

	*out = NULL;
	if (e == NULL)
		return -1;
	e->fd = -1;
	if (read_header(fd, &hdr, &hlen, &size) == 0 &&
	    parse_header(e, hdr, hlen) == 0)
		rc = 0;
	free(hdr);
	if (rc == 0) {
		*out = e;
		e = NULL;
	}
	free_entry(e);
	return rc;
}

/* Is NAME of DFD still the file FD (not removed or replaced since it
 * was opened)? */
static int still_there(int dfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dfd, name, &b, 0) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int all_sent(const struct outbox_entry *e)
{
	for (size_t i = 0; i < e->ncopies; i++)
		if (!e->sent[i])
			return 0;
	return 1;
}

/* Open, lock and read the file entry E->id of OBFD: as outbox_open. */
static int file_open(struct outbox_entry *e, int obfd)
{
	char *hdr = NULL;
	size_t hlen = 0;
	off_t size = 0, end;
	int rc;

	e->fd = openat(obfd, e->id, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (e->fd < 0)
		return errno == ENOENT ? 2 : outbox_oops("opening", e->id);
	if (flock(e->fd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK ? 1 : outbox_oops("locking", e->id);
	if (!still_there(obfd, e->id, e->fd))
		return 2; /* removed while we opened it */
	if (read_header(e->fd, &hdr, &hlen, &size) < 0)
		return outbox_oops("reading", e->id);
	{
		char id[OUTBOX_ID_MAX];

		memcpy(id, e->id, sizeof(id));
		rc = parse_header(e, hdr, hlen);
		free(hdr);
		if (rc == 0 && strcmp(id, e->id) != 0)
			rc = -1;
		memcpy(e->id, id, sizeof(id));
	}
	end = e->header_len;
	for (size_t i = 0; rc == 0 && i < e->ncopies; i++)
		end += (off_t)e->copy_len[i];
	if (rc == 0 && all_sent(e)) {
		/* the remains of a finished entry (its removal lost) */
		unlinkat(obfd, e->id, 0);
		return 2;
	}
	if (rc < 0 || end != size) {
		fprintf(stderr, "letterlock: outbox: %s: damaged entry\n",
			e->id);
		return -1;
	}
	return 0;
}

int outbox_open(struct outbox_entry **out, const char *home, const char *id)
{
	struct outbox_entry *e = NULL;
	struct stat st;
	int obfd, rc;

	*out = NULL;
	if (!plain_name(id, OUTBOX_ID_MAX)) {
		fprintf(stderr, "letterlock: outbox: no entry %s\n", id);
		return -1;
	}
	obfd = open_outbox(home, 0);
	if (obfd < 0)
		return errno == ENOENT ? 2 :
					 outbox_oops("opening", "HOME/outbox");
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		close(obfd);
		return outbox_oops("opening", id);
	}
	e->fd = -1;
	snprintf(e->id, sizeof(e->id), "%s", id);
	if (fstatat(obfd, id, &st, AT_SYMLINK_NOFOLLOW) != 0)
		rc = errno == ENOENT ? 2 : outbox_oops("opening", id);
	else if (S_ISDIR(st.st_mode))
		rc = outbox_dir_open(e, obfd);
	else
		rc = file_open(e, obfd);
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

/* A NEW_PREFIX file (or directory, of the earlier format) nobody holds,
 * untouched for a while: its writer died before it was complete or
 * named (nothing of it was sent).  Removed.  (A writer locks it just
 * after making it.) */
static void drop_unfinished(const char *home, int obfd, const char *name)
{
	int fd = openat(obfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct outbox_entry *e = NULL;
	struct stat st;
	int idsfd;

	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || time(NULL) - st.st_mtime <= UNFINISHED_AGE ||
	    flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		outbox_dir_remove(obfd, name);
		close(fd);
		return;
	}
	/* its key too, if it was linked before the writer died */
	if (load_header(&e, fd) == 0 && e->key[0] != '\0') {
		idsfd = open_ids(home);
		if (idsfd >= 0 && still_there(idsfd, e->key, fd))
			unlinkat(idsfd, e->key, 0);
		if (idsfd >= 0)
			close(idsfd);
	}
	free_entry(e);
	unlinkat(obfd, name, 0);
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
		outbox_oops("reading", "HOME/outbox");
		goto fail;
	}
	if (obfd >= 0) {
		d = fdopendir(obfd);
		if (d == NULL) {
			outbox_oops("reading", "HOME/outbox");
			close(obfd);
			goto fail;
		}
	}
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, NEW_PREFIX, strlen(NEW_PREFIX)) == 0)
			drop_unfinished(home, dirfd(d), de->d_name);
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
	outbox_oops("reading", "HOME/outbox");
	closedir(d);
fail:
	ll_strv_free(&v);
	return -1;
}

int outbox_load(const struct outbox_entry *e, size_t i, char **data,
		size_t *len)
{
	char *buf;

	if (e->is_dir)
		return outbox_dir_load(e, i, data, len);
	buf = malloc(e->copy_len[i] + 1);
	if (buf == NULL ||
	    outbox_read_at(e->fd, buf, e->copy_len[i], e->copy_at[i]) < 0) {
		free(buf);
		return outbox_oops("reading", e->id);
	}
	buf[e->copy_len[i]] = '\0';
	*data = buf;
	*len = e->copy_len[i];
	return 0;
}

int outbox_mark_sent(struct outbox_entry *e, size_t i)
{
	if (e->is_dir) {
		if (outbox_dir_mark_sent(e, i) < 0)
			return -1;
	} else if (write_at(e->fd, "+", 1, e->sent_at + (off_t)i) < 0 ||
		   fdatasync(e->fd) != 0) {
		/* one byte in a block of its own file: it is on the disk
		 * whole or not at all */
		return outbox_oops("marking sent in", e->id);
	}
	e->sent[i] = 1;
	return 0;
}

int outbox_set_error(struct outbox_entry *e, const char *text)
{
	char slot[ERROR_MAX];
	size_t len = error_slot(slot, text);

	if (e->is_dir ? outbox_dir_set_error(e, slot, len) < 0 :
			write_at(e->fd, slot, sizeof(slot), e->error_at) < 0)
		return outbox_oops("noting the failure in", e->id);
	snprintf(e->error, sizeof(e->error), "%.*s", (int)len, slot);
	return 0;
}

int outbox_remove(struct outbox_entry **pp, const char *home)
{
	struct outbox_entry *e = *pp;
	int obfd, rc = -1;

	obfd = open_outbox(home, 0);
	if (obfd >= 0 && e->is_dir)
		rc = outbox_dir_remove(obfd, e->id);
	else if (obfd >= 0 && unlinkat(obfd, e->id, 0) == 0)
		/* given up: gone for good; all sent: a crash that loses
		 * the removal leaves an entry outbox_open knows is done */
		rc = all_sent(e) || fsync(obfd) == 0 ? 0 : -1;
	if (rc < 0)
		outbox_oops("removing", e->id);
	/* the key's link keeps the header only: not the copies' bytes */
	if (rc == 0 && !e->is_dir && e->key[0] != '\0')
		(void)!ftruncate(e->fd, e->header_len);
	if (obfd >= 0)
		close(obfd);
	outbox_close(pp);
	return rc;
}

/* ------------------------------------------------------------ keys */

int outbox_seen(const char *home, const char *key, char *id)
{
	struct outbox_entry *e = NULL;
	char path[4096];
	ssize_t n;
	int fd, idsfd, obfd, rc = 0, done = 1;
	struct stat st;

	if (key == NULL || !plain_name(key, OUTBOX_KEY_MAX))
		return 0;
	idsfd = open_ids(home);
	if (idsfd < 0)
		return 0;
	fd = openat(idsfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(idsfd);
	if (fd < 0)
		return 0;
	if (load_header(&e, fd) == 0) {
		/* the entry itself, linked */
		memcpy(id, e->id, OUTBOX_ID_MAX);
		done = all_sent(e);
		rc = 1;
	} else {
		/* a marker of the earlier format: the entry's ID; gone
		 * meant sent (or given up) */
		n = pread(fd, id, OUTBOX_ID_MAX - 1, 0);
		if (n > 0) {
			id[n] = '\0';
			rc = plain_name(id, OUTBOX_ID_MAX);
		}
	}
	free_entry(e);
	close(fd);
	if (!rc || sub_path(path, home, "outbox") < 0)
		return 0;
	obfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (obfd >= 0 && fstatat(obfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = 1;
	else /* gone: sent; not every copy sent: given up, or never
		named (its writer killed before the rename) */
		rc = done ? 2 : 0;
	if (obfd >= 0)
		close(obfd);
	return rc;
}

void outbox_forget_key(const char *home, const char *key)
{
	int idsfd;

	if (key == NULL || !plain_name(key, OUTBOX_KEY_MAX))
		return;
	idsfd = open_ids(home);
	if (idsfd < 0)
		return;
	if (unlinkat(idsfd, key, 0) == 0)
		fsync(idsfd);
	close(idsfd);
}

void outbox_forget(const char *home, const struct outbox_entry *e)
{
	int idsfd;

	if (!e->is_dir) {
		outbox_forget_key(home, e->key);
		return;
	}
	idsfd = open_ids(home);
	if (idsfd < 0)
		return;
	outbox_dir_forget(idsfd, e->id);
	fsync(idsfd);
	close(idsfd);
}
