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

/* Is the Content-Type field value CT (unfolded or not, N bytes) that of
 * an S/MIME message: application/(x-)pkcs7-mime, or multipart/signed
 * with protocol application/(x-)pkcs7-signature? */
int imap_smime_type(const char *ct, size_t n);

#endif
