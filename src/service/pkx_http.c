/*
 * pkx_http.c - the public key exchange directory (PKX) over HTTP; the
 * interface is doc/pkx-api.md:
 *
 *   GET  /pkx/addr/ADDRESS        current certificates of one address
 *   POST /pkx/lookup              the same for up to 100 addresses
 *   GET  /pkx/cert/SHA256[.pem]   one certificate by fingerprint, for good
 *   POST /pkx/caps                JWS: the owner says what it reads
 *   POST /pkx/publish             JWS: another CA's certificate, on the
 *                                 mailbox proof of an ACME order
 *
 * Against harvesting: nothing lists the directory; every request first
 * takes a token from its client's bucket (pkx_limit.c), a batch one per
 * address, before anything of it is read; an address with no
 * certificate is looked up by the same query and answered in the same
 * shape as one with.  Answers to GET carry a strong ETag over the body
 * and honour If-None-Match (304).  The two POSTs are authenticated
 * exactly as ACME requests are (lld_acme_authenticate).  Answers by
 * address are kept in memory while the store does not change
 * (pkx_cache.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>

#include <letterlock/jose.h>

#include "front.h"
#include "pkx.h"

#define ORDER_PATH "/acme/order/"
#define FOREVER ((time_t)INT64_MAX)
/* how often the answer cache looks for changes other processes made to
 * the store (its own are seen at once), in seconds */
#define OTHERS_EVERY 0.001

/* One request. */
struct pkx {
	struct lld_srv *srv;
	const struct lld_req *req;
	struct lld_resp *resp;
	struct ll_error err;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int lld_pkx_start(struct lld_srv *srv, struct ll_error *err)
{
	const struct lld_conf *c = srv->conf;
	int rc;

	rc = lld_limit_new(&srv->pkx_limit, c->pkx_rate, c->pkx_burst,
			   (size_t)c->pkx_clients, err);
	if (rc == 0)
		rc = lld_pkx_cache_new(&srv->pkx_cache,
				       (size_t)c->pkx_cache << 20, err);
	if (rc < 0)
		lld_pkx_stop(srv);
	return rc;
}

void lld_pkx_stop(struct lld_srv *srv)
{
	lld_limit_free(&srv->pkx_limit);
	lld_pkx_cache_free(&srv->pkx_cache);
}

/* ---- answers ---- */

static int problem(struct pkx *x, int status, const char *type, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static int problem(struct pkx *x, int status, const char *type, const char *fmt,
		   ...)
{
	va_list ap;

	va_start(ap, fmt);
	lld_resp_problemv(x->resp, status, type, fmt, ap);
	va_end(ap);
	return 0;
}

static int internal(struct pkx *x, const char *what)
{
	fprintf(stderr, LLD_PROG ": PKX %s: %s\n", what, x->err.message);
	return problem(x, 500, "serverInternal", "%s failed", what);
}

/* Not a request we read: the rate limit of the directory. */
static int limited(struct pkx *x, int retry)
{
	x->resp->retry_after = retry;
	return problem(x, 429, "rateLimited",
		       "too many directory requests from your address; "
		       "retry in %d s",
		       retry);
}

/*
 * BODY (LEN octets) as a 200 with CTYPE that caches may keep as CACHE
 * says, with the strong ETag TAG (the SHA-256 of the body, hex); a GET
 * whose If-None-Match has that tag gets 304 and no body.
 */
static int send_tagged(struct pkx *x, const char *ctype, const void *body,
		       size_t len, const char *tag, const char *cache)
{
	struct lld_resp *r = x->resp;

	snprintf(r->etag, sizeof(r->etag), "\"%s\"", tag);
	snprintf(r->cache, sizeof(r->cache), "%s", cache);
	if ((x->req->method == LLD_GET || x->req->method == LLD_HEAD) &&
	    lld_pkx_etag_match(x->req->if_none_match, r->etag))
		lld_resp_set(r, 304, NULL, NULL, 0);
	else
		lld_resp_set(r, 200, ctype, body, len);
	return 0;
}

/* The same with the tag made here. */
static int send_cacheable(struct pkx *x, const char *ctype, const void *body,
			  size_t len, const char *cache)
{
	char tag[LLD_FPR_HEX + 1];

	if (lld_sha256_hex(tag, body, len, &x->err) < 0)
		return internal(x, "ETag");
	return send_tagged(x, ctype, body, len, tag, cache);
}

/* J (consumed) as a JSON answer with STATUS; cacheable as CACHE says
 * (a 200) unless CACHE is NULL. */
static int send_json(struct pkx *x, int status, json_t *j, const char *cache)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL)
		return problem(x, 500, "serverInternal", "out of memory");
	if (cache != NULL)
		send_cacheable(x, "application/json", text, strlen(text),
			       cache);
	else
		lld_resp_set(x->resp, status, "application/json", text,
			     strlen(text));
	free(text);
	return 0;
}

static json_t *cert_json(const struct pkx *x, const struct lld_pkxrow *r)
{
	char nb[32], na[32], url[LLD_HDR_MAX];
	char *b64 = NULL;
	json_t *caps, *j;

	if (ll_b64url_encode(&b64, NULL, r->der, r->derlen, NULL) < 0)
		return NULL;
	lld_rfc3339(nb, sizeof(nb), r->not_before);
	lld_rfc3339(na, sizeof(na), r->not_after);
	snprintf(url, sizeof(url), "%s" LLD_PKX_PREFIX "cert/%s",
		 x->srv->conf->public_url, r->fpr);
	/* null: the owner has not said; senders stay compatible */
	caps = r->caps[0] != '\0' ? json_loads(r->caps, 0, NULL) : json_null();
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o*}", "fingerprint",
		      r->fpr, "url", url, "certificate", b64, "notBefore", nb,
		      "notAfter", na, "source",
		      r->serial[0] != '\0' ? "ca" : "published", "capabilities",
		      caps);
	free(b64);
	if (j != NULL && json_object_get(j, "capabilities") == NULL)
		json_object_set_new(j, "capabilities", json_null());
	return j;
}

/*
 * The entry of the address whose key is KEY: its current certificates.
 * An address without any runs the same query and gets the same shape.
 * When UNTIL is not NULL, the last second the entry is right into
 * *UNTIL: its earliest notAfter, the second before the next notBefore
 * of the address.  NULL with x->err on failure.
 */
static json_t *entry_json(struct pkx *x, const char *key, time_t *until)
{
	struct lld_pkxrow rows[LLD_PKX_CERTS_MAX];
	size_t n = 0;
	time_t next = 0;
	json_t *list = NULL, *j = NULL;

	if (lld_store_pkx_lookup(x->srv->store, key, x->req->now, rows,
				 LLD_PKX_CERTS_MAX, &n, &x->err) < 0)
		return NULL;
	if (until != NULL) {
		if (lld_store_pkx_next(x->srv->store, key, x->req->now, &next,
				       &x->err) < 0) {
			for (size_t i = 0; i < n; i++)
				lld_pkxrow_clear(&rows[i]);
			return NULL;
		}
		*until = next > 0 ? next - 1 : FOREVER;
		for (size_t i = 0; i < n; i++)
			if (rows[i].not_after < *until)
				*until = rows[i].not_after;
	}
	list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++)
		if (json_array_append_new(list, cert_json(x, &rows[i])) < 0) {
			json_decref(list);
			list = NULL;
		}
	for (size_t i = 0; i < n; i++)
		lld_pkxrow_clear(&rows[i]);
	if (list != NULL)
		j = json_pack("{s:s, s:o}", "address", key, "certificates",
			      list);
	if (j == NULL)
		ll_err(&x->err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	return j;
}

/* Cache-Control of lookups: short, so a revocation shows soon. */
static void lookup_cache(const struct pkx *x, char *buf, size_t len,
			 const char *who)
{
	snprintf(buf, len, "%s, max-age=%d", who, x->srv->conf->pkx_max_age);
}

/* ---- lookups ---- */

/*
 * The version of the store the answers kept are checked against: this
 * front's own changes at once, other processes' (the CLI, the mailer's
 * connection) every OTHERS_EVERY.
 */
static int store_version(struct pkx *x, uint64_t *version)
{
	double now = mono_now();
	int others = now - x->srv->pkx_others >= OTHERS_EVERY;

	if (others)
		x->srv->pkx_others = now;
	return lld_store_version(x->srv->store, others, version, &x->err);
}

/* The answer by address is kept (pkx_cache.c): a lookup asked before,
 * with nothing changed in the store since, is answered from memory. */
static int on_addr(struct pkx *x, const char *addr)
{
	char key[LLD_EMAIL_MAX + 1], cache[64], tag[LLD_FPR_HEX + 1];
	struct lld_pkx_cache *kept = x->srv->pkx_cache;
	struct lld_pkx_answer a;
	uint64_t version = 0;
	time_t until = 0;
	char *text;
	json_t *j;

	if (lld_pkx_addr_key(key, addr, strlen(addr), &x->err) < 0)
		return problem(x, 400, "malformed", "%s", x->err.message);
	lookup_cache(x, cache, sizeof(cache), "public");
	if (kept != NULL && store_version(x, &version) < 0)
		return internal(x, "lookup");
	if (lld_pkx_cache_get(kept, key, version, x->req->now, &a))
		return send_tagged(x, "application/json", a.body, a.len, a.etag,
				   cache);
	j = entry_json(x, key, kept ? &until : NULL);
	if (j == NULL)
		return internal(x, "lookup");
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return problem(x, 500, "serverInternal", "out of memory");
	if (lld_sha256_hex(tag, text, strlen(text), &x->err) < 0) {
		free(text);
		return internal(x, "ETag");
	}
	lld_pkx_cache_put(kept, key, version, until, text, strlen(text), tag);
	send_tagged(x, "application/json", text, strlen(text), tag, cache);
	free(text);
	return 0;
}

static int on_batch(struct pkx *x, const char *tail)
{
	struct lld_pkx_batch *b = NULL;
	json_t *results = NULL, *e;
	char cache[64];
	int retry;

	if (!lld_ctype_is(x->req->ctype, "application/json"))
		return problem(x, 415, "malformed",
			       "Content-Type must be application/json");
	if (lld_pkx_batch_parse(&b, x->req->body, x->req->len, &x->err) < 0)
		return problem(x, x->err.code == LL_ENOMEM ? 500 : 400,
			       "malformed", "%s", x->err.message);
	/* one token was taken for the request: the rest of what it asks,
	 * before any of it is looked up */
	retry = b->n > 1 ? lld_limit_take(x->srv->pkx_limit, x->req->peer,
					  (unsigned)(b->n - 1), mono_now()) :
			   0;
	if (retry > 0) {
		limited(x, retry);
		goto out;
	}
	results = json_array();
	for (size_t i = 0; results != NULL && i < b->n; i++) {
		const struct lld_pkx_query *q = &b->q[i];

		if (q->key[0] != '\0') {
			e = entry_json(x, q->key, NULL);
			if (e == NULL) {
				internal(x, "lookup");
				goto out;
			}
		} else {
			e = json_pack("{s:s, s:[], s:s}", "address", "",
				      "certificates", "error", q->why);
		}
		if (e != NULL)
			json_object_set_new(e, "query", json_string(q->given));
		if (json_array_append_new(results, e) < 0) {
			json_decref(results);
			results = NULL;
		}
	}
	/* an answer to a POST: for the client's own cache */
	lookup_cache(x, cache, sizeof(cache), "private");
	send_json(x, 200,
		  results ? json_pack("{s:o}", "results", results) : NULL,
		  cache);
	results = NULL;
out:
	json_decref(results);
	free(b);
	return 0;
}

/* ---- certificates by fingerprint ---- */

static int on_cert(struct pkx *x, const char *tail)
{
	static const char pem_sfx[] = ".pem";
	char fpr[LLD_FPR_HEX + 1];
	struct lld_pkxrow row;
	size_t n = strlen(tail);
	int pem = n == LLD_FPR_HEX + sizeof(pem_sfx) - 1 &&
		  strcmp(tail + LLD_FPR_HEX, pem_sfx) == 0;
	BIO *bio = NULL;
	char *text = NULL;
	long tlen;
	int rc;

	if (!lld_pkx_fpr_ok(tail, pem ? LLD_FPR_HEX : n))
		return problem(x, 400, "malformed",
			       "want /pkx/cert/ and 64 lower-case hex digits "
			       "(the SHA-256 of the DER), .pem for PEM");
	memcpy(fpr, tail, LLD_FPR_HEX);
	fpr[LLD_FPR_HEX] = '\0';
	rc = lld_store_pkx_get(x->srv->store, fpr, &row, &x->err);
	if (rc == LL_ENOTFOUND)
		return problem(x, 404, "malformed",
			       "no certificate with that fingerprint");
	if (rc < 0)
		return internal(x, "lookup");
	if (!pem) {
		send_cacheable(x, "application/pkix-cert", row.der, row.derlen,
			       "public, max-age=31536000, immutable");
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL ||
	    PEM_write_bio(bio, "CERTIFICATE", "", row.der, (long)row.derlen) <=
		    0 ||
	    (tlen = BIO_get_mem_data(bio, &text)) <= 0) {
		ll_err_ossl(&x->err, LL_ENOMEM, "PEM");
		internal(x, "PEM");
		goto out;
	}
	send_cacheable(x, "application/pem-certificate-chain", text,
		       (size_t)tlen, "public, max-age=31536000, immutable");
out:
	BIO_free(bio);
	lld_pkxrow_clear(&row);
	return 0;
}

/* ---- what owners send (JWS) ---- */

static int on_caps(struct pkx *x, const char *tail)
{
	struct lld_auth a;
	struct lld_pkxrow row = { 0 };
	char caps[LLD_CAPS_MAX + 1];
	const char *fpr;
	json_t *v;
	int rc;

	if (lld_acme_authenticate(x->srv, x->req, x->resp, &a) < 0)
		return 0;
	fpr = json_string_value(json_object_get(a.payload, "certificate"));
	v = json_object_get(a.payload, "capabilities");
	if (fpr == NULL || !lld_pkx_fpr_ok(fpr, strlen(fpr)) || v == NULL) {
		problem(x, 400, "malformed",
			"want {\"certificate\": SHA256, \"capabilities\": "
			"[NAME, ...] or null}");
		goto out;
	}
	if (lld_pkx_caps_parse(caps, v, &x->err) < 0) {
		problem(x, 400, "malformed", "%s", x->err.message);
		goto out;
	}
	rc = lld_store_pkx_get(x->srv->store, fpr, &row, &x->err);
	if (rc == LL_ENOTFOUND) {
		problem(x, 404, "malformed",
			"no certificate with that fingerprint");
		goto out;
	}
	if (rc < 0) {
		internal(x, "lookup");
		goto out;
	}
	/* the account that proved the mailbox when it was issued or
	 * published, and no other */
	if (row.account != a.acct.id) {
		problem(x, 403, "unauthorized",
			"the certificate is not your account's");
		goto out;
	}
	if (lld_store_pkx_set_caps(x->srv->store, fpr, caps, &x->err) < 0) {
		internal(x, "capabilities");
		goto out;
	}
	memcpy(row.caps, caps, sizeof(caps));
	fprintf(stderr, LLD_PROG ": PKX %s: capabilities %s\n", fpr,
		caps[0] ? caps : "unknown");
	send_json(x, 200, cert_json(x, &row), NULL);
out:
	lld_pkxrow_clear(&row);
	lld_auth_clear(&a);
	return 0;
}

/* The id of the order at URL U of this server, 0 if U is not one. */
static int64_t order_of(const struct pkx *x, const char *u)
{
	const char *base = x->srv->conf->public_url;
	size_t n = strlen(base), k = sizeof(ORDER_PATH) - 1;
	long long id = 0;
	const char *p;

	if (strncmp(u, base, n) != 0 || strncmp(u + n, ORDER_PATH, k) != 0)
		return 0;
	p = u + n + k;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (id > 99999999999999LL)
			return 0;
		id = id * 10 + (*p - '0');
	}
	return *p == '\0' ? id : 0;
}

/*
 * The mailbox proof of order ID for account ACCOUNT: ready, not
 * expired, its authorization and challenge valid, validated within
 * LLD_PKX_PROOF_MAX.  0 with the order in *o, or -1 with the problem.
 */
static int proven(struct pkx *x, int64_t id, int64_t account,
		  struct lld_order *o)
{
	struct lld_authz az;
	struct lld_chall ch;
	time_t now = x->req->now;
	int rc;

	rc = id ? lld_store_order_get(x->srv->store, id, o, &x->err) :
		  LL_ENOTFOUND;
	if (rc == LL_ENOTFOUND || (rc == 0 && o->account != account))
		return problem(x, 404, "malformed", "no such order"), -1;
	if (rc < 0)
		return internal(x, "order lookup"), -1;
	if (strcmp(o->status, "ready") != 0 || now > o->expires)
		return problem(x, 403, "orderNotReady",
			       "the order is %s; publishing needs an order "
			       "whose mailbox is proven (ready)",
			       now > o->expires ? "expired" : o->status),
		       -1;
	rc = lld_store_authz_get(x->srv->store, o->authz, &az, &x->err);
	if (rc == 0)
		rc = lld_store_chall_get(x->srv->store, az.chall, &ch, &x->err);
	if (rc < 0)
		return internal(x, "authorization lookup"), -1;
	if (strcmp(az.status, "valid") != 0 ||
	    strcmp(ch.status, "valid") != 0 || ch.validated == 0 ||
	    now - ch.validated > LLD_PKX_PROOF_MAX)
		return problem(x, 403, "unauthorized",
			       "no mailbox proof of the last %d days",
			       LLD_PKX_PROOF_MAX / 86400),
		       -1;
	return 0;
}

/* The problem of a certificate lld_pkx_cert_check refused for WHY. */
static int refused(struct pkx *x, enum lld_pkx_refusal why)
{
	switch (why) {
	case LLD_PKX_WRONG_NAME:
		return problem(x, 403, "rejectedIdentifier", "%s",
			       x->err.message);
	case LLD_PKX_BAD_KEY:
		return problem(x, 400, "badPublicKey", "%s", x->err.message);
	default:
		return problem(x, 400, "malformed", "%s", x->err.message);
	}
}

static int on_publish(struct pkx *x, const char *tail)
{
	struct lld_auth a;
	struct lld_order o;
	struct lld_pkxrow row = { 0 };
	enum lld_pkx_refusal why = LLD_PKX_OK;
	char key[LLD_EMAIL_MAX + 1], caps[LLD_CAPS_MAX + 1];
	char fpr[LLD_FPR_HEX + 1];
	const char *ou, *text;
	unsigned char *der = NULL;
	size_t derlen = 0;
	time_t nb = 0, na = 0;
	int rc;

	if (lld_acme_authenticate(x->srv, x->req, x->resp, &a) < 0)
		return 0;
	ou = json_string_value(json_object_get(a.payload, "order"));
	text = json_string_value(json_object_get(a.payload, "certificate"));
	if (ou == NULL || text == NULL) {
		problem(x, 400, "malformed",
			"want {\"order\": URL, \"certificate\": DER (base64url) "
			"or PEM}");
		goto out;
	}
	if (proven(x, order_of(x, ou), a.acct.id, &o) < 0)
		goto out;
	if (lld_pkx_caps_parse(caps, json_object_get(a.payload, "capabilities"),
			       &x->err) < 0) {
		problem(x, 400, "malformed", "%s", x->err.message);
		goto out;
	}
	if (lld_pkx_cert_decode(&der, &derlen, text, strlen(text), &x->err) <
	    0) {
		problem(x, 400, "malformed", "certificate: %s", x->err.message);
		goto out;
	}
	if (lld_pkx_addr_key(key, o.email, strlen(o.email), &x->err) < 0) {
		internal(x, "address");
		goto out;
	}
	if (lld_pkx_cert_check(der, derlen, key, x->req->now, &nb, &na, &why,
			       &x->err) < 0) {
		refused(x, why);
		goto out;
	}
	rc = lld_store_pkx_publish(x->srv->store, o.id, a.acct.id, key, der,
				   derlen, nb, na, caps, x->req->now, &x->err);
	if (rc == LL_ENOTFOUND) {
		problem(x, 404, "malformed", "no such order");
		goto out;
	}
	if (rc == LL_EEXIST) {
		/* the order was spent meanwhile, or the certificate is in */
		problem(x, 409, "malformed", "not published: %s",
			strstr(x->err.message, "present") ?
				"the certificate is published already" :
				x->err.message);
		goto out;
	}
	if (rc < 0 || lld_sha256_hex(fpr, der, derlen, &x->err) < 0 ||
	    lld_store_pkx_get(x->srv->store, fpr, &row, &x->err) < 0) {
		internal(x, "publication");
		goto out;
	}
	fprintf(stderr,
		LLD_PROG ": PKX published %s for %s (order %lld, account "
			 "%lld)\n",
		row.fpr, key, (long long)o.id, (long long)a.acct.id);
	snprintf(x->resp->location, sizeof(x->resp->location),
		 "%s" LLD_PKX_PREFIX "cert/%s", x->srv->conf->public_url,
		 row.fpr);
	send_json(x, 201,
		  json_pack("{s:s, s:o}", "address", key, "certificate",
			    cert_json(x, &row)),
		  NULL);
out:
	lld_pkxrow_clear(&row);
	free(der);
	lld_auth_clear(&a);
	return 0;
}

static const struct route {
	const char *name; /* after /pkx/; a final '/' takes a tail */
	enum lld_method method; /* LLD_GET answers HEAD too */
	int (*run)(struct pkx *x, const char *tail);
} routes[] = {
	{ "addr/", LLD_GET, on_addr }, /* ADDRESS */
	{ "lookup", LLD_POST, on_batch }, /* {"addresses": [...]} */
	{ "cert/", LLD_GET, on_cert }, /* SHA256, SHA256.pem */
	{ "caps", LLD_POST, on_caps }, /* JWS */
	{ "publish", LLD_POST, on_publish }, /* JWS */
};

int lld_pkx_handle(struct lld_srv *srv, const struct lld_req *req,
		   struct lld_resp *resp)
{
	struct pkx x = { .srv = srv, .req = req, .resp = resp };
	const char *p = req->path;
	int retry;

	if (strncmp(p, LLD_PKX_PREFIX, sizeof(LLD_PKX_PREFIX) - 1) != 0)
		return -1;
	/* before anything of the request is read */
	retry = lld_limit_take(srv->pkx_limit, req->peer, 1, mono_now());
	if (retry > 0)
		return limited(&x, retry);
	p += sizeof(LLD_PKX_PREFIX) - 1;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		size_t n = strlen(r->name);
		int tail = r->name[n - 1] == '/';

		if (tail ? strncmp(p, r->name, n) != 0 :
			   strcmp(p, r->name) != 0)
			continue;
		if (req->method != r->method &&
		    !(r->method == LLD_GET && req->method == LLD_HEAD))
			return problem(&x, 405, "malformed", "use %s",
				       r->method == LLD_GET ? "GET" : "POST");
		return r->run(&x, tail ? p + n : p);
	}
	/* nothing lists the directory */
	return problem(&x, 404, "malformed", "no such resource");
}
