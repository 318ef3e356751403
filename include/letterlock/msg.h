/*
 * letterlock/msg.h - seal (sign, encrypt) and open (decrypt, verify)
 * whole RFC 5322 messages as S/MIME (RFC 8551).
 */
#ifndef LETTERLOCK_MSG_H
#define LETTERLOCK_MSG_H

#include <stddef.h>
#include <letterlock/error.h>
#include <letterlock/ctx.h>
#include <letterlock/revocation.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits on untrusted input (documented in letterlock(1)). */
#define LL_MSG_MAX_SIZE (64u * 1024 * 1024)  /* whole message */
#define LL_MSG_MAX_HEADER (256u * 1024)       /* one header block */
#define LL_MSG_MAX_DEPTH 8                    /* nested S/MIME layers */
#define LL_MSG_MAX_RECIPIENTS 1000
#define LL_MSG_MAX_FIELDS 10000	      /* fields in one header block */
#define LL_MSG_MAX_ADDR_FIELD (128u * 1024)  /* one From/To/Cc/Bcc value */

enum ll_seal_flags {
	LL_SEAL_SIGN = 1u << 0,
	LL_SEAL_ENCRYPT = 1u << 1,
	LL_SEAL_OPAQUE = 1u << 2,    /* signed-data instead of multipart/signed */
	LL_SEAL_NO_HP = 1u << 3,     /* no RFC 9788 header protection */
	LL_SEAL_FORCE_CBC = 1u << 4, /* the profile every peer reads:
					AES-256-CBC, RSA PKCS#1 v1.5 */
	LL_SEAL_REQUIRE_TIMESTAMP = 1u << 5, /* fail rather than sign
						without a token */
	LL_SEAL_SELF_ONLY = 1u << 6, /* one copy, encrypted to the sender
					only, whatever To, Cc and Bcc say
					(a Sent or Drafts copy) */
};

struct ll_seal_options {
	unsigned version;
	unsigned flags; /* LL_SEAL_*; SIGN|ENCRYPT by default */
	/* version 2: an RFC 3161 TSA to time-stamp the signature with
	 * (NULL: none).  The token is over the SignerInfo's signature
	 * value, kept as the unsigned attribute id-aa-timeStampToken, and
	 * taken only if it verifies under the context's trust anchors.
	 * When the TSA fails, the message is signed without one and
	 * ll_sealed_note says so, unless LL_SEAL_REQUIRE_TIMESTAMP. */
	const char *tsa_url;
	const char *tsa_ca_file; /* PEM, trusted for the TSA's HTTPS
				    besides the system's; NULL none */
};
#define LL_SEAL_OPTIONS_VERSION 2
#define LL_SEAL_OPTIONS_INIT \
	{ LL_SEAL_OPTIONS_VERSION, LL_SEAL_SIGN | LL_SEAL_ENCRYPT, NULL, NULL }

struct ll_sealed;

/*
 * Seal the message MSG (LEN bytes, CRLF or LF line ends).  The signer
 * is the context identity for the From address; recipients are To, Cc
 * and Bcc, their certificates the context's contacts.  Every Bcc
 * recipient gets a copy of its own (encrypted to that recipient and the
 * sender only); copy 0 goes to To and Cc.
 *
 * Errors: LL_EPARSE (not a message, no From), LL_ENOKEY (no identity
 * for From), LL_ENOCERT (message names every address lacking one),
 * LL_ETOOBIG.  *out belongs to the caller (ll_sealed_free).
 */
int ll_msg_seal(struct ll_sealed **out, struct ll_ctx *ctx, const char *msg,
		size_t len, const struct ll_seal_options *opts,
		struct ll_error *err);

size_t ll_sealed_count(const struct ll_sealed *s);
/* Bytes of copy I (CRLF line ends); borrowed from S. */
const char *ll_sealed_data(const struct ll_sealed *s, size_t i, size_t *len);
/* Envelope recipients of copy I; borrowed, N addresses. */
const char *const *ll_sealed_rcpts(const struct ll_sealed *s, size_t i,
				   size_t *n);
/* Content encryption of copy I ("aes-256-gcm", ...) or NULL. */
const char *ll_sealed_cipher(const struct ll_sealed *s, size_t i);
/* 1 if the signature carries an RFC 3161 time-stamp token. */
int ll_sealed_timestamped(const struct ll_sealed *s);
/* Why it does not though a TSA was asked ("signed without a
 * time-stamp: ..."), "" otherwise; borrowed. */
const char *ll_sealed_note(const struct ll_sealed *s);
void ll_sealed_free(struct ll_sealed **pp);

enum ll_sig_state {
	LL_SIG_NONE = 0,
	LL_SIG_VALID,
	LL_SIG_INVALID,	     /* bad signature, bad shape, tampered */
	LL_SIG_UNTRUSTED,    /* does not chain to a trust anchor */
	LL_SIG_EXPIRED,	     /* signer not valid at signing time */
	LL_SIG_WRONG_SIGNER, /* good signature, signer is not From */
	LL_SIG_REVOKED,	     /* signer's certificate revoked (and no
				token proves the signature older) */
};

/* "valid", "invalid", ... as in `letterlock open --json`. */
const char *ll_sig_state_name(enum ll_sig_state s);

#define LL_OPEN_MAX_ERRORS 8

struct ll_open_status {
	int encrypted;		/* an enveloped layer was present */
	int decrypted;		/* ... and was decrypted */
	const char *cipher;	/* "aes-256-gcm", "aes-256-cbc", ... or NULL */
	int is_signed;		/* a signed layer covers the whole message */
	enum ll_sig_state signature;
	char signer[320];	/* signer's address, "" when none */
	int signer_matches_from;
	int header_protection;	/* protected headers were restored */
	char timestamp[32];	/* RFC 3339 signing time, "" when none */
	int timestamp_trusted;	/* from a verified RFC 3161 token */
	size_t nerrors;
	char errors[LL_OPEN_MAX_ERRORS][160];
	/* the signer's certificate's status, when the context judges
	 * revocation (ll_ctx_set_revocation), else LL_REV_UNCHECKED */
	enum ll_rev_state revocation;
	int revocation_reason;	/* CRLReason when revoked, -1 none */
	char revocation_time[32]; /* RFC 3339 when revoked, else "" */
	char revocation_source[8]; /* "ocsp", "cache", "local", "" */
	char revocation_why[160]; /* why unknown, else "" */
};

struct ll_opened;

/*
 * Open MSG: peel every S/MIME layer, decrypt with any of the context's
 * keys, verify signatures.  Returns 0 when a message was recovered
 * (whatever the signature verdict: read the status), LL_ENOKEY when no
 * key of ours is a recipient, LL_EDECRYPT when decryption failed (no
 * plaintext is released), LL_EPARSE / LL_ETOOBIG / LL_EPOLICY for bad
 * input.  On a non-zero return *out is NULL.
 */
int ll_msg_open(struct ll_opened **out, struct ll_ctx *ctx, const char *msg,
		size_t len, struct ll_error *err);

/* The recovered message (line ends as stored); borrowed. */
const char *ll_opened_data(const struct ll_opened *o, size_t *len);
const struct ll_open_status *ll_opened_status(const struct ll_opened *o);
/* The signer's certificate when the whole message is validly signed by
 * its From address (status: signed, valid, signer matches From), else
 * NULL; borrowed.  What letterlock open harvests as a contact. */
const struct ll_cert *ll_opened_signer(const struct ll_opened *o);
/*
 * The certificate the signer of ll_opened_signer asks to be encrypted
 * to, by an SMIMEEncryptionKeyPreference (RFC 8551 2.5.3) or Microsoft's
 * equivalent among the SIGNED attributes: carried in the message or a
 * known contact, for the From address, allowed to encrypt by its
 * keyUsage, for email (extendedKeyUsage) and chaining to a trust anchor
 * now; with the signer's SMIMECapabilities.  May be the signer's own.
 * NULL when there is none (a preference named and not taken is said in
 * the status' errors); borrowed.  What letterlock open harvests as the
 * contact's certificate to encrypt to.
 */
const struct ll_cert *ll_opened_encryption_cert(const struct ll_opened *o);
void ll_opened_free(struct ll_opened **pp);

/*
 * Addresses (lower-cased domain) of the From / To+Cc / Bcc fields of a
 * message header.  *out is a malloc'd NULL-terminated array of malloc'd
 * strings; free with ll_strv_free.
 */
enum ll_addr_field { LL_ADDR_FROM, LL_ADDR_TO_CC, LL_ADDR_BCC };
int ll_msg_addresses(char ***out, const char *msg, size_t len,
		     enum ll_addr_field which, struct ll_error *err);
void ll_strv_free(char ***pp);

#ifdef __cplusplus
}
#endif
#endif
