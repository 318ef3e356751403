/*
 * send.h - sealing one message and handing it to the submission server
 * as `letterlock send` does: every recipient's certificate found
 * (contacts, then PKX), signed, time-stamped, encrypted when every
 * recipient has one (else the policy: sign-only or refuse, per
 * recipient domain too), each hidden (Bcc) recipient a copy of its own,
 * the copies queued in an outbox and submitted.  Used by cmd_send.c and
 * the bridge (src/bridge/smtp_relay.c), which fill the fields marked
 * "in" and call send_message.  Messages go to stderr
 * ("letterlock: send: ..."), the result is a sysexits.h code.
 */
#ifndef LL_CLI_SEND_H
#define LL_CLI_SEND_H

#include "cli.h"
#include "conf.h"
#include "outbox.h"
#include "submit.h"

enum send_policy {
	POLICY_SIGN_ONLY,
	POLICY_REFUSE,
};

/* A set of addresses (case-insensitive, as the library compares). */
struct addrs {
	char **v; /* NULL-terminated */
	size_t n;
};

struct send {
	struct cli *cli; /* in */
	struct cli_conf conf; /* in when conf_loaded, else read */
	int conf_loaded; /* in: conf is set; no file is read */
	const char *config; /* in: --config FILE */
	const char *policy_name; /* in: --policy, over conf.policy */
	const char *tsa_url; /* in: --tsa, over conf.tsa_url */
	int require_ts; /* in: --require-timestamp */
	const char *envfrom; /* in: -f; default the From address */
	int extract; /* in: -t */
	int verbose; /* in: -v */
	const char *password; /* in: the server's password; NULL: conf's
				 mail_password_file (borrowed) */
	const char *outbox_home; /* in: the outbox is OUTBOX_HOME/outbox;
				    NULL: the home's */
	/* in: the message's resubmission key (the bridge's): the outbox
	 * entry is also OUTBOX_HOME/ids/KEY (outbox.h); NULL none */
	const char *key;
	char *msg; /* in: the message (malloc'd, taken), then as sealed */
	size_t len;
	char id[OUTBOX_ID_MAX]; /* out: the outbox entry, "" none */
	/* the submission session and the home, open once and kept by
	 * send_reset for the next message (the bridge's relay workers) */
	int sub_open;
	struct submit sub;
	enum send_policy policy;
	char **from, **tocc, **bcc; /* of the header */
	struct addrs env; /* envelope recipients */
	struct addrs hidden; /* envelope recipients not in To or Cc */
	struct ll_keystore *ks;
	struct ll_ctx *ctx;
	struct ll_sealed *sealed;
};

/* One envelope recipient ADDR (an addr-spec): 0, or an exit code
 * (said). */
int send_add_rcpt(struct send *s, const char *addr);

/*
 * Seal s->msg and submit it: 0 when the server took every copy; else
 * the exit code of `letterlock send` (sysexits.h; letterlock(1)), the
 * reason said on stderr.  s->id names the outbox entry when one was
 * made (it stays queued after EX_TEMPFAIL and EX_UNAVAILABLE).
 */
int send_message(struct send *s);

/*
 * Ready S for another message: what belongs to the message (the
 * message, its addresses, the sealed copies, s->id) is freed; the
 * settings, the open home (keystore, keys) and the submission session
 * (its connection to the server, logged in) are kept.  The caller
 * sets the "in" fields of the message again (envfrom, recipients, msg).
 */
void send_reset(struct send *s);

/* Free what S holds (not S). */
void send_free(struct send *s);

#endif
