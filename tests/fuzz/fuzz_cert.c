/*
 * fuzz_cert.c - certificates and identities from untrusted bytes:
 * ll_cert_parse_all (PEM bundle or one DER) and
 * ll_identity_parse_pkcs12 with the empty passphrase.
 *
 * For every certificate that parses, every accessor is called, and its
 * DER and PEM encodings must parse back to the same fingerprint.  For
 * an identity that parses, the private key is exported and re-imported
 * (ll_identity_from_key_der) with the same certificate.  And when the
 * whole input is one DER certificate to OpenSSL, ll_cert_parse_all must
 * read it too (the PEM/DER guess must not get in the way).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include <letterlock/letterlock.h>

#include "fuzz.h"



static void same_cert(const struct ll_cert *c, const void *enc, size_t len)
{
	struct ll_error err = { 0 };
	struct ll_cert *back = NULL;

	CHECK(ll_cert_parse(&back, enc, len, &err) == 0);
	CHECK(strcmp(ll_cert_fingerprint(back), ll_cert_fingerprint(c)) == 0);
	CHECK(strcmp(ll_cert_email(back), ll_cert_email(c)) == 0);
	ll_cert_free(&back);
}

static void one_cert(struct ll_cert *c)
{
	struct ll_error err = { 0 };
	const char *email = ll_cert_email(c);
	unsigned char *der = NULL;
	size_t derlen = 0;
	char *pem = NULL;

	CHECK(email != NULL && strlen(email) < 320);
	CHECK(strlen(ll_cert_subject(c)) < 256);
	CHECK(strlen(ll_cert_fingerprint(c)) == 64);
	(void)ll_cert_not_before(c);
	(void)ll_cert_not_after(c);
	CHECK(ll_cert_caps(c) == 0);
	CHECK((ll_cert_uses(c) & ~(unsigned)(LL_USE_SIGN | LL_USE_ENCRYPT)) ==
	      0);
	CHECK(strlen(ll_cert_use_name(ll_cert_uses(c))) > 0);
	if (email[0] != '\0')
		(void)ll_cert_matches_email(c, email);
	(void)ll_cert_matches_email(c, "alice@example.test");
	/* a certificate that parsed but does not re-encode is possible
	 * (OpenSSL keeps the received encoding, so it should not be) */
	if (ll_cert_der(&der, &derlen, c, &err) == 0) {
		same_cert(c, der, derlen);
		free(der);
	}
	if (ll_cert_pem(&pem, c, &err) == 0) {
		same_cert(c, pem, strlen(pem));
		free(pem);
	}
}

/* Is DATA exactly one DER certificate, as OpenSSL reads it? */
static int is_one_der_cert(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509 *x;

	if (size == 0 || size > 1024 * 1024)
		return 0;
	x = d2i_X509(NULL, &p, (long)size);
	ERR_clear_error();
	X509_free(x);
	return x != NULL && p == data + size;
}

static void certs(const uint8_t *data, size_t size)
{
	struct ll_error err = { 0 };
	struct ll_cert **v = NULL;
	size_t n = 0;
	int rc = ll_cert_parse_all(&v, &n, data, size, &err);

	if (rc < 0) {
		CHECK(v == NULL && n == 0);
		CHECK(err.code == rc);
		CHECK(!is_one_der_cert(data, size));
		return;
	}
	CHECK(v != NULL && n >= 1 && n <= 64);
	for (size_t i = 0; i < n; i++) {
		one_cert(v[i]);
		ll_cert_free(&v[i]);
		CHECK(v[i] == NULL);
	}
	free(v);
}

static void pkcs12(const uint8_t *data, size_t size)
{
	struct ll_error err = { 0 };
	struct ll_identity *id = NULL, *back = NULL;
	struct ll_cert *chain[64];
	unsigned char *key = NULL;
	size_t keylen = 0, nchain;
	int rc = ll_identity_parse_pkcs12(&id, data, size, "", &err);

	if (rc < 0) {
		CHECK(id == NULL);
		CHECK(err.code == rc);
		return;
	}
	CHECK(id != NULL);
	one_cert(ll_identity_cert(id));
	nchain = ll_identity_chain_count(id);
	for (size_t i = 0; i < nchain; i++) {
		CHECK(ll_identity_chain(id, i) != NULL);
		if (i < 64)
			chain[i] = ll_identity_chain(id, i);
	}
	CHECK(ll_identity_chain(id, nchain) == NULL);
	CHECK(ll_identity_key_der(&key, &keylen, id, &err) == 0);
	CHECK(ll_identity_from_key_der(&back, key, keylen,
				       ll_identity_cert(id), chain,
				       nchain < 64 ? nchain : 64, &err) == 0);
	CHECK(strcmp(ll_cert_fingerprint(ll_identity_cert(back)),
		     ll_cert_fingerprint(ll_identity_cert(id))) == 0);
	ll_wipe_free(key, keylen);
	ll_identity_free(&back);
	ll_identity_free(&id);
	CHECK(id == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	certs(data, size);
	pkcs12(data, size);
	return 0;
}
