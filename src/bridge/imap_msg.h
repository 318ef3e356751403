/*
 * imap_msg.h - inside imap_body.h's struct imap_msg: a message cut into
 * its MIME parts on byte offsets (imap_msg.c), and the readers of header
 * fields and structured values (RFC 5322, RFC 2045, RFC 2231) that
 * imap_body.c (sections) and imap_bodystruct.c (BODYSTRUCTURE,
 * ENVELOPE) share.  Private to those files.
 */
#ifndef LL_IMAP_MSG_H
#define LL_IMAP_MSG_H

#include <stddef.h>

#include "imap_body.h"
#include "imap_rewrite.h"

/*
 * A part of the message, as Dovecot's message parser cuts it (RFC 2046
 * 5.1.1): its header [hdr, hdr_end) (the empty line included), its body
 * [body, end) (the line end before the next delimiter not included);
 * lines: the LFs of the body.  A multipart's children are its parts, a
 * message/rfc822's one child the message it holds.
 */
enum part_flag {
	PART_MULTIPART = 1,
	PART_DIGEST = 2, /* multipart/digest: children default to rfc822 */
	PART_RFC822 = 4,
};

struct part {
	size_t hdr, hdr_end, body, end;
	size_t lines;
	size_t body_lf; /* LFs before the body, while parsing */
	int parent, child, last, next; /* indexes in m->v, -1: none */
	unsigned flags, depth;
};

struct imap_msg {
	const char *data;
	size_t len;
	struct part *v;
	size_t n, cap;
};

/* One field of a header: the raw field [start, end) (its folded lines
 * and line end), its name [start, name_end) without trailing blanks,
 * its value [value, vend) (folded, without the final line end); colon:
 * 0 for a line without one (all name, no value). */
struct field {
	size_t start, name_end, value, vend, end;
	int colon;
};

/* A walk over the fields of a header [pos, to): at most max fields
 * (the lookups of Content-* and envelope fields stop after
 * IMAP_BODY_FIELDS_MAX; HEADER.FIELDS sees them all). */
struct fields {
	size_t pos, to;
	size_t n, max;
};

/*
 * A reader of a folded field value: line ends inside it are folding and
 * read as blanks.  The last comment passed over is kept (Dovecot names
 * an address by it when it has no display name).
 */
struct lex {
	const char *p, *end;
	char comment[256];
	size_t comment_len;
};

/* The parameters of a Content-Type or Content-Disposition after the
 * RFC 2231 merge, as Dovecot gives them: the plain ones in their order,
 * then the merged ones by name.  Keys and values live in buf. */
#define PARAMS_MAX 64

struct param {
	size_t k, klen, v, vlen; /* offsets in the params' buf */
	unsigned long idx; /* RFC 2231 section number */
	int ext; /* RFC 2231 "*": charset'language'%-encoded */
	int split; /* a key*N[*] or key* piece */
};

struct params {
	struct param v[PARAMS_MAX];
	size_t n;
	struct imap_buf buf;
};

/* A Content-Type value: the type and subtype (pointers into the
 * message, "" where missing); slash: a '/' followed the type; ok: both
 * were read, and rest is at the parameters. */
struct ctype {
	int ok, slash;
	const char *type, *sub;
	size_t tlen, slen;
	struct lex rest;
};

void mime_put(struct imap_buf *o, const char *s);
void mime_put_num(struct imap_buf *o, size_t v);

int mime_lower(int c);
/* Does P[0..n) start with the keyword KW / is it KW (any case)? */
int mime_starts_kw(const char *p, size_t n, const char *kw);
int mime_is_kw(const char *p, size_t n, const char *kw);

void mime_fields_init(struct fields *it, const struct part *p, size_t max);
int mime_field_next(const char *d, struct fields *it, struct field *f);
int mime_field_is(const char *d, const struct field *f, const char *name);
int mime_field_find(const struct imap_msg *m, const struct part *p,
		    const char *name, struct field *f);

void mime_lex_init(struct lex *l, const char *p, const char *end);
int mime_lex_cfws(struct lex *l);
int mime_lex_token(struct lex *l, const char **s, size_t *n);
int mime_lex_quoted(struct lex *l, struct imap_buf *o);

int mime_params_parse(struct lex *l, struct params *ps);
void mime_params_free(struct params *ps);
const char *mime_pk(const struct params *ps, const struct param *p);
const char *mime_pv(const struct params *ps, const struct param *p);

int mime_ctype_get(const struct imap_msg *m, const struct part *p,
		   struct ctype *ct);

/* BODYSTRUCTURE (EXT) or BODY of M, ENVELOPE of M (imap_bodystruct.c):
 * "NAME VALUE" onto O. */
void imap_msg_bodystructure(const struct imap_msg *m, int ext,
			    struct imap_buf *o);
void imap_msg_envelope(const struct imap_msg *m, struct imap_buf *o);

#endif
