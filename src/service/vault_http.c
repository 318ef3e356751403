/*
 * vault_http.c - the key vault over HTTP; the interface is
 * doc/vault-api.md:
 *
 *   POST /vault/put      JWS {"address", "backup"}: a new version
 *   POST /vault/get      JWS {"address"[, "version"]}: the backup
 *   POST /vault/delete   JWS {"address"}: every version gone
 *
 * Every request is authenticated as an ACME request signed with an
 * account's "kid" (lld_acme_authenticate), and is for one address that
 * account proved control of by email within [vault] fresh seconds: the
 * time its challenge was validated, not the time of an order, counts.
 * Reads are counted in the store over [vault] window seconds: every
 * read an account asks for, and every read of an address by an account
 * with a fresh proof of it; over either limit the answer is 429 with
 * Retry-After.  The
 * service keeps the blob as it came: it never sees a key or a recovery
 * code, and nothing of a blob reaches the log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <letterlock/ca.h>
#include <letterlock/jose.h>

#include "front.h"
#include "vault.h"

#define VERSIONS_MAX 16

/* One request. */
struct vault {
	struct lld_srv *srv;
	const struct lld_req *req;
	struct lld_resp *resp;
	struct lld_auth auth;
	char email[LLD_EMAIL_MAX + 1]; /* canonical */
	struct ll_error err;
};

static int problem(struct vault *v, int status, const char *type,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int problem(struct vault *v, int status, const char *type,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lld_resp_problemv(v->resp, status, type, fmt, ap);
	va_end(ap);
	return -1;
}

static int internal(struct vault *v, const char *what)
{
	fprintf(stderr, LLD_PROG ": vault %s: %s\n", what, v->err.message);
	return problem(v, 500, "serverInternal", "%s failed", what);
}

static int send_json(struct vault *v, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL)
		return problem(v, 500, "serverInternal", "out of memory");
	lld_resp_set(v->resp, status, "application/json", text, strlen(text));
	free(text);
	return 0;
}

/*
 * The payload's "address", canonical, into v->email; then the mailbox
 * proof: the account validated a challenge for it within [vault] fresh.
 * 0, or -1 with the problem.
 */
static int proven(struct vault *v)
{
	const char *a =
		json_string_value(json_object_get(v->auth.payload, "address"));
	time_t when = 0;

	if (a == NULL)
		return problem(v, 400, "malformed",
			       "the payload needs \"address\"");
	if (ll_ca_mailbox_canonical(v->email, sizeof(v->email), NULL, a,
				    &v->err) < 0)
		return problem(v, 400, "rejectedIdentifier", "%s",
			       v->err.message);
	if (lld_store_proof_latest(v->srv->store, v->auth.acct.id, v->email,
				   &when, &v->err) < 0)
		return internal(v, "proof lookup");
	if (when == 0 || v->req->now - when > v->srv->conf->vault_fresh)
		return problem(v, 403, "unauthorized",
			       "no mailbox proof of %s by this account in the "
			       "last %d minutes: prove it with a new order "
			       "first",
			       v->email, v->srv->conf->vault_fresh / 60);
	return 0;
}

/* The versions kept of v->email as a JSON array. */
static json_t *versions(struct vault *v)
{
	int64_t ids[VERSIONS_MAX];
	size_t n = 0;
	json_t *a = json_array();

	if (a == NULL ||
	    lld_store_vault_versions(v->srv->store, v->email, ids, VERSIONS_MAX,
				     &n, &v->err) < 0) {
		json_decref(a);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

/* The answer about ROW, with the blob when BLOB is set. */
static int answer(struct vault *v, int status, const struct lld_vaultrow *row,
		  int blob)
{
	char when[32], *b64 = NULL;
	json_t *vs = versions(v), *j;

	if (vs == NULL)
		return internal(v, "version list");
	lld_rfc3339(when, sizeof(when), row->stamp);
	j = json_pack("{s:s, s:I, s:s, s:I, s:o}", "address", v->email,
		      "version", (json_int_t)row->version, "updated", when,
		      "size", (json_int_t)row->len, "versions", vs);
	if (j != NULL && blob) {
		if (ll_b64url_encode(&b64, NULL, row->blob, row->len, &v->err) <
		    0) {
			json_decref(j);
			return internal(v, "encoding");
		}
		json_object_set_new(j, "backup", json_string(b64));
		free(b64);
	}
	return send_json(v, status, j);
}

static int on_put(struct vault *v)
{
	const char *b64 =
		json_string_value(json_object_get(v->auth.payload, "backup"));
	struct lld_vaultrow row = { 0 };
	unsigned char *blob = NULL;
	size_t len = 0;
	int64_t version = 0;

	if (b64 == NULL)
		return problem(v, 400, "malformed",
			       "the payload needs \"backup\" (base64url)");
	if (ll_b64url_decode(&blob, &len, b64, strlen(b64), LLD_VAULT_BLOB_MAX,
			     &v->err) < 0)
		return problem(v, v->err.code == LL_ETOOBIG ? 413 : 400,
			       "malformed", "backup: %s", v->err.message);
	if (len == 0) {
		free(blob);
		return problem(v, 400, "malformed", "the backup is empty");
	}
	if (lld_store_vault_put(v->srv->store, v->email, v->auth.acct.id, blob,
				len, v->req->now, v->srv->conf->vault_keep,
				&version, &v->err) < 0) {
		free(blob);
		return internal(v, "store");
	}
	fprintf(stderr,
		LLD_PROG ": vault: %s version %lld (%zu octets, account "
			 "%lld)\n",
		v->email, (long long)version, len, (long long)v->auth.acct.id);
	row.version = version;
	row.account = v->auth.acct.id;
	row.stamp = v->req->now;
	row.len = len;
	answer(v, 201, &row, 0);
	free(blob);
	return 0;
}

/* Over a limit of reads: 429, with when to come back. */
static int limited(struct vault *v, const char *whose)
{
	v->resp->retry_after = v->srv->conf->vault_window;
	return problem(v, 429, "rateLimited",
		       "too many vault reads %s; retry in %d s", whose,
		       v->srv->conf->vault_window);
}

static int on_get(struct vault *v, int proof)
{
	const struct lld_conf *c = v->srv->conf;
	json_t *jv = json_object_get(v->auth.payload, "version");
	struct lld_vaultrow row = { 0 };
	int64_t by_email = 0, by_account = 0, version = 0;
	int rc;

	if (jv != NULL && (!json_is_integer(jv) || json_integer_value(jv) < 1))
		return problem(v, 400, "malformed",
			       "\"version\" must be a positive integer");
	version = jv ? (int64_t)json_integer_value(jv) : 0;
	if (lld_store_vault_reads(v->srv->store, v->email, v->auth.acct.id,
				  v->req->now - c->vault_window, &by_email,
				  &by_account, &v->err) < 0)
		return internal(v, "read count");
	if (by_account >= c->vault_reads_account)
		return limited(v, "by this account");
	/* an account without the proof counts against itself only */
	if (lld_store_vault_read(v->srv->store, proof == 0 ? v->email : "",
				 v->auth.acct.id, v->req->now,
				 v->req->now - c->vault_window, &v->err) < 0)
		return internal(v, "read count");
	if (proof < 0)
		return -1;
	if (by_email >= c->vault_reads_address)
		return limited(v, "of this address");
	rc = lld_store_vault_get(v->srv->store, v->email, version, &row,
				 &v->err);
	if (rc == LL_ENOTFOUND)
		return problem(v, 404, "malformed", "no backup of %s%s",
			       v->email, version ? " of that version" : "");
	if (rc < 0)
		return internal(v, "store");
	fprintf(stderr,
		LLD_PROG ": vault: %s version %lld read (account %lld)\n",
		v->email, (long long)row.version, (long long)v->auth.acct.id);
	answer(v, 200, &row, 1);
	lld_vaultrow_clear(&row);
	return 0;
}

static int on_delete(struct vault *v)
{
	int rc = lld_store_vault_delete(v->srv->store, v->email, &v->err);

	if (rc == LL_ENOTFOUND)
		return problem(v, 404, "malformed", "no backup of %s",
			       v->email);
	if (rc < 0)
		return internal(v, "store");
	fprintf(stderr, LLD_PROG ": vault: %s deleted (account %lld)\n",
		v->email, (long long)v->auth.acct.id);
	return send_json(v, 200, json_pack("{s:s}", "address", v->email));
}

int lld_vault_handle(struct lld_srv *srv, const struct lld_req *req,
		     struct lld_resp *resp)
{
	struct vault v = { .srv = srv, .req = req, .resp = resp };
	const char *p = req->path;
	int proof;

	if (strncmp(p, LLD_VAULT_PREFIX, sizeof(LLD_VAULT_PREFIX) - 1) != 0)
		return -1;
	p += sizeof(LLD_VAULT_PREFIX) - 1;
	if (strcmp(p, "put") != 0 && strcmp(p, "get") != 0 &&
	    strcmp(p, "delete") != 0) {
		problem(&v, 404, "malformed", "no such resource");
		return 0;
	}
	if (req->method != LLD_POST) {
		problem(&v, 405, "malformed", "use POST (a JWS)");
		return 0;
	}
	if (lld_acme_authenticate_max(srv, req, resp, LLD_VAULT_BODY_MAX,
				      &v.auth) < 0)
		return 0;
	if (v.auth.payload == NULL) {
		problem(&v, 400, "malformed", "the payload must be an object");
		goto out;
	}
	proof = proven(&v);
	/* a read that is refused still counts, against its account */
	if (strcmp(p, "get") == 0 && v.email[0] != '\0')
		on_get(&v, proof);
	else if (proof == 0 && strcmp(p, "put") == 0)
		on_put(&v);
	else if (proof == 0 && strcmp(p, "delete") == 0)
		on_delete(&v);
out:
	lld_auth_clear(&v.auth);
	return 0;
}
