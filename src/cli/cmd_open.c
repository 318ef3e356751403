/* cmd_open.c - letterlock open */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

static const char open_usage[] =
	"usage: letterlock open [--json] [--no-harvest] [--offline]\n"
	"                       [--require-revocation-status] [-o OUT] [IN]\n"
	"Decrypts and verifies the message IN (default: stdin) and writes\n"
	"the opened message to OUT (default: stdout, unless --json).\n"
	"A message validly signed by its From address gives the signer's\n"
	"certificate to the contacts, and the one its signed encryption\n"
	"key preference names (a new key for a known address waits for\n"
	"`letterlock contact accept`); --no-harvest leaves them alone.\n"
	"The signer's certificate is checked with the OCSP responder it\n"
	"names (answers kept in the home); --offline asks no one.  A\n"
	"revoked signer makes the signature not valid unless a time-stamp\n"
	"proves it older (never after keyCompromise); an unknown status is\n"
	"reported and, with --require-revocation-status, not valid.\n"
	"exit: 0 opened (and any signature valid), 1 signature not valid,\n"
	"      4 cannot decrypt, 5 malformed input, 2 usage\n";

static json_t *jstr_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? json_string(s) : json_null();
}

/* The signer's revocation status: null when not judged, else
 * {"status", "reason", "time", "source", "why"}. */
static json_t *revocation_json(const struct ll_open_status *st)
{
	json_t *o;

	if (!st->is_signed || st->revocation == LL_REV_UNCHECKED)
		return json_null();
	o = json_object();
	json_object_set_new(o, "status",
			    json_string(ll_rev_state_name(st->revocation)));
	json_object_set_new(o, "reason",
			    st->revocation == LL_REV_REVOKED ?
				    json_string(ll_rev_reason_name(
					    st->revocation_reason)) :
				    json_null());
	json_object_set_new(o, "time", jstr_or_null(st->revocation_time));
	json_object_set_new(o, "source", jstr_or_null(st->revocation_source));
	json_object_set_new(o, "why", jstr_or_null(st->revocation_why));
	return o;
}

/* " (certificate revoked at TIME, REASON)" when the signer's is, else
 * "", in BUF. */
static const char *revoked_note(char *buf, size_t len,
				const struct ll_open_status *st)
{
	buf[0] = '\0';
	if (st->revocation == LL_REV_REVOKED)
		snprintf(buf, len, " (certificate revoked at %s, %s)",
			 st->revocation_time,
			 ll_rev_reason_name(st->revocation_reason));
	return buf;
}

static void print_json(const struct ll_open_status *st, const char *fail,
		       const char *signer_key, const struct ll_cert *enc)
{
	json_t *o = json_object(), *errs = json_array();
	char *s;

	json_object_set_new(o, "encrypted", json_boolean(st->encrypted));
	json_object_set_new(o, "decrypted", json_boolean(st->decrypted));
	json_object_set_new(o, "cipher", jstr_or_null(st->cipher));
	json_object_set_new(o, "signed", json_boolean(st->is_signed));
	json_object_set_new(o, "signature",
			    json_string(ll_sig_state_name(st->signature)));
	json_object_set_new(o, "signer", jstr_or_null(st->signer));
	json_object_set_new(o, "signer_matches_from",
			    json_boolean(st->is_signed &&
					 st->signer_matches_from));
	json_object_set_new(o, "header_protection",
			    json_boolean(st->header_protection));
	/* a trusted time comes only from an RFC 3161 token */
	json_object_set_new(o, "timestamp",
			    st->timestamp_trusted ?
				    jstr_or_null(st->timestamp) :
				    json_null());
	json_object_set_new(o, "signing_time", jstr_or_null(st->timestamp));
	/* the signer's key against the contacts: known, new, changed */
	json_object_set_new(o, "signer_key", jstr_or_null(signer_key));
	/* the certificate the signer asks to be encrypted to */
	json_object_set_new(o, "encryption_cert",
			    enc != NULL ? json_string(ll_cert_fingerprint(enc)) :
					  json_null());
	json_object_set_new(o, "revocation", revocation_json(st));
	for (size_t i = 0; i < st->nerrors; i++)
		json_array_append_new(errs, json_string(st->errors[i]));
	if (fail != NULL)
		json_array_append_new(errs, json_string(fail));
	json_object_set_new(o, "errors", errs);
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

/* CERT, harvested from ADDR's validly signed mail, into the contacts;
 * a key change (pending) said, WHAT it is to ADDR ("signed with"). */
static void keep(struct cli *cli, struct ll_keystore *ks,
		 const struct ll_cert *cert, const char *addr,
		 const char *what)
{
	struct ll_error err = { 0 };
	enum ll_contact_state state;

	if (ll_contacts_add(ks, cert, LL_SRC_HARVESTED, time(NULL), &state,
			    &err) < 0)
		cli_fail(cli, "keeping the signer's certificates", &err);
	else if (state == LL_CONTACT_PENDING && !cli->quiet)
		fprintf(stderr,
			"letterlock: %s %s a key other than the one known "
			"(%s); it is kept as pending, not used: `letterlock "
			"contact list`, `letterlock contact accept`\n",
			addr, what, ll_cert_fingerprint(cert));
}

/* An address we have a current identity for (the keys not needed). */
static int own_address(struct ll_keystore *ks, const char *addr)
{
	struct ll_cert *c = NULL;
	int rc = ll_keystore_current_cert(&c, ks, addr, 0, NULL);

	ll_cert_free(&c);
	return rc == 0;
}

int cmd_open(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-harvest", no_argument, NULL, 'H' },
		{ "offline", no_argument, NULL, 'O' },
		{ "require-revocation-status", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ll_keystore *ks = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_opened *o = NULL;
	struct ll_error err = { 0 };
	const struct ll_open_status *st;
	const char *outpath = NULL, *signer_key = NULL;
	const struct ll_cert *signer, *enc = NULL;
	char *msg = NULL, note[96];
	size_t len;
	struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;
	int c, rc, json = 0, harvest = 1, keys = 0;

	ro.network = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'H':
			harvest = 0;
			break;
		case 'O':
			ro.network = 0;
			break;
		case 'R':
			ro.require = 1;
			break;
		case 'h':
			fputs(open_usage, stdout);
			return EXIT_OK;
		default:
			fputs(open_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc) {
		fputs(open_usage, stderr);
		return EXIT_USAGE;
	}
	rc = cli_read_file(&msg, &len, optind < argc ? argv[optind] : NULL,
			   LL_MSG_MAX_SIZE);
	if (rc < 0)
		return rc == -2 ? EXIT_BADINPUT : EXIT_FAIL;
	/*
	 * The private keys only for a message that needs one: a locked
	 * (passphrase) home opens signed-only mail without asking.
	 */
	rc = cli_open_home(&ks, &ctx, cli, CLI_LOAD_CERTS);
	if (rc == 0 && !ll_keystore_is_locked(ks)) {
		keys = 1;
		rc = cli_load_keys(ks, ctx, cli);
	}
	if (rc != 0)
		goto out;
	ro.cache = ks;
	if (ll_ctx_set_revocation(ctx, &ro, &err) < 0) {
		rc = cli_fail(cli, "open", &err);
		goto out;
	}
	rc = ll_msg_open(&o, ctx, msg, len, &err);
	if (rc == LL_ENOKEY && !keys) {
		rc = cli_load_keys(ks, ctx, cli);
		if (rc != 0)
			goto out;
		ll_error_clear(&err);
		rc = ll_msg_open(&o, ctx, msg, len, &err);
	}
	if (rc < 0) {
		if (json) {
			struct ll_open_status none = { 0 };

			none.encrypted = rc == LL_ENOKEY || rc == LL_EDECRYPT;
			print_json(&none, err.message, NULL, NULL);
		}
		rc = cli_fail(cli, "open", &err);
		goto out;
	}
	st = ll_opened_status(o);
	signer = ll_opened_signer(o);
	if (signer != NULL) {
		/* judged before the harvest below changes the answer */
		switch (ll_contacts_known(ks, st->signer,
					  ll_cert_fingerprint(signer))) {
		case 1:
			signer_key = "known";
			break;
		case -1:
			signer_key = "changed";
			break;
		default:
			signer_key = "new";
			break;
		}
	}
	/* our own signature gives the contacts nothing */
	if (signer != NULL && harvest && st->revocation != LL_REV_REVOKED &&
	    !own_address(ks, st->signer)) {
		keep(cli, ks, signer, st->signer, "signed with");
		enc = ll_opened_encryption_cert(o);
		if (enc != NULL && strcmp(ll_cert_fingerprint(enc),
					  ll_cert_fingerprint(signer)) != 0)
			keep(cli, ks, enc, st->signer, "asks to be encrypted to");
	}
	if (!json || outpath != NULL) {
		size_t dlen;
		const char *data = ll_opened_data(o, &dlen);

		if (cli_write_file(outpath, data, dlen) < 0) {
			rc = EXIT_FAIL;
			goto out;
		}
	}
	if (json)
		print_json(st, NULL, signer_key, ll_opened_encryption_cert(o));
	else if (!cli->quiet)
		fprintf(stderr, "letterlock: %s%s, signature %s%s%s%s\n",
			st->encrypted ? "decrypted " : "not encrypted",
			st->cipher ? st->cipher : "",
			ll_sig_state_name(st->signature),
			st->signer[0] ? " by " : "", st->signer,
			revoked_note(note, sizeof(note), st));
	rc = st->is_signed && st->signature != LL_SIG_VALID ? EXIT_BADSIG :
							      EXIT_OK;
out:
	ll_opened_free(&o);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	free(msg);
	return rc;
}
