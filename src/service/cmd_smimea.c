/*
 * cmd_smimea.c - letterlockd export-smimea: the bindings of the PKX
 * directory as SMIMEA records (RFC 8162), a zone fragment for the
 * domains the CA serves, to be included (and DNSSEC-signed) in their
 * zones, so that a client can find a certificate through DNS too.
 *
 * One record per current certificate (not revoked, not expired; ours
 * and those published after a mailbox proof), usage 3 (DANE-EE: the
 * certificate is the binding, whoever issued it), selector 0 (the whole
 * certificate), matching type 0 (the DER itself, not a digest: a
 * sender needs the certificate, not a way to check one).  The owner
 * name hashes the local part as the directory keys it (UTF-8, NFC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "front.h" /* lld_rfc3339 */
#include "pkx.h"

#define DOMAINS_MAX 16
#define TTL_DEFAULT 3600
/* an owner name: the hash label, the SMIMEA label, a domain, a dot */
#define OWNER_MAX (2 * LLD_SMIMEA_HASH_LEN + 16 + 256)

static const char smimea_usage[] =
	"usage: letterlockd export-smimea --dir DIR [--out FILE]\n"
	"        [--domain DOMAIN]... [--ttl SECONDS]\n"
	"\n"
	"Write the SMIMEA records (RFC 8162) of every certificate the PKX\n"
	"directory of DIR holds now (issued by this CA or published after a\n"
	"mailbox proof; not revoked, not expired) as a zone fragment, one\n"
	"record per certificate:\n"
	"\n"
	"  HASH._smimecert.DOMAIN. TTL IN SMIMEA 3 0 0 HEX\n"
	"\n"
	"HASH is the hex of SHA-256 of the address's local part (UTF-8, NFC)\n"
	"cut to 28 octets, HEX the certificate's DER; 3 0 0 is DANE-EE, the\n"
	"whole certificate, no digest.  Sign the zone with DNSSEC: clients\n"
	"trust SMIMEA only when it validates.\n"
	"\n"
	"  --out FILE       write FILE (replaced whole), not standard output\n"
	"  --domain DOMAIN  only addresses at DOMAIN (U-labels or A-labels);\n"
	"                   repeat for more, up to 16; default every domain\n"
	"  --ttl SECONDS    the records' TTL, 60 to 604800 (default 3600)\n";

struct export
{
	char domains[DOMAINS_MAX][LLD_EMAIL_MAX + 1]; /* A-labels */
	size_t ndomains;
	long ttl;
	size_t count;
	struct ll_buf out;
	struct ll_error err;
};

static int wanted(const struct export *e, const char *domain)
{
	if (e->ndomains == 0)
		return 1;
	for (size_t i = 0; i < e->ndomains; i++)
		if (strcmp(e->domains[i], domain) == 0)
			return 1;
	return 0;
}

/* The record of R (one current certificate), if its domain is wanted. */
static int record(void *arg, const struct lld_pkxrow *r)
{
	struct export *e = arg;
	const char *at = strrchr(r->email, '@');
	char owner[OWNER_MAX], until[32];
	char *hex = NULL;
	int rc;

	if (at == NULL || !wanted(e, at + 1))
		return 0;
	rc = lld_smimea_owner(owner, sizeof(owner), r->email, &e->err);
	if (rc < 0)
		return rc;
	hex = malloc(2 * r->derlen + 1);
	if (hex == NULL)
		return ll_err(&e->err, LL_ENOMEM, LL_ECLASS_OS,
			      "out of memory");
	lld_hex(hex, r->der, r->derlen);
	lld_rfc3339(until, sizeof(until), r->not_after);
	/* the comment names the address: the zone's owner knows it, and
	 * it is what an administrator looks for */
	if (ll_buf_addf(&e->out, "; %s sha256 %s (%s), until %s\n", r->email,
			r->fpr, r->serial[0] ? "issued here" : "published",
			until) < 0 ||
	    ll_buf_addf(&e->out, "%s %ld IN SMIMEA 3 0 0 ", owner, e->ttl) <
		    0 ||
	    ll_buf_adds(&e->out, hex) < 0 || ll_buf_adds(&e->out, "\n") < 0)
		rc = ll_err(&e->err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	free(hex);
	e->count++;
	return rc;
}

/* --domain D in its A-label form into E. */
static int add_domain(struct export *e, const char *d)
{
	char addr[LLD_PKX_ADDR_IN_MAX + 1], key[LLD_EMAIL_MAX + 1];
	struct ll_error err = { 0 };
	int n;

	if (e->ndomains == DOMAINS_MAX) {
		fprintf(stderr,
			LLD_PROG " export-smimea: at most %d --domain\n",
			DOMAINS_MAX);
		return -1;
	}
	/* the domain as an address would have it */
	n = snprintf(addr, sizeof(addr), "x@%s", d);
	if (n < 0 || (size_t)n >= sizeof(addr) ||
	    lld_pkx_addr_key(key, addr, (size_t)n, &err) < 0) {
		fprintf(stderr, LLD_PROG " export-smimea: --domain %s: %s\n", d,
			err.message[0] ? err.message : "too long");
		return -1;
	}
	snprintf(e->domains[e->ndomains++], LLD_EMAIL_MAX + 1, "%s", key + 2);
	return 0;
}

/* The fragment into OUT ("-": standard output), replaced whole. */
static int write_out(const char *out, const struct ll_buf *b)
{
	char tmp[LLD_PATH_MAX];
	int n;

	if (strcmp(out, "-") == 0)
		return lld_write_file(out, b->p, b->len, 0644, 0);
	n = snprintf(tmp, sizeof(tmp), "%s.new", out);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		fprintf(stderr, LLD_PROG ": %s: name too long\n", out);
		return -1;
	}
	if (lld_write_file(tmp, b->p, b->len, 0644, 0) < 0)
		return -1;
	if (rename(tmp, out) < 0) {
		perror(LLD_PROG ": export-smimea");
		remove(tmp);
		return -1;
	}
	return 0;
}

int lld_cmd_export_smimea(int argc, char **argv)
{
	struct lld_conf conf;
	struct lld_store *store = NULL;
	struct export *e = NULL;
	const char *dir = NULL, *out = "-", *ttl = NULL, *d = NULL;
	char stamp[32], shown[LLD_STORE_SHOWN_MAX];
	time_t now = time(NULL);
	char *end = NULL;
	int rc = LLD_EXIT_USAGE;

	if (lld_wants_help(argc, argv)) {
		fputs(smimea_usage, stdout);
		return LLD_EXIT_OK;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return LLD_EXIT_FAIL;
	e->ttl = TTL_DEFAULT;
	for (int i = 1; i < argc; i++) {
		int r = lld_arg(argc, argv, &i, "--dir", &dir);

		if (r == 0)
			r = lld_arg(argc, argv, &i, "--out", &out);
		if (r == 0)
			r = lld_arg(argc, argv, &i, "--ttl", &ttl);
		if (r == 0) {
			r = lld_arg(argc, argv, &i, "--domain", &d);
			if (r == 1 && add_domain(e, d) < 0)
				goto out;
		}
		if (r < 0)
			goto out;
		if (r == 0) {
			fprintf(stderr,
				LLD_PROG " export-smimea: unknown argument "
					 "'%s'\n%s",
				argv[i], smimea_usage);
			goto out;
		}
	}
	if (ttl != NULL) {
		e->ttl = strtol(ttl, &end, 10);
		if (*ttl == '\0' || *end != '\0' || e->ttl < 60 ||
		    e->ttl > 604800) {
			fprintf(stderr, LLD_PROG " export-smimea: --ttl takes "
						 "60 to 604800\n");
			goto out;
		}
	}
	if (dir == NULL) {
		fputs(smimea_usage, stderr);
		goto out;
	}
	rc = LLD_EXIT_STATE;
	if (lld_conf_load(&conf, dir) < 0)
		goto out;
	if (lld_store_open(&store, conf.store_path, &e->err) < 0) {
		lld_store_shown(shown, sizeof(shown), conf.store_path);
		lld_report(shown, &e->err);
		goto out;
	}
	rc = LLD_EXIT_FAIL;
	lld_rfc3339(stamp, sizeof(stamp), now);
	if (ll_buf_addf(&e->out,
			"; SMIMEA records (RFC 8162) of the PKX directory of "
			"%s, current at %s\n",
			conf.name, stamp) < 0)
		goto out;
	if (lld_store_pkx_foreach(store, now, record, e, &e->err) < 0) {
		lld_report("export-smimea", &e->err);
		goto out;
	}
	if (ll_buf_addf(&e->out, "; %zu record(s)\n", e->count) < 0 ||
	    write_out(out, &e->out) < 0)
		goto out;
	if (strcmp(out, "-") != 0)
		fprintf(stderr, LLD_PROG ": %s: %zu SMIMEA record(s)\n", out,
			e->count);
	rc = LLD_EXIT_OK;
out:
	lld_store_close(&store);
	if (e != NULL)
		ll_buf_free(&e->out);
	free(e);
	return rc;
}
