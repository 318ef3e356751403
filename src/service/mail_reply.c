/*
 * mail_reply.c - the RFC 8823 response email as letterlockd reads it
 * (lld_reply_parse) and the rules it must pass to prove control of a
 * mailbox (lld_reply_judge).
 *
 * The reply is untrusted network input.  Its header block, body parts
 * and bodies are found by libletterlock's bounded splitter (mime.c);
 * From and Subject values are interpreted by GMime (msg_addr.c).  The
 * response block is looked for only in the first text/plain part, so
 * a response quoted inside an attachment or an HTML part is not one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <openssl/crypto.h>

#include <letterlock/ca.h>
#include <letterlock/jose.h>

#include "internal.h"
#include "mail.h"
#include "service.h"

#define BEGIN_LINE "-----BEGIN ACME RESPONSE-----"
#define END_LINE "-----END ACME RESPONSE-----"
#define REPLY_MAX_DEPTH 4 /* nested multiparts looked into */
#define REPLY_MAX_PARTS 64 /* body parts of one multipart */

#define PROBLEM_UNAUTHORIZED "urn:ietf:params:acme:error:unauthorized"
#define PROBLEM_INCORRECT "urn:ietf:params:acme:error:incorrectResponse"

static int is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* ---- header fields ---- */

/* The From value V names exactly one mailbox, and nothing in it shows
 * another address: fill R->from and R->from_domain. */
static void take_from(struct lld_reply *r, const char *v)
{
	char **list = NULL, canon[LLD_EMAIL_MAX + 1];
	const char *at;
	size_t n, cat;

	if (!ll_addr_single_mailbox(v))
		return;
	if (ll_addr_parse_list(&list, v, NULL) < 0)
		return;
	if (list[0] == NULL || list[1] != NULL)
		goto out;
	n = strlen(list[0]);
	at = strrchr(list[0], '@');
	if (n > LLD_EMAIL_MAX || at == NULL || at == list[0] || at[1] == '\0')
		goto out;
	if (ll_addr_shows_other(v, list[0]))
		goto out;
	memcpy(r->from, list[0], n + 1);
	memcpy(r->from_domain, at + 1, strlen(at + 1) + 1);
	/* DKIM's d= is in A-labels (RFC 8616 4): so is the domain the
	 * signature must come from, whichever form From uses */
	if (ll_ca_mailbox_canonical(canon, sizeof(canon), &cat, list[0],
				    NULL) == 0)
		memcpy(r->from_domain, canon + cat + 1,
		       strlen(canon + cat + 1) + 1);
out:
	ll_strv_free(&list);
}

/* The token of an unfolded, decoded Subject: "ACME: token" with an
 * optional "Re:" in front, white space around the parts. */
static int subject_token(struct lld_reply *r, const char *s)
{
	size_t n;

	while (is_wsp((unsigned char)*s))
		s++;
	if (strncasecmp(s, "re:", 3) == 0) {
		s += 3;
		while (is_wsp((unsigned char)*s))
			s++;
	}
	if (strncmp(s, "ACME:", 5) != 0)
		return -1;
	s += 5;
	while (is_wsp((unsigned char)*s))
		s++;
	for (n = 0; is_b64url((unsigned char)s[n]); n++)
		if (n == LLD_TOKEN_MAX)
			return -1;
	if (n == 0)
		return -1;
	for (size_t i = n; s[i] != '\0'; i++)
		if (!is_wsp((unsigned char)s[i]))
			return -1;
	memcpy(r->token1, s, n);
	r->token1[n] = '\0';
	return 0;
}

static int read_subject(struct lld_reply *r, const struct ll_slice *hdr,
			struct ll_error *err)
{
	char *raw = NULL, *dec = NULL;
	int rc;

	if (ll_mime_count(hdr, "Subject") != 1)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "the reply does not have exactly one Subject");
	raw = ll_mime_get(hdr, "Subject");
	if (raw == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	ll_gmime_init();
	dec = g_mime_utils_header_decode_text(NULL, raw);
	rc = subject_token(r, dec != NULL ? dec : raw);
	if (rc < 0)
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "the Subject is not \"ACME: <token>\"");
	g_free(dec);
	free(raw);
	return rc;
}

static int read_fields(struct lld_reply *r, const struct ll_slice *hdr,
		       struct ll_error *err)
{
	struct ll_field f;
	size_t pos = 0;
	char *from;

	while (ll_mime_next_field(hdr, &pos, &f)) {
		if (ll_field_is(&f, "From"))
			r->from_count++;
		else if (f.name.len > 5 &&
			 strncasecmp(f.name.p, "List-", 5) == 0)
			r->has_list_header = 1;
	}
	if (r->from_count == 1) {
		from = ll_mime_get(hdr, "From");
		if (from == NULL)
			return ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
				      "out of memory");
		take_from(r, from);
		free(from);
	}
	return read_subject(r, hdr, err);
}

/* ---- the body ---- */

/* Append the body of E decoded per its Content-Transfer-Encoding. */
static int decode_body(struct ll_buf *out, const struct ll_entity *e,
		       struct ll_error *err)
{
	char *cte = ll_mime_get(&e->hdr, "Content-Transfer-Encoding");
	int rc, state = 0;
	guint32 save = 0;
	size_t n;

	if (cte != NULL)
		cte[strcspn(cte, " \t(;")] = '\0';
	if (cte == NULL || strcasecmp(cte, "quoted-printable") != 0) {
		free(cte);
		return ll_mime_decode_body(out, e, err);
	}
	free(cte);
	/* quoted-printable never grows */
	rc = ll_buf_reserve(out, e->body.len + 1);
	if (rc < 0)
		return ll_err(err, rc, LL_ECLASS_OS, "out of memory");
	ll_gmime_init();
	n = g_mime_encoding_quoted_decode_step(
		(const unsigned char *)e->body.p, e->body.len,
		(unsigned char *)out->p + out->len, &state, &save);
	out->len += n;
	return 0;
}

/* One body part of a multipart: its header may be empty (the part
 * begins with the blank line; then it is text/plain). */
static int split_part(struct ll_entity *e, const struct ll_slice *part,
		      struct ll_error *err)
{
	size_t skip = 0;

	if (part->len >= 1 && part->p[0] == '\n')
		skip = 1;
	else if (part->len >= 2 && part->p[0] == '\r' && part->p[1] == '\n')
		skip = 2;
	if (skip == 0)
		return ll_mime_split(e, part->p, part->len, err);
	memset(e, 0, sizeof(*e));
	e->all = *part;
	e->hdr.p = part->p;
	e->hdr.len = 0;
	e->body.p = part->p + skip;
	e->body.len = part->len - skip;
	e->nl = skip == 1 ? "\n" : "\r\n";
	return 0;
}

/* The first text/plain leaf of E, depth first, decoded into OUT:
 * 1 found, 0 none, or an error. */
static int first_text(struct ll_buf *out, const struct ll_entity *e, int depth,
		      struct ll_error *err)
{
	struct ll_slice parts[REPLY_MAX_PARTS];
	struct ll_entity pe;
	struct ll_ctype ct;
	size_t n = 0;
	int rc;

	rc = ll_mime_ctype(&ct, &e->hdr, err);
	if (rc < 0)
		return rc;
	if (strcmp(ct.type, "multipart") == 0) {
		if (depth >= REPLY_MAX_DEPTH)
			return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
				      "multiparts nested too deep");
		rc = ll_mime_parts(parts, REPLY_MAX_PARTS, &n, &e->body,
				   ct.boundary, err);
		if (rc == LL_EPOLICY)
			return ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
				      "more than %d body parts",
				      REPLY_MAX_PARTS);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n; i++) {
			rc = split_part(&pe, &parts[i], err);
			if (rc < 0)
				return rc;
			rc = first_text(out, &pe, depth + 1, err);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	if (strcmp(ct.type, "text") != 0 || strcmp(ct.subtype, "plain") != 0)
		return 0;
	rc = decode_body(out, e, err);
	return rc < 0 ? rc : 1;
}

/* The digest between the BEGIN and END lines of P (N bytes): lines
 * compared without surrounding white space; the lines between hold
 * base64url characters only, joined. */
static int find_block(struct lld_reply *r, const char *p, size_t n,
		      struct ll_error *err)
{
	size_t i = 0, dn = 0;
	int in = 0;

	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t end = nl != NULL ? (size_t)(nl - p) : n;
		size_t next = nl != NULL ? end + 1 : n;
		size_t s = i, e = end;

		while (s < e && is_wsp((unsigned char)p[s]))
			s++;
		while (e > s && is_wsp((unsigned char)p[e - 1]))
			e--;
		if (!in) {
			in = e - s == strlen(BEGIN_LINE) &&
			     memcmp(p + s, BEGIN_LINE, e - s) == 0;
		} else if (e - s == strlen(END_LINE) &&
			   memcmp(p + s, END_LINE, e - s) == 0) {
			if (dn == 0)
				return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
					      "empty ACME response block");
			r->digest[dn] = '\0';
			return 0;
		} else {
			for (size_t k = s; k < e; k++) {
				if (!is_b64url((unsigned char)p[k]))
					return ll_err(
						err, LL_EPARSE, LL_ECLASS_MIME,
						"ACME response block holds other than base64url");
				if (dn + 1 >= sizeof(r->digest))
					return ll_err(err, LL_EPARSE,
						      LL_ECLASS_MIME,
						      "ACME response too long");
				r->digest[dn++] = p[k];
			}
		}
		i = next;
	}
	return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
		      in ? "ACME response block not closed" :
			   "no ACME response block in the reply");
}

int lld_reply_parse(struct lld_reply *r, const char *msg, size_t len,
		    struct ll_error *err)
{
	struct ll_buf text = { 0 };
	struct ll_entity e;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > LLD_REPLY_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
			      "reply larger than %d bytes", LLD_REPLY_MAX);
	rc = ll_mime_split(&e, msg, len, err);
	if (rc < 0)
		goto out;
	rc = read_fields(r, &e.hdr, err);
	if (rc < 0)
		goto out;
	rc = first_text(&text, &e, 0, err);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "no text/plain part in the reply");
		goto out;
	}
	rc = find_block(r, text.p, text.len, err);
out:
	ll_buf_free(&text);
	if (rc < 0) {
		/* nothing half-parsed leaves */
		int from_count = r->from_count;

		memset(r, 0, sizeof(*r));
		r->from_count = from_count;
	}
	return rc;
}

/* ---- judging ---- */

/*
 * Fill PROBLEM with the problem document of TYPE and the detail
 * formatted from FMT (printable ASCII kept, the rest made '?', JSON
 * escaped), ERR with the same detail; return CODE.
 */
static int refuse(char problem[LLD_PROBLEM_MAX + 1], struct ll_error *err,
		  int code, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int refuse(char problem[LLD_PROBLEM_MAX + 1], struct ll_error *err,
		  int code, const char *type, const char *fmt, ...)
{
	char detail[300], esc[2 * sizeof(detail)];
	size_t o = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (char *s = detail; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e)
			*s = '?';
		if (*s == '"' || *s == '\\')
			esc[o++] = '\\';
		esc[o++] = *s;
	}
	esc[o] = '\0';
	snprintf(problem, LLD_PROBLEM_MAX + 1,
		 "{\"type\":\"%s\",\"detail\":\"%s\"}", type, esc);
	return ll_err(err, code, LL_ECLASS_POLICY, "%s", detail);
}

/* A is B: the local parts byte for byte, the domains up to case and
 * to IDNA form: a reply from 李四@例子.中国 answers a challenge to
 * 李四@xn--fsqu00a.xn--fiqs8s (the canonical form the CA keeps). */
static int same_mailbox(const char *a, const char *b)
{
	char ca[LLD_EMAIL_MAX + 1], cb[LLD_EMAIL_MAX + 1];

	if (ll_ca_mailbox_canonical(ca, sizeof(ca), NULL, a, NULL) < 0 ||
	    ll_ca_mailbox_canonical(cb, sizeof(cb), NULL, b, NULL) < 0)
		return 0;
	return strcmp(ca, cb) == 0;
}

static int same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

int lld_reply_judge(const struct lld_reply *r, const char *msg, size_t len,
		    const struct lld_chall *c, const struct lld_conf *conf,
		    time_t now, char problem[LLD_PROBLEM_MAX + 1],
		    struct ll_error *err)
{
	char want[LL_JWK_THUMBPRINT_LEN + 1];
	struct ll_error derr = { 0 };
	int rc;

	problem[0] = '\0';
	if (r->from[0] == '\0') {
		if (r->from_count != 1)
			return refuse(problem, err, LL_EPOLICY,
				      PROBLEM_UNAUTHORIZED,
				      "the reply has %d From fields, not one",
				      r->from_count);
		return refuse(problem, err, LL_EPOLICY, PROBLEM_UNAUTHORIZED,
			      "the reply's From is not one plain mailbox");
	}
	if (!same_mailbox(r->from, c->email))
		return refuse(problem, err, LL_EPOLICY, PROBLEM_UNAUTHORIZED,
			      "the reply is from %.100s, not from %.100s",
			      r->from, c->email);
	if (r->has_list_header)
		return refuse(problem, err, LL_EPOLICY, PROBLEM_UNAUTHORIZED,
			      "the reply came through a mailing list");
	if (now >= c->created && now - c->created >= LLD_CHALLENGE_TTL)
		return refuse(
			problem, err, LL_EPOLICY, PROBLEM_UNAUTHORIZED,
			"the reply came more than %d hours after the challenge",
			LLD_CHALLENGE_TTL / 3600);
	if (!same_secret(r->token1, c->token1))
		return refuse(problem, err, LL_EPOLICY, PROBLEM_UNAUTHORIZED,
			      "the reply names another challenge");
	rc = lld_dkim_verify(msg, len, r->from_domain,
			     conf != NULL ? conf->resolver_conf : NULL, &derr);
	if (rc < 0) {
		/* LL_EIO (DNS failed) stays LL_EIO: the caller may try
		 * again later rather than settle */
		return refuse(problem, err, rc == LL_EIO ? LL_EIO : LL_EPOLICY,
			      PROBLEM_UNAUTHORIZED, "DKIM: %s", derr.message);
	}
	rc = ll_acme_email_digest(want, c->token1, c->token2, c->thumbprint,
				  err);
	if (rc < 0)
		return rc;
	rc = same_secret(r->digest, want);
	OPENSSL_cleanse(want, sizeof(want));
	if (!rc)
		return refuse(
			problem, err, LL_EPOLICY, PROBLEM_INCORRECT,
			"the response digest does not match the challenge");
	return 0;
}
