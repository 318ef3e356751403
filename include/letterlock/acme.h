/*
 * letterlock/acme.h - the client side of ACME (RFC 8555) with the email
 * identifiers and the "email-reply-00" challenge of RFC 8823: how
 * `letterlock enrol` gets an S/MIME certificate for a mailbox while the
 * private key never leaves this machine.
 *
 * The steps, in order:
 *   ll_acme_new                 fetch the CA's directory
 *   ll_acme_account_key         load (or make and store) the account key
 *   ll_acme_set_key, ll_acme_register     newAccount: find or create
 *   ll_acme_order_new           newOrder for one email identifier
 *   ll_acme_authz_fetch         the authorization; fetching it makes the
 *                               CA mail the challenge
 *   ll_acme_root_cert           the CA's root, to verify that mail
 *   ll_acme_mail_check          is a mail the CA's genuine challenge?
 *   ll_acme_mail_response       the reply to send from the mailbox
 *   ll_acme_authz_respond, ll_acme_authz_poll     tell the CA, wait
 *   ll_acme_certkey_generate, ll_acme_csr_new     the key, its request
 *   ll_acme_order_finalize, ll_acme_order_poll    send it, wait
 *   ll_acme_order_certificate   download the chain
 *   ll_acme_identity            key + chain, checked, as an identity
 *
 * Transport: plain http only to a loopback host (127.0.0.0/8, ::1,
 * localhost), https with a verified server certificate everywhere else
 * (the system's trust store plus the options' ca_file); redirects are
 * not followed.  Every response body is bounded (LL_ACME_MAX_*) and
 * JSON is parsed with jansson.  A request refused with badNonce is sent
 * once more with a fresh nonce.
 *
 * Errors: LL_EIO (network, TLS, HTTP without a problem document, a wait
 * that ran out), LL_EPARSE (a malformed answer), LL_ETOOBIG (an answer
 * over a limit), LL_EPOLICY (the CA refused: the message is the problem
 * document's "TYPE: DETAIL", e.g. "urn:ietf:params:acme:error:
 * unauthorized: From does not match", or an object became invalid),
 * LL_EINVAL (bad argument), LL_ENOMEM, LL_ECRYPTO.  Text from the CA is
 * cleaned of control characters before it reaches a message.
 */
#ifndef LETTERLOCK_ACME_H
#define LETTERLOCK_ACME_H

#include <stddef.h>
#include <letterlock/error.h>
#include <letterlock/cert.h>
#include <letterlock/ctx.h>
#include <letterlock/jose.h>
#include <letterlock/keystore.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LL_ACME_MAX_JSON (64 * 1024) /* a directory, account, order ... */
#define LL_ACME_MAX_CHAIN (64 * 1024) /* a PEM certificate chain */
#define LL_ACME_MAX_CERT (16 * 1024) /* the root certificate */
#define LL_ACME_MAX_URL 2048 /* any URL the CA hands out */
#define LL_ACME_MAX_TOKEN 256 /* a challenge token (part) */
#define LL_ACME_MAX_AUTHZ 16 /* authorizations of one order */
#define LL_ACME_MAX_CHAIN_CERTS 8 /* certificates in the chain */
#define LL_ACME_MAX_WAIT 30 /* longest pause between polls, s */

enum ll_acme_status {
	LL_ACME_UNKNOWN = 0,
	LL_ACME_PENDING,
	LL_ACME_READY,
	LL_ACME_PROCESSING,
	LL_ACME_VALID,
	LL_ACME_INVALID,
	LL_ACME_EXPIRED,
	LL_ACME_DEACTIVATED,
	LL_ACME_REVOKED,
};

/* "pending", "valid", ... as in RFC 8555; "unknown" for the rest. */
const char *ll_acme_status_name(enum ll_acme_status s);

/* ---- the client ---- */

struct ll_acme;

struct ll_acme_options {
	unsigned version; /* LL_ACME_OPTIONS_VERSION */
	/* PEM file of CA certificates trusted for https besides the
	 * system's; NULL: the system's only */
	const char *ca_file;
	int timeout; /* seconds for one HTTP exchange; 0: 30 */
};
#define LL_ACME_OPTIONS_VERSION 1
#define LL_ACME_OPTIONS_INIT                     \
	{                                        \
		LL_ACME_OPTIONS_VERSION, NULL, 0 \
	}

/*
 * A client of the ACME server whose directory is at URL: fetches the
 * directory (RFC 8555 section 7.1.1).  OPT may be NULL.  *out belongs
 * to the caller (ll_acme_free).  Errors: LL_EINVAL (URL not http(s),
 * http to a host that is not loopback), LL_EIO, LL_EPARSE (not a
 * directory), LL_ETOOBIG, LL_EPOLICY (the CA requires external account
 * binding, which letterlock does not do).
 */
int ll_acme_new(struct ll_acme **out, const char *url,
		const struct ll_acme_options *opt, struct ll_error *err);

/* Frees the client and the account key it holds.  NULL-safe. */
void ll_acme_free(struct ll_acme **pp);

/* The directory's meta "termsOfService" URL, or NULL; borrowed. */
const char *ll_acme_terms(const struct ll_acme *a);

/*
 * The account key for the CA at URL, kept in KS as the named secret
 * "acme-account-key URL" (sealed like identity keys): loaded when
 * present, else a new ES256 (P-256) key is made and stored; *created
 * (may be NULL) says which.  *out belongs to the caller.
 * Errors: LL_ESTORE, LL_ECRYPTO, LL_EPARSE (a damaged stored key).
 */
int ll_acme_account_key(struct ll_jwk **out, int *created,
			struct ll_keystore *ks, const char *url,
			struct ll_error *err);

/* Sign requests with *KEY from now on; A takes it (*key becomes NULL). */
void ll_acme_set_key(struct ll_acme *a, struct ll_jwk **key);

/*
 * newAccount with the key set: creates the account, or finds the one
 * the key already has (the CA answers 200 instead of 201).  CONTACT
 * (may be NULL) becomes "mailto:CONTACT" (RFC 6068 percent-encoding for
 * non-ASCII octets).  The terms of service are agreed to.  *created
 * (may be NULL) is 1 for a new account.  Errors: as above, LL_EINVAL
 * without a key.
 */
int ll_acme_register(struct ll_acme *a, const char *contact, int *created,
		     struct ll_error *err);

/* The account URL ("kid") after ll_acme_register, else NULL; borrowed. */
const char *ll_acme_account_url(const struct ll_acme *a);

/* The RFC 7638 thumbprint of the account key.  LL_EINVAL without one. */
int ll_acme_thumbprint(char out[LL_JWK_THUMBPRINT_LEN + 1],
		       const struct ll_acme *a, struct ll_error *err);

/*
 * The CA's root certificate, from the URL in the directory's meta
 * "letterlockRootCertificate" (DER or PEM; same transport rules as the
 * directory).  It must be a self-signed CA certificate.  *out belongs
 * to the caller.  The root is as trustworthy as the directory URL: a
 * verified https URL, or this machine.
 * Errors: LL_ENOTFOUND (no such meta), LL_EIO, LL_EPARSE, LL_ETOOBIG,
 * LL_EPOLICY (not a self-signed CA certificate).
 */
int ll_acme_root_cert(struct ll_cert **out, struct ll_acme *a,
		      struct ll_error *err);

/* The base URL of the CA's key directory (PKX, doc/pkx-api.md), from
 * the directory's meta "letterlockPkx", or NULL; borrowed. */
const char *ll_acme_pkx_url(const struct ll_acme *a);

/*
 * Tell the key directory what the owner of the certificate FPR (SHA-256
 * hex; ordered by this account) reads: the N capability names CAPS
 * (doc/pkx-api.md), so that senders may use them.  POST PKX/caps,
 * signed like every ACME request.
 * Errors: LL_ENOTFOUND (no directory), LL_EIO, LL_EPOLICY (refused: the
 * message is the CA's), LL_EPARSE.
 */
int ll_acme_pkx_caps(struct ll_acme *a, const char *fpr,
		     const char *const *caps, size_t n, struct ll_error *err);

/* ---- the key vault (doc/vault-api.md) ---- */

/* The base URL of the CA's key vault, from the directory's meta
 * "letterlockVault", or NULL; borrowed. */
const char *ll_acme_vault_url(const struct ll_acme *a);

#define LL_ACME_MAX_VAULT (2 * 1024 * 1024) /* a vault answer: a backup */

/*
 * Store the encrypted backup BLOB (LEN octets, see letterlock/backup.h)
 * in the vault as the new version for ADDRESS: POST VAULT/put, signed
 * like every ACME request.  The account must have proven control of
 * ADDRESS recently (a valid authorization: ll_acme_order_new and the
 * email round trip).  *version (may be NULL) is the version stored.
 * Errors: LL_ENOTFOUND (the CA has no vault), LL_EIO, LL_EPOLICY (the
 * vault refused: no fresh proof, too large; the message is the CA's),
 * LL_EPARSE.
 */
int ll_acme_vault_put(struct ll_acme *a, const char *address, const void *blob,
		      size_t len, long long *version, struct ll_error *err);

/*
 * The backup of ADDRESS from the vault, VERSION (0: the current one),
 * into *out (malloc'd, *len octets), under the same proof; the vault
 * counts reads and refuses too many (LL_EPOLICY, "rateLimited").
 * Errors: as ll_acme_vault_put; LL_EPOLICY also when there is none.
 */
int ll_acme_vault_get(unsigned char **out, size_t *len, struct ll_acme *a,
		      const char *address, long long version,
		      struct ll_error *err);

#define LL_ACME_VAULT_VERSIONS_MAX 16

/* Which version a vault read gave, and which the vault keeps. */
struct ll_acme_vault_versions {
	long long got; /* the version fetched */
	long long kept[LL_ACME_VAULT_VERSIONS_MAX]; /* newest first */
	size_t n; /* of kept (the vault's first LL_ACME_VAULT_VERSIONS_MAX) */
};

/*
 * ll_acme_vault_get, and into *vs what the answer says of the versions
 * (to fall back to an earlier one).  Errors: as ll_acme_vault_get;
 * LL_EPARSE when the answer names no version.
 */
int ll_acme_vault_get_versions(unsigned char **out, size_t *len,
			       struct ll_acme_vault_versions *vs,
			       struct ll_acme *a, const char *address,
			       long long version, struct ll_error *err);

/* ---- revocation (RFC 8555 section 7.6) ---- */

/*
 * Ask the CA to revoke CERT, signed with the account ("kid"): the
 * account must be the one that ordered CERT, or hold valid
 * authorizations for every address in it that the CA counts as fresh
 * (doc/acme.md: letterlockd takes those validated within the last
 * hour).  REASON is an RFC 5280 CRLReason code (the CA takes 0
 * unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, 5
 * cessationOfOperation, 9 privilegeWithdrawn) or -1 to send none.
 * Errors: LL_EINVAL (no account, a reason outside 0..10), LL_ENOTFOUND
 * (the directory names no revokeCert), LL_EPOLICY (the CA refused: the
 * message is its problem, e.g. "urn:ietf:params:acme:error:
 * alreadyRevoked: already revoked" or "...:unauthorized: ..."), LL_EIO,
 * LL_ENOMEM.
 */
int ll_acme_revoke(struct ll_acme *a, const struct ll_cert *cert, int reason,
		   struct ll_error *err);

/* ---- orders ---- */

struct ll_acme_order;

/*
 * newOrder for the email identifier ADDRESS (RFC 8823 section 2; sent
 * in canonical form, see ll_acme_address).  *out belongs to the caller
 * (ll_acme_order_free).  Errors: as above.
 */
int ll_acme_order_new(struct ll_acme_order **out, struct ll_acme *a,
		      const char *address, struct ll_error *err);

void ll_acme_order_free(struct ll_acme_order **pp);

/*
 * The order at URL (one this account made earlier), fetched with
 * POST-as-GET: how an enrolment interrupted after finalize picks up
 * its certificate.  *out belongs to the caller.  Errors: as above;
 * LL_EPOLICY when the CA refuses (e.g. another account's order).
 */
int ll_acme_order_open(struct ll_acme_order **out, struct ll_acme *a,
		       const char *url, struct ll_error *err);

/* The order's URL, status, authorization URLs; borrowed from O. */
const char *ll_acme_order_url(const struct ll_acme_order *o);
enum ll_acme_status ll_acme_order_status(const struct ll_acme_order *o);
size_t ll_acme_order_authz_count(const struct ll_acme_order *o);
const char *ll_acme_order_authz(const struct ll_acme_order *o, size_t i);

/*
 * Fetch the order again (POST-as-GET) while it is pending or
 * processing, pausing as the CA's Retry-After says (at least 1 s, at
 * most LL_ACME_MAX_WAIT), for at most TIMEOUT seconds.  Returns 0 when
 * it is ready or valid; LL_EPOLICY when it became invalid (the message
 * is its error), LL_EIO when TIMEOUT ran out.
 */
int ll_acme_order_poll(struct ll_acme *a, struct ll_acme_order *o, int timeout,
		       struct ll_error *err);

/* Send the certificate request CSR (DER, LEN bytes) to the order's
 * finalize URL; O takes the answer.  Errors: as above. */
int ll_acme_order_finalize(struct ll_acme *a, struct ll_acme_order *o,
			   const unsigned char *csr, size_t len,
			   struct ll_error *err);

/*
 * Download the certificate of a valid order as
 * application/pem-certificate-chain into *out (malloc'd,
 * NUL-terminated, length *len; at most LL_ACME_MAX_CHAIN bytes).
 * Errors: LL_EINVAL (the order has no certificate yet), as above.
 */
int ll_acme_order_certificate(char **out, size_t *len, struct ll_acme *a,
			      const struct ll_acme_order *o,
			      struct ll_error *err);

/* ---- authorizations ---- */

struct ll_acme_authz;

/*
 * Fetch the authorization at URL (POST-as-GET).  For an email
 * identifier the CA sends the challenge mail now.  *out belongs to the
 * caller (ll_acme_authz_free).  Errors: as above.
 */
int ll_acme_authz_fetch(struct ll_acme_authz **out, struct ll_acme *a,
			const char *url, struct ll_error *err);

void ll_acme_authz_free(struct ll_acme_authz **pp);

enum ll_acme_status ll_acme_authz_status(const struct ll_acme_authz *z);
/* The identifier's value (the address); borrowed. */
const char *ll_acme_authz_identifier(const struct ll_acme_authz *z);

/*
 * The authorization's email-reply-00 challenge, borrowed from Z: 1 if
 * there is one.  Its token is token-part2 of RFC 8823 (token-part1
 * comes by mail), FROM the address the challenge mail comes from and
 * the reply goes to.  ll_acme_authz_error: why the challenge or the
 * authorization failed ("TYPE: DETAIL"), "" when nothing failed.
 */
int ll_acme_authz_has_challenge(const struct ll_acme_authz *z);
const char *ll_acme_authz_token(const struct ll_acme_authz *z);
const char *ll_acme_authz_from(const struct ll_acme_authz *z);
enum ll_acme_status
ll_acme_authz_challenge_status(const struct ll_acme_authz *z);
const char *ll_acme_authz_error(const struct ll_acme_authz *z);

/* Tell the CA the challenge is answered (POST {} to the challenge URL,
 * RFC 8555 section 7.5.1).  LL_EINVAL without a challenge. */
int ll_acme_authz_respond(struct ll_acme *a, struct ll_acme_authz *z,
			  struct ll_error *err);

/*
 * Fetch the authorization again while it is pending, as
 * ll_acme_order_poll does.  Returns 0 when it is valid; LL_EPOLICY when
 * it is invalid (or expired, deactivated, revoked), the message saying
 * why; LL_EIO when TIMEOUT ran out.
 */
int ll_acme_authz_poll(struct ll_acme *a, struct ll_acme_authz *z, int timeout,
		       struct ll_error *err);

/* ---- the challenge by mail (RFC 8823 section 3) ---- */

/*
 * Is MSG (LEN bytes, a whole message as fetched) the genuine challenge
 * mail from FROM?  CTX must trust the CA's root and nothing else.
 * Genuine means: it opens (ll_msg_open) with a valid signature, i.e.
 * by a certificate that chains to that root and covers the From
 * address, over the whole message; From is exactly FROM; Subject is
 * "ACME: " and a token of base64url characters.  Then *token1 is that
 * token (token-part1) and *msgid the Message-ID ("<...>", NULL when
 * the mail has none); both malloc'd, the caller frees them.
 * Errors: LL_EPOLICY (not a genuine challenge: the message says why),
 * LL_EPARSE, LL_ETOOBIG, LL_ENOMEM.
 */
int ll_acme_mail_check(char **token1, char **msgid, struct ll_ctx *ctx,
		       const char *msg, size_t len, const char *from,
		       struct ll_error *err);

/*
 * The response mail (RFC 8823 section 3.2) into *out (malloc'd,
 * NUL-terminated, CRLF line ends, length *len): From ADDRESS, To TO,
 * Subject "RE: ACME: TOKEN1", In-Reply-To and References MSGID (left
 * out when NULL), a new Message-ID and Date, and a text/plain body
 * holding DIGEST (ll_acme_email_digest) between the "-----BEGIN ACME
 * RESPONSE-----" and "-----END ACME RESPONSE-----" lines.  Addresses
 * are written in canonical form.  Errors: LL_EINVAL (an argument that
 * would not make a well-formed mail).
 */
int ll_acme_mail_response(char **out, size_t *len, const char *address,
			  const char *to, const char *token1, const char *msgid,
			  const char *digest, struct ll_error *err);

/* ---- the certificate's key, request and identity ---- */

/*
 * ADDRESS in the canonical form the CA certifies (RFC 9598: the local
 * part as it is, the domain as lower-case A-labels) into *out
 * (malloc'd).  LL_EINVAL, with the reason, if it is not a mailbox
 * address letterlock can certify (quoted local parts, for one).
 */
int ll_acme_address(char **out, const char *address, struct ll_error *err);

struct ll_acme_certkey;

/* A new key pair for the certificate, made here.  *out belongs to the
 * caller (ll_acme_certkey_free wipes it).  Errors: LL_ECRYPTO. */
int ll_acme_certkey_generate(struct ll_acme_certkey **out, enum ll_keytype type,
			     struct ll_error *err);
void ll_acme_certkey_free(struct ll_acme_certkey **pp);

/*
 * The private key as DER (PKCS#1 / SEC 1, as i2d_PrivateKey writes it)
 * into *out (malloc'd; the caller wipes and frees it with
 * ll_wipe_free), and back: what the home keeps sealed while a
 * certificate is being issued for the key.  Errors: LL_ECRYPTO;
 * LL_EPARSE (not one key), LL_ETOOBIG.
 */
int ll_acme_certkey_der(unsigned char **out, size_t *len,
			const struct ll_acme_certkey *key, struct ll_error *err);
int ll_acme_certkey_from_der(struct ll_acme_certkey **out,
			     const unsigned char *der, size_t len,
			     struct ll_error *err);

/*
 * A PKCS#10 request signed by KEY for ADDRESS, DER into *out (malloc'd,
 * length *len): subject CN=ADDRESS (canonical) when it has at most 64
 * characters, else an empty subject; subjectAltName (critical when the
 * subject is empty) holding only the address, as rfc822Name when the
 * local part is ASCII and as otherName SmtpUTF8Mailbox
 * (1.3.6.1.5.5.7.8.9, UTF8String) when not; keyUsage digitalSignature
 * and keyEncipherment (RSA) or keyAgreement (EC); extendedKeyUsage
 * emailProtection.  SHA-256 signature.
 * Errors: LL_EINVAL (not a certifiable address), LL_ECRYPTO.
 */
int ll_acme_csr_new(unsigned char **out, size_t *len,
		    const struct ll_acme_certkey *key, const char *address,
		    struct ll_error *err);

/*
 * The identity made of KEY and the chain CHAIN (LEN bytes of PEM, the
 * certificate first, as ll_acme_order_certificate gives it), after
 * checking that the certificate is for KEY, names ADDRESS, and chains
 * through the other certificates to ROOT for S/MIME, valid now.  The
 * identity's chain is the certificates above the end-entity, ROOT left
 * out.  *out belongs to the caller.  Errors: LL_EPARSE, LL_ETOOBIG,
 * LL_EPOLICY (a certificate that does not fit: the message says how).
 */
int ll_acme_identity(struct ll_identity **out,
		     const struct ll_acme_certkey *key, const char *chain,
		     size_t len, const struct ll_cert *root,
		     const char *address, struct ll_error *err);

/* The serial number of C in upper-case hex (as `openssl x509 -serial`
 * shows it) into BUF, truncated to LEN - 1 characters. */
void ll_acme_cert_serial(char *buf, size_t len, const struct ll_cert *c);

#ifdef __cplusplus
}
#endif
#endif
