/*
 * outbox.h - sealed mail waiting for the submission server, so that
 * none is lost and none is sent twice (letterlock send, outbox).
 *
 * HOME/outbox/ID/ holds one message: `meta` (when queued, the envelope
 * sender, the number of copies), and for each copy N (1, 2, ...) the
 * sealed bytes `N.eml`, its envelope recipients `N.rcpt` (one a line)
 * and, once the server took it, the marker `N.sent`.  `error` keeps the
 * last failure.  An entry is written whole in HOME/outbox/.new-ID,
 * every file fsync'd, then renamed into place (and the directory
 * fsync'd): it exists completely or not at all.  A process working on
 * an entry holds an exclusive flock(2) on its directory; nobody else
 * touches a locked entry.  IDs sort in the order of queueing.
 *
 * Errors are said on stderr ("letterlock: outbox: ...") and returned
 * as -1.
 */
#ifndef LL_CLI_OUTBOX_H
#define LL_CLI_OUTBOX_H

#include <stddef.h>
#include <time.h>

#define OUTBOX_ID_MAX 40

/* One copy to queue: its bytes and envelope recipients. */
struct outbox_copy {
	const char *data;
	size_t len;
	const char *const *rcpts;
	size_t nrcpts;
};

/* An entry, open and locked.  Read-only for callers. */
struct outbox_entry {
	char id[OUTBOX_ID_MAX];
	int dirfd;
	time_t queued;
	char *from; /* envelope sender */
	size_t ncopies;
	char ***rcpts; /* rcpts[i]: NULL-terminated addresses of copy i */
	unsigned char *sent; /* sent[i]: copy i was taken by the server */
	char error[512]; /* the last failure, "" none */
};

/* Queue COPIES (N of them) from FROM: *out is the new entry, locked. */
int outbox_add(struct outbox_entry **out, const char *home, const char *from,
	       const struct outbox_copy *copies, size_t n);

/*
 * Open and lock entry ID.  0: *out is it; 1: another process holds it
 * (*out NULL); 2: it is gone, or was the remains of a finished entry
 * (then removed now).
 */
int outbox_open(struct outbox_entry **out, const char *home, const char *id);

/* The IDs of HOME's entries, oldest first: *ids NULL-terminated,
 * malloc'd (ll_strv_free).  No outbox yet: an empty list.  Remains of
 * entries whose writer died before finishing them are removed. */
int outbox_ids(char ***ids, const char *home);

/* The bytes of copy I into *data (malloc'd, *len). */
int outbox_load(const struct outbox_entry *e, size_t i, char **data,
		size_t *len);

/* Record that copy I is done: the server took it (or it refused it for
 * good and the sender was told: submit.h's refused).  The marker is on
 * disk when this returns 0. */
int outbox_mark_sent(struct outbox_entry *e, size_t i);

/* Keep TEXT as the entry's last failure. */
int outbox_set_error(struct outbox_entry *e, const char *text);

/* Remove the entry (every copy sent, or given up) and close it. */
int outbox_remove(struct outbox_entry **pp, const char *home);

/* Close (unlock) without changing anything.  NULL-safe. */
void outbox_close(struct outbox_entry **pp);

#endif
