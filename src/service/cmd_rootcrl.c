/*
 * cmd_rootcrl.c - the root's CRL: DIR/certs/root.crl, which `letterlockd
 * run` serves at /crl/root.crl, the CRL distribution point of the CAs
 * under the root.  `letterlockd init` signs the first; `letterlockd
 * root-crl` signs the next (within the year) with the root key, which
 * belongs offline the rest of the time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service.h"

#define ROOT_CRL_DAYS 365

static const char rootcrl_usage[] =
	"usage: letterlockd root-crl --dir DIR [--key FILE] [--days N]\n"
	"\n"
	"Sign a new CRL of the root CA of DIR (no certificate revoked) into\n"
	"DIR/certs/root.crl, served at BASE/crl/root.crl.  The CA/B Forum\n"
	"S/MIME rules want it renewed within 12 months: run this before\n"
	"the one in place runs out.\n"
	"\n"
	"  --key FILE   the root's private key (default DIR/keys/root.key;\n"
	"               give it when the key is kept offline)\n"
	"  --days N     validity, 1 to 366 (default 365)\n";

int lld_write_root_crl(const char *certs, const char *cert, size_t certlen,
		       const char *key, size_t keylen, int days)
{
	char path[LLD_PATH_MAX], tmp[LLD_PATH_MAX];
	unsigned char *der = NULL;
	size_t len = 0;
	struct ll_error err = { 0 };
	int rc = -1;

	if (ll_ca_empty_crl(&der, &len, cert, certlen, key, keylen, time(NULL),
			    days, &err) < 0) {
		lld_report("root CRL", &err);
		return -1;
	}
	/* replaced whole: a reader sees the old CRL or the new one */
	if (lld_path(path, sizeof(path), certs, "root.crl") < 0 ||
	    lld_path(tmp, sizeof(tmp), certs, "root.crl.new") < 0 ||
	    lld_write_file(tmp, (const char *)der, len, 0644, 0) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		perror(LLD_PROG ": root.crl");
		goto out;
	}
	rc = lld_sync_dir(certs);
out:
	free(der);
	return rc;
}

int lld_cmd_root_crl(int argc, char **argv)
{
	const char *dir = NULL, *keyfile = NULL, *days_s = NULL;
	char certs[LLD_PATH_MAX], path[LLD_PATH_MAX], keypath[LLD_PATH_MAX];
	char *cert = NULL, *key = NULL, *end = NULL;
	size_t certlen = 0, keylen = 0;
	long days = ROOT_CRL_DAYS;
	int rc = LLD_EXIT_STATE;

	if (lld_wants_help(argc, argv)) {
		fputs(rootcrl_usage, stdout);
		return LLD_EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		int r = lld_arg(argc, argv, &i, "--dir", &dir);

		if (r == 0)
			r = lld_arg(argc, argv, &i, "--key", &keyfile);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--days", &days_s);
		if (r < 0)
			return LLD_EXIT_USAGE;
		if (r == 0) {
			fprintf(stderr,
				LLD_PROG " root-crl: unknown argument '%s'\n%s",
				argv[i], rootcrl_usage);
			return LLD_EXIT_USAGE;
		}
	}
	if (days_s != NULL) {
		days = strtol(days_s, &end, 10);
		if (*days_s == '\0' || *end != '\0' || days < 1 || days > 366) {
			fprintf(stderr,
				LLD_PROG " root-crl: --days takes 1 to 366\n");
			return LLD_EXIT_USAGE;
		}
	}
	if (dir == NULL) {
		fputs(rootcrl_usage, stderr);
		return LLD_EXIT_USAGE;
	}
	if (lld_path(certs, sizeof(certs), dir, "certs") < 0 ||
	    lld_path(path, sizeof(path), certs, "root.pem") < 0 ||
	    (keyfile == NULL &&
	     lld_path(keypath, sizeof(keypath), dir, "keys/root.key") < 0))
		return LLD_EXIT_USAGE;
	if (lld_read_file(&cert, &certlen, path, 1 << 20) < 0 ||
	    lld_read_file(&key, &keylen, keyfile ? keyfile : keypath, 1 << 20) <
		    0)
		goto out;
	rc = lld_write_root_crl(certs, cert, certlen, key, keylen, (int)days) <
			     0 ?
		     LLD_EXIT_FAIL :
		     LLD_EXIT_OK;
	if (rc == LLD_EXIT_OK)
		printf("%s/root.crl: valid for %ld days\n", certs, days);
out:
	free(cert);
	if (key != NULL)
		ll_wipe_free(key, keylen);
	return rc;
}
