/*
 * imap_cache.h - opened messages kept encrypted at rest, one SQLite
 * database per account (doc/bridge.md, "The cache of opened messages").
 *
 * An entry is the opened message of one identity "ACCOUNT\nMAILBOX\n
 * UIDVALIDITY\nUID", sealed with AES-256-GCM under the caller's key with
 * the identity as associated data, so it is only ever served for the
 * message it was made from.  Writes are queued and go to the database in
 * one transaction (imap_cache_flush), so a FETCH of a batch costs one
 * commit, not one per message; the database is kept under a size bound by
 * removing the least recently used entries.  Several processes may use
 * the same database at once (WAL).  Every failure is a miss or an entry
 * left out: it is a cache.
 */
#ifndef LL_IMAP_CACHE_H
#define LL_IMAP_CACHE_H

#include <stddef.h>

struct imap_cache;

/*
 * The cache in the database PATH (made when missing, 0600), entries
 * sealed with KEY (32 bytes, copied), at most MAX bytes of entries.
 * 0 and *out (imap_cache_close), or -1 (no cache: the reason on stderr).
 */
int imap_cache_open(struct imap_cache **out, const char *path,
		    const unsigned char key[32], unsigned long long max);

/*
 * The entry of ID: 1 and *out (malloc'd, NUL after *outlen bytes; the
 * caller frees), or 0: not there, not sealed under ID and the key
 * (damaged, moved, another key), or C NULL.  A hit counts as a use for
 * the eviction order (written at the next flush).
 */
int imap_cache_get(struct imap_cache *c, const char *id, char **out,
		   size_t *outlen);

/*
 * DATA (LEN bytes) sealed as the entry of ID, queued for the next
 * flush (done here when the queue is full).  An entry over a quarter of
 * the bound is not kept; C NULL does nothing.
 */
void imap_cache_put(struct imap_cache *c, const char *id, const char *data,
		    size_t len);

/* The queued entries and uses written in one transaction, then the
 * least recently used entries removed while the total passes the bound.
 * What cannot be written is dropped (said on stderr). */
void imap_cache_flush(struct imap_cache *c);

/* Flush, close, wipe the key; NULL-safe, sets *pc = NULL. */
void imap_cache_close(struct imap_cache **pc);

#endif
