/*
 * imap_fetch.c - FETCH responses of S/MIME messages answered with the
 * opened message (imap_fetch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "imap_fetch.h"
#include "imap_parse.h"
#include "imap_rewrite.h"

#define STATUS_NAME "X-Letterlock-Status"
#define STATUS_FIELD STATUS_NAME ":"
#define CACHE_SECRET "bridge/cache-key"

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
	/* the signer's address comes from a certificate anyone can make:
	 * no control character may end the field or start another */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* Is F a status field (blanks before the colon too, obsolete syntax)? */
static int status_field(const struct imap_field *f)
{
	return imap_field_is(f, STATUS_NAME, NULL, NULL);
}

/* Does the header of MSG hold a status field? */
static int has_status_field(const char *msg, size_t len)
{
	struct imap_field f;
	size_t pos = 0;

	while (imap_field_next(msg, len, &pos, &f) == 1)
		if (status_field(&f))
			return 1;
	return 0;
}

/* P (N bytes) into O with CRLF line ends. */
static void put_crlf(struct imap_buf *o, const char *p, size_t n)
{
	while (n > 0) {
		const char *lf = memchr(p, '\n', n);
		size_t k = lf ? (size_t)(lf - p) : n;

		imap_buf_add(o, p, k > 0 && p[k - 1] == '\r' ? k - 1 : k);
		if (lf != NULL) {
			imap_buf_add(o, "\r\n", 2);
			k++;
		}
		p += k;
		n -= k;
	}
}

/* MSG with CRLF line ends and without the header's own status fields,
 * after LINE (the status) into O. */
static void put_message(struct imap_buf *o, const char *line, const char *msg,
			size_t len)
{
	struct imap_field f;
	size_t pos = 0;

	imap_buf_add(o, line, strlen(line));
	imap_buf_add(o, "\r\n", 2);
	while (imap_field_next(msg, len, &pos, &f) == 1)
		if (!status_field(&f))
			put_crlf(o, f.p, f.len);
	put_crlf(o, msg + pos, len - pos); /* the empty line, the body */
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

/* The cache's key: the keystore secret, made on first use (two first
 * sessions at once may each make one; the loser's entries then do not
 * open and are made again).  0, or -1. */
static int cache_key(struct imap_opener *o, unsigned char key[32])
{
	struct ll_error err = { 0 };
	unsigned char *k = NULL;
	size_t n = 0;
	int rc;

	rc = ll_keystore_get_secret(&k, &n, o->ks, CACHE_SECRET, &err);
	if (rc == LL_ENOTFOUND) {
		ll_error_clear(&err);
		if (RAND_bytes(key, 32) != 1 ||
		    ll_keystore_put_secret(o->ks, CACHE_SECRET, key, 32,
					   &err) < 0) {
			OPENSSL_cleanse(key, 32);
			ll_error_clear(&err);
			return -1;
		}
		return 0;
	}
	if (rc < 0 || n != 32) {
		ll_wipe_free(k, n);
		ll_error_clear(&err);
		return -1;
	}
	memcpy(key, k, 32);
	ll_wipe_free(k, n);
	return 0;
}

struct imap_cache *imap_opener_cache(struct imap_opener *o)
{
	unsigned char key[32];

	if (o->cache_state != 0)
		return o->cache;
	o->cache_state = -1;
	if (o->cache_path[0] == '\0' || imap_opener_ready(o) < 0 ||
	    cache_key(o, key) < 0)
		return NULL;
	if (imap_cache_open(&o->cache, o->cache_path, key, o->cache_max) == 0)
		o->cache_state = 1;
	OPENSSL_cleanse(key, sizeof(key));
	return o->cache;
}

/* FPR among the certificates this session has kept already. */
static int kept(const struct imap_opener *o, const char *fpr)
{
	for (unsigned i = 0; i < 16 && i < o->nharvested; i++)
		if (strcmp(o->harvested[i], fpr) == 0)
			return 1;
	return 0;
}

static void remember(struct imap_opener *o, const char *fpr)
{
	snprintf(o->harvested[o->nharvested++ % 16], 65, "%s", fpr);
}

/* CERT, which ADDR WHAT ("signed with"), into the contacts once a
 * session; a new key for a known address waits as pending, and is
 * said. */
static void keep(struct imap_opener *o, const struct ll_cert *cert,
		 const char *addr, const char *what)
{
	struct ll_error err = { 0 };
	enum ll_contact_state state = LL_CONTACT_CURRENT;

	if (kept(o, ll_cert_fingerprint(cert)))
		return; /* kept already, or pending already */
	if (ll_contacts_add(o->ks, cert, LL_SRC_HARVESTED, time(NULL), &state,
			    &err) < 0)
		fprintf(stderr,
			"letterlock: bridge: imap: keeping the certificate "
			"%s %s: %s\n",
			addr, what, err.message);
	else
		remember(o, ll_cert_fingerprint(cert));
	if (state == LL_CONTACT_PENDING)
		fprintf(stderr,
			"letterlock: bridge: imap: %s %s a key other than the "
			"one known; it is kept as pending (`letterlock contact "
			"accept`)\n",
			addr, what);
	ll_error_clear(&err);
}

/* The signer of a validly signed message into the contacts, as
 * `letterlock open` does, with the certificate it asks to be encrypted
 * to: not our own, not a revoked one. */
static void harvest(struct imap_opener *o, const struct ll_opened *op)
{
	const struct ll_cert *signer = ll_opened_signer(op);
	const struct ll_cert *enc = ll_opened_encryption_cert(op);
	const struct ll_open_status *st = ll_opened_status(op);
	struct ll_cert *own = NULL;

	if (signer == NULL || st->revocation == LL_REV_REVOKED)
		return;
	if (kept(o, ll_cert_fingerprint(signer)) &&
	    (enc == NULL || kept(o, ll_cert_fingerprint(enc))))
		return;
	if (ll_keystore_current_cert(&own, o->ks, st->signer, 0, NULL) == 0) {
		ll_cert_free(&own); /* our own: never a contact */
		remember(o, ll_cert_fingerprint(signer));
		return;
	}
	keep(o, signer, st->signer, "signed with");
	if (enc != NULL)
		keep(o, enc, st->signer, "asks to be encrypted to");
}

int imap_open_message(struct imap_opener *o, const char *msg, size_t len,
		      char **out, size_t *outlen, int *opened)
{
	struct ll_opened *op = NULL;
	struct ll_error err = { 0 };
	const struct ll_open_status *st;
	struct imap_buf res = { 0 };
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
		if (!st->encrypted && !st->is_signed &&
		    has_status_field(msg, len))
			/* a plain message that brings a status of its own:
			 * dropped, and said */
			put_message(&res,
				    STATUS_FIELD " not S/MIME; the message's "
						 "own status field dropped",
				    msg, len);
		else if (!st->encrypted && !st->is_signed)
			imap_buf_add(&res, msg, len);
		else
			put_message(&res, line, data, dlen);
		*opened = st->encrypted || st->is_signed;
		harvest(o, op);
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

/* The message at MSG (N) for the client, from the cache when ID names
 * it there; opened (and kept there) otherwise. */
static int answer(struct imap_opener *o, const char *id, const char *msg,
		  size_t n, char **out, size_t *outlen)
{
	int opened;

	if (id != NULL &&
	    imap_cache_get(imap_opener_cache(o), id, out, outlen) == 1)
		return 0;
	if (imap_open_message(o, msg, n, out, outlen, &opened) < 0)
		return -1;
	if (id != NULL && opened)
		imap_cache_put(imap_opener_cache(o), id, *out, *outlen);
	return 0;
}

/* imap_rewrite_literals' callback: ARG the struct where. */
struct where {
	struct imap_opener *o;
	const char *id; /* the message's cache identity, or NULL */
};

static int answer_cb(void *arg, const char *msg, size_t n, char **out,
		     size_t *outlen)
{
	struct where *w = arg;

	return answer(w->o, w->id, msg, n, out, outlen);
}

int imap_fetch_rewrite(struct imap_opener *o, const char *where,
		       const char *unit, size_t len, char **out, size_t *outlen)
{
	struct where w = { o, NULL };
	char uid[16], id[1200];
	const char *lf = memchr(unit, '\n', len);
	int rc;

	if (where != NULL && lf != NULL &&
	    imap_fetch_uid(uid, unit, (size_t)(lf - unit)) == 0 &&
	    (size_t)snprintf(id, sizeof(id), "%s\n%s", where, uid) < sizeof(id))
		w.id = id;
	rc = imap_rewrite_literals(unit, len, answer_cb, &w, out, outlen);

	/* a response of a command that passes through: its entry written
	 * now, as nothing tells where that command's batch ends */
	imap_cache_flush(o->cache);
	return rc;
}

int imap_open_here(struct imap_opener *o, unsigned long uid, const char *msg,
		   size_t n, imap_opened_fn fn, void *arg)
{
	char *out;
	size_t len;
	int opened, rc;

	if (imap_open_message(o, msg, n, &out, &len, &opened) < 0)
		return -1;
	rc = fn(arg, uid, out, len, opened);
	free(out);
	return rc;
}

void imap_opener_close(struct imap_opener *o)
{
	imap_cache_close(&o->cache);
	o->cache_state = 0;
	ll_ctx_free(&o->ctx);
	ll_keystore_close(&o->ks);
	o->ready = 0;
}

void imap_opener_free(struct imap_opener *o)
{
	imap_helper_stop(o);
	imap_opener_close(o);
}
