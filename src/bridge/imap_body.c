/*
 * imap_body.c - FETCH data items answered from a message the bridge
 * holds (imap_body.h): the client's item list, and each item's value
 * computed from the message's bytes.
 *
 * Pure: no I/O, no allocation but the part table of a parsed message
 * and the output buffer.  Every scan is bounded and linear in the
 * message's length; nothing recurses deeper than IMAP_BODY_DEPTH_MAX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_body.h"

/* ---- the item list (RFC 3501 6.4.5, 9) ---------------------------- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Does P[0..n) start with the keyword KW (any case)? */
static int starts_kw(const char *p, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lower((unsigned char)p[i]) != lower((unsigned char)kw[i]))
			return 0;
	return 1;
}

/* Is P[0..n) the keyword KW (any case)? */
static int is_kw(const char *p, size_t n, const char *kw)
{
	return n == strlen(kw) && starts_kw(p, n, kw);
}

/* An ATOM-CHAR of RFC 3501 9, less ']' (resp-specials) and '['/'<'
 * which end an item's name. */
static int name_char(int c)
{
	return c > 0x20 && c < 0x7f && !strchr("(){%*\"\\[]<>", c);
}

/* A number of RFC 3501 9 (at most 2^32 - 1) at *P (before END): 0 and
 * *v, *p past it; -1 when there is none or it is too large. */
static int number(const char **p, const char *end, unsigned long *v)
{
	const char *s = *p;
	unsigned long long x = 0;

	if (s == end || *s < '0' || *s > '9')
		return -1;
	while (s < end && *s >= '0' && *s <= '9') {
		x = x * 10 + (unsigned)(*s - '0');
		if (x > UINT32_MAX)
			return -1;
		s++;
	}
	*v = (unsigned long)x;
	*p = s;
	return 0;
}

/*
 * A section spec, parsed: the part numbers, then what of the part.
 * Field names of HEADER.FIELDS stay in the spec's text (fields,
 * fields_len: the list without its parentheses).
 */
enum section_text {
	SEC_BODY, /* "" or a part number alone: the part's body */
	SEC_HEADER,
	SEC_FIELDS,
	SEC_FIELDS_NOT,
	SEC_TEXT,
	SEC_MIME,
};

#define SECTION_PARTS_MAX 64

struct section {
	unsigned long part[SECTION_PARTS_MAX];
	size_t nparts;
	enum section_text text;
	const char *fields;
	size_t fields_len;
};

/* One header field name of a HEADER.FIELDS list at *P (an atom or a
 * quoted string, RFC 3501 astring less literals): 0 and *p past it,
 * *name and *len (a quoted one still with its quotes and escapes), or
 * -1. */
static int field_name(const char **p, const char *end, const char **name,
		      size_t *len)
{
	const char *s = *p;

	if (s < end && *s == '"') {
		s++;
		while (s < end && *s != '"') {
			if (*s == '\\' && s + 1 < end)
				s++;
			if (*s == '\r' || *s == '\n')
				return -1;
			s++;
		}
		if (s == end)
			return -1;
		s++;
	} else {
		while (s < end && (name_char((unsigned char)*s) || *s == ']'))
			s++;
		/* ']' is an ATOM-CHAR but ends the section here */
		while (s > *p && s[-1] == ']')
			s--;
	}
	if (s == *p)
		return -1;
	*name = *p;
	*len = (size_t)(s - *p);
	*p = s;
	return 0;
}

/* The section spec S (N bytes, between the brackets) into SEC: 0, or
 * -1 when it is not one of RFC 3501's section-spec. */
static int section_parse(const char *s, size_t n, struct section *sec)
{
	const char *p = s, *end = s + n;

	memset(sec, 0, sizeof(*sec));
	sec->text = SEC_BODY;
	while (p < end && *p >= '0' && *p <= '9') {
		unsigned long v;

		if (number(&p, end, &v) < 0 || v == 0 ||
		    sec->nparts == SECTION_PARTS_MAX)
			return -1;
		sec->part[sec->nparts++] = v;
		if (p == end)
			return 0;
		if (*p != '.')
			return -1;
		p++;
		if (p == end)
			return -1;
	}
	if (p == end)
		return sec->nparts == 0 ? 0 : -1;
	if (starts_kw(p, (size_t)(end - p), "HEADER.FIELDS.NOT ")) {
		sec->text = SEC_FIELDS_NOT;
		p += 18;
	} else if (starts_kw(p, (size_t)(end - p), "HEADER.FIELDS ")) {
		sec->text = SEC_FIELDS;
		p += 14;
	} else if (is_kw(p, (size_t)(end - p), "HEADER")) {
		sec->text = SEC_HEADER;
		return 0;
	} else if (is_kw(p, (size_t)(end - p), "TEXT")) {
		sec->text = SEC_TEXT;
		return 0;
	} else if (is_kw(p, (size_t)(end - p), "MIME") && sec->nparts > 0) {
		sec->text = SEC_MIME;
		return 0;
	} else {
		return -1;
	}
	/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
	if (p == end || *p != '(')
		return -1;
	p++;
	sec->fields = p;
	for (;;) {
		const char *name;
		size_t len;

		if (field_name(&p, end, &name, &len) < 0)
			return -1;
		if (p < end && *p == ' ') {
			p++;
			continue;
		}
		if (p < end && *p == ')' && p + 1 == end)
			break;
		return -1;
	}
	sec->fields_len = (size_t)(p - sec->fields);
	return 0;
}

/* Add one item to ITEMS: 0, or -1 when they are full. */
static int item_add(struct imap_items *items, const struct imap_item *it)
{
	if (items->n == IMAP_ITEMS_MAX)
		return -1;
	items->v[items->n++] = *it;
	return 0;
}

/* The macros of RFC 3501 6.4.5, expanded: their items' text is the
 * item's name (a static string, not in the command). */
static const char *const macro_all[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE",
					 "ENVELOPE", NULL };
static const char *const macro_fast[] = { "FLAGS", "INTERNALDATE",
					  "RFC822.SIZE", NULL };
static const char *const macro_full[] = { "FLAGS",	 "INTERNALDATE",
					  "RFC822.SIZE", "ENVELOPE",
					  "BODY",	 NULL };

static int item_one(const char **pp, const char *end, struct imap_items *items);

static int macro_add(const char *const *names, struct imap_items *items)
{
	for (size_t i = 0; names[i] != NULL; i++) {
		const char *p = names[i];

		if (item_one(&p, names[i] + strlen(names[i]), items) < 0)
			return -1;
	}
	return 0;
}

/*
 * One item at *PP (before END): a name, for BODY, BODY.PEEK and the
 * BINARY items a "[section]", then perhaps a "<origin.count>"; added
 * to ITEMS (a macro as its items).  0 and *pp past it, or -1.
 */
static int item_one(const char **pp, const char *end, struct imap_items *items)
{
	const char *p = *pp, *name = p, *sec = NULL;
	size_t name_len, sec_len = 0;
	struct imap_item it;

	memset(&it, 0, sizeof(it));
	while (p < end && name_char((unsigned char)*p))
		p++;
	name_len = (size_t)(p - name);
	if (name_len == 0)
		return -1;
	if (p < end && *p == '[') {
		const char *close;
		int depth = 0, quoted = 0;

		/* the section ends at the ']' outside its field list and
		 * outside a quoted field name */
		for (close = p + 1; close < end; close++) {
			if (*close == '\r' || *close == '\n')
				return -1;
			if (quoted) {
				if (*close == '\\' && close + 1 < end)
					close++;
				else if (*close == '"')
					quoted = 0;
			} else if (*close == '"') {
				quoted = 1;
			} else if (*close == '(') {
				depth++;
			} else if (*close == ')') {
				depth--;
			} else if (*close == ']' && depth == 0) {
				break;
			}
		}
		if (close == end)
			return -1;
		sec = p + 1;
		sec_len = (size_t)(close - sec);
		p = close + 1;
	}
	if (p < end && *p == '<') {
		p++;
		if (number(&p, end, &it.origin) < 0 || p == end || *p != '.')
			return -1;
		p++;
		if (number(&p, end, &it.count) < 0 || it.count == 0 ||
		    p == end || *p != '>')
			return -1;
		p++;
		it.partial = 1;
	}
	if (p < end && *p != ' ' && *p != ')')
		return -1;
	it.text = name;
	it.len = (size_t)(p - name);
	*pp = p;

	if (sec != NULL) {
		struct section s;

		if (is_kw(name, name_len, "BODY.PEEK"))
			it.peek = 1;
		else if (!is_kw(name, name_len, "BODY")) {
			/* BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...]
			 * (RFC 3516) go to the server */
			if (!is_kw(name, name_len, "BINARY") &&
			    !is_kw(name, name_len, "BINARY.PEEK") &&
			    !is_kw(name, name_len, "BINARY.SIZE"))
				return -1;
			it.kind = IMAP_ITEM_OTHER;
			return item_add(items, &it);
		}
		if (sec_len >= sizeof(it.section) ||
		    section_parse(sec, sec_len, &s) < 0)
			return -1;
		memcpy(it.section, sec, sec_len);
		it.section[sec_len] = '\0';
		it.kind = IMAP_ITEM_SECTION;
		return item_add(items, &it);
	}
	if (it.partial)
		return -1;
	if (is_kw(name, name_len, "ALL"))
		return macro_add(macro_all, items);
	if (is_kw(name, name_len, "FAST"))
		return macro_add(macro_fast, items);
	if (is_kw(name, name_len, "FULL"))
		return macro_add(macro_full, items);
	if (is_kw(name, name_len, "RFC822.SIZE"))
		it.kind = IMAP_ITEM_RFC822_SIZE;
	else if (is_kw(name, name_len, "ENVELOPE"))
		it.kind = IMAP_ITEM_ENVELOPE;
	else if (is_kw(name, name_len, "BODY"))
		it.kind = IMAP_ITEM_BODY;
	else if (is_kw(name, name_len, "BODYSTRUCTURE"))
		it.kind = IMAP_ITEM_BODYSTRUCTURE;
	else if (is_kw(name, name_len, "RFC822"))
		it.kind = IMAP_ITEM_RFC822;
	else if (is_kw(name, name_len, "RFC822.HEADER")) {
		it.kind = IMAP_ITEM_RFC822_HEADER;
		it.peek = 1;
	} else if (is_kw(name, name_len, "RFC822.TEXT"))
		it.kind = IMAP_ITEM_RFC822_TEXT;
	else if (is_kw(name, name_len, "BODY.PEEK") ||
		 is_kw(name, name_len, "BINARY") ||
		 is_kw(name, name_len, "BINARY.PEEK") ||
		 is_kw(name, name_len, "BINARY.SIZE"))
		return -1; /* these need a section */
	else
		it.kind = IMAP_ITEM_OTHER;
	return item_add(items, &it);
}

/* After the items: nothing, or one parenthesized list of modifiers
 * (RFC 7162 CHANGEDSINCE, VANISHED) that is no item. */
static int modifiers(const char *p, const char *end)
{
	int depth = 0;

	if (p == end)
		return 0;
	if (*p != ' ' || p + 1 == end || p[1] != '(')
		return -1;
	for (p++; p < end; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1 == end ? 0 : -1;
		else if (*p == '\r' || *p == '\n')
			return -1;
	}
	return -1;
}

int imap_items_parse(const char *p, size_t n, struct imap_items *items)
{
	const char *end = p + n;

	items->n = 0;
	/* the line end is no part of the list */
	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;
	if (p == end)
		return -1;
	if (*p != '(') {
		if (item_one(&p, end, items) < 0)
			return -1;
		return modifiers(p, end);
	}
	p++;
	for (;;) {
		if (item_one(&p, end, items) < 0)
			return -1;
		if (p < end && *p == ' ') {
			p++;
			continue;
		}
		if (p < end && *p == ')')
			break;
		return -1;
	}
	return modifiers(p + 1, end);
}

int imap_item_content(const struct imap_item *it)
{
	return it->kind != IMAP_ITEM_OTHER;
}

int imap_item_sets_seen(const struct imap_item *it)
{
	switch (it->kind) {
	case IMAP_ITEM_RFC822:
	case IMAP_ITEM_RFC822_TEXT:
		return 1;
	case IMAP_ITEM_SECTION:
		return !it->peek;
	default:
		return 0;
	}
}

/* ---- the message: parts on byte offsets ---------------------------- */

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

/* One field of a header: the raw field [start, end) (its folded lines
 * and line end), its name [start, name_end) without trailing blanks,
 * its value [value, vend) (folded, without the final line end). */
struct field {
	size_t start, name_end, value, vend, end;
};

/* A walk over the fields of a header [pos, to): at most max fields
 * (the lookups of Content-* and envelope fields stop after
 * IMAP_BODY_FIELDS_MAX; HEADER.FIELDS sees them all). */
struct fields {
	size_t pos, to;
	size_t n, max;
};

static void fields_init(struct fields *it, const struct part *p, size_t max)
{
	it->pos = p->hdr;
	it->to = p->hdr_end;
	it->n = 0;
	it->max = max;
}

/* The next field of IT in D: 1, or 0 at the header's end (its empty
 * line, the end of the range, the max).  A line without a colon is no
 * field and is passed over. */
static int field_next(const char *d, struct fields *it, struct field *f)
{
	while (it->pos < it->to && it->n < it->max) {
		size_t s = it->pos, e, colon, to = it->to;
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
		lf = memchr(d + s, ':', e - s);
		if (lf == NULL)
			continue;
		it->n++;
		colon = (size_t)(lf - d);
		f->start = s;
		f->name_end = colon;
		while (f->name_end > s && (d[f->name_end - 1] == ' ' ||
					   d[f->name_end - 1] == '\t'))
			f->name_end--;
		f->value = colon + 1;
		f->end = e;
		f->vend = e;
		if (f->vend > f->value && d[f->vend - 1] == '\n')
			f->vend--;
		if (f->vend > f->value && d[f->vend - 1] == '\r')
			f->vend--;
		return 1;
	}
	return 0;
}

static int field_is(const char *d, const struct field *f, const char *name)
{
	return is_kw(d + f->start, f->name_end - f->start, name);
}

/* ---- structured values (RFC 5322 3.2, RFC 2045 5.1) ---------------- */

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

static void lex_init(struct lex *l, const char *p, const char *end)
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
static int lex_cfws(struct lex *l)
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
static int lex_token(struct lex *l, const char **s, size_t *n)
{
	const char *p = l->p;

	while (l->p < l->end && token_char((unsigned char)*l->p))
		l->p++;
	if (l->p == p)
		return -1;
	*s = p;
	*n = (size_t)(l->p - p);
	lex_cfws(l);
	return 0;
}

/* A quoted string at L (at its '"') unescaped onto O, and the blanks
 * after it.  0, or -1: it does not end. */
static int lex_quoted(struct lex *l, struct imap_buf *o)
{
	for (l->p++; l->p < l->end; l->p++) {
		char c = *l->p;

		if (c == '"') {
			l->p++;
			lex_cfws(l);
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

static void params_free(struct params *ps)
{
	free(ps->buf.p);
	memset(ps, 0, sizeof(*ps));
}

static const char *pk(const struct params *ps, const struct param *p)
{
	return ps->buf.p + p->k;
}

static const char *pv(const struct params *ps, const struct param *p)
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
	if (!lex_cfws(l) || lex_token(l, &k, &klen) < 0)
		return -1;
	if (l->p == l->end || *l->p != '=')
		return -1;
	l->p++;
	lex_cfws(l);
	memset(p, 0, sizeof(*p));
	p->k = ps->buf.len;
	imap_buf_add(&ps->buf, k, klen);
	imap_buf_add(&ps->buf, "", 1);
	p->klen = klen;
	p->v = ps->buf.len;
	if (l->p < l->end && *l->p == '"') {
		if (lex_quoted(l, &ps->buf) < 0)
			return -1;
	} else {
		if (lex_token(l, &v, &vlen) < 0)
			return -1;
		imap_buf_add(&ps->buf, v, vlen);
	}
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
	s = star + 1;
	while (*s >= '0' && *s <= '9' && idx < 100000)
		idx = idx * 10 + (unsigned long)(*s++ - '0');
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
	int c = strcmp(pk(ps, a), pk(ps, b));

	if (c != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int same_key(const struct params *ps, const struct param *a,
		    const struct param *b)
{
	return a->klen == b->klen && is_kw(pk(ps, a), a->klen, pk(ps, b));
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
				imap_buf_add(&ps->buf, pk(ps, &ps->v[j]),
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
		imap_buf_add(&ps->buf, pk(ps, &ps->v[i]), ps->v[i].klen);
		imap_buf_add(&ps->buf, "*", ext ? 2 : 0);
		imap_buf_add(&ps->buf, "", ext ? 0 : 1);
		out.klen = ps->buf.len - 1 - out.k;
		out.v = ps->buf.len;
		if (ext && !ps->v[i].ext)
			imap_buf_add(&ps->buf, "''", 2);
		for (size_t j = i; j < next; j++) {
			const char *s = pv(ps, &ps->v[j]);

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
static int params_parse(struct lex *l, struct params *ps)
{
	size_t plain = 0;
	struct param split[PARAMS_MAX];
	size_t nsplit = 0;
	int rc;

	memset(ps, 0, sizeof(*ps));
	while (ps->n < PARAMS_MAX) {
		lex_cfws(l);
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

/* A Content-Type value: the type and subtype (pointers into the
 * message), ok when both were read; rest: the parameters. */
struct ctype {
	int ok;
	const char *type, *sub;
	size_t tlen, slen;
	struct lex rest;
};

/* The first field NAME of part P's header: 1 and *f, or 0. */
static int field_find(const struct imap_msg *m, const struct part *p,
		      const char *name, struct field *f)
{
	struct fields it;

	fields_init(&it, p, IMAP_BODY_FIELDS_MAX);
	while (field_next(m->data, &it, f))
		if (field_is(m->data, f, name))
			return 1;
	return 0;
}

/* Part P's Content-Type into CT: 1, or 0 when it has none. */
static int ctype_get(const struct imap_msg *m, const struct part *p,
		     struct ctype *ct)
{
	struct field f;
	struct lex *l = &ct->rest;

	memset(ct, 0, sizeof(*ct));
	if (!field_find(m, p, "Content-Type", &f))
		return 0;
	lex_init(l, m->data + f.value, m->data + f.vend);
	lex_cfws(l);
	if (lex_token(l, &ct->type, &ct->tlen) < 0 || l->p == l->end ||
	    *l->p != '/')
		return 1;
	l->p++;
	lex_cfws(l);
	if (lex_token(l, &ct->sub, &ct->slen) < 0)
		return 1;
	ct->ok = 1;
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
	if (!ctype_get(m, p, &ct)) {
		if (p->parent >= 0 && (m->v[p->parent].flags & PART_DIGEST))
			p->flags |= PART_RFC822;
	} else if (ct.ok && is_kw(ct.type, ct.tlen, "message") &&
		   is_kw(ct.sub, ct.slen, "rfc822")) {
		p->flags |= PART_RFC822;
	} else if (ct.ok && is_kw(ct.type, ct.tlen, "multipart")) {
		p->flags |= PART_MULTIPART;
		if (is_kw(ct.sub, ct.slen, "digest"))
			p->flags |= PART_DIGEST;
	}
	if (p->depth >= IMAP_BODY_DEPTH_MAX)
		p->flags &= ~(unsigned)(PART_MULTIPART | PART_RFC822);

	if (p->flags & PART_MULTIPART) {
		if (params_parse(&ct.rest, &params) < 0) {
			params_free(&params);
			return -1;
		}
		for (size_t i = 0; i < params.n; i++) {
			const struct param *b = &params.v[i];
			struct boundary *to = &ps->b[ps->nb];

			if (!is_kw(pk(&params, b), b->klen, "boundary"))
				continue;
			to->part = ps->cur;
			to->len = b->vlen < BOUNDARY_MAX ? b->vlen :
							   BOUNDARY_MAX;
			memcpy(to->s, pv(&params, b), to->len);
			ps->nb++;
			break;
		}
		params_free(&params);
	} else if (p->flags & PART_RFC822) {
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

/* The delimiter line [D, NEXT) of boundary BI (after LF line ends):
 * the parts inside its multipart end before the line end that precedes
 * it; a new part begins after it, or the multipart's epilogue. */
static int on_delimiter(struct parser *ps, int bi, int close, size_t d,
			size_t next, size_t lf)
{
	struct imap_msg *m = ps->m;
	int mp = ps->b[bi].part, child;
	size_t e = d, elf = lf, after = ps->after;

	/* "the CRLF preceding the boundary delimiter line is conceptually
	 * attached to the boundary" (RFC 2046 5.1.1); but not the line end
	 * of a delimiter line just before (Dovecot leaves it in the body
	 * of the parts that end: "--in--" CRLF "--out" ends a message/rfc822
	 * holding the multipart "in" after the CRLF) */
	ps->after = next;
	if (d != after && e > 0 && m->data[e - 1] == '\n') {
		e--;
		elf--;
		if (e > 0 && m->data[e - 1] == '\r')
			e--;
	}
	while (ps->in_header) {
		/* a header cut short by the delimiter */
		size_t at = e > m->v[ps->cur].hdr ? e : m->v[ps->cur].hdr;

		if (header_done(ps, at, at, elf) < 0)
			return -1;
	}
	for (int p = ps->cur; p != mp; p = m->v[p].parent)
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

/* Is the line at POS a delimiter?  After a header's empty line, one
 * makes the empty line the CRLF before the delimiter (Dovecot): the
 * header ends before it and the body is empty. */
static int delimiter_follows(const struct parser *ps, size_t pos)
{
	const char *nl = memchr(ps->m->data + pos, '\n', ps->m->len - pos);
	size_t next = nl != NULL ? (size_t)(nl - ps->m->data) + 1 : ps->m->len;
	int close;

	return pos < ps->m->len && delimiter(ps, pos, next, &close) >= 0;
}

static int parse(struct imap_msg *m)
{
	struct parser ps;
	size_t pos = 0, lf = 0;

	memset(&ps, 0, sizeof(ps));
	ps.m = m;
	ps.after = SIZE_MAX;
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
			    (next - pos == 2 && m->data[pos] == '\r' && nl)) &&
			   !delimiter_follows(&ps, next)) {
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

/* ---- output -------------------------------------------------------- */

static void put(struct imap_buf *o, const char *s)
{
	imap_buf_add(o, s, strlen(s));
}

static void put_num(struct imap_buf *o, size_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%zu", v);
	put(o, num);
}

/* S (N bytes) as a literal; a NUL (which no IMAP literal may hold) as
 * 0x80, as Dovecot sends it. */
static void put_literal(struct imap_buf *o, const char *s, size_t n)
{
	put(o, "{");
	put_num(o, n);
	put(o, "}\r\n");
	while (n > 0) {
		const char *nul = memchr(s, '\0', n);
		size_t run = nul != NULL ? (size_t)(nul - s) : n;

		imap_buf_add(o, s, run);
		if (nul != NULL) {
			imap_buf_add(o, "\x80", 1);
			run++;
		}
		s += run;
		n -= run;
	}
}

/* ---- BODY[section]<partial>, RFC822, RFC822.HEADER, RFC822.TEXT ---- */

/* The part that the numbers of SEC name (RFC 3501 6.4.5, as Dovecot's
 * imap_msgpart_find reads them), or -1.  A non-multipart has only a
 * part 1 (itself); inside a message/rfc822 the numbers go on in the
 * message it holds. */
static int section_part(const struct imap_msg *m, const struct section *sec)
{
	int p = 0;

	for (size_t i = 0; i < sec->nparts && p >= 0; i++) {
		unsigned long num = sec->part[i];
		int more = i + 1 < sec->nparts;

		if (m->v[p].flags & PART_MULTIPART) {
			p = m->v[p].child;
			for (; num > 1 && p >= 0; num--)
				p = m->v[p].next;
		} else if (num != 1 ||
			   (more && !(m->v[p].flags & PART_RFC822))) {
			p = -1;
		}
		if (p >= 0 && (m->v[p].flags & PART_RFC822) && more)
			p = m->v[p].child;
	}
	return p;
}

/* Is the field name S (N bytes) in the HEADER.FIELDS list of SEC (any
 * case)? */
static int fields_has(const struct section *sec, const char *s, size_t n)
{
	const char *p = sec->fields, *end = sec->fields + sec->fields_len;

	while (p < end) {
		const char *name;
		size_t len, i = 0, j = 0;

		if (field_name(&p, end, &name, &len) < 0)
			return 0;
		if (p < end && *p == ' ')
			p++;
		if (name[0] == '"') {
			/* a quoted name: compare unescaped */
			for (j = 1; j + 1 < len && i < n; i++, j++) {
				if (name[j] == '\\')
					j++;
				if (lower((unsigned char)name[j]) !=
				    lower((unsigned char)s[i]))
					break;
			}
			if (i == n && j + 1 == len)
				return 1;
		} else if (len == n) {
			for (i = 0; i < n; i++)
				if (lower((unsigned char)name[i]) !=
				    lower((unsigned char)s[i]))
					break;
			if (i == n)
				return 1;
		}
	}
	return 0;
}

/*
 * The fields of part P's header that the list of SEC names (or, for
 * HEADER.FIELDS.NOT, does not), raw, and the empty line (RFC 3501
 * 6.4.5).  Where the header has no empty line (it ends the message),
 * Dovecot ends each field of HEADER.FIELDS with CRLF but gives
 * HEADER.FIELDS.NOT as the bytes are, without an empty line: so do we.
 */
static void header_fields(const struct imap_msg *m, const struct part *p,
			  const struct section *sec, struct imap_buf *o)
{
	struct fields it;
	struct field f;
	int want = sec->text == SEC_FIELDS;

	fields_init(&it, p, SIZE_MAX);
	while (field_next(m->data, &it, &f)) {
		if (fields_has(sec, m->data + f.start, f.name_end - f.start) !=
		    want)
			continue;
		imap_buf_add(o, m->data + f.start, f.end - f.start);
		if (want && m->data[f.end - 1] != '\n')
			put(o, "\r\n");
	}
	if (want || it.pos < it.to)
		put(o, "\r\n");
}

/* "NAME {n}\r\nbytes" of S (N bytes), cut to IT's partial. */
static void put_section(struct imap_buf *o, const struct imap_item *it,
			const char *s, size_t n)
{
	if (it->partial) {
		if (it->origin >= n) {
			n = 0;
		} else {
			s += it->origin;
			n -= it->origin;
			if (it->count < n)
				n = it->count;
		}
	}
	put(o, " ");
	put_literal(o, s, n);
}

static int render_section(const struct imap_msg *m, const struct imap_item *it,
			  struct imap_buf *o)
{
	struct section sec;
	const struct part *p;
	int pi;

	if (section_parse(it->section, strlen(it->section), &sec) < 0)
		return -1;
	put(o, "BODY[");
	for (const char *c = it->section; *c != '\0'; c++) {
		char u = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);

		imap_buf_add(o, &u, 1);
	}
	put(o, "]");
	if (it->partial) {
		put(o, "<");
		put_num(o, it->origin);
		put(o, ">");
	}
	pi = sec.nparts == 0 ? 0 : section_part(m, &sec);
	if (pi >= 0 && sec.nparts > 0 && sec.text != SEC_BODY &&
	    sec.text != SEC_MIME) {
		/* HEADER, TEXT of a part: that of its message/rfc822 */
		pi = (m->v[pi].flags & PART_RFC822) ? m->v[pi].child : -1;
	}
	if (pi < 0) {
		put_section(o, it, "", 0);
		return 0;
	}
	p = &m->v[pi];
	switch (sec.text) {
	case SEC_BODY:
		if (sec.nparts == 0)
			put_section(o, it, m->data, m->len);
		else
			put_section(o, it, m->data + p->body, p->end - p->body);
		break;
	case SEC_MIME:
	case SEC_HEADER:
		put_section(o, it, m->data + p->hdr, p->hdr_end - p->hdr);
		break;
	case SEC_TEXT:
		put_section(o, it, m->data + p->body, p->end - p->body);
		break;
	case SEC_FIELDS:
	case SEC_FIELDS_NOT: {
		struct imap_buf tmp = { 0 };

		header_fields(m, p, &sec, &tmp);
		if (tmp.failed)
			o->failed = 1;
		put_section(o, it, tmp.p != NULL ? tmp.p : "", tmp.len);
		free(tmp.p);
		break;
	}
	}
	return 0;
}

int imap_msg_render(const struct imap_msg *m, const struct imap_item *it,
		    struct imap_buf *o)
{
	const struct part *root = &m->v[0];

	switch (it->kind) {
	case IMAP_ITEM_RFC822_SIZE:
		put(o, "RFC822.SIZE ");
		put_num(o, m->len);
		return 0;
	case IMAP_ITEM_RFC822:
		put(o, "RFC822 ");
		put_literal(o, m->data, m->len);
		return 0;
	case IMAP_ITEM_RFC822_HEADER:
		put(o, "RFC822.HEADER ");
		put_literal(o, m->data, root->hdr_end);
		return 0;
	case IMAP_ITEM_RFC822_TEXT:
		put(o, "RFC822.TEXT ");
		put_literal(o, m->data + root->body, root->end - root->body);
		return 0;
	case IMAP_ITEM_SECTION:
		return render_section(m, it, o);
	case IMAP_ITEM_ENVELOPE:
	case IMAP_ITEM_BODY:
	case IMAP_ITEM_BODYSTRUCTURE:
	case IMAP_ITEM_OTHER:
		break;
	}
	return -1;
}
