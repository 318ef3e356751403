/* smtp_parse.c - SMTP command lines and messages (smtp_parse.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "smtp_parse.h"

/* Where a message's bytes stand: the dot and line-end states. */
enum {
	D_BOL, /* at the start of a line */
	D_DOT, /* a '.' at the start of a line (not kept) */
	D_DOTCR, /* ".\r" at the start of a line */
	D_MID, /* inside a line */
	D_CR, /* inside a line, after '\r' */
};

#define DATA_FIRST 65536 /* the first allocation for a message */

void smtp_parser_init(struct smtp_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void smtp_parser_free(struct smtp_parser *p)
{
	free(p->data);
	p->data = NULL;
	p->dlen = p->dcap = 0;
	OPENSSL_cleanse(p->line, sizeof(p->line)); /* AUTH lines */
	p->linelen = 0;
}

/* A new message of at most MAX bytes: what was collected is dropped. */
static void new_message(struct smtp_parser *p, size_t max)
{
	free(p->data);
	p->data = NULL;
	p->dlen = p->dcap = 0;
	p->dmax = max;
	p->too_big = 0;
}

void smtp_parser_data(struct smtp_parser *p, size_t max)
{
	new_message(p, max);
	p->dstate = D_BOL;
	p->data_mode = 1;
}

/* Keep byte C of the message, unless it is past the limit. */
static void keep(struct smtp_parser *p, char c)
{
	if (p->too_big) {
		if (p->dlen < (size_t)-1)
			p->dlen++;
		return;
	}
	if (p->dlen >= p->dmax) {
		p->too_big = 1;
		p->dlen++;
		return;
	}
	if (p->dlen + 1 >= p->dcap) { /* +1: the NUL */
		size_t cap = p->dcap ? p->dcap * 2 : DATA_FIRST;
		char *nd;

		if (cap > p->dmax + 1)
			cap = p->dmax + 1;
		nd = realloc(p->data, cap);
		if (nd == NULL) {
			free(p->data);
			p->data = NULL;
			p->too_big = 1;
			p->dlen = 0; /* says: out of memory */
			p->dmax = 0;
			return;
		}
		p->data = nd;
		p->dcap = cap;
	}
	p->data[p->dlen++] = c;
}

/* N bytes kept at once (as many calls of keep). */
static void keep_bytes(struct smtp_parser *p, const char *buf, size_t n)
{
	size_t room;

	if (!p->too_big && p->dlen + n <= p->dmax && p->dlen + n < p->dcap) {
		memcpy(p->data + p->dlen, buf, n);
		p->dlen += n;
		return;
	}
	room = p->too_big || p->dlen >= p->dmax ? 0 : p->dmax - p->dlen;
	for (size_t i = 0; i < n && i < room + 1; i++)
		keep(p, buf[i]);
	if (n > room + 1 && p->too_big && p->dlen < (size_t)-1 - n)
		p->dlen += n - room - 1;
}

void smtp_parser_bdat(struct smtp_parser *p, size_t n, size_t max, int first)
{
	if (first)
		new_message(p, max);
	p->chunk_left = n;
	p->data_mode = n > 0 ? 2 : 0;
}

static enum smtp_event feed_chunk(struct smtp_parser *p, const char *buf,
				  size_t len, size_t *used)
{
	size_t n = len < p->chunk_left ? len : p->chunk_left;

	keep_bytes(p, buf, n);
	p->chunk_left -= n;
	*used = n;
	if (p->chunk_left > 0)
		return SMTP_EV_MORE;
	p->data_mode = 0;
	return SMTP_EV_CHUNK;
}

/* A run of plain bytes (no CR): kept at once. */
static size_t keep_run(struct smtp_parser *p, const char *buf, size_t len)
{
	const char *cr = memchr(buf, '\r', len);
	size_t n = cr ? (size_t)(cr - buf) : len;

	for (size_t i = 0; i < n; i++)
		keep(p, buf[i]);
	return n;
}

static enum smtp_event feed_data(struct smtp_parser *p, const char *buf,
				 size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		char c = buf[i];

		switch (p->dstate) {
		case D_BOL:
			if (c == '.') {
				p->dstate = D_DOT;
				i++;
				continue;
			}
			p->dstate = D_MID;
			continue; /* the same byte, inside the line */
		case D_DOT:
			if (c == '\r') {
				p->dstate = D_DOTCR;
				i++;
				continue;
			}
			p->dstate = D_MID; /* the dot was stuffing */
			continue;
		case D_DOTCR:
			if (c == '\n') {
				*used = i + 1;
				p->data_mode = 0;
				return SMTP_EV_DATA;
			}
			keep(p, '\r'); /* ".\rX": the dot was stuffing */
			p->dstate = D_CR;
			continue;
		case D_MID:
			if (c == '\r') {
				keep(p, c);
				p->dstate = D_CR;
				i++;
				continue;
			}
			i += keep_run(p, buf + i, len - i);
			continue;
		case D_CR:
			keep(p, c);
			i++;
			p->dstate = c == '\n' ? D_BOL :
				    c == '\r' ? D_CR :
						D_MID;
			continue;
		}
	}
	*used = len;
	return SMTP_EV_MORE;
}

static enum smtp_event feed_line(struct smtp_parser *p, const char *buf,
				 size_t len, size_t *used)
{
	const char *nl = memchr(buf, '\n', len);
	size_t n = nl ? (size_t)(nl - buf) : len;

	if (p->have_line) { /* the last line was given: a new one */
		p->have_line = 0;
		p->linelen = 0;
	}
	/* room for SMTP_LINE_MAX bytes and a CR */
	if (!p->overlong && p->linelen + n <= SMTP_LINE_MAX + 1) {
		memcpy(p->line + p->linelen, buf, n);
		p->linelen += n;
	} else {
		p->overlong = 1;
	}
	*used = nl ? n + 1 : len;
	if (nl == NULL)
		return SMTP_EV_MORE;
	if (!p->overlong && p->linelen > 0 && p->line[p->linelen - 1] == '\r')
		p->linelen--;
	if (p->overlong || p->linelen > SMTP_LINE_MAX) {
		p->overlong = 0;
		p->linelen = 0;
		return SMTP_EV_LONG_LINE;
	}
	p->line[p->linelen] = '\0';
	p->have_line = 1;
	return SMTP_EV_LINE;
}

enum smtp_event smtp_parser_feed(struct smtp_parser *p, const char *buf,
				 size_t len, size_t *used)
{
	*used = 0;
	if (len == 0)
		return SMTP_EV_MORE;
	if (p->data_mode == 2)
		return feed_chunk(p, buf, len, used);
	if (p->data_mode)
		return feed_data(p, buf, len, used);
	return feed_line(p, buf, len, used);
}

char *smtp_parser_take(struct smtp_parser *p, size_t *len)
{
	char *d = p->data;

	*len = p->dlen;
	p->data = NULL;
	p->dlen = p->dcap = 0;
	if (p->too_big) {
		p->too_big = 0; /* the next message starts clean */
		free(d);
		return NULL;
	}
	if (d == NULL) { /* an empty message */
		d = malloc(1);
		if (d == NULL)
			return NULL;
	}
	d[*len] = '\0';
	return d;
}

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO },	       { "EHLO", SMTP_EHLO },
	{ "MAIL", SMTP_MAIL },	       { "RCPT", SMTP_RCPT },
	{ "DATA", SMTP_DATA },	       { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP },	       { "QUIT", SMTP_QUIT },
	{ "VRFY", SMTP_VRFY },	       { "HELP", SMTP_HELP },
	{ "STARTTLS", SMTP_STARTTLS }, { "AUTH", SMTP_AUTH },
	{ "BDAT", SMTP_BDAT },
};

enum smtp_verb smtp_parse_verb(const char *line, const char **arg)
{
	size_t n = strcspn(line, " ");

	*arg = line[n] == ' ' ? line + n + 1 : line + n;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n &&
		    strncasecmp(line, verbs[i].name, n) == 0)
			return verbs[i].verb;
	return SMTP_UNKNOWN;
}

/* The length of the well-formed UTF-8 sequence (RFC 3629) of at least
 * two bytes at S (N bytes left), or 0: no overlong form, no surrogate,
 * nothing past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/* Is the address A (N bytes) printable ASCII and well-formed UTF-8,
 * without space or '<'?  *utf8 is set when a byte is not ASCII. */
static int path_chars(const char *a, size_t n, int *utf8)
{
	const unsigned char *u = (const unsigned char *)a;
	size_t i = 0;

	*utf8 = 0;
	while (i < n) {
		size_t k;

		if (u[i] >= 0x80) {
			k = utf8_seq(u + i, n - i);
			if (k == 0)
				return 0;
			*utf8 = 1;
			i += k;
			continue;
		}
		if (u[i] <= 0x20 || u[i] == 0x7f || u[i] == '<')
			return 0;
		i++;
	}
	return 1;
}

int smtp_parse_path(const char *arg, const char *prefix,
		    char addr[SMTP_ADDR_MAX], const char **params)
{
	size_t pl = strlen(prefix), n;
	const char *a, *end;
	int utf8;

	if (strncasecmp(arg, prefix, pl) != 0)
		return -1;
	a = arg + pl;
	if (*a == ' ')
		a++;
	if (*a++ != '<')
		return -1;
	end = strchr(a, '>');
	if (end == NULL)
		return -1;
	n = (size_t)(end - a);
	if (n >= SMTP_ADDR_MAX)
		return -1;
	if (!path_chars(a, n, &utf8))
		return -1;
	/* an address is local@domain; a source route (@a,@b:) is not kept */
	if (n > 0 &&
	    (a[0] == '@' || strchr(a, '@') == NULL || strchr(a, '@') > end))
		return -1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	end++;
	if (*end != '\0' && *end != ' ')
		return -1;
	while (*end == ' ')
		end++;
	*params = end;
	return utf8;
}

int smtp_param(const char *params, const char *name, char *val, size_t size)
{
	size_t nl = strlen(name);

	while (*params != '\0') {
		size_t n = strcspn(params, " ");
		const char *eq = memchr(params, '=', n);
		size_t kl = eq ? (size_t)(eq - params) : n;

		if (kl == 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)params[i] < 0x21 ||
			    (unsigned char)params[i] > 0x7e)
				return -1;
		if (kl == nl && strncasecmp(params, name, nl) == 0) {
			size_t vl = eq ? n - kl - 1 : 0;

			if (vl >= size)
				return -1;
			memcpy(val, eq ? eq + 1 : "", vl);
			val[vl] = '\0';
			return 1;
		}
		params += n;
		while (*params == ' ')
			params++;
	}
	return 0;
}

int smtp_parse_bdat(const char *arg, size_t *n, int *last)
{
	size_t digits = strspn(arg, "0123456789");
	const char *rest = arg + digits;

	if (digits == 0 || digits > 18)
		return -1;
	*n = 0;
	for (size_t i = 0; i < digits; i++)
		*n = *n * 10 + (size_t)(arg[i] - '0');
	*last = 0;
	if (*rest == '\0')
		return 0;
	if (strcasecmp(rest, " LAST") == 0) {
		*last = 1;
		return 0;
	}
	return -1;
}

int smtp_b64_decode(unsigned char *out, size_t size, const char *text)
{
	size_t n = strlen(text), pad = 0;
	unsigned char *tmp;
	int m;

	if (n % 4 != 0 || n / 4 * 3 > size || n > 4 * (size_t)(1 << 20))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char c = text[i];

		if (c == '=') {
			if (i < n - 2 || (i == n - 2 && text[n - 1] != '='))
				return -1;
			pad++;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			return -1;
		}
	}
	if (n == 0)
		return 0;
	tmp = malloc(n / 4 * 3 + 1);
	if (tmp == NULL)
		return -1;
	m = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)n);
	if (m < 0 || (size_t)m < pad) {
		OPENSSL_clear_free(tmp, n / 4 * 3 + 1);
		return -1;
	}
	m -= (int)pad;
	memcpy(out, tmp, (size_t)m);
	OPENSSL_clear_free(tmp, n / 4 * 3 + 1);
	return m;
}

int smtp_auth_plain(const char *b64, char *user, size_t usize, char *pass,
		    size_t psize)
{
	unsigned char buf[1024];
	const char *z, *u, *w;
	size_t zl, ul, wl;
	int n = smtp_b64_decode(buf, sizeof(buf), b64);
	int rc = -1;

	if (n < 2)
		goto out;
	z = (const char *)buf;
	zl = strnlen(z, (size_t)n);
	if (zl + 1 >= (size_t)n)
		goto out;
	u = z + zl + 1;
	ul = strnlen(u, (size_t)n - zl - 1);
	if (zl + ul + 2 > (size_t)n)
		goto out;
	w = u + ul + 1;
	wl = (size_t)n - zl - ul - 2;
	if (memchr(w, '\0', wl) != NULL || ul == 0 || ul >= usize ||
	    wl >= psize || (zl > 0 && (zl != ul || memcmp(z, u, ul) != 0)))
		goto out;
	memcpy(user, u, ul);
	user[ul] = '\0';
	memcpy(pass, w, wl);
	pass[wl] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int smtp_message_id(char *out, size_t size, const char *msg, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *line = msg + i, *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i, k = n;

		if (k > 0 && line[k - 1] == '\r')
			k--;
		if (k == 0)
			return 0; /* the end of the header */
		if (k >= 11 && strncasecmp(line, "Message-ID:", 11) == 0) {
			const char *v = line + 11;
			size_t vl = k - 11;

			while (vl > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl > 0 &&
			       (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl == 0 || vl >= size)
				return 0;
			for (size_t j = 0; j < vl; j++)
				if ((unsigned char)v[j] < 0x20 ||
				    (unsigned char)v[j] > 0x7e)
					return 0;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 1;
		}
		if (nl == NULL)
			break;
		i += n + 1;
	}
	return 0;
}
