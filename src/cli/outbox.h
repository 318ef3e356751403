/*
 * outbox.h - sealed mail waiting for the submission server, so that
 * none is lost and none is sent twice (letterlock send, outbox, and the
 * bridge's per-account queues).
 *
 * HOME/outbox/ID is one file per message: a header (when queued, the
 * envelope sender, each copy's length and envelope recipients, a sent
 * flag per copy, the last failure) and then the sealed copies one after
 * the other.  It is written whole under HOME/outbox/.new-ID, fsync'd,
 * renamed into place and the directory fsync'd: it exists completely
 * or not at all.  A copy is marked sent by writing its flag in place
 * (fdatasync'd): no new file.  A process working on an entry holds an
 * exclusive flock(2) on it; nobody else touches a locked entry.  IDs
 * sort in the order of queueing.
 *
 * An entry may also carry a resubmission KEY (the bridge's): then it
 * is hard-linked as HOME/ids/KEY before it is renamed into place, so
 * that a client sending the same message again is recognised
 * (outbox_seen) while the entry waits and, once it is sent, for as
 * long as the link is kept.  When the entry is removed, the link keeps
 * only the header.
 *
 * Entries of the earlier format, a directory HOME/outbox/ID/ of files
 * (`meta`, `N.eml`, `N.rcpt`, `N.sent`, `error`), and markers
 * HOME/ids/KEY holding an ID, are read, sent and removed as before.
 *
 * Errors are said on stderr ("letterlock: outbox: ...") and returned
 * as -1.
 */
#ifndef LL_CLI_OUTBOX_H
#define LL_CLI_OUTBOX_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define OUTBOX_ID_MAX 40
#define OUTBOX_KEY_MAX 65 /* 64 hex digits of SHA-256 and the NUL */

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
	int fd; /* the entry's file; a directory in the earlier format */
	int is_dir; /* the earlier format */
	time_t queued;
	char *from; /* envelope sender */
	char key[OUTBOX_KEY_MAX]; /* the resubmission key, "" none */
	size_t ncopies;
	char ***rcpts; /* rcpts[i]: NULL-terminated addresses of copy i */
	unsigned char *sent; /* sent[i]: copy i was taken by the server */
	char error[512]; /* the last failure, "" none */
	/* where things are in the file (not the earlier format) */
	off_t header_len, sent_at, error_at;
	off_t *copy_at;
	size_t *copy_len;
};

/*
 * Queue COPIES (N of them) from FROM: *out is the new entry, locked.
 * KEY (may be NULL or "") is its resubmission key: the entry is also
 * HOME/ids/KEY (that directory must exist) when this returns 0; a link
 * that cannot be made is said and does not stop the queueing.
 */
int outbox_add(struct outbox_entry **out, const char *home, const char *from,
	       const char *key, const struct outbox_copy *copies, size_t n);

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
 * good and the sender was told: submit.h's refused).  The mark is on
 * disk when this returns 0. */
int outbox_mark_sent(struct outbox_entry *e, size_t i);

/* Keep TEXT as the entry's last failure (for `letterlock outbox list`;
 * not fsync'd: a crash may lose it, the next try says it again). */
int outbox_set_error(struct outbox_entry *e, const char *text);

/* Remove the entry (every copy sent, or given up) and close it.  An
 * entry given up is gone from the disk when this returns 0; one whose
 * copies were all sent may come back after a crash, and is then
 * recognised as finished by outbox_open. */
int outbox_remove(struct outbox_entry **pp, const char *home);

/* Close (unlock) without changing anything.  NULL-safe. */
void outbox_close(struct outbox_entry **pp);

/*
 * What HOME/ids/KEY says: 1 the message was queued as ID and its entry
 * waits; 2 it was queued as ID, every copy was sent (or refused and
 * reported), and the entry is gone; 0 nothing: no such key, KEY "", or
 * its entry was given up with copies not sent, or never named (its
 * writer killed before the rename).  A marker of the earlier format
 * whose entry is gone gives 2.  ID: OUTBOX_ID_MAX bytes.
 */
int outbox_seen(const char *home, const char *key, char *id);

/* Forget E's resubmission key (HOME/ids/KEY; for an entry of the
 * earlier format, the marker naming it), on disk when this returns:
 * the same message sent again is a new try. */
void outbox_forget(const char *home, const struct outbox_entry *e);

/* Forget resubmission key KEY (HOME/ids/KEY), on disk when this
 * returns. */
void outbox_forget_key(const char *home, const char *key);

#endif
