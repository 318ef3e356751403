/*
 * imap_parse.c - the bounded, incremental IMAP unit reader
 * (imap_parse.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

#define KEEP_CAP 65536 /* a buffer larger than this is let go */

void imap_reader_init(struct imap_reader *r, size_t literal_max,
		      size_t unit_max)
{
	memset(r, 0, sizeof(*r));
	r->literal_max = literal_max;
	r->unit_max = unit_max;
	r->line_max = IMAP_LINE_MAX;
}

void imap_reader_free(struct imap_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

void imap_reader_next(struct imap_reader *r)
{
	if (r->cap > KEEP_CAP)
		imap_reader_free(r);
	r->len = 0;
	r->line_start = 0;
	r->literal_left = 0;
	r->in_literal = 0;
	r->done = 0;
	if (r->buf != NULL)
		r->buf[0] = '\0';
}

/* Room for N more bytes (and a NUL); N was checked against the caps. */
static int reserve(struct imap_reader *r, size_t n)
{
	size_t want = r->len + n + 1, cap = r->cap ? r->cap : 256;
	char *p;

	if (want <= r->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	if (cap > r->unit_max + 1)
		cap = want > r->unit_max + 1 ? want : r->unit_max + 1;
	p = realloc(r->buf, cap);
	if (p == NULL)
		return IMAP_ENOMEM;
	r->buf = p;
	r->cap = cap;
	return 0;
}

/* DATA[0..n) at the end of the unit (N checked against the caps). */
static int append(struct imap_reader *r, const char *data, size_t n)
{
	int rc = reserve(r, n);

	if (rc < 0)
		return rc;
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return 0;
}

int imap_literal_size(const char *line, size_t len, size_t *n, int *sync)
{
	size_t i, v = 0, digits = 0;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	i = len - 1;
	*sync = 1;
	if (line[i - 1] == '+') {
		*sync = 0;
		i--;
	}
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9') {
		i--;
		digits++;
	}
	if (digits == 0 || i == 0 || line[i - 1] != '{')
		return -1;
	/* more than 10 digits: over any cap (SIZE_MAX) */
	for (size_t k = 0; k < digits && digits <= 10; k++)
		v = v * 10 + (size_t)(line[i + k] - '0');
	*n = digits <= 10 ? v : SIZE_MAX;
	return 0;
}

int imap_reader_feed(struct imap_reader *r, const char *data, size_t len,
		     size_t *used)
{
	size_t i = 0;
	int rc;

	*used = 0;
	if (r->done)
		return IMAP_UNIT;
	while (i < len) {
		if (r->in_literal) {
			size_t k = len - i < r->literal_left ? len - i :
							       r->literal_left;

			rc = append(r, data + i, k);
			if (rc < 0)
				return rc;
			r->literal_left -= k;
			i += k;
			if (r->literal_left == 0) {
				r->in_literal = 0;
				r->line_start = r->len;
			}
			continue;
		}
		/* a line piece: up to LF */
		const char *lf = memchr(data + i, '\n', len - i);
		size_t k = lf != NULL ? (size_t)(lf - (data + i)) + 1 : len - i;
		size_t n, llen;
		int sync;

		if (r->len - r->line_start + k > r->line_max)
			return IMAP_ELINE;
		if (r->len + k > r->unit_max)
			return IMAP_EUNIT;
		rc = append(r, data + i, k);
		if (rc < 0)
			return rc;
		i += k;
		if (lf == NULL)
			break;
		llen = r->len - r->line_start - 1;
		if (llen > 0 && r->buf[r->line_start + llen - 1] == '\r')
			llen--;
		if (imap_literal_size(r->buf + r->line_start, llen, &n, &sync) <
		    0) {
			r->done = 1;
			*used = i;
			return IMAP_UNIT;
		}
		if (n > r->literal_max)
			return IMAP_ELITERAL;
		if (n > r->unit_max - r->len)
			return IMAP_EUNIT;
		if (n > 0) {
			r->in_literal = 1;
			r->literal_left = n;
		} else {
			r->line_start = r->len;
		}
		if (sync) {
			*used = i;
			return IMAP_SYNC;
		}
	}
	*used = i;
	return IMAP_MORE;
}

int imap_number(const char **p, const char *end, unsigned long *v)
{
	const char *q = *p;
	uint64_t n = 0;

	while (q < end && *q >= '0' && *q <= '9') {
		n = n * 10 + (uint64_t)(*q++ - '0');
		if (n > UINT32_MAX || q - *p > 10)
			return -1;
	}
	if (q == *p)
		return -1;
	*v = (unsigned long)n;
	*p = q;
	return 0;
}

int imap_arg(const char **p, const char *end, char *out, size_t size)
{
	const char *s = *p;
	size_t n = 0;

	if (s >= end || size == 0)
		return -1;
	if (*s == '"') {
		for (s++; s < end && *s != '"'; s++) {
			if (*s == '\\') {
				if (++s >= end || (*s != '\\' && *s != '"'))
					return -1;
			} else if (*s == '\r' || *s == '\n' || *s == '\0') {
				return -1;
			}
			if (n + 1 >= size)
				return -1;
			out[n++] = *s;
		}
		if (s >= end)
			return -1;
		s++;
	} else if (*s == '{') {
		const char *close = memchr(s, '}', (size_t)(end - s));
		size_t len;
		int sync;

		if (close == NULL ||
		    imap_literal_size(s, (size_t)(close - s) + 1, &len, &sync) <
			    0 ||
		    end - (close + 1) < 2 || close[1] != '\r' ||
		    close[2] != '\n')
			return -1;
		s = close + 3;
		if (len >= size || (size_t)(end - s) < len ||
		    memchr(s, '\0', len) != NULL)
			return -1;
		memcpy(out, s, len);
		n = len;
		s += len;
	} else {
		while (s < end && *s != ' ' && *s != '\r' && *s != '\n' &&
		       *s != '(' && *s != ')' && *s != '{' && *s != '"' &&
		       (unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f) {
			if (n + 1 >= size)
				return -1;
			out[n++] = *s++;
		}
		if (n == 0)
			return -1;
	}
	out[n] = '\0';
	if (s < end && *s == ' ')
		s++;
	*p = s;
	return 0;
}
