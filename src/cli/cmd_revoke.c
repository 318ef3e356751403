/*
 * cmd_revoke.c - letterlock revoke: have the CA revoke a certificate
 * (RFC 8555 section 7.6).  From this home with its account, or, for a
 * certificate this home does not hold (a lost device), after a fresh
 * mailbox proof (RFC 8823) with the certificate fetched from the CA's
 * key directory.  The home then neither signs with it nor offers it;
 * its key stays, to open old mail.  A backup made from this home is
 * sealed again, so that the revocation travels with it.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "backup.h"

#define PKX_MAX (64 * 1024) /* a key directory answer, bytes */

static const char revoke_usage[] =
	"usage: letterlock revoke [ADDRESS | --fingerprint FPR] "
	"[--reason REASON]\n"
	"         --acme URL --imap-url URL --smtp-url URL\n"
	"         [--mail-user U] [--mail-password-file F] "
	"[--mail-ca-file F]\n"
	"         [--acme-ca-file F] [--timeout SECONDS] [--quiet] "
	"[--config FILE]\n"
	"\n"
	"Have the CA revoke the current certificate of ADDRESS, or the one\n"
	"with the SHA-256 fingerprint FPR.  A certificate this home holds "
	"is\n"
	"revoked with this home's CA account; one it does not hold (a lost\n"
	"device) is fetched from the CA's key directory and revoked after a\n"
	"fresh proof of the mailbox by email.  This home then neither signs\n"
	"with it nor offers it; its key stays, to open old mail.\n"
	"\n"
	"  --fingerprint FPR       the certificate by fingerprint (64 hex)\n"
	"  --reason REASON         unspecified (default), keyCompromise,\n"
	"                          superseded, affiliationChanged,\n"
	"                          cessationOfOperation, privilegeWithdrawn\n";
static const char revoke_usage_tail[] =
	"\n"
	"Exit: 0 revoked (or revoked already); 2 usage; 3 no such "
	"certificate;\n"
	"5 a server's answer is malformed; 6 any other failure.\n";

struct revoke {
	struct proof p;
	const char *fpr; /* --fingerprint, lower-cased */
	char fprbuf[65];
	int reason; /* CRLReason; -1 none sent (unspecified) */
	struct ll_cert *cert;
	int local; /* CERT is an identity of this home */
};

/* ---- the certificate in this home ---- */

static int find_fpr(void *arg, const struct ll_cert *c)
{
	struct revoke *r = arg;

	if (r->cert == NULL && strcmp(ll_cert_fingerprint(c), r->fpr) == 0)
		r->cert = ll_cert_ref((struct ll_cert *)c);
	return 0;
}

/* The certificate to revoke among this home's identities: by
 * fingerprint, or the current one of the address. */
static int find_local(struct revoke *r)
{
	struct ll_error err = { 0 };
	struct ll_identity *id;

	if (r->fpr != NULL) {
		if (ll_keystore_foreach(r->p.ks, LL_KS_IDENTITY, find_fpr, r,
					&err) < 0)
			return proof_local_fail(&r->p, "the home", &err);
	} else {
		id = ll_ctx_identity_for(r->p.ctx, r->p.address);
		/* a self-signed one has no CA to revoke it */
		if (id != NULL && ll_identity_chain_count(id) > 0)
			r->cert = ll_cert_ref(ll_identity_cert(id));
	}
	r->local = r->cert != NULL;
	return 0;
}

/* ---- the certificate from the key directory ---- */

/* An answer's body, NUL-terminated, at most PKX_MAX bytes. */
struct body {
	char *p;
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;
	char *np;

	if (len > PKX_MAX - b->len)
		return 0;
	np = realloc(b->p, b->len + len + 1);
	if (np == NULL)
		return 0;
	memcpy(np + b->len, p, len);
	b->p = np;
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* GET URL (at most PKX_MAX bytes) into *B; 0 or an exit code. */
static int pkx_get(struct revoke *r, struct body *b, const char *url)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;

	if (c == NULL)
		return proof_fail(&r->p, EXIT_FAIL, "out of memory");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)r->p.timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	if (r->p.acme_ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, r->p.acme_ca);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		return proof_fail(&r->p, EXIT_FAIL, "the key directory: %s",
				  ebuf[0] ? ebuf : curl_easy_strerror(cc));
	if (status == 404)
		return proof_fail(&r->p, EXIT_NOCERT,
				  "the key directory has no such certificate");
	if (status != 200)
		return proof_fail(&r->p, EXIT_FAIL,
				  "the key directory answered HTTP %ld",
				  status);
	return 0;
}

/* The fingerprint of the current certificate of the address, from the
 * directory's entry (doc/pkx-api.md), into r->fprbuf. */
static int pkx_current(struct revoke *r, const char *base)
{
	struct body b = { 0 };
	char url[2048];
	char *esc = curl_easy_escape(NULL, r->p.canon, 0);
	json_t *j = NULL;
	const char *f;
	int rc;

	if (esc == NULL)
		return proof_fail(&r->p, EXIT_FAIL, "out of memory");
	rc = snprintf(url, sizeof(url), "%saddr/%s", base, esc) <
			     (int)sizeof(url) ?
		     pkx_get(r, &b, url) :
		     proof_fail(&r->p, EXIT_USAGE, "the address is too long");
	curl_free(esc);
	if (rc != 0)
		goto out;
	j = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
	f = json_string_value(json_object_get(
		json_array_get(json_object_get(j, "certificates"), 0),
		"fingerprint"));
	if (f == NULL) {
		rc = proof_fail(&r->p, EXIT_NOCERT,
				"the key directory lists no current "
				"certificate for %s",
				r->p.canon);
		goto out;
	}
	if (strlen(f) != 64 || strspn(f, "0123456789abcdef") != 64) {
		rc = proof_fail(&r->p, EXIT_BADINPUT,
				"the key directory's entry is malformed");
		goto out;
	}
	memcpy(r->fprbuf, f, 65);
	r->fpr = r->fprbuf;
out:
	json_decref(j);
	free(b.p);
	return rc;
}

/* The certificate r->fpr from the directory, checked to be that one. */
static int pkx_fetch(struct revoke *r, const char *base)
{
	struct ll_error err = { 0 };
	struct body b = { 0 };
	char url[2048];
	int rc;

	rc = snprintf(url, sizeof(url), "%scert/%s", base, r->fpr) <
			     (int)sizeof(url) ?
		     pkx_get(r, &b, url) :
		     proof_fail(&r->p, EXIT_FAIL,
				"the directory URL is too long");
	if (rc == 0 && ll_cert_parse(&r->cert, b.p ? b.p : "", b.len, &err) < 0)
		rc = proof_fail(&r->p, EXIT_BADINPUT,
				"the key directory's certificate: %s",
				err.message);
	if (rc == 0 && strcmp(ll_cert_fingerprint(r->cert), r->fpr) != 0)
		rc = proof_fail(&r->p, EXIT_BADINPUT,
				"the key directory answered another "
				"certificate than %s",
				r->fpr);
	free(b.p);
	return rc;
}

/* The key directory's base URL, as the CA's directory names it. */
static int pkx_base(struct revoke *r, char *buf, size_t len)
{
	struct ll_acme_options opt = LL_ACME_OPTIONS_INIT;
	struct ll_acme *a = r->p.acme;
	struct ll_error err = { 0 };
	const char *u;
	int rc = 0;

	opt.ca_file = r->p.acme_ca;
	opt.timeout = r->p.timeout;
	if (a == NULL && ll_acme_new(&a, r->p.acme_url, &opt, &err) < 0)
		return proof_local_fail(&r->p, "CA directory", &err);
	u = ll_acme_pkx_url(a);
	if (u == NULL || u[0] == '\0' ||
	    snprintf(buf, len, "%s%s", u, u[strlen(u) - 1] == '/' ? "" : "/") >=
		    (int)len)
		rc = proof_fail(&r->p, EXIT_FAIL,
				"the CA names no key directory to find the "
				"certificate in");
	if (a != r->p.acme)
		ll_acme_free(&a);
	return rc;
}

/* ---- revoking ---- */

static int revoke_it(struct revoke *r)
{
	struct ll_error err = { 0 };
	char serial[80];
	int rc;

	ll_acme_cert_serial(serial, sizeof(serial), r->cert);
	rc = ll_acme_revoke(r->p.acme, r->cert, r->reason, &err);
	if (rc == LL_EPOLICY && strstr(err.message, ":alreadyRevoked") != NULL)
		proof_say(&r->p, "certificate %s was revoked already", serial);
	else if (rc < 0)
		return proof_step_fail(&r->p, "the revocation", &err);
	else
		proof_say(&r->p, "certificate %s of %s revoked (%s)", serial,
			  ll_cert_email(r->cert),
			  ll_rev_reason_name(r->reason));
	/* this home neither signs with it nor offers it from now on */
	rc = ll_revocation_mark(r->p.ks, r->cert, time(NULL), r->reason, &err);
	if (rc < 0)
		return proof_local_fail(&r->p, "recording the revocation",
					&err);
	return 0;
}

/*
 * After the revocation: the backup made from this home (if any) holds
 * the revocation marks, so it is sealed again and stored where it went.
 * The vault needs a fresh proof of the backup's address (only revoking
 * a lost device's certificate made one) and the mailbox a login (the
 * same); without them the user is told to run backup --refresh.  The
 * revocation stands either way: failures here are warnings.
 */
static void refresh_backup(struct revoke *r)
{
	struct ll_backup_key *key = NULL;
	struct ll_error err = { 0 };
	int rc, ready;

	rc = ll_backup_key_load(&key, r->p.ks, &err);
	if (rc == LL_ENOTFOUND)
		return;
	/* the proof and the login are for the address of the backup */
	ready = rc == 0 && r->p.mb != NULL &&
		strcmp(ll_backup_key_address(key), r->p.canon) == 0 &&
		(r->p.order != NULL ||
		 strcmp(ll_backup_key_where(key), "mailbox") == 0);
	if (ready) {
		proof_say(&r->p,
			  "sealing the backup again with the revocation");
		rc = backup_refresh(&r->p);
	}
	if (!ready || rc != 0)
		proof_fail(&r->p, 0,
			   "warning: the backup does not hold this revocation "
			   "yet: run letterlock backup --refresh%s",
			   rc == 0 && strcmp(ll_backup_key_where(key),
					     "vault") == 0 ?
				   " (it proves the mailbox for the vault)" :
				   "");
	ll_backup_key_free(&key);
}

/* A certificate this home does not hold: fetch it from the key
 * directory, prove the mailbox, revoke with that authorization. */
static int revoke_lost(struct revoke *r)
{
	char base[2048];
	int rc = pkx_base(r, base, sizeof(base));

	if (rc == 0 && r->fpr == NULL)
		rc = pkx_current(r, base);
	if (rc == 0)
		rc = pkx_fetch(r, base);
	if (rc != 0)
		return rc;
	if (ll_cert_email(r->cert) == NULL)
		rc = proof_fail(&r->p, EXIT_BADINPUT,
				"certificate %s names no address", r->fpr);
	else if (r->p.address == NULL)
		rc = proof_address(&r->p, ll_cert_email(r->cert));
	else if (!ll_cert_matches_email(r->cert, r->p.canon))
		rc = proof_fail(&r->p, EXIT_USAGE,
				"certificate %s is not for %s", r->fpr,
				r->p.address);
	if (rc != 0)
		return rc;
	proof_say(&r->p,
		  "certificate %s is not in this home: proving the mailbox "
		  "%s to revoke it",
		  r->fpr, r->p.canon);
	rc = proof_connect(&r->p);
	if (rc == 0)
		rc = proof_order(&r->p);
	return rc != 0 ? rc : revoke_it(r);
}

/* The reasons a subscriber may give (S/MIME BR 7.2.2, RFC 5280). */
static int reason_ok(int code)
{
	static const int ok[] = { 0, 1, 3, 4, 5, 9 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (code == ok[i])
			return 1;
	return 0;
}

static int parse_args(struct revoke *r, int argc, char **argv)
{
	static const struct option opts[] = {
		PROOF_LONG_OPTIONS,
		{ "fingerprint", required_argument, NULL, 'f' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c, took;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		took = proof_option(&r->p, c, optarg);
		if (took < 0)
			return EXIT_USAGE;
		if (took > 0)
			continue;
		if (c == 'f') {
			size_t n = strlen(optarg);

			if (n != 64 ||
			    strspn(optarg, "0123456789abcdefABCDEF") != 64)
				return proof_fail(&r->p, EXIT_USAGE,
						  "--fingerprint takes 64 hex "
						  "digits (SHA-256)");
			for (size_t i = 0; i <= n; i++)
				r->fprbuf[i] =
					(char)tolower((unsigned char)optarg[i]);
			r->fpr = r->fprbuf;
		} else if (c == 'r') {
			r->reason = ll_rev_reason_parse(optarg);
			if (!reason_ok(r->reason))
				return proof_fail(&r->p, EXIT_USAGE,
						  "--reason: unspecified, "
						  "keyCompromise, superseded, "
						  "affiliationChanged, "
						  "cessationOfOperation or "
						  "privilegeWithdrawn");
			if (r->reason == 0)
				r->reason = -1; /* RFC 5280: left out */
		} else {
			return EXIT_USAGE;
		}
	}
	if (optind + (r->fpr == NULL) != argc) {
		fputs(revoke_usage, stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_revoke(struct cli *cli, int argc, char **argv)
{
	struct revoke *r;
	int rc;

	if (cli_wants_help(argc, argv)) {
		fputs(revoke_usage, stdout);
		fputs(proof_options_help, stdout);
		fputs(revoke_usage_tail, stdout);
		return EXIT_OK;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		fputs("revoke: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	proof_init(&r->p, cli, "revoke");
	r->reason = -1;
	rc = parse_args(r, argc, argv);
	if (rc == 0)
		rc = proof_settle(&r->p, r->fpr == NULL ? argv[optind] : NULL);
	if (rc == 0)
		rc = proof_open_home(&r->p);
	if (rc == 0)
		rc = find_local(r);
	if (rc == 0 && r->local) {
		if (r->p.address == NULL && ll_cert_email(r->cert) == NULL)
			rc = proof_fail(&r->p, EXIT_BADINPUT,
					"the certificate names no address");
		else if (r->p.address == NULL)
			rc = proof_address(&r->p, ll_cert_email(r->cert));
		if (rc == 0)
			rc = proof_connect_ca(&r->p);
		if (rc == 0)
			rc = revoke_it(r);
	} else if (rc == 0) {
		rc = revoke_lost(r);
	}
	if (rc == 0)
		refresh_backup(r);
	ll_cert_free(&r->cert);
	proof_clear(&r->p);
	free(r);
	return rc;
}
