/*
 * acme_client.c - ACME (RFC 8555) client for email identifiers and the
 * email-reply-00 challenge (RFC 8823): the directory, the account,
 * orders, authorizations and their challenge, polling, finalize and the
 * certificate's download.  HTTP and JWS: acme_http.c; the objects'
 * JSON: acme_json.c.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "acme_internal.h"
#include <letterlock/backup.h>

#define DEFAULT_TIMEOUT 30 /* seconds for one HTTP exchange */
#define DEFAULT_WAIT 2 /* seconds between polls without Retry-After */
#define SECRET_PREFIX "acme-account-key "
#define JSON_TYPE "application/json"

/* A parser of one kind of object (acme_json.c) for refresh and poll. */
typedef int (*parse_fn)(void *obj, const char *p, size_t len,
			struct ll_error *err);

static void sleep_s(long s)
{
	struct timespec ts = { .tv_sec = s, .tv_nsec = 0 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- the client ---- */

static int fetch_directory(struct ll_acme *a, struct ll_error *err)
{
	struct ll_acme_resp r;
	int rc;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_acme_get(a, LL_ACME_GET, a->dir_url, JSON_TYPE, &r, err);
	if (rc == 0 && r.status != 200)
		rc = ll_acme_http_fail(&r, a->dir_url, err);
	if (rc == 0)
		rc = ll_acme_json_directory(&a->dir, r.sink.body.p,
					    r.sink.body.len, err);
	ll_acme_resp_reset(&r);
	return rc;
}

int ll_acme_new(struct ll_acme **out, const char *url,
		const struct ll_acme_options *opt, struct ll_error *err)
{
	struct ll_acme *a = NULL;
	int rc;

	*out = NULL;
	rc = ll_acme_check_url(url, err);
	if (rc < 0)
		return rc;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return ll_acme_nomem(err);
	a->retry_after = -1;
	a->timeout = opt != NULL && opt->timeout > 0 ? opt->timeout :
						       DEFAULT_TIMEOUT;
	rc = ll_acme_http_new(a, err);
	if (rc < 0)
		goto out;
	a->dir_url = strdup(url);
	if (a->dir_url == NULL) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	if (opt != NULL && opt->ca_file != NULL) {
		a->ca_file = strdup(opt->ca_file);
		if (a->ca_file == NULL) {
			rc = ll_acme_nomem(err);
			goto out;
		}
		if (access(a->ca_file, R_OK) != 0) {
			rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s",
				    a->ca_file, strerror(errno));
			goto out;
		}
	}
	rc = fetch_directory(a, err);
	if (rc < 0)
		goto out;
	*out = a;
	a = NULL;
out:
	ll_acme_free(&a);
	return rc;
}

void ll_acme_free(struct ll_acme **pp)
{
	struct ll_acme *a;

	if (pp == NULL || *pp == NULL)
		return;
	a = *pp;
	*pp = NULL;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	free(a->ca_file);
	free(a->dir_url);
	ll_acme_dir_free(&a->dir);
	free(a->kid);
	ll_jwk_free(&a->key);
	free(a);
}

const char *ll_acme_terms(const struct ll_acme *a)
{
	return a->dir.terms;
}

const char *ll_acme_account_url(const struct ll_acme *a)
{
	return a->kid;
}

void ll_acme_set_key(struct ll_acme *a, struct ll_jwk **key)
{
	ll_jwk_free(&a->key);
	a->key = *key;
	*key = NULL;
	free(a->kid);
	a->kid = NULL;
}

int ll_acme_thumbprint(char out[LL_JWK_THUMBPRINT_LEN + 1],
		       const struct ll_acme *a, struct ll_error *err)
{
	if (a->key == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "no account key");
	return ll_jwk_thumbprint(out, a->key, err);
}

/*
 * POST REQ (a JSON object, taken: it is freed here; NULL counts as out
 * of memory) to URL as ll_acme_post does, expecting JSON back in R.
 */
static int post_json(struct ll_acme *a, const char *url, json_t *req, int jwk,
		     struct ll_acme_resp *r, struct ll_error *err)
{
	char *payload = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	int rc;

	json_decref(req);
	if (payload == NULL)
		return ll_acme_nomem(err);
	rc = ll_acme_post(a, url, payload, jwk, JSON_TYPE, r, err);
	free(payload);
	return rc;
}

/* The new object's URL (Location) into *out, taken from R; else
 * LL_EPARSE "WHAT (Location)". */
static int take_location(char **out, struct ll_acme_resp *r, const char *what,
			 struct ll_error *err)
{
	if (r->location == NULL || !ll_acme_url_text_ok(r->location))
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY, "%s (Location)",
			      what);
	free(*out);
	*out = r->location;
	r->location = NULL;
	return 0;
}

/* ---- account ---- */

int ll_acme_account_key(struct ll_jwk **out, int *created,
			struct ll_keystore *ks, const char *url,
			struct ll_error *err)
{
	struct ll_buf name = { 0 };
	unsigned char *pem = NULL;
	char *npem = NULL;
	size_t plen = 0, nlen = 0;
	struct ll_jwk *k = NULL;
	int rc;

	*out = NULL;
	if (created != NULL)
		*created = 0;
	if (ll_buf_adds(&name, SECRET_PREFIX) < 0 ||
	    ll_buf_adds(&name, url) < 0) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	rc = ll_keystore_get_secret(&pem, &plen, ks, name.p, err);
	if (rc == 0) {
		rc = ll_jwk_from_private_pem(&k, (const char *)pem, plen, err);
		goto done;
	}
	if (rc != LL_ENOTFOUND)
		goto out;
	rc = ll_jwk_generate(&k, "ES256", err);
	if (rc == 0)
		rc = ll_jwk_private_pem(&npem, &nlen, k, err);
	if (rc == 0)
		rc = ll_keystore_put_secret(ks, name.p, npem, nlen, err);
	if (rc == 0 && created != NULL)
		*created = 1;
done:
	if (rc == 0) {
		*out = k;
		k = NULL;
	}
out:
	ll_jwk_free(&k);
	ll_wipe_free(pem, plen);
	ll_wipe_free(npem, nlen);
	ll_buf_free(&name);
	return rc;
}

/* "mailto:" and ADDR, octets outside RFC 6068's addr-spec characters
 * percent-encoded. */
static int mailto(struct ll_buf *b, const char *addr)
{
	static const char ok[] = "!$'*+-.=@_~";
	int rc = ll_buf_adds(b, "mailto:");

	for (const unsigned char *s = (const unsigned char *)addr;
	     rc == 0 && *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(ok, *s) != NULL)
			rc = ll_buf_add(b, s, 1);
		else
			rc = ll_buf_addf(b, "%%%02X", *s);
	}
	return rc;
}

int ll_acme_register(struct ll_acme *a, const char *contact, int *created,
		     struct ll_error *err)
{
	struct ll_buf uri = { 0 };
	struct ll_acme_resp r;
	struct ll_mailbox m;
	char *kid = NULL;
	json_t *req;
	int rc = 0;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	if (created != NULL)
		*created = 0;
	req = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (req == NULL) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	if (contact != NULL) {
		rc = ll_mailbox_parse(&m, contact, strlen(contact), err);
		if (rc < 0)
			goto out;
		if (mailto(&uri, m.addr) < 0 ||
		    json_object_set_new(req, "contact",
					json_pack("[s]", uri.p)) != 0) {
			rc = ll_acme_nomem(err);
			goto out;
		}
	}
	rc = post_json(a, a->dir.new_account, req, 1, &r, err);
	req = NULL;
	if (rc == 0)
		rc = take_location(&kid, &r, "newAccount: no account URL", err);
	if (rc == 0 && r.sink.body.len > 0)
		rc = ll_acme_json_account(r.sink.body.p, r.sink.body.len, err);
	if (rc < 0)
		goto out;
	free(a->kid);
	a->kid = kid;
	kid = NULL;
	if (created != NULL)
		*created = r.status == 201;
out:
	ll_acme_resp_reset(&r);
	json_decref(req);
	free(kid);
	ll_buf_free(&uri);
	return rc;
}

/* ---- the key directory ---- */

const char *ll_acme_pkx_url(const struct ll_acme *a)
{
	return a->dir.pkx_url;
}

int ll_acme_pkx_caps(struct ll_acme *a, const char *fpr,
		     const char *const *caps, size_t n, struct ll_error *err)
{
	struct ll_acme_resp r;
	char url[LL_ACME_MAX_URL + 8];
	json_t *list = json_array();
	int rc;

	if (a->dir.pkx_url == NULL) {
		json_decref(list);
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_POLICY,
			      "the directory names no key directory "
			      "(meta letterlockPkx)");
	}
	snprintf(url, sizeof(url), "%s%scaps", a->dir.pkx_url,
		 a->dir.pkx_url[strlen(a->dir.pkx_url) - 1] == '/' ? "" : "/");
	for (size_t i = 0; list != NULL && i < n; i++)
		json_array_append_new(list, json_string(caps[i]));
	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = post_json(a, url,
		       list ? json_pack("{s:s,s:o}", "certificate", fpr,
					"capabilities", list) :
			      NULL,
		       0, &r, err);
	ll_acme_resp_reset(&r);
	return rc;
}

/* ---- the key vault ---- */

const char *ll_acme_vault_url(const struct ll_acme *a)
{
	return a->dir.vault_url;
}

/* POST REQ (consumed) to the vault's NAME into R. */
static int vault_post(struct ll_acme *a, const char *name, json_t *req,
		      struct ll_acme_resp *r, struct ll_error *err)
{
	char url[LL_ACME_MAX_URL + 16];
	const char *base = a->dir.vault_url;

	if (base == NULL) {
		json_decref(req);
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_POLICY,
			      "the directory names no key vault "
			      "(meta letterlockVault)");
	}
	if (req == NULL)
		return ll_acme_nomem(err);
	snprintf(url, sizeof(url), "%s%s%s", base,
		 base[strlen(base) - 1] == '/' ? "" : "/", name);
	return post_json(a, url, req, 0, r, err);
}

int ll_acme_vault_put(struct ll_acme *a, const char *address, const void *blob,
		      size_t len, long long *version, struct ll_error *err)
{
	struct ll_acme_resp r;
	char *b64 = NULL;
	json_t *j = NULL;
	int rc;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_b64url_encode(&b64, NULL, blob, len, err);
	if (rc < 0)
		goto out;
	rc = vault_post(a, "put",
			json_pack("{s:s, s:s}", "address", address, "backup",
				  b64),
			&r, err);
	if (rc < 0)
		goto out;
	j = json_loadb(r.sink.body.p ? r.sink.body.p : "", r.sink.body.len,
		       JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_integer(json_object_get(j, "version"))) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the vault's answer has no version");
		goto out;
	}
	if (version != NULL)
		*version = (long long)json_integer_value(
			json_object_get(j, "version"));
out:
	json_decref(j);
	free(b64);
	ll_acme_resp_reset(&r);
	return rc;
}

/* The versions VS of the vault's answer J, newest first; 0 or -1. */
static int vault_versions(struct ll_acme_vault_versions *vs, json_t *j)
{
	json_t *list = json_object_get(j, "versions"), *e;
	size_t i;

	memset(vs, 0, sizeof(*vs));
	if (!json_is_integer(json_object_get(j, "version")))
		return -1;
	vs->got = json_integer_value(json_object_get(j, "version"));
	json_array_foreach(list, i, e)
	{
		long long v = json_integer_value(e);
		size_t k = vs->n;

		if (!json_is_integer(e) || v < 1 ||
		    vs->n == LL_ACME_VAULT_VERSIONS_MAX)
			continue;
		/* kept sorted, newest first, whatever order it came in */
		while (k > 0 && vs->kept[k - 1] < v) {
			vs->kept[k] = vs->kept[k - 1];
			k--;
		}
		vs->kept[k] = v;
		vs->n++;
	}
	return 0;
}

int ll_acme_vault_get(unsigned char **out, size_t *len, struct ll_acme *a,
		      const char *address, long long version,
		      struct ll_error *err)
{
	return ll_acme_vault_get_versions(out, len, NULL, a, address, version,
					  err);
}

int ll_acme_vault_get_versions(unsigned char **out, size_t *len,
			       struct ll_acme_vault_versions *vs,
			       struct ll_acme *a, const char *address,
			       long long version, struct ll_error *err)
{
	struct ll_acme_resp r;
	json_t *j = NULL, *req;
	const char *b64;
	int rc;

	*out = NULL;
	*len = 0;
	ll_acme_resp_init(&r, LL_ACME_MAX_VAULT);
	req = json_pack("{s:s}", "address", address);
	if (req != NULL && version > 0)
		json_object_set_new(req, "version", json_integer(version));
	rc = vault_post(a, "get", req, &r, err);
	if (rc < 0)
		goto out;
	j = json_loadb(r.sink.body.p ? r.sink.body.p : "", r.sink.body.len,
		       JSON_REJECT_DUPLICATES, NULL);
	b64 = json_string_value(json_object_get(j, "backup"));
	if (b64 == NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the vault's answer has no backup");
		goto out;
	}
	if (vs != NULL && vault_versions(vs, j) < 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the vault's answer has no version");
		goto out;
	}
	rc = ll_b64url_decode(out, len, b64, strlen(b64), LL_BACKUP_MAX, err);
out:
	json_decref(j);
	ll_acme_resp_reset(&r);
	return rc;
}

/* ---- revocation ---- */

int ll_acme_revoke(struct ll_acme *a, const struct ll_cert *cert, int reason,
		   struct ll_error *err)
{
	struct ll_acme_resp r;
	unsigned char *der = NULL;
	size_t len = 0;
	char *b64 = NULL;
	json_t *req = NULL;
	int rc;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	if (reason < -1 || reason > 10 || reason == 7) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "%d is not a CRLReason code", reason);
		goto out;
	}
	if (a->dir.revoke_cert == NULL) {
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_POLICY,
			    "the directory names no revokeCert");
		goto out;
	}
	rc = ll_cert_der(&der, &len, cert, err);
	if (rc == 0)
		rc = ll_b64url_encode(&b64, NULL, der, len, err);
	if (rc < 0)
		goto out;
	req = json_pack("{s:s}", "certificate", b64);
	if (req != NULL && reason >= 0 &&
	    json_object_set_new(req, "reason", json_integer(reason)) != 0) {
		json_decref(req);
		req = NULL;
	}
	/* the answer is 200 with an empty body (RFC 8555 section 7.6) */
	rc = post_json(a, a->dir.revoke_cert, req, 0, &r, err);
out:
	ll_acme_resp_reset(&r);
	free(b64);
	free(der);
	return rc;
}

/* ---- the root ---- */

int ll_acme_root_cert(struct ll_cert **out, struct ll_acme *a,
		      struct ll_error *err)
{
	struct ll_cert *c = NULL;
	struct ll_acme_resp r;
	EVP_PKEY *pk;
	X509 *x;
	int rc;

	*out = NULL;
	if (a->dir.root_url == NULL)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_POLICY,
			      "the directory names no root certificate "
			      "(meta letterlockRootCertificate)");
	ll_acme_resp_init(&r, LL_ACME_MAX_CERT);
	rc = ll_acme_get(a, LL_ACME_GET, a->dir.root_url,
			 "application/pkix-cert, application/x-x509-ca-cert, "
			 "application/x-pem-file",
			 &r, err);
	if (rc == 0 && r.status != 200)
		rc = ll_acme_http_fail(&r, a->dir.root_url, err);
	if (rc == 0)
		rc = ll_cert_parse(&c, r.sink.body.p ? r.sink.body.p : "",
				   r.sink.body.len, err);
	if (rc < 0)
		goto out;
	x = ll_cert_x509(c);
	pk = X509_get0_pubkey(x);
	ERR_clear_error();
	if (X509_check_ca(x) < 1 || X509_check_issued(x, x) != X509_V_OK ||
	    pk == NULL || X509_verify(x, pk) != 1) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "%.200s is not a self-signed CA certificate",
				 a->dir.root_url);
		goto out;
	}
	*out = c;
	c = NULL;
out:
	ll_cert_free(&c);
	ll_acme_resp_reset(&r);
	return rc;
}

/* ---- fetching and polling ---- */

/* POST-as-GET URL and hand the answer to PARSE for OBJ. */
static int refresh(struct ll_acme *a, const char *url, parse_fn parse,
		   void *obj, struct ll_error *err)
{
	struct ll_acme_resp r;
	int rc;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_acme_post(a, url, NULL, 0, JSON_TYPE, &r, err);
	if (rc == 0)
		rc = parse(obj, r.sink.body.p, r.sink.body.len, err);
	ll_acme_resp_reset(&r);
	return rc;
}

/*
 * Refresh OBJ at URL while its status *ST is one of BUSY (a bit per
 * status), pausing as the CA asks (within 1 .. LL_ACME_MAX_WAIT
 * seconds), for at most TIMEOUT seconds.  Then 0 if *ST is one of
 * GOOD, else LL_EPOLICY saying the status and WHY (the object's error,
 * "" if none).
 */
static int poll(struct ll_acme *a, const char *url, const char *what,
		parse_fn parse, void *obj, const enum ll_acme_status *st,
		const char *why, unsigned busy, unsigned good, int timeout,
		struct ll_error *err)
{
	time_t deadline = mono_now() + (timeout > 0 ? timeout : 0);
	int rc;

	/* what we hold may be old (an order read before its authorization
	 * became valid): look once before waiting */
	if (busy & (1u << *st)) {
		rc = refresh(a, url, parse, obj, err);
		if (rc < 0)
			return rc;
	}
	while (busy & (1u << *st)) {
		long wait = a->retry_after >= 0 ? a->retry_after : DEFAULT_WAIT;
		time_t now = mono_now();

		if (now >= deadline)
			return ll_err(err, LL_EIO, LL_ECLASS_OS,
				      "%s is still %s after %d s", what,
				      ll_acme_status_name(*st), timeout);
		if (wait < 1)
			wait = 1;
		if (wait > LL_ACME_MAX_WAIT)
			wait = LL_ACME_MAX_WAIT;
		if (wait > deadline - now)
			wait = (long)(deadline - now);
		sleep_s(wait);
		rc = refresh(a, url, parse, obj, err);
		if (rc < 0)
			return rc;
	}
	if (good & (1u << *st))
		return 0;
	return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "%s is %s%s%s", what,
		      ll_acme_status_name(*st), why[0] ? ": " : "", why);
}

/* ---- orders ---- */

static int order_parse_cb(void *obj, const char *p, size_t len,
			  struct ll_error *err)
{
	return ll_acme_json_order(obj, p, len, err);
}

int ll_acme_order_new(struct ll_acme_order **out, struct ll_acme *a,
		      const char *address, struct ll_error *err)
{
	struct ll_acme_order *o = NULL;
	struct ll_acme_resp r;
	struct ll_mailbox m;
	int rc;

	*out = NULL;
	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_mailbox_parse(&m, address, strlen(address), err);
	if (rc < 0)
		goto out;
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	rc = post_json(a, a->dir.new_order,
		       json_pack("{s:[{s:s,s:s}]}", "identifiers", "type",
				 "email", "value", m.addr),
		       0, &r, err);
	if (rc == 0)
		rc = take_location(&o->url, &r, "newOrder: no order URL", err);
	if (rc == 0)
		rc = ll_acme_json_order(o, r.sink.body.p, r.sink.body.len, err);
	if (rc < 0)
		goto out;
	*out = o;
	o = NULL;
out:
	ll_acme_order_free(&o);
	ll_acme_resp_reset(&r);
	return rc;
}

int ll_acme_order_open(struct ll_acme_order **out, struct ll_acme *a,
		       const char *url, struct ll_error *err)
{
	struct ll_acme_order *o;
	int rc;

	*out = NULL;
	if (strlen(url) > LL_ACME_MAX_URL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "an order URL longer than %d bytes",
			      LL_ACME_MAX_URL);
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return ll_acme_nomem(err);
	o->url = strdup(url);
	rc = o->url == NULL ? ll_acme_nomem(err) :
			      refresh(a, url, order_parse_cb, o, err);
	if (rc < 0) {
		ll_acme_order_free(&o);
		return rc;
	}
	*out = o;
	return 0;
}

void ll_acme_order_free(struct ll_acme_order **pp)
{
	struct ll_acme_order *o;

	if (pp == NULL || *pp == NULL)
		return;
	o = *pp;
	*pp = NULL;
	for (size_t i = 0; i < o->nauthz; i++)
		free(o->authz[i]);
	free(o->url);
	free(o->finalize);
	free(o->certificate);
	free(o);
}

const char *ll_acme_order_url(const struct ll_acme_order *o)
{
	return o->url;
}

enum ll_acme_status ll_acme_order_status(const struct ll_acme_order *o)
{
	return o->status;
}

size_t ll_acme_order_authz_count(const struct ll_acme_order *o)
{
	return o->nauthz;
}

const char *ll_acme_order_authz(const struct ll_acme_order *o, size_t i)
{
	return i < o->nauthz ? o->authz[i] : NULL;
}

int ll_acme_order_poll(struct ll_acme *a, struct ll_acme_order *o, int timeout,
		       struct ll_error *err)
{
	return poll(a, o->url, "the order", order_parse_cb, o, &o->status,
		    o->error, 1u << LL_ACME_PENDING | 1u << LL_ACME_PROCESSING,
		    1u << LL_ACME_READY | 1u << LL_ACME_VALID, timeout, err);
}

int ll_acme_order_finalize(struct ll_acme *a, struct ll_acme_order *o,
			   const unsigned char *csr, size_t len,
			   struct ll_error *err)
{
	struct ll_acme_resp r;
	char *b64 = NULL;
	int rc;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_b64url_encode(&b64, NULL, csr, len, err);
	if (rc == 0)
		rc = post_json(a, o->finalize, json_pack("{s:s}", "csr", b64),
			       0, &r, err);
	if (rc == 0)
		rc = ll_acme_json_order(o, r.sink.body.p, r.sink.body.len, err);
	ll_acme_resp_reset(&r);
	free(b64);
	return rc;
}

int ll_acme_order_certificate(char **out, size_t *len, struct ll_acme *a,
			      const struct ll_acme_order *o,
			      struct ll_error *err)
{
	static const char pem_ct[] = "application/pem-certificate-chain";
	struct ll_acme_resp r;
	struct ll_buf *b = &r.sink.body;
	int rc;

	*out = NULL;
	*len = 0;
	if (o->status != LL_ACME_VALID || o->certificate == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the order has no certificate yet");
	ll_acme_resp_init(&r, LL_ACME_MAX_CHAIN);
	rc = ll_acme_post(a, o->certificate, NULL, 0, pem_ct, &r, err);
	if (rc < 0)
		goto out;
	if ((r.ctype[0] != '\0' && strcmp(r.ctype, pem_ct) != 0) ||
	    b->len == 0 ||
	    memmem(b->p, b->len, "-----BEGIN CERTIFICATE-----", 27) == NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the certificate download is not %s", pem_ct);
		goto out;
	}
	*out = b->p;
	*len = b->len;
	memset(b, 0, sizeof(*b));
out:
	ll_acme_resp_reset(&r);
	return rc;
}

/* ---- authorizations ---- */

static int authz_parse_cb(void *obj, const char *p, size_t len,
			  struct ll_error *err)
{
	return ll_acme_json_authz(obj, p, len, err);
}

int ll_acme_authz_fetch(struct ll_acme_authz **out, struct ll_acme *a,
			const char *url, struct ll_error *err)
{
	struct ll_acme_authz *z = calloc(1, sizeof(*z));
	int rc;

	*out = NULL;
	if (z == NULL)
		return ll_acme_nomem(err);
	z->url = strdup(url);
	if (z->url == NULL) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	rc = refresh(a, url, authz_parse_cb, z, err);
	if (rc < 0)
		goto out;
	*out = z;
	z = NULL;
out:
	ll_acme_authz_free(&z);
	return rc;
}

void ll_acme_authz_free(struct ll_acme_authz **pp)
{
	struct ll_acme_authz *z;

	if (pp == NULL || *pp == NULL)
		return;
	z = *pp;
	*pp = NULL;
	free(z->url);
	free(z->identifier);
	free(z->chal_url);
	free(z->token);
	free(z->from);
	free(z);
}

enum ll_acme_status ll_acme_authz_status(const struct ll_acme_authz *z)
{
	return z->status;
}

const char *ll_acme_authz_identifier(const struct ll_acme_authz *z)
{
	return z->identifier;
}

int ll_acme_authz_has_challenge(const struct ll_acme_authz *z)
{
	return z->chal_url != NULL;
}

const char *ll_acme_authz_token(const struct ll_acme_authz *z)
{
	return z->token;
}

const char *ll_acme_authz_from(const struct ll_acme_authz *z)
{
	return z->from;
}

enum ll_acme_status
ll_acme_authz_challenge_status(const struct ll_acme_authz *z)
{
	return z->chal_status;
}

const char *ll_acme_authz_error(const struct ll_acme_authz *z)
{
	return z->error;
}

int ll_acme_authz_respond(struct ll_acme *a, struct ll_acme_authz *z,
			  struct ll_error *err)
{
	struct ll_acme_resp r;
	int rc;

	if (z->chal_url == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the authorization has no email-reply-00 "
			      "challenge");
	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_acme_post(a, z->chal_url, "{}", 0, JSON_TYPE, &r, err);
	/* the answer is the challenge, when there is one */
	if (rc == 0 && r.sink.body.len > 0)
		rc = ll_acme_json_challenge(z, r.sink.body.p, r.sink.body.len,
					    err);
	ll_acme_resp_reset(&r);
	return rc;
}

int ll_acme_authz_poll(struct ll_acme *a, struct ll_acme_authz *z, int timeout,
		       struct ll_error *err)
{
	return poll(a, z->url, "the authorization", authz_parse_cb, z,
		    &z->status, z->error, 1u << LL_ACME_PENDING,
		    1u << LL_ACME_VALID, timeout, err);
}
