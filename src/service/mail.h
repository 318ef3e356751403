/*
 * mail.h - letterlockd's side of RFC 8823 (email-reply-00): sending the
 * challenge mails, taking the replies in from the CA's mailbox, and the
 * checks a reply must pass; plus the DNS lookups validation needs (DKIM
 * keys, CAA issuemail).
 *
 * The mailer is one thread of `letterlockd run` with its own store
 * handle.  Each round (every poll_interval seconds, or at once after
 * lld_mailer_kick) it
 *   1. sends every challenge mail that is wanted and not sent
 *      (lld_store_chall_to_send): the keyholder composes and signs it
 *      (lld_kh_challenge_mail), libcurl submits it over SMTP with
 *      AUTH to [mail] smtp_url, whose MTA DKIM-signs it;
 *   2. polls [mail] imap_url (libcurl IMAP): every message in the
 *      mailbox is read, judged (lld_reply_judge), and then deleted
 *      (flag \Deleted, EXPUNGE), so the mailbox holds only unread
 *      replies.  A reply that names a challenge settles it
 *      (lld_store_chall_settle); anything else is dropped and logged.
 * Failures to reach the servers are logged and retried next round.
 */
#ifndef LLD_MAIL_H
#define LLD_MAIL_H

#include <stddef.h>
#include <time.h>
#include <letterlock/error.h>

#include "store.h"

struct lld_conf;
struct lld_kh;

/* ---- the reply ---- */

#define LLD_REPLY_MAX (256 * 1024) /* larger replies are refused */
#define LLD_CHALLENGE_TTL (24 * 3600) /* RFC 8823 section 3 */

/* What a reply mail says, as parsed (nothing checked yet). */
struct lld_reply {
	char from[LLD_EMAIL_MAX + 1]; /* the one From mailbox, as
					     written (lower-cased domain) */
	char from_domain[LLD_EMAIL_MAX + 1]; /* its domain, lower case */
	char token1[LLD_TOKEN_MAX + 1]; /* from "Subject: RE: ACME: x" */
	char digest[64]; /* between the BEGIN/END lines */
	int has_list_header; /* any List-* field */
	int from_count; /* From fields */
};

/*
 * Parse MSG (LEN bytes, a whole RFC 5322 message, CRLF or LF) into R:
 * exactly one From field naming one mailbox (else from_count tells and
 * from is ""), the token after "ACME:" in the Subject (a "Re:"/"RE:"
 * prefix allowed, RFC 8823 section 3.2), List-* fields, and the digest
 * on the line(s) between "-----BEGIN ACME RESPONSE-----" and
 * "-----END ACME RESPONSE-----" in the first text/plain part (or the
 * body of a single-part text/plain message; quoted-printable and
 * base64 bodies decoded).  Bounded: LEN <= LLD_REPLY_MAX.
 * Errors: LL_EPARSE (no subject token, no response block), LL_ETOOBIG.
 */
int lld_reply_parse(struct lld_reply *r, const char *msg, size_t len,
		    struct ll_error *err);

/*
 * Judge reply MSG against challenge C (found by the reply's token1),
 * at NOW: the reply's From must be C's identifier (local part exact,
 * domain case-insensitive), no List-* field, a DKIM signature that
 * verifies with d= the From domain and covers From (lld_dkim_verify),
 * the digest must equal ll_acme_email_digest(token1, token2,
 * thumbprint), and C must be younger than LLD_CHALLENGE_TTL.
 * Returns 0 when the reply proves control; otherwise a negative code
 * and PROBLEM (the application/problem+json to store on the challenge,
 * with the RFC 8555 type: "unauthorized" for From/DKIM/List/age,
 * "incorrectResponse" for the digest).
 */
int lld_reply_judge(const struct lld_reply *r, const char *msg, size_t len,
		    const struct lld_chall *c, const struct lld_conf *conf,
		    time_t now, char problem[LLD_PROBLEM_MAX + 1],
		    struct ll_error *err);

/* ---- DNS (libunbound; [dns] resolver_conf, or the system's) ---- */

/*
 * Verify the DKIM signatures of MSG (libopendkim, keys looked up
 * through RESOLVER_CONF, an unbound configuration file, NULL or "" for
 * /etc/resolv.conf): 0 if at least one signature with d= DOMAIN
 * (case-insensitive) verifies and its h= covers From.
 * Errors: LL_EPOLICY (no such signature, or it does not verify; the
 * message says which), LL_EIO (DNS failed), LL_EPARSE.
 */
int lld_dkim_verify(const char *msg, size_t len, const char *domain,
		    const char *resolver_conf, struct ll_error *err);

/*
 * RFC 9495 / RFC 8659: may the CA whose issuer domain is IDENTITY issue
 * S/MIME certificates for addresses at DOMAIN?  The relevant CAA RRset
 * is found by climbing from DOMAIN towards the root; if it holds any
 * "issuemail" property, one of them must name IDENTITY (parameters
 * ignored); otherwise issuance is allowed.  An unknown critical
 * property forbids issuance.
 * Returns 0 (allowed), LL_EPOLICY (forbidden; the message quotes the
 * record), LL_EIO (lookup failed: RFC 8659 says do not issue).
 */
int lld_caa_check(const char *domain, const char *identity,
		  const char *resolver_conf, struct ll_error *err);

/* ---- the mailer thread ---- */

struct lld_mailer;

int lld_mailer_start(struct lld_mailer **out, const struct lld_conf *conf,
		     struct lld_kh *kh, struct ll_error *err);
/* Run a round now (a challenge mail is wanted). */
void lld_mailer_kick(struct lld_mailer *m);
/* Stop the thread (at the end of its current round) and join it. */
void lld_mailer_stop(struct lld_mailer **pp);

#endif
