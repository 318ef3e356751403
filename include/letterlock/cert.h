/*
 * letterlock/cert.h - certificates and identities (private key + chain).
 */
#ifndef LETTERLOCK_CERT_H
#define LETTERLOCK_CERT_H

#include <stddef.h>
#include <time.h>
#include <letterlock/error.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ll_cert;
struct ll_identity;

/* What a certificate's owner is known to read (from SMIMECapabilities). */
enum ll_caps {
	LL_CAP_AES256_CBC = 1u << 0,
	LL_CAP_AES128_CBC = 1u << 1,
	LL_CAP_AES256_GCM = 1u << 2,
	LL_CAP_AES128_GCM = 1u << 3,
	LL_CAP_RSA_OAEP = 1u << 4,
};

enum ll_keytype {
	LL_KEY_RSA3072 = 0, /* default: every S/MIME client encrypts to it */
	LL_KEY_RSA2048,
	LL_KEY_EC_P256,
};

/*
 * Parse one certificate, PEM or DER (detected).  *out belongs to the
 * caller (ll_cert_free).  LL_EPARSE if it is not a certificate.
 */
int ll_cert_parse(struct ll_cert **out, const void *buf, size_t len,
		  struct ll_error *err);

/*
 * Parse every certificate in a PEM bundle (or one DER).  On success
 * *out is a malloc'd array of *n certificates; free each with
 * ll_cert_free and the array with free().
 */
int ll_cert_parse_all(struct ll_cert ***out, size_t *n, const void *buf,
		      size_t len, struct ll_error *err);

void ll_cert_free(struct ll_cert **pp);

/* A new reference to the same certificate (caller frees). */
struct ll_cert *ll_cert_ref(struct ll_cert *c);

/* First email address (SAN rfc822Name, else subject emailAddress);
 * borrowed, "" if none. */
const char *ll_cert_email(const struct ll_cert *c);

/* 1 if the certificate names ADDR (case-insensitive domain). */
int ll_cert_matches_email(const struct ll_cert *c, const char *addr);

/* Subject as one line; borrowed. */
const char *ll_cert_subject(const struct ll_cert *c);

/* SHA-256 fingerprint as 64 lower-case hex characters; borrowed. */
const char *ll_cert_fingerprint(const struct ll_cert *c);

time_t ll_cert_not_before(const struct ll_cert *c);
time_t ll_cert_not_after(const struct ll_cert *c);

/* 1 if the certificate is self-issued (its issuer is its subject: a
 * self-made identity, a root), else 0. */
int ll_cert_self_issued(const struct ll_cert *c);

/* The certificate's key type as the CLI writes it ("rsa-3072",
 * "ec-p256", "ec-p384", "ec-p521", "ec-<curve>", "unknown")
 * into BUF (SIZE bytes, 32 is enough); returns BUF. */
const char *ll_cert_key_name(const struct ll_cert *c, char *buf, size_t size);

/* Known capabilities (LL_CAP_*), 0 when unknown. */
unsigned ll_cert_caps(const struct ll_cert *c);
/* The LL_CAP_* bit of a capability's name as letterlock and the PKX
 * directory write it ("aes256-gcm", "aes128-gcm", "aes256-cbc",
 * "aes128-cbc", "rsaes-oaep" or "rsa-oaep"); 0 for any other. */
unsigned ll_cap_by_name(const char *name);
void ll_cert_set_caps(struct ll_cert *c, unsigned caps);

/*
 * What a certificate's key may be used for in S/MIME (RFC 8550 4.4.2):
 * LL_USE_SIGN when its keyUsage has digitalSignature or nonRepudiation,
 * LL_USE_ENCRYPT when it has keyEncipherment (an RSA key) or
 * keyAgreement (an EC key); a certificate without keyUsage, both (an
 * EC or RSA key; other keys are never encrypted to).  Many CAs issue
 * one certificate to sign and another to encrypt to.
 */
enum ll_cert_use {
	LL_USE_SIGN = 1u << 0,
	LL_USE_ENCRYPT = 1u << 1,
};
unsigned ll_cert_uses(const struct ll_cert *c);
/* "both", "sign", "encrypt" or "none" for the LL_USE_* bits USES. */
const char *ll_cert_use_name(unsigned uses);

/* DER encoding, malloc'd into *out (caller frees). */
int ll_cert_der(unsigned char **out, size_t *len, const struct ll_cert *c,
		struct ll_error *err);
/* PEM encoding, malloc'd NUL-terminated into *out (caller frees). */
int ll_cert_pem(char **out, const struct ll_cert *c, struct ll_error *err);

/*
 * Identity: private key, its certificate and the chain above it.
 *
 * ll_identity_parse_pkcs12: a PKCS#12 file; PASS may be NULL or "".
 * ll_identity_parse_pem: an unencrypted PKCS#8/traditional key and a
 *   PEM bundle whose first certificate matches the key.
 * ll_identity_generate: a new key and a self-signed certificate for
 *   EMAIL (EKU emailProtection), valid DAYS days (for tests and demos
 *   until the CA exists).
 * The key material is wiped when the identity is freed.
 */
int ll_identity_parse_pkcs12(struct ll_identity **out, const void *buf,
			     size_t len, const char *pass,
			     struct ll_error *err);
int ll_identity_parse_pem(struct ll_identity **out, const void *key,
			  size_t keylen, const void *certs, size_t certslen,
			  struct ll_error *err);
int ll_identity_generate(struct ll_identity **out, const char *email,
			 enum ll_keytype type, int days,
			 struct ll_error *err);
void ll_identity_free(struct ll_identity **pp);

/* The identity's certificate; borrowed from the identity. */
struct ll_cert *ll_identity_cert(const struct ll_identity *id);

/* Number of chain certificates above the end-entity, and the i-th. */
size_t ll_identity_chain_count(const struct ll_identity *id);
struct ll_cert *ll_identity_chain(const struct ll_identity *id, size_t i);

/*
 * The private key as unencrypted PKCS#8 DER, malloc'd into *out.  The
 * caller must wipe (ll_wipe_free) it.  Used by the keystore only, which
 * encrypts it before it touches the disk.
 */
int ll_identity_key_der(unsigned char **out, size_t *len,
			const struct ll_identity *id, struct ll_error *err);
int ll_identity_from_key_der(struct ll_identity **out,
			     const unsigned char *key, size_t keylen,
			     struct ll_cert *cert, struct ll_cert **chain,
			     size_t nchain, struct ll_error *err);

/* Wipe LEN bytes at P, then free(P).  NULL-safe. */
void ll_wipe_free(void *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif
