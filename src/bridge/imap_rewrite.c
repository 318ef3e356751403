/*
 * imap_rewrite.c - what the bridge changes in the server's responses
 * (imap_rewrite.h): pure functions of (ptr, len), fuzzed by fuzz_imapd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_parse.h"
#include "imap_rewrite.h"

void imap_buf_add(struct imap_buf *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *p;

		while (cap < o->len + n + 1)
			cap *= 2;
		p = realloc(o->p, cap);
		if (p == NULL) {
			o->failed = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* The capabilities the bridge passes on: what it relays unchanged. */
static int cap_kept(const char *w, size_t n)
{
	static const char *const keep[] = {
		"IMAP4rev1", "LITERAL+",    "IDLE",	     "NAMESPACE",
		"UIDPLUS",   "CHILDREN",    "UNSELECT",	     "ID",
		"MOVE",	     "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
		"ENABLE",    "ESEARCH",
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strlen(keep[i]) == n && strncasecmp(w, keep[i], n) == 0)
			return 1;
	return 0;
}

/* LINE with the capability list starting at START (up to ']' or the
 * line end) cut to cap_kept, into OUT (as large as LINE). */
size_t imap_cap_filter(char *out, const char *line, size_t len, size_t start)
{
	size_t o = 0, i = start;

	memcpy(out, line, start);
	o = start;
	while (i < len && line[i] != ']' && line[i] != '\r' &&
	       line[i] != '\n') {
		size_t w = i;

		while (i < len && line[i] != ' ' && line[i] != ']' &&
		       line[i] != '\r' && line[i] != '\n')
			i++;
		if (i > w && cap_kept(line + w, i - w)) {
			if (o > start && out[o - 1] != ' ')
				out[o++] = ' ';
			memcpy(out + o, line + w, i - w);
			o += i - w;
		}
		while (i < len && line[i] == ' ')
			i++;
	}
	memcpy(out + o, line + i, len - i);
	return o + len - i;
}

/* Does the text before a literal name a whole message? */
static int whole_message(const char *s, size_t n)
{
	static const char *const items[] = { "BODY[]", "RFC822" };

	while (n > 0 && s[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < 2; i++) {
		size_t k = strlen(items[i]);

		if (n > k && strncasecmp(s + n - k, items[i], k) == 0 &&
		    (s[n - k - 1] == ' ' || s[n - k - 1] == '('))
			return 1;
	}
	return 0;
}

/* The UID of the FETCH response whose first line is LINE (LEN), in
 * OUT; 0, or -1 none. */
int imap_fetch_uid(char out[16], const char *line, size_t len)
{
	const char *p = line, *end = line + len;
	int depth = 0, brackets = 0;

	/* the item at the list's own level: "UID n" inside a quoted
	 * string (a Subject of ENVELOPE) or a section's field list is the
	 * message's, not the server's */
	for (; p < end; p++) {
		unsigned long v;
		const char *q;

		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			if (p == end)
				return -1;
			continue;
		}
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		brackets += *p == '[' ? 1 : *p == ']' ? -1 : 0;
		if (depth != 1 || brackets != 0 || (*p != ' ' && *p != '(') ||
		    (size_t)(end - p) < 5 || strncasecmp(p + 1, "UID ", 4) != 0)
			continue;
		q = p + 5;
		if (imap_number(&q, end, &v) < 0 || v == 0 ||
		    (q < end && *q != ' ' && *q != ')'))
			return -1;
		memcpy(out, p + 5, (size_t)(q - (p + 5)));
		out[q - (p + 5)] = '\0';
		return 0;
	}
	return -1;
}

int imap_rewrite_literals(const char *unit, size_t len, imap_literal_fn fn,
			  void *arg, char **out, size_t *outlen)
{
	struct imap_buf res = { 0 };
	size_t pos = 0, from = 0;
	int changed = 0;

	*out = NULL;
	while (pos < len) {
		const char *lf = memchr(unit + pos, '\n', len - pos);
		size_t llen, n, brace;
		int sync;
		char *opened, num[32];
		size_t olen;

		if (lf == NULL)
			break;
		llen = (size_t)(lf - (unit + pos));
		if (llen > 0 && unit[pos + llen - 1] == '\r')
			llen--;
		if (imap_literal_size(unit + pos, llen, &n, &sync) < 0)
			break;
		brace = llen;
		while (unit[pos + brace - 1] != '{')
			brace--;
		brace--; /* the '{' */
		if ((size_t)(len - (size_t)(lf + 1 - unit)) < n)
			break;
		if (whole_message(unit + pos, brace) && n > 0) {
			if (fn(arg, lf + 1, n, &opened, &olen) < 0) {
				free(res.p);
				return -1;
			}
			imap_buf_add(&res, unit + from, pos + brace - from);
			snprintf(num, sizeof(num), "{%zu}\r\n", olen);
			imap_buf_add(&res, num, strlen(num));
			imap_buf_add(&res, opened, olen);
			free(opened);
			from = (size_t)(lf + 1 - unit) + n;
			changed = 1;
		}
		pos = (size_t)(lf + 1 - unit) + n;
	}
	if (!changed)
		return 0;
	imap_buf_add(&res, unit + from, len - from);
	if (res.failed) {
		free(res.p);
		return -1;
	}
	*out = res.p;
	*outlen = res.len;
	return 1;
}

/* Is the token at *P (up to ';', blank or the end) WORD?  *P moves past
 * it. */
static int token_is(const char **p, const char *end, const char *word)
{
	const char *t = *p;
	size_t n;

	while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
		t++;
	*p = t;
	while (*p < end && **p != ';' && **p != ' ' && **p != '\t' &&
	       **p != '\r' && **p != '\n')
		(*p)++;
	n = (size_t)(*p - t);
	return n == strlen(word) && strncasecmp(t, word, n) == 0;
}

/* The signature types a multipart/signed of S/MIME names. */
static int pkcs7_signature(const char *v, size_t n)
{
	return (n == 27 && strncasecmp(v, "application/pkcs7-signature", n) ==
				   0) ||
	       (n == 29 &&
		strncasecmp(v, "application/x-pkcs7-signature", n) == 0);
}

int imap_smime_type(const char *ct, size_t n)
{
	const char *p = ct, *end = ct + n;

	if (token_is(&p, end, "application/pkcs7-mime") ||
	    (p = ct, token_is(&p, end, "application/x-pkcs7-mime")))
		return 1;
	p = ct;
	if (!token_is(&p, end, "multipart/signed"))
		return 0;
	/* the parameters: "; name=value" or "; name="value"" */
	while (p < end) {
		const char *name, *v;
		size_t nl, vl;

		while (p < end && *p != ';')
			p++;
		if (p == end)
			break;
		p++;
		while (p < end && strchr(" \t\r\n", *p) != NULL)
			p++;
		name = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		nl = (size_t)(p - name);
		while (nl > 0 && strchr(" \t\r\n", name[nl - 1]) != NULL)
			nl--;
		if (p == end || *p != '=')
			continue;
		p++;
		while (p < end && strchr(" \t\r\n", *p) != NULL)
			p++;
		if (p < end && *p == '"') {
			v = ++p;
			while (p < end && *p != '"')
				p++;
			vl = (size_t)(p - v);
			if (p == end)
				return 0; /* no closing quote */
			p++;
		} else {
			v = p;
			while (p < end && *p != ';' &&
			       strchr(" \t\r\n", *p) == NULL)
				p++;
			vl = (size_t)(p - v);
		}
		if (nl == 8 && strncasecmp(name, "protocol", 8) == 0)
			return pkcs7_signature(v, vl);
	}
	return 0;
}
