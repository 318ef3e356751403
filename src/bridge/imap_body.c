/*
 * imap_body.c - FETCH data items answered from a message the bridge
 * holds (imap_body.h): the client's item list, and each item's value
 * computed from the message's bytes.
 *
 * The message's parts: imap_msg.c; BODYSTRUCTURE, BODY and ENVELOPE:
 * imap_bodystruct.c.  Pure: no I/O, no allocation but the part table of
 * a parsed message and the output buffer.  Every scan is bounded and
 * linear in the message's length; nothing recurses deeper than
 * IMAP_BODY_DEPTH_MAX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_msg.h"

/* ---- the item list (RFC 3501 6.4.5, 9) ---------------------------- */

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
	if (mime_starts_kw(p, (size_t)(end - p), "HEADER.FIELDS.NOT ")) {
		sec->text = SEC_FIELDS_NOT;
		p += 18;
	} else if (mime_starts_kw(p, (size_t)(end - p), "HEADER.FIELDS ")) {
		sec->text = SEC_FIELDS;
		p += 14;
	} else if (mime_is_kw(p, (size_t)(end - p), "HEADER")) {
		sec->text = SEC_HEADER;
		return 0;
	} else if (mime_is_kw(p, (size_t)(end - p), "TEXT")) {
		sec->text = SEC_TEXT;
		return 0;
	} else if (mime_is_kw(p, (size_t)(end - p), "MIME") &&
		   sec->nparts > 0) {
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

		if (mime_is_kw(name, name_len, "BODY.PEEK"))
			it.peek = 1;
		else if (!mime_is_kw(name, name_len, "BODY")) {
			/* BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...]
			 * (RFC 3516): the server would decode the
			 * ciphertext's part */
			if (!mime_is_kw(name, name_len, "BINARY") &&
			    !mime_is_kw(name, name_len, "BINARY.PEEK") &&
			    !mime_is_kw(name, name_len, "BINARY.SIZE"))
				return -1;
			it.kind = IMAP_ITEM_OTHER;
			it.unoffered = 1;
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
	if (mime_is_kw(name, name_len, "ALL"))
		return macro_add(macro_all, items);
	if (mime_is_kw(name, name_len, "FAST"))
		return macro_add(macro_fast, items);
	if (mime_is_kw(name, name_len, "FULL"))
		return macro_add(macro_full, items);
	if (mime_is_kw(name, name_len, "RFC822.SIZE"))
		it.kind = IMAP_ITEM_RFC822_SIZE;
	else if (mime_is_kw(name, name_len, "ENVELOPE"))
		it.kind = IMAP_ITEM_ENVELOPE;
	else if (mime_is_kw(name, name_len, "BODY"))
		it.kind = IMAP_ITEM_BODY;
	else if (mime_is_kw(name, name_len, "BODYSTRUCTURE"))
		it.kind = IMAP_ITEM_BODYSTRUCTURE;
	else if (mime_is_kw(name, name_len, "RFC822"))
		it.kind = IMAP_ITEM_RFC822;
	else if (mime_is_kw(name, name_len, "RFC822.HEADER")) {
		it.kind = IMAP_ITEM_RFC822_HEADER;
		it.peek = 1;
	} else if (mime_is_kw(name, name_len, "RFC822.TEXT"))
		it.kind = IMAP_ITEM_RFC822_TEXT;
	else if (mime_is_kw(name, name_len, "BODY.PEEK") ||
		 mime_is_kw(name, name_len, "BINARY") ||
		 mime_is_kw(name, name_len, "BINARY.PEEK") ||
		 mime_is_kw(name, name_len, "BINARY.SIZE"))
		return -1; /* these need a section */
	else
		it.kind = IMAP_ITEM_OTHER;
	/* the server's preview of an S/MIME message is of its ciphertext */
	it.unoffered = mime_is_kw(name, name_len, "PREVIEW") ||
		       mime_is_kw(name, name_len, "SNIPPET");
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
	items->modifiers = 0;
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
		items->modifiers = p < end;
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
	items->modifiers = p + 1 < end;
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

/* ---- output -------------------------------------------------------- */

/* S (N bytes) as a literal; a NUL (which no IMAP literal may hold) as
 * 0x80, as Dovecot sends it. */
static void put_literal(struct imap_buf *o, const char *s, size_t n)
{
	mime_put(o, "{");
	mime_put_num(o, n);
	mime_put(o, "}\r\n");
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
				if (mime_lower((unsigned char)name[j]) !=
				    mime_lower((unsigned char)s[i]))
					break;
			}
			if (i == n && j + 1 == len)
				return 1;
		} else if (len == n) {
			for (i = 0; i < n; i++)
				if (mime_lower((unsigned char)name[i]) !=
				    mime_lower((unsigned char)s[i]))
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
 * 6.4.5).  A header without an empty line (it ends the message, or a
 * delimiter cut it short) is given as Dovecot gives it: for
 * HEADER.FIELDS each field ends with a line end, and the empty line
 * follows unless the header's last field, without its line end, was
 * given; HEADER.FIELDS.NOT the fields as they are, no empty line.
 */
static void header_fields(const struct imap_msg *m, const struct part *p,
			  const struct section *sec, struct imap_buf *o)
{
	struct fields it;
	struct field f;
	int want = sec->text == SEC_FIELDS, eoh = want;

	mime_fields_init(&it, p, SIZE_MAX);
	while (mime_field_next(m->data, &it, &f)) {
		if (fields_has(sec, m->data + f.start, f.name_end - f.start) !=
		    want)
			continue;
		imap_buf_add(o, m->data + f.start, f.end - f.start);
		if (want && m->data[f.end - 1] != '\n') {
			mime_put(o, "\r\n");
			eoh = 0;
		}
	}
	if (eoh || it.pos < it.to)
		mime_put(o, "\r\n");
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
	mime_put(o, " ");
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
	mime_put(o, "BODY[");
	for (const char *c = it->section; *c != '\0'; c++) {
		char u = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);

		imap_buf_add(o, &u, 1);
	}
	mime_put(o, "]");
	if (it->partial) {
		mime_put(o, "<");
		mime_put_num(o, it->origin);
		mime_put(o, ">");
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
		mime_put(o, "RFC822.SIZE ");
		mime_put_num(o, m->len);
		return 0;
	case IMAP_ITEM_RFC822:
		mime_put(o, "RFC822 ");
		put_literal(o, m->data, m->len);
		return 0;
	case IMAP_ITEM_RFC822_HEADER:
		mime_put(o, "RFC822.HEADER ");
		put_literal(o, m->data, root->hdr_end);
		return 0;
	case IMAP_ITEM_RFC822_TEXT:
		mime_put(o, "RFC822.TEXT ");
		put_literal(o, m->data + root->body, root->end - root->body);
		return 0;
	case IMAP_ITEM_SECTION:
		return render_section(m, it, o);
	case IMAP_ITEM_ENVELOPE:
		imap_msg_envelope(m, o);
		return 0;
	case IMAP_ITEM_BODY:
		imap_msg_bodystructure(m, 0, o);
		return 0;
	case IMAP_ITEM_BODYSTRUCTURE:
		imap_msg_bodystructure(m, 1, o);
		return 0;
	case IMAP_ITEM_OTHER:
		break;
	}
	return -1;
}
