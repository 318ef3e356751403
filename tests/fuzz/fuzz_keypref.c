/*
 * fuzz_keypref.c - the encryption key preference attribute values of
 * src/lib/cms_keypref.c (SMIMEEncryptionKeyPreference, RFC 8551 2.5.3,
 * and Microsoft's IssuerAndSerialNumber), read from untrusted signed
 * attributes.
 *
 * The input is read both ways.  Accepted, a value names a certificate
 * by issuer and serial (both present) or by a key identifier of at
 * most its buffer; a prefix of an accepted value is never accepted
 * (one DER element, nothing after it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "internal.h"
#include "fuzz.h"

static void one(const uint8_t *data, size_t size, int microsoft)
{
	struct ll_keypref k;

	if (ll_keypref_parse(&k, data, size, microsoft) == 0) {
		CHECK(k.ias != NULL ?
			      k.ias->issuer != NULL && k.ias->serial != NULL &&
				      k.kidlen == 0 :
			      k.kidlen > 0 && k.kidlen <= sizeof(k.kid));
		CHECK(!microsoft || k.ias != NULL);
		ll_keypref_clear(&k);
		if (size > 0) {
			CHECK(ll_keypref_parse(&k, data, size - 1, microsoft) !=
			      0);
			ll_keypref_clear(&k);
		}
	} else {
		CHECK(k.ias == NULL);
		ll_keypref_clear(&k);
	}
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, 0);
	one(data, size, 1);
	return 0;
}
