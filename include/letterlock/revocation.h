/*
 * letterlock/revocation.h - is a signer's certificate revoked?  OCSP
 * (RFC 6960) asked of the responder the certificate names (its
 * authorityInfoAccess), answers kept in the home, and the marks of this
 * home's own revoked certificates.
 *
 * The library stays off the network unless the caller asks: a context
 * judges revocation only after ll_ctx_set_revocation, and asks a
 * responder only with the option "network".  Then ll_msg_open reports
 * the signer's status (ll_open_status.revocation) and judges:
 *
 *   good      the signature stands;
 *   revoked   the signature is not valid (LL_SIG_REVOKED), unless an
 *             RFC 3161 token proves it was made before the revocation
 *             and the reason is neither keyCompromise nor cACompromise;
 *   unknown   (offline, no responder named, no or a bad answer) the
 *             signature stands and the status says "unknown", unless
 *             the option "require" is set: then it is not valid
 *             (LL_SIG_UNTRUSTED).  doc/decisions.md says why.
 *
 * An answer is taken only when it is signed by the certificate's issuer
 * or by a responder the issuer delegated (id-kp-OCSPSigning) chaining
 * to the context's trust anchors, is for this certificate (CertID),
 * carries our nonce when it carries one, and is current (thisUpdate not
 * in the future, nextUpdate not past, 5 minutes' leeway; at most
 * LL_REVOCATION_MAX_AGE old).  Answers are kept in the home: "revoked"
 * for good, "good" until nextUpdate but at most LL_REVOCATION_GOOD_MAX,
 * "unknown" never.
 */
#ifndef LETTERLOCK_REVOCATION_H
#define LETTERLOCK_REVOCATION_H

#include <time.h>
#include <letterlock/error.h>
#include <letterlock/cert.h>
#include <letterlock/ctx.h>
#include <letterlock/keystore.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LL_REVOCATION_MAX_RESPONSE (64 * 1024) /* an OCSP answer, bytes */
#define LL_REVOCATION_GOOD_MAX 3600 /* "good" is kept this long, s */
#define LL_REVOCATION_MAX_AGE (7 * 86400) /* oldest thisUpdate taken, s */
#define LL_REVOCATION_TIMEOUT 10 /* default for one exchange, s */

enum ll_rev_state {
	LL_REV_UNCHECKED = 0, /* the context does not judge revocation */
	LL_REV_GOOD,
	LL_REV_REVOKED,
	LL_REV_UNKNOWN,
};

/* "unchecked", "good", "revoked", "unknown" (`open --json`). */
const char *ll_rev_state_name(enum ll_rev_state s);

/* RFC 5280 CRLReason codes by their names ("keyCompromise", ...): the
 * code, or -1 for a name that is not one. */
int ll_rev_reason_parse(const char *name);
/* The name of CRLReason CODE, "unspecified" for -1 (none given). */
const char *ll_rev_reason_name(int code);

/* What is known of one certificate's status. */
struct ll_revocation {
	enum ll_rev_state state;
	int reason; /* CRLReason when revoked, -1 none given */
	time_t revoked; /* when revoked, else 0 */
	time_t this_update, next_update; /* of the answer; 0 unknown */
	char source[8]; /* "ocsp", "cache" (an answer kept), "local" */
	char why[160]; /* for unknown: why no answer, else "" */
};

struct ll_revocation_options {
	unsigned version; /* LL_REVOCATION_OPTIONS_VERSION */
	int network; /* ask the responders certificates name */
	int require; /* unknown makes a signature not valid */
	int timeout; /* seconds for one exchange; 0: LL_REVOCATION_TIMEOUT */
	/* answers are kept in, and this home's own revocations read from,
	 * this home (borrowed: it outlives the context); NULL: none */
	struct ll_keystore *cache;
};
#define LL_REVOCATION_OPTIONS_VERSION 1
#define LL_REVOCATION_OPTIONS_INIT                           \
	{                                                    \
		LL_REVOCATION_OPTIONS_VERSION, 0, 0, 0, NULL \
	}

/*
 * From now on CTX judges the revocation of signers as OPT says (copied;
 * OPT->cache borrowed).  With a cache, the certificates recorded there
 * as revoked (ll_revocation_mark, or an answer kept) are no longer
 * used to sign or to encrypt to: ll_ctx_identity_for and
 * ll_ctx_contact_for pass over them; their keys still decrypt.
 * Errors: LL_EINVAL (OPT's version), LL_ESTORE, LL_ENOMEM.
 */
int ll_ctx_set_revocation(struct ll_ctx *ctx,
			  const struct ll_revocation_options *opt,
			  struct ll_error *err);

/* 1 if CTX knows CERT to be revoked (see above), else 0. */
int ll_ctx_is_revoked(const struct ll_ctx *ctx, const struct ll_cert *cert);

/*
 * The status of CERT, issued by ISSUER, as CTX's options allow: from
 * the home's cache, else from the OCSP responder CERT names.  Returns
 * 0 with *out filled (state LL_REV_UNKNOWN and out->why when nothing
 * could be learned), or LL_ENOMEM.
 */
int ll_revocation_check(struct ll_revocation *out, struct ll_ctx *ctx,
			const struct ll_cert *cert,
			const struct ll_cert *issuer, struct ll_error *err);

/*
 * Record in KS that CERT was revoked at WHEN for REASON (CRLReason, -1
 * none), after this home asked the CA to (letterlock revoke): from
 * then on the home neither signs with it nor offers it.  A later
 * mark or answer does not undo it.  Errors: LL_ESTORE.
 */
int ll_revocation_mark(struct ll_keystore *ks, const struct ll_cert *cert,
		       time_t when, int reason, struct ll_error *err);

#ifdef __cplusplus
}
#endif
#endif
