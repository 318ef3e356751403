/*
 * proof.c - proving control of a mailbox to the CA by email (RFC 8823):
 * what enrol, renew, revoke, backup and restore share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "proof.h"

#define MAIL_MAX (1024 * 1024) /* a challenge mail we fetch, bytes */
/* between mailbox searches: every 250 ms for the first 5 s (mail on a
 * nearby server arrives within seconds), then half as long again each
 * time up to 3 s (a remote one is not hammered) */
#define MAIL_POLL_FIRST_MS 250
#define MAIL_POLL_FAST_FOR 5
#define MAIL_POLL_MAX_MS 3000

const char proof_options_help[] =
	"  --acme URL              the CA's ACME directory (https, or http "
	"to this machine)\n"
	"  --imap-url URL          imap[s]://HOST[:PORT][/MAILBOX] of the "
	"mailbox\n"
	"                          (MAILBOX: INBOX when not given)\n"
	"  --smtp-url URL          smtp[s]://HOST[:PORT] of its submission "
	"server\n"
	"  --mail-user U           login for IMAP and SMTP (default: the "
	"address)\n"
	"  --mail-password-file F  its password, the first line of F "
	"(default: asked\n"
	"                          on the terminal)\n"
	"  --mail-ca-file F        PEM CA certificates that verify the mail "
	"servers,\n"
	"                          besides the system's; imap:// and smtp:// "
	"then\n"
	"                          require STARTTLS even to this machine\n"
	"  --acme-ca-file F        the same for the CA's https server\n"
	"  --timeout SECONDS       longest wait for the challenge mail, the "
	"CA's\n"
	"                          validation and the certificate, and for "
	"one\n"
	"                          network exchange (default 120)\n"
	"  --quiet                 no progress lines\n"
	"  --config FILE           settings not given as options (default\n"
	"                          HOME/letterlock.conf when it exists):\n"
	"                            [acme] url, ca_file\n"
	"                            [mail] imap_url, smtp_url, user,\n"
	"                                   password_file, ca_file\n";

void proof_init(struct proof *p, struct cli *cli, const char *who)
{
	memset(p, 0, sizeof(*p));
	p->cli = cli;
	p->who = who;
	p->timeout = PROOF_DEFAULT_TIMEOUT;
}

void proof_say(const struct proof *p, const char *fmt, ...)
{
	va_list ap;

	if (p->cli->quiet)
		return;
	printf("%s: ", p->who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

int proof_fail(const struct proof *p, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = cli_vsay(code, p->who, fmt, ap);
	va_end(ap);
	return code;
}

int proof_exit_for(int rc)
{
	switch (rc) {
	case LL_EINVAL:
		return EXIT_USAGE;
	case LL_EPARSE:
	case LL_ETOOBIG:
		return EXIT_BADINPUT;
	}
	return EXIT_FAIL;
}

static int report(const struct proof *p, const char *step, int ca,
		  const struct ll_error *err)
{
	const char *m = err->message[0] ? err->message : ll_strerror(err->code);

	if (err->detail[0] != '\0' && getenv("LETTERLOCK_DEBUG") != NULL)
		fprintf(stderr, "%s:   (%s)\n", p->who, err->detail);
	if (ca && err->code == LL_EPOLICY)
		return proof_fail(p, proof_exit_for(err->code),
				  "CA refused %s: %s", step, m);
	return proof_fail(p, proof_exit_for(err->code), "%s: %s", step, m);
}

int proof_step_fail(const struct proof *p, const char *step,
		    const struct ll_error *err)
{
	return report(p, step, 1, err);
}

int proof_local_fail(const struct proof *p, const char *step,
		     const struct ll_error *err)
{
	return report(p, step, 0, err);
}

void proof_fmt_time(char *buf, size_t len, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

/* ---- options and settings ---- */

int proof_option(struct proof *p, int c, const char *arg)
{
	char *end;
	long v;

	switch (c) {
	case 'a':
		p->acme_url = arg;
		return 1;
	case 'A':
		p->acme_ca = arg;
		return 1;
	case 'i':
		p->imap_url = arg;
		return 1;
	case 's':
		p->smtp_url = arg;
		return 1;
	case 'u':
		p->user = arg;
		return 1;
	case 'p':
		p->pwfile = arg;
		return 1;
	case 'M':
		p->mail_ca = arg;
		return 1;
	case 'q':
		p->cli->quiet = 1;
		return 1;
	case 'c':
		p->config = arg;
		return 1;
	case 't':
		v = strtol(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || v < 1 ||
		    v > PROOF_MAX_TIMEOUT) {
			proof_fail(p, EXIT_USAGE,
				   "--timeout takes 1 to %d seconds",
				   PROOF_MAX_TIMEOUT);
			return -1;
		}
		p->timeout = (int)v;
		return 1;
	}
	return 0;
}

int proof_address(struct proof *p, const char *address)
{
	struct ll_error err = { 0 };

	p->address = address;
	if (ll_ca_mailbox_canonical(p->canon, sizeof(p->canon), NULL, address,
				    &err) < 0)
		return proof_fail(p, EXIT_USAGE, "%s: %s", address,
				  err.message);
	return 0;
}

int proof_settle(struct proof *p, const char *address)
{
	const struct cli_conf *c = &p->conf;
	const char **opt[] = { &p->acme_url, &p->acme_ca, &p->imap_url,
			       &p->smtp_url, &p->user,	  &p->pwfile,
			       &p->mail_ca };
	/* the file's values, once it is read */
	char *const *val[] = { &c->acme_url,	&c->acme_ca_file,
			       &c->imap_url,	&c->smtp_url,
			       &c->mail_user,	&c->mail_password_file,
			       &c->mail_ca_file };

	if (cli_conf_read(&p->conf, p->cli->home, p->config, p->who) < 0)
		return EXIT_USAGE;
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (*opt[i] == NULL)
			*opt[i] = *val[i];
	if (p->acme_url == NULL || p->imap_url == NULL || p->smtp_url == NULL)
		return proof_fail(p, EXIT_USAGE,
				  "the CA's ACME URL and the mailbox's IMAP "
				  "and SMTP URLs are needed: --acme, "
				  "--imap-url, --smtp-url or [acme] url, "
				  "[mail] imap_url, smtp_url in the "
				  "configuration");
	return address != NULL ? proof_address(p, address) : 0;
}

/* ---- the mail password ---- */

static int read_password(struct proof *p)
{
	char prompt[512];
	int rc;

	if (p->pwfile != NULL) {
		rc = cli_read_password(p->password, sizeof(p->password),
				       p->pwfile);
		if (rc == -2)
			return proof_fail(p, EXIT_USAGE,
					  "%s: the password is longer "
					  "than %d bytes",
					  p->pwfile, PROOF_PASSWORD_MAX - 1);
		return rc < 0 ? EXIT_FAIL : 0;
	}
	if (!isatty(STDIN_FILENO))
		return proof_fail(p, EXIT_USAGE,
				  "no mail password: use "
				  "--mail-password-file F or run on a "
				  "terminal");
	snprintf(prompt, sizeof(prompt), "mail password for %s: ", p->user);
	switch (cli_ask_tty(p->password, sizeof(p->password), prompt)) {
	case 0:
		break;
	case CLI_TTY_NONE:
		return proof_fail(p, EXIT_USAGE,
				  "no terminal to ask the mail password "
				  "on: use --mail-password-file F");
	case CLI_TTY_ECHO:
		return proof_fail(p, EXIT_USAGE,
				  "cannot turn off echo on the terminal: "
				  "use --mail-password-file F");
	case CLI_TTY_LONG:
		return proof_fail(p, EXIT_USAGE,
				  "the password is longer than %d bytes",
				  PROOF_PASSWORD_MAX - 1);
	default:
		return proof_fail(p, EXIT_USAGE, "no mail password given");
	}
	return 0;
}

/* ---- connecting ---- */

int proof_open_home(struct proof *p)
{
	if (p->ks != NULL)
		return 0;
	return cli_open_home(&p->ks, &p->ctx, p->cli, 1);
}

static int start_acme(struct proof *p)
{
	struct ll_acme_options opt = LL_ACME_OPTIONS_INIT;
	struct ll_jwk *jwk = NULL;
	struct ll_error err = { 0 };
	int created = 0, new_account = 0, rc;

	opt.ca_file = p->acme_ca;
	opt.timeout = p->timeout;
	rc = ll_acme_new(&p->acme, p->acme_url, &opt, &err);
	if (rc < 0)
		return proof_local_fail(p, "CA directory", &err);
	rc = ll_acme_account_key(&jwk, &created, p->ks, p->acme_url, &err);
	if (rc < 0)
		return proof_local_fail(p, "account key", &err);
	ll_acme_set_key(p->acme, &jwk);
	rc = ll_acme_register(p->acme, p->canon, &new_account, &err);
	if (rc < 0)
		return proof_step_fail(p, "the account", &err);
	proof_say(p, "account %s (%s%s)", ll_acme_account_url(p->acme),
		  new_account ? "new" : "existing",
		  created ? ", new key kept in the home" : "");
	if (new_account && ll_acme_terms(p->acme) != NULL)
		proof_say(p, "agreed to the CA's terms of service: %s",
			  ll_acme_terms(p->acme));
	rc = ll_acme_root_cert(&p->root, p->acme, &err);
	if (rc < 0)
		return proof_local_fail(p, "the CA's root certificate", &err);
	rc = ll_ctx_new(&p->vctx, &err);
	if (rc == 0)
		rc = ll_ctx_add_trust(p->vctx, p->root, &err);
	if (rc < 0)
		return proof_local_fail(p, "the CA's root certificate", &err);
	return 0;
}

int proof_connect_ca(struct proof *p)
{
	int rc = proof_open_home(p);

	return rc != 0 ? rc : start_acme(p);
}

int proof_connect(struct proof *p)
{
	struct mailbox_conf mc = { 0 };
	struct ll_error err = { 0 };
	int rc;

	rc = proof_open_home(p);
	if (rc != 0)
		return rc;
	if (p->user == NULL)
		p->user = p->address;
	rc = read_password(p);
	if (rc != 0)
		return rc;
	mc.imap_url = p->imap_url;
	mc.smtp_url = p->smtp_url;
	mc.user = p->user;
	mc.password = p->password;
	mc.ca_file = p->mail_ca;
	mc.timeout = p->timeout;
	rc = mailbox_open(&p->mb, &mc, &err);
	if (rc < 0)
		return proof_fail(p, proof_exit_for(rc), "%s", err.message);
	/* fail early on a wrong login, and mark where new mail starts */
	rc = mailbox_uidnext(p->mb, &p->first, &err);
	if (rc < 0)
		return proof_fail(p, proof_exit_for(rc), "%s", err.message);
	return start_acme(p);
}

/* ---- the round trip ---- */

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Wait for the genuine challenge mail from FROM with a UID of at least
 * p->first; the newest one wins.  Mail that looks like a challenge but
 * is not genuine is reported and passed over.
 */
static int wait_challenge(struct proof *p, const char *from, char **token1,
			  char **msgid)
{
	time_t started = time(NULL), deadline = started + p->timeout;
	unsigned long uids[MAILBOX_MAX_HITS], first = p->first;
	struct ll_error err = { 0 };
	long wait_ms = MAIL_POLL_FIRST_MS;
	size_t n;
	int rc;

	proof_say(p, "waiting for the challenge mail from %s ...", from);
	for (;;) {
		rc = mailbox_search(p->mb, first, from, "ACME:", uids, &n,
				    &err);
		if (rc < 0)
			return proof_fail(p, proof_exit_for(rc), "%s",
					  err.message);
		for (size_t i = 0; i < n; i++) {
			char *msg = NULL;
			size_t len = 0;

			rc = mailbox_fetch(p->mb, uids[i], MAIL_MAX, &msg, &len,
					   &err);
			if (rc == 0)
				rc = ll_acme_mail_check(token1, msgid, p->vctx,
							msg, len, from, &err);
			free(msg);
			if (rc == 0) {
				/* the next proof waits for newer mail */
				p->first = uids[i] + 1;
				return 0;
			}
			if (rc == LL_ENOMEM || rc == LL_EIO)
				return proof_fail(p, proof_exit_for(rc), "%s",
						  err.message);
			proof_say(p, "passed over mail UID %lu: %s", uids[i],
				  err.message);
		}
		if (n > 0)
			first = uids[0] + 1;
		if (time(NULL) >= deadline)
			return proof_fail(p, EXIT_FAIL,
					  "challenge mail did not arrive "
					  "within %d s",
					  p->timeout);
		nap_ms(wait_ms);
		if (time(NULL) - started >= MAIL_POLL_FAST_FOR)
			wait_ms = wait_ms * 3 / 2 > MAIL_POLL_MAX_MS ?
					  MAIL_POLL_MAX_MS :
					  wait_ms * 3 / 2;
	}
}

/* Answer the challenge of Z by mail and wait for the CA's verdict. */
static int validate(struct proof *p, struct ll_acme_authz *z)
{
	char tp[LL_JWK_THUMBPRINT_LEN + 1], dg[LL_JWK_THUMBPRINT_LEN + 1];
	char *token1 = NULL, *msgid = NULL, *mail = NULL;
	struct ll_error err = { 0 };
	const char *from;
	size_t mlen = 0;
	int rc;

	if (ll_acme_authz_status(z) == LL_ACME_VALID) {
		proof_say(p, "authorization valid (validated before)");
		return 0;
	}
	if (ll_acme_authz_status(z) != LL_ACME_PENDING)
		return proof_fail(p, EXIT_FAIL, "the authorization is %s%s%s",
				  ll_acme_status_name(ll_acme_authz_status(z)),
				  ll_acme_authz_error(z)[0] ? ": " : "",
				  ll_acme_authz_error(z));
	if (!ll_acme_authz_has_challenge(z))
		return proof_fail(p, EXIT_FAIL,
				  "the CA offers no email-reply-00 "
				  "challenge");
	from = ll_acme_authz_from(z);
	if (ll_acme_authz_challenge_status(z) == LL_ACME_PENDING) {
		rc = wait_challenge(p, from, &token1, &msgid);
		if (rc != 0)
			goto out;
		proof_say(p, "challenge mail from %s verified (S/MIME)", from);
		rc = ll_acme_thumbprint(tp, p->acme, &err);
		if (rc == 0)
			rc = ll_acme_email_digest(
				dg, token1, ll_acme_authz_token(z), tp, &err);
		if (rc == 0)
			rc = ll_acme_mail_response(&mail, &mlen, p->canon, from,
						   token1, msgid, dg, &err);
		if (rc < 0) {
			rc = proof_local_fail(p, "the response mail", &err);
			goto out;
		}
		rc = mailbox_send(p->mb, p->canon, from, mail, mlen, &err);
		if (rc < 0) {
			rc = proof_fail(p, proof_exit_for(rc), "%s",
					err.message);
			goto out;
		}
		proof_say(p, "answered over SMTP");
		rc = ll_acme_authz_respond(p->acme, z, &err);
		if (rc < 0) {
			rc = proof_step_fail(p, "the challenge", &err);
			goto out;
		}
	}
	rc = ll_acme_authz_poll(p->acme, z, p->timeout, &err);
	if (rc == LL_EPOLICY) {
		rc = proof_fail(p, EXIT_FAIL, "authorization failed: %s",
				err.message);
		goto out;
	}
	if (rc < 0) {
		rc = proof_step_fail(p, "authorization", &err);
		goto out;
	}
	proof_say(p, "authorization valid");
out:
	free(token1);
	free(msgid);
	free(mail);
	return rc;
}

int proof_order(struct proof *p)
{
	struct ll_error err = { 0 };
	int rc;

	ll_acme_order_free(&p->order);
	rc = ll_acme_order_new(&p->order, p->acme, p->canon, &err);
	if (rc < 0)
		return proof_step_fail(p, "the order", &err);
	proof_say(p, "order %s for %s", ll_acme_order_url(p->order), p->canon);
	rc = 0;
	for (size_t i = 0; rc == 0 && i < ll_acme_order_authz_count(p->order);
	     i++) {
		struct ll_acme_authz *z = NULL;

		/* fetching it makes the CA send the challenge mail */
		rc = ll_acme_authz_fetch(
			&z, p->acme, ll_acme_order_authz(p->order, i), &err);
		if (rc < 0)
			rc = proof_step_fail(p, "the authorization", &err);
		else
			rc = validate(p, z);
		ll_acme_authz_free(&z);
	}
	return rc;
}

void proof_clear(struct proof *p)
{
	ll_acme_order_free(&p->order);
	ll_cert_free(&p->root);
	ll_acme_free(&p->acme);
	mailbox_close(&p->mb);
	ll_ctx_free(&p->vctx);
	ll_ctx_free(&p->ctx);
	ll_keystore_close(&p->ks);
	OPENSSL_cleanse(p->password, sizeof(p->password));
	cli_conf_free(&p->conf);
}
