/*
 * cmd_issue.c - letterlockd issue: an administrator certifies one CSR
 * for an address whose control was checked out of band (the ACME path
 * replaces this for users).  Same builder and pre-issuance lint as ACME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service.h"

static const char issue_usage[] =
	"usage: letterlockd issue --dir DIR --email ADDR --csr CSR\n"
	"                         [--days N] [--usage sign|encrypt|both]\n"
	"                         [-o CERT.pem]\n"
	"\n"
	"Certify the PKCS#10 request CSR (PEM or DER; - for stdin) for the\n"
	"mailbox ADDR under the S/MIME CA in DIR, offline: the CA/B Forum\n"
	"S/MIME Baseline Requirements, Mailbox-validated Strict profile.\n"
	"The CSR must be signed by its key (RSA 2048..8192 or EC\n"
	"P-256/P-384) and request exactly ADDR in its subjectAltName.  The\n"
	"certificate is linted before it is signed; a violation refuses it.\n"
	"Writes the certificate and the S/MIME CA certificate (PEM) to\n"
	"CERT.pem or stdout, and a copy to DIR/issued/SHA256.pem.\n"
	"\n"
	"  --days N     validity (default validity_days of the\n"
	"               configuration, 365; at most 825)\n"
	"  --usage U    sign, encrypt or both (default: what the CSR's\n"
	"               keyUsage asks, both if it asks nothing)\n"
	"\n"
	"Exit status: 0 issued, 1 refused (the reason on stderr), 2 usage,\n"
	"3 the CA directory or its configuration, 4 other failures.\n";

struct issue_args {
	const char *dir;
	const char *email;
	const char *csr;
	const char *out;
	int days;
	unsigned usage;
};

static int parse_int(const char *s, int *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < 1 || v > 100000)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_args(struct issue_args *a, int argc, char **argv)
{
	const char *days = NULL, *usage = NULL;

	memset(a, 0, sizeof(*a));
	a->out = "-";
	for (int i = 1; i < argc; i++) {
		int r;

		r = lld_arg(argc, argv, &i, "--dir", &a->dir);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--email", &a->email);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--csr", &a->csr);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--days", &days);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--usage", &usage);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "-o", &a->out);
		if (r < 0)
			return -1;
		if (r == 0) {
			fprintf(stderr,
				LLD_PROG " issue: unknown argument %s\n",
				argv[i]);
			return -1;
		}
	}
	if (a->dir == NULL || a->email == NULL || a->csr == NULL) {
		fprintf(stderr, LLD_PROG " issue: --dir, --email and --csr are "
					 "required\n");
		return -1;
	}
	if (days != NULL && parse_int(days, &a->days) < 0) {
		fprintf(stderr,
			LLD_PROG " issue: --days %s: not a number of "
				 "days\n",
			days);
		return -1;
	}
	if (usage == NULL)
		a->usage = LL_CA_USAGE_FROM_CSR;
	else if (strcmp(usage, "sign") == 0)
		a->usage = LL_CA_USAGE_SIGN;
	else if (strcmp(usage, "encrypt") == 0)
		a->usage = LL_CA_USAGE_ENCRYPT;
	else if (strcmp(usage, "both") == 0)
		a->usage = LL_CA_USAGE_BOTH;
	else {
		fprintf(stderr, LLD_PROG " issue: --usage must be sign, "
					 "encrypt or both\n");
		return -1;
	}
	return 0;
}

/* The S/MIME CA of DIR, configured from its letterlockd.conf. */
static int load_ca(struct ll_ca **ca, const char *dir,
		   const struct lld_conf *conf)
{
	struct ll_ca_options opt = LL_CA_OPTIONS_INIT;
	struct ll_error err = { 0 };
	char path[LLD_PATH_MAX];
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0;
	int rc = LLD_EXIT_STATE;

	if (lld_path(path, sizeof(path), dir, "certs/smime-ca.pem") < 0 ||
	    lld_read_file(&cert, &certlen, path, 64 * 1024) < 0 ||
	    lld_path(path, sizeof(path), dir, "keys/smime-ca.key") < 0 ||
	    lld_read_file(&key, &keylen, path, 64 * 1024) < 0)
		goto out;
	opt.crl_url = conf->crl_url;
	opt.ocsp_url = conf->ocsp_url;
	opt.ca_issuers_url = conf->ca_issuers_url;
	opt.default_days = conf->validity_days;
	if (ll_ca_new(ca, cert, certlen, key, keylen, &opt, &err) < 0) {
		lld_report("loading the S/MIME CA", &err);
		goto out;
	}
	rc = LLD_EXIT_OK;
out:
	free(cert);
	ll_wipe_free(key, keylen);
	return rc;
}

/* The certificate and the issuing CA's, PEM, into *out. */
static int chain_pem(char **out, struct ll_cert *leaf, struct ll_ca *ca)
{
	struct ll_error err = { 0 };
	char *a = NULL, *b = NULL;
	int rc = -1;

	if (ll_cert_pem(&a, leaf, &err) < 0 ||
	    ll_cert_pem(&b, ll_ca_cert(ca), &err) < 0) {
		lld_report("encoding", &err);
		goto out;
	}
	*out = malloc(strlen(a) + strlen(b) + 1);
	if (*out == NULL)
		goto out;
	strcpy(*out, a);
	strcat(*out, b);
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

/* A copy for the CA's records: DIR/issued/<sha256>.pem. */
static int record(const char *dir, struct ll_cert *leaf, const char *pem)
{
	char path[LLD_PATH_MAX], name[80];

	snprintf(name, sizeof(name), "issued/%s.pem",
		 ll_cert_fingerprint(leaf));
	if (lld_path(path, sizeof(path), dir, "issued") < 0 ||
	    lld_mkdir(path, 0755) < 0 ||
	    lld_path(path, sizeof(path), dir, name) < 0)
		return -1;
	return lld_write_file(path, pem, strlen(pem), 0644, 1);
}

int lld_cmd_issue(int argc, char **argv)
{
	struct ll_ca_issue_options opt = LL_CA_ISSUE_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct issue_args a;
	struct lld_conf conf;
	struct ll_ca *ca = NULL;
	struct ll_ca_csr *csr = NULL;
	struct ll_cert *leaf = NULL;
	char *req = NULL, *pem = NULL, until[32];
	size_t reqlen = 0;
	time_t na;
	int rc = LLD_EXIT_USAGE;

	if (lld_wants_help(argc, argv)) {
		fputs(issue_usage, stdout);
		return LLD_EXIT_OK;
	}
	if (parse_args(&a, argc, argv) < 0) {
		fputs(issue_usage, stderr);
		goto out;
	}
	rc = LLD_EXIT_STATE;
	if (lld_conf_load(&conf, a.dir) < 0)
		goto out;
	rc = load_ca(&ca, a.dir, &conf);
	if (rc != LLD_EXIT_OK)
		goto out;
	rc = LLD_EXIT_USAGE;
	if (lld_read_file(&req, &reqlen, a.csr, LL_CA_CSR_MAX) < 0)
		goto out;
	rc = ll_ca_csr_parse(&csr, req, reqlen, a.email, &err);
	if (rc == LL_EINVAL) {
		fprintf(stderr, LLD_PROG " issue: --email %s: %s\n", a.email,
			err.message);
		rc = LLD_EXIT_USAGE;
		goto out;
	}
	if (rc < 0) {
		lld_report("the request", &err);
		rc = LLD_EXIT_REFUSED;
		goto out;
	}
	opt.days = a.days;
	opt.usage = a.usage;
	rc = ll_ca_issue(&leaf, ca, csr, &opt, &err);
	if (rc < 0) {
		lld_report("issuing", &err);
		rc = rc == LL_EPOLICY ? LLD_EXIT_REFUSED : LLD_EXIT_FAIL;
		goto out;
	}
	rc = LLD_EXIT_FAIL;
	if (chain_pem(&pem, leaf, ca) < 0 || record(a.dir, leaf, pem) < 0 ||
	    lld_write_file(a.out, pem, strlen(pem), 0644, 0) < 0)
		goto out;
	na = ll_cert_not_after(leaf);
	strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", gmtime(&na));
	fprintf(stderr, LLD_PROG ": issued %s for %s, valid until %s\n",
		ll_cert_fingerprint(leaf), ll_ca_csr_email(csr), until);
	rc = LLD_EXIT_OK;
out:
	free(req);
	free(pem);
	ll_cert_free(&leaf);
	ll_ca_csr_free(&csr);
	ll_ca_free(&ca);
	return rc;
}
