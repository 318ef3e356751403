/*
 * serial.c - the one text form of a certificate serial number that the
 * store, the ACME URLs, revocation and OCSP all use (keyholder.h).
 */
#include <ctype.h>
#include <string.h>

#include <openssl/bn.h>

#include "keyholder.h"

int lld_serial_hex(char out[LLD_SERIAL_MAX + 1], const ASN1_INTEGER *a)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(a, NULL);
	char *h = NULL;
	const char *p;
	int rc = -1;

	if (bn == NULL || BN_is_negative(bn) || BN_is_zero(bn))
		goto out;
	h = BN_bn2hex(bn);
	if (h == NULL)
		goto out;
	for (p = h; *p == '0'; p++)
		;
	if (strlen(p) > LLD_SERIAL_MAX)
		goto out;
	for (size_t i = 0;; i++) {
		out[i] = (char)tolower((unsigned char)p[i]);
		if (p[i] == '\0')
			break;
	}
	rc = 0;
out:
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}
