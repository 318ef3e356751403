/*
 * imap_rewrite.h - what the bridge changes in the IMAP server's
 * responses, as pure functions of (ptr, len): the capability list, the
 * whole-message literals of a FETCH response, its UID.  Unit-tested and
 * fuzzed (fuzz_imapd) without a keystore; imap_fetch.c and
 * imap_upstream.c use them.
 */
#ifndef LL_IMAP_REWRITE_H
#define LL_IMAP_REWRITE_H

#include <stddef.h>

/* A growing buffer: p (NUL-terminated) holds len bytes; failed once an
 * allocation failed (then nothing more is added). */
struct imap_buf {
	char *p;
	size_t len, cap;
	int failed;
};

void imap_buf_add(struct imap_buf *o, const char *s, size_t n);

/*
 * LINE (LEN bytes) whose capability list starts at START (it ends at
 * ']' or the line end) with only the capabilities the bridge relays,
 * into OUT (at least LEN bytes); the new length.
 */
size_t imap_cap_filter(char *out, const char *line, size_t len, size_t start);

/* The UID of the FETCH response whose first line is LINE (LEN), in OUT
 * (digits, NUL-terminated); 0, or -1 when it has none. */
int imap_fetch_uid(char out[16], const char *line, size_t len);

/*
 * A FETCH response UNIT (a line with literals, as imap_reader gives it)
 * with each whole-message literal (BODY[] or RFC822, not a section or
 * a partial fetch) replaced by what FN(ARG, message, n, &out, &outlen)
 * gives (malloc'd; FN returns 0, or -1 to fail).  1 and *out (malloc'd,
 * *outlen), 0 when there was none, -1 on failure.
 */
typedef int (*imap_literal_fn)(void *arg, const char *msg, size_t n, char **out,
			       size_t *outlen);
int imap_rewrite_literals(const char *unit, size_t len, imap_literal_fn fn,
			  void *arg, char **out, size_t *outlen);

/*
 * One field of a message's header: [p, p + len) is the field with its
 * continuation lines and line ends, line the length of its first line
 * without the line end.
 */
struct imap_field {
	const char *p;
	size_t len, line;
};

/*
 * The header field of MSG (LEN bytes, CRLF or LF line ends) at *POS
 * (0 for the first): 1, *F, and *POS past it; 0 at the end of the
 * header (*POS at the empty line that ends it, or LEN).
 */
int imap_field_next(const char *msg, size_t len, size_t *pos,
		    struct imap_field *f);

/* Is F the field NAME (any case; blanks before the colon, obsolete
 * syntax, allowed)?  Its value, after the colon up to the field's end,
 * in *V, *VLEN when those are not NULL. */
int imap_field_is(const struct imap_field *f, const char *name, const char **v,
		  size_t *vlen);

/*
 * What a Content-Type field value CT (unfolded or not, N bytes) says of
 * a message: S/MIME or not, and whether the server can read it.
 * IMAP_SMIME_OTHER is application/(x-)pkcs7-mime with any smime-type
 * but the two below or none (signed-data, certs-only, compressed-data),
 * and multipart/signed with protocol application/(x-)pkcs7-signature:
 * S/MIME, and readable by the server.  A PGP/MIME multipart/signed, or
 * one without a protocol, is not S/MIME.
 */
enum imap_smime {
	IMAP_NOT_SMIME = 0,
	IMAP_SMIME_OTHER,
	IMAP_SMIME_ENVELOPED, /* smime-type (auth)enveloped-data */
};
enum imap_smime imap_smime_kind(const char *ct, size_t n);

/* Is CT that of an S/MIME message (imap_smime_kind not
 * IMAP_NOT_SMIME)?  What the FETCH and SEARCH handlers open. */
int imap_smime_type(const char *ct, size_t n);

/* imap_smime_kind of the Content-Type field of the header of MSG
 * (LEN); IMAP_NOT_SMIME when it has none, or more than one (readers
 * differ on which counts). */
enum imap_smime imap_message_smime(const char *msg, size_t len);

/*
 * Is MSG (LEN) encrypted as a whole: imap_message_smime says
 * IMAP_SMIME_ENVELOPED, its one Content-Transfer-Encoding is base64,
 * and the body decodes to a CMS ContentInfo of type envelopedData or
 * authEnvelopedData (not a header that only claims it)?
 */
int imap_message_encrypted(const char *msg, size_t len);

#endif
