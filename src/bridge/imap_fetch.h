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
	/* signers harvested in this session (fingerprints, a ring): a
	 * mailbox of one sender's mail costs one contacts write, not one
	 * per message */
	char harvested[16][65];
	unsigned nharvested;
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
void imap_opener_free(struct imap_opener *o);

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
