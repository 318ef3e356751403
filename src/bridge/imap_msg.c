/*
 * imap_msg.c - a message cut into its MIME parts on byte offsets, as
 * Dovecot's message parser cuts it (imap_body.h, imap_msg.h): one pass
 * over the lines, the open boundaries on a stack bounded by the depth,
 * a table of parts bounded in number; and the readers of header fields,
 * structured values, parameters and Content-Type that the FETCH items
 * share.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_msg.h"

/* ---- keywords ------------------------------------------------------ */

int mime_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Does P[0..n) start with the keyword KW (any case)? */
int mime_starts_kw(const char *p, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (mime_lower((unsigned char)p[i]) !=
		    mime_lower((unsigned char)kw[i]))
			return 0;
	return 1;
}

/* Is P[0..n) the keyword KW (any case)? */
int mime_is_kw(const char *p, size_t n, const char *kw)
{
	return n == strlen(kw) && mime_starts_kw(p, n, kw);
}

/* ---- output ------------------------------------------------------ */

void mime_put(struct imap_buf *o, const char *s)
{
	imap_buf_add(o, s, strlen(s));
}

void mime_put_num(struct imap_buf *o, size_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%zu", v);
	mime_put(o, num);
}

/* ---- the message: parts on byte offsets ---------------------------- */

/* A multipart's delimiter, while its body is read: Dovecot's cut of a
 * long boundary (RFC 2046: at most 70). */
#define BOUNDARY_MAX 80

struct boundary {
	int part;
	size_t len;
	char s[BOUNDARY_MAX];
};

struct parser {
	struct imap_msg *m;
	struct boundary b[IMAP_BODY_DEPTH_MAX + 1];
	size_t nb;
	int cur; /* the part whose header or body is being read */
	int in_header;
	size_t after; /* the end of the last delimiter line */
	/* the last header's empty line [eoh, eoh_next), of part eoh_part */
	size_t eoh, eoh_next;
	int eoh_part;
};

static int part_new(struct imap_msg *m, int parent, size_t hdr)
{
	struct part *p;

	if (m->n == IMAP_BODY_PARTS_MAX)
		return -1;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct part *v;

		if (cap > IMAP_BODY_PARTS_MAX)
			cap = IMAP_BODY_PARTS_MAX;
		v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL)
			return -2;
		m->v = v;
		m->cap = cap;
	}
	p = &m->v[m->n];
	memset(p, 0, sizeof(*p));
	p->hdr = p->hdr_end = p->body = p->end = hdr;
	p->parent = parent;
	p->child = p->last = p->next = -1;
	if (parent >= 0) {
		struct part *up = &m->v[parent];

		p->depth = up->depth + 1;
		if (up->last >= 0)
			m->v[up->last].next = (int)m->n;
		else
			up->child = (int)m->n;
		up->last = (int)m->n;
	}
	return (int)m->n++;
}

/* ---- header fields ------------------------------------------------- */

void mime_fields_init(struct fields *it, const struct part *p, size_t max)
{
	it->pos = p->hdr;
	it->to = p->hdr_end;
	it->n = 0;
	it->max = max;
}

/* The next field of IT in D: 1, or 0 at the header's end (its empty
 * line, the end of the range, the max).  A line without a colon is no
 * field and is passed over. */
int mime_field_next(const char *d, struct fields *it, struct field *f)
{
	while (it->pos < it->to && it->n < it->max) {
		size_t s = it->pos, e, colon, first, to = it->to;
		const char *lf;

		if (d[s] == '\n' ||
		    (d[s] == '\r' && s + 1 < to && d[s + 1] == '\n'))
			return 0; /* the empty line */
		/* the field's lines: this one and those starting with a
		 * blank */
		e = s;
		do {
			lf = memchr(d + e, '\n', to - e);
			e = lf != NULL ? (size_t)(lf - d) + 1 : to;
		} while (e < to && (d[e] == ' ' || d[e] == '\t'));
		it->pos = e;
		it->n++;
		/* the name ends at the first line's colon; a line without
		 * one is a field all name (Dovecot keeps it so in
		 * HEADER.FIELDS.NOT), which no lookup of a field finds */
		f->start = s;
		f->end = e;
		lf = memchr(d + s, '\n', e - s);
		first = lf != NULL ? (size_t)(lf - d) : e;
		lf = memchr(d + s, ':', first - s);
		f->colon = lf != NULL;
		if (lf == NULL) {
			if (first > s && d[first - 1] == '\r')
				first--;
			f->name_end = f->value = f->vend = first;
			return 1;
		}
		colon = (size_t)(lf - d);
		f->name_end = colon;
		while (f->name_end > s && (d[f->name_end - 1] == ' ' ||
					   d[f->name_end - 1] == '\t'))
			f->name_end--;
		f->value = colon + 1;
		f->vend = e;
		if (f->vend > f->value && d[f->vend - 1] == '\n')
			f->vend--;
		if (f->vend > f->value && d[f->vend - 1] == '\r')
			f->vend--;
		return 1;
	}
	return 0;
}

int mime_field_is(const char *d, const struct field *f, const char *name)
{
	return f->colon &&
	       mime_is_kw(d + f->start, f->name_end - f->start, name);
}

/* ---- structured values (RFC 5322 3.2, RFC 2045 5.1) ---------------- */

void mime_lex_init(struct lex *l, const char *p, const char *end)
{
	l->p = p;
	l->end = end;
	l->comment_len = 0;
}

static int blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Pass over blanks and comments (nested, with quoted pairs; the depth
 * is only a counter). 1: more follows, 0: the end. */
int mime_lex_cfws(struct lex *l)
{
	for (;;) {
		while (l->p < l->end && blank((unsigned char)*l->p))
			l->p++;
		if (l->p == l->end || *l->p != '(')
			return l->p < l->end;
		{
			size_t depth = 0;

			l->comment_len = 0;
			for (; l->p < l->end; l->p++) {
				char c = *l->p;

				if (c == '\\' && l->p + 1 < l->end) {
					c = *++l->p;
				} else if (c == '(') {
					if (depth++ == 0)
						continue;
				} else if (c == ')') {
					if (--depth == 0) {
						l->p++;
						break;
					}
				} else if (c == '\r' || c == '\n') {
					continue;
				}
				if (l->comment_len < sizeof(l->comment))
					l->comment[l->comment_len++] = c;
			}
		}
	}
}

/* A token of RFC 2045 5.1 (a MIME type, a parameter name or value). */
static int token_char(int c)
{
	return c > 0x20 && c != 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* A token at L into [*s, *s + *n) (a pointer into the value), and the
 * blanks after it. 0, or -1: none. */
int mime_lex_token(struct lex *l, const char **s, size_t *n)
{
	const char *p = l->p;

	while (l->p < l->end && token_char((unsigned char)*l->p))
		l->p++;
	if (l->p == p)
		return -1;
	*s = p;
	*n = (size_t)(l->p - p);
	mime_lex_cfws(l);
	return 0;
}

/* A quoted string at L (at its '"') unescaped onto O, and the blanks
 * after it.  0, or -1: it does not end. */
int mime_lex_quoted(struct lex *l, struct imap_buf *o)
{
	for (l->p++; l->p < l->end; l->p++) {
		char c = *l->p;

		if (c == '"') {
			l->p++;
			mime_lex_cfws(l);
			return 0;
		}
		if (c == '\\' && l->p + 1 < l->end)
			c = *++l->p;
		else if (c == '\r' || c == '\n')
			continue;
		imap_buf_add(o, &c, 1);
	}
	return -1;
}

/* ---- parameters (RFC 2045 5.1, RFC 2231) --------------------------- */

void mime_params_free(struct params *ps)
{
	free(ps->buf.p);
	memset(ps, 0, sizeof(*ps));
}

const char *mime_pk(const struct params *ps, const struct param *p)
{
	return ps->buf.p + p->k;
}

const char *mime_pv(const struct params *ps, const struct param *p)
{
	return ps->buf.p + p->v;
}

/* One "; key=value" at L into ps->v[ps->n]: 1, 0 at the end, -1 when
 * it is malformed (the caller passes one byte and tries again, as
 * Dovecot does). */
static int param_one(struct lex *l, struct params *ps)
{
	struct param *p = &ps->v[ps->n];
	const char *k, *v;
	size_t klen, vlen;

	if (l->p == l->end)
		return 0;
	if (*l->p != ';')
		return -1;
	l->p++;
	if (!mime_lex_cfws(l) || mime_lex_token(l, &k, &klen) < 0)
		return -1;
	if (l->p == l->end || *l->p != '=')
		return -1;
	l->p++;
	mime_lex_cfws(l);
	memset(p, 0, sizeof(*p));
	p->k = ps->buf.len;
	imap_buf_add(&ps->buf, k, klen);
	imap_buf_add(&ps->buf, "", 1);
	p->klen = klen;
	p->v = ps->buf.len;
	if (l->p < l->end && *l->p == '"') {
		if (mime_lex_quoted(l, &ps->buf) < 0)
			return -1;
	} else if (mime_lex_token(l, &v, &vlen) == 0) {
		imap_buf_add(&ps->buf, v, vlen);
	} /* else an empty value, as Dovecot takes it */
	p->vlen = ps->buf.len - p->v;
	imap_buf_add(&ps->buf, "", 1);
	return 1;
}

/* Is P an RFC 2231 piece: "key*", "key*N" or "key*N*"?  Then its key is
 * cut at the '*' and idx, ext set. */
static void param_split(struct params *ps, struct param *p)
{
	char *k = ps->buf.p + p->k, *star = memchr(k, '*', p->klen), *s;
	unsigned long idx = 0;

	if (star == NULL)
		return;
	/* Dovecot's reading: "key*" alone is encoded (number 0) */
	s = star;
	if (s[1] != '\0') {
		s++;
		while (*s >= '0' && *s <= '9' && idx < 100000)
			idx = idx * 10 + (unsigned long)(*s++ - '0');
	}
	if (*s == '*') {
		p->ext = 1;
		s++;
	}
	if (*s != '\0')
		return;
	p->split = 1;
	p->idx = idx;
	p->klen = (size_t)(star - k);
	*star = '\0';
}

static int param_cmp(const struct params *ps, const struct param *a,
		     const struct param *b)
{
	int c = strcmp(mime_pk(ps, a), mime_pk(ps, b));

	if (c != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int same_key(const struct params *ps, const struct param *a,
		    const struct param *b)
{
	return a->klen == b->klen &&
	       mime_is_kw(mime_pk(ps, a), a->klen, mime_pk(ps, b));
}

/* The RFC 2231 pieces ps->v[from..] merged (Dovecot's rfc2231_parse):
 * sorted by key and number, each key's pieces joined into "key" or
 * "key*" when numbered 0, 1, 2...; else left as "key*N[*]". */
static void params_merge(struct params *ps, size_t from)
{
	struct param merged[PARAMS_MAX];
	size_t n = 0;

	/* insertion sort: at most PARAMS_MAX */
	for (size_t i = from + 1; i < ps->n; i++) {
		struct param t = ps->v[i];
		size_t j = i;

		while (j > from && param_cmp(ps, &ps->v[j - 1], &t) > 0) {
			ps->v[j] = ps->v[j - 1];
			j--;
		}
		ps->v[j] = t;
	}
	for (size_t i = from, next; i < ps->n; i = next) {
		int ok = 1, ext = 0;
		struct param out;
		char num[32];

		for (next = i;
		     next < ps->n && same_key(ps, &ps->v[i], &ps->v[next]);
		     next++) {
			if (ps->v[next].idx != next - i)
				ok = 0;
			ext |= ps->v[next].ext;
		}
		if (!ok) {
			for (size_t j = i; j < next && n < PARAMS_MAX; j++) {
				out = ps->v[j];
				out.k = ps->buf.len;
				imap_buf_add(&ps->buf, mime_pk(ps, &ps->v[j]),
					     ps->v[j].klen);
				snprintf(num, sizeof(num), "*%lu%s",
					 ps->v[j].idx, ps->v[j].ext ? "*" : "");
				imap_buf_add(&ps->buf, num, strlen(num) + 1);
				out.klen = ps->buf.len - 1 - out.k;
				merged[n++] = out;
			}
			continue;
		}
		out = ps->v[i];
		out.k = ps->buf.len;
		imap_buf_add(&ps->buf, mime_pk(ps, &ps->v[i]), ps->v[i].klen);
		if (ext)
			imap_buf_add(&ps->buf, "*", 1); /* still encoded */
		imap_buf_add(&ps->buf, "", 1);
		out.klen = ps->buf.len - 1 - out.k;
		out.v = ps->buf.len;
		if (ext && !ps->v[i].ext)
			imap_buf_add(&ps->buf, "''", 2);
		for (size_t j = i; j < next; j++) {
			const char *s = mime_pv(ps, &ps->v[j]);

			if (ext && !ps->v[j].ext) {
				/* a plain piece among encoded ones */
				for (size_t c = 0; c < ps->v[j].vlen; c++)
					imap_buf_add(&ps->buf,
						     s[c] == '%' ? "%25" :
								   s + c,
						     s[c] == '%' ? 3 : 1);
			} else {
				imap_buf_add(&ps->buf, s, ps->v[j].vlen);
			}
		}
		out.vlen = ps->buf.len - out.v;
		imap_buf_add(&ps->buf, "", 1);
		if (n < PARAMS_MAX)
			merged[n++] = out;
	}
	memcpy(ps->v + from, merged, n * sizeof(merged[0]));
	ps->n = from + n;
}

/* The parameters at L (after the type or disposition) into PS: -1 when
 * out of memory. */
int mime_params_parse(struct lex *l, struct params *ps)
{
	size_t plain = 0;
	struct param split[PARAMS_MAX];
	size_t nsplit = 0;
	int rc;

	memset(ps, 0, sizeof(*ps));
	while (ps->n < PARAMS_MAX) {
		mime_lex_cfws(l);
		rc = param_one(l, ps);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (l->p == l->end)
				break;
			l->p++;
			continue;
		}
		param_split(ps, &ps->v[ps->n]);
		if (ps->v[ps->n].split)
			split[nsplit++] = ps->v[ps->n];
		else
			ps->v[plain++] = ps->v[ps->n];
		ps->n++;
	}
	memcpy(ps->v + plain, split, nsplit * sizeof(split[0]));
	ps->n = plain + nsplit;
	if (nsplit > 0)
		params_merge(ps, plain);
	return ps->buf.failed ? -1 : 0;
}

/* ---- Content-Type -------------------------------------------------- */

/* The first field NAME of part P's header: 1 and *f, or 0. */
int mime_field_find(const struct imap_msg *m, const struct part *p,
		    const char *name, struct field *f)
{
	struct fields it;

	mime_fields_init(&it, p, IMAP_BODY_FIELDS_MAX);
	while (mime_field_next(m->data, &it, f))
		if (mime_field_is(m->data, f, name))
			return 1;
	return 0;
}

/* Part P's Content-Type into CT: 1, or 0 when it has none. */
int mime_ctype_get(const struct imap_msg *m, const struct part *p,
		   struct ctype *ct)
{
	struct field f;
	struct lex *l = &ct->rest;

	memset(ct, 0, sizeof(*ct));
	if (!mime_field_find(m, p, "Content-Type", &f))
		return 0;
	/* as Dovecot reads it: what there is of "type/subtype" is the
	 * type and subtype, "" where missing; parameters only after a
	 * whole one */
	mime_lex_init(l, m->data + f.value, m->data + f.vend);
	mime_lex_cfws(l);
	ct->type = ct->sub = "";
	if (mime_lex_token(l, &ct->type, &ct->tlen) < 0 || l->p == l->end ||
	    *l->p != '/')
		return 1;
	l->p++;
	ct->slash = 1;
	mime_lex_cfws(l);
	ct->ok = mime_lex_token(l, &ct->sub, &ct->slen) == 0;
	return 1;
}

/* ---- the parse ----------------------------------------------------- */

/* The longest boundary of those open that the line at D (to NEXT)
 * begins with after its "--" (Dovecot's boundary_find: the innermost
 * of equal ones); its index, or -1.  *close: "--boundary--". */
static int delimiter(const struct parser *ps, size_t d, size_t next, int *close)
{
	const char *s = ps->m->data + d + 2;
	size_t n, avail;
	int best = -1;

	if (ps->nb == 0 || next - d < 2 || s[-2] != '-' || s[-1] != '-')
		return -1;
	avail = next - d - 2;
	n = avail;
	if (n > 0 && s[n - 1] == '\n') {
		n--;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > 2 && s[n - 1] == '-' && s[n - 2] == '-')
			n -= 2;
	} else if (n > BOUNDARY_MAX + 4) {
		n = BOUNDARY_MAX + 4;
	}
	for (size_t i = ps->nb; i-- > 0;) {
		const struct boundary *b = &ps->b[i];

		if (b->len <= n && memcmp(b->s, s, b->len) == 0 &&
		    (best < 0 || ps->b[best].len < b->len))
			best = (int)i;
	}
	if (best >= 0) {
		size_t len = ps->b[best].len;

		*close = avail >= len + 2 && s[len] == '-' && s[len + 1] == '-';
	}
	return best;
}

/* Part P's header ends at HDR_END, its body begins at BODY after LF
 * line ends: its kind from its Content-Type; a multipart's boundary
 * opened, a message/rfc822's message begun.  0, or -1 (no memory). */
static int header_done(struct parser *ps, size_t hdr_end, size_t body,
		       size_t lf)
{
	struct imap_msg *m = ps->m;
	struct part *p = &m->v[ps->cur];
	struct ctype ct;
	struct params params;
	int child;

	p->hdr_end = hdr_end;
	p->body = p->end = body;
	p->body_lf = lf;
	ps->in_header = 0;
	if (!mime_ctype_get(m, p, &ct)) {
		if (p->parent >= 0 && (m->v[p->parent].flags & PART_DIGEST))
			p->flags |= PART_RFC822;
	} else if (ct.ok && mime_is_kw(ct.type, ct.tlen, "message") &&
		   mime_is_kw(ct.sub, ct.slen, "rfc822")) {
		p->flags |= PART_RFC822;
	} else if (ct.slash && mime_is_kw(ct.type, ct.tlen, "multipart")) {
		p->flags |= PART_MULTIPART;
		if (mime_is_kw(ct.sub, ct.slen, "digest"))
			p->flags |= PART_DIGEST;
	}
	if (p->depth >= IMAP_BODY_DEPTH_MAX)
		p->flags &= ~(unsigned)(PART_MULTIPART | PART_RFC822);

	if ((p->flags & PART_MULTIPART) && ct.ok) {
		/* the boundary; none: no parts */
		if (mime_params_parse(&ct.rest, &params) < 0) {
			mime_params_free(&params);
			return -1;
		}
		for (size_t i = 0; i < params.n; i++) {
			const struct param *b = &params.v[i];
			struct boundary *to = &ps->b[ps->nb];

			if (!mime_is_kw(mime_pk(&params, b), b->klen,
					"boundary"))
				continue;
			to->part = ps->cur;
			to->len = b->vlen < BOUNDARY_MAX ? b->vlen :
							   BOUNDARY_MAX;
			memcpy(to->s, mime_pv(&params, b), to->len);
			ps->nb++;
			break;
		}
		mime_params_free(&params);
	} else if (p->flags & PART_RFC822 && !(p->flags & PART_MULTIPART)) {
		child = part_new(m, ps->cur, body);
		if (child == -2)
			return -1;
		if (child < 0) {
			m->v[ps->cur].flags &= ~(unsigned)PART_RFC822;
			return 0;
		}
		m->v[child].body_lf = lf;
		ps->cur = child;
		ps->in_header = 1;
	}
	return 0;
}

/* Part P ends at END, after END_LF line ends (not before its body). */
static void part_close(struct part *p, size_t end, size_t end_lf)
{
	if (end < p->body) {
		p->end = p->body;
		p->lines = 0;
	} else {
		p->end = end;
		p->lines = end_lf - p->body_lf;
	}
}

/*
 * The delimiter line [D, NEXT) of boundary BI (after LF line ends): the
 * parts inside its multipart end; a new part begins after the line, or
 * the multipart's epilogue.
 *
 * Where they end, as Dovecot's parser has it: "the CRLF preceding the
 * boundary delimiter line is conceptually attached to the boundary"
 * (RFC 2046 5.1.1), so a body ends before it; but a line end that was
 * already read as the end of a delimiter line or of a header stays
 * where it is, and the parts around end after it.  A header the
 * delimiter cuts short (no empty line, or an empty line right before
 * the delimiter) ends before that line end, with an empty body.
 */
static int on_delimiter(struct parser *ps, int bi, int close, size_t d,
			size_t next, size_t lf)
{
	struct imap_msg *m = ps->m;
	int mp = ps->b[bi].part, child, cut = -1, p;
	size_t e = d, elf = lf;

	if (d != ps->after && e > 0 && m->data[e - 1] == '\n') {
		e--;
		elf--;
		if (e > 0 && m->data[e - 1] == '\r')
			e--;
	}
	ps->after = next;
	if (d == ps->eoh_next && ps->eoh_part != mp &&
	    m->v[ps->eoh_part].parent >= 0) {
		/* the empty line was the line end before this delimiter:
		 * the header of eoh_part (and of the message it may hold)
		 * ends before it */
		cut = ps->eoh_part;
		e = ps->eoh;
		elf = lf - 1;
		for (p = ps->cur;; p = m->v[p].parent) {
			struct part *q = &m->v[p];

			q->hdr = q->hdr < e ? q->hdr : e;
			q->hdr_end = q->body = q->end = e;
			q->body_lf = elf;
			if (p == cut)
				break;
		}
	} else if (ps->in_header) {
		cut = ps->cur;
	}
	while (ps->in_header) {
		size_t at = e > m->v[ps->cur].hdr ? e : m->v[ps->cur].hdr;

		if (header_done(ps, at, at, elf) < 0)
			return -1;
	}
	if (cut >= 0) {
		/* the parts cut short end where they begin; those around
		 * them after the line end */
		for (p = ps->cur; p != cut; p = m->v[p].parent)
			part_close(&m->v[p], m->v[p].body, m->v[p].body_lf);
		part_close(&m->v[cut], m->v[cut].body, m->v[cut].body_lf);
		p = m->v[cut].parent;
		e = d;
		elf = lf;
	} else {
		p = ps->cur;
	}
	for (; p != mp; p = m->v[p].parent)
		part_close(&m->v[p], e, elf);
	ps->cur = mp;
	if (close) {
		ps->nb = (size_t)bi; /* the epilogue */
		return 0;
	}
	ps->nb = (size_t)bi + 1;
	child = part_new(m, mp, next);
	if (child == -2)
		return -1;
	if (child < 0) {
		/* IMAP_BODY_PARTS_MAX: the rest is the multipart's body */
		ps->nb = 0;
		return 0;
	}
	m->v[child].body_lf = lf + (m->data[next - 1] == '\n');
	ps->cur = child;
	ps->in_header = 1;
	return 0;
}

static int parse(struct imap_msg *m)
{
	struct parser ps;
	size_t pos = 0, lf = 0;

	memset(&ps, 0, sizeof(ps));
	ps.m = m;
	ps.after = ps.eoh_next = SIZE_MAX;
	if (part_new(m, -1, 0) < 0)
		return -1;
	ps.cur = 0;
	ps.in_header = 1;
	while (pos < m->len) {
		const char *nl = memchr(m->data + pos, '\n', m->len - pos);
		size_t next = nl != NULL ? (size_t)(nl - m->data) + 1 : m->len;
		int close = 0, bi = delimiter(&ps, pos, next, &close);

		if (bi >= 0) {
			if (on_delimiter(&ps, bi, close, pos, next, lf) < 0)
				return -1;
		} else if (ps.in_header &&
			   (m->data[pos] == '\n' ||
			    (next - pos == 2 && m->data[pos] == '\r' && nl))) {
			ps.eoh = pos;
			ps.eoh_next = next;
			ps.eoh_part = ps.cur;
			if (header_done(&ps, next, next, lf + 1) < 0)
				return -1;
		}
		lf += nl != NULL;
		pos = next;
	}
	while (ps.in_header)
		if (header_done(&ps, m->len, m->len, lf) < 0)
			return -1;
	for (int p = ps.cur; p >= 0; p = m->v[p].parent)
		part_close(&m->v[p], m->len, lf);
	return 0;
}

int imap_msg_parse(const char *data, size_t len, struct imap_msg **out)
{
	struct imap_msg *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return -1;
	m->data = data;
	m->len = len;
	if (parse(m) < 0) {
		imap_msg_free(&m);
		return -1;
	}
	*out = m;
	return 0;
}

void imap_msg_free(struct imap_msg **m)
{
	if (*m == NULL)
		return;
	free((*m)->v);
	free(*m);
	*m = NULL;
}
