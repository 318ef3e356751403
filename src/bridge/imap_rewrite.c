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

/*
 * The value of the parameter NAME in the parameters [p, end) of a
 * field value (after its type: "; name=value" or "; name="value""),
 * the first one: 1 and *V, *VLEN; 0 when there is none, or when a
 * quoted value has no closing quote.
 */
static int param_value(const char *p, const char *end, const char *name,
		       const char **v, size_t *vlen)
{
	size_t want = strlen(name);

	while (p < end) {
		const char *pname, *val;
		size_t nl, vl;

		while (p < end && *p != ';')
			p++;
		if (p == end)
			break;
		p++;
		while (p < end && strchr(" \t\r\n", *p) != NULL)
			p++;
		pname = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		nl = (size_t)(p - pname);
		while (nl > 0 && strchr(" \t\r\n", pname[nl - 1]) != NULL)
			nl--;
		if (p == end || *p != '=')
			continue;
		p++;
		while (p < end && strchr(" \t\r\n", *p) != NULL)
			p++;
		if (p < end && *p == '"') {
			val = ++p;
			while (p < end && *p != '"')
				p++;
			vl = (size_t)(p - val);
			if (p == end)
				return 0; /* no closing quote */
			p++;
		} else {
			val = p;
			while (p < end && *p != ';' &&
			       strchr(" \t\r\n", *p) == NULL)
				p++;
			vl = (size_t)(p - val);
		}
		if (nl == want && strncasecmp(pname, name, nl) == 0) {
			*v = val;
			*vlen = vl;
			return 1;
		}
	}
	return 0;
}

static int value_is(const char *v, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

enum imap_smime imap_smime_kind(const char *ct, size_t n)
{
	const char *p = ct, *end = ct + n, *v;
	size_t vl;

	if (token_is(&p, end, "application/pkcs7-mime") ||
	    (p = ct, token_is(&p, end, "application/x-pkcs7-mime"))) {
		/* only the smime-type tells enveloped from signed-data,
		 * certs-only or compressed-data without reading the body */
		if (param_value(p, end, "smime-type", &v, &vl) == 1 &&
		    (value_is(v, vl, "enveloped-data") ||
		     value_is(v, vl, "authEnveloped-data")))
			return IMAP_SMIME_ENVELOPED;
		return IMAP_SMIME_OTHER;
	}
	p = ct;
	if (token_is(&p, end, "multipart/signed") &&
	    param_value(p, end, "protocol", &v, &vl) == 1 &&
	    (value_is(v, vl, "application/pkcs7-signature") ||
	     value_is(v, vl, "application/x-pkcs7-signature")))
		return IMAP_SMIME_OTHER;
	return IMAP_NOT_SMIME;
}

int imap_smime_type(const char *ct, size_t n)
{
	return imap_smime_kind(ct, n) != IMAP_NOT_SMIME;
}

/* The line of MSG (LEN) at POS: its length with the line end in *N,
 * without it (LF, CRLF) returned. */
static size_t line_at(const char *msg, size_t len, size_t pos, size_t *n)
{
	const char *lf = memchr(msg + pos, '\n', len - pos);
	size_t body;

	*n = lf != NULL ? (size_t)(lf - (msg + pos)) + 1 : len - pos;
	body = lf != NULL ? *n - 1 : *n;
	if (body > 0 && msg[pos + body - 1] == '\r')
		body--;
	return body;
}

int imap_field_next(const char *msg, size_t len, size_t *pos,
		    struct imap_field *f)
{
	size_t i = *pos, n;

	if (i >= len)
		return 0;
	f->p = msg + i;
	f->line = line_at(msg, len, i, &n);
	if (f->line == 0)
		return 0; /* the empty line: the body follows */
	i += n;
	/* continuation lines start with a blank */
	while (i < len && (msg[i] == ' ' || msg[i] == '\t')) {
		(void)line_at(msg, len, i, &n);
		i += n;
	}
	f->len = (size_t)(msg + i - f->p);
	*pos = i;
	return 1;
}

int imap_field_is(const struct imap_field *f, const char *name, const char **v,
		  size_t *vlen)
{
	size_t k = strlen(name);

	if (f->line < k || strncasecmp(f->p, name, k) != 0)
		return 0;
	while (k < f->line && (f->p[k] == ' ' || f->p[k] == '\t'))
		k++;
	if (k == f->line || f->p[k] != ':')
		return 0;
	if (v != NULL) {
		*v = f->p + k + 1;
		*vlen = f->len - (k + 1);
	}
	return 1;
}

enum imap_smime imap_message_smime(const char *msg, size_t len)
{
	struct imap_field f;
	const char *v = NULL, *v2;
	size_t pos = 0, vlen = 0, n;

	while (imap_field_next(msg, len, &pos, &f) == 1) {
		if (!imap_field_is(&f, "Content-Type", &v2, &n))
			continue;
		if (v != NULL)
			return IMAP_NOT_SMIME; /* two: readers differ */
		v = v2;
		vlen = n;
	}
	return v != NULL ? imap_smime_kind(v, vlen) : IMAP_NOT_SMIME;
}

/* The first bytes of base64 text P (N), blanks and line ends passed
 * over, decoded into OUT (SIZE, a multiple of 3): the count, short
 * where the text ends or holds anything but base64 first. */
static size_t b64_head(unsigned char *out, size_t size, const char *p, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long acc = 0;
	size_t got = 0, bits = 0;

	for (size_t i = 0; i < n && got < size; i++) {
		const char *c;

		if (p[i] == '\r' || p[i] == '\n' || p[i] == ' ' || p[i] == '\t')
			continue;
		c = p[i] != '\0' ? strchr(alphabet, p[i]) : NULL;
		if (c == NULL)
			break; /* '=' or not base64 */
		acc = (acc << 6 | (unsigned long)(c - alphabet)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[got++] = (unsigned char)(acc >> bits);
		}
	}
	return got;
}

/*
 * Does DER (N bytes, the start of a CMS ContentInfo) name envelopedData
 * (1.2.840.113549.1.7.3) or authEnvelopedData (1.2.840.113549.1.9.16.1.23)
 * as its contentType: SEQUENCE, its length in any form, the OID?
 */
static int cms_enveloped(const unsigned char *der, size_t n)
{
	static const unsigned char env[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					     0xf7, 0x0d, 0x01, 0x07, 0x03 };
	static const unsigned char auth[] = { 0x06, 0x0b, 0x2a, 0x86, 0x48,
					      0x86, 0xf7, 0x0d, 0x01, 0x09,
					      0x10, 0x01, 0x17 };
	size_t off;

	if (n < 2 || der[0] != 0x30)
		return 0;
	if (der[1] <= 0x80)
		off = 2; /* short form, or indefinite (BER) */
	else if (der[1] <= 0x84)
		off = 2 + (der[1] & 0x7f);
	else
		return 0;
	return (n >= off + sizeof(env) &&
		memcmp(der + off, env, sizeof(env)) == 0) ||
	       (n >= off + sizeof(auth) &&
		memcmp(der + off, auth, sizeof(auth)) == 0);
}

int imap_message_encrypted(const char *msg, size_t len)
{
	struct imap_field f;
	unsigned char der[24];
	const char *v;
	size_t pos = 0, vlen, n = 0, cte = 0;

	if (imap_message_smime(msg, len) != IMAP_SMIME_ENVELOPED)
		return 0;
	while (imap_field_next(msg, len, &pos, &f) == 1) {
		if (!imap_field_is(&f, "Content-Transfer-Encoding", &v, &vlen))
			continue;
		if (cte++ > 0 || !token_is(&v, v + vlen, "base64"))
			return 0;
	}
	if (cte != 1 || pos == len)
		return 0;
	(void)line_at(msg, len, pos, &n); /* the empty line */
	pos += n;
	n = b64_head(der, sizeof(der), msg + pos, len - pos);
	return cms_enveloped(der, n);
}
