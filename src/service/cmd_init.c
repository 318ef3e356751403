/*
 * cmd_init.c - letterlockd init: a new CA directory.
 *
 *   DIR/                 0700
 *   DIR/keys/NAME.key    0600, PKCS#8 PEM, unencrypted
 *   DIR/certs/NAME.pem   the certificates, PEM
 *   DIR/letterlockd.conf written last; its presence means "initialised"
 *
 * for NAME in root, smime-ca, tsa-ca, ocsp (ca.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "service.h"

static const char init_usage[] =
	"usage: letterlockd init --dir DIR [--name NAME] [--base-url URL]\n"
	"                        [--country CC]\n"
	"\n"
	"Create a new certificate authority in DIR (made 0700 if missing):\n"
	"a root CA (EC P-384, 20 years), the S/MIME issuing CA and a\n"
	"time-stamping CA under it (EC P-256, 10 years), and an OCSP\n"
	"responder certificate under the S/MIME CA (EC P-256, 1 year).\n"
	"Keys go to DIR/keys (0600, unencrypted PKCS#8), certificates to\n"
	"DIR/certs, settings to DIR/letterlockd.conf.  An existing\n"
	"letterlockd.conf is never overwritten.\n"
	"\n"
	"  --name NAME      organization in the CA names (default\n"
	"                   \"letterlock\"; at most 40 characters)\n"
	"  --base-url URL   http URL the service will be reached at, used\n"
	"                   in the CRL and AIA URLs of every certificate\n"
	"                   (default http://127.0.0.1:8080)\n"
	"  --country CC     ISO 3166-1 country of the CA (default XX)\n";

#define DEFAULT_NAME "letterlock"
#define DEFAULT_BASE "http://127.0.0.1:8080"

struct init_args {
	const char *dir;
	const char *name;
	const char *base;
	const char *country;
};

static int parse_args(struct init_args *a, int argc, char **argv)
{
	a->dir = NULL;
	a->name = DEFAULT_NAME;
	a->base = DEFAULT_BASE;
	a->country = "XX";
	for (int i = 1; i < argc; i++) {
		int r;

		r = lld_arg(argc, argv, &i, "--dir", &a->dir);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--name", &a->name);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--base-url", &a->base);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--country", &a->country);
		if (r < 0)
			return -1;
		if (r == 0) {
			fprintf(stderr, LLD_PROG " init: unknown argument %s\n",
				argv[i]);
			return -1;
		}
	}
	if (a->dir == NULL || *a->dir == '\0') {
		fprintf(stderr, LLD_PROG " init: --dir is required\n");
		return -1;
	}
	/* what letterlockd.conf(5) can hold: inih would cut a value at
	 * " ;" or "#" and strip outer spaces */
	if (strpbrk(a->name, ";#") != NULL || a->name[0] == ' ' ||
	    (*a->name != '\0' && a->name[strlen(a->name) - 1] == ' ')) {
		fprintf(stderr,
			LLD_PROG " init: --name must not contain ';' "
				 "or '#' nor begin or end with a space\n");
		return -1;
	}
	if (strlen(a->base) > LLD_URL_MAX - 20 || !lld_http_url_ok(a->base)) {
		fprintf(stderr,
			LLD_PROG " init: --base-url must be an http URL of at "
				 "most %d characters (CRL and AIA URLs must be "
				 "http: S/MIME BR 7.1.2.3 b, c)\n",
			LLD_URL_MAX - 20);
		return -1;
	}
	return 0;
}

/* Write the key and certificate of ROLE into DIR/keys and DIR/certs. */
static int write_role(const struct ll_ca_hierarchy *h, enum ll_ca_role role,
		      const char *keys, const char *certs)
{
	char path[LLD_PATH_MAX], file[64];
	struct ll_error err = { 0 };
	char *key = NULL, *pem = NULL;
	size_t keylen = 0;
	int rc = -1;

	if (ll_ca_hierarchy_key_pem(&key, &keylen, h, role, &err) < 0 ||
	    ll_cert_pem(&pem, ll_ca_hierarchy_cert(h, role), &err) < 0) {
		lld_report("encoding the hierarchy", &err);
		goto out;
	}
	snprintf(file, sizeof(file), "%s.key", ll_ca_role_name(role));
	if (lld_path(path, sizeof(path), keys, file) < 0 ||
	    lld_write_file(path, key, keylen, 0600, 1) < 0)
		goto out;
	snprintf(file, sizeof(file), "%s.pem", ll_ca_role_name(role));
	if (lld_path(path, sizeof(path), certs, file) < 0 ||
	    lld_write_file(path, pem, strlen(pem), 0644, 0) < 0)
		goto out;
	rc = 0;
out:
	ll_wipe_free(key, keylen);
	free(pem);
	return rc;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int lld_cmd_init(int argc, char **argv)
{
	struct ll_ca_hierarchy_options opt = LL_CA_HIERARCHY_OPTIONS_INIT;
	struct ll_ca_hierarchy *h = NULL;
	struct ll_error err = { 0 };
	struct init_args a;
	struct lld_conf conf;
	char conf_path[LLD_PATH_MAX], keys[LLD_PATH_MAX], certs[LLD_PATH_MAX];
	char *text = NULL;
	size_t textlen = 0;
	int rc = LLD_EXIT_USAGE;

	if (lld_wants_help(argc, argv)) {
		fputs(init_usage, stdout);
		return LLD_EXIT_OK;
	}
	if (parse_args(&a, argc, argv) < 0) {
		fputs(init_usage, stderr);
		goto out;
	}
	rc = LLD_EXIT_STATE;
	if (lld_path(conf_path, sizeof(conf_path), a.dir, LLD_CONF_NAME) < 0 ||
	    lld_path(keys, sizeof(keys), a.dir, "keys") < 0 ||
	    lld_path(certs, sizeof(certs), a.dir, "certs") < 0)
		goto out;
	if (exists(conf_path)) {
		fprintf(stderr,
			LLD_PROG " init: %s exists: %s is already a CA; "
				 "refusing to overwrite it\n",
			conf_path, a.dir);
		goto out;
	}
	lld_conf_defaults(&conf, a.name, a.base, a.dir);
	if (strlen(conf.store_path) > LLD_URL_MAX) {
		fprintf(stderr,
			LLD_PROG " init: %s: path too long for "
				 "letterlockd.conf\n",
			a.dir);
		goto out;
	}
	opt.name = a.name;
	opt.country = a.country;
	opt.base_url = a.base;
	rc = LLD_EXIT_USAGE;
	if (ll_ca_hierarchy_create(&h, &opt, &err) < 0) {
		lld_report("init", &err);
		if (err.code != LL_EINVAL)
			rc = LLD_EXIT_FAIL;
		goto out;
	}
	rc = LLD_EXIT_FAIL;
	/* the keyholder (a later issue) will take these keys over: it
	 * alone will read DIR/keys, and the root key belongs offline */
	if (lld_mkdir_parents(a.dir, 0700) < 0 || lld_mkdir(keys, 0700) < 0 ||
	    lld_mkdir(certs, 0755) < 0)
		goto out;
	for (int r = 0; r < LL_CA_NROLES; r++)
		if (write_role(h, (enum ll_ca_role)r, keys, certs) < 0)
			goto out;
	if (lld_sync_dir(keys) < 0 || lld_sync_dir(certs) < 0 ||
	    lld_conf_format(&text, &textlen, &conf) < 0 ||
	    lld_write_file(conf_path, text, textlen, 0644, 1) < 0 ||
	    lld_sync_dir(a.dir) < 0)
		goto out;
	printf("initialised %s\n", a.dir);
	for (int r = 0; r < LL_CA_NROLES; r++) {
		struct ll_cert *c = ll_ca_hierarchy_cert(h, (enum ll_ca_role)r);

		printf("  %-9s %s\n            sha256 %s\n",
		       ll_ca_role_name((enum ll_ca_role)r), ll_cert_subject(c),
		       ll_cert_fingerprint(c));
	}
	printf("trust anchor: %s/root.pem\n", certs);
	rc = LLD_EXIT_OK;
out:
	free(text);
	ll_ca_hierarchy_free(&h);
	return rc;
}
