/*
 * acme_server.c - the ACME server (RFC 8555) with email identifiers and
 * the email-reply-00 challenge (RFC 8823).
 *
 *   GET  /acme/directory          directory
 *   HEAD /acme/new-nonce          a Replay-Nonce (GET too)
 *   POST /acme/new-account        jwk   create or find the account
 *   POST /acme/acct/N             kid   read, update contact, deactivate
 *   POST /acme/acct/N/orders      kid   the account's orders
 *   POST /acme/new-order          kid   one email identifier
 *   POST /acme/order/N            kid   read the order
 *   POST /acme/order/N/finalize   kid   CSR in, certificate issued
 *   POST /acme/authz/N            kid   read (sends the challenge mail)
 *   POST /acme/chall/N            kid   {} = ready for validation
 *   POST /acme/cert/SERIAL        kid   application/pem-certificate-chain
 *   POST /acme/revoke-cert        kid (the ordering account, or one with
 *                                 a fresh authorization for the address)
 *                                 or the certificate's jwk
 *
 * Every POST is a flattened JWS (application/jose+json), checked in
 * this order: the JWS shape and algorithm, the "url" against the
 * request's own URL, the key (the account's by "kid", or the embedded
 * "jwk" where RFC 8555 allows one), the signature, then the nonce
 * (single use).  A failure answers application/problem+json with the
 * RFC 8555 error type; every answer to a POST carries a fresh nonce.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <letterlock/ca.h>
#include <letterlock/jose.h>

#include "front.h"
#include "keyholder.h"
#include "mail.h"
#include "nonce.h"

#define ACME_PREFIX "/acme/"
#define CONTACTS_MAX 4
#define ORDERS_LIST_MAX 1000
#define TOKEN_BYTES 24 /* a multiple of 3: no padding question */

/* What the route needs of the JWS key. */
enum keymode {
	KEY_KID,
	KEY_JWK,
	KEY_EITHER
};

struct call {
	struct lld_srv *srv;
	const struct lld_req *req;
	struct lld_resp *resp;
	struct ll_jws *jws;
	struct ll_jwk *acct_key; /* an account key not cached, owned */
	struct lld_account acct; /* id 0: none (jwk request) */
	json_t *payload; /* NULL for POST-as-GET */
	int64_t id; /* the N of the path */
	const char *tail; /* the SERIAL of /cert/ */
	size_t jws_max; /* the largest JWS taken; 0: LL_JWS_MAX */
	struct ll_error err;
};

static void url(char *buf, size_t len, const struct lld_srv *srv,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void url(char *buf, size_t len, const struct lld_srv *srv,
		const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s" ACME_PREFIX, srv->conf->public_url);

	if (n < 0 || (size_t)n >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

static void link_add(struct lld_resp *r, const char *target, const char *rel)
{
	int n;

	if (r->nlinks >= LLD_RESP_LINKS)
		return;
	n = snprintf(r->links[r->nlinks], LLD_HDR_MAX, "<%s>;rel=\"%s\"",
		     target, rel);
	if (n > 0 && n < LLD_HDR_MAX)
		r->nlinks++;
}

/* Answer with the JSON J (consumed), STATUS, and an index link. */
static int reply_json(struct call *c, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL) {
		lld_resp_problem(c->resp, 500, "serverInternal",
				 "out of memory");
		return 0;
	}
	lld_resp_set(c->resp, status, "application/json", text, strlen(text));
	free(text);
	return 0;
}

static int problem(struct call *c, int status, const char *type,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int problem(struct call *c, int status, const char *type,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lld_resp_problemv(c->resp, status, type, fmt, ap);
	va_end(ap);
	return 0;
}

static int internal(struct call *c, const char *what)
{
	fprintf(stderr, LLD_PROG ": %s: %s\n", what, c->err.message);
	return problem(c, 500, "serverInternal", "%s failed", what);
}

/* A stored problem (JSON text) as a JSON value, NULL if none. */
static json_t *stored_problem(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return NULL;
	return json_loads(text, JSON_REJECT_DUPLICATES, NULL);
}

static int random_token(char out[LLD_TOKEN_MAX + 1], struct ll_error *err)
{
	unsigned char raw[TOKEN_BYTES];
	char *s = NULL;
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ll_err(err, LL_ECRYPTO, LL_ECLASS_OPENSSL, "RAND_bytes");
	rc = ll_b64url_encode(&s, NULL, raw, sizeof(raw), err);
	if (rc < 0)
		return rc;
	snprintf(out, LLD_TOKEN_MAX + 1, "%s", s);
	free(s);
	return 0;
}

/* ---- objects as JSON ---- */

static json_t *account_json(struct call *c, const struct lld_account *a)
{
	char orders[LLD_HDR_MAX];
	json_t *contact = json_loads(a->contact ? a->contact : "[]", 0, NULL);

	url(orders, sizeof(orders), c->srv, "acct/%lld/orders",
	    (long long)a->id);
	return json_pack("{s:s, s:o, s:s}", "status", a->status, "contact",
			 contact ? contact : json_array(), "orders", orders);
}

static json_t *order_json(struct call *c, const struct lld_order *o)
{
	char az[LLD_HDR_MAX], fin[LLD_HDR_MAX], exp[32];
	json_t *j;
	json_t *e;

	url(az, sizeof(az), c->srv, "authz/%lld", (long long)o->authz);
	url(fin, sizeof(fin), c->srv, "order/%lld/finalize", (long long)o->id);
	lld_rfc3339(exp, sizeof(exp), o->expires);
	j = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:[s], s:s}", "status",
		      o->status, "expires", exp, "identifiers", "type", "email",
		      "value", o->email, "authorizations", az, "finalize", fin);
	if (j == NULL)
		return NULL;
	if (strcmp(o->status, "valid") == 0 && o->serial[0] != '\0') {
		char cert[LLD_HDR_MAX];

		url(cert, sizeof(cert), c->srv, "cert/%s", o->serial);
		json_object_set_new(j, "certificate", json_string(cert));
	}
	e = stored_problem(o->error);
	if (e != NULL)
		json_object_set_new(j, "error", e);
	return j;
}

static json_t *chall_json(struct call *c, const struct lld_chall *ch)
{
	char u[LLD_HDR_MAX];
	json_t *j;
	json_t *e;

	url(u, sizeof(u), c->srv, "chall/%lld", (long long)ch->id);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "email-reply-00",
		      "url", u, "status", ch->status, "token", ch->token2,
		      "from", c->srv->conf->mail_from);
	if (j == NULL)
		return NULL;
	if (ch->validated != 0) {
		char t[32];

		lld_rfc3339(t, sizeof(t), ch->validated);
		json_object_set_new(j, "validated", json_string(t));
	}
	e = stored_problem(ch->error);
	if (e != NULL)
		json_object_set_new(j, "error", e);
	return j;
}

/* ---- authentication of a POST ---- */

/* The account id in a kid URL, 0 if KID is not one of ours. */
static int64_t kid_account(const struct lld_srv *srv, const char *kid)
{
	char prefix[LLD_HDR_MAX];
	size_t n;
	char *end = NULL;
	long long id;

	url(prefix, sizeof(prefix), srv, "acct/");
	n = strlen(prefix);
	if (strncmp(kid, prefix, n) != 0 || !isdigit((unsigned char)kid[n]))
		return 0;
	id = strtoll(kid + n, &end, 10);
	if (*end != '\0' || id <= 0)
		return 0;
	return id;
}

/*
 * The key of c->acct, parsed once and kept (an ACME account's key does
 * not change here: there is no keyChange); the cache entry is checked
 * against the stored JSON, so a stale entry is never used.  NULL (with
 * c->err) if the stored key does not parse.
 */
static const struct ll_jwk *account_key(struct call *c)
{
	struct lld_keycache *e =
		&c->srv->keys[(uint64_t)c->acct.id % LLD_KEYCACHE];
	struct ll_jwk *k = NULL;
	char *copy;

	if (e->key != NULL && e->id == c->acct.id &&
	    strcmp(e->jwk, c->acct.jwk) == 0)
		return e->key;
	if (ll_jwk_parse(&k, c->acct.jwk, strlen(c->acct.jwk), &c->err) < 0)
		return NULL;
	copy = strdup(c->acct.jwk);
	if (copy == NULL) {
		/* not kept: this request owns it */
		c->acct_key = k;
		return k;
	}
	ll_jwk_free(&e->key);
	free(e->jwk);
	e->id = c->acct.id;
	e->jwk = copy;
	e->key = k;
	return k;
}

void lld_acme_forget_keys(struct lld_srv *srv)
{
	for (size_t i = 0; i < LLD_KEYCACHE; i++) {
		ll_jwk_free(&srv->keys[i].key);
		free(srv->keys[i].jwk);
		srv->keys[i].jwk = NULL;
	}
}

/*
 * Check the JWS of C's request as the module comment says.  Returns 0
 * when the request may go on; otherwise the problem is in c->resp and
 * the return is -1.
 */
static int authenticate(struct call *c, enum keymode mode)
{
	const struct lld_req *req = c->req;
	char want[LLD_HDR_MAX];
	const struct ll_jwk *key;
	const char *body;
	size_t blen = 0;
	int rc;

	if (!lld_ctype_is(req->ctype, "application/jose+json")) {
		problem(c, 415, "malformed",
			"Content-Type must be application/jose+json");
		return -1;
	}
	rc = ll_jws_parse_max(&c->jws, req->body, req->len,
			      c->jws_max ? c->jws_max : LL_JWS_MAX, &c->err);
	if (rc == LL_EPOLICY) {
		problem(c, 400, "badSignatureAlgorithm", "%s", c->err.message);
		json_t *algs = json_pack("[s,s,s]", "ES256", "RS256", "EdDSA");
		/* RFC 8555 6.2: list what we take */
		if (algs != NULL) {
			c->resp->body.len = 0;
			char *a = json_dumps(algs, JSON_COMPACT);

			ll_buf_addf(&c->resp->body,
				    "{\"type\":\"urn:ietf:params:acme:error:"
				    "badSignatureAlgorithm\",\"detail\":"
				    "\"unsupported JWS algorithm\","
				    "\"status\":400,\"algorithms\":%s}",
				    a ? a : "[]");
			free(a);
			json_decref(algs);
		}
		return -1;
	}
	if (rc < 0) {
		problem(c, 400, "malformed", "%s", c->err.message);
		return -1;
	}
	rc = snprintf(want, sizeof(want), "%s%s", c->srv->conf->public_url,
		      req->path);
	if (rc < 0 || (size_t)rc >= sizeof(want) ||
	    strcmp(ll_jws_url(c->jws), want) != 0) {
		problem(c, 403, "unauthorized",
			"JWS \"url\" is not the URL of this request");
		return -1;
	}
	if (ll_jws_kid(c->jws) != NULL) {
		int64_t id;

		if (mode == KEY_JWK) {
			problem(c, 400, "malformed",
				"this request must carry \"jwk\", not "
				"\"kid\"");
			return -1;
		}
		id = kid_account(c->srv, ll_jws_kid(c->jws));
		rc = id ? lld_store_account_get(c->srv->store, id, &c->acct,
						&c->err) :
			  LL_ENOTFOUND;
		if (rc == LL_ENOTFOUND) {
			problem(c, 400, "accountDoesNotExist",
				"no account at \"kid\"");
			return -1;
		}
		if (rc < 0) {
			internal(c, "account lookup");
			return -1;
		}
		key = account_key(c);
		if (key == NULL) {
			internal(c, "account key");
			return -1;
		}
	} else {
		if (mode == KEY_KID) {
			problem(c, 400, "malformed",
				"this request must carry \"kid\", not "
				"\"jwk\"");
			return -1;
		}
		key = ll_jws_jwk(c->jws);
	}
	rc = ll_jws_verify(c->jws, key, &c->err);
	if (rc == LL_EPOLICY) {
		problem(c, 400, "badSignatureAlgorithm", "%s", c->err.message);
		return -1;
	}
	if (rc < 0) {
		problem(c, 403, "unauthorized",
			"JWS signature does not verify");
		return -1;
	}
	if (ll_jws_nonce(c->jws) == NULL ||
	    lld_nonce_use(c->srv->nonces, ll_jws_nonce(c->jws), req->now) < 0) {
		problem(c, 400, "badNonce", "nonce missing, used or unknown");
		return -1;
	}
	if (c->acct.id != 0 && strcmp(c->acct.status, "valid") != 0) {
		problem(c, 403, "unauthorized", "account is %s",
			c->acct.status);
		return -1;
	}
	body = ll_jws_payload(c->jws, &blen);
	if (blen == 0)
		return 0; /* POST-as-GET */
	c->payload = json_loadb(body, blen, JSON_REJECT_DUPLICATES, NULL);
	if (c->payload == NULL || !json_is_object(c->payload)) {
		problem(c, 400, "malformed", "payload is not a JSON object");
		return -1;
	}
	return 0;
}

/* What authenticate() left in C, freed. */
static void call_clear(struct call *c)
{
	json_decref(c->payload);
	c->payload = NULL;
	ll_jws_free(&c->jws);
	ll_jwk_free(&c->acct_key);
	lld_account_clear(&c->acct);
}

/* ---- accounts ---- */

/* Validate "contact" of the payload into compact JSON text *out. */
static int contact_text(struct call *c, char **out)
{
	json_t *ct = json_object_get(c->payload, "contact");
	size_t i;
	json_t *v;

	*out = NULL;
	if (ct == NULL) {
		*out = strdup("[]");
		if (*out == NULL) {
			internal(c, "memory");
			return -1;
		}
		return 0;
	}
	if (!json_is_array(ct) || json_array_size(ct) > CONTACTS_MAX) {
		problem(c, 400, "invalidContact",
			"contact must be an array of at most %d mailto: URLs",
			CONTACTS_MAX);
		return -1;
	}
	json_array_foreach(ct, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL || strncmp(s, "mailto:", 7) != 0) {
			problem(c, 400, "unsupportedContact",
				"only mailto: contacts are supported");
			return -1;
		}
		if (strlen(s) > 7 + LLD_EMAIL_MAX || strchr(s, '?') ||
		    strchr(s, ',') || !strchr(s, '@')) {
			problem(c, 400, "invalidContact",
				"contact must be one mailto: address");
			return -1;
		}
	}
	*out = json_dumps(ct, JSON_COMPACT);
	if (*out == NULL) {
		internal(c, "memory");
		return -1;
	}
	return 0;
}

static int on_new_account(struct call *c)
{
	const struct ll_jwk *k = ll_jws_jwk(c->jws);
	char tp[LL_JWK_THUMBPRINT_LEN + 1], loc[LLD_HDR_MAX];
	char *jwk = NULL, *contact = NULL;
	int only = 0, rc, created = 0;
	int64_t id = 0;
	struct lld_account a = { 0 };

	if (c->payload != NULL) {
		json_t *o = json_object_get(c->payload, "onlyReturnExisting");

		only = json_is_true(o);
	}
	if (ll_jwk_thumbprint(tp, k, &c->err) < 0)
		return internal(c, "thumbprint");
	rc = lld_store_account_by_thumbprint(c->srv->store, tp, &a, &c->err);
	if (rc == LL_ENOTFOUND) {
		if (only)
			return problem(c, 400, "accountDoesNotExist",
				       "no account for this key");
		if (c->payload == NULL)
			return problem(c, 400, "malformed",
				       "newAccount needs a JSON payload");
		if (contact_text(c, &contact) < 0)
			goto out;
		if (ll_jwk_json(&jwk, k, &c->err) < 0) {
			internal(c, "jwk");
			goto out;
		}
		rc = lld_store_account_add(c->srv->store, tp, jwk, contact,
					   c->req->now, &id, &c->err);
		if (rc < 0 && rc != LL_EEXIST) {
			internal(c, "account store");
			goto out;
		}
		created = rc == 0;
		rc = lld_store_account_get(c->srv->store, id, &a, &c->err);
	}
	if (rc < 0) {
		internal(c, "account lookup");
		goto out;
	}
	if (strcmp(a.status, "valid") != 0) {
		problem(c, 403, "unauthorized", "account is %s", a.status);
		goto out;
	}
	url(loc, sizeof(loc), c->srv, "acct/%lld", (long long)a.id);
	snprintf(c->resp->location, sizeof(c->resp->location), "%s", loc);
	reply_json(c, created ? 201 : 200, account_json(c, &a));
	if (created)
		fprintf(stderr, LLD_PROG ": account %lld created\n",
			(long long)a.id);
out:
	lld_account_clear(&a);
	free(jwk);
	free(contact);
	return 0;
}

static int on_account(struct call *c)
{
	struct lld_account a = { 0 };
	json_t *st;
	char *contact = NULL;

	if (c->acct.id != c->id)
		return problem(c, 403, "unauthorized",
			       "this is not your account");
	if (c->payload != NULL) {
		if (json_object_get(c->payload, "contact") != NULL) {
			if (contact_text(c, &contact) < 0)
				return 0;
			if (lld_store_account_set_contact(c->srv->store, c->id,
							  contact,
							  &c->err) < 0) {
				free(contact);
				return internal(c, "account update");
			}
			free(contact);
		}
		st = json_object_get(c->payload, "status");
		if (st != NULL) {
			if (!json_is_string(st) ||
			    strcmp(json_string_value(st), "deactivated") != 0)
				return problem(c, 400, "malformed",
					       "status may only become "
					       "\"deactivated\"");
			if (lld_store_account_deactivate(c->srv->store, c->id,
							 &c->err) < 0)
				return internal(c, "deactivation");
			fprintf(stderr, LLD_PROG ": account %lld deactivated\n",
				(long long)c->id);
		}
	}
	if (lld_store_account_get(c->srv->store, c->id, &a, &c->err) < 0)
		return internal(c, "account lookup");
	reply_json(c, 200, account_json(c, &a));
	lld_account_clear(&a);
	return 0;
}

static int on_account_orders(struct call *c)
{
	int64_t ids[ORDERS_LIST_MAX];
	size_t n = 0;
	json_t *list;

	if (c->acct.id != c->id)
		return problem(c, 403, "unauthorized",
			       "this is not your account");
	if (lld_store_orders_of(c->srv->store, c->id, ids, ORDERS_LIST_MAX, &n,
				&c->err) < 0)
		return internal(c, "order list");
	list = json_array();
	for (size_t i = 0; list && i < n; i++) {
		char u[LLD_HDR_MAX];

		url(u, sizeof(u), c->srv, "order/%lld", (long long)ids[i]);
		json_array_append_new(list, json_string(u));
	}
	return reply_json(c, 200, json_pack("{s:o}", "orders", list));
}

/* ---- orders ---- */

static int on_new_order(struct call *c)
{
	json_t *ids, *id;
	const char *type, *value;
	char email[LLD_EMAIL_MAX + 1], t1[LLD_TOKEN_MAX + 1];
	char t2[LLD_TOKEN_MAX + 1], loc[LLD_HDR_MAX];
	const char *caa_id;
	size_t at = 0;
	struct lld_order o;
	int rc;

	if (c->payload == NULL)
		return problem(c, 400, "malformed",
			       "newOrder needs a JSON payload");
	if (json_object_get(c->payload, "notBefore") != NULL ||
	    json_object_get(c->payload, "notAfter") != NULL)
		return problem(c, 400, "malformed",
			       "notBefore and notAfter are not supported");
	ids = json_object_get(c->payload, "identifiers");
	if (!json_is_array(ids) || json_array_size(ids) == 0)
		return problem(c, 400, "malformed",
			       "identifiers must be a non-empty array");
	if (json_array_size(ids) != 1)
		return problem(c, 400, "rejectedIdentifier",
			       "one email identifier per order");
	id = json_array_get(ids, 0);
	type = json_string_value(json_object_get(id, "type"));
	value = json_string_value(json_object_get(id, "value"));
	if (type == NULL || value == NULL)
		return problem(c, 400, "malformed",
			       "an identifier needs \"type\" and \"value\"");
	if (strcmp(type, "email") != 0)
		return problem(c, 400, "unsupportedIdentifier",
			       "this CA certifies email identifiers only");
	if (c->srv->mailer == NULL)
		return problem(c, 400, "rejectedIdentifier",
			       "this CA has no mailbox for email validation");
	if (ll_ca_mailbox_canonical(email, sizeof(email), &at, value, &c->err) <
	    0)
		return problem(c, 400, "rejectedIdentifier", "%s",
			       c->err.message);
	caa_id = c->srv->conf->caa_identity;
	if (caa_id[0] == '\0') {
		const char *d = strrchr(c->srv->conf->mail_from, '@');

		caa_id = d ? d + 1 : "";
	}
	rc = lld_caa_check(email + at + 1, caa_id, c->srv->conf->resolver_conf,
			   &c->err);
	if (rc == LL_EPOLICY)
		return problem(c, 403, "caa", "%s", c->err.message);
	if (rc < 0)
		return problem(c, 400, "dns", "CAA lookup for %s failed: %s",
			       email + at + 1, c->err.message);
	if (random_token(t1, &c->err) < 0 || random_token(t2, &c->err) < 0)
		return internal(c, "token");
	rc = lld_store_order_new(c->srv->store, c->acct.id, email, t1, t2,
				 c->req->now,
				 c->req->now + LLD_ORDER_DAYS * 86400, &o,
				 &c->err);
	if (rc < 0)
		return internal(c, "order store");
	url(loc, sizeof(loc), c->srv, "order/%lld", (long long)o.id);
	snprintf(c->resp->location, sizeof(c->resp->location), "%s", loc);
	fprintf(stderr, LLD_PROG ": order %lld for %s (account %lld)\n",
		(long long)o.id, email, (long long)c->acct.id);
	return reply_json(c, 201, order_json(c, &o));
}

/* Order ID of the caller's account into *o; 0, or -1 with a problem. */
static int own_order(struct call *c, int64_t id, struct lld_order *o)
{
	int rc = lld_store_order_get(c->srv->store, id, o, &c->err);

	if (rc == LL_ENOTFOUND || (rc == 0 && o->account != c->acct.id)) {
		problem(c, 404, "malformed", "no such order");
		return -1;
	}
	if (rc < 0) {
		internal(c, "order lookup");
		return -1;
	}
	/* an order that ran out of time becomes invalid (RFC 8555 7.1.6) */
	if ((strcmp(o->status, "pending") == 0 ||
	     strcmp(o->status, "ready") == 0) &&
	    c->req->now > o->expires) {
		static const char expired[] =
			"{\"type\":\"urn:ietf:params:acme:error:malformed\","
			"\"detail\":\"order expired\"}";

		if (lld_store_order_move(c->srv->store, id, o->status,
					 "invalid", NULL, 0, expired,
					 &c->err) == 0) {
			snprintf(o->status, sizeof(o->status), "invalid");
			snprintf(o->error, sizeof(o->error), "%s", expired);
		}
	}
	return 0;
}

static int on_order(struct call *c)
{
	struct lld_order o;

	if (own_order(c, c->id, &o) < 0)
		return 0;
	if (strcmp(o.status, "processing") == 0)
		c->resp->retry_after = 1;
	return reply_json(c, 200, order_json(c, &o));
}

/* The validity of certificate DER, read from its encoding: d2i_X509
 * would also decode the public key, which costs more in OpenSSL 3.0
 * than the rest of an issuance put together. */
static int cert_validity(const unsigned char *der, size_t len, time_t *nb,
			 time_t *na)
{
	const unsigned char *end = der + len;
	struct ll_tlv cert, tbs, t;
	const unsigned char *p;
	ASN1_TIME *a = NULL, *b = NULL;
	int rc = -1;

	if (ll_tlv_read(&cert, der, end, 0) < 0 ||
	    ll_tlv_read(&tbs, cert.p, cert.end, 1) < 0 ||
	    ll_tlv_read(&t, tbs.p, tbs.end, 2) < 0)
		return -1;
	/* [0] version, serialNumber, signature, issuer, validity */
	if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 0 &&
	    ll_tlv_read(&t, t.next, tbs.end, 2) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (ll_tlv_read(&t, t.next, tbs.end, 2) < 0)
			return -1;
	p = t.p;
	a = d2i_ASN1_TIME(NULL, &p, t.end - p);
	b = a ? d2i_ASN1_TIME(NULL, &p, t.end - p) : NULL;
	if (b != NULL && p == t.end) {
		*nb = ll_asn1_time(a);
		*na = ll_asn1_time(b);
		rc = 0;
	}
	ASN1_TIME_free(a);
	ASN1_TIME_free(b);
	return rc;
}

/* Order O (processing) refused for the reason in ERR: invalid, with a
 * badCSR problem. */
static void order_refused(struct lld_srv *srv, const struct lld_order *o,
			  const struct ll_error *err)
{
	json_t *p = json_pack("{s:s, s:s}", "type",
			      "urn:ietf:params:acme:error:badCSR", "detail",
			      err->message);
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;

	json_decref(p);
	lld_store_order_move(srv->store, o->id, "processing", "invalid", NULL,
			     0, text, NULL);
	free(text);
}

/* Send order O's issuance to keyholder KH: the request's parts, never
 * the CSR itself (its public key re-encoded, its usage). */
static int issue_send(struct lld_srv *srv, struct lld_kh *kh,
		      const struct lld_order *o, const struct ll_ca_csr *csr,
		      struct ll_error *err)
{
	unsigned char *spki = NULL;
	size_t spkilen = 0;
	int rc;

	rc = ll_ca_csr_spki(&spki, &spkilen, csr, err);
	if (rc == 0)
		rc = lld_kh_issue_send(kh, o->id, o->email, spki, spkilen,
				       ll_ca_csr_usage(csr),
				       srv->conf->validity_days, err);
	free(spki);
	return rc;
}

/*
 * Read the keyholder's answer for order O (sent before on KH) and record
 * the certificate.  0 when the order is valid; LL_EPOLICY when the
 * profile refused (the order is then invalid, with a badCSR problem);
 * other codes leave the order processing, to be finished later.
 */
static int issue_done(struct lld_srv *srv, struct lld_kh *kh,
		      const struct lld_order *o, struct ll_error *err)
{
	unsigned char *der = NULL;
	size_t derlen = 0;
	char serial[LLD_SERIAL_MAX + 1];
	time_t nb = 0, na = 0;
	int rc;

	rc = lld_kh_issue_recv(kh, &der, &derlen, serial, err);
	if (rc == LL_EEXIST)
		rc = LL_EPOLICY; /* the keyholder has another key for it */
	if (rc == LL_EPOLICY) {
		order_refused(srv, o, err);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (cert_validity(der, derlen, &nb, &na) < 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_OPENSSL,
			    "keyholder returned no certificate");
		goto out;
	}
	rc = lld_store_cert_add(srv->store, o->id, serial, o->email, der,
				derlen, nb, na, err);
	if (rc == LL_EEXIST)
		rc = 0; /* recorded by an earlier try */
	if (rc == 0)
		fprintf(stderr, LLD_PROG ": order %lld: issued %s for %s\n",
			(long long)o->id, serial, o->email);
out:
	free(der);
	return rc;
}

/* Issue order O now and wait (the start-up recovery). */
static int issue_order(struct lld_srv *srv, const struct lld_order *o,
		       const struct ll_ca_csr *csr, struct ll_error *err)
{
	int rc = issue_send(srv, srv->kh, o, csr, err);

	return rc < 0 ? rc : issue_done(srv, srv->kh, o, err);
}

/* The answer to finalize for order ID after issuance ended with RC. */
static void finalize_answer(struct call *c, int64_t id, int rc)
{
	struct lld_order o;
	char loc[LLD_HDR_MAX];

	if (rc < 0 && rc != LL_EPOLICY) {
		fprintf(stderr, LLD_PROG ": order %lld: %s (will retry)\n",
			(long long)id, c->err.message);
		c->resp->retry_after = 2;
	}
	if (lld_store_order_get(c->srv->store, id, &o, &c->err) < 0) {
		internal(c, "order lookup");
		return;
	}
	url(loc, sizeof(loc), c->srv, "order/%lld", (long long)id);
	snprintf(c->resp->location, sizeof(c->resp->location), "%s", loc);
	reply_json(c, 200, order_json(c, &o));
}

int lld_acme_finish(struct lld_srv *srv, struct lld_pending *p)
{
	struct call c = { .srv = srv, .resp = &p->resp };
	struct lld_order o;
	int rc;

	rc = lld_store_order_get(srv->store, p->order, &o, &c.err);
	if (rc == 0)
		rc = issue_done(srv, srv->khp, &o, &c.err);
	finalize_answer(&c, p->order, rc);
	return rc == LL_EIO ? -1 : 0;
}

static int on_finalize(struct call *c)
{
	struct lld_order o;
	struct ll_ca_csr *csr = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	const char *b64;
	int rc;

	if (own_order(c, c->id, &o) < 0)
		return 0;
	if (strcmp(o.status, "ready") != 0)
		return problem(c, 403, "orderNotReady", "the order is %s",
			       o.status);
	b64 = c->payload ?
		      json_string_value(json_object_get(c->payload, "csr")) :
		      NULL;
	if (b64 == NULL)
		return problem(c, 400, "malformed", "finalize needs \"csr\"");
	if (ll_b64url_decode(&der, &derlen, b64, strlen(b64), LL_CA_CSR_MAX,
			     &c->err) < 0) {
		problem(c, 400, "badCSR", "csr: %s", c->err.message);
		goto out;
	}
	if (ll_ca_csr_parse(&csr, der, derlen, o.email, &c->err) < 0) {
		problem(c, 400, "badCSR", "%s", c->err.message);
		goto out;
	}
	rc = lld_store_order_move(c->srv->store, o.id, "ready", "processing",
				  der, derlen, NULL, &c->err);
	if (rc == LL_EEXIST) {
		problem(c, 403, "orderNotReady", "the order is not ready");
		goto out;
	}
	if (rc < 0) {
		internal(c, "order store");
		goto out;
	}
	if (c->srv->khp != NULL && lld_kh_fd(c->srv->khp) >= 0) {
		/* answered when the keyholder is done (http.c): meanwhile
		 * the front takes the next request */
		struct lld_pending *p = calloc(1, sizeof(*p));

		rc = p ? issue_send(c->srv, c->srv->khp, &o, csr, &c->err) :
			 ll_err(&c->err, LL_ENOMEM, LL_ECLASS_OS,
				"out of memory");
		if (rc == 0) {
			p->pipe = LLD_PIPE_ISSUE;
			p->order = o.id;
			c->resp->pending = p;
			goto out;
		}
		free(p);
		if (rc == LL_EPOLICY)
			order_refused(c->srv, &o, &c->err);
	} else {
		rc = issue_order(c->srv, &o, csr, &c->err);
	}
	finalize_answer(c, o.id, rc);
out:
	ll_ca_csr_free(&csr);
	free(der);
	return 0;
}

int lld_acme_recover(struct lld_srv *srv)
{
	int64_t ids[256];
	size_t n = 0;
	struct ll_error err = { 0 };
	int bad = 0;

	if (lld_store_orders_processing(srv->store, ids, 256, &n, &err) < 0) {
		lld_report("recovery", &err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct lld_order o;
		struct ll_ca_csr *csr = NULL;
		unsigned char *der = NULL;
		size_t len = 0;
		int rc;

		rc = lld_store_order_get(srv->store, ids[i], &o, &err);
		if (rc == 0)
			rc = lld_store_order_csr(srv->store, ids[i], &der, &len,
						 &err);
		if (rc == 0) {
			/* the CSR kept at finalize, checked once more */
			rc = ll_ca_csr_parse(&csr, der, len, o.email, &err);
			if (rc == LL_EPOLICY)
				order_refused(srv, &o, &err);
		}
		if (rc == 0)
			rc = issue_order(srv, &o, csr, &err);
		if (rc < 0 && err.code != LL_EPOLICY) {
			lld_report("recovery", &err);
			bad = 1;
		}
		ll_ca_csr_free(&csr);
		free(der);
	}
	if (n > 0)
		fprintf(stderr,
			LLD_PROG ": finished %zu interrupted "
				 "order(s)\n",
			n);
	return bad ? -1 : 0;
}

/* ---- authorizations and challenges ---- */

static int own_authz(struct call *c, int64_t id, struct lld_authz *a,
		     struct lld_chall *ch)
{
	int rc = lld_store_authz_get(c->srv->store, id, a, &c->err);

	if (rc == LL_ENOTFOUND || (rc == 0 && a->account != c->acct.id)) {
		problem(c, 404, "malformed", "no such authorization");
		return -1;
	}
	if (rc == 0)
		rc = lld_store_chall_get(c->srv->store, a->chall, ch, &c->err);
	if (rc < 0) {
		internal(c, "authorization lookup");
		return -1;
	}
	/* RFC 8823: a reply counts only within 24 hours */
	if ((strcmp(ch->status, "pending") == 0 ||
	     strcmp(ch->status, "processing") == 0) &&
	    c->req->now - ch->created > LLD_CHALLENGE_TTL) {
		static const char old[] =
			"{\"type\":\"urn:ietf:params:acme:error:"
			"unauthorized\",\"detail\":\"no valid reply within "
			"24 hours\"}";

		if (lld_store_chall_settle(c->srv->store, ch->id, 0, old,
					   c->req->now, &c->err) == 0 &&
		    (lld_store_authz_get(c->srv->store, id, a, &c->err) < 0 ||
		     lld_store_chall_get(c->srv->store, a->chall, ch, &c->err) <
			     0)) {
			internal(c, "authorization lookup");
			return -1;
		}
	}
	return 0;
}

static json_t *authz_json(struct call *c, const struct lld_authz *a,
			  const struct lld_chall *ch)
{
	char exp[32];

	lld_rfc3339(exp, sizeof(exp), a->expires);
	return json_pack("{s:{s:s, s:s}, s:s, s:s, s:[o]}", "identifier",
			 "type", "email", "value", a->email, "status",
			 a->status, "expires", exp, "challenges",
			 chall_json(c, ch));
}

/* The challenge mail goes out the first time anyone asks for it. */
static int want_mail(struct call *c, const struct lld_chall *ch)
{
	if (strcmp(ch->status, "pending") != 0 || ch->send_wanted)
		return 0;
	if (lld_store_chall_want_send(c->srv->store, ch->id, &c->err) < 0)
		return internal(c, "challenge store"), -1;
	lld_mailer_kick(c->srv->mailer);
	return 0;
}

static int on_authz(struct call *c)
{
	struct lld_authz a;
	struct lld_chall ch;

	if (own_authz(c, c->id, &a, &ch) < 0)
		return 0;
	if (c->payload != NULL)
		return problem(c, 400, "malformed",
			       "authorizations are read with POST-as-GET");
	if (want_mail(c, &ch) < 0)
		return 0;
	if (strcmp(a.status, "pending") == 0)
		c->resp->retry_after = 1;
	return reply_json(c, 200, authz_json(c, &a, &ch));
}

static int on_chall(struct call *c)
{
	struct lld_chall ch;
	struct lld_authz a;
	char up[LLD_HDR_MAX];
	int rc = lld_store_chall_get(c->srv->store, c->id, &ch, &c->err);

	if (rc == 0)
		rc = lld_store_authz_get(c->srv->store, ch.authz, &a, &c->err);
	if (rc == LL_ENOTFOUND || (rc == 0 && a.account != c->acct.id))
		return problem(c, 404, "malformed", "no such challenge");
	if (rc < 0)
		return internal(c, "challenge lookup");
	if (own_authz(c, a.id, &a, &ch) < 0)
		return 0;
	if (c->payload != NULL) {
		/* {} : the client has answered the mail; look soon */
		if (want_mail(c, &ch) < 0)
			return 0;
		if (lld_store_chall_respond(c->srv->store, ch.id, &c->err) < 0)
			return internal(c, "challenge store");
		lld_mailer_kick(c->srv->mailer);
		if (lld_store_chall_get(c->srv->store, ch.id, &ch, &c->err) < 0)
			return internal(c, "challenge lookup");
	}
	url(up, sizeof(up), c->srv, "authz/%lld", (long long)a.id);
	link_add(c->resp, up, "up");
	return reply_json(c, 200, chall_json(c, &ch));
}

/* ---- certificates ---- */

static int on_cert(struct call *c)
{
	struct lld_certrow row = { 0 };
	struct ll_cert *leaf = NULL;
	char *pem = NULL;
	int rc;

	if (strlen(c->tail) > LLD_SERIAL_MAX)
		return problem(c, 404, "malformed", "no such certificate");
	rc = lld_store_cert_get(c->srv->store, c->tail, &row, &c->err);
	if (rc == LL_ENOTFOUND || (rc == 0 && row.account != c->acct.id)) {
		problem(c, 404, "malformed", "no such certificate");
		goto out;
	}
	if (rc < 0 || ll_cert_parse(&leaf, row.der, row.derlen, &c->err) < 0 ||
	    ll_cert_pem(&pem, leaf, &c->err) < 0) {
		internal(c, "certificate");
		goto out;
	}
	c->resp->body.len = 0;
	if (ll_buf_adds(&c->resp->body, pem) < 0 ||
	    ll_buf_adds(&c->resp->body, c->srv->chain_pem) < 0) {
		internal(c, "memory");
		goto out;
	}
	c->resp->status = 200;
	snprintf(c->resp->ctype, sizeof(c->resp->ctype),
		 "application/pem-certificate-chain");
out:
	free(pem);
	ll_cert_free(&leaf);
	lld_certrow_clear(&row);
	return 0;
}

/* RFC 5280 reasons the S/MIME BR lets a subscriber give (7.2.2). */
static int reason_ok(long r)
{
	return r == 0 || r == 1 || r == 3 || r == 4 || r == 5 || r == 9;
}

/*
 * May the account of C revoke the certificate of ROW?  Yes when it
 * ordered it, or when it holds a valid authorization for the
 * certificate's address (the only identifier this CA puts in one)
 * proven within LLD_REVOKE_AUTHZ_SECS: the owner of the mailbox
 * revoking from another device (RFC 8555 section 7.6).  Else the
 * problem is answered and -1 returned.
 */
static int revoke_authorized(struct call *c, const struct lld_certrow *row)
{
	time_t now = c->req->now;
	int rc;

	if (row->account == c->acct.id)
		return 0;
	rc = lld_store_authz_fresh(c->srv->store, c->acct.id, row->email,
				   now - LLD_REVOKE_AUTHZ_SECS, now, &c->err);
	if (rc == 0)
		return 0;
	if (rc == LL_ENOTFOUND)
		problem(c, 403, "unauthorized",
			"the certificate is not your account's, and the "
			"account proved control of %s not within the last "
			"%d minutes",
			row->email, LLD_REVOKE_AUTHZ_SECS / 60);
	else
		internal(c, "authorization lookup");
	return -1;
}

static int on_revoke(struct call *c)
{
	const char *b64;
	json_t *jr;
	long reason = 0;
	unsigned char *der = NULL;
	size_t derlen = 0;
	const unsigned char *p;
	X509 *x = NULL;
	char hex[LLD_SERIAL_MAX + 1];
	struct lld_certrow row = { 0 };
	struct ll_cert *cert = NULL;
	struct ll_jwk *ck = NULL;
	int rc;

	b64 = c->payload ? json_string_value(
				   json_object_get(c->payload, "certificate")) :
			   NULL;
	if (b64 == NULL)
		return problem(c, 400, "malformed",
			       "revokeCert needs \"certificate\"");
	jr = json_object_get(c->payload, "reason");
	if (jr != NULL) {
		if (!json_is_integer(jr) ||
		    !reason_ok((long)json_integer_value(jr)))
			return problem(c, 400, "badRevocationReason",
				       "reason must be 0, 1, 3, 4, 5 or 9");
		reason = (long)json_integer_value(jr);
	}
	if (ll_b64url_decode(&der, &derlen, b64, strlen(b64), 16384, &c->err) <
	    0) {
		problem(c, 400, "malformed", "certificate: %s", c->err.message);
		goto out;
	}
	p = der;
	x = d2i_X509(NULL, &p, (long)derlen);
	if (x == NULL || p != der + derlen) {
		problem(c, 400, "malformed", "certificate is not DER X.509");
		goto out;
	}
	if (lld_serial_hex(hex, X509_get0_serialNumber(x)) < 0) {
		problem(c, 404, "malformed",
			"not a certificate this CA issued");
		goto out;
	}
	rc = lld_store_cert_get(c->srv->store, hex, &row, &c->err);
	if (rc == LL_ENOTFOUND || (rc == 0 && (row.derlen != derlen ||
					       memcmp(row.der, der, derlen)))) {
		problem(c, 404, "malformed",
			"not a certificate this CA issued");
		goto out;
	}
	if (rc < 0) {
		internal(c, "certificate lookup");
		goto out;
	}
	if (c->acct.id != 0) {
		if (revoke_authorized(c, &row) < 0)
			goto out;
	} else if (ll_cert_parse(&cert, der, derlen, &c->err) < 0 ||
		   ll_jwk_from_cert(&ck, cert, &c->err) < 0 ||
		   !ll_jwk_equal(ck, ll_jws_jwk(c->jws))) {
		problem(c, 403, "unauthorized",
			"the JWS key is not the certificate's key");
		goto out;
	}
	rc = lld_store_cert_revoke(c->srv->store, hex, c->req->now, (int)reason,
				   &c->err);
	if (rc == LL_EEXIST) {
		problem(c, 400, "alreadyRevoked", "already revoked");
		goto out;
	}
	if (rc < 0) {
		internal(c, "revocation store");
		goto out;
	}
	fprintf(stderr, LLD_PROG ": revoked %s (reason %ld)\n", hex, reason);
	if (lld_pki_crl_refresh(c->srv, c->req->now, &c->err) < 0)
		lld_report("CRL", &c->err);
	lld_resp_set(c->resp, 200, NULL, NULL, 0);
out:
	ll_jwk_free(&ck);
	ll_cert_free(&cert);
	lld_certrow_clear(&row);
	X509_free(x);
	free(der);
	return 0;
}

/* ---- the directory and nonces ---- */

static int on_directory(struct call *c)
{
	char d[7][LLD_HDR_MAX], root[LLD_HDR_MAX], pkx[LLD_HDR_MAX];
	char vault[LLD_HDR_MAX];
	json_t *meta, *j;
	const char *caa = c->srv->conf->caa_identity;
	const char *at = strrchr(c->srv->conf->mail_from, '@');

	url(d[0], LLD_HDR_MAX, c->srv, "new-nonce");
	url(d[1], LLD_HDR_MAX, c->srv, "new-account");
	url(d[2], LLD_HDR_MAX, c->srv, "new-order");
	url(d[3], LLD_HDR_MAX, c->srv, "revoke-cert");
	snprintf(root, sizeof(root), "%s/ca/root.crt",
		 c->srv->conf->public_url);
	/* where a client finds its recipients' certificates */
	snprintf(pkx, sizeof(pkx), "%s/pkx/", c->srv->conf->public_url);
	/* where a client keeps its encrypted backup (doc/vault-api.md) */
	snprintf(vault, sizeof(vault), "%s/vault/", c->srv->conf->public_url);
	if (caa[0] == '\0')
		caa = at ? at + 1 : "";
	meta = json_pack("{s:b, s:s, s:s, s:s}", "externalAccountRequired", 0,
			 "letterlockRootCertificate", root, "letterlockPkx", pkx,
			 "letterlockVault", vault);
	if (meta != NULL && caa[0] != '\0')
		json_object_set_new(meta, "caaIdentities",
				    json_pack("[s]", caa));
	j = json_pack("{s:s, s:s, s:s, s:s, s:o}", "newNonce", d[0],
		      "newAccount", d[1], "newOrder", d[2], "revokeCert", d[3],
		      "meta", meta);
	c->resp->cache[0] = '\0';
	snprintf(c->resp->cache, sizeof(c->resp->cache),
		 "public, max-age=3600");
	return reply_json(c, 200, j);
}

static const struct route {
	const char *name; /* after /acme/; "#" is a number, "*" a tail */
	enum keymode key;
	int (*run)(struct call *c);
} routes[] = {
	{ "new-account", KEY_JWK, on_new_account },
	{ "new-order", KEY_KID, on_new_order },
	{ "revoke-cert", KEY_EITHER, on_revoke },
	{ "acct/#", KEY_KID, on_account },
	{ "acct/#/orders", KEY_KID, on_account_orders },
	{ "order/#", KEY_KID, on_order },
	{ "order/#/finalize", KEY_KID, on_finalize },
	{ "authz/#", KEY_KID, on_authz },
	{ "chall/#", KEY_KID, on_chall },
	{ "cert/*", KEY_KID, on_cert },
};

/* Does PATH (after /acme/) match PATTERN?  Fills c->id / c->tail. */
static int match(const char *pat, const char *path, struct call *c)
{
	while (*pat != '\0') {
		if (*pat == '#') {
			long long v = 0;
			const char *s = path;

			if (*s < '1' || *s > '9')
				return 0;
			while (*s >= '0' && *s <= '9' && s - path < 18)
				v = v * 10 + (*s++ - '0');
			c->id = v;
			path = s;
			pat++;
		} else if (*pat == '*') {
			if (*path == '\0' || strchr(path, '/'))
				return 0;
			c->tail = path;
			return 1;
		} else if (*pat++ != *path++) {
			return 0;
		}
	}
	return *path == '\0';
}

int lld_acme_handle(struct lld_srv *srv, const struct lld_req *req,
		    struct lld_resp *resp)
{
	struct call c = { .srv = srv, .req = req, .resp = resp };
	const char *p;
	char index[LLD_HDR_MAX];
	const struct route *r = NULL;

	if (strncmp(req->path, ACME_PREFIX, sizeof(ACME_PREFIX) - 1) != 0)
		return -1;
	p = req->path + sizeof(ACME_PREFIX) - 1;
	url(index, sizeof(index), srv, "directory");
	if (strcmp(p, "directory") == 0) {
		if (req->method != LLD_GET && req->method != LLD_HEAD)
			return problem(&c, 405, "malformed", "use GET");
		return on_directory(&c);
	}
	link_add(resp, index, "index");
	lld_nonce_make(srv->nonces, resp->nonce, req->now);
	if (strcmp(p, "new-nonce") == 0) {
		if (req->method == LLD_POST)
			return problem(&c, 405, "malformed", "use HEAD or GET");
		lld_resp_set(resp, req->method == LLD_HEAD ? 200 : 204, NULL,
			     NULL, 0);
		return 0;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (match(routes[i].name, p, &c)) {
			r = &routes[i];
			break;
		}
	if (r == NULL)
		return problem(&c, 404, "malformed", "no such resource");
	if (req->method != LLD_POST)
		return problem(&c, 405, "malformed",
			       "ACME resources are read with POST-as-GET");
	if (authenticate(&c, r->key) == 0)
		r->run(&c);
	call_clear(&c);
	return 0;
}

int lld_acme_authenticate(struct lld_srv *srv, const struct lld_req *req,
			  struct lld_resp *resp, struct lld_auth *out)
{
	return lld_acme_authenticate_max(srv, req, resp, LL_JWS_MAX, out);
}

int lld_acme_authenticate_max(struct lld_srv *srv, const struct lld_req *req,
			      struct lld_resp *resp, size_t max,
			      struct lld_auth *out)
{
	struct call c = { .srv = srv, .req = req, .resp = resp, .jws_max = max };
	int rc;

	memset(out, 0, sizeof(*out));
	lld_nonce_make(srv->nonces, resp->nonce, req->now);
	rc = authenticate(&c, KEY_KID);
	if (rc == 0) { /* moved out */
		out->acct = c.acct;
		memset(&c.acct, 0, sizeof(c.acct));
		out->payload = c.payload;
		c.payload = NULL;
	}
	call_clear(&c);
	return rc;
}

void lld_auth_clear(struct lld_auth *a)
{
	json_decref(a->payload);
	a->payload = NULL;
	lld_account_clear(&a->acct);
}
