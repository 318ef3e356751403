/*
 * test_aes_kw.c - our AES-256 key wrap (src/lib/aes_kw.c): RFC 3394's
 * test vector for a 256-bit key under a 256-bit KEK, both ways; the
 * same octets as OpenSSL's own wrap cipher (EVP_aes_256_wrap) for
 * random KEKs and keys, each side unwrapping what the other wrapped and
 * both refusing random input; every single-bit change of a wrapped key
 * and of the KEK refused, with nothing written out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <letterlock/letterlock.h>

#include "internal.h"

#define KEY_LEN LL_AES_KW_KEY_LEN
#define WRAPPED_LEN LL_AES_KW_WRAPPED_LEN
#define RANDOM_PAIRS 4000

static struct ll_ctx *ctx;
static const EVP_CIPHER *ecb; /* the context's AES-256-ECB */

static int setup(void **state)
{
	const struct ll_algs *algs;

	(void)state;
	if (ll_ctx_new(&ctx, NULL) != 0)
		return -1;
	algs = ll_ctx_algs(ctx);
	if (algs == NULL)
		return -1;
	ecb = algs->ecb;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ll_ctx_free(&ctx);
	return 0;
}

/* RFC 3394 4.6: 256 bits of key data with a 256-bit KEK */
static const unsigned char vec_kek[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};
static const unsigned char vec_key[KEY_LEN] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
	0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f
};
static const unsigned char vec_wrapped[WRAPPED_LEN] = {
	0x28, 0xc9, 0xf4, 0x04, 0xc4, 0xb8, 0x10, 0xf4, 0xcb, 0xcc,
	0xb3, 0x5c, 0xfb, 0x87, 0xf8, 0x26, 0x3f, 0x57, 0x86, 0xe2,
	0xd8, 0x0e, 0xd3, 0x26, 0xcb, 0xc7, 0xf0, 0xe7, 0x1a, 0x99,
	0xf4, 0x3b, 0xfb, 0x98, 0x8b, 0x9b, 0x7a, 0x02, 0xdd, 0x21
};

/* OpenSSL's wrap cipher: IN (INLEN octets) wrapped (ENC) or unwrapped
 * under KEK into OUT; the length out, or -1 if it refuses. */
static int ossl_wrap(unsigned char *out, const unsigned char *in, int inlen,
		     const unsigned char kek[32], int enc)
{
	EVP_CIPHER_CTX *w = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, ok;

	assert_non_null(w);
	EVP_CIPHER_CTX_set_flags(w, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex(w, EVP_aes_256_wrap(), NULL, kek, NULL, enc) ==
		     1 &&
	     EVP_CipherUpdate(w, out, &n1, in, inlen) == 1 &&
	     EVP_CipherFinal_ex(w, out + n1, &n2) == 1;
	EVP_CIPHER_CTX_free(w);
	return ok ? n1 + n2 : -1;
}

/* Unwrapping IN under KEK is refused and leaves OUT as it was. */
static void assert_refused(const unsigned char in[WRAPPED_LEN],
			   const unsigned char kek[32])
{
	unsigned char out[KEY_LEN], was[KEY_LEN];

	memset(out, 0x5a, sizeof(out));
	memcpy(was, out, sizeof(out));
	assert_int_equal(ll_aes_kw_unwrap(out, in, kek, ecb), LL_ECRYPTO);
	assert_memory_equal(out, was, sizeof(out));
}

static void test_rfc3394_vector(void **state)
{
	unsigned char wrapped[WRAPPED_LEN], key[KEY_LEN];

	(void)state;
	assert_int_equal(ll_aes_kw_wrap(wrapped, vec_key, vec_kek, ecb), 0);
	assert_memory_equal(wrapped, vec_wrapped, WRAPPED_LEN);
	assert_int_equal(ll_aes_kw_unwrap(key, vec_wrapped, vec_kek, ecb), 0);
	assert_memory_equal(key, vec_key, KEY_LEN);
}

/* For random KEKs and keys: our wrap gives OpenSSL's octets, each side
 * unwraps the other's, and random input is refused by both. */
static void test_openssl_agrees(void **state)
{
	(void)state;
	for (int i = 0; i < RANDOM_PAIRS; i++) {
		unsigned char kek[32], key[KEY_LEN], junk[WRAPPED_LEN];
		unsigned char ours[WRAPPED_LEN], theirs[WRAPPED_LEN + 16];
		unsigned char back[KEY_LEN + 16];

		assert_int_equal(RAND_bytes(kek, sizeof(kek)), 1);
		assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
		assert_int_equal(RAND_bytes(junk, sizeof(junk)), 1);

		assert_int_equal(ll_aes_kw_wrap(ours, key, kek, ecb), 0);
		assert_int_equal(ossl_wrap(theirs, key, KEY_LEN, kek, 1),
				 WRAPPED_LEN);
		assert_memory_equal(ours, theirs, WRAPPED_LEN);

		assert_int_equal(ossl_wrap(back, ours, WRAPPED_LEN, kek, 0),
				 KEY_LEN);
		assert_memory_equal(back, key, KEY_LEN);
		memset(back, 0, sizeof(back));
		assert_int_equal(ll_aes_kw_unwrap(back, theirs, kek, ecb), 0);
		assert_memory_equal(back, key, KEY_LEN);

		assert_int_equal(ossl_wrap(back, junk, WRAPPED_LEN, kek, 0),
				 -1);
		assert_refused(junk, kek);
	}
}

/* Every single-bit change of a wrapped key is refused: the vector's
 * and a few random ones. */
static void test_bit_flips_refused(void **state)
{
	(void)state;
	for (int round = 0; round < 4; round++) {
		unsigned char kek[32], key[KEY_LEN], wrapped[WRAPPED_LEN];

		if (round == 0) {
			memcpy(kek, vec_kek, sizeof(kek));
			memcpy(wrapped, vec_wrapped, sizeof(wrapped));
		} else {
			assert_int_equal(RAND_bytes(kek, sizeof(kek)), 1);
			assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
			assert_int_equal(ll_aes_kw_wrap(wrapped, key, kek, ecb),
					 0);
		}
		for (size_t bit = 0; bit < 8 * WRAPPED_LEN; bit++) {
			wrapped[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			assert_refused(wrapped, kek);
			wrapped[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
		/* and unchanged, it still unwraps */
		assert_int_equal(ll_aes_kw_unwrap(key, wrapped, kek, ecb), 0);
	}
}

/* Under another KEK (each single-bit change of it, a random one) the
 * wrapped key is refused. */
static void test_wrong_kek_refused(void **state)
{
	unsigned char kek[32];

	(void)state;
	memcpy(kek, vec_kek, sizeof(kek));
	for (size_t bit = 0; bit < 8 * sizeof(kek); bit++) {
		kek[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_refused(vec_wrapped, kek);
		kek[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	assert_int_equal(RAND_bytes(kek, sizeof(kek)), 1);
	assert_refused(vec_wrapped, kek);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3394_vector),
		cmocka_unit_test(test_openssl_agrees),
		cmocka_unit_test(test_bit_flips_refused),
		cmocka_unit_test(test_wrong_kek_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
