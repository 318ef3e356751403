/*
 * smimea.h - SMIMEA records (RFC 8162): their owner names, their RDATA,
 * and their lookup through libunbound with DNSSEC validation.  Inside
 * libletterlock (contacts.c); the unit and fuzz tests include it too.
 */
#ifndef LL_SMIMEA_H
#define LL_SMIMEA_H

#include <stddef.h>
#include <time.h>

#include <letterlock/cert.h>
#include <letterlock/error.h>

#define LL_SMIMEA_TYPE 53 /* the RR type */
#define LL_SMIMEA_HASH_LEN 28 /* octets of SHA-256 in the owner name */
/* an owner name: the hash label, "._smimecert.", a domain, the dot */
#define LL_SMIMEA_OWNER_MAX (2 * LL_SMIMEA_HASH_LEN + 12 + 253 + 2)
#define LL_SMIMEA_RRS_MAX 16 /* records of one answer read at most */
#define LL_SMIMEA_CERTS_MAX 8 /* certificates taken for one address */

/* RFC 6698 section 2.1, the values RFC 8162 section 2 takes over */
enum {
	LL_SMIMEA_PKIX_TA = 0,
	LL_SMIMEA_PKIX_EE = 1,
	LL_SMIMEA_DANE_TA = 2,
	LL_SMIMEA_DANE_EE = 3,
};

/* One record's RDATA; DATA is borrowed from the buffer parsed. */
struct ll_smimea_rr {
	unsigned usage, selector, matching;
	const unsigned char *data;
	size_t len;
};

/*
 * Parse the RDATA of one SMIMEA record, P (N octets): certificate
 * usage, selector, matching type (one octet each), then the
 * certificate association data, which is all the rest.  0, or -1 when
 * it is no SMIMEA RDATA: fewer than 4 octets, more than 65535 (what
 * DNS carries), or a digest of the wrong length (matching type 1:
 * SHA-256, 32 octets; 2: SHA-512, 64).  Values RFC 8162 does not
 * define parse; ll_smimea_unusable says what becomes of them.
 */
int ll_smimea_parse(struct ll_smimea_rr *rr, const void *p, size_t n);

/*
 * NULL when RR gives a certificate to encrypt to: usage 3 (DANE-EE:
 * the record itself is the binding), selector 0 (the whole
 * certificate), matching type 0 (the certificate, no digest).  Else
 * why not, as a static string: usages 0 and 2 name a CA, not the
 * recipient; usage 1 (PKIX-EE) needs the recipient's chain, which a
 * record does not carry; selector 1 or matching 1 and 2 give a key or
 * a digest, not a certificate.
 */
const char *ll_smimea_unusable(const struct ll_smimea_rr *rr);

/*
 * The owner name of ADDR's SMIMEA records (RFC 8162 section 3): the
 * hex of SHA-256 of the local part (UTF-8, in Unicode NFC) cut to 28
 * octets, "._smimecert.", the domain as ADDR has it (A-labels: give a
 * canonical address), a final dot.  OUT has LEN octets.
 * Errors: LL_EINVAL (no local part or domain), LL_ETOOBIG.
 */
int ll_smimea_owner(char *out, size_t len, const char *addr,
		    struct ll_error *err);

/* What the records of one answer give for an address. */
struct ll_smimea_take {
	struct ll_cert *certs[LL_SMIMEA_CERTS_MAX]; /* owned: free them */
	size_t n;
	size_t records; /* read, at most LL_SMIMEA_RRS_MAX */
	char why[160]; /* why the first record not taken was not */
};

/*
 * Read the N RDATAs DATA[i] (LEN[i] octets each; more than
 * LL_SMIMEA_RRS_MAX are not read) of ADDR's answer into T: the
 * certificates of the usable records (ll_smimea_unusable) that parse,
 * name ADDR (ll_cert_matches_email) and are valid at NOW, each once.
 * Nothing else is taken; T->why says what the first one left out was.
 * 0, or LL_ENOMEM.
 */
int ll_smimea_take(struct ll_smimea_take *t, const void *const *data,
		   const size_t *len, size_t n, const char *addr, time_t now);
void ll_smimea_take_free(struct ll_smimea_take *t);

/* What a lookup gave. */
enum ll_smimea_status {
	LL_SMIMEA_FAILED = 0, /* no answer: time-out, SERVFAIL, ... */
	LL_SMIMEA_SECURE, /* DNSSEC-validated: records or none */
	LL_SMIMEA_INSECURE, /* an answer that is not signed */
	LL_SMIMEA_BOGUS, /* signed, and the validation failed */
};

/* One address to look up: ADDR in (canonical), the rest out. */
struct ll_smimea_query {
	const char *addr;
	enum ll_smimea_status status;
	long ttl; /* of a secure answer, seconds */
	struct ll_smimea_take take; /* of a secure answer */
	char why[256]; /* what went wrong, when not secure */
};

/* Where the lookups go, and which keys they trust. */
struct ll_smimea_resolver {
	const char *conf; /* unbound configuration; NULL: resolv.conf */
	const char *trust_anchor_file; /* NULL: see ll_smimea_lookup */
	long timeout; /* seconds for all the lookups together */
	time_t now;
};

/*
 * Look the N addresses of Q up at once through one libunbound context
 * (threads, no fork) and judge each answer.  The context reads R->conf
 * (an unbound configuration file: forwarders, stub zones, trust
 * anchors) or, without one, the system's resolv.conf and hosts; its
 * modules always include the validator.  Trust anchors: the file
 * R->trust_anchor_file (DS or DNSKEY records), besides any the
 * configuration names; when neither names one, the root's key of the
 * system (LL_DNS_ROOT_KEY, Debian's dns-root-data).
 * 0 with every Q[i] judged; -1 when no lookup could be made (the
 * resolver cannot be set up), WHY (WHYLEN octets) saying why.
 */
int ll_smimea_lookup(struct ll_smimea_query *q, size_t n,
		     const struct ll_smimea_resolver *r, char *why,
		     size_t whylen);

#ifndef LL_DNS_ROOT_KEY
#define LL_DNS_ROOT_KEY "/usr/share/dns/root.key"
#endif

#endif
