/*
 * imap_fetch.c - FETCH responses of S/MIME messages answered with the
 * opened message (imap_fetch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "imap_fetch.h"
#include "imap_parse.h"

#define STATUS_FIELD "X-Letterlock-Status:"

struct out {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *s, size_t n)
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

void imap_status_line(char *out, size_t size, const struct ll_open_status *st,
		      const char *why)
{
	if (st == NULL) {
		snprintf(out, size, STATUS_FIELD " not opened; %s", why);
		return;
	}
	snprintf(out, size,
		 STATUS_FIELD " %s%s%s; signature %s%s%s; timestamp %s%s",
		 st->encrypted ? "encrypted, decrypted" : "not encrypted",
		 st->cipher ? " " : "", st->cipher ? st->cipher : "",
		 st->is_signed ? ll_sig_state_name(st->signature) : "none",
		 st->signer[0] ? " by " : "", st->signer,
		 st->timestamp[0] ? st->timestamp : "none",
		 st->timestamp[0] ? (st->timestamp_trusted ?
					     " (trusted)" :
					     " (signing time, unverified)") :
				    "");
}

/* MSG with CRLF line ends and without the header's own status fields,
 * after LINE (the status) into O. */
static void put_message(struct out *o, const char *line, const char *msg,
			size_t len)
{
	int header = 1, dropping = 0;
	size_t i = 0;

	put(o, line, strlen(line));
	put(o, "\r\n", 2);
	while (i < len) {
		const char *lf = memchr(msg + i, '\n', len - i);
		size_t n = lf ? (size_t)(lf - (msg + i)) : len - i;
		size_t body = n > 0 && msg[i + n - 1] == '\r' ? n - 1 : n;

		if (header) {
			if (body == 0)
				header = 0;
			else if (msg[i] != ' ' && msg[i] != '\t')
				dropping = body >= strlen(STATUS_FIELD) &&
					   strncasecmp(msg + i, STATUS_FIELD,
						       strlen(STATUS_FIELD)) ==
						   0;
		}
		if (!(header && dropping)) {
			put(o, msg + i, body);
			if (lf != NULL)
				put(o, "\r\n", 2);
		}
		i += n + (lf != NULL);
	}
}

int imap_opener_ready(struct imap_opener *o)
{
	if (o->ready)
		return 0;
	struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;
	struct ll_error err = { 0 };

	if (cli_open_home(&o->ks, &o->ctx, o->cli, CLI_LOAD_CERTS) != 0 ||
	    cli_load_keys(o->ks, o->ctx, o->cli) != 0)
		return -1;
	/* the signer's revocation judged as by `letterlock open` (OCSP,
	 * answers kept in the keystore): a revoked signer is not valid */
	ro.network = 1;
	ro.cache = o->ks;
	if (ll_ctx_set_revocation(o->ctx, &ro, &err) < 0) {
		cli_fail(o->cli, "bridge: imap: revocation", &err);
		ll_error_clear(&err);
		return -1;
	}
	o->ready = 1;
	return 0;
}

int imap_open_message(struct imap_opener *o, const char *msg, size_t len,
		      char **out, size_t *outlen, int *opened)
{
	struct ll_opened *op = NULL;
	struct ll_error err = { 0 };
	const struct ll_open_status *st;
	struct out res = { 0 };
	char line[1024];
	int rc;

	*out = NULL;
	*opened = 0;
	if (imap_opener_ready(o) < 0)
		return -1;
	rc = ll_msg_open(&op, o->ctx, msg, len, &err);
	if (rc < 0) {
		imap_status_line(line, sizeof(line), NULL,
				 rc == LL_ENOKEY   ? "no key of ours" :
				 rc == LL_EDECRYPT ? "decryption failed" :
						     "malformed S/MIME");
		put_message(&res, line, msg, len);
	} else {
		size_t dlen;
		const char *data = ll_opened_data(op, &dlen);

		st = ll_opened_status(op);
		imap_status_line(line, sizeof(line), st, NULL);
		if (!st->encrypted && !st->is_signed)
			put(&res, msg, len);
		else
			put_message(&res, line, data, dlen);
		*opened = st->encrypted || st->is_signed;
	}
	ll_opened_free(&op);
	ll_error_clear(&err);
	if (res.failed) {
		free(res.p);
		return -1;
	}
	*out = res.p;
	*outlen = res.len;
	return 0;
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
static int fetch_uid(char out[16], const char *line, size_t len)
{
	for (size_t i = 1; i + 5 < len; i++) {
		size_t k = 0;

		if ((line[i - 1] != ' ' && line[i - 1] != '(') ||
		    strncasecmp(line + i, "UID ", 4) != 0)
			continue;
		while (i + 4 + k < len && k < 10 && line[i + 4 + k] >= '0' &&
		       line[i + 4 + k] <= '9')
			k++;
		if (k == 0 || k == 10)
			return -1;
		memcpy(out, line + i + 4, k);
		out[k] = '\0';
		return 0;
	}
	return -1;
}

/* The message at MSG (N) for the client, from the cache when ID names
 * it there; opened (and kept there) otherwise. */
static int answer(struct imap_opener *o, const char *id, const char *msg,
		  size_t n, char **out, size_t *outlen)
{
	int opened;

	if (id != NULL && imap_cache_get(o, id, out, outlen) == 1)
		return 0;
	if (imap_open_message(o, msg, n, out, outlen, &opened) < 0)
		return -1;
	if (id != NULL && opened)
		imap_cache_put(o, id, *out, *outlen);
	return 0;
}

int imap_fetch_rewrite(struct imap_opener *o, const char *where,
		       const char *unit, size_t len, char **out, size_t *outlen)
{
	struct out res = { 0 };
	size_t pos = 0, from = 0;
	int changed = 0;
	char uid[16], id[1200], *idp = NULL;
	const char *lf0 = memchr(unit, '\n', len);

	*out = NULL;
	if (where != NULL && lf0 != NULL &&
	    fetch_uid(uid, unit, (size_t)(lf0 - unit)) == 0 &&
	    (size_t)snprintf(id, sizeof(id), "%s\n%s", where, uid) < sizeof(id))
		idp = id;
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
			if (answer(o, idp, lf + 1, n, &opened, &olen) < 0) {
				free(res.p);
				return -1;
			}
			put(&res, unit + from, pos + brace - from);
			snprintf(num, sizeof(num), "{%zu}\r\n", olen);
			put(&res, num, strlen(num));
			put(&res, opened, olen);
			free(opened);
			from = (size_t)(lf + 1 - unit) + n;
			changed = 1;
		}
		pos = (size_t)(lf + 1 - unit) + n;
	}
	if (!changed)
		return 0;
	put(&res, unit + from, len - from);
	if (res.failed) {
		free(res.p);
		return -1;
	}
	*out = res.p;
	*outlen = res.len;
	return 1;
}

void imap_opener_free(struct imap_opener *o)
{
	OPENSSL_cleanse(o->cache_key, sizeof(o->cache_key));
	ll_ctx_free(&o->ctx);
	ll_keystore_close(&o->ks);
	o->ready = 0;
}
