/*
 * imap_search.h - SEARCH over the content of S/MIME messages: the
 * client's search program (RFC 3501 6.4.4, RFC 9051 6.4.4, RFC 4731
 * RETURN) parsed, its content keys found, and the program written
 * again with each content key evaluated by the bridge for the S/MIME
 * messages (imap_search.c, pure); whether an opened message matches a
 * content key (imap_match.c, GMime).  Both take (ptr, len) of
 * untrusted bytes: unit-tested and fuzzed (fuzz_imapsearch).
 */
#ifndef LL_IMAP_SEARCH_H
#define LL_IMAP_SEARCH_H

#include <stddef.h>

#include "imap_rewrite.h"

/* The keys whose value the server cannot see in an encrypted message. */
enum imap_skey {
	IMAP_SKEY_TEXT, /* header and body */
	IMAP_SKEY_BODY,
	IMAP_SKEY_SUBJECT,
	IMAP_SKEY_FROM,
	IMAP_SKEY_TO,
	IMAP_SKEY_CC,
	IMAP_SKEY_BCC,
	IMAP_SKEY_HEADER, /* HEADER field-name string */
};

#define IMAP_SEARCH_KEYS_MAX 16 /* content keys in one program */
#define IMAP_SEARCH_DEPTH_MAX 32 /* nested NOT, OR and parentheses */
#define IMAP_SEARCH_STRING_MAX 1024 /* a search string, bytes */

/* A content key of the program. */
struct imap_sterm {
	enum imap_skey key;
	char field[128]; /* HEADER's field name; "" for the others */
	char value[IMAP_SEARCH_STRING_MAX]; /* the string (NUL-terminated) */
	size_t start, end; /* the key and its arguments in the command */
	int depth; /* its nesting (NOT, OR, parentheses) */
};

/* An astring given as a literal outside the content keys (KEYWORD
 * {5}...): written again as a quoted string. */
struct imap_sliteral {
	size_t start, end;
	char value[IMAP_SEARCH_STRING_MAX];
};

struct imap_search {
	int uid; /* UID SEARCH */
	int charset_ok; /* no CHARSET, or UTF-8 or US-ASCII */
	struct imap_sterm keys[IMAP_SEARCH_KEYS_MAX];
	size_t nkeys;
	struct imap_sliteral lits[IMAP_SEARCH_KEYS_MAX];
	size_t nlits;
};

enum imap_search_rc {
	IMAP_SEARCH_OK = 0,
	IMAP_SEARCH_PASS = -1, /* not a SEARCH the bridge reads (malformed,
				  an unknown key, too deep): the server
				  answers it as it is */
	IMAP_SEARCH_LIMIT = -2, /* more than IMAP_SEARCH_KEYS_MAX content
				   keys or literals */
};

/* Is the command CMD (LEN bytes) "tag SEARCH ..." or "tag UID SEARCH
 * ..."? */
int imap_search_verb(const char *cmd, size_t len);

/*
 * The command CMD (LEN bytes: one unit, its literals in it, as
 * imap_reader gives it) read as "tag [UID] SEARCH [RETURN (...)]
 * [CHARSET name] key...", into Q.  An enum imap_search_rc.
 */
int imap_search_parse(const char *cmd, size_t len, struct imap_search *q);

/*
 * CMD (parsed into Q) written again into O with each content key K
 * replaced by what is true of a message when the server's K is and it
 * is not one of SMIME, or when it is one of MATCH[i] (the S/MIME
 * messages whose opened form matches K):
 *
 *   K                              SMIME empty
 *   (K NOT UID smime)              MATCH[i] empty
 *   OR (K NOT UID smime) UID match otherwise
 *
 * SMIME and MATCH[i] are UID sets ("1:4,9"), NUL-terminated.  K is
 * written with its strings quoted, as is every literal of Q->lits.
 * 0, or -1 (a string cannot be quoted: a CR, LF or NUL in it).
 */
int imap_search_rewrite(const char *cmd, size_t len,
			const struct imap_search *q, const char *smime,
			const char *const *match, struct imap_buf *o);

/* Does the command CMD (LEN bytes, a whole unit) carry a synchronizing
 * literal ({n}, not {n+})? */
int imap_search_sync_literal(const char *cmd, size_t len);

/* The UIDs V[0..n) (sorted in place, duplicates dropped) as a UID set
 * "1:4,9" appended to O ("" when N is 0). */
void imap_uid_set(unsigned long *v, size_t n, struct imap_buf *o);

/* A message (as the client is shown it) prepared for matching. */
struct imap_mview;

/* DATA (LEN bytes; copied) parsed: 0, or -1 (out of memory). */
int imap_mview_new(struct imap_mview **out, const char *data, size_t len);
void imap_mview_free(struct imap_mview **m);

/* Is the message an S/MIME one as it was on the server (the original
 * with a status header of "not opened", its Content-Type S/MIME)? */
int imap_mview_smime(const struct imap_mview *m);

/*
 * Does M match K as IMAP says (RFC 9051 6.4.4): the string is a
 * substring, case-insensitive, of the decoded text: header fields with
 * their RFC 2047 words decoded, text parts' bodies decoded from their
 * transfer encoding and charset, all in UTF-8.  TEXT is every header
 * field but X-Letterlock-Status (the bridge's word, not the message's)
 * and the bodies; BODY the bodies; HEADER, SUBJECT, FROM, ... each
 * field of that name.  Parts that are not text (an S/MIME message's
 * ciphertext among them) are not searched.  1 or 0.
 */
int imap_match(struct imap_mview *m, const struct imap_sterm *k);

/*
 * imap_searchcmd.c: the client's SEARCH or UID SEARCH, whole in
 * s->cr (its literals read by the bridge, their "+" its own): passed
 * on, rewritten, or answered (doc/bridge.md, "SEARCH").  0, or -1 (the
 * session ends).
 */
struct imap_sess;
int imap_search_command(struct imap_sess *s);

#endif
