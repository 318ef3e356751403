/*
 * account.c - the bridge's accounts, HOME/accounts.conf, and
 * `letterlock account add|list|remove` that writes it.
 *
 * One INI section per account, named by its address:
 *
 *   [alice@example.org]
 *   imap_url = imaps://imap.example.org
 *   smtp_url = smtp://smtp.example.org:587      (STARTTLS required)
 *   user = alice                                (default: the address)
 *   ca_file = HOME/bridge/ca/alice@example.org.pem   (pinned CA)
 *   policy = refuse                             (default: [send] policy)
 *   domain_policy = example.net:sign-only
 *
 * The file belongs to `letterlock account`, which writes it whole (a
 * hand edit survives only if it keeps to these keys).  The upstream
 * password is never in it: it is a keystore secret, sealed under the
 * home's master key (bridge_account_secret names it).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <letterlock/ca.h>
#include <openssl/crypto.h>

#include "bridge.h"

static const char account_usage[] =
	"usage: letterlock account add ADDRESS --imap-url URL --smtp-url URL\n"
	"                              [--user U] [--password-file F]\n"
	"                              [--ca-file F] [--policy P]\n"
	"                              [--domain-policy LIST]\n"
	"       letterlock account list\n"
	"       letterlock account remove ADDRESS\n"
	"\n"
	"The mailboxes `letterlock bridge` serves (HOME/accounts.conf).  A\n"
	"mail client logs in to the bridge as ADDRESS with the bridge\n"
	"password (`letterlock bridge --show-password`); the bridge logs in\n"
	"upstream as --user (default ADDRESS) with the password of\n"
	"--password-file, kept encrypted in the keystore.\n"
	"\n"
	"  --imap-url URL     imaps://HOST[:PORT] (TLS), or imap:// (STARTTLS)\n"
	"  --smtp-url URL     smtps://HOST[:PORT] (TLS), or smtp:// (STARTTLS)\n"
	"  --ca-file F        trust this CA (PEM) for the servers besides the\n"
	"                     system's (copied into the home)\n"
	"  --policy P         a recipient without certificate: sign-only or\n"
	"                     refuse (default: [send] policy)\n"
	"  --domain-policy L  per recipient domain: \"example.org:refuse,\n"
	"                     example.net:sign-only\"\n"
	"\n"
	"Exit: 0 done; 2 usage; 6 failure.\n";

static const struct {
	const char *key;
	size_t field;
} fields[] = {
	{ "imap_url", offsetof(struct bridge_account, imap_url) },
	{ "smtp_url", offsetof(struct bridge_account, smtp_url) },
	{ "user", offsetof(struct bridge_account, user) },
	{ "ca_file", offsetof(struct bridge_account, ca_file) },
	{ "policy", offsetof(struct bridge_account, policy) },
	{ "domain_policy", offsetof(struct bridge_account, domain_policy) },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static char **field(struct bridge_account *a, size_t i)
{
	return (char **)((char *)a + fields[i].field);
}

struct reader {
	struct bridge_account *v;
	size_t n;
	const char *home;
	char why[160];
};

/* An address fit for a section name and a directory name: printable
 * ASCII, or an internationalised address (RFC 6531: UTF-8 that the CA
 * could certify, as an SmtpUTF8Mailbox). */
static int good_address(const char *a)
{
	const char *at = strchr(a, '@'), *addr = a;
	char canon[320];
	int utf8 = 0;

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') ||
	    a[0] == '.' || strlen(a) >= 255)
		return 0;
	for (; *a != '\0'; a++) {
		if ((unsigned char)*a >= 0x80) {
			utf8 = 1;
			continue;
		}
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a == 0x7f ||
		    strchr("/\\[]\"'<>;,=", *a) != NULL)
			return 0;
	}
	return !utf8 || ll_ca_mailbox_canonical(canon, sizeof(canon), NULL,
						addr, NULL) == 0;
}

static struct bridge_account *find(struct bridge_account *v, size_t n,
				   const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i].address, address) == 0)
			return &v[i];
	return NULL;
}

/* A new account ADDRESS at the end of R's list. */
static struct bridge_account *append(struct reader *r, const char *address)
{
	struct bridge_account *nv, *a;
	char q[PATH_MAX];

	if (r->n >= BRIDGE_ACCOUNTS_MAX)
		return NULL;
	nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	r->v = nv;
	a = &r->v[r->n];
	memset(a, 0, sizeof(*a));
	snprintf(q, sizeof(q), "%s/bridge/queue/%s", r->home, address);
	a->address = strdup(address);
	a->queue_home = strdup(q);
	r->n++;
	return a->address && a->queue_home ? a : NULL;
}

static int on_key(void *user, const char *section, const char *key,
		  const char *v)
{
	struct reader *r = user;
	struct bridge_account *a;

	if (!good_address(section)) {
		snprintf(r->why, sizeof(r->why), "[%.60s]: not an address",
			 section);
		return 0;
	}
	a = find(r->v, r->n, section);
	if (a == NULL)
		a = append(r, section);
	if (a == NULL) {
		snprintf(r->why, sizeof(r->why), "more than %d accounts",
			 BRIDGE_ACCOUNTS_MAX);
		return 0;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		char **f = field(a, i);

		if (strcmp(key, fields[i].key) != 0)
			continue;
		if (*f == NULL)
			*f = strdup(v);
		return 1;
	}
	snprintf(r->why, sizeof(r->why), "[%.60s]: unknown key %.40s", section,
		 key);
	return 0;
}

void bridge_accounts_free(struct bridge_account **pp, size_t n)
{
	struct bridge_account *v = *pp;

	for (size_t i = 0; v != NULL && i < n; i++) {
		free(v[i].address);
		free(v[i].queue_home);
		for (size_t k = 0; k < NFIELDS; k++)
			free(*field(&v[i], k));
	}
	free(v);
	*pp = NULL;
}

int bridge_accounts_read(struct bridge_account **out, size_t *n,
			 const char *home)
{
	struct reader r = { .home = home };
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/accounts.conf", home);
	if (access(path, F_OK) != 0)
		return 0;
	rc = ini_parse(path, on_key, &r);
	if (rc != 0) {
		if (rc == -1)
			fprintf(stderr, "letterlock: %s: %s\n", path,
				strerror(errno));
		else
			fprintf(stderr, "letterlock: %s:%d: %s\n", path, rc,
				r.why[0] ? r.why : "syntax error");
		bridge_accounts_free(&r.v, r.n);
		return -1;
	}
	for (size_t i = 0; i < r.n; i++) {
		if (r.v[i].smtp_url == NULL || r.v[i].imap_url == NULL) {
			fprintf(stderr,
				"letterlock: %s: [%s] needs imap_url and "
				"smtp_url\n",
				path, r.v[i].address);
			bridge_accounts_free(&r.v, r.n);
			return -1;
		}
	}
	*out = r.v;
	*n = r.n;
	return 0;
}

void bridge_account_secret(char *out, size_t size, const char *address)
{
	snprintf(out, size, "bridge/%s/password", address);
}

char *bridge_account_password(const char *home, const char *address)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	unsigned char *data = NULL;
	char name[320], *pw = NULL;
	size_t len = 0;

	bridge_account_secret(name, sizeof(name), address);
	if (ll_keystore_open(&ks, home, &err) == 0 &&
	    ll_keystore_get_secret(&data, &len, ks, name, &err) == 0) {
		pw = len > 0 ? malloc(len + 1) : NULL; /* "": removed */
		if (pw != NULL) {
			memcpy(pw, data, len);
			pw[len] = '\0';
		}
		ll_wipe_free(data, len);
	}
	ll_keystore_close(&ks);
	return pw;
}

/* The accounts as INI text, written whole. */
static int write_accounts(const char *home, struct bridge_account *v, size_t n)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (f == NULL)
		return -1;
	fputs("# letterlock bridge accounts: written by `letterlock account`"
	      "\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "\n[%s]\n", v[i].address);
		for (size_t k = 0; k < NFIELDS; k++)
			if (*field(&v[i], k) != NULL)
				fprintf(f, "%s = %s\n", fields[k].key,
					*field(&v[i], k));
	}
	if (fclose(f) != 0) {
		free(text);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/accounts.conf", home);
	rc = cli_write_file(path, text, len);
	free(text);
	return rc;
}

static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vsay(0, "letterlock: account", fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

/* Copy the CA file FROM to HOME/bridge/ca/ADDRESS.pem (its path into
 * TO), after checking it holds a certificate. */
static int pin_ca(char to[PATH_MAX], const char *home, const char *address,
		  const char *from)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	if (cli_read_file(&data, &len, from, 1024 * 1024) < 0)
		return -1;
	if (strstr(data, "-----BEGIN CERTIFICATE-----") == NULL) {
		free(data);
		return say("%s: no PEM certificate in it", from);
	}
	snprintf(to, PATH_MAX, "%s/bridge", home);
	mkdir(to, 0700);
	snprintf(to, PATH_MAX, "%s/bridge/ca", home);
	mkdir(to, 0700);
	snprintf(to, PATH_MAX, "%s/bridge/ca/%s.pem", home, address);
	rc = cli_write_file(to, data, len);
	free(data);
	return rc;
}

static int check_url(const char *url, const char *plain, const char *tls)
{
	size_t p = strlen(plain), t = strlen(tls);

	return (strncasecmp(url, plain, p) == 0 &&
		strncmp(url + p, "://", 3) == 0) ||
	       (strncasecmp(url, tls, t) == 0 &&
		strncmp(url + t, "://", 3) == 0);
}

static int add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "imap-url", required_argument, NULL, 'i' },
		{ "smtp-url", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'P' },
		{ "domain-policy", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *imap = NULL, *smtp = NULL, *user = NULL, *pwfile = NULL,
		   *ca = NULL, *policy = NULL, *dpolicy = NULL, *address;
	struct reader r = { .home = cli->home };
	struct bridge_account *a;
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	char pw[1024], name[320], capath[PATH_MAX];
	int c, rc = EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			imap = optarg;
			break;
		case 's':
			smtp = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'p':
			pwfile = optarg;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'P':
			policy = optarg;
			break;
		case 'D':
			dpolicy = optarg;
			break;
		default:
			fputs(account_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || imap == NULL || smtp == NULL) {
		fputs(account_usage, stderr);
		return EXIT_USAGE;
	}
	address = argv[optind];
	if (!good_address(address)) {
		say("not an address: %.200s", address);
		return EXIT_USAGE;
	}
	if (!check_url(imap, "imap", "imaps") ||
	    !check_url(smtp, "smtp", "smtps") || strpbrk(imap, "\r\n") ||
	    strpbrk(smtp, "\r\n") || (user && strpbrk(user, "\r\n[]=")) ||
	    (policy && strcmp(policy, "refuse") != 0 &&
	     strcmp(policy, "sign-only") != 0) ||
	    (dpolicy && strpbrk(dpolicy, "\r\n"))) {
		say("--imap-url imap[s]://HOST[:PORT], --smtp-url "
		    "smtp[s]://HOST[:PORT], --policy sign-only|refuse");
		return EXIT_USAGE;
	}
	if (bridge_accounts_read(&r.v, &r.n, cli->home) < 0)
		return EXIT_FAIL;
	if (find(r.v, r.n, address) != NULL) {
		say("%s is an account already (account remove %s first)",
		    address, address);
		goto out;
	}
	if (pwfile != NULL) {
		int p = cli_read_password(pw, sizeof(pw), pwfile);

		if (p == -2)
			say("%s: the password is too long", pwfile);
		if (p < 0)
			goto out;
		bridge_account_secret(name, sizeof(name), address);
		if (cli_open_home(&ks, NULL, cli, 0) != 0)
			goto out;
		if (ll_keystore_put_secret(ks, name, pw, strlen(pw), &err) <
		    0) {
			cli_fail(cli, "storing the password", &err);
			goto out;
		}
	}
	if (ca != NULL && pin_ca(capath, cli->home, address, ca) < 0)
		goto out;
	a = append(&r, address);
	if (a == NULL) {
		say("more than %d accounts", BRIDGE_ACCOUNTS_MAX);
		goto out;
	}
	a->imap_url = strdup(imap);
	a->smtp_url = strdup(smtp);
	a->user = user ? strdup(user) : NULL;
	a->ca_file = ca ? strdup(capath) : NULL;
	a->policy = policy ? strdup(policy) : NULL;
	a->domain_policy = dpolicy ? strdup(dpolicy) : NULL;
	if (write_accounts(cli->home, r.v, r.n) < 0)
		goto out;
	printf("%s: added (IMAP %s, SMTP %s%s)\n", address, imap, smtp,
	       pwfile ? ", password in the keystore" : ", no password");
	rc = EXIT_OK;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	ll_keystore_close(&ks);
	bridge_accounts_free(&r.v, r.n);
	return rc;
}

/* What a URL says of TLS, with mailbox.h's rule: plain to this
 * machine only without a CA file. */
static const char *tls_mode(const char *url, const char *ca_file)
{
	const char *h = strstr(url, "://");
	size_t n;

	if (strncasecmp(url, "imaps:", 6) == 0 ||
	    strncasecmp(url, "smtps:", 6) == 0)
		return "TLS";
	if (h == NULL || ca_file != NULL)
		return "STARTTLS";
	h += 3;
	n = strcspn(h, ":/");
	if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
	    strncmp(h, "127.", 4) == 0 || strncmp(h, "[::1]", 5) == 0)
		return "plain: this machine";
	return "STARTTLS";
}

static int list(struct cli *cli)
{
	struct bridge_account *v = NULL;
	size_t n = 0;

	if (bridge_accounts_read(&v, &n, cli->home) < 0)
		return EXIT_FAIL;
	for (size_t i = 0; i < n; i++) {
		char *pw = bridge_account_password(cli->home, v[i].address);

		printf("%s  imap %s (%s)  smtp %s (%s)  user %s%s%s  policy "
		       "%s%s%s  %s\n",
		       v[i].address, v[i].imap_url,
		       tls_mode(v[i].imap_url, v[i].ca_file), v[i].smtp_url,
		       tls_mode(v[i].smtp_url, v[i].ca_file),
		       v[i].user ? v[i].user : v[i].address,
		       v[i].ca_file ? "  ca " : "",
		       v[i].ca_file ? v[i].ca_file : "",
		       v[i].policy ? v[i].policy : "default",
		       v[i].domain_policy ? "  domains " : "",
		       v[i].domain_policy ? v[i].domain_policy : "",
		       pw ? "password stored" : "no password");
		if (pw != NULL)
			ll_wipe_free(pw, strlen(pw));
	}
	bridge_accounts_free(&v, n);
	return EXIT_OK;
}

static int remove_account(struct cli *cli, const char *address)
{
	struct bridge_account *v = NULL, *a;
	size_t n = 0;
	int rc = EXIT_FAIL;

	if (bridge_accounts_read(&v, &n, cli->home) < 0)
		return EXIT_FAIL;
	a = find(v, n, address);
	if (a == NULL) {
		say("no account %.200s", address);
		goto out;
	}
	if (a->ca_file != NULL)
		unlink(a->ca_file);
	free(a->address);
	free(a->queue_home);
	for (size_t k = 0; k < NFIELDS; k++)
		free(*field(a, k));
	memmove(a, a + 1, (size_t)(&v[n] - (a + 1)) * sizeof(*a));
	n--;
	if (write_accounts(cli->home, v, n) == 0) {
		/* the password: an empty secret replaces it */
		struct ll_keystore *ks = NULL;
		struct ll_error err = { 0 };
		char name[320];

		bridge_account_secret(name, sizeof(name), address);
		if (cli_open_home(&ks, NULL, cli, 0) == 0)
			ll_keystore_put_secret(ks, name, "", 0, &err);
		ll_keystore_close(&ks);
		printf("%s: removed\n", address);
		rc = EXIT_OK;
	}
out:
	bridge_accounts_free(&v, n);
	return rc;
}

int cmd_account(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(account_usage, stdout);
		return EXIT_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return add(cli, argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return list(cli);
	if (argc == 3 && strcmp(argv[1], "remove") == 0)
		return remove_account(cli, argv[2]);
	fputs(account_usage, stderr);
	return EXIT_USAGE;
}
