/*
 * keyholder.h - the process that holds letterlockd's signing keys.
 *
 * `letterlockd run` forks it first.  It reads DIR/keys (the S/MIME
 * issuing CA, the OCSP responder, the CA's own mail identity), then
 * serves the front over a socketpair, nothing else: it never sees
 * network input (not even a CSR), only fixed-shape requests (STYLE.md
 * 7) - a frame of a type and fields of fixed or bounded size; anything
 * malformed ends the keyholder (the front then fails every later call
 * with LL_EIO).
 *
 * Issuance is idempotent per order: the keyholder journals every
 * certificate it signs (DIR/keyholder.db, fsync'd before it answers)
 * under the order id, and a repeated request for the same order returns
 * the certificate already signed, so a front killed between signing
 * and recording never makes the CA issue twice.
 *
 * Calls are serialised by a mutex: any thread of the front may call.
 */
#ifndef LLD_KEYHOLDER_H
#define LLD_KEYHOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <letterlock/error.h>

#include "store.h"
#include "tsa.h"

#include <openssl/asn1.h>

struct lld_conf;
struct lld_kh;

/* serial.c: the serial number A as lower-case hex of the positive
 * integer without leading zeros, the form every part of letterlockd
 * names a certificate by; -1 if A is zero, negative or too long. */
int lld_serial_hex(char out[LLD_SERIAL_MAX + 1], const ASN1_INTEGER *a);

/* What a keyholder holds and serves: each process only the keys its
 * calls need. */
enum lld_kh_role {
	LLD_KH_CA, /* the S/MIME CA, OCSP and mail keys: issue, CRL,
		      OCSP, challenge mail */
	LLD_KH_TSA, /* the time-stamping unit's key: time-stamps */
};

/*
 * Fork a keyholder of ROLE for the CA in DIR (configuration CONF).  It
 * exits when the front closes its end (lld_kh_stop, or the front dies).
 * Errors: LL_EIO (fork, socketpair), LL_EPARSE/LL_EPOLICY (a key or
 * certificate under DIR is unusable; the message names the file).
 */
int lld_kh_start(struct lld_kh **out, const char *dir,
		 const struct lld_conf *conf, enum lld_kh_role role,
		 struct ll_error *err);

/* Close the socket and reap the child.  NULL-safe. */
void lld_kh_stop(struct lld_kh **pp);

/*
 * Issue the certificate of ORDER for EMAIL.  The keyholder never sees
 * the CSR: the front parses and checks it (ll_ca_csr_parse) and sends
 * its parts, the public key SPKI (SPKILEN octets of SubjectPublicKeyInfo
 * DER as ll_ca_csr_spki encodes it), USAGE (ll_ca_csr_usage:
 * LL_CA_USAGE_* bits, 0 for both) and DAYS of validity (0: the
 * configured default); the keyholder checks the address and the key
 * again (ll_ca_csr_from_spki), then builds, lints and signs.  The DER
 * of the certificate into *der (malloc'd), its serial number
 * (lower-case hex of the positive integer, no leading zeros) into
 * SERIAL.
 * The same ORDER again returns the same certificate, provided EMAIL and
 * SPKI are those it was issued for (the journal keeps SHA-256 of the
 * canonical address, a NUL and SPKI).
 * Errors: LL_EINVAL (ORDER, EMAIL or USAGE out of range, or EMAIL not
 * an address we can certify), LL_ETOOBIG (SPKI empty or over
 * LL_CA_SPKI_MAX), LL_EPARSE (SPKI does not decode), LL_EPOLICY (DAYS,
 * the key, the profile or the lint refused; the message says why),
 * LL_EEXIST (ORDER was issued for another address or key: the order id
 * was reused), LL_EIO (keyholder gone).
 */
int lld_kh_issue(struct lld_kh *kh, int64_t order, const char *email,
		 const unsigned char *spki, size_t spkilen, unsigned usage,
		 int days, unsigned char **der, size_t *derlen,
		 char serial[LLD_SERIAL_MAX + 1], struct ll_error *err);

/*
 * The same in two halves, for the front's event loop: send ISSUE frames
 * one after another without waiting (the keyholder signs while the
 * front checks the next request), and read the answers, in the order
 * sent, when lld_kh_fd(KH) is readable.  A handle used this way serves
 * nothing else: `letterlockd run` starts a keyholder of its own for the
 * pipeline, the other calls go to the first one.
 */
int lld_kh_issue_send(struct lld_kh *kh, int64_t order, const char *email,
		      const unsigned char *spki, size_t spkilen, unsigned usage,
		      int days, struct ll_error *err);
int lld_kh_issue_recv(struct lld_kh *kh, unsigned char **der, size_t *derlen,
		      char serial[LLD_SERIAL_MAX + 1], struct ll_error *err);
/* The socket to watch for answers; -1 once the keyholder is gone. */
int lld_kh_fd(const struct lld_kh *kh);

/*
 * A CRL of the S/MIME issuing CA (v2, SHA-256/ECDSA, AKI, CRL number
 * from the keyholder's journal, increasing) listing the N entries of
 * LIST (at most LLD_KH_CRL_MAX), thisUpdate NOW, nextUpdate NOW + 7
 * days.  DER into *der (malloc'd).
 */
#define LLD_KH_CRL_MAX 100000
int lld_kh_crl(struct lld_kh *kh, const struct lld_revoked *list, size_t n,
	       time_t now, unsigned char **der, size_t *derlen,
	       struct ll_error *err);

enum lld_ocsp_status {
	LLD_OCSP_GOOD = 0,
	LLD_OCSP_REVOKED = 1,
	LLD_OCSP_UNKNOWN = 2,
};

#define LLD_OCSP_NONCE_MAX 32

struct lld_ocsp_item {
	int sha256; /* CertID hash: 0 SHA-1, 1 SHA-256 */
	char serial[LLD_SERIAL_MAX + 1]; /* as asked, lower-case hex */
	enum lld_ocsp_status status;
	time_t revoked; /* when REVOKED */
	int reason; /* CRLReason when REVOKED, -1 none */
};

/*
 * A successful OCSP response (RFC 6960) for one CertID: the keyholder
 * builds the CertID from the S/MIME CA's name and key with the hash
 * asked and the serial, signs a BasicOCSPResponse with the OCSP
 * responder's key (responder id by key hash, the responder certificate
 * included), thisUpdate NOW, nextUpdate NOW + 1 day, and the request's
 * NONCE (NONCELEN bytes, 0: none) echoed.  DER into *der (malloc'd).
 */
int lld_kh_ocsp(struct lld_kh *kh, const struct lld_ocsp_item *item,
		const unsigned char *nonce, size_t noncelen, time_t now,
		unsigned char **der, size_t *derlen, struct ll_error *err);

/*
 * The RFC 8823 challenge mail to TO, composed by the keyholder: From
 * the configured mail address, To TO, Subject "ACME: " TOKEN1, Date
 * NOW, Message-ID MSGID ("<...>"), Auto-Submitted: auto-generated;
 * type=acme, a short text/plain body saying what it is and how to
 * answer; signed (multipart/signed, sign-only, no header protection)
 * with the CA's mail identity.  The whole message (CRLF lines) into
 * *msg (malloc'd, NUL-terminated).
 */
int lld_kh_challenge_mail(struct lld_kh *kh, const char *to, const char *token1,
			  const char *msgid, time_t now, char **msg,
			  size_t *len, struct ll_error *err);

/*
 * A time-stamp (RFC 3161) for REQ, from a keyholder of role LLD_KH_TSA,
 * in two halves like lld_kh_issue_send/recv: send without waiting,
 * read the answers in the order sent.  The keyholder takes the time
 * from its own clock and answers a whole granted TimeStampResp, DER,
 * into *der (malloc'd).
 * Errors: LL_EINVAL (REQ out of range), LL_ECRYPTO (signing failed),
 * LL_EIO (keyholder gone).
 */
int lld_kh_tsa_send(struct lld_kh *kh, const struct lld_tsa_req *req,
		    struct ll_error *err);
int lld_kh_tsa_recv(struct lld_kh *kh, unsigned char **der, size_t *len,
		    struct ll_error *err);

#endif
