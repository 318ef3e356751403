/*
 * aes_kw.c - AES-256 key wrap (RFC 3394, id-aes256-wrap) of a 32-octet
 * key under a 32-octet KEK, the wrap of an EC recipient's content key
 * (cms_env_ec.c writes it, cms_open_ec.c reads it).
 *
 * Why not OpenSSL's AES-256-WRAP cipher: in OpenSSL 3.0 it runs its own
 * AES (AES_encrypt, the table implementation), not AES-NI, and sets up
 * a provider context and key schedule around it: ~3 us to wrap and
 * ~5 us to unwrap one key here, 3% of a 4 KiB EC open.  The same 24
 * block operations on AES-256-ECB through EVP take AES-NI where the CPU
 * has it: ~1 us.  Keeping an EVP_CIPHER_CTX per context saved another
 * ~0.08 us (a few hundredths of a percent of an open) and would keep
 * the last KEK's key schedule in memory: not done.
 *
 * The wrap is RFC 3394 2.2.1 in its index form, the unwrap 2.2.2; the
 * integrity value is checked as 2.2.3 says, in constant time, after the
 * whole unwrap, and nothing of the key leaves on failure: the same work
 * and the same outcome as OpenSSL's wrap cipher.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"

#define SEMIBLOCKS (LL_AES_KW_KEY_LEN / 8) /* n in RFC 3394 */
#define ROUNDS 6 /* j = 0..5 */

/* RFC 3394 2.2.3.1: the default initial value */
static const unsigned char kw_iv[8] = { 0xa6, 0xa6, 0xa6, 0xa6,
					0xa6, 0xa6, 0xa6, 0xa6 };

/* AES-256 under KEK, one block at a time (no padding); NULL on error. */
static EVP_CIPHER_CTX *ecb_start(const EVP_CIPHER *ecb,
				 const unsigned char kek[32], int enc)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	if (c == NULL ||
	    EVP_CipherInit_ex2(c, ecb, kek, NULL, enc, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	return c;
}

/* B[0..16) encrypted or decrypted in place by C. */
static int one_block(EVP_CIPHER_CTX *c, unsigned char b[16])
{
	int n = 0;

	return EVP_CipherUpdate(c, b, &n, b, 16) == 1 && n == 16 ? 0 : -1;
}

int ll_aes_kw_wrap(unsigned char out[LL_AES_KW_WRAPPED_LEN],
		   const unsigned char key[LL_AES_KW_KEY_LEN],
		   const unsigned char kek[32], const EVP_CIPHER *ecb)
{
	EVP_CIPHER_CTX *c = ecb_start(ecb, kek, 1);
	unsigned char b[16];
	int rc = LL_ECRYPTO;

	if (c == NULL)
		return LL_ECRYPTO;
	/* A in OUT[0..8), R[i] in OUT[8i..8i+8) */
	memcpy(out, kw_iv, 8);
	memcpy(out + 8, key, LL_AES_KW_KEY_LEN);
	for (unsigned j = 0; j < ROUNDS; j++) {
		for (unsigned i = 1; i <= SEMIBLOCKS; i++) {
			/* t = n*j+i is at most 24: only A's last octet
			 * changes when t is XORed in, big-endian */
			unsigned char t = (unsigned char)(SEMIBLOCKS * j + i);

			memcpy(b, out, 8);
			memcpy(b + 8, out + 8 * i, 8);
			if (one_block(c, b) < 0)
				goto out;
			memcpy(out, b, 8);
			out[7] ^= t;
			memcpy(out + 8 * i, b + 8, 8);
		}
	}
	rc = 0;
out:
	if (rc < 0)
		OPENSSL_cleanse(out, LL_AES_KW_WRAPPED_LEN);
	OPENSSL_cleanse(b, sizeof(b));
	EVP_CIPHER_CTX_free(c); /* cleans the key schedule */
	return rc;
}

int ll_aes_kw_unwrap(unsigned char out[LL_AES_KW_KEY_LEN],
		     const unsigned char in[LL_AES_KW_WRAPPED_LEN],
		     const unsigned char kek[32], const EVP_CIPHER *ecb)
{
	EVP_CIPHER_CTX *c = ecb_start(ecb, kek, 0);
	unsigned char r[LL_AES_KW_WRAPPED_LEN]; /* A, then R[1..n] */
	unsigned char b[16];
	int rc = LL_ECRYPTO;

	if (c == NULL)
		return LL_ECRYPTO;
	memcpy(r, in, sizeof(r));
	for (unsigned j = ROUNDS; j-- > 0;) {
		for (unsigned i = SEMIBLOCKS; i >= 1; i--) {
			unsigned char t = (unsigned char)(SEMIBLOCKS * j + i);

			memcpy(b, r, 8);
			b[7] ^= t;
			memcpy(b + 8, r + 8 * i, 8);
			if (one_block(c, b) < 0)
				goto out;
			memcpy(r, b, 8);
			memcpy(r + 8 * i, b + 8, 8);
		}
	}
	/* a wrong KEK or any changed octet of IN gives another A */
	if (CRYPTO_memcmp(r, kw_iv, 8) != 0)
		goto out;
	memcpy(out, r + 8, LL_AES_KW_KEY_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(r, sizeof(r));
	OPENSSL_cleanse(b, sizeof(b));
	EVP_CIPHER_CTX_free(c); /* cleans the key schedule */
	return rc;
}
