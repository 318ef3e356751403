/*
 * imap_fetchwire.c - what the FETCH handler reads (imap_fetchcmd.h):
 * the client's FETCH line, the items of the server's FETCH responses,
 * a header field.  Pure functions of (ptr, len), fuzzed by fuzz_imapd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_fetchcmd.h"
#include "imap_parse.h"

/* The word at *P (up to a space or END) is WORD: *p moves past it and
 * one space. */
static int word(const char **p, const char *end, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(end - *p) < n || strncasecmp(*p, w, n) != 0 ||
	    (*p + n < end && (*p)[n] != ' '))
		return 0;
	*p += n;
	if (*p < end)
		(*p)++;
	return 1;
}

/* The unit's one line without CRLF: its length, or -1 when the unit is
 * more than one line. */
static int one_line(const char *unit, size_t len, size_t *n)
{
	const char *lf = memchr(unit, '\n', len);

	if (lf == NULL || (size_t)(lf - unit) != len - 1)
		return -1;
	*n = (size_t)(lf - unit);
	if (*n > 0 && unit[*n - 1] == '\r')
		(*n)--;
	return 0;
}

/* The end of the client's item list at P (before END): one item (no
 * blank outside its "[section]"), or a parenthesized list (quoted field
 * names skipped); NULL when the list is not closed. */
static const char *items_end(const char *p, const char *end)
{
	int depth = 0, brackets = 0;

	if (p < end && *p != '(') {
		while (p < end && (brackets > 0 || *p != ' ')) {
			brackets += *p == '[' ? 1 : *p == ']' ? -1 : 0;
			p++;
		}
		return p;
	}
	for (; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			if (p == end)
				break;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

int imap_fetch_is(const char *unit, size_t len)
{
	const char *p = memchr(unit, ' ', len), *end = unit + len;

	if (p == NULL)
		return 0;
	p++;
	word(&p, end, "UID");
	return (size_t)(end - p) >= 6 && strncasecmp(p, "FETCH ", 6) == 0;
}

int imap_fetch_cmd_parse(const char *unit, size_t len, struct imap_fetch_cmd *c)
{
	const char *p = unit, *end, *sp;
	size_t n, tl;

	memset(c, 0, sizeof(*c));
	if (one_line(unit, len, &n) < 0)
		return -1;
	end = unit + n;
	sp = memchr(p, ' ', n);
	if (sp == NULL)
		return -1;
	tl = (size_t)(sp - p);
	if (tl == 0 || tl >= sizeof(c->tag))
		return -1;
	/* a tag is an atom without '+' (RFC 3501 9): it comes back in
	 * the bridge's own answer */
	for (size_t i = 0; i < tl; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f || strchr("(){%*\"\\]+", p[i]))
			return -1;
	memcpy(c->tag, p, tl);
	p = sp + 1;
	c->uid = word(&p, end, "UID");
	if (!word(&p, end, "FETCH"))
		return -1;
	c->set = p;
	while (p < end && *p != ' ')
		p++;
	c->setlen = (size_t)(p - c->set);
	if (c->setlen == 0 || p == end ||
	    strspn(c->set, "0123456789:,*") < c->setlen)
		return -1;
	c->items = p + 1;
	c->itemslen = (size_t)(end - c->items);
	/* a modifier list after the items (RFC 7162's CHANGEDSINCE,
	 * VANISHED) stays in them: imap_items_parse reads it */
	if (c->itemslen == 0 || items_end(c->items, end) == NULL ||
	    memchr(c->items, '{', c->itemslen) != NULL)
		return -1;
	return 0;
}

/* A literal "{n}" CRLF and its bytes at *P: *p past it; 0, or -1. */
static int skip_literal(const char **p, const char *end)
{
	const char *q = *p + 1;
	size_t n = 0, digits = 0;

	while (q < end && *q >= '0' && *q <= '9' && digits < 10) {
		n = n * 10 + (size_t)(*q++ - '0');
		digits++;
	}
	if (digits == 0 || end - q < 3 || q[0] != '}' || q[1] != '\r' ||
	    q[2] != '\n' || (size_t)(end - (q + 3)) < n)
		return -1;
	*p = q + 3 + n;
	return 0;
}

/* A quoted string at *P: *p past it; 0, or -1. */
static int skip_quoted(const char **p, const char *end)
{
	const char *q = *p + 1;

	while (q < end && *q != '"') {
		if (*q == '\r' || *q == '\n')
			return -1;
		if (*q == '\\' && q + 1 < end)
			q++;
		q++;
	}
	if (q == end)
		return -1;
	*p = q + 1;
	return 0;
}

/* One value at *P (an atom, a string, a list of values): *p past it;
 * 0, or -1. */
static int skip_value(const char **p, const char *end)
{
	const char *q = *p;
	size_t depth = 0;

	do {
		if (q == end)
			return -1;
		if (*q == '(') {
			depth++;
			q++;
		} else if (*q == ')') {
			if (depth == 0)
				return -1;
			depth--;
			q++;
		} else if (*q == ' ' && depth > 0) {
			q++;
			continue;
		} else if (*q == '"') {
			if (skip_quoted(&q, end) < 0)
				return -1;
		} else if (*q == '{') {
			if (skip_literal(&q, end) < 0)
				return -1;
		} else {
			const char *a = q;

			while (q < end && strchr(" ()\"{\r\n", *q) == NULL)
				q++;
			if (q == a)
				return -1;
		}
	} while (depth > 0);
	*p = q;
	return 0;
}

/* An item name at *P: an atom, a "[section]" (with lists and quoted
 * names inside), a "<origin>": *p past it; 0, or -1. */
static int skip_name(const char **p, const char *end)
{
	const char *q = *p;

	while (q < end && strchr(" ()\"{[<\r\n", *q) == NULL)
		q++;
	if (q == *p)
		return -1;
	if (q < end && *q == '[') {
		int depth = 0;

		q++;
		while (q < end && !(*q == ']' && depth == 0)) {
			if (*q == '\r' || *q == '\n' || *q == '{')
				return -1;
			if (*q == '"') {
				if (skip_quoted(&q, end) < 0)
					return -1;
				continue;
			}
			depth += *q == '(' ? 1 : *q == ')' ? -1 : 0;
			q++;
		}
		if (q == end)
			return -1;
		q++;
	}
	/* a partial's "<origin>" */
	if (q < end && *q == '<') {
		q++;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
		if (q == end || *q != '>')
			return -1;
		q++;
	}
	*p = q;
	return 0;
}

/* Is the value of IT a UID: a number of 1 to 4294967295, nothing
 * else? */
static int uid_value(const struct imap_resp_item *it)
{
	const char *p = it->value, *end = it->value + it->valuelen;
	unsigned long v;

	return imap_number(&p, end, &v) == 0 && p == end && v > 0;
}

int imap_fetch_resp_items(const char *unit, size_t len, unsigned long *seq,
			  struct imap_resp_item *v, size_t *n)
{
	const char *p = unit, *end = unit + len;
	size_t digits = 0;

	*n = 0;
	*seq = 0;
	if (len < 2 || strncmp(p, "* ", 2) != 0)
		return -1;
	p += 2;
	while (p < end && *p >= '0' && *p <= '9' && digits < 10) {
		*seq = *seq * 10 + (unsigned long)(*p++ - '0');
		digits++;
	}
	if (digits == 0 || digits == 10 || end - p < 8 ||
	    strncasecmp(p, " FETCH (", 8) != 0)
		return -1;
	p += 8;
	while (p < end && *p != ')') {
		struct imap_resp_item it;

		if (*n > 0) {
			if (*p != ' ')
				return -1;
			p++;
		}
		if (*n == IMAP_RESP_ITEMS_MAX)
			return -1;
		it.name = p;
		if (skip_name(&p, end) < 0)
			return -1;
		it.namelen = (size_t)(p - it.name);
		if (p == end || *p != ' ')
			return -1;
		p++;
		it.value = p;
		if (skip_value(&p, end) < 0)
			return -1;
		it.valuelen = (size_t)(p - it.value);
		/* a UID is a 32-bit nz-number: the handler's UID lists are
		 * sized for no more */
		if (imap_resp_item_is(&it, "UID") && !uid_value(&it))
			return -1;
		v[(*n)++] = it;
	}
	/* ")" CRLF, and nothing after */
	if (end - p < 2 || p[0] != ')' ||
	    !((end - p == 2 && p[1] == '\n') ||
	      (end - p == 3 && p[1] == '\r' && p[2] == '\n')))
		return -1;
	return 0;
}

int imap_resp_item_is(const struct imap_resp_item *it, const char *name)
{
	return it->namelen == strlen(name) &&
	       strncasecmp(it->name, name, it->namelen) == 0;
}

int imap_resp_string(const char *value, size_t len, const char **p, size_t *n)
{
	const char *lf;

	if (len == 3 && strncasecmp(value, "NIL", 3) == 0) {
		*p = value;
		*n = 0;
		return 0;
	}
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		*p = value + 1;
		*n = len - 2;
		return 0;
	}
	if (len >= 4 && value[0] == '{') {
		lf = memchr(value, '\n', len);
		if (lf == NULL)
			return -1;
		*p = lf + 1;
		*n = len - (size_t)(lf + 1 - value);
		return 0;
	}
	return -1;
}

int imap_header_value(const char *hdr, size_t n, const char *name,
		      const char **v, size_t *vlen)
{
	size_t nl = strlen(name), i = 0;

	while (i < n) {
		const char *lf = memchr(hdr + i, '\n', n - i);
		size_t line = lf ? (size_t)(lf - (hdr + i)) + 1 : n - i;

		if (line > nl && strncasecmp(hdr + i, name, nl) == 0 &&
		    hdr[i + nl] == ':') {
			size_t j = i + line;

			/* the continuation lines start with a blank */
			while (j < n && (hdr[j] == ' ' || hdr[j] == '\t')) {
				lf = memchr(hdr + j, '\n', n - j);
				j = lf ? (size_t)(lf - hdr) + 1 : n;
			}
			*v = hdr + i + nl + 1;
			*vlen = j - (i + nl + 1);
			return 1;
		}
		i += line;
	}
	return 0;
}
