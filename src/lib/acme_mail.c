/*
 * acme_mail.c - the challenge by mail (RFC 8823 section 3): is a mail
 * the CA's genuine challenge (S/MIME signature under the CA's root,
 * From, the token in the Subject), and the response mail to send back.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "acme_internal.h"

/* S without the white space (SP, HTAB) around it: *len octets from
 * the pointer returned. */
static const char *trim_wsp(const char *s, size_t *len)
{
	const char *e = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*len = (size_t)(e - s);
	return s;
}

/* "ACME: TOKEN" (white space around, any case of "ACME"); TOKEN out. */
static int subject_token(char **out, const char *subject)
{
	const char *s;
	size_t n;

	*out = NULL;
	s = trim_wsp(subject, &n);
	if (strncasecmp(s, "ACME:", 5) != 0)
		return -1;
	s = trim_wsp(s + 5, &n);
	if (n == 0 || n > LL_ACME_MAX_TOKEN)
		return -1;
	*out = strndup(s, n);
	if (*out == NULL || !ll_acme_b64url_ok(*out, LL_ACME_MAX_TOKEN)) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* A msg-id we can echo: "<...>", printable ASCII, no white space. */
static char *clean_msgid(const char *v)
{
	size_t n;
	const char *s = trim_wsp(v, &n);

	if (n < 3 || n > LL_ACME_MSGID_MAX || s[0] != '<' || s[n - 1] != '>')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return NULL;
	return strndup(s, n);
}

/*
 * The value of the first field NAME of HDR, unfolded (RFC 5322 2.2.3: a
 * line end followed by white space is taken out), into *out (malloc'd;
 * NULL when there is no such field).  -1 when the value holds a CR, LF
 * or NUL that is not part of a fold: its text is not what any reader
 * would agree on.
 */
static int field_unfolded(char **out, const struct ll_slice *hdr,
			  const char *name)
{
	const struct ll_slice *v;
	struct ll_field f;
	size_t pos = 0;
	char *o;

	*out = NULL;
	do {
		if (!ll_mime_next_field(hdr, &pos, &f))
			return 0;
	} while (!ll_field_is(&f, name));
	v = &f.value;
	*out = malloc(v->len + 1);
	if (*out == NULL)
		return LL_ENOMEM;
	o = *out;
	for (size_t i = 0; i < v->len; i++) {
		char c = v->p[i];

		if (c == '\r' && i + 1 < v->len && v->p[i + 1] == '\n')
			c = v->p[++i];
		if (c == '\n' && i + 1 < v->len &&
		    (v->p[i + 1] == ' ' || v->p[i + 1] == '\t'))
			continue;
		if (c == '\r' || c == '\n' || c == '\0') {
			free(*out);
			*out = NULL;
			return -1;
		}
		*o++ = c;
	}
	*o = '\0';
	return 0;
}

int ll_acme_mail_check(char **token1, char **msgid, struct ll_ctx *ctx,
		       const char *msg, size_t len, const char *from,
		       struct ll_error *err)
{
	struct ll_opened *o = NULL;
	const struct ll_open_status *st;
	struct ll_mailbox want, got;
	struct ll_entity e;
	char **addrs = NULL, *subject = NULL, *mid = NULL, *tok = NULL;
	const char *data;
	size_t dlen;
	int rc;

	*token1 = NULL;
	*msgid = NULL;
	rc = ll_mailbox_parse(&want, from, strlen(from), err);
	if (rc < 0)
		goto out;
	rc = ll_msg_open(&o, ctx, msg, len, err);
	if (rc == LL_ENOKEY || rc == LL_EDECRYPT) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "encrypted, not a challenge");
		goto out;
	}
	if (rc < 0)
		goto out;
	st = ll_opened_status(o);
	if (!st->is_signed) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "not signed with S/MIME");
		goto out;
	}
	if (st->signature != LL_SIG_VALID || !st->signer_matches_from) {
		const char *why = st->nerrors > 0 ? st->errors[0] : "";

		if (strncmp(why, "signature: ", 11) == 0)
			why += 11;
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "signature %s%s%s",
			    ll_sig_state_name(st->signature),
			    why[0] ? ": " : "", why);
		goto out;
	}
	data = ll_opened_data(o, &dlen);
	rc = ll_msg_addresses(&addrs, data, dlen, LL_ADDR_FROM, err);
	if (rc < 0)
		goto out;
	if (addrs[0] == NULL || addrs[1] != NULL ||
	    ll_mailbox_parse(&got, addrs[0], strlen(addrs[0]), NULL) < 0 ||
	    strcmp(got.addr, want.addr) != 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "From is not %s",
			    want.addr);
		goto out;
	}
	rc = ll_mime_split(&e, data, dlen, err);
	if (rc < 0)
		goto out;
	if (ll_mime_count(&e.hdr, "Subject") != 1) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "not one Subject field");
		goto out;
	}
	rc = field_unfolded(&subject, &e.hdr, "Subject");
	if (rc == LL_ENOMEM) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	if (rc < 0 || subject_token(&tok, subject) < 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the Subject is not \"ACME: \" and a token");
		goto out;
	}
	/* a Message-ID that is not one clean msg-id: no reference */
	if (ll_mime_count(&e.hdr, "Message-ID") == 1 &&
	    field_unfolded(&mid, &e.hdr, "Message-ID") == 0 && mid != NULL)
		*msgid = clean_msgid(mid);
	*token1 = tok;
	tok = NULL;
	rc = 0;
out:
	ll_opened_free(&o);
	ll_strv_free(&addrs);
	free(subject);
	free(mid);
	free(tok);
	return rc;
}

static void mail_date(char *buf, size_t len)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec" };
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int ll_acme_mail_response(char **out, size_t *len, const char *address,
			  const char *to, const char *token1, const char *msgid,
			  const char *digest, struct ll_error *err)
{
	struct ll_mailbox me, them;
	struct ll_buf b = { 0 };
	unsigned char rnd[16];
	char date[64], id[40];
	char *clean = NULL;
	const char *dom;
	int rc;

	*out = NULL;
	*len = 0;
	rc = ll_mailbox_parse(&me, address, strlen(address), err);
	if (rc == 0)
		rc = ll_mailbox_parse(&them, to, strlen(to), err);
	if (rc < 0)
		return rc;
	if (!ll_acme_b64url_ok(token1, LL_ACME_MAX_TOKEN) ||
	    strlen(digest) != LL_JWK_THUMBPRINT_LEN ||
	    !ll_acme_b64url_ok(digest, LL_JWK_THUMBPRINT_LEN))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "a token or digest that is not base64url");
	if (msgid != NULL) {
		clean = clean_msgid(msgid);
		if (clean == NULL || strcmp(clean, msgid) != 0) {
			free(clean);
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "not a Message-ID we can refer to");
		}
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(clean);
		return ll_err_ossl(err, LL_ECRYPTO, "random");
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	mail_date(date, sizeof(date));
	dom = strrchr(me.addr, '@') + 1;
	rc = ll_buf_addf(&b,
			 "Date: %s\r\n"
			 "From: %s\r\n"
			 "To: %s\r\n"
			 "Subject: RE: ACME: %s\r\n"
			 "Message-ID: <%s@%s>\r\n",
			 date, me.addr, them.addr, token1, id, dom);
	if (rc == 0 && clean != NULL)
		rc = ll_buf_addf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n",
				 clean, clean);
	if (rc == 0)
		rc = ll_buf_addf(
			&b,
			"MIME-Version: 1.0\r\n"
			"Content-Type: text/plain; charset=us-ascii\r\n"
			"Content-Transfer-Encoding: 7bit\r\n"
			"\r\n"
			"-----BEGIN ACME RESPONSE-----\r\n"
			"%s\r\n"
			"-----END ACME RESPONSE-----\r\n",
			digest);
	free(clean);
	if (rc < 0) {
		ll_buf_free(&b);
		return ll_acme_nomem(err);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
