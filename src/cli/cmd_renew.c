/*
 * cmd_renew.c - letterlock renew: a new certificate, with a new key,
 * before the current one runs out, through the same ACME + email proof
 * as enrol and without asking the user anything.  The old key and
 * certificate stay in the home (key history: mail sealed to them still
 * opens); the new certificate is published by the CA's key directory at
 * issuance, where contacts find it.
 *
 * A failed renewal leaves the current certificate as it is and is
 * tried again after a pause that doubles with each failure (1 h up to
 * 24 h), kept per address in HOME/renewal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "enrol.h"

#define RENEW_DAYS 30 /* renew when this much is left, or ... */
#define RENEW_PART 3 /* ... a third of the lifetime, if that is less */
#define RETRY_FIRST (60 * 60) /* the pause after the first failure, s */
#define RETRY_MAX (24 * 60 * 60)
#define MAX_ADDRS 64 /* addresses one home renews */
#define STATE_MAX (64 * 1024) /* HOME/renewal, bytes */

#define EXIT_WAIT 75 /* EX_TEMPFAIL: waiting to try again */

static const char renew_usage[] =
	"usage: letterlock renew [ADDRESS...] [--force] [--now TIME]\n"
	"         [--key-type rsa3072|rsa2048|p256] [--dry-run]\n"
	"         [--acme URL] [--imap-url URL] [--smtp-url URL] "
	"[--mail-user U]\n"
	"         [--mail-password-file F] [--mail-ca-file F] "
	"[--acme-ca-file F]\n"
	"         [--timeout SECONDS] [--quiet] [--config FILE]\n"
	"\n"
	"Renew the certificates of the home that are due: a new key, a new\n"
	"certificate from the CA after the same email proof as enrol.  Due "
	"means\n"
	"30 days left, or a third of the lifetime for a certificate that "
	"lives\n"
	"less than 90 days.  Without ADDRESS, every address of the home with a "
	"CA-issued\n"
	"certificate.  The old keys stay: mail sealed to them still opens.\n"
	"A failure keeps the current certificate and is retried after 1 h, "
	"2 h,\n"
	"4 h ... up to 24 h between tries.  The mailbox password must come "
	"from a\n"
	"file (--mail-password-file or [mail] password_file): renew never "
	"asks.\n"
	"\n"
	"  --force                 renew now, due or not, and ignore the "
	"pause\n"
	"                          after a failure\n"
	"  --now TIME              judge what is due at TIME instead of the "
	"clock\n"
	"                          (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
	"@SECONDS;\n"
	"                          for tests and for seeing what is coming)\n"
	"  --key-type T            the new key's type (default: the old "
	"key's)\n"
	"  --dry-run               say what is due, change nothing\n";
static const char renew_usage_tail[] =
	"\n"
	"Exit: 0 nothing due, or all renewed; 2 usage; 6 a renewal failed "
	"(the\n"
	"current certificate stays), or the backup could not take the new "
	"key;\n"
	"75 a renewal that failed before waits for its next try.\n";

/* ---- HOME/renewal: "ADDRESS FAILURES NEXT-TRY" per line ---- */

struct retry {
	char addr[320];
	long failures;
	long long next; /* time of the next try */
};

struct state {
	struct retry r[MAX_ADDRS];
	size_t n;
};

static void state_path(char *buf, size_t len, const struct cli *cli)
{
	snprintf(buf, len, "%s/renewal", cli->home);
}

/* A missing file is an empty state; a line that does not parse is
 * dropped (the worst it costs is an early retry). */
static void state_read(struct state *s, const struct cli *cli)
{
	char path[4096], *buf = NULL, *line, *save = NULL;
	size_t len;
	FILE *f;

	s->n = 0;
	state_path(path, sizeof(path), cli);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	fclose(f);
	if (cli_read_file(&buf, &len, path, STATE_MAX) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line && s->n < MAX_ADDRS;
	     line = strtok_r(NULL, "\n", &save)) {
		struct retry *r = &s->r[s->n];

		if (sscanf(line, "%319s %ld %lld", r->addr, &r->failures,
			   &r->next) == 3 &&
		    r->failures > 0)
			s->n++;
	}
	free(buf);
}

static int state_write(const struct state *s, const struct cli *cli)
{
	char path[4096], buf[MAX_ADDRS * 400];
	size_t off = 0;

	for (size_t i = 0; i < s->n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
					"%s %ld %lld\n", s->r[i].addr,
					s->r[i].failures, s->r[i].next);
	state_path(path, sizeof(path), cli);
	return cli_write_file(path, buf, off);
}

static struct retry *state_find(struct state *s, const char *addr)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->r[i].addr, addr) == 0)
			return &s->r[i];
	return NULL;
}

static void state_forget(struct state *s, const char *addr)
{
	struct retry *r = state_find(s, addr);

	if (r != NULL)
		*r = s->r[--s->n];
}

/* One more failure for ADDR at NOW; returns the time of the next try. */
static long long state_failed(struct state *s, const char *addr, long long now)
{
	struct retry *r = state_find(s, addr);
	long long pause = RETRY_FIRST;

	if (r == NULL) {
		if (s->n == MAX_ADDRS)
			return now + RETRY_FIRST;
		r = &s->r[s->n++];
		snprintf(r->addr, sizeof(r->addr), "%s", addr);
		r->failures = 0;
	}
	r->failures++;
	for (long i = 1; i < r->failures && pause < RETRY_MAX; i++)
		pause *= 2;
	if (pause > RETRY_MAX)
		pause = RETRY_MAX;
	r->next = now + pause;
	return r->next;
}

/* ---- what is due ---- */

/* "2026-01-31", "2026-01-31T12:00:00Z" or "@1767225600"; -1 if not. */
static long long parse_when(const char *s)
{
	struct tm tm = { 0 };
	const char *end;
	char *e;

	if (s[0] == '@') {
		long long v;

		errno = 0;
		v = strtoll(s + 1, &e, 10);
		return (s[1] == '\0' || *e != '\0' || errno || v < 0) ? -1 : v;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end != NULL && *end == 'T')
		end = strptime(end, "T%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return (long long)timegm(&tm);
}

struct due_scan {
	char addrs[MAX_ADDRS][320];
	size_t n;
	int too_many;
};

/* Collect the addresses of CA-issued identities (not self-signed). */
static int collect(void *arg, const struct ll_cert *c)
{
	struct due_scan *d = arg;
	const char *a = ll_cert_email(c);

	if (a[0] == '\0' || ll_cert_self_issued(c))
		return 0;
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->addrs[i], a) == 0)
			return 0;
	if (d->n == MAX_ADDRS) {
		d->too_many = 1;
		return 0;
	}
	snprintf(d->addrs[d->n++], sizeof(d->addrs[0]), "%s", a);
	return 0;
}

/* The newest certificate for ADDR in the home, valid or not. */
struct newest {
	const char *addr;
	const struct ll_ctx *ctx; /* what the home knows revoked */
	long long nb, na;
	char fpr[65];
	enum ll_keytype type;
	int have_type;
	int revoked;
};

static int find_newest(void *arg, const struct ll_cert *c)
{
	struct newest *w = arg;
	char kn[32];

	/* a self-made identity is not the CA's to renew, and must not
	 * hide a CA certificate that runs out */
	if (!ll_cert_matches_email(c, w->addr) || ll_cert_self_issued(c) ||
	    (w->fpr[0] != '\0' && ll_cert_not_before(c) < w->nb))
		return 0;
	w->nb = ll_cert_not_before(c);
	w->na = ll_cert_not_after(c);
	snprintf(w->fpr, sizeof(w->fpr), "%s", ll_cert_fingerprint(c));
	w->revoked = ll_ctx_is_revoked(w->ctx, c);
	w->have_type = enrol_parse_keytype(&w->type,
					   ll_cert_key_name(c, kn,
							    sizeof(kn))) == 0;
	return 0;
}

/*
 * Is a certificate valid from NB to NA due at NOW?  When 30 days are
 * left; a certificate that lives less than 90 days, when a third of its
 * life is left (else it would be due as soon as it is issued).
 */
static int is_due(long long nb, long long na, long long now)
{
	long long left = na - now, life = na - nb;
	long long before = (long long)RENEW_DAYS * 86400;

	if (life / RENEW_PART < before)
		before = life / RENEW_PART;
	return left <= before;
}

/* ---- the command ---- */

struct renew {
	struct cli *cli;
	struct proof base; /* the options, copied for each address */
	long long now;
	int force, dry_run, have_type;
	int stale; /* the backup lacks a renewed key */
	int settled; /* settle(): 1 done, -1 failed, 0 not yet */
	enum ll_keytype type;
	struct state state;
};

/* ---- the backup after a renewal ----
 *
 * A backup that could not take the new key (the vault unreachable, or
 * a backup of another address, whose proof the renewal did not make)
 * is recorded in HOME/renewal as the line "backup 1 0": the renewal
 * stands but renew exits 6, and every later run tries
 * `letterlock backup --refresh` with the same settings until it works.
 */
#define STALE "backup"

static void backup_stale(struct renew *r)
{
	proof_fail(&r->base, 0,
		   "the backup does not hold the new key yet; renew tries "
		   "again each run (or: letterlock backup --refresh)");
	if (state_find(&r->state, STALE) == NULL)
		state_failed(&r->state, STALE, 0);
	r->stale = 1;
}

/* The CA and mailbox settings, read once when the first thing to do
 * needs them (a home with nothing due needs none: the bridge runs
 * renew whatever the home holds).  0 or an exit code, said. */
static int settle(struct renew *r)
{
	if (r->settled)
		return r->settled < 0 ? EXIT_USAGE : 0;
	r->settled = -1;
	if (proof_settle(&r->base, NULL) != 0)
		return EXIT_USAGE;
	if (r->base.pwfile == NULL)
		return proof_fail(&r->base, EXIT_USAGE,
				  "renew does not ask for the mail password: "
				  "give --mail-password-file F or [mail] "
				  "password_file");
	r->settled = 1;
	return 0;
}

/* letterlock backup --refresh with renew's own settings. */
static int refresh_backup(struct renew *r)
{
	const struct proof *b = &r->base;
	const char *opt[] = { "--acme",	      b->acme_url,
			      "--acme-ca-file", b->acme_ca,
			      "--imap-url",	      b->imap_url,
			      "--smtp-url",	      b->smtp_url,
			      "--mail-user",    b->user,
			      "--mail-password-file", b->pwfile,
			      "--mail-ca-file", b->mail_ca,
			      "--config",	      b->config };
	char *argv[2 + 2 * 8 + 3], timeout[16];
	int argc = 0;

	argv[argc++] = "backup";
	argv[argc++] = "--refresh";
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i += 2)
		if (opt[i + 1] != NULL) {
			argv[argc++] = (char *)opt[i];
			argv[argc++] = (char *)opt[i + 1];
		}
	snprintf(timeout, sizeof(timeout), "%d", b->timeout);
	argv[argc++] = "--timeout";
	argv[argc++] = timeout;
	argv[argc] = NULL;
	return cmd_backup(r->cli, argc, argv);
}

static int renew_one(struct renew *r, const char *addr)
{
	struct newest w = { .addr = addr, .ctx = r->base.ctx };
	struct ll_error err = { 0 };
	struct retry *t = state_find(&r->state, addr);
	char when[64];
	struct proof *p;
	int rc, due_now;

	rc = ll_keystore_foreach(r->base.ks, LL_KS_IDENTITY, find_newest, &w,
				 &err);
	if (rc < 0)
		return cli_fail(r->cli, "reading the home", &err);
	if (w.fpr[0] == '\0')
		return proof_fail(&r->base, EXIT_USAGE,
				  "%s: no identity in the home (use enrol)",
				  addr);
	proof_fmt_time(when, sizeof(when), w.na);
	if (w.revoked)
		/* a revoked certificate (letterlock revoke, or its CA's
		 * answer) is due at once, however long it had left */
		snprintf(when + strlen(when), sizeof(when) - strlen(when),
			 ", revoked");
	/* an earlier renewal that stopped between the CA's issuing and
	 * the install: finished now, due or not */
	due_now = w.revoked;
	if (!r->dry_run && proof_address(&r->base, addr) == 0 &&
	    enrol_pending(&r->base)) {
		proof_say(&r->base,
			  "%s: an earlier renewal was not finished", addr);
		due_now = 1;
	}
	if (!r->force && !due_now && !is_due(w.nb, w.na, r->now)) {
		proof_say(&r->base, "%s: not due (valid until %s)", addr, when);
		return EXIT_OK;
	}
	if (!r->force && t != NULL && t->next > r->now) {
		char next[40];

		proof_fmt_time(next, sizeof(next), t->next);
		return proof_fail(&r->base, EXIT_WAIT,
				  "%s: due (valid until %s); %ld renewal "
				  "attempt%s failed, next try after %s",
				  addr, when, t->failures,
				  t->failures == 1 ? "" : "s", next);
	}
	proof_say(&r->base, "%s: due (valid until %s)%s", addr, when,
		  r->dry_run ? "; not renewing (--dry-run)" : "");
	if (r->dry_run)
		return EXIT_OK;

	rc = settle(r);
	if (rc != 0)
		return rc;
	p = malloc(sizeof(*p));
	if (p == NULL)
		return proof_fail(&r->base, EXIT_FAIL, "out of memory");
	*p = r->base;
	/* P opens its own connections; it shares nothing it frees */
	p->ks = NULL;
	p->ctx = NULL;
	memset(&p->conf, 0, sizeof(p->conf));
	rc = proof_address(p, addr);
	if (rc == 0)
		rc = proof_connect(p);
	if (rc == 0)
		rc = enrol_issue(p, r->have_type ? r->type :
				    w.have_type	 ? w.type :
						   LL_KEY_RSA3072);
	/* the new key joins the backup, if one was made (the renewal's
	 * mailbox proof is fresh enough for the vault) */
	if (rc == 0 && backup_refresh(p) != 0)
		backup_stale(r);
	proof_clear(p);
	free(p);
	if (rc == 0) {
		proof_say(&r->base,
			  "%s: renewed; the old key (sha256 %s) stays for "
			  "mail sealed to it",
			  addr, w.fpr);
		state_forget(&r->state, addr);
	} else {
		long long next = state_failed(&r->state, addr, r->now);
		char at[40];

		proof_fmt_time(at, sizeof(at), next);
		proof_fail(&r->base, rc,
			   "%s: renewal failed; the current certificate "
			   "stays, next try after %s",
			   addr, at);
	}
	if (state_write(&r->state, r->cli) < 0)
		proof_fail(&r->base, 0, "could not record the renewal state");
	return rc;
}

static int renew_all(struct renew *r, int argc, char **argv)
{
	struct due_scan *d;
	struct ll_error err = { 0 };
	int rc = EXIT_OK, one;

	state_read(&r->state, r->cli);
	if (!r->dry_run && state_find(&r->state, STALE) != NULL) {
		proof_say(&r->base, "the backup lacks a renewed key: "
				    "refreshing it");
		if (settle(r) == 0 && refresh_backup(r) == 0) {
			state_forget(&r->state, STALE);
			if (state_write(&r->state, r->cli) < 0)
				proof_fail(&r->base, 0,
					   "could not record the renewal "
					   "state");
		} else {
			r->stale = 1;
		}
	}
	if (argc > 0) {
		for (int i = 0; i < argc; i++) {
			one = renew_one(r, argv[i]);
			if (one != EXIT_OK && rc != EXIT_FAIL)
				rc = one;
		}
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return proof_fail(&r->base, EXIT_FAIL, "out of memory");
	if (ll_keystore_foreach(r->base.ks, LL_KS_IDENTITY, collect, d, &err) <
	    0) {
		free(d);
		return cli_fail(r->cli, "reading the home", &err);
	}
	if (d->too_many)
		proof_fail(&r->base, 0,
			   "more than %d addresses: renewing the first %d",
			   MAX_ADDRS, MAX_ADDRS);
	if (d->n == 0)
		proof_say(&r->base, "no CA-issued certificate in the home");
	for (size_t i = 0; i < d->n; i++) {
		one = renew_one(r, d->addrs[i]);
		if (one != EXIT_OK && rc != EXIT_FAIL)
			rc = one;
	}
	free(d);
	return rc;
}

int cmd_renew(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PROOF_LONG_OPTIONS,
		{ "key-type", required_argument, NULL, 'k' },
		{ "force", no_argument, NULL, 'f' },
		{ "now", required_argument, NULL, 'n' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct renew *r;
	int c, rc = 0;

	if (cli_wants_help(argc, argv)) {
		fputs(renew_usage, stdout);
		fputs(proof_options_help, stdout);
		fputs(renew_usage_tail, stdout);
		return EXIT_OK;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		fputs("renew: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	r->cli = cli;
	r->now = (long long)time(NULL);
	proof_init(&r->base, cli, "renew");
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int took = proof_option(&r->base, c, optarg);

		if (took != 0) {
			rc = took < 0 ? EXIT_USAGE : 0;
			continue;
		}
		switch (c) {
		case 'k':
			if (enrol_parse_keytype(&r->type, optarg) < 0)
				rc = proof_fail(&r->base, EXIT_USAGE,
						"unknown key type %s (rsa3072, "
						"rsa2048, p256)",
						optarg);
			r->have_type = 1;
			break;
		case 'f':
			r->force = 1;
			break;
		case 'd':
			r->dry_run = 1;
			break;
		case 'n':
			r->now = parse_when(optarg);
			if (r->now < 0)
				rc = proof_fail(&r->base, EXIT_USAGE,
						"--now takes YYYY-MM-DD, "
						"YYYY-MM-DDTHH:MM:SSZ or "
						"@SECONDS");
			break;
		default:
			rc = EXIT_USAGE;
			break;
		}
	}
	if (rc == 0)
		rc = proof_open_home(&r->base);
	if (rc == 0)
		rc = renew_all(r, argc - optind, argv + optind);
	if (rc == EXIT_OK && r->stale)
		rc = EXIT_FAIL; /* said where it happened */
	proof_clear(&r->base);
	free(r);
	return rc;
}
