/*
 * imap_fetch.h - FETCH responses of S/MIME messages answered with the
 * opened message and an X-Letterlock-Status header (doc/bridge.md).
 */
#ifndef LL_IMAP_FETCH_H
#define LL_IMAP_FETCH_H

#include <limits.h>
#include <stddef.h>

#include "cli.h"
#include "imap_cache.h"

struct imap_opener {
	struct cli *cli; /* in: the home */
	/* in: HOME/bridge/cache/ACCOUNT.db; "" no cache */
	char cache_path[PATH_MAX];
	size_t cache_max; /* in: its bound, bytes */
	struct ll_keystore *ks;
	struct ll_ctx *ctx;
	int ready; /* keys loaded */
	struct imap_cache *cache; /* imap_opener_cache */
	int cache_state; /* 0 not opened yet, 1 open, -1 none */
	/* certificates harvested in this session (fingerprints, a ring:
	 * signers and those they ask to be encrypted to): a mailbox of
	 * one sender's mail costs one contacts write, not one per
	 * message */
	char harvested[16][65];
	unsigned nharvested;
	struct imap_helper *helper; /* imap_helper.c, or NULL */
	int no_helper; /* started once already (or failed): not again */
};

/*
 * MSG opened for the client (*opened: 1 when it was S/MIME and
 * opened, what the cache keeps): *out (malloc'd, CRLF line ends, *outlen)
 * is "X-Letterlock-Status: ..." and the opened message when MSG is
 * S/MIME and opened; the status and MSG itself when it could not be
 * opened (no plaintext then); MSG unchanged when it is not S/MIME.
 * Any X-Letterlock-Status of the message's own header is dropped.
 * 0, or -1 (out of memory, the keys cannot be read: said).
 */
int imap_open_message(struct imap_opener *o, const char *msg, size_t len,
		      char **out, size_t *outlen, int *opened);

/*
 * A FETCH response UNIT (a line with literals, as imap_reader gives
 * it): each whole-message literal (BODY[] or RFC822) replaced by
 * imap_open_message's answer.  WHERE ("ACCOUNT\nMAILBOX\nUIDVALIDITY"
 * of the selected mailbox, or NULL when not known) and the response's
 * UID name the message in the cache (imap_cache_get/put).  1 and *out
 * (malloc'd, *outlen), 0 when nothing changed, -1 on failure.
 */
int imap_fetch_rewrite(struct imap_opener *o, const char *where,
		       const char *unit, size_t len, char **out,
		       size_t *outlen);

/*
 * The session's cache of opened messages (imap_cache.h), opened on
 * first use with the keystore secret "bridge/cache-key" (made when
 * missing); borrowed, closed by imap_opener_free.  NULL when there is
 * none (o->cache_path "", the keys or the database cannot be read):
 * imap_cache_get then misses and imap_cache_put does nothing.
 */
struct imap_cache *imap_opener_cache(struct imap_opener *o);

/* The status header (no CRLF) of an opened message's status, or of a
 * message that could not be opened (ST NULL, WHY the reason). */
struct ll_open_status;
void imap_status_line(char *out, size_t size, const struct ll_open_status *st,
		      const char *why);

/* The home's keys loaded into O (once): 0, or -1 (said). */
int imap_opener_ready(struct imap_opener *o);
/* The home and the cache closed (queued entries written); opened
 * again at the next need.  The helper is left running. */
void imap_opener_close(struct imap_opener *o);
/* imap_helper_stop, then imap_opener_close. */
void imap_opener_free(struct imap_opener *o);

/*
 * A message opened for the client is given to FN(ARG, UID, DATA, LEN,
 * OPENED) (imap_open_message's answer, OPENED as there); FN returns 0,
 * or -1 to stop.
 */
typedef int (*imap_opened_fn)(void *arg, unsigned long uid, const char *data,
			      size_t len, int opened);

/* MSG (N bytes) of UID opened here, and given to FN: FN's result, or -1
 * (imap_open_message failed). */
int imap_open_here(struct imap_opener *o, unsigned long uid, const char *msg,
		   size_t n, imap_opened_fn fn, void *arg);

/*
 * imap_helper.c: a second process of the session opens messages beside
 * it.  imap_helper_start forks it (once a session; it closes O's home
 * first: imap_opener_close); 0, or -1 (then there is none).
 * imap_open_async gives MSG (N bytes, copied) of UID to the helper
 * when it has room, or opens it here (imap_open_here); its answer goes
 * to FN(ARG, ...) later, during any imap_open_async or imap_open_wait
 * of the session (the answers that have come are given to their FN
 * meanwhile, in the order the messages went), so ARG must live until
 * imap_open_wait(O, ARG) has returned or the helper is stopped.
 * imap_open_wait gives every answer still due to ARG (and those due
 * before them) to its FN.  Both: 0, or -1 (an FN or the opening
 * failed).  A helper that fails is ended and what it had is opened
 * here.  imap_helper_stop ends it: no FN is called after that.
 */
int imap_helper_start(struct imap_opener *o);
int imap_open_async(struct imap_opener *o, unsigned long uid, const char *msg,
		    size_t n, imap_opened_fn fn, void *arg);
int imap_open_wait(struct imap_opener *o, const void *arg);
void imap_helper_stop(struct imap_opener *o);

/*
 * imap_append.c: the message MSG of an APPEND as it goes upstream:
 * signed and encrypted to the user's own key only (LL_SEAL_SELF_ONLY),
 * or unchanged when it is encrypted already (imap_message_encrypted:
 * its Content-Type and its body say (auth)enveloped-data).  0 and *out (malloc'd,
 * *outlen); -1 and the reason in WHY: nothing may go upstream then.
 */
int imap_seal_append(struct imap_opener *o, const char *msg, size_t len,
		     char **out, size_t *outlen, char *why, size_t whysize);

#endif
