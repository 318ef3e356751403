/*
 * fuzz_open.c - whole message bytes -> ll_msg_open.
 *
 * The context holds two identities from tests/fuzz/fixtures/ (alice,
 * RSA-2048, and bob, EC P-256, both issued by the test intermediate) and
 * trusts the test root, so seeds sealed to either of them are decrypted
 * and verified for real.  The clock is fixed.  The context is made once
 * (making one per input costs more than most inputs: OpenSSL 3 decodes
 * keys slowly); before each input the trust anchor is added again, which
 * bumps the context's trust generation and so empties its verified-chain
 * cache: a run does not depend on the inputs before it.
 *
 * Checked besides the sanitizers: the return contract of ll_msg_open
 * (*out NULL on failure, err->code the returned code, a NUL inside
 * every string of the status), a few status invariants, and that every
 * byte handed back is readable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <letterlock/letterlock.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* 2030-01-01T00:00:00Z: after every seed's signing time, inside the
 * fixtures' validity (2025..2049). */
#define FUZZ_NOW ((time_t)1893456000)


static struct ll_cert *root;
static struct ll_ctx *ctx;

static void add_identity(const char *key, const char *chain)
{
	struct ll_error err = { 0 };
	struct ll_identity *id = NULL;
	size_t klen, clen;
	char *k = fuzz_fixture(key, &klen), *c = fuzz_fixture(chain, &clen);

	if (ll_identity_parse_pem(&id, k, klen, c, clen, &err) < 0) {
		fprintf(stderr, "fixture %s: %s\n", key, err.message);
		abort();
	}
	CHECK(ll_ctx_add_identity(ctx, &id, &err) == 0);
	CHECK(id == NULL);
	free(k);
	free(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ll_error err = { 0 };
	size_t len;
	char *pem;

	(void)argc;
	(void)argv;
	CHECK(ll_ctx_new(&ctx, &err) == 0);
	add_identity("alice-rsa.key", "alice-rsa.chain.pem");
	add_identity("bob-ec.key", "bob-ec.chain.pem");
	pem = fuzz_fixture("root.pem", &len);
	CHECK(ll_cert_parse(&root, pem, len, &err) == 0);
	free(pem);
	CHECK(ll_ctx_add_trust(ctx, root, &err) == 0);
	ll_ctx_set_time(ctx, FUZZ_NOW);
	return 0;
}

static int has_nul(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_status(const struct ll_open_status *st)
{
	CHECK(st->encrypted == 0 || st->encrypted == 1);
	/* a message that was encrypted and came back was decrypted */
	CHECK(st->encrypted == st->decrypted);
	CHECK(!st->decrypted || st->cipher != NULL);
	CHECK(st->signature >= LL_SIG_NONE &&
	      st->signature <= LL_SIG_WRONG_SIGNER);
	CHECK((st->signature == LL_SIG_NONE) == !st->is_signed);
	CHECK(has_nul(st->signer, sizeof(st->signer)));
	CHECK(has_nul(st->timestamp, sizeof(st->timestamp)));
	CHECK(st->nerrors <= LL_OPEN_MAX_ERRORS);
	for (size_t i = 0; i < st->nerrors; i++)
		CHECK(has_nul(st->errors[i], sizeof(st->errors[i])));
	/* valid means: signed, and by the From address */
	CHECK(st->signature != LL_SIG_VALID || st->signer_matches_from);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ll_error err;
	struct ll_opened *o = (struct ll_opened *)1;
	int rc;

	ll_error_clear(&err);
	/* re-adding the anchor empties the verified-chain cache */
	CHECK(ll_ctx_add_trust(ctx, root, &err) == 0);
	rc = ll_msg_open(&o, ctx, (const char *)data, size, &err);
	CHECK(rc <= 0);
	CHECK(has_nul(err.message, sizeof(err.message)));
	CHECK(has_nul(err.detail, sizeof(err.detail)));
	if (rc < 0) {
		CHECK(o == NULL);
		CHECK(err.code == rc);
	} else {
		const char *p;
		size_t len;
		volatile unsigned char sum = 0;

		CHECK(o != NULL);
		p = ll_opened_data(o, &len);
		CHECK(p != NULL);
		for (size_t i = 0; i < len; i++) /* every byte readable */
			sum ^= (unsigned char)p[i];
		(void)sum;
		check_status(ll_opened_status(o));
	}
	ll_opened_free(&o);
	CHECK(o == NULL);
	return 0;
}
