/*
 * cmd_enrol.c - letterlock enrol: an S/MIME certificate from an ACME CA
 * (RFC 8555) that validates the mailbox by email (RFC 8823).  The key is
 * made here and never leaves this machine.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enrol.h"

#define RENEW_DAYS 30 /* a certificate with more left is kept */

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
	"\n";
static const char enrol_usage_tail[] =
	"  --key-type T            rsa3072 (default), rsa2048 or p256\n"
	"\n"
	"Exit: 0 installed, or a certificate with more than 30 days left is "
	"there;\n"
	"2 usage; 5 a server's answer is malformed or does not fit; 6 any "
	"other failure.\n";

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

int enrol_parse_keytype(enum ll_keytype *t, const char *s)
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

/* 1 if the home holds a CA-issued certificate for the address with
 * more than RENEW_DAYS left (then it is said). */
static int already_enrolled(const struct proof *p)
{
	struct ll_identity *id = ll_ctx_identity_for(p->ctx, p->address);
	char until[40];
	time_t na;

	if (id == NULL || ll_identity_chain_count(id) == 0)
		return 0; /* none, or only a self-signed one */
	na = ll_cert_not_after(ll_identity_cert(id));
	if (na - time(NULL) <= (time_t)RENEW_DAYS * 86400)
		return 0;
	proof_fmt_time(until, sizeof(until), na);
	proof_say(p, "%s already has a certificate valid until %s", p->address,
		  until);
	return 1;
}

static int issue(struct proof *e, struct ll_acme_certkey *key,
		 struct ll_identity **id)
{
	unsigned char *csr = NULL;
	char *chain = NULL, serial[80], until[40];
	size_t csrlen = 0, chainlen = 0;
	struct ll_error err = { 0 };
	int rc;

	rc = ll_acme_order_poll(e->acme, e->order, e->timeout, &err);
	if (rc < 0) {
		rc = proof_step_fail(e, "the order", &err);
		goto out;
	}
	rc = ll_acme_csr_new(&csr, &csrlen, key, e->canon, &err);
	if (rc < 0) {
		rc = proof_local_fail(e, "the certificate request", &err);
		goto out;
	}
	if (ll_acme_order_status(e->order) == LL_ACME_READY) {
		rc = ll_acme_order_finalize(e->acme, e->order, csr, csrlen,
					    &err);
		/* tests: a crash right after the CA took the request */
		if (rc == 0 && getenv("LETTERLOCK_TEST_EXIT_AFTER_FINALIZE"))
			_exit(EXIT_FAIL);
		if (rc == 0)
			rc = ll_acme_order_poll(e->acme, e->order, e->timeout,
						&err);
		if (rc < 0) {
			rc = proof_step_fail(e, "the certificate request",
					     &err);
			goto out;
		}
	}
	rc = ll_acme_order_certificate(&chain, &chainlen, e->acme, e->order,
				       &err);
	if (rc < 0) {
		rc = proof_step_fail(e, "the certificate download", &err);
		goto out;
	}
	rc = ll_acme_identity(id, key, chain, chainlen, e->root, e->canon,
			      &err);
	if (rc < 0) {
		rc = proof_fail(e, rc == LL_ENOMEM ? EXIT_FAIL : EXIT_BADINPUT,
				"the issued certificate: %s", err.message);
		goto out;
	}
	ll_acme_cert_serial(serial, sizeof(serial), ll_identity_cert(*id));
	proof_fmt_time(until, sizeof(until),
		       ll_cert_not_after(ll_identity_cert(*id)));
	proof_say(e, "certificate issued, serial %s, valid until %s", serial,
		  until);
out:
	free(csr);
	free(chain);
	return rc;
}

/* Tell the CA's key directory what letterlock reads (AES-GCM, OAEP
 * besides the CBC profile), so that letterlock senders may use it.  A
 * directory that refuses or is not there leaves the certificate as it
 * is: senders then use the profile every client reads. */
void enrol_publish_caps(struct proof *e, const struct ll_cert *cert)
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
		proof_say(e, "the key directory says what this client reads "
			     "(AES-GCM, RSA-OAEP)");
}

int enrol_install(struct proof *e, const struct ll_identity *id)
{
	struct ll_error err = { 0 };
	int rc;

	rc = ll_keystore_add_identity(e->ks, id, &err);
	if (rc < 0 && rc != LL_EEXIST)
		return proof_local_fail(e, "storing the identity", &err);
	rc = ll_keystore_add_trust(e->ks, e->root, &err);
	if (rc < 0 && rc != LL_EEXIST)
		return proof_local_fail(e, "trusting the CA's root", &err);
	proof_say(e, "installed as identity %s; trusting root %s (sha256 %s)",
		  e->address, ll_cert_subject(e->root),
		  ll_cert_fingerprint(e->root));
	enrol_publish_caps(e, ll_identity_cert(id));
	return 0;
}

/* ---- a certificate ordered but not yet installed ----
 *
 * The key of an order is sealed into the home (the named secret
 * "pending-certificate ADDRESS": the order's URL, a newline, the key's
 * DER) before the order is finalized, and forgotten only once the
 * certificate is installed.  The CA publishes a certificate in its key
 * directory the moment it issues it, so a run that stops in between (a
 * crash, a time-out, a full disk) would otherwise leave senders
 * encrypting to a key nobody holds: the next enrol or renew for the
 * address fetches that order's certificate and installs it first.
 */
#define PENDING "pending-certificate "

static void pending_name(char *buf, size_t len, const struct proof *p)
{
	snprintf(buf, len, PENDING "%s", p->canon);
}

static int pending_save(struct proof *p, const struct ll_acme_certkey *key)
{
	const char *url = ll_acme_order_url(p->order);
	unsigned char *der = NULL, *data = NULL;
	size_t derlen = 0, ulen = strlen(url), len;
	struct ll_error err = { 0 };
	char name[400];
	int rc;

	rc = ll_acme_certkey_der(&der, &derlen, key, &err);
	len = ulen + 1 + derlen;
	if (rc == 0 && (data = malloc(len)) == NULL)
		rc = cli_err(&err, LL_ENOMEM, "out of memory");
	if (rc == 0) {
		memcpy(data, url, ulen);
		data[ulen] = '\n';
		memcpy(data + ulen + 1, der, derlen);
		pending_name(name, sizeof(name), p);
		rc = ll_keystore_put_secret(p->ks, name, data, len, &err);
	}
	ll_wipe_free(der, derlen);
	ll_wipe_free(data, len);
	return rc < 0 ? proof_local_fail(p, "keeping the new key", &err) : 0;
}

static void pending_drop(struct proof *p)
{
	struct ll_error err = { 0 };
	char name[400];

	pending_name(name, sizeof(name), p);
	if (ll_keystore_delete_secret(p->ks, name, &err) < 0)
		proof_fail(p, 0, "warning: %s", err.message);
}

int enrol_pending(struct proof *p)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char name[400];
	int rc;

	pending_name(name, sizeof(name), p);
	rc = ll_keystore_get_secret(&data, &len, p->ks, name, NULL);
	ll_wipe_free(data, len);
	return rc == 0;
}

/* Finish an order an earlier run left: 0 installed now, 1 nothing (left)
 * to finish, else an exit code (the pending key is kept). */
static int resume(struct proof *p)
{
	struct ll_acme_certkey *key = NULL;
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	unsigned char *data = NULL, *nl;
	size_t len = 0;
	char name[400], *url = NULL;
	int rc;

	pending_name(name, sizeof(name), p);
	rc = ll_keystore_get_secret(&data, &len, p->ks, name, &err);
	if (rc == LL_ENOTFOUND)
		return 1;
	if (rc < 0)
		return proof_local_fail(p, "the key kept for an earlier order",
					&err);
	nl = memchr(data, '\n', len);
	if (nl == NULL ||
	    (url = strndup((const char *)data, (size_t)(nl - data))) == NULL ||
	    ll_acme_certkey_from_der(&key, nl + 1,
				     len - (size_t)(nl + 1 - data), &err) < 0) {
		proof_fail(p, 0, "warning: the key kept for an earlier order "
				 "is damaged; forgetting it");
		pending_drop(p);
		rc = 1;
		goto out;
	}
	proof_say(p, "finishing the order an earlier run left: %s", url);
	ll_acme_order_free(&p->order);
	rc = ll_acme_order_open(&p->order, p->acme, url, &err);
	if (rc == 0 &&
	    (ll_acme_order_status(p->order) == LL_ACME_PENDING ||
	     ll_acme_order_status(p->order) == LL_ACME_INVALID ||
	     ll_acme_order_status(p->order) == LL_ACME_EXPIRED)) {
		/* never finalized, or refused: no certificate for that key */
		proof_say(p, "that order is %s: starting anew",
			  ll_acme_status_name(ll_acme_order_status(p->order)));
		pending_drop(p);
		rc = 1;
		goto out;
	}
	if (rc == LL_EPOLICY) {
		proof_say(p, "the CA no longer has that order (%s): starting "
			     "anew",
			  err.message);
		pending_drop(p);
		rc = 1;
		goto out;
	}
	if (rc < 0) {
		rc = proof_step_fail(p, "the earlier order", &err);
		goto out;
	}
	rc = issue(p, key, &id);
	if (rc == 0)
		rc = enrol_install(p, id);
	if (rc == 0)
		pending_drop(p);
out:
	ll_identity_free(&id);
	ll_acme_certkey_free(&key);
	ll_wipe_free(data, len);
	free(url);
	return rc;
}

/* Make a key, prove the address, have the order finalized, store the
 * identity; what enrol does and renew does again.  An order an earlier
 * run left unfinished is finished first, instead. */
int enrol_issue(struct proof *p, enum ll_keytype type)
{
	struct ll_acme_certkey *key = NULL;
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	int rc;

	rc = resume(p);
	if (rc != 1)
		return rc;
	proof_say(p, "generating %s key", keytype_name(type));
	rc = ll_acme_certkey_generate(&key, type, &err);
	if (rc < 0)
		return proof_local_fail(p, "key generation", &err);
	rc = proof_order(p);
	/* kept before the CA may issue for it */
	if (rc == 0)
		rc = pending_save(p, key);
	if (rc == 0)
		rc = issue(p, key, &id);
	if (rc == 0)
		rc = enrol_install(p, id);
	if (rc == 0)
		pending_drop(p);
	ll_identity_free(&id);
	ll_acme_certkey_free(&key);
	return rc;
}

int cmd_enrol(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PROOF_LONG_OPTIONS,
		{ "key-type", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	enum ll_keytype keytype = LL_KEY_RSA3072;
	struct proof *p;
	int c, rc;

	if (cli_wants_help(argc, argv)) {
		fputs(enrol_usage, stdout);
		fputs(proof_options_help, stdout);
		fputs(enrol_usage_tail, stdout);
		return EXIT_OK;
	}
	p = malloc(sizeof(*p));
	if (p == NULL) {
		fputs("enrol: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	proof_init(p, cli, "enrol");
	optind = 1;
	rc = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int took = proof_option(p, c, optarg);

		if (took < 0)
			rc = EXIT_USAGE;
		else if (took > 0)
			continue;
		else if (c == 'k' && enrol_parse_keytype(&keytype, optarg) < 0)
			rc = proof_fail(p, EXIT_USAGE,
					"unknown key type %s (rsa3072, "
					"rsa2048, p256)",
					optarg);
		else if (c != 'k')
			rc = EXIT_USAGE;
	}
	if (rc == 0 && optind + 1 != argc) {
		fputs(enrol_usage, stderr);
		rc = EXIT_USAGE;
	}
	if (rc == 0)
		rc = proof_settle(p, argv[optind]);
	if (rc == 0)
		rc = proof_open_home(p);
	if (rc == 0 && !enrol_pending(p) && already_enrolled(p))
		goto out;
	if (rc == 0)
		rc = proof_connect(p);
	if (rc == 0)
		rc = enrol_issue(p, keytype);
out:
	proof_clear(p);
	free(p);
	return rc;
}
