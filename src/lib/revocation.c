/*
 * revocation.c - is a signer's certificate revoked?  The OCSP client
 * (RFC 6960: the request, the exchange over HTTP, the judgement of the
 * answer), the answers and this home's own revocations kept in the
 * home (table "revocation"), and the rule ll_msg_open applies
 * (letterlock/revocation.h).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "internal.h"

#define LEEWAY 300 /* clock difference allowed, s */
#define KEEP_FOREVER ((sqlite3_int64)INT64_MAX)

static const char *const reasons[] = {
	"unspecified",	      "keyCompromise",	   "cACompromise",
	"affiliationChanged", "superseded",	   "cessationOfOperation",
	"certificateHold",    NULL /* 7 unused */, "removeFromCRL",
	"privilegeWithdrawn", "aACompromise",
};

const char *ll_rev_state_name(enum ll_rev_state s)
{
	switch (s) {
	case LL_REV_UNCHECKED:
		return "unchecked";
	case LL_REV_GOOD:
		return "good";
	case LL_REV_REVOKED:
		return "revoked";
	case LL_REV_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}

int ll_rev_reason_parse(const char *name)
{
	for (size_t i = 0; i < LL_ARRAY_SIZE(reasons); i++)
		if (reasons[i] != NULL && strcmp(name, reasons[i]) == 0)
			return (int)i;
	return -1;
}

const char *ll_rev_reason_name(int code)
{
	if (code < 0)
		return "unspecified";
	if ((size_t)code >= LL_ARRAY_SIZE(reasons) || reasons[code] == NULL)
		return "unknown reason";
	return reasons[code];
}

static void rev_init(struct ll_revocation *r)
{
	memset(r, 0, sizeof(*r));
	r->reason = -1;
}

static void rev_unknown(struct ll_revocation *r, const char *why)
{
	rev_init(r);
	r->state = LL_REV_UNKNOWN;
	snprintf(r->why, sizeof(r->why), "%.159s", why);
}

/* ---- the home's table ---- */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS revocation ("
	" fpr TEXT PRIMARY KEY," /* SHA-256 of the DER, hex */
	" status TEXT NOT NULL," /* good, revoked */
	" revoked INTEGER NOT NULL,"
	" reason INTEGER NOT NULL,"
	" this_update INTEGER NOT NULL,"
	" next_update INTEGER NOT NULL,"
	" until INTEGER NOT NULL," /* kept until then */
	" source TEXT NOT NULL)"; /* ocsp, local */

/* SQL prepared on KS's database, the table made first. */
static int prep(sqlite3_stmt **st, struct ll_keystore *ks, const char *sql,
		struct ll_error *err)
{
	sqlite3 *db = ll_keystore_db(ks);

	*st = NULL;
	if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "the revocation table");
	return 0;
}

static const char marked_sql[] = "SELECT 1 FROM revocation WHERE fpr = ?"
				 " AND status = 'revoked'";

int ll_revocation_marked(struct ll_keystore *ks, const char *fpr)
{
	sqlite3_stmt *st = NULL;
	int marked;

	if (ll_keystore_stmt(&st, ks, marked_sql, schema, NULL) < 0)
		return 0;
	sqlite3_bind_text(st, 1, fpr, -1, SQLITE_STATIC);
	marked = sqlite3_step(st) == SQLITE_ROW;
	ll_keystore_stmt_done(st);
	return marked;
}

/* Keep R for FPR until UNTIL; a "revoked" row is never replaced, but
 * for a compromise (key, CA, AA) learnt after another reason. */
static int cache_put(struct ll_keystore *ks, const char *fpr,
		     const struct ll_revocation *r, sqlite3_int64 until,
		     const char *source, struct ll_error *err)
{
	sqlite3_stmt *st;
	int rc = prep(&st, ks,
		      "INSERT INTO revocation VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
		      " ?7, ?8) ON CONFLICT (fpr) DO UPDATE SET"
		      " status = excluded.status,"
		      " revoked = CASE revocation.status WHEN 'revoked'"
		      " THEN revocation.revoked ELSE excluded.revoked END,"
		      " reason = excluded.reason,"
		      " this_update = excluded.this_update,"
		      " next_update = excluded.next_update,"
		      " until = excluded.until, source = excluded.source"
		      " WHERE revocation.status <> 'revoked'"
		      /* a compromise learnt later still counts */
		      " OR (excluded.status = 'revoked'"
		      " AND excluded.reason IN (1, 2, 10)"
		      " AND revocation.reason NOT IN (1, 2, 10))",
		      err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, fpr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2,
			  r->state == LL_REV_REVOKED ? "revoked" : "good", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->revoked);
	sqlite3_bind_int64(st, 4, r->reason);
	sqlite3_bind_int64(st, 5, r->this_update);
	sqlite3_bind_int64(st, 6, r->next_update);
	sqlite3_bind_int64(st, 7, until);
	sqlite3_bind_text(st, 8, source, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ll_keystore_db_err(err, ll_keystore_db(ks),
					"keeping a revocation status");
	sqlite3_finalize(st);
	return rc;
}

static const char get_sql[] = "SELECT status, revoked, reason, this_update,"
			      " next_update, source FROM revocation"
			      " WHERE fpr = ?1 AND until > ?2";

/* What is kept for FPR and still current at NOW: 1 (into *r), 0 none.
 * Asked for each signature opened: the statement is prepared once per
 * keystore, and each call reads the table, so that a revocation
 * written by another process is seen at the next message as before. */
static int cache_get(struct ll_revocation *r, struct ll_keystore *ks,
		     const char *fpr, time_t now, struct ll_error *err)
{
	sqlite3_stmt *st;
	int rc = ll_keystore_stmt(&st, ks, get_sql, schema, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, fpr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		const char *src = (const char *)sqlite3_column_text(st, 5);

		rev_init(r);
		r->state = s != NULL && strcmp(s, "revoked") == 0 ?
				   LL_REV_REVOKED :
				   LL_REV_GOOD;
		r->revoked = (time_t)sqlite3_column_int64(st, 1);
		r->reason = sqlite3_column_int(st, 2);
		r->this_update = (time_t)sqlite3_column_int64(st, 3);
		r->next_update = (time_t)sqlite3_column_int64(st, 4);
		snprintf(r->source, sizeof(r->source), "%s",
			 src != NULL && strcmp(src, "local") == 0 ? "local" :
								    "cache");
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = ll_keystore_db_err(err, ll_keystore_db(ks),
					"reading a revocation status");
	}
	ll_keystore_stmt_done(st);
	return rc;
}

int ll_revocation_mark_fpr(struct ll_keystore *ks, const char *fpr, time_t when,
			   int reason, struct ll_error *err)
{
	struct ll_revocation r;

	rev_init(&r);
	r.state = LL_REV_REVOKED;
	r.revoked = when;
	r.reason = reason;
	r.this_update = when;
	return cache_put(ks, fpr, &r, KEEP_FOREVER, "local", err);
}

int ll_revocation_mark(struct ll_keystore *ks, const struct ll_cert *cert,
		       time_t when, int reason, struct ll_error *err)
{
	return ll_revocation_mark_fpr(ks, ll_cert_fingerprint(cert), when,
				      reason, err);
}

int ll_revocation_marks_foreach(struct ll_keystore *ks,
				ll_revocation_mark_fn fn, void *arg,
				struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, step = SQLITE_DONE;

	rc = prep(&st, ks,
		  "SELECT fpr, revoked, reason FROM revocation"
		  " WHERE status = 'revoked' AND source = 'local'"
		  " ORDER BY fpr",
		  err);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *fpr = (const char *)sqlite3_column_text(st, 0);

		if (fpr != NULL)
			rc = fn(arg, fpr, (time_t)sqlite3_column_int64(st, 1),
				sqlite3_column_int(st, 2));
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ll_keystore_db_err(err, ll_keystore_db(ks),
					"reading revocations");
	sqlite3_finalize(st);
	return rc;
}

int ll_ctx_set_revocation(struct ll_ctx *ctx,
			  const struct ll_revocation_options *opt,
			  struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	if (opt == NULL || opt->version != LL_REVOCATION_OPTIONS_VERSION)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "revocation options of an unknown version");
	ll_ctx_rev_set_options(ctx, opt);
	if (opt->cache == NULL)
		return 0;
	rc = prep(&st, opt->cache,
		  "SELECT fpr FROM revocation WHERE status = 'revoked'", err);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *fpr = (const char *)sqlite3_column_text(st, 0);

		/* a malformed row names no certificate: passed over */
		if (fpr != NULL && ll_ctx_rev_add(ctx, fpr) == LL_ENOMEM)
			rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
				    "out of memory");
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ll_keystore_db_err(err, ll_keystore_db(opt->cache),
					"reading revocations");
	sqlite3_finalize(st);
	return rc;
}

/* ---- the answer ---- */

static time_t gt_time(const ASN1_GENERALIZEDTIME *t)
{
	return t != NULL ? ll_asn1_time(t) : 0;
}

/* The single answer of BS for CERT (a CertID by SHA-1 or by SHA-256 of
 * ISSUER): 1 found (into the out arguments), 0 none. */
static int find_status(OCSP_BASICRESP *bs, X509 *cert, X509 *issuer,
		       int *status, int *reason, ASN1_GENERALIZEDTIME **rev,
		       ASN1_GENERALIZEDTIME **thisupd,
		       ASN1_GENERALIZEDTIME **nextupd)
{
	const EVP_MD *mds[2] = { EVP_sha1(), EVP_sha256() };
	int found = 0;

	for (size_t i = 0; !found && i < LL_ARRAY_SIZE(mds); i++) {
		OCSP_CERTID *id = OCSP_cert_to_id(mds[i], cert, issuer);

		found = id != NULL &&
			OCSP_resp_find_status(bs, id, status, reason, rev,
					      thisupd, nextupd);
		OCSP_CERTID_free(id);
	}
	return found;
}

int ll_ocsp_judge(struct ll_revocation *out, struct ll_ctx *ctx,
		  const unsigned char *der, size_t len, X509 *cert,
		  X509 *issuer, OCSP_REQUEST *req, struct ll_error *err)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	STACK_OF(X509) *untrusted = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	time_t now = ll_ctx_now(ctx), tu, nu;
	int rc = 0, status = -1, reason = -1, st;

	rev_init(out);
	ERR_clear_error();
	if (len > LL_REVOCATION_MAX_RESPONSE)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_CMS,
			      "an OCSP answer of %zu bytes (at most %d)", len,
			      LL_REVOCATION_MAX_RESPONSE);
	resp = len > 0 ? d2i_OCSP_RESPONSE(NULL, &p, (long)len) : NULL;
	if (resp == NULL || p != der + len) {
		rc = ll_err_ossl(err, LL_EPARSE, "not an OCSP answer");
		goto out;
	}
	st = OCSP_response_status(resp);
	if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_CMS,
			    "the OCSP responder answered %s",
			    OCSP_response_status_str(st));
		goto out;
	}
	bs = OCSP_response_get1_basic(resp);
	if (bs == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE, "not a basic OCSP answer");
		goto out;
	}
	/* a nonce, when the answer has one, must be ours: an answer
	 * without one is a pre-signed one, judged by its times below */
	if (req != NULL && OCSP_check_nonce(req, bs) == 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_CMS,
			    "the OCSP answer's nonce is not the request's");
		goto out;
	}
	untrusted = sk_X509_new_null();
	if (untrusted == NULL || !sk_X509_push(untrusted, issuer)) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	/* signed by the issuer, or by a responder it delegated, chaining
	 * to our trust anchors */
	if (OCSP_basic_verify(bs, untrusted, ll_ctx_store(ctx), 0) <= 0) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "the OCSP answer's signature does not "
				 "verify");
		goto out;
	}
	if (!find_status(bs, cert, issuer, &status, &reason, &rev, &thisupd,
			 &nextupd)) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_CMS,
			    "the OCSP answer is not for this certificate");
		goto out;
	}
	tu = gt_time(thisupd);
	nu = gt_time(nextupd);
	if (tu == 0 || tu > now + LEEWAY || now - tu > LL_REVOCATION_MAX_AGE ||
	    (nextupd != NULL && (nu == 0 || nu < now - LEEWAY))) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_CMS,
			    "the OCSP answer is not current (thisUpdate, "
			    "nextUpdate)");
		goto out;
	}
	out->this_update = tu;
	out->next_update = nu;
	snprintf(out->source, sizeof(out->source), "ocsp");
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		out->state = LL_REV_GOOD;
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		out->state = LL_REV_REVOKED;
		out->revoked = gt_time(rev);
		out->reason = reason >= 0 ? reason : -1;
		break;
	default:
		out->state = LL_REV_UNKNOWN;
		snprintf(out->why, sizeof(out->why),
			 "the OCSP responder does not know the certificate");
		break;
	}
out:
	sk_X509_free(untrusted);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return rc;
}

/* ---- asking ---- */

/* The first http(s) OCSP responder CERT names into BUF; 0, or -1. */
static int responder(char *buf, size_t len, X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
	int rc = -1;

	for (int i = 0; rc < 0 && i < sk_OPENSSL_STRING_num(urls); i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);

		if ((strncmp(u, "http://", 7) == 0 ||
		     strncmp(u, "https://", 8) == 0) &&
		    strlen(u) < len && strpbrk(u, " \r\n") == NULL) {
			snprintf(buf, len, "%s", u);
			rc = 0;
		}
	}
	X509_email_free(urls);
	return rc;
}

/* Ask the responder CERT names; *out as ll_ocsp_judge gives it. */
static int ask(struct ll_revocation *out, struct ll_ctx *ctx, X509 *cert,
	       X509 *issuer, int timeout, struct ll_error *err)
{
	struct ll_curl_sink sink = { .max = LL_REVOCATION_MAX_RESPONSE };
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
	unsigned char *der = NULL;
	char url[2048];
	int n, rc;

	if (responder(url, sizeof(url), cert) < 0) {
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_POLICY,
			    "the certificate names no OCSP responder");
		goto out;
	}
	/* SHA-1 CertID: what every responder answers (RFC 5019 2.1.1) */
	if (req == NULL || id == NULL || !OCSP_request_add0_id(req, id)) {
		rc = ll_err_ossl(err, LL_ENOMEM, "an OCSP request");
		goto out;
	}
	id = NULL;
	n = OCSP_request_add1_nonce(req, NULL, -1) ?
		    i2d_OCSP_REQUEST(req, &der) :
		    -1;
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "an OCSP request");
		goto out;
	}
	rc = ll_curl_post(&sink, url, "application/ocsp-request", NULL, timeout,
			  der, (size_t)n, "the OCSP responder", err);
	if (rc == 0)
		rc = ll_ocsp_judge(out, ctx, (unsigned char *)sink.body.p,
				   sink.body.len, cert, issuer, req, err);
out:
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OPENSSL_free(der);
	ll_buf_free(&sink.body);
	return rc;
}

/* How long an answer R got at NOW is kept. */
static sqlite3_int64 keep_until(const struct ll_revocation *r, time_t now)
{
	time_t until = now + LL_REVOCATION_GOOD_MAX;

	if (r->state == LL_REV_REVOKED)
		return KEEP_FOREVER;
	if (r->next_update != 0 && r->next_update < until)
		until = r->next_update;
	return until;
}

static int check_x509(struct ll_revocation *out, struct ll_ctx *ctx, X509 *cert,
		      X509 *issuer, struct ll_error *err)
{
	const struct ll_revocation_options *opt = ll_ctx_rev_options(ctx);
	struct ll_error e = { 0 };
	unsigned char md[32];
	char fpr[LL_FPR_HEX + 1];
	unsigned int mdlen = 0;
	time_t now = ll_ctx_now(ctx);
	int rc;

	rev_init(out);
	if (opt == NULL)
		return 0; /* LL_REV_UNCHECKED */
	if (!X509_digest(cert, EVP_sha256(), md, &mdlen) || mdlen != 32)
		return ll_err_ossl(err, LL_ENOMEM, "a fingerprint");
	for (size_t i = 0; i < 32; i++)
		snprintf(fpr + 2 * i, 3, "%02x", md[i]);
	if (opt->cache != NULL) {
		rc = cache_get(out, opt->cache, fpr, now, &e);
		if (rc == 1)
			return 0;
	}
	if (!opt->network) {
		rev_unknown(out, "not asked: offline");
		return 0;
	}
	if (issuer == NULL) {
		rev_unknown(out, "the certificate's issuer is not known");
		return 0;
	}
	rc = ask(out, ctx, cert, issuer,
		 opt->timeout > 0 ? opt->timeout : LL_REVOCATION_TIMEOUT, &e);
	if (rc == LL_ENOMEM)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	if (rc < 0) {
		rev_unknown(out, e.message);
		return 0;
	}
	if (out->state != LL_REV_UNKNOWN && opt->cache != NULL)
		cache_put(opt->cache, fpr, out, keep_until(out, now), "ocsp",
			  &e); /* a home that cannot keep it asks again */
	if (out->state == LL_REV_REVOKED)
		ll_ctx_rev_add(ctx, fpr);
	return 0;
}

int ll_revocation_check(struct ll_revocation *out, struct ll_ctx *ctx,
			const struct ll_cert *cert,
			const struct ll_cert *issuer, struct ll_error *err)
{
	return check_x509(out, ctx, ll_cert_x509(cert),
			  issuer ? ll_cert_x509(issuer) : NULL, err);
}

/* ---- the rule ---- */

void ll_revocation_judge(struct ll_verify_result *r, struct ll_ctx *ctx,
			 X509 *signer, X509 *issuer, time_t when)
{
	const struct ll_revocation_options *opt = ll_ctx_rev_options(ctx);
	struct ll_revocation *rv = &r->rev;
	char at[32] = "";
	struct tm tm;
	int compromise;

	if (check_x509(rv, ctx, signer, issuer, NULL) < 0) {
		r->state = LL_SIG_INVALID;
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	if (rv->state == LL_REV_UNKNOWN && opt != NULL && opt->require) {
		r->state = LL_SIG_UNTRUSTED;
		snprintf(r->why, sizeof(r->why),
			 "the signer's revocation status is unknown (%.110s)",
			 rv->why);
		return;
	}
	if (rv->state != LL_REV_REVOKED)
		return;
	if (gmtime_r(&rv->revoked, &tm) != NULL)
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	compromise = rv->reason == 1 || rv->reason == 2 || rv->reason == 10;
	/* only a time-stamp token proves when the signature was made;
	 * a stolen key signs with any signingTime it likes */
	if (r->ts_trusted && when < rv->revoked && !compromise)
		return;
	r->state = LL_SIG_REVOKED;
	snprintf(r->why, sizeof(r->why),
		 "the signer's certificate was revoked at %s (%s)%s", at,
		 ll_rev_reason_name(rv->reason),
		 compromise    ? ": no signature by its key is valid" :
		 r->ts_trusted ? ", before the time-stamp" :
				 " and no time-stamp proves the signature "
				 "older");
}
