/*
 * imap_fetchcmd.h - the client's FETCH answered by the bridge itself
 * (imap_fetchcmd.c, doc/bridge.md "FETCH"), and the pure parts it
 * reads with (imap_fetchwire.c): the client's FETCH command line, the
 * items of a server's FETCH response, a header field of the server's
 * HEADER.FIELDS answer.  The pure parts take (ptr, len), are
 * unit-tested (test_imap_fetchwire) and fuzzed (fuzz_imapd).
 */
#ifndef LL_IMAP_FETCHCMD_H
#define LL_IMAP_FETCHCMD_H

#include <stddef.h>

/* The client's "TAG [UID] FETCH SET ITEMS" CRLF, one line. */
struct imap_fetch_cmd {
	char tag[64];
	int uid; /* UID FETCH */
	const char *set; /* the sequence set, in the unit */
	size_t setlen;
	const char *items; /* the rest of the line, without CRLF */
	size_t itemslen;
};

/*
 * The command UNIT (LEN bytes, as imap_reader gives it) read as a
 * FETCH the bridge may answer itself into C (pointing into UNIT).
 * 0; or -1 when it is not a FETCH or not one of that shape: a literal
 * in it, a set with anything but digits, ':', ',' and '*' (SEARCHRES
 * "$").  A modifier list after the items (CHANGEDSINCE, VANISHED) is
 * left in C->items, for imap_items_parse.
 */
int imap_fetch_cmd_parse(const char *unit, size_t len,
			 struct imap_fetch_cmd *c);

/* One item of a server's FETCH response: NAME (as sent, "UID",
 * "BODY[HEADER.FIELDS (CONTENT-TYPE)]") and VALUE (as sent: an atom, a
 * "quoted" string, a {n} literal with its bytes, a parenthesized
 * list), both pointing into the response. */
struct imap_resp_item {
	const char *name, *value;
	size_t namelen, valuelen;
};

#define IMAP_RESP_ITEMS_MAX 64

/*
 * The server's response UNIT (LEN bytes: "* N FETCH (...)" CRLF with
 * its literals) split into *SEQ and its items (at most
 * IMAP_RESP_ITEMS_MAX) in V, *N of them.  0; or -1 when it is not a
 * FETCH response or not a well-formed one.
 */
int imap_fetch_resp_items(const char *unit, size_t len, unsigned long *seq,
			  struct imap_resp_item *v, size_t *n);

/* Is IT named NAME (case-insensitive, whole)? */
int imap_resp_item_is(const struct imap_resp_item *it, const char *name);

/* The bytes of a string VALUE (a literal's bytes, a quoted string's
 * inside, NIL empty) in *P, *N; -1 when it is not a string. */
int imap_resp_string(const char *value, size_t len, const char **p, size_t *n);

/*
 * The value of the header field NAME in the header HDR (N bytes, as a
 * HEADER.FIELDS answer gives it: fields, then an empty line), the
 * first one, with its continuation lines, in *V, *VLEN.  1, or 0 when
 * there is none.
 */
int imap_header_value(const char *hdr, size_t n, const char *name,
		      const char **v, size_t *vlen);

struct imap_sess;

/* Is the client's command UNIT (LEN) a FETCH or UID FETCH? */
int imap_fetch_is(const char *unit, size_t len);

/*
 * The client's FETCH, whole in s->cr, answered: a FETCH of content
 * items (BODYSTRUCTURE, ENVELOPE, BODY[...], RFC822.SIZE, ...) with
 * what the bridge presents of each S/MIME message (opened, or the
 * original with the status), the other messages and items by the
 * server; any other FETCH goes to the server unchanged.  0, or -1 (the
 * server is gone: the session ends).
 */
int imap_fetch_command(struct imap_sess *s);

#endif
