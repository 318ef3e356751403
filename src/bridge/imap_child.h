/*
 * imap_child.h - the child of one logged-in IMAP session (bridge.h:
 * imap_child_run), as its parts see it: imap_upstream.c owns the
 * connection and the relay; the command handlers that need more than a
 * pass-through (FETCH of S/MIME messages, SEARCH over their content)
 * use the functions below to ask the server things of their own in the
 * middle of the session.
 */
#ifndef LL_IMAP_CHILD_H
#define LL_IMAP_CHILD_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "imap_fetch.h"
#include "imap_parse.h"

/* The server: its connection and the reader of its responses. */
struct imap_up {
	int fd;
	SSL *ssl; /* NULL before TLS */
	SSL_CTX *ctx;
	struct imap_reader r; /* responses */
	char buf[65536]; /* read from the server, not yet fed to r */
	size_t have, off;
	char host[256];
	int port, implicit_tls;
	int gone; /* a read or a write failed: the connection is lost */
};

/* One session: the upstream, the client's reader, the opener. */
struct imap_sess {
	struct imap_up u;
	struct imap_reader cr;
	struct imap_opener op;
	size_t sent; /* of cr's unit, gone upstream already */
	int appending; /* an APPEND's or a SEARCH's literal is being
			  read (its "+" was ours) */
	char *lit; /* an APPEND's sealed message, waiting for the
		      server's "+" */
	size_t litlen;
	/* the selected mailbox, for the cache: its name as the client
	 * gave it (INBOX in capitals), its UIDVALIDITY (0: not known) */
	const char *account;
	char mailbox[IMAP_ARG_MAX];
	unsigned long uidvalidity;
	char select_tag[64];
	int logout; /* the client said LOGOUT: the server's close is due */
	unsigned long own; /* the bridge's own commands so far (tags) */
};

/* N bytes at P to the server: 0, or -1. */
int imap_up_write(struct imap_sess *s, const char *p, size_t n);

/* The next response unit of the server into s->u.r (after
 * imap_reader_next of the one before): 0, or -1 (the server is gone). */
int imap_up_unit(struct imap_sess *s);

/* The server's response unit in s->u.r to the client, rewritten as the
 * relay rewrites every response: 0, or -1 (the session ends). */
int imap_respond(struct imap_sess *s);

/*
 * A response unit of the bridge's own command, in s->u.r (untagged, or
 * a continuation): return 1 when it was the command's and is used up,
 * 0 when it is not (then it goes to the client as any response: an
 * EXISTS, a flag change of another session), -1 to fail the session.
 */
typedef int (*imap_unit_fn)(struct imap_sess *s, void *arg);

/*
 * The bridge's own command CMD (without tag and CRLF; no literals) to
 * the server, under a tag of its own, and every response until its
 * tagged one: the command's untagged ones to FN(S, ARG) (or, FN NULL
 * or declining, to the client); the responses to the client's own
 * commands still running (their tagged answers too) go to the client.
 * Call it only between units of the client's commands (never while a
 * client's literal or an APPEND is half sent).
 * 0 OK; 1 NO or BAD (the server's text in TEXT, SIZE bytes, when TEXT
 * is given); -1 the server is gone or FN failed.
 */
int imap_own_command(struct imap_sess *s, const char *cmd, imap_unit_fn fn,
		     void *arg, char *text, size_t size);

/* The cache identity prefix "ACCOUNT\nMAILBOX\nUIDVALIDITY" of the
 * selected mailbox in OUT (SIZE bytes), or NULL when it is not known
 * (nothing selected, no UIDVALIDITY yet): then nothing is cached. */
const char *imap_where(const struct imap_sess *s, char *out, size_t size);

/*
 * Each message of UIDS (comma-separated UIDs of the selected mailbox,
 * each once, at most IMAP_LINE_MAX / 2 bytes) as the client is to see
 * it (imap_open_message: opened with the status header, or the
 * original with the status when it could not be opened): from the
 * cache when it is there, the others fetched in one UID FETCH (BODY.
 * PEEK[]) and opened (kept in the cache when opened).  FN(ARG, UID,
 * DATA, LEN, OPENED) is called once per message the server still has,
 * in no set order (a UID gone from the server is left out); FN returns
 * 0, or -1 to stop.  0, or -1 (the server gone, out of memory, FN).
 */
typedef int (*imap_presented_fn)(void *arg, unsigned long uid, const char *data,
				 size_t len, int opened);
int imap_each_presented(struct imap_sess *s, const char *uids,
			imap_presented_fn fn, void *arg);

/*
 * imap_each_presented in two halves, so that the helper (imap_helper.c)
 * opens one batch's messages while the caller answers the batch before:
 * imap_present_start gives FN the cached messages and fetches the
 * misses (until the server's tagged answer), opening them here or
 * handing them to the helper, whose answers reach FN later: during
 * another batch's imap_present_start or at imap_present_finish, which
 * waits for the last of them and writes the cache.  *out must be given
 * to imap_present_finish (also after a failure), and FN's ARG must live
 * until then.  Both: 0, or -1 as imap_each_presented.
 */
struct imap_presenting;
int imap_present_start(struct imap_presenting **out, struct imap_sess *s,
		       const char *uids, imap_presented_fn fn, void *arg);
int imap_present_finish(struct imap_presenting **pp);

#endif
