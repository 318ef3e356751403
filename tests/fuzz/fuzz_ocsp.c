/*
 * fuzz_ocsp.c - an OCSP answer as the revocation check reads it from a
 * responder (src/lib/revocation.c, ll_ocsp_judge): untrusted bytes about
 * the certificate fixtures/ocsp/leaf.pem, judged under
 * fixtures/ocsp/root.pem.
 *
 * Checked besides the sanitizers: an answer taken says good, revoked
 * or unknown, from "ocsp", with a thisUpdate; a revoked one carries a
 * CRLReason code or none (-1); a refused one leaves the status
 * unchecked and says why.
 *
 * Seeds (corpus/fuzz_ocsp/): the answers of fixtures/ocsp/mk.sh
 * (`openssl ocsp` as the responder): good, signed by the issuer,
 * revoked with and without reasons, about another certificate, by an
 * untrusted responder, with a nonce, tryLater.  The clock is fixed at
 * their thisUpdate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* 2026-11-25T01:00:00Z: just after the seeds were made */
#define FUZZ_NOW ((time_t)1795568400)

static struct ll_ctx *ctx;
static struct ll_cert *root, *leaf, *ca;

static struct ll_cert *load(const char *name)
{
	struct ll_error err = { 0 };
	struct ll_cert *c = NULL;
	size_t len;
	char *pem = fuzz_fixture(name, &len);

	CHECK(ll_cert_parse(&c, pem, len, &err) == 0);
	free(pem);
	return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	CHECK(ll_ctx_new(&ctx, NULL) == 0);
	root = load("ocsp/root.pem");
	leaf = load("ocsp/leaf.pem");
	ca = load("ocsp/ca.pem");
	CHECK(ll_ctx_add_trust(ctx, root, NULL) == 0);
	ll_ctx_set_time(ctx, FUZZ_NOW);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ll_revocation r;
	struct ll_error err = { 0 };
	int rc = ll_ocsp_judge(&r, ctx, data, size, ll_cert_x509(leaf),
			       ll_cert_x509(ca), NULL, &err);

	CHECK(memchr(r.why, '\0', sizeof(r.why)) != NULL);
	if (rc < 0) {
		CHECK(rc == LL_ETOOBIG || rc == LL_EPARSE || rc == LL_EPOLICY ||
		      rc == LL_ENOMEM);
		CHECK(r.state == LL_REV_UNCHECKED);
		CHECK(err.message[0] != '\0');
		return 0;
	}
	CHECK(r.state == LL_REV_GOOD || r.state == LL_REV_REVOKED ||
	      r.state == LL_REV_UNKNOWN);
	CHECK(strcmp(r.source, "ocsp") == 0 && r.this_update != 0);
	CHECK(r.state == LL_REV_REVOKED || (r.revoked == 0 && r.reason == -1));
	CHECK(r.reason >= -1 && r.reason <= 10);
	return 0;
}
