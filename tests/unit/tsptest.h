/*
 * tsptest.h - what test_tsp.c and test_cms_signed.c share: the keys of
 * a letterlock CA hierarchy's roles, and RFC 3161 tokens made by
 * OpenSSL's own TSA code (TS_RESP_CTX) with its time-stamping unit.
 */
#ifndef LL_TSPTEST_H
#define LL_TSPTEST_H

#include <stddef.h>

#include <openssl/x509.h>

#include <letterlock/ca.h>

#include "internal.h"

/* The private key of H's role R (a new reference). */
EVP_PKEY *tt_role_key(struct ll_ca_hierarchy *h, enum ll_ca_role r);

/* A token by UNIT (its key KEY, its issuer CHAIN sent along) over the
 * signature value SIG (LEN octets), its DER appended to TOK.  OpenSSL
 * checks the unit's EKU when it is set, so any unit can be given. */
void tt_token(struct ll_buf *tok, const unsigned char *sig, size_t len,
	      X509 *unit, EVP_PKEY *key, X509 *chain);

#endif
