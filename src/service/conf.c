/*
 * conf.c - letterlockd.conf(5): an INI file read with inih.
 *
 *   [ca]
 *   name = Example CA
 *   base_url = http://127.0.0.1:8080
 *   crl_url = http://127.0.0.1:8080/crl/smime-ca.crl
 *   ocsp_url = http://127.0.0.1:8080/ocsp
 *   ca_issuers_url = http://127.0.0.1:8080/ca/smime-ca.crt
 *   validity_days = 365
 *   [store]
 *   path = /var/lib/letterlockd/letterlockd.db   (SQLite; or a URI
 *          postgresql://user@host/db: PostgreSQL)
 *   [http]
 *   listen = 127.0.0.1:8080
 *   public_url = https://ca.example.test   (ACME's URLs; default base_url)
 *   tls_cert = /etc/letterlockd/https.pem   (optional; plain HTTP only
 *   tls_key = /etc/letterlockd/https.key     on a loopback address)
 *   [mail]
 *   from = acme@ca.test
 *   smtp_url = smtp://127.0.0.1:2587
 *   imap_url = imap://127.0.0.1:2143/INBOX
 *   user = acme@ca.test
 *   password_file = /etc/letterlockd/mail.password
 *   ca_file = /etc/letterlockd/mail-ca.pem
 *   poll_interval = 2
 *   [dns]
 *   resolver_conf = /etc/letterlockd/unbound.conf
 *   caa_identity = ca.test
 *   [tsa]
 *   policy = 2.25.175829550596380132787688150051185589430   (tsa.h)
 *   [pkx]
 *   rate = 120        (requests a minute per client; 0 no limit)
 *   burst = 200
 *   max_age = 300
 *   clients = 65536
 *   cache = 32        (MiB of lookup answers kept; 0 none)
 *   [vault]
 *   fresh = 3600      (seconds a mailbox proof opens the vault)
 *   keep = 2          (versions kept before the current one)
 *   window = 3600     (seconds over which reads are counted)
 *   reads_per_address = 10
 *   reads_per_account = 20
 *
 * Unknown sections and keys are errors (a typo must not silently
 * leave a default in force).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "pkx.h"
#include "service.h"
#include "tsa.h"
#include "vault.h"

struct load {
	struct lld_conf *c;
	char why[200];
	int seen_base, seen_crl, seen_ocsp, seen_issuers;
};

int lld_public_url_ok(const char *s)
{
	size_t n = strlen(s);

	if (strncmp(s, "https://", 8) == 0) {
		char h[LLD_URL_MAX + 1];

		if (n > LLD_URL_MAX)
			return 0;
		/* the same rules as an http URL */
		snprintf(h, sizeof(h), "http://%s", s + 8);
		return lld_http_url_ok(h) && s[n - 1] != '/';
	}
	return lld_http_url_ok(s) && s[n - 1] != '/';
}

int lld_http_url_ok(const char *s)
{
	size_t n = strlen(s);

	if (n <= 7 || n > LLD_URL_MAX || strncmp(s, "http://", 7) != 0 ||
	    s[7] == '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	return 1;
}

static void pkx_defaults(struct lld_conf *c)
{
	c->pkx_rate = LLD_PKX_RATE_DEFAULT;
	c->pkx_burst = LLD_PKX_BURST_DEFAULT;
	c->pkx_max_age = LLD_PKX_MAX_AGE_DEFAULT;
	c->pkx_clients = LLD_PKX_CLIENTS_DEFAULT;
	c->pkx_cache = LLD_PKX_CACHE_DEFAULT;
	c->vault_fresh = LLD_VAULT_FRESH_DEFAULT;
	c->vault_keep = LLD_VAULT_KEEP_DEFAULT;
	c->vault_window = LLD_VAULT_WINDOW_DEFAULT;
	c->vault_reads_address = LLD_VAULT_READS_ADDRESS_DEFAULT;
	c->vault_reads_account = LLD_VAULT_READS_ACCOUNT_DEFAULT;
}

void lld_conf_defaults(struct lld_conf *c, const char *name, const char *base,
		       const char *dir)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->base_url, sizeof(c->base_url), "%s", base);
	snprintf(c->crl_url, sizeof(c->crl_url), "%s/crl/smime-ca.crl", base);
	snprintf(c->ocsp_url, sizeof(c->ocsp_url), "%s/ocsp", base);
	snprintf(c->ca_issuers_url, sizeof(c->ca_issuers_url),
		 "%s/ca/smime-ca.crt", base);
	c->validity_days = LL_CA_DEFAULT_DAYS;
	snprintf(c->store_path, sizeof(c->store_path), "%s/letterlockd.db",
		 dir);
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	snprintf(c->public_url, sizeof(c->public_url), "%s", base);
	c->poll_interval = 2;
	pkx_defaults(c);
}

static int set_str(struct load *l, char *dst, size_t cap, const char *key,
		   const char *v)
{
	if (strlen(v) >= cap) {
		snprintf(l->why, sizeof(l->why), "%s is too long", key);
		return 0;
	}
	strcpy(dst, v);
	return 1;
}

static int set_url(struct load *l, char *dst, const char *key, const char *v,
		   int *seen)
{
	if (!lld_http_url_ok(v)) {
		snprintf(l->why, sizeof(l->why),
			 "%s must be an http URL of at most %d characters "
			 "(S/MIME BR 7.1.2.3 b, c)",
			 key, LLD_URL_MAX);
		return 0;
	}
	*seen = 1;
	return set_str(l, dst, LLD_URL_MAX + 1, key, v);
}

/* A dotted OID: digits and dots, at least two arcs, the first 0..2. */
static int set_oid(struct load *l, char *dst, const char *key, const char *v)
{
	int dots = 0, ok = v[0] >= '0' && v[0] <= '2' && v[1] == '.';

	for (const char *c = v; ok && *c != '\0'; c++) {
		if (*c == '.') {
			dots++;
			ok = c[1] >= '0' && c[1] <= '9';
		} else {
			ok = *c >= '0' && *c <= '9';
		}
	}
	if (!ok || dots < 1 || strlen(v) > LLD_TSA_POLICY_MAX) {
		snprintf(l->why, sizeof(l->why),
			 "%s must be an OID in dotted form, at most %d "
			 "characters",
			 key, LLD_TSA_POLICY_MAX);
		return 0;
	}
	return set_str(l, dst, LLD_URL_MAX + 1, key, v);
}

static int set_int(struct load *l, int *dst, const char *key, const char *v,
		   long lo, long hi)
{
	char *end = NULL;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi) {
		snprintf(l->why, sizeof(l->why), "%s must be %ld to %ld", key,
			 lo, hi);
		return 0;
	}
	*dst = (int)n;
	return 1;
}

/* inih calls this for every name = value; 0 stops with an error. */
static int on_value(void *user, const char *section, const char *key,
		    const char *v)
{
	struct load *l = user;
	struct lld_conf *c = l->c;
	char *end = NULL;
	long days;

	if (strcmp(section, "ca") == 0) {
		if (strcmp(key, "name") == 0)
			return set_str(l, c->name, sizeof(c->name), key, v);
		if (strcmp(key, "base_url") == 0)
			return set_url(l, c->base_url, key, v, &l->seen_base);
		if (strcmp(key, "crl_url") == 0)
			return set_url(l, c->crl_url, key, v, &l->seen_crl);
		if (strcmp(key, "ocsp_url") == 0)
			return set_url(l, c->ocsp_url, key, v, &l->seen_ocsp);
		if (strcmp(key, "ca_issuers_url") == 0)
			return set_url(l, c->ca_issuers_url, key, v,
				       &l->seen_issuers);
		if (strcmp(key, "validity_days") == 0) {
			errno = 0;
			days = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' ||
			    days < 1 || days > LL_CA_MAX_DAYS) {
				snprintf(l->why, sizeof(l->why),
					 "validity_days must be 1 to %d "
					 "(S/MIME BR 6.3.2)",
					 LL_CA_MAX_DAYS);
				return 0;
			}
			c->validity_days = (int)days;
			return 1;
		}
	} else if (strcmp(section, "store") == 0) {
		if (strcmp(key, "path") == 0)
			return set_str(l, c->store_path, sizeof(c->store_path),
				       key, v);
	} else if (strcmp(section, "http") == 0) {
		if (strcmp(key, "listen") == 0)
			return set_str(l, c->listen, sizeof(c->listen), key, v);
		if (strcmp(key, "public_url") == 0) {
			if (!lld_public_url_ok(v)) {
				snprintf(l->why, sizeof(l->why),
					 "public_url must be an http or https "
					 "URL without a final '/'");
				return 0;
			}
			return set_str(l, c->public_url, sizeof(c->public_url),
				       key, v);
		}
		if (strcmp(key, "tls_cert") == 0)
			return set_str(l, c->tls_cert, sizeof(c->tls_cert), key,
				       v);
		if (strcmp(key, "tls_key") == 0)
			return set_str(l, c->tls_key, sizeof(c->tls_key), key,
				       v);
	} else if (strcmp(section, "mail") == 0) {
		if (strcmp(key, "from") == 0)
			return set_str(l, c->mail_from, sizeof(c->mail_from),
				       key, v);
		if (strcmp(key, "smtp_url") == 0)
			return set_str(l, c->smtp_url, sizeof(c->smtp_url), key,
				       v);
		if (strcmp(key, "imap_url") == 0)
			return set_str(l, c->imap_url, sizeof(c->imap_url), key,
				       v);
		if (strcmp(key, "user") == 0)
			return set_str(l, c->mail_user, sizeof(c->mail_user),
				       key, v);
		if (strcmp(key, "password_file") == 0)
			return set_str(l, c->mail_password_file,
				       sizeof(c->mail_password_file), key, v);
		if (strcmp(key, "ca_file") == 0)
			return set_str(l, c->mail_ca_file,
				       sizeof(c->mail_ca_file), key, v);
		if (strcmp(key, "poll_interval") == 0)
			return set_int(l, &c->poll_interval, key, v, 1, 3600);
	} else if (strcmp(section, "dns") == 0) {
		if (strcmp(key, "resolver_conf") == 0)
			return set_str(l, c->resolver_conf,
				       sizeof(c->resolver_conf), key, v);
		if (strcmp(key, "caa_identity") == 0)
			return set_str(l, c->caa_identity,
				       sizeof(c->caa_identity), key, v);
	} else if (strcmp(section, "pkx") == 0) {
		if (strcmp(key, "rate") == 0)
			return set_int(l, &c->pkx_rate, key, v, 0, 1000000);
		/* a bucket holds one whole batch lookup at least */
		if (strcmp(key, "burst") == 0)
			return set_int(l, &c->pkx_burst, key, v,
				       LLD_PKX_BATCH_MAX, 1000000);
		if (strcmp(key, "max_age") == 0)
			return set_int(l, &c->pkx_max_age, key, v, 0, 86400);
		if (strcmp(key, "clients") == 0)
			return set_int(l, &c->pkx_clients, key, v, 1024,
				       1 << 24);
		if (strcmp(key, "cache") == 0)
			return set_int(l, &c->pkx_cache, key, v, 0, 4096);
	} else if (strcmp(section, "vault") == 0) {
		if (strcmp(key, "fresh") == 0)
			return set_int(l, &c->vault_fresh, key, v, 60, 86400);
		if (strcmp(key, "keep") == 0)
			return set_int(l, &c->vault_keep, key, v, 0, 10);
		if (strcmp(key, "window") == 0)
			return set_int(l, &c->vault_window, key, v, 60,
				       7 * 86400);
		if (strcmp(key, "reads_per_address") == 0)
			return set_int(l, &c->vault_reads_address, key, v, 1,
				       100000);
		if (strcmp(key, "reads_per_account") == 0)
			return set_int(l, &c->vault_reads_account, key, v, 1,
				       100000);
	} else if (strcmp(section, "tsa") == 0) {
		if (strcmp(key, "policy") == 0)
			return set_oid(l, c->tsa_policy, key, v);
	}
	snprintf(l->why, sizeof(l->why), "unknown key [%.40s] %.60s", section,
		 key);
	return 0;
}

int lld_conf_load(struct lld_conf *c, const char *dir)
{
	char path[LLD_PATH_MAX];
	struct load l = { 0 };
	struct lld_conf base;
	int rc;

	if (lld_path(path, sizeof(path), dir, LLD_CONF_NAME) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->validity_days = LL_CA_DEFAULT_DAYS;
	c->poll_interval = 2;
	pkx_defaults(c);
	l.c = c;
	rc = ini_parse(path, on_value, &l);
	if (rc == -1) {
		fprintf(stderr,
			LLD_PROG ": %s: %s (run `letterlockd init "
				 "--dir %s` first)\n",
			path, strerror(errno), dir);
		return -1;
	}
	if (rc != 0) {
		fprintf(stderr, LLD_PROG ": %s:%d: %s\n", path, rc,
			l.why[0] ? l.why : "syntax error");
		return -1;
	}
	if (c->name[0] == '\0' || !l.seen_base) {
		fprintf(stderr,
			LLD_PROG ": %s: [ca] name and base_url are "
				 "required\n",
			path);
		return -1;
	}
	/* URLs not given follow base_url (ca.h) */
	lld_conf_defaults(&base, c->name, c->base_url, dir);
	if (!l.seen_crl)
		strcpy(c->crl_url, base.crl_url);
	if (!l.seen_ocsp)
		strcpy(c->ocsp_url, base.ocsp_url);
	if (!l.seen_issuers)
		strcpy(c->ca_issuers_url, base.ca_issuers_url);
	if (c->store_path[0] == '\0')
		strcpy(c->store_path, base.store_path);
	if (c->listen[0] == '\0')
		strcpy(c->listen, base.listen);
	if (c->public_url[0] == '\0')
		strcpy(c->public_url, c->base_url);
	if (c->mail_user[0] == '\0')
		strcpy(c->mail_user, c->mail_from);
	if (c->tsa_policy[0] == '\0')
		strcpy(c->tsa_policy, LLD_TSA_POLICY_DEFAULT);
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
		fprintf(stderr,
			LLD_PROG ": %s: [http] tls_cert and tls_key go "
				 "together\n",
			path);
		return -1;
	}
	if (c->mail_from[0] != '\0' &&
	    (c->smtp_url[0] == '\0' || c->imap_url[0] == '\0')) {
		fprintf(stderr,
			LLD_PROG ": %s: [mail] from needs smtp_url and "
				 "imap_url\n",
			path);
		return -1;
	}
	if (!lld_http_url_ok(c->crl_url) || !lld_http_url_ok(c->ocsp_url) ||
	    !lld_http_url_ok(c->ca_issuers_url)) {
		fprintf(stderr,
			LLD_PROG ": %s: base_url is too long to derive "
				 "the other URLs from\n",
			path);
		return -1;
	}
	return 0;
}

int lld_conf_format(char **out, size_t *len, const struct lld_conf *c)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (f == NULL)
		return -1;
	fprintf(f,
		"# letterlockd.conf(5), written by `letterlockd init`.\n"
		"\n"
		"[ca]\n"
		"name = %s\n"
		"base_url = %s\n"
		"crl_url = %s\n"
		"ocsp_url = %s\n"
		"ca_issuers_url = %s\n"
		"validity_days = %d\n"
		"\n"
		"[store]\n"
		"path = %s\n"
		"\n"
		"[http]\n"
		"listen = %s\n",
		c->name, c->base_url, c->crl_url, c->ocsp_url,
		c->ca_issuers_url, c->validity_days, c->store_path, c->listen);
	if (c->public_url[0] != '\0' && strcmp(c->public_url, c->base_url) != 0)
		fprintf(f, "public_url = %s\n", c->public_url);
	if (c->tls_cert[0] != '\0')
		fprintf(f, "tls_cert = %s\ntls_key = %s\n", c->tls_cert,
			c->tls_key);
	if (c->mail_from[0] != '\0') {
		fprintf(f,
			"\n[mail]\nfrom = %s\nsmtp_url = %s\nimap_url = %s\n"
			"user = %s\npoll_interval = %d\n",
			c->mail_from, c->smtp_url, c->imap_url, c->mail_user,
			c->poll_interval);
		if (c->mail_password_file[0] != '\0')
			fprintf(f, "password_file = %s\n",
				c->mail_password_file);
		if (c->mail_ca_file[0] != '\0')
			fprintf(f, "ca_file = %s\n", c->mail_ca_file);
	}
	if (c->resolver_conf[0] != '\0' || c->caa_identity[0] != '\0') {
		fputs("\n[dns]\n", f);
		if (c->resolver_conf[0] != '\0')
			fprintf(f, "resolver_conf = %s\n", c->resolver_conf);
		if (c->caa_identity[0] != '\0')
			fprintf(f, "caa_identity = %s\n", c->caa_identity);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}
