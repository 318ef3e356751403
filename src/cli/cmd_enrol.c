/*
 * cmd_enrol.c - letterlock enrol: an S/MIME certificate from an ACME CA
 * (RFC 8555) that validates the mailbox by email (RFC 8823).  The key is
 * made here and never leaves this machine.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <letterlock/acme.h>

#include "cli.h"
#include "conf.h"
#include "mailbox.h"

#define DEFAULT_TIMEOUT 120
#define MAX_TIMEOUT 3600
#define RENEW_DAYS 30 /* a certificate with more left is kept */
#define MAIL_MAX (1024 * 1024) /* a challenge mail we fetch, bytes */
/* between mailbox searches: every 250 ms for the first 5 s (mail on a
 * nearby server arrives within seconds), then half as long again each
 * time up to 3 s (a remote one is not hammered) */
#define MAIL_POLL_FIRST_MS 250
#define MAIL_POLL_FAST_FOR 5
#define MAIL_POLL_MAX_MS 3000
#define PASSWORD_MAX 1024

static const char enrol_usage[] =
	"usage: letterlock enrol ADDRESS --acme URL --imap-url URL "
	"--smtp-url URL\n"
	"         [--mail-user U] [--mail-password-file F] "
	"[--mail-ca-file F]\n"
	"         [--acme-ca-file F] [--key-type rsa3072|rsa2048|p256]\n"
	"         [--timeout SECONDS] [--quiet] [--config FILE]\n"
	"\n"
	"Get an S/MIME certificate for ADDRESS from the ACME CA whose "
	"directory is\n"
	"at URL, proving control of the mailbox by email (RFC 8823).  The "
	"key is\n"
	"made here and never leaves this machine.\n"
	"\n"
	"  --acme URL              the CA's ACME directory (https, or http "
	"to this machine)\n"
	"  --imap-url URL          imap[s]://HOST[:PORT][/MAILBOX] of the "
	"mailbox\n"
	"                          (MAILBOX: INBOX when not given)\n"
	"  --smtp-url URL          smtp[s]://HOST[:PORT] of its submission "
	"server\n"
	"  --mail-user U           login for IMAP and SMTP (default: "
	"ADDRESS)\n"
	"  --mail-password-file F  its password, the first line of F "
	"(default: asked\n"
	"                          on the terminal)\n"
	"  --mail-ca-file F        PEM CA certificates that verify the mail "
	"servers,\n"
	"                          besides the system's; imap:// and smtp:// "
	"then\n"
	"                          require STARTTLS even to this machine\n"
	"  --acme-ca-file F        the same for the CA's https server\n"
	"  --key-type T            rsa3072 (default), rsa2048 or p256\n"
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
	"                                   password_file, ca_file\n"
	"\n"
	"Exit: 0 installed, or a certificate with more than 30 days left is "
	"there;\n"
	"2 usage; 5 a server's answer is malformed or does not fit; 6 any "
	"other failure.\n";

struct enrol {
	struct cli *cli;
	const char *address; /* as given */
	char canon[320]; /* canonical: domain in A-labels */
	const char *acme_url;
	const char *acme_ca;
	const char *imap_url;
	const char *smtp_url;
	const char *user;
	const char *pwfile;
	const char *mail_ca;
	enum ll_keytype keytype;
	int timeout;
	const char *config; /* --config */
	struct cli_conf conf; /* HOME/letterlock.conf or --config */

	struct ll_keystore *ks;
	struct ll_ctx *ctx; /* the home */
	struct ll_ctx *vctx; /* trusts the CA's root only */
	struct mailbox *mb;
	struct ll_acme *acme;
	struct ll_acme_certkey *key;
	struct ll_cert *root;
	struct ll_acme_order *order;
	char password[PASSWORD_MAX];
};

static void say(const struct enrol *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct enrol *e, const char *fmt, ...)
{
	va_list ap;

	if (e->cli->quiet)
		return;
	fputs("enrol: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Print "enrol: ..." on stderr; returns the exit code CODE. */
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = cli_vsay(code, "enrol", fmt, ap);
	va_end(ap);
	return code;
}

/* The exit code for an error of the library or the mailbox. */
static int exit_for(int rc)
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

/* "enrol: STEP: message"; with CA set, "enrol: CA refused STEP: ..."
 * when the CA answered with a problem (LL_EPOLICY). */
static int report(const char *step, int ca, const struct ll_error *err)
{
	const char *m = err->message[0] ? err->message : ll_strerror(err->code);

	if (err->detail[0] != '\0' && getenv("LETTERLOCK_DEBUG") != NULL)
		fprintf(stderr, "enrol:   (%s)\n", err->detail);
	if (ca && err->code == LL_EPOLICY)
		return fail(exit_for(err->code), "CA refused %s: %s", step, m);
	return fail(exit_for(err->code), "%s: %s", step, m);
}

/* A step of the ACME protocol, where LL_EPOLICY is the CA's refusal. */
static int step_fail(const char *step, const struct ll_error *err)
{
	return report(step, 1, err);
}

/* A step on this machine, or a check of what the CA sent. */
static int local_fail(const char *step, const struct ll_error *err)
{
	return report(step, 0, err);
}

static void fmt_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static const char *keytype_name(enum ll_keytype t)
{
	switch (t) {
	case LL_KEY_RSA2048:
		return "RSA-2048";
	case LL_KEY_EC_P256:
		return "EC P-256";
	case LL_KEY_RSA3072:
		break;
	}
	return "RSA-3072";
}

static int parse_keytype(enum ll_keytype *t, const char *s)
{
	if (strcmp(s, "rsa3072") == 0 || strcmp(s, "rsa-3072") == 0)
		*t = LL_KEY_RSA3072;
	else if (strcmp(s, "rsa2048") == 0 || strcmp(s, "rsa-2048") == 0)
		*t = LL_KEY_RSA2048;
	else if (strcmp(s, "p256") == 0 || strcmp(s, "ec-p256") == 0)
		*t = LL_KEY_EC_P256;
	else
		return -1;
	return 0;
}

/* ---- the mail password ---- */

static int read_password(struct enrol *e)
{
	struct termios old, quiet;
	FILE *tty;
	int ok, rc;

	if (e->pwfile != NULL) {
		rc = cli_read_password(e->password, sizeof(e->password),
				       e->pwfile);
		if (rc == -2)
			return fail(EXIT_USAGE,
				    "%s: the password is longer "
				    "than %d bytes",
				    e->pwfile, PASSWORD_MAX - 1);
		return rc < 0 ? EXIT_FAIL : 0;
	}
	if (!isatty(STDIN_FILENO))
		return fail(EXIT_USAGE, "no mail password: use "
					"--mail-password-file F or run on a "
					"terminal");
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return fail(EXIT_USAGE, "no terminal to ask the mail password "
					"on: use --mail-password-file F");
	fprintf(tty, "mail password for %s: ", e->user);
	fflush(tty);
	/* never read a password that would be echoed */
	if (tcgetattr(fileno(tty), &old) != 0) {
		fclose(tty);
		return fail(EXIT_USAGE, "cannot turn off echo on the terminal: "
					"use --mail-password-file F");
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	ok = fgets(e->password, sizeof(e->password), tty) != NULL;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	e->password[strcspn(e->password, "\r\n")] = '\0';
	if (!ok)
		return fail(EXIT_USAGE, "no mail password given");
	return 0;
}

/* ---- steps ---- */

/* 1 if the home holds a CA-issued certificate for the address with
 * more than RENEW_DAYS left (then it is said). */
static int already_enrolled(const struct enrol *e)
{
	struct ll_identity *id = ll_ctx_identity_for(e->ctx, e->address);
	char until[40];
	time_t na;

	if (id == NULL || ll_identity_chain_count(id) == 0)
		return 0; /* none, or only a self-signed one */
	na = ll_cert_not_after(ll_identity_cert(id));
	if (na - time(NULL) <= (time_t)RENEW_DAYS * 86400)
		return 0;
	fmt_time(until, sizeof(until), na);
	say(e, "%s already has a certificate valid until %s", e->address,
	    until);
	return 1;
}

/* The CA's directory: a wrong URL shows before anything else is done. */
static int open_acme(struct enrol *e)
{
	struct ll_acme_options opt = LL_ACME_OPTIONS_INIT;
	struct ll_error err = { 0 };
	int rc;

	opt.ca_file = e->acme_ca;
	opt.timeout = e->timeout;
	rc = ll_acme_new(&e->acme, e->acme_url, &opt, &err);
	if (rc < 0)
		return local_fail("CA directory", &err);
	return 0;
}

static int start_acme(struct enrol *e)
{
	struct ll_jwk *jwk = NULL;
	struct ll_error err = { 0 };
	int created = 0, new_account = 0, rc;

	rc = ll_acme_account_key(&jwk, &created, e->ks, e->acme_url, &err);
	if (rc < 0)
		return local_fail("account key", &err);
	ll_acme_set_key(e->acme, &jwk);
	rc = ll_acme_register(e->acme, e->canon, &new_account, &err);
	if (rc < 0)
		return step_fail("the account", &err);
	say(e, "account %s (%s%s)", ll_acme_account_url(e->acme),
	    new_account ? "new" : "existing",
	    created ? ", new key kept in the home" : "");
	if (new_account && ll_acme_terms(e->acme) != NULL)
		say(e, "agreed to the CA's terms of service: %s",
		    ll_acme_terms(e->acme));
	rc = ll_acme_root_cert(&e->root, e->acme, &err);
	if (rc < 0)
		return local_fail("the CA's root certificate", &err);
	rc = ll_ctx_new(&e->vctx, &err);
	if (rc == 0)
		rc = ll_ctx_add_trust(e->vctx, e->root, &err);
	if (rc < 0)
		return local_fail("the CA's root certificate", &err);
	return 0;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Wait for the genuine challenge mail from FROM with a UID of at least
 * FIRST; the newest one wins.  Mail that looks like a challenge but is
 * not genuine is reported and passed over.
 */
static int wait_challenge(struct enrol *e, const char *from,
			  unsigned long first, char **token1, char **msgid)
{
	time_t started = time(NULL), deadline = started + e->timeout;
	unsigned long uids[MAILBOX_MAX_HITS];
	struct ll_error err = { 0 };
	long wait_ms = MAIL_POLL_FIRST_MS;
	size_t n;
	int rc;

	say(e, "waiting for the challenge mail from %s ...", from);
	for (;;) {
		time_t now;

		rc = mailbox_search(e->mb, first, from, "ACME:", uids, &n,
				    &err);
		if (rc < 0)
			return fail(exit_for(rc), "%s", err.message);
		for (size_t i = 0; i < n; i++) {
			char *msg = NULL;
			size_t len = 0;

			rc = mailbox_fetch(e->mb, uids[i], MAIL_MAX, &msg, &len,
					   &err);
			if (rc == 0)
				rc = ll_acme_mail_check(token1, msgid, e->vctx,
							msg, len, from, &err);
			free(msg);
			if (rc == 0)
				return 0;
			if (rc == LL_ENOMEM || rc == LL_EIO)
				return fail(exit_for(rc), "%s", err.message);
			say(e, "passed over mail UID %lu: %s", uids[i],
			    err.message);
		}
		if (n > 0)
			first = uids[0] + 1;
		now = time(NULL);
		if (now >= deadline)
			return fail(EXIT_FAIL,
				    "challenge mail did not arrive "
				    "within %d s",
				    e->timeout);
		nap_ms(wait_ms);
		if (time(NULL) - started >= MAIL_POLL_FAST_FOR)
			wait_ms = wait_ms * 3 / 2 > MAIL_POLL_MAX_MS ?
					  MAIL_POLL_MAX_MS :
					  wait_ms * 3 / 2;
	}
}

/* Answer the challenge of Z by mail and wait for the CA's verdict. */
static int validate(struct enrol *e, struct ll_acme_authz *z,
		    unsigned long first)
{
	char tp[LL_JWK_THUMBPRINT_LEN + 1], dg[LL_JWK_THUMBPRINT_LEN + 1];
	char *token1 = NULL, *msgid = NULL, *mail = NULL;
	struct ll_error err = { 0 };
	const char *from;
	size_t mlen = 0;
	int rc;

	if (ll_acme_authz_status(z) == LL_ACME_VALID) {
		say(e, "authorization valid (validated before)");
		return 0;
	}
	if (ll_acme_authz_status(z) != LL_ACME_PENDING)
		return fail(EXIT_FAIL, "the authorization is %s%s%s",
			    ll_acme_status_name(ll_acme_authz_status(z)),
			    ll_acme_authz_error(z)[0] ? ": " : "",
			    ll_acme_authz_error(z));
	if (!ll_acme_authz_has_challenge(z))
		return fail(EXIT_FAIL, "the CA offers no email-reply-00 "
				       "challenge");
	from = ll_acme_authz_from(z);
	if (ll_acme_authz_challenge_status(z) == LL_ACME_PENDING) {
		rc = wait_challenge(e, from, first, &token1, &msgid);
		if (rc != 0)
			goto out;
		say(e, "challenge mail from %s verified (S/MIME)", from);
		rc = ll_acme_thumbprint(tp, e->acme, &err);
		if (rc == 0)
			rc = ll_acme_email_digest(
				dg, token1, ll_acme_authz_token(z), tp, &err);
		if (rc == 0)
			rc = ll_acme_mail_response(&mail, &mlen, e->canon, from,
						   token1, msgid, dg, &err);
		if (rc < 0) {
			rc = local_fail("the response mail", &err);
			goto out;
		}
		rc = mailbox_send(e->mb, e->canon, from, mail, mlen, &err);
		if (rc < 0) {
			rc = fail(exit_for(rc), "%s", err.message);
			goto out;
		}
		say(e, "answered over SMTP");
		rc = ll_acme_authz_respond(e->acme, z, &err);
		if (rc < 0) {
			rc = step_fail("the challenge", &err);
			goto out;
		}
	}
	rc = ll_acme_authz_poll(e->acme, z, e->timeout, &err);
	if (rc == LL_EPOLICY) {
		rc = fail(EXIT_FAIL, "authorization failed: %s", err.message);
		goto out;
	}
	if (rc < 0) {
		rc = step_fail("authorization", &err);
		goto out;
	}
	say(e, "authorization valid");
out:
	free(token1);
	free(msgid);
	free(mail);
	return rc;
}

static int authorize(struct enrol *e, unsigned long first)
{
	struct ll_error err = { 0 };
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < ll_acme_order_authz_count(e->order);
	     i++) {
		struct ll_acme_authz *z = NULL;

		/* fetching it makes the CA send the challenge mail */
		rc = ll_acme_authz_fetch(
			&z, e->acme, ll_acme_order_authz(e->order, i), &err);
		if (rc < 0)
			rc = step_fail("the authorization", &err);
		else
			rc = validate(e, z, first);
		ll_acme_authz_free(&z);
	}
	return rc;
}

static int issue(struct enrol *e, struct ll_identity **id)
{
	unsigned char *csr = NULL;
	char *chain = NULL, serial[80], until[40];
	size_t csrlen = 0, chainlen = 0;
	struct ll_error err = { 0 };
	int rc;

	rc = ll_acme_order_poll(e->acme, e->order, e->timeout, &err);
	if (rc < 0) {
		rc = step_fail("the order", &err);
		goto out;
	}
	rc = ll_acme_csr_new(&csr, &csrlen, e->key, e->canon, &err);
	if (rc < 0) {
		rc = local_fail("the certificate request", &err);
		goto out;
	}
	if (ll_acme_order_status(e->order) == LL_ACME_READY) {
		rc = ll_acme_order_finalize(e->acme, e->order, csr, csrlen,
					    &err);
		if (rc == 0)
			rc = ll_acme_order_poll(e->acme, e->order, e->timeout,
						&err);
		if (rc < 0) {
			rc = step_fail("the certificate request", &err);
			goto out;
		}
	}
	rc = ll_acme_order_certificate(&chain, &chainlen, e->acme, e->order,
				       &err);
	if (rc < 0) {
		rc = step_fail("the certificate download", &err);
		goto out;
	}
	rc = ll_acme_identity(id, e->key, chain, chainlen, e->root, e->canon,
			      &err);
	if (rc < 0) {
		rc = fail(rc == LL_ENOMEM ? EXIT_FAIL : EXIT_BADINPUT,
			  "the issued certificate: %s", err.message);
		goto out;
	}
	ll_acme_cert_serial(serial, sizeof(serial), ll_identity_cert(*id));
	fmt_time(until, sizeof(until),
		 ll_cert_not_after(ll_identity_cert(*id)));
	say(e, "certificate issued, serial %s, valid until %s", serial, until);
out:
	free(csr);
	free(chain);
	return rc;
}

/* Tell the CA's key directory what letterlock reads (AES-GCM, OAEP
 * besides the CBC profile), so that letterlock senders may use it.  A
 * directory that refuses or is not there leaves the certificate as it
 * is: senders then use the profile every client reads. */
static void publish_caps(struct enrol *e, const struct ll_cert *cert)
{
	static const char *const caps[] = { "aes256-gcm", "aes128-gcm",
					    "aes256-cbc", "aes128-cbc",
					    "rsaes-oaep" };
	struct ll_error err = { 0 };

	if (ll_acme_pkx_url(e->acme) == NULL)
		return;
	if (ll_acme_pkx_caps(e->acme, ll_cert_fingerprint(cert), caps,
			     sizeof(caps) / sizeof(caps[0]), &err) < 0)
		fprintf(stderr,
			"letterlock: warning: the key directory did not take "
			"what this client reads (%s); senders will use the "
			"compatible profile\n",
			err.message);
	else
		say(e, "the key directory says what this client reads "
		       "(AES-GCM, RSA-OAEP)");
}

static int install(struct enrol *e, const struct ll_identity *id)
{
	struct ll_error err = { 0 };
	int rc;

	rc = ll_keystore_add_identity(e->ks, id, &err);
	if (rc < 0 && rc != LL_EEXIST)
		return local_fail("storing the identity", &err);
	rc = ll_keystore_add_trust(e->ks, e->root, &err);
	if (rc < 0 && rc != LL_EEXIST)
		return local_fail("trusting the CA's root", &err);
	say(e, "installed as identity %s; trusting root %s (sha256 %s)",
	    e->address, ll_cert_subject(e->root), ll_cert_fingerprint(e->root));
	publish_caps(e, ll_identity_cert(id));
	return 0;
}

static int run(struct enrol *e)
{
	struct mailbox_conf mc = { 0 };
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	unsigned long first = 0;
	int rc;

	rc = cli_open_home(&e->ks, &e->ctx, e->cli, 1);
	if (rc != 0)
		return rc;
	if (already_enrolled(e))
		return EXIT_OK;
	rc = read_password(e);
	if (rc != 0)
		return rc;
	mc.imap_url = e->imap_url;
	mc.smtp_url = e->smtp_url;
	mc.user = e->user;
	mc.password = e->password;
	mc.ca_file = e->mail_ca;
	mc.timeout = e->timeout;
	rc = mailbox_open(&e->mb, &mc, &err);
	if (rc < 0)
		return fail(exit_for(rc), "%s", err.message);
	rc = open_acme(e);
	if (rc != 0)
		return rc;
	/* fail early on a wrong login, and mark where new mail starts */
	rc = mailbox_uidnext(e->mb, &first, &err);
	if (rc < 0)
		return fail(exit_for(rc), "%s", err.message);
	say(e, "generating %s key", keytype_name(e->keytype));
	rc = ll_acme_certkey_generate(&e->key, e->keytype, &err);
	if (rc < 0)
		return local_fail("key generation", &err);
	rc = start_acme(e);
	if (rc != 0)
		return rc;
	rc = ll_acme_order_new(&e->order, e->acme, e->canon, &err);
	if (rc < 0)
		return step_fail("the order", &err);
	say(e, "order %s for %s", ll_acme_order_url(e->order), e->canon);
	rc = authorize(e, first);
	if (rc == 0)
		rc = issue(e, &id);
	if (rc == 0)
		rc = install(e, id);
	ll_identity_free(&id);
	return rc;
}

/* Read --config, or HOME/letterlock.conf if there is one: the settings
 * an option did not give (an option wins). */
static int read_conf(struct enrol *e)
{
	const struct cli_conf *c = &e->conf;
	const char **opt[] = { &e->acme_url, &e->acme_ca, &e->imap_url,
			       &e->smtp_url, &e->user,	  &e->pwfile,
			       &e->mail_ca };
	/* the file's values, once it is read */
	char *const *val[] = { &c->acme_url,	&c->acme_ca_file,
			       &c->imap_url,	&c->smtp_url,
			       &c->mail_user,	&c->mail_password_file,
			       &c->mail_ca_file };

	if (cli_conf_read(&e->conf, e->cli->home, e->config, "enrol") < 0)
		return EXIT_USAGE;
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (*opt[i] == NULL)
			*opt[i] = *val[i];
	return 0;
}

int cmd_enrol(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "acme", required_argument, NULL, 'a' },
		{ "acme-ca-file", required_argument, NULL, 'A' },
		{ "imap-url", required_argument, NULL, 'i' },
		{ "smtp-url", required_argument, NULL, 's' },
		{ "mail-user", required_argument, NULL, 'u' },
		{ "mail-password-file", required_argument, NULL, 'p' },
		{ "mail-ca-file", required_argument, NULL, 'M' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct enrol *e;
	struct ll_error err = { 0 };
	char *end;
	long v;
	int c, rc;

	if (cli_wants_help(argc, argv)) {
		fputs(enrol_usage, stdout);
		return EXIT_OK;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return fail(EXIT_FAIL, "out of memory");
	e->cli = cli;
	e->timeout = DEFAULT_TIMEOUT;
	e->keytype = LL_KEY_RSA3072;
	optind = 1;
	rc = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			e->acme_url = optarg;
			break;
		case 'A':
			e->acme_ca = optarg;
			break;
		case 'i':
			e->imap_url = optarg;
			break;
		case 's':
			e->smtp_url = optarg;
			break;
		case 'u':
			e->user = optarg;
			break;
		case 'p':
			e->pwfile = optarg;
			break;
		case 'M':
			e->mail_ca = optarg;
			break;
		case 'q':
			cli->quiet = 1;
			break;
		case 'c':
			e->config = optarg;
			break;
		case 'k':
			if (parse_keytype(&e->keytype, optarg) < 0)
				rc = fail(EXIT_USAGE,
					  "unknown key type %s "
					  "(rsa3072, rsa2048, "
					  "p256)",
					  optarg);
			break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > MAX_TIMEOUT)
				rc = fail(EXIT_USAGE,
					  "--timeout takes 1 to %d "
					  "seconds",
					  MAX_TIMEOUT);
			else
				e->timeout = (int)v;
			break;
		default:
			rc = EXIT_USAGE;
			break;
		}
	}
	if (rc == 0)
		rc = read_conf(e);
	if (rc == 0 && optind + 1 != argc) {
		fputs(enrol_usage, stderr);
		rc = EXIT_USAGE;
	}
	if (rc == 0 &&
	    (e->acme_url == NULL || e->imap_url == NULL || e->smtp_url == NULL))
		rc = fail(EXIT_USAGE,
			  "the CA's ACME URL and the mailbox's IMAP and SMTP "
			  "URLs are needed: --acme, --imap-url, --smtp-url "
			  "or [acme] url, [mail] imap_url, smtp_url in the "
			  "configuration");
	if (rc != 0)
		goto out;
	e->address = argv[optind];
	if (e->user == NULL)
		e->user = e->address;
	if (ll_ca_mailbox_canonical(e->canon, sizeof(e->canon), NULL,
				    e->address, &err) < 0) {
		rc = fail(EXIT_USAGE, "%s: %s", e->address, err.message);
		goto out;
	}
	rc = run(e);
out:
	ll_acme_order_free(&e->order);
	ll_cert_free(&e->root);
	ll_acme_certkey_free(&e->key);
	ll_acme_free(&e->acme);
	mailbox_close(&e->mb);
	ll_ctx_free(&e->vctx);
	ll_ctx_free(&e->ctx);
	ll_keystore_close(&e->ks);
	OPENSSL_cleanse(e->password, sizeof(e->password));
	cli_conf_free(&e->conf);
	free(e);
	return rc;
}
