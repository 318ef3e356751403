/*
 * letterlock/contacts.h - where recipients' certificates come from, and
 * the rule that a known recipient's key is never silently replaced.
 *
 * Sources, in the order a lookup tries them (ll_contacts_resolve):
 *   1. the local contact store, when its answer is fresh enough;
 *   2. the PKX directory of a letterlockd (doc/pkx-api.md), all the
 *      addresses of one message in one batch request;
 *   3. SMIMEA records (RFC 8162) in DNS, for the addresses still
 *      without a certificate, taken only from answers DNSSEC
 *      validates (see ll_contacts_options.smimea);
 *   4. certificates harvested from verified signed mail: the verified
 *      signer's own certificate, chaining to a trust anchor, for the
 *      address in From, and the certificate its signed encryption key
 *      preference names (ll_opened_encryption_cert), held to the same
 *      checks; never other certificates a message carries
 *      (letterlock open adds them).
 *
 * A certificate is for signing, for encrypting to, or both (its
 * keyUsage, ll_cert_uses).  Only one that may be encrypted to is
 * encrypted to; an address with signing certificates only has no
 * certificate for the sending policies (sign-only, refuse).
 *
 * Every contact certificate has a state:
 *   current   used to encrypt to its address;
 *   pending   a different key for an address that has a current one,
 *             seen where the recipient did not prove it (harvested
 *             mail, SMIMEA): recorded and shown, not used until the
 *             user accepts it (ll_contacts_accept);
 *   replaced  was current, superseded by a key from the directory (the
 *             recipient proved the mailbox to get it there) or one the
 *             user accepted: kept, listed, not used.
 * A change of key is never silent: the replaced and pending rows stay
 * in the store and `letterlock contact list` shows them.
 * "Another key" is one that shares a use with a current key: a key to
 * sign with beside a current key to encrypt to (or the other way
 * round) is no change, both are current; a second key to encrypt to,
 * or to sign with, is.
 *
 * SMIMEA is held to the rule of harvested mail, not of the directory:
 * a secure answer proves only that the domain's zone (its DNS
 * operator) binds the key to the address, never that the recipient
 * holds the mailbox, which the directory has checked by an RFC 8823
 * round trip.  So a key from SMIMEA is current for an address with no
 * current key (an expired one still counts: its successor waits), and
 * pending otherwise.
 */
#ifndef LETTERLOCK_CONTACTS_H
#define LETTERLOCK_CONTACTS_H

#include <stddef.h>
#include <time.h>
#include <letterlock/error.h>
#include <letterlock/cert.h>
#include <letterlock/ctx.h>
#include <letterlock/keystore.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ll_contact_source {
	LL_SRC_MANUAL = 0, /* letterlock contact add: the user's word */
	LL_SRC_PKX, /* the directory, on the recipient's proof */
	LL_SRC_HARVESTED, /* a verified signed mail from the address */
	LL_SRC_SMIMEA, /* a DNSSEC-validated SMIMEA record (RFC 8162) */
};

enum ll_contact_state {
	LL_CONTACT_CURRENT = 0,
	LL_CONTACT_PENDING,
	LL_CONTACT_REPLACED,
};

/* "manual", "pkx", "harvested", "smimea"; "current", "pending",
 * "replaced". */
const char *ll_contact_source_name(enum ll_contact_source s);
const char *ll_contact_state_name(enum ll_contact_state s);

/*
 * Record CERT (its address from its subjectAltName) as seen from
 * SOURCE at NOW, under the rule above: a new address or a key already
 * current: current; another key for an address with a current one of
 * a use it shares:
 * current beside it from LL_SRC_PKX or LL_SRC_MANUAL (the user's word;
 * ll_contacts_resolve retires the directory's keys the directory no
 * longer lists), pending from LL_SRC_HARVESTED and LL_SRC_SMIMEA.  A
 * pending key seen again from the directory or added by the user
 * becomes current.  *state (may be NULL) gets the state the
 * certificate is in afterwards.
 * Errors: LL_EINVAL (no mailbox address in CERT), LL_ESTORE.
 */
int ll_contacts_add(struct ll_keystore *ks, const struct ll_cert *cert,
		    enum ll_contact_source source, time_t now,
		    enum ll_contact_state *state, struct ll_error *err);

/* Make the certificate FPR (SHA-256, hex) of ADDR current, the other
 * current ones of ADDR that share a use with it replaced.  LL_ENOTFOUND
 * if ADDR has no such certificate. */
int ll_contacts_accept(struct ll_keystore *ks, const char *addr,
		       const char *fpr, time_t now, struct ll_error *err);

/* One stored contact certificate, for listing. */
struct ll_contact_info {
	const struct ll_cert *cert; /* borrowed for the call */
	const char *address;
	enum ll_contact_source source;
	enum ll_contact_state state;
	time_t added, seen; /* first stored; last confirmed by a source */
};

/* Call FN for every stored contact certificate, by address, then
 * oldest first. */
int ll_contacts_foreach(struct ll_keystore *ks,
			int (*fn)(void *arg, const struct ll_contact_info *c),
			void *arg, struct ll_error *err);

/*
 * What the stored contacts say of the signer's key FPR for ADDR: 1 it
 * is a current key of ADDR; 0 ADDR has no current key to sign with;
 * -1 ADDR has current keys to sign with and FPR is not one of them (a
 * change: `open --json` reports it).
 */
int ll_contacts_known(struct ll_keystore *ks, const char *addr,
		      const char *fpr);

struct ll_contacts_options {
	unsigned version;
	/* the PKX base URL (https://ca.example/pkx/), NULL: no directory */
	const char *pkx_url;
	const char *pkx_ca_file; /* PEM trusted for its HTTPS besides the
				    system's; NULL none */
	long max_age; /* seconds a directory answer stays fresh, and an
			 SMIMEA answer at most; 0: a day */
	long timeout; /* seconds for the directory, and for DNS; 0: 20 */
	time_t now; /* 0: the clock */
	/* since version 2 (a version 1 struct ends above, and is read as
	 * one with SMIMEA off) */
	int smimea; /* look SMIMEA up for the addresses still without a
		       certificate after the store and the directory */
	/* an unbound configuration file (unbound.conf(5): forwarders,
	 * stub zones, trust anchors), as letterlockd's [dns]
	 * resolver_conf; NULL: the system's resolv.conf and hosts */
	const char *resolver_conf;
	/* DNSSEC trust anchors, DS or DNSKEY records in zone-file form;
	 * NULL: those resolver_conf names, else the root's key of the
	 * system (Debian's dns-root-data) */
	const char *trust_anchor_file;
};
#define LL_CONTACTS_OPTIONS_VERSION 2
#define LL_CONTACTS_OPTIONS_INIT                                           \
	{                                                                  \
		LL_CONTACTS_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, NULL, \
			NULL                                               \
	}

/* What became of one address. */
struct ll_contact_result {
	char address[320]; /* as asked, domain lower-cased */
	int found; /* a current certificate valid now that may be
		      encrypted to */
	enum ll_contact_source source; /* of the newest one, when found */
	int pending; /* a key change waits for the user (not used) */
	int changed; /* the directory replaced the key just now */
	int sign_only; /* not found: it has current certificates valid
			  now, all for signing only */
};

/*
 * Find certificates for the N addresses ADDRS (UTF-8): the store's
 * current ones, and for every address whose directory answer is not
 * fresh, one batch request to the directory (at most 100 addresses a
 * request; answers cached in the store, absent ones too).
 * With OPT->smimea, then, for every address that still has no current
 * certificate valid now and no fresh DNS answer: an SMIMEA lookup, all
 * of them at once through one libunbound context that validates
 * DNSSEC.  Only answers whose DNSSEC validation succeeded (secure)
 * count; insecure (unsigned) and bogus ones are not used.  Of their
 * records, usage 3 (DANE-EE) with selector 0 and matching type 0 (the
 * whole certificate) give a certificate, taken when it names the
 * address and is valid now, as an LL_SRC_SMIMEA contact; other usages
 * name a CA or need a chain the record lacks, and digests (matching 1,
 * 2) or keys (selector 1) give nothing to encrypt to: not used.  A
 * secure answer, found or not, stays fresh for its DNS TTL, at most
 * max_age; a failed, insecure or bogus one is asked again next time.
 * Every current certificate valid now, with what its owner reads, is
 * then in CTX as a contact (ll_ctx_add_contact), ready for ll_msg_seal,
 * which encrypts only to those that may be encrypted to.
 * RES (N entries) says what became of each address.
 * A directory or DNS that cannot be reached, and an SMIMEA answer not
 * used, are not errors: the addresses stay as the store has them, and
 * *note (may be NULL; NOTE_LEN octets; "; " between notes) says so.
 * OPT may be NULL (the defaults), or of version 1 or 2.
 * Errors: LL_EINVAL (an address we cannot look up, an unknown
 * version), LL_ESTORE.
 */
int ll_contacts_resolve(struct ll_keystore *ks, struct ll_ctx *ctx,
			const char *const *addrs, size_t n,
			const struct ll_contacts_options *opt,
			struct ll_contact_result *res, char *note,
			size_t note_len, struct ll_error *err);

#ifdef __cplusplus
}
#endif
#endif
