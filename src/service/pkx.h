/*
 * pkx.h - the public key exchange directory (PKX) of letterlockd: what
 * its HTTP handlers (pkx_http.c), `letterlockd export-smimea`
 * (cmd_smimea.c), the store (store_pkx.c), the unit tests and
 * the fuzz target share.  doc/pkx-api.md is the interface seen from
 * outside.
 *
 * Everything here that reads request bytes takes (ptr, len), caps the
 * size before it allocates, and has a libFuzzer target
 * (tests/fuzz/fuzz_pkx.c).  None of it knows libevent or the store.
 */
#ifndef LLD_PKX_H
#define LLD_PKX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <letterlock/error.h>

#include "store.h"

struct json_t;

#define LLD_PKX_PREFIX "/pkx/"
#define LLD_PKX_BATCH_MAX 100 /* addresses in one batch lookup */
#define LLD_PKX_BODY_MAX (64 * 1024) /* octets of a batch lookup body */
/* octets of an address as a client gives it (U-labels make it longer
 * than the canonical form) */
#define LLD_PKX_ADDR_IN_MAX 1024
#define LLD_PKX_CERTS_MAX 8 /* current certificates answered per address */
#define LLD_PKX_CERT_MAX 16384 /* DER octets of a published certificate */
#define LLD_PKX_CAPS_MAX 16 /* capabilities of one certificate */
#define LLD_PKX_CAP_LEN 40 /* octets of one capability name or OID */
/* a mailbox proof older than this does not publish (S/MIME BR 3.2.2
 * lets a mailbox validation be reused for 30 days) */
#define LLD_PKX_PROOF_MAX (30 * 86400)
/* by-fingerprint answers never change: a year, "immutable" */
#define LLD_PKX_IMMUTABLE_AGE 31536000
#define LLD_SMIMEA_HASH_LEN 28 /* RFC 8162 section 3: SHA-256, truncated */

/* [pkx] of letterlockd.conf(5) when not given */
#define LLD_PKX_RATE_DEFAULT 120 /* requests a minute per client */
#define LLD_PKX_BURST_DEFAULT 200 /* at once (two full batches) */
#define LLD_PKX_MAX_AGE_DEFAULT 300 /* seconds a lookup may be cached */
#define LLD_PKX_CLIENTS_DEFAULT 65536 /* buckets (about 40 octets each) */
#define LLD_PKX_CACHE_DEFAULT 32 /* MiB of lookup answers kept */

/* ---- addresses ---- */

/*
 * The directory's key for the mailbox address ADDR (LEN octets, UTF-8):
 * the canonical form of ll_ca_mailbox_canonical (local part as given,
 * case kept; domain lower-case IDNA2008 A-labels, which refuses a
 * domain not in NFC) with the local part then put in Unicode NFC, so
 * that a local part typed decomposed finds the certificate of the
 * composed one.  OUT holds LLD_EMAIL_MAX + 1 octets.
 * Errors: LL_EINVAL (not an address; the message says why),
 * LL_ETOOBIG (longer than LLD_PKX_ADDR_IN_MAX, or than LLD_EMAIL_MAX
 * once canonical).
 */
int lld_pkx_addr_key(char out[LLD_EMAIL_MAX + 1], const char *addr, size_t len,
		     struct ll_error *err);

/*
 * The RFC 8162 owner name of the SMIMEA records of the key ADDR (as
 * lld_pkx_addr_key gives it): hex of SHA-256 of the local part's UTF-8
 * octets truncated to 28 octets, "._smimecert.", the domain, and a
 * final dot (absolute).  Errors: LL_EINVAL (no '@'), LL_ETOOBIG (LEN
 * too small), LL_ECRYPTO.
 */
int lld_smimea_owner(char *out, size_t len, const char *addr,
		     struct ll_error *err);

/* N octets at P as lower-case hex into OUT (2 N + 1 octets). */
void lld_hex(char *out, const void *p, size_t n);

/* The SHA-256 fingerprint of N octets at P, lower-case hex: how the
 * directory names a certificate (of its DER).  0 or LL_ECRYPTO. */
int lld_sha256_hex(char out[LLD_FPR_HEX + 1], const void *p, size_t n,
		   struct ll_error *err);

/* ---- requests ---- */

/* One address of a lookup: its key, or why it has none. */
struct lld_pkx_query {
	char key[LLD_EMAIL_MAX + 1]; /* "" when the address is refused */
	char given[LLD_PKX_ADDR_IN_MAX + 1]; /* as the client wrote it */
	char why[96]; /* why it is refused, "" if it is not */
};

/* A batch lookup body, parsed; allocated whole, so it is bounded. */
struct lld_pkx_batch {
	size_t n;
	struct lld_pkx_query q[LLD_PKX_BATCH_MAX];
};

/*
 * Parse the body of POST /pkx/lookup (BODY, LEN octets, at most
 * LLD_PKX_BODY_MAX): a JSON object with exactly one member "addresses", an
 * array of 1 to LLD_PKX_BATCH_MAX strings of at most
 * LLD_PKX_ADDR_IN_MAX octets.  An address that is no mailbox does not
 * refuse the batch: its entry says why.  *out belongs to the caller
 * (free()).  Errors: LL_EPARSE (not such an object; the message says
 * what is wrong), LL_ETOOBIG, LL_ENOMEM.
 */
int lld_pkx_batch_parse(struct lld_pkx_batch **out, const void *body,
			size_t len, struct ll_error *err);

/* FPR (LEN octets) is 64 lower-case hex digits: 1, else 0. */
int lld_pkx_fpr_ok(const char *fpr, size_t len);

/*
 * The capabilities of a POST (the JSON value V: an array of at most
 * LLD_PKX_CAPS_MAX strings, each a name of the table in pkx_req.c,
 * e.g. "aes256-gcm", or a dotted OID of at most LLD_PKX_CAP_LEN
 * octets; a known OID becomes its name; repeats are dropped, the order
 * kept) as compact JSON text into OUT (LLD_CAPS_MAX + 1 octets).  A
 * JSON null, or V NULL, is "unknown": OUT becomes "".
 * Errors: LL_EPARSE (not such an array, an unknown name), LL_ETOOBIG.
 */
int lld_pkx_caps_parse(char out[LLD_CAPS_MAX + 1], const struct json_t *v,
		       struct ll_error *err);

/*
 * Does the If-None-Match field value INM (NULL: absent) match the
 * strong entity tag ETAG (quotes included)?  RFC 9110 13.1.2: "*", or
 * a list of entity tags compared weakly ("W/" ignored).  A malformed
 * list matches nothing.  1 or 0.
 */
int lld_pkx_etag_match(const char *inm, const char *etag);

/* ---- certificates of other CAs ---- */

/* Why lld_pkx_cert_check refused a certificate. */
enum lld_pkx_refusal {
	LLD_PKX_OK = 0,
	LLD_PKX_NOT_CERT, /* not one DER certificate within the limits */
	LLD_PKX_WRONG_NAME, /* its mailboxes are not exactly the address */
	LLD_PKX_BAD_KEY, /* no key we encrypt to */
	LLD_PKX_BAD_USE, /* a CA, or its usage excludes S/MIME encryption */
	LLD_PKX_BAD_TIME, /* not valid now */
};

/*
 * The certificate a client sends to publish: TEXT (LEN octets) is the
 * base64url of its DER (no padding) or one PEM CERTIFICATE block; the
 * DER into *der (malloc'd, *derlen octets, at most LLD_PKX_CERT_MAX;
 * the caller frees it).  Errors: LL_EPARSE, LL_ETOOBIG, LL_ENOMEM.
 */
int lld_pkx_cert_decode(unsigned char **der, size_t *derlen, const char *text,
			size_t len, struct ll_error *err);

/*
 * Check certificate DER (LEN octets) of another CA for publication
 * under the key EMAIL at NOW: one DER certificate, no trailing octets,
 * at most LLD_PKX_CERT_MAX; valid at NOW; not a CA; extended key usage
 * absent or naming emailProtection (anyExtendedKeyUsage alone is not
 * enough); key usage, when present, allowing keyEncipherment (RSA) or
 * keyAgreement (EC); an RSA key of 2048 to 8192 bits or an EC key on
 * P-256 or P-384; at least one rfc822Name or SmtpUTF8Mailbox in
 * subjectAltName, and every one of them, and every subject
 * emailAddress, the address EMAIL (compared as lld_pkx_addr_key
 * keys).  Its validity into *nb, *na.  The issuer is not checked: the
 * directory vouches for the mailbox proof, a sender's client for the
 * chain.  0, or LL_EPOLICY with *why and the message saying what.
 */
int lld_pkx_cert_check(const unsigned char *der, size_t len, const char *email,
		       time_t now, time_t *nb, time_t *na,
		       enum lld_pkx_refusal *why, struct ll_error *err);

/* ---- the rate limit per client ---- */

/* ---- answers of lookups kept in memory ---- */

struct lld_pkx_cache;

/* A kept answer, borrowed from the cache until it next changes. */
struct lld_pkx_answer {
	const char *body;
	size_t len;
	const char *etag; /* the SHA-256 of the body, hex */
};

/*
 * A cache of lookup answers by address key, holding at most BYTES
 * octets of them (0: none is kept; every get misses) in a fixed table
 * of about one slot a KiB.  Used from one thread.  Errors: LL_ENOMEM,
 * LL_ECRYPTO.
 */
int lld_pkx_cache_new(struct lld_pkx_cache **out, size_t bytes,
		      struct ll_error *err);
void lld_pkx_cache_free(struct lld_pkx_cache **pp);

/*
 * The answer kept for KEY, if it was kept at store version VERSION
 * (lld_store_version) and NOW is not past the last second it is right:
 * 1 with *out filled, else 0.  C may be NULL (0).
 */
int lld_pkx_cache_get(struct lld_pkx_cache *c, const char *key,
		      uint64_t version, time_t now, struct lld_pkx_answer *out);

/*
 * Keep BODY (LEN octets) with its ETAG (hex, as above) as the answer
 * for KEY read at store version VERSION and right until UNTIL (its
 * last second), in place of the least recently used answer of its
 * slots; when the cache is full, answers elsewhere make room too.  An
 * answer larger than a sixteenth of the cache is not kept, nor
 * anything when memory runs out.
 */
void lld_pkx_cache_put(struct lld_pkx_cache *c, const char *key,
		       uint64_t version, time_t until, const char *body,
		       size_t len, const char *etag);

/* SipHash-2-4 of LEN octets at IN under the key K0, K1 (its 16 octets
 * read as two little-endian numbers): how the rate limit and the
 * answer cache find their slots. */
uint64_t lld_siphash(const void *in, size_t len, uint64_t k0, uint64_t k1);
/* A key for it, drawn at random.  Errors: LL_ECRYPTO. */
int lld_siphash_key(uint64_t *k0, uint64_t *k1, struct ll_error *err);

struct lld_limit;

/*
 * Token buckets, one per client address (IPv4, or the /64 of IPv6),
 * holding at most BURST tokens and gaining PER_MINUTE a minute; SLOTS
 * buckets at most (rounded up to a power of two; fixed memory).  A
 * client the table has no room for takes the slot of the fullest
 * bucket nearby: under more clients than slots the limit weakens, it
 * never refuses a client it has not counted.  PER_MINUTE 0 is no
 * limit.  Used from one thread.  Errors: LL_ENOMEM, LL_ECRYPTO.
 */
int lld_limit_new(struct lld_limit **out, int per_minute, int burst,
		  size_t slots, struct ll_error *err);
void lld_limit_free(struct lld_limit **pp);

/*
 * Take COST tokens (at most the burst) from PEER's bucket at NOW
 * (seconds of a monotonic clock).  PEER is a numeric address; anything
 * else shares one bucket.  0 when taken; otherwise nothing is taken
 * and the answer is the seconds until it would be (at least 1).
 */
int lld_limit_take(struct lld_limit *l, const char *peer, unsigned cost,
		   double now);

#endif
