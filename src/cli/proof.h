/*
 * proof.h - proving control of a mailbox to the CA: the RFC 8823 email
 * round trip (an ACME order for the address, the challenge mail read
 * over IMAP and verified, the response sent over SMTP) that enrol,
 * renew, revoke, backup and restore share.
 *
 * A command fills a struct proof from its options (PROOF_LONG_OPTIONS,
 * proof_option) and the settings file (proof_settle), connects
 * (proof_connect: the home, the mailbox, the CA account) and proves the
 * address (proof_order).  The order is then ready: enrol finalizes it;
 * the others only need the account to hold a fresh authorization.
 */
#ifndef LL_CLI_PROOF_H
#define LL_CLI_PROOF_H

#include <getopt.h>

#include <letterlock/acme.h>

#include "cli.h"
#include "conf.h"
#include "mailbox.h"

#define PROOF_PASSWORD_MAX 1024
#define PROOF_DEFAULT_TIMEOUT 120
#define PROOF_MAX_TIMEOUT 3600

struct proof {
	struct cli *cli;
	const char *who; /* "enrol", "renew" ...: prefix of every line */
	const char *address; /* as given */
	char canon[320]; /* canonical: domain in A-labels */
	const char *acme_url, *acme_ca;
	const char *imap_url, *smtp_url, *user, *pwfile, *mail_ca;
	int timeout;
	const char *config; /* --config */
	struct cli_conf conf; /* HOME/letterlock.conf or --config */

	struct ll_keystore *ks;
	struct ll_ctx *ctx; /* the home, loaded */
	struct ll_ctx *vctx; /* trusts the CA's root only */
	struct mailbox *mb;
	struct ll_acme *acme;
	struct ll_cert *root;
	struct ll_acme_order *order;
	unsigned long first; /* mail from now on has a UID >= first */
	char password[PROOF_PASSWORD_MAX];
};

/* The options every proving command takes; their getopt codes are the
 * letters 'a' 'A' 'i' 's' 'u' 'p' 'M' 't' 'q' 'c'. */
#define PROOF_LONG_OPTIONS                                              \
	{ "acme", required_argument, NULL, 'a' },                       \
		{ "acme-ca-file", required_argument, NULL, 'A' },       \
		{ "imap-url", required_argument, NULL, 'i' },           \
		{ "smtp-url", required_argument, NULL, 's' },           \
		{ "mail-user", required_argument, NULL, 'u' },          \
		{ "mail-password-file", required_argument, NULL, 'p' }, \
		{ "mail-ca-file", required_argument, NULL, 'M' },       \
		{ "timeout", required_argument, NULL, 't' },            \
		{ "quiet", no_argument, NULL, 'q' },                    \
	{                                                               \
		"config", required_argument, NULL, 'c'                  \
	}

/* The help text of those options. */
extern const char proof_options_help[];

/* Zero *P and set its defaults. */
void proof_init(struct proof *p, struct cli *cli, const char *who);
/* Take getopt's C and OPTARG: 1 taken, 0 not one of ours, -1 after
 * saying why the value is wrong. */
int proof_option(struct proof *p, int c, const char *optarg);
/* After the options: read the settings file for what they did not give,
 * check that the CA and the mailbox are known, and take ADDRESS (may be
 * NULL: then set p->address before proof_connect).  0 or an exit code. */
int proof_settle(struct proof *p, const char *address);
/* Set the address (as given) and its canonical form; 0 or an exit code. */
int proof_address(struct proof *p, const char *address);
/* The home (p->ks, p->ctx) only; 0 or an exit code. */
int proof_open_home(struct proof *p);
/* The mail password, the mailbox login, the CA's directory, the account
 * (key kept in the home) and the CA's root; 0 or an exit code. */
int proof_connect(struct proof *p);
/* The home and the CA account only, without the mailbox: for what the
 * account may do without a new proof; 0 or an exit code. */
int proof_connect_ca(struct proof *p);
/* A new order for the address, proven by email: p->order is ready (or
 * valid) on 0; else an exit code, said. */
int proof_order(struct proof *p);
void proof_clear(struct proof *p);

/* "WHO: ..." on stdout unless quiet. */
void proof_say(const struct proof *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "WHO: ..." on stderr; returns CODE. */
int proof_fail(const struct proof *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "WHO: STEP: why" for a step of the protocol, where LL_EPOLICY is the
 * CA's refusal ("CA refused STEP: ..."); returns the exit code. */
int proof_step_fail(const struct proof *p, const char *step,
		    const struct ll_error *err);
/* The same for a step on this machine, or a check of what came. */
int proof_local_fail(const struct proof *p, const char *step,
		     const struct ll_error *err);
/* The exit code for a library or mailbox error. */
int proof_exit_for(int rc);
/* "2026-01-31 12:00 UTC" */
void proof_fmt_time(char *buf, size_t len, long long t);

#endif
