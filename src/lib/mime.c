/*
 * mime.c - the bounded splitter for the parts of MIME that S/MIME needs
 * byte-exactly: where a header block ends, where the parts of a
 * multipart/signed begin and end, and the bytes of a body.  A signature
 * covers exact bytes, and a serialiser may change them, so these slices
 * point into the caller's buffer.  Header field values (Content-Type
 * parameters, address lists) are interpreted by GMime.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "internal.h"

static size_t line_end(const char *p, size_t len, size_t i, size_t *next)
{
	const char *nl = memchr(p + i, '\n', len - i);
	size_t e;

	if (nl == NULL) {
		*next = len;
		return len;
	}
	e = (size_t)(nl - p);
	*next = e + 1;
	if (e > i && p[e - 1] == '\r')
		e--;
	return e;
}

static int is_field_line(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != ':') {
		unsigned char c = (unsigned char)p[i];

		if (c <= ' ' || c >= 127)
			return 0;
		i++;
	}
	return i > 0 && i < n;
}

int ll_mime_split(struct ll_entity *e, const char *p, size_t len,
		  struct ll_error *err)
{
	size_t i = 0, next, end, fields = 0;

	memset(e, 0, sizeof(*e));
	e->all.p = p;
	e->all.len = len;
	e->nl = "\r\n";
	if (len > LL_MSG_MAX_SIZE)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
			      "message larger than %u bytes", LL_MSG_MAX_SIZE);
	/* an mbox separator line is not part of the message */
	if (len >= 5 && memcmp(p, "From ", 5) == 0) {
		line_end(p, len, 0, &i);
		e->all.p = p + i;
		e->all.len = len - i;
	}
	{
		const char *nl = memchr(p + i, '\n', len - i);

		if (nl != NULL && !(nl > p + i && nl[-1] == '\r'))
			e->nl = "\n";
	}
	e->hdr.p = p + i;
	while (i < len) {
		end = line_end(p, len, i, &next);
		if (end == i) {		/* the blank line */
			e->hdr.len = (size_t)(p + i - e->hdr.p);
			e->body.p = p + next;
			e->body.len = len - next;
			goto check;
		}
		if (p[i] == ' ' || p[i] == '\t') {
			if (i == (size_t)(e->hdr.p - p))
				return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
					      "header begins with a continuation line");
		} else if (!is_field_line(p + i, end - i)) {
			return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
				      "line %zu bytes into the header is not a header field",
				      (size_t)(p + i - e->hdr.p));
		}
		if (p[i] != ' ' && p[i] != '\t' && ++fields > LL_MSG_MAX_FIELDS)
			return ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
				      "more than %u header fields",
				      LL_MSG_MAX_FIELDS);
		if ((size_t)(p + next - e->hdr.p) > LL_MSG_MAX_HEADER)
			return ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
				      "header block larger than %u bytes",
				      LL_MSG_MAX_HEADER);
		i = next;
	}
	/* no blank line: all header, empty body */
	e->hdr.len = (size_t)(p + len - e->hdr.p);
	e->body.p = p + len;
	e->body.len = 0;
check:
	if (e->hdr.len == 0)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "no header fields");
	return 0;
}

int ll_mime_next_field(const struct ll_slice *hdr, size_t *pos,
		       struct ll_field *f)
{
	const char *p = hdr->p;
	size_t len = hdr->len, i = *pos, next, end, colon;

	if (i >= len)
		return 0;
	memset(f, 0, sizeof(*f));
	f->raw.p = p + i;
	end = line_end(p, len, i, &next);
	colon = i;
	while (colon < end && p[colon] != ':')
		colon++;
	f->name.p = p + i;
	f->name.len = colon - i;
	f->value.p = p + (colon < end ? colon + 1 : end);
	while (next < len && (p[next] == ' ' || p[next] == '\t'))
		end = line_end(p, len, next, &next);
	f->value.len = (size_t)(p + end - f->value.p);
	f->raw.len = (size_t)(p + next - f->raw.p);
	*pos = next;
	return 1;
}

int ll_field_is(const struct ll_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name.len == n && strncasecmp(f->name.p, name, n) == 0;
}

static char *unfold(const struct ll_slice *v)
{
	char *s = malloc(v->len + 1), *o = s;
	size_t i = 0, n = v->len;

	if (s == NULL)
		return NULL;
	while (i < n && (v->p[i] == ' ' || v->p[i] == '\t'))
		i++;
	for (; i < n; i++) {
		if (v->p[i] == '\r' || v->p[i] == '\n')
			continue;
		*o++ = v->p[i] == '\0' ? ' ' : v->p[i];
	}
	while (o > s && (o[-1] == ' ' || o[-1] == '\t'))
		o--;
	*o = '\0';
	return s;
}

char *ll_mime_get(const struct ll_slice *hdr, const char *name)
{
	struct ll_field f;
	size_t pos = 0;

	while (ll_mime_next_field(hdr, &pos, &f))
		if (ll_field_is(&f, name))
			return unfold(&f.value);
	return NULL;
}

size_t ll_mime_count(const struct ll_slice *hdr, const char *name)
{
	struct ll_field f;
	size_t pos = 0, n = 0;

	while (ll_mime_next_field(hdr, &pos, &f))
		if (ll_field_is(&f, name))
			n++;
	return n;
}

static int copy_lower(char *dst, size_t cap, const char *src, int lower)
{
	size_t n;

	if (src == NULL) {
		dst[0] = '\0';
		return 0;
	}
	n = strlen(src);
	if (n >= cap)
		return -1;
	for (size_t i = 0; i <= n; i++)
		dst[i] = lower ? (char)tolower((unsigned char)src[i]) : src[i];
	return 0;
}

/* RFC 8551 3.2.1: an application/octet-stream S/MIME part may name
 * itself only in Content-Disposition's filename. */
static void disposition_filename(struct ll_ctype *ct,
				 const struct ll_slice *hdr)
{
	char *v = ll_mime_get(hdr, "Content-Disposition");
	GMimeContentDisposition *d;

	if (v == NULL)
		return;
	d = g_mime_content_disposition_parse(NULL, v);
	if (d != NULL) {
		copy_lower(ct->name, sizeof(ct->name),
			   g_mime_content_disposition_get_parameter(d,
								    "filename"),
			   1);
		g_object_unref(d);
	}
	free(v);
}

/*
 * The last Content-Type values this thread parsed, and what came of
 * them: a bridge opens message after message of the same few forms
 * ("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"),
 * and GMime's parser was 7% of opening a 4 KiB message.  Keyed by the
 * whole unfolded value; only values that parsed are kept, and what
 * depends on the rest of the header (disposition_filename) is not.
 */
#define CTYPE_MEMO 4
#define CTYPE_MEMO_LEN 256

struct ctype_memo {
	char v[CTYPE_MEMO_LEN]; /* "" when unused */
	struct ll_ctype ct;
};

static __thread struct ctype_memo ctype_memo[CTYPE_MEMO];
static __thread unsigned ctype_memo_next;

static const struct ll_ctype *ctype_recall(const char *v)
{
	for (size_t i = 0; i < CTYPE_MEMO; i++)
		if (ctype_memo[i].v[0] != '\0' &&
		    strcmp(ctype_memo[i].v, v) == 0)
			return &ctype_memo[i].ct;
	return NULL;
}

static void ctype_remember(const char *v, const struct ll_ctype *ct)
{
	struct ctype_memo *m = &ctype_memo[ctype_memo_next++ % CTYPE_MEMO];
	size_t n = strlen(v);

	if (n == 0 || n >= sizeof(m->v))
		return;
	memcpy(m->v, v, n + 1);
	m->ct = *ct;
}

int ll_mime_ctype(struct ll_ctype *ct, const struct ll_slice *hdr,
		  struct ll_error *err)
{
	const struct ll_ctype *known;
	GMimeContentType *g = NULL;
	char *v = NULL;
	int rc = 0;

	memset(ct, 0, sizeof(*ct));
	if (ll_mime_count(hdr, "Content-Type") > 1)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "more than one Content-Type field");
	v = ll_mime_get(hdr, "Content-Type");
	if (v == NULL) {
		strcpy(ct->type, "text");
		strcpy(ct->subtype, "plain");
		return 0;
	}
	known = ctype_recall(v);
	if (known != NULL) {
		*ct = *known;
		goto name;
	}
	ll_gmime_init();
	g = g_mime_content_type_parse(NULL, v);
	if (g == NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "unparsable Content-Type");
		goto out;
	}
	if (copy_lower(ct->type, sizeof(ct->type),
		       g_mime_content_type_get_media_type(g), 1) < 0 ||
	    copy_lower(ct->subtype, sizeof(ct->subtype),
		       g_mime_content_type_get_media_subtype(g), 1) < 0 ||
	    copy_lower(ct->boundary, sizeof(ct->boundary),
		       g_mime_content_type_get_parameter(g, "boundary"), 0) < 0 ||
	    copy_lower(ct->protocol, sizeof(ct->protocol),
		       g_mime_content_type_get_parameter(g, "protocol"), 1) < 0 ||
	    copy_lower(ct->smime_type, sizeof(ct->smime_type),
		       g_mime_content_type_get_parameter(g, "smime-type"), 1) < 0 ||
	    copy_lower(ct->name, sizeof(ct->name),
		       g_mime_content_type_get_parameter(g, "name"), 1) < 0 ||
	    copy_lower(ct->hp, sizeof(ct->hp),
		       g_mime_content_type_get_parameter(g, "hp"), 1) < 0)
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "Content-Type parameter too long");
	if (rc < 0)
		goto out;
	ctype_remember(v, ct);
name:
	if (ct->name[0] == '\0')
		disposition_filename(ct, hdr);
out:
	if (g != NULL)
		g_object_unref(g);
	free(v);
	return rc;
}

/*
 * Does a delimiter line for BOUNDARY start at p[i]?  Sets *close for
 * "--boundary--" and *next to the byte after the line.
 */
static int is_delim(const char *p, size_t len, size_t i, const char *b,
		    size_t blen, int *close, size_t *next)
{
	size_t j = i + 2 + blen;

	if (len - i < 2 + blen || p[i] != '-' || p[i + 1] != '-' ||
	    memcmp(p + i + 2, b, blen) != 0)
		return 0;
	*close = 0;
	if (len - j >= 2 && p[j] == '-' && p[j + 1] == '-') {
		*close = 1;
		j += 2;
	}
	while (j < len && (p[j] == ' ' || p[j] == '\t'))
		j++;
	if (j < len && p[j] == '\r')
		j++;
	if (j < len && p[j] != '\n')
		return 0;
	*next = j < len ? j + 1 : len;
	return 1;
}

int ll_mime_parts(struct ll_slice *parts, size_t max, size_t *n,
		  const struct ll_slice *body, const char *boundary,
		  struct ll_error *err)
{
	const char *p = body->p;
	size_t len = body->len, blen = strlen(boundary), i = 0, next;
	size_t start = 0;
	int in_part = 0, close = 0;
	char dash[2 + 70];

	*n = 0;
	if (blen == 0 || blen > 70)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "multipart boundary missing or longer than 70");
	dash[0] = dash[1] = '-';
	memcpy(dash + 2, boundary, blen);
	while (i < len) {
		const char *hit = memmem(p + i, len - i, dash, blen + 2);

		if (hit == NULL)
			break;
		i = (size_t)(hit - p);
		/* a delimiter starts a line */
		if ((i > 0 && p[i - 1] != '\n') ||
		    !is_delim(p, len, i, boundary, blen, &close, &next)) {
			i++;
			continue;
		}
		if (in_part) {
			size_t end = i;

			/* the line end before a delimiter is its own */
			if (end > start && p[end - 1] == '\n')
				end--;
			if (end > start && p[end - 1] == '\r')
				end--;
			if (*n == max)
				return ll_err(err, LL_EPOLICY, LL_ECLASS_MIME,
					      "more than %zu body parts", max);
			parts[*n].p = p + start;
			parts[*n].len = end - start;
			(*n)++;
		}
		if (close)
			return 0;
		in_part = 1;
		start = next;
		i = next;
	}
	return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
		      "multipart without its closing boundary (truncated?)");
}

int ll_mime_decode_body(struct ll_buf *out, const struct ll_entity *e,
			struct ll_error *err)
{
	char *cte = ll_mime_get(&e->hdr, "Content-Transfer-Encoding");
	int rc = 0;

	/* the mechanism is one token: "base64 (comment)" is base64 */
	if (cte != NULL)
		cte[strcspn(cte, " \t(;")] = '\0';

	if (cte != NULL && strcasecmp(cte, "base64") == 0) {
		size_t n = 0;

		rc = ll_buf_reserve(out, e->body.len / 4 * 3 + 3);
		if (rc == 0 && ll_b64_decode_into((unsigned char *)out->p +
							  out->len,
						  &n, e->body.p,
						  e->body.len) < 0)
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
				    "invalid base64 body (truncated or corrupt)");
		if (rc == 0)
			out->len += n;
	} else if (cte == NULL || strcasecmp(cte, "7bit") == 0 ||
		   strcasecmp(cte, "8bit") == 0 ||
		   strcasecmp(cte, "binary") == 0) {
		rc = ll_buf_add(out, e->body.p, e->body.len);
	} else {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "unsupported Content-Transfer-Encoding for S/MIME: %.40s",
			    cte);
	}
	free(cte);
	return rc;
}

int ll_has_bare_lf(const char *p, size_t n)
{
	return ll_bare_lf(p, n) < n;
}

int ll_crlf_add(struct ll_buf *out, const char *p, size_t n)
{
	BIO *b;
	int rc = ll_buf_reserve(out, n + n / 32);

	if (rc < 0)
		return rc;
	b = ll_bio_buf_new(out);
	if (b == NULL)
		return LL_ENOMEM;
	rc = ll_bio_put_crlf(b, p, n);
	BIO_free(b);
	return rc;
}
