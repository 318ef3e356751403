/*
 * ca_key.c - quality checks of a subscriber's RSA public key (S/MIME BR
 * 6.1.6) that cost microseconds, for the CSR check and the lint alike.
 *
 * OpenSSL's EVP_PKEY_public_check also runs Miller-Rabin rounds over
 * the modulus to show it is not a prime or a prime power: about 10 ms
 * for RSA-3072, a hundred times the rest of issuing a certificate.  That
 * part of BR 6.1.6 is a SHOULD; we keep its other parts: the exponent
 * odd and in 2^16+1 .. 2^256-1, the modulus odd and without factors
 * smaller than 752.
 */
#include <openssl/core_names.h>

#include "ca_internal.h"

static int is_prime(BN_ULONG p)
{
	for (BN_ULONG d = 2; d * d <= p; d++)
		if (p % d == 0)
			return 0;
	return p >= 2;
}

/* N mod PROD (a product of the NB primes in BATCH): a prime divides N
 * iff it divides the remainder. */
static int test_batch(const BIGNUM *n, const BN_ULONG *batch, size_t nb,
		      BN_ULONG prod, int *found)
{
	BN_ULONG r = BN_mod_word(n, prod);

	if (r == (BN_ULONG)-1)
		return 0;
	for (size_t i = 0; i < nb; i++)
		if (r % batch[i] == 0)
			*found = 1;
	return 1;
}

/* Does N have a prime factor below 752?  Primes are gathered into
 * words and N reduced modulo each word: microseconds, where OpenSSL's
 * constant-time BN_gcd with their product takes a millisecond. */
static int small_factor(const BIGNUM *n, int *found)
{
	BN_ULONG batch[16], prod = 1;
	size_t nb = 0;

	*found = 0;
	for (BN_ULONG p = 2; p < 752; p++) {
		if (!is_prime(p))
			continue;
		if (prod > (BN_ULONG)-1 / p || nb == LL_ARRAY_SIZE(batch)) {
			if (!test_batch(n, batch, nb, prod, found))
				return 0;
			prod = 1;
			nb = 0;
		}
		prod *= p;
		batch[nb++] = p;
	}
	return test_batch(n, batch, nb, prod, found);
}

const char *ll_rsa_key_problem(const EVP_PKEY *k)
{
	BIGNUM *n = NULL, *e = NULL;
	const char *why = NULL;
	int found = 0;

	if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e)) {
		why = "the RSA key's parameters do not decode";
		goto out;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) < 17 || BN_num_bits(e) > 256) {
		why = "the RSA public exponent is not odd and in 2^16+1 .. "
		      "2^256-1";
		goto out;
	}
	if (!BN_is_odd(n)) {
		why = "the RSA modulus is even";
		goto out;
	}
	if (!small_factor(n, &found)) {
		why = "the RSA modulus cannot be checked";
		goto out;
	}
	if (found)
		why = "the RSA modulus has a factor smaller than 752";
out:
	BN_free(n);
	BN_free(e);
	return why;
}
