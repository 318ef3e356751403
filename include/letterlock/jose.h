/*
 * letterlock/jose.h - the JOSE pieces ACME (RFC 8555) needs: base64url
 * (RFC 4648 section 5, unpadded), JSON Web Keys (RFC 7517/7518/8037),
 * their thumbprints (RFC 7638), and flattened JWS (RFC 7515) signed
 * with ES256, RS256 or EdDSA (Ed25519).  Both ends use it: letterlockd
 * verifies requests, `letterlock enrol` signs them.  Also the email
 * challenge's response digest (RFC 8823).
 */
#ifndef LETTERLOCK_JOSE_H
#define LETTERLOCK_JOSE_H

#include <stddef.h>
#include <letterlock/error.h>
#include <letterlock/cert.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LL_JWS_MAX (64 * 1024) /* largest JWS (JSON text) parsed */
#define LL_JWK_THUMBPRINT_LEN 43 /* base64url of a SHA-256 digest */

/* ---- base64url, no padding ---- */

/*
 * Encode LEN bytes of BUF into *out (malloc'd, NUL-terminated; its
 * length in *outlen if not NULL).  Errors: LL_ENOMEM.
 */
int ll_b64url_encode(char **out, size_t *outlen, const void *buf, size_t len,
		     struct ll_error *err);

/*
 * Decode LEN characters of S into *out (malloc'd; its length in
 * *outlen; one extra NUL byte after it, not counted).  Strict: only the
 * URL alphabet, no padding, no white space, a length that is not 1
 * mod 4, and unused trailing bits zero (one encoding per value).  More
 * than MAX decoded bytes is LL_ETOOBIG.  Errors: LL_EPARSE, LL_ETOOBIG,
 * LL_ENOMEM.
 */
int ll_b64url_decode(unsigned char **out, size_t *outlen, const char *s,
		     size_t len, size_t max, struct ll_error *err);

/* ---- JSON Web Keys ---- */

struct ll_jwk;

/*
 * A public key from the JSON text of a JWK object (at most LL_JWS_MAX
 * bytes): kty "EC" with crv "P-256" (x, y of 32 bytes, a point on the
 * curve), kty "RSA" (n of 2048..8192 bits, e odd and at most 2^32), kty
 * "OKP" with crv "Ed25519".  Private members ("d", ...) are refused;
 * other members are ignored.  *out belongs to the caller.
 * Errors: LL_EPARSE (not a JWK), LL_EPOLICY (a key type, curve or size
 * we do not take), LL_ETOOBIG.
 */
int ll_jwk_parse(struct ll_jwk **out, const char *json, size_t len,
		 struct ll_error *err);

/*
 * A new key pair for an ACME account: ALG "ES256" (P-256), "RS256"
 * (RSA-3072) or "EdDSA" (Ed25519).  Errors: LL_EINVAL, LL_ECRYPTO.
 */
int ll_jwk_generate(struct ll_jwk **out, const char *alg,
		    struct ll_error *err);

/*
 * The key pair as unencrypted PKCS#8 PEM into *out (malloc'd,
 * NUL-terminated, length *len; wipe it with ll_wipe_free), and back.
 * Errors: LL_EINVAL (no private key), LL_EPARSE, LL_EPOLICY,
 * LL_ECRYPTO.
 */
int ll_jwk_private_pem(char **out, size_t *len, const struct ll_jwk *k,
		       struct ll_error *err);
int ll_jwk_from_private_pem(struct ll_jwk **out, const char *pem, size_t len,
			    struct ll_error *err);

/* The public key of certificate C as a JWK (for revokeCert signed with
 * the certificate's key).  Errors: LL_EPOLICY (unsupported key). */
int ll_jwk_from_cert(struct ll_jwk **out, const struct ll_cert *c,
		     struct ll_error *err);

void ll_jwk_free(struct ll_jwk **pp);

/* The JWS "alg" this key signs with ("ES256", "RS256", "EdDSA"). */
const char *ll_jwk_alg(const struct ll_jwk *k);

/*
 * The public key as the canonical JSON of RFC 7638 section 3 (required
 * members only, in lexicographic order, no white space) into *out
 * (malloc'd, NUL-terminated).  Errors: LL_ENOMEM.
 */
int ll_jwk_json(char **out, const struct ll_jwk *k, struct ll_error *err);

/* The RFC 7638 SHA-256 thumbprint, base64url, into OUT (NUL-terminated). */
int ll_jwk_thumbprint(char out[LL_JWK_THUMBPRINT_LEN + 1],
		      const struct ll_jwk *k, struct ll_error *err);

/* 1 if A and B are the same public key, else 0. */
int ll_jwk_equal(const struct ll_jwk *a, const struct ll_jwk *b);

/* ---- flattened JWS ---- */

struct ll_jws;

/*
 * Parse a flattened JWS JSON serialization (RFC 7515 section 7.2.2;
 * BODY at most LL_JWS_MAX bytes) as RFC 8555 section 6.2 requires:
 * exactly the members "protected", "payload", "signature" (an
 * unprotected "header" is refused); the protected header a JSON object
 * with "alg" one of ES256, RS256, EdDSA, a string "url", a string
 * "nonce" (may be absent: the caller decides), exactly one of "jwk" (a
 * valid public JWK) and "kid" (a string), no "crit".  The signature is
 * not verified here.  *out belongs to the caller.
 * Errors: LL_EPARSE (malformed; the message says what), LL_EPOLICY
 * (an algorithm we do not take: ACME "badSignatureAlgorithm"),
 * LL_ETOOBIG.
 */
int ll_jws_parse(struct ll_jws **out, const void *body, size_t len,
		 struct ll_error *err);
/* The same for a BODY of at most MAX bytes (LL_JWS_MAX at least), its
 * payload too: for the few requests that carry more (the key vault's). */
int ll_jws_parse_max(struct ll_jws **out, const void *body, size_t len,
		     size_t max, struct ll_error *err);

void ll_jws_free(struct ll_jws **pp);

/* Members of the protected header, borrowed from JWS; NULL if absent. */
const char *ll_jws_alg(const struct ll_jws *jws);
const char *ll_jws_nonce(const struct ll_jws *jws);
const char *ll_jws_url(const struct ll_jws *jws);
const char *ll_jws_kid(const struct ll_jws *jws);
const struct ll_jwk *ll_jws_jwk(const struct ll_jws *jws);

/* The decoded payload (NUL-terminated, not counted in *len); "" with
 * *len 0 for a POST-as-GET. */
const char *ll_jws_payload(const struct ll_jws *jws, size_t *len);

/*
 * Verify the signature with KEY: "alg" must be KEY's algorithm, ES256
 * signatures are the 64-byte r||s of RFC 7518 section 3.4.
 * Errors: LL_EPOLICY (alg does not fit the key), LL_EDECRYPT (the
 * signature does not verify), LL_ECRYPTO.
 */
int ll_jws_verify(const struct ll_jws *jws, const struct ll_jwk *key,
		  struct ll_error *err);

/*
 * Sign PAYLOAD (PLEN bytes; PLEN 0 for a POST-as-GET) with KEY for URL
 * and NONCE, into the flattened JSON *out (malloc'd, NUL-terminated,
 * length *len).  KID NULL embeds the public key as "jwk" (newAccount,
 * revokeCert by certificate key); otherwise "kid" is KID.
 * Errors: LL_EINVAL (KEY has no private key), LL_ECRYPTO, LL_ENOMEM.
 */
int ll_jws_sign(char **out, size_t *len, const struct ll_jwk *key,
		const char *kid, const char *nonce, const char *url,
		const void *payload, size_t plen, struct ll_error *err);

/* ---- RFC 8823 email-reply-00 ---- */

/*
 * The response digest: base64url(SHA-256(keyAuthorization)) with
 * keyAuthorization = TOKEN1 || TOKEN2 "." THUMBPRINT (the two token
 * parts joined as strings, RFC 8823 section 3), into OUT.
 */
int ll_acme_email_digest(char out[LL_JWK_THUMBPRINT_LEN + 1],
			 const char *token1, const char *token2,
			 const char *thumbprint, struct ll_error *err);

#ifdef __cplusplus
}
#endif
#endif
