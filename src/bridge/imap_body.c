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
