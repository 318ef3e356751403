/*
 * test_revocation.c - revocation.c: the judgement of OCSP answers made
 * by `openssl ocsp` (tests/fuzz/fixtures/ocsp/, mk.sh there), the
 * home's marks and kept answers, and the rule open applies to a
 * signature by a revoked certificate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include <letterlock/letterlock.h>

#include "internal.h"

#define REVOKED_AT 1735689600 /* 2025-01-01T00:00:00Z, in mk.sh */

static struct {
	struct ll_ctx *ctx;
	X509 *leaf, *other, *ca;
	time_t this_update; /* of good.der */
	char home[64];
} F;

static unsigned char *slurp(const char *name, size_t *len)
{
	char path[4096];
	unsigned char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", OCSP_FIXTURES, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static X509 *pem(const char *name)
{
	size_t len;
	unsigned char *buf = slurp(name, &len);
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	assert_non_null(x);
	BIO_free(b);
	free(buf);
	return x;
}

static time_t this_update_of(const char *name)
{
	size_t len;
	unsigned char *der = slurp(name, &len);
	const unsigned char *p = der;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);
	ASN1_GENERALIZEDTIME *tu = NULL;
	time_t t;

	assert_non_null(bs);
	OCSP_single_get0_status(OCSP_resp_get0(bs, 0), NULL, NULL, &tu, NULL);
	t = ll_asn1_time(tu);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
	free(der);
	return t;
}

static int setup(void **state)
{
	struct ll_cert *root = NULL;
	X509 *x = pem("root.pem");

	(void)state;
	assert_int_equal(ll_ctx_new(&F.ctx, NULL), 0);
	assert_int_equal(ll_cert_wrap(&root, x, NULL), 0);
	assert_int_equal(ll_ctx_add_trust(F.ctx, root, NULL), 0);
	ll_cert_free(&root);
	F.leaf = pem("leaf.pem");
	F.other = pem("other.pem");
	F.ca = pem("ca.pem");
	F.this_update = this_update_of("good.der");
	ll_ctx_set_time(F.ctx, F.this_update + 60);
	snprintf(F.home, sizeof(F.home), "/tmp/test_revocation.XXXXXX");
	assert_non_null(mkdtemp(F.home));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	ll_ctx_free(&F.ctx);
	X509_free(F.leaf);
	X509_free(F.other);
	X509_free(F.ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.home);
	return system(cmd) == 0 ? 0 : -1;
}

/* ll_ocsp_judge of fixture NAME about the leaf; its return. */
static int judge(struct ll_revocation *out, const char *name, OCSP_REQUEST *req,
		 struct ll_error *err)
{
	size_t len;
	unsigned char *der = slurp(name, &len);
	int rc = ll_ocsp_judge(out, F.ctx, der, len, F.leaf, F.ca, req, err);

	free(der);
	return rc;
}

static void test_good(void **state)
{
	struct ll_revocation r;

	(void)state;
	assert_int_equal(judge(&r, "good.der", NULL, NULL), 0);
	assert_int_equal(r.state, LL_REV_GOOD);
	assert_int_equal(r.this_update, F.this_update);
	assert_true(r.next_update > r.this_update);
	assert_string_equal(r.source, "ocsp");
	/* the issuer may sign its answers itself */
	assert_int_equal(judge(&r, "ca-signed.der", NULL, NULL), 0);
	assert_int_equal(r.state, LL_REV_GOOD);
}

static void test_revoked(void **state)
{
	static const struct {
		const char *name;
		int reason;
	} cases[] = {
		{ "superseded.der", 4 },
		{ "compromise.der", 1 },
		{ "noreason.der", -1 },
	};
	struct ll_revocation r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(judge(&r, cases[i].name, NULL, NULL), 0);
		assert_int_equal(r.state, LL_REV_REVOKED);
		assert_int_equal(r.reason, cases[i].reason);
		assert_int_equal(r.revoked, REVOKED_AT);
	}
	assert_string_equal(ll_rev_reason_name(4), "superseded");
	assert_string_equal(ll_rev_reason_name(-1), "unspecified");
	assert_int_equal(ll_rev_reason_parse("keyCompromise"), 1);
	assert_int_equal(ll_rev_reason_parse("removeFromCRL"), 8);
	assert_int_equal(ll_rev_reason_parse("nonsense"), -1);
}

static void test_refused(void **state)
{
	static const struct {
		const char *name, *why;
	} cases[] = {
		{ "other.der", "not for this certificate" },
		{ "rogue.der", "signature does not verify" },
		{ "trylater.der", "answered trylater" },
		{ "leaf.pem", "not an OCSP answer" },
	};
	struct ll_revocation r;
	struct ll_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_true(judge(&r, cases[i].name, NULL, &err) < 0);
		assert_non_null(strstr(err.message, cases[i].why));
		assert_int_equal(r.state, LL_REV_UNCHECKED);
	}
}

/* Cut anywhere, or with a byte more: never taken. */
static void test_cut(void **state)
{
	struct ll_revocation r;
	size_t len;
	unsigned char *der = slurp("superseded.der", &len), *more;

	(void)state;
	for (size_t n = 0; n < len; n++)
		assert_int_equal(ll_ocsp_judge(&r, F.ctx, der, n, F.leaf, F.ca,
					       NULL, NULL),
				 LL_EPARSE);
	more = malloc(len + 1);
	assert_non_null(more);
	memcpy(more, der, len);
	more[len] = 0;
	assert_int_equal(ll_ocsp_judge(&r, F.ctx, more, len + 1, F.leaf, F.ca,
				       NULL, NULL),
			 LL_EPARSE);
	assert_int_equal(ll_ocsp_judge(&r, F.ctx, more,
				       LL_REVOCATION_MAX_RESPONSE + 1, F.leaf,
				       F.ca, NULL, NULL),
			 LL_ETOOBIG);
	free(more);
	free(der);
}

/* thisUpdate in the future, or older than LL_REVOCATION_MAX_AGE. */
static void test_times(void **state)
{
	struct ll_revocation r;
	struct ll_error err = { 0 };

	(void)state;
	ll_ctx_set_time(F.ctx, F.this_update - 600);
	assert_int_equal(judge(&r, "good.der", NULL, &err), LL_EPOLICY);
	assert_non_null(strstr(err.message, "not current"));
	ll_ctx_set_time(F.ctx, F.this_update + LL_REVOCATION_MAX_AGE + 60);
	assert_int_equal(judge(&r, "good.der", NULL, NULL), LL_EPOLICY);
	ll_ctx_set_time(F.ctx, F.this_update + 60);
}

static void test_nonce(void **state)
{
	struct ll_revocation r;
	struct ll_error err = { 0 };
	size_t len;
	unsigned char *der = slurp("nonce-req.der", &len);
	const unsigned char *p = der;
	OCSP_REQUEST *ours = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	OCSP_REQUEST *fresh = OCSP_REQUEST_new();

	(void)state;
	assert_non_null(ours);
	assert_non_null(fresh);
	assert_int_equal(OCSP_request_add1_nonce(fresh, NULL, -1), 1);
	assert_int_equal(judge(&r, "nonce.der", ours, NULL), 0);
	assert_int_equal(r.state, LL_REV_GOOD);
	/* another request's nonce: a replay */
	assert_int_equal(judge(&r, "nonce.der", fresh, &err), LL_EPOLICY);
	assert_non_null(strstr(err.message, "nonce"));
	/* no nonce in the answer: a pre-signed one, taken on its times */
	assert_int_equal(judge(&r, "good.der", fresh, NULL), 0);
	OCSP_REQUEST_free(ours);
	OCSP_REQUEST_free(fresh);
	free(der);
}

/* A signature that verified, by SIGNER at WHEN, judged by the rule. */
static enum ll_sig_state rule(X509 *signer, int ts, time_t when,
			      struct ll_verify_result *r)
{
	memset(r, 0, sizeof(*r));
	r->state = LL_SIG_VALID;
	r->ts_trusted = ts;
	ll_revocation_judge(r, F.ctx, signer, F.ca, when);
	return r->state;
}

static void test_rule(void **state)
{
	struct ll_revocation_options opt = LL_REVOCATION_OPTIONS_INIT;
	struct ll_keystore *ks = NULL;
	struct ll_cert *leaf = NULL, *other = NULL;
	struct ll_verify_result r;
	const time_t t = 1767225600; /* 2026-01-01 */

	(void)state;
	assert_int_equal(ll_keystore_open(&ks, F.home, NULL), 0);
	assert_true(X509_up_ref(F.leaf) && X509_up_ref(F.other));
	assert_int_equal(ll_cert_wrap(&leaf, F.leaf, NULL), 0);
	assert_int_equal(ll_cert_wrap(&other, F.other, NULL), 0);
	/* not asked, and nothing known: unknown, the signature stands */
	opt.cache = ks;
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
	assert_int_equal(rule(F.leaf, 1, t, &r), LL_SIG_VALID);
	assert_int_equal(r.rev.state, LL_REV_UNKNOWN);
	assert_false(ll_ctx_is_revoked(F.ctx, leaf));
	/* unless a definite answer is required */
	opt.require = 1;
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
	assert_int_equal(rule(F.leaf, 1, t, &r), LL_SIG_UNTRUSTED);
	opt.require = 0;

	assert_int_equal(ll_revocation_mark(ks, leaf, t, 4, NULL), 0);
	assert_int_equal(ll_revocation_mark(ks, other, t, 1, NULL), 0);
	/* a later mark does not undo the first */
	assert_int_equal(ll_revocation_mark(ks, leaf, t + 99, 0, NULL), 0);
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
	assert_true(ll_ctx_is_revoked(F.ctx, leaf));
	/* superseded: a time-stamp before the revocation keeps it */
	assert_int_equal(rule(F.leaf, 1, t - 10, &r), LL_SIG_VALID);
	assert_int_equal(r.rev.state, LL_REV_REVOKED);
	assert_int_equal(r.rev.reason, 4);
	assert_int_equal(r.rev.revoked, t);
	assert_string_equal(r.rev.source, "local");
	/* the same second, later, or no token: not valid */
	assert_int_equal(rule(F.leaf, 1, t, &r), LL_SIG_REVOKED);
	assert_int_equal(rule(F.leaf, 1, t + 10, &r), LL_SIG_REVOKED);
	assert_int_equal(rule(F.leaf, 0, t - 10, &r), LL_SIG_REVOKED);
	assert_non_null(strstr(r.why, "superseded"));
	/* keyCompromise: never */
	assert_int_equal(rule(F.other, 1, t - 10, &r), LL_SIG_REVOKED);
	assert_non_null(strstr(r.why, "keyCompromise"));
	/* the check by certificate says the same */
	assert_int_equal(ll_revocation_check(&r.rev, F.ctx, other, NULL, NULL),
			 0);
	assert_int_equal(r.rev.state, LL_REV_REVOKED);
	assert_int_equal(r.rev.reason, 1);
	/* a compromise learnt later replaces superseded (the time stays),
	 * and nothing replaces a compromise */
	assert_int_equal(ll_revocation_mark(ks, leaf, t + 50, 1, NULL), 0);
	assert_int_equal(ll_revocation_mark(ks, leaf, t + 60, 4, NULL), 0);
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
	assert_int_equal(rule(F.leaf, 1, t - 10, &r), LL_SIG_REVOKED);
	assert_int_equal(r.rev.reason, 1);
	assert_int_equal(r.rev.revoked, t);
	ll_cert_free(&leaf);
	ll_cert_free(&other);
	ll_keystore_close(&ks);
	opt.cache = NULL;
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
}

/* A mark kept by another connection to the home (another process) is
 * seen by the next check of a keystore that asked before: the kept
 * answer is read again each time, the statement only prepared once. */
static void test_seen_at_once(void **state)
{
	struct ll_revocation_options opt = LL_REVOCATION_OPTIONS_INIT;
	struct ll_keystore *ks = NULL, *other = NULL;
	struct ll_cert *leaf = NULL;
	struct ll_revocation rev;
	char home[sizeof(F.home) + 8];

	(void)state;
	snprintf(home, sizeof(home), "%s/fresh", F.home);
	assert_int_equal(ll_keystore_open(&ks, home, NULL), 0);
	assert_int_equal(ll_keystore_open(&other, home, NULL), 0);
	assert_true(X509_up_ref(F.leaf));
	assert_int_equal(ll_cert_wrap(&leaf, F.leaf, NULL), 0);
	opt.cache = ks;
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
			ll_revocation_check(&rev, F.ctx, leaf, NULL, NULL), 0);
		assert_int_equal(rev.state, LL_REV_UNKNOWN);
	}
	assert_int_equal(ll_revocation_mark(other, leaf, 1767225600, 1, NULL),
			 0);
	assert_int_equal(ll_revocation_check(&rev, F.ctx, leaf, NULL, NULL), 0);
	assert_int_equal(rev.state, LL_REV_REVOKED);
	assert_int_equal(rev.reason, 1);
	assert_true(ll_revocation_marked(ks, ll_cert_fingerprint(leaf)));
	ll_cert_free(&leaf);
	opt.cache = NULL;
	assert_int_equal(ll_ctx_set_revocation(F.ctx, &opt, NULL), 0);
	ll_keystore_close(&other);
	ll_keystore_close(&ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_nonce),
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_seen_at_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
