/* header.c - fields of a message given to `letterlock send` (header.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"

/* The line at P (up to END): its length with the line end in *full;
 * 1 if it is empty (the end of the header). */
static int next_line(const char *p, const char *end, size_t *full)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	*full = n + (nl ? 1 : 0);
	return n == 0 || (n == 1 && p[0] == '\r');
}

/* 1 if the line at P (of LEN bytes) starts a field NAME. */
static int is_field(const char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(p, name, n) != 0)
		return 0;
	for (p += n, len -= n; len > 0 && (*p == ' ' || *p == '\t'); len--)
		p++;
	return len > 0 && *p == ':';
}

static int is_continuation(const char *p, size_t len)
{
	return len > 0 && (p[0] == ' ' || p[0] == '\t');
}

int header_has(const char *msg, size_t len, const char *name)
{
	const char *p = msg, *end = msg + len;
	size_t n;

	while (p < end && !next_line(p, end, &n)) {
		if (is_field(p, n, name))
			return 1;
		p += n;
	}
	return 0;
}

int header_edit(char **out, size_t *outlen, const char *msg, size_t len,
		const char *drop, const char *const *add, size_t nadd)
{
	const char *p = msg, *end = msg + len, *eol;
	size_t n, extra = 0, at = 0;
	int dropping = 0;
	char *buf;

	*out = NULL;
	eol = memchr(msg, '\n', len);
	eol = eol != NULL && eol > msg && eol[-1] == '\r' ? "\r\n" : "\n";
	for (size_t i = 0; i < nadd; i++)
		extra += strlen(add[i]) + strlen(eol);
	buf = malloc(len + extra + strlen(eol) + 1); /* + a line end */
	if (buf == NULL)
		return -1;
	while (p < end && !next_line(p, end, &n)) {
		if (!is_continuation(p, n))
			dropping = drop != NULL && is_field(p, n, drop);
		if (!dropping) {
			memcpy(buf + at, p, n);
			at += n;
			/* a last header line without its line end */
			if (p + n == end && p[n - 1] != '\n') {
				memcpy(buf + at, eol, strlen(eol));
				at += strlen(eol);
			}
		}
		p += n;
	}
	for (size_t i = 0; i < nadd; i++) {
		memcpy(buf + at, add[i], strlen(add[i]));
		at += strlen(add[i]);
		memcpy(buf + at, eol, strlen(eol));
		at += strlen(eol);
	}
	memcpy(buf + at, p, (size_t)(end - p));
	at += (size_t)(end - p);
	buf[at] = '\0';
	*out = buf;
	*outlen = at;
	return 0;
}
