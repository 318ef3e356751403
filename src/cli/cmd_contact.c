/* cmd_contact.c - letterlock contact add|list|accept|lookup, trust
 * add|list */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char contact_usage[] =
	"usage: letterlock contact add [--caps LIST] CERT...\n"
	"       letterlock contact list\n"
	"       letterlock contact accept ADDRESS FINGERPRINT\n"
	"       letterlock contact lookup [--pkx URL] [--pkx-ca-file F]\n"
	"                                 [--smimea] [--resolver-conf F]\n"
	"                                 [--trust-anchor F]\n"
	"                                 [--max-age SECONDS] ADDRESS...\n"
	"LIST: what the contact's client reads, comma-separated:\n"
	"      aes256-gcm, aes128-gcm, aes256-cbc, aes128-cbc, rsa-oaep\n"
	"list shows every key ever stored: current (used), pending (a new\n"
	"key seen in signed mail, not used until accepted), replaced; and\n"
	"what each is for: sign, encrypt (to), both.\n"
	"lookup asks the PKX directory at URL (once per --max-age, default\n"
	"a day), then with --smimea DNS for the SMIMEA records (RFC 8162)\n"
	"of the addresses still without a certificate, used only when\n"
	"DNSSEC validates them (--resolver-conf: an unbound configuration,\n"
	"default the system's resolver; --trust-anchor: DS or DNSKEY\n"
	"records, default the root's), and says what each address has.\n";
static const char trust_usage[] = "usage: letterlock trust add CA.pem...\n"
				  "       letterlock trust list\n";

static int parse_caps(unsigned *out, const char *s)
{
	char *dup = strdup(s), *tok, *save = NULL;
	int rc = 0;

	*out = 0;
	if (dup == NULL)
		return -1;
	for (tok = strtok_r(dup, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned cap = ll_cap_by_name(tok);

		if (cap == 0) {
			fprintf(stderr, "letterlock: unknown capability %s\n",
				tok);
			rc = -1;
			break;
		}
		*out |= cap;
	}
	free(dup);
	return rc;
}

/* Add every certificate of every FILE as a contact or trust anchor. */
static int add_files(struct cli *cli, int trust, unsigned caps, int argc,
		     char **argv)
{
	struct ll_keystore *ks = NULL;
	int rc = cli_open_home(&ks, NULL, cli, 0);

	for (int i = 0; rc == 0 && i < argc; i++) {
		struct ll_error err = { 0 };
		struct ll_cert **v = NULL;
		size_t n = 0, len;
		char *buf;

		if (cli_read_file(&buf, &len, argv[i], 1 << 20) < 0) {
			rc = EXIT_FAIL;
			break;
		}
		if (ll_cert_parse_all(&v, &n, buf, len, &err) < 0)
			rc = cli_fail(cli, argv[i], &err);
		for (size_t j = 0; j < n; j++) {
			int r;

			/* a chain's CA certificates are no contacts */
			if (!trust && ll_cert_email(v[j])[0] == '\0') {
				if (!cli->quiet)
					printf("skipped %s (no mailbox "
					       "address)\n",
					       ll_cert_subject(v[j]));
				ll_cert_free(&v[j]);
				continue;
			}
			ll_cert_set_caps(v[j], caps);
			r = trust ? ll_keystore_add_trust(ks, v[j], &err) :
			    ll_contacts_known(ks, ll_cert_email(v[j]),
					      ll_cert_fingerprint(v[j])) == 1 ?
				    LL_EEXIST :
				    ll_contacts_add(ks, v[j], LL_SRC_MANUAL,
						    time(NULL), NULL, &err);
			if (r < 0 && r != LL_EEXIST)
				rc = cli_fail(cli, argv[i], &err);
			else if (!cli->quiet)
				printf("%s %s %s%s%s\n",
				       trust ? "trusted" : "contact",
				       ll_cert_email(v[j])[0] ?
					       ll_cert_email(v[j]) :
					       ll_cert_subject(v[j]),
				       ll_cert_fingerprint(v[j]),
				       r == LL_EEXIST ? " (already known)" :
							"",
				       trust || (ll_cert_uses(v[j]) &
						 LL_USE_ENCRYPT) ?
					       "" :
					       " (its keyUsage allows no "
					       "encryption: it verifies mail, "
					       "it cannot be encrypted to)");
			ll_cert_free(&v[j]);
		}
		free(v);
		free(buf);
	}
	ll_keystore_close(&ks);
	return rc;
}

static int list_one(void *arg, const struct ll_contact_info *c)
{
	char until[32];
	time_t na = ll_cert_not_after(c->cert);
	struct tm tm;

	(void)arg;
	gmtime_r(&na, &tm);
	strftime(until, sizeof(until), "%Y-%m-%d", &tm);
	printf("%s %s %s %s until %s %s\n", c->address,
	       ll_cert_fingerprint(c->cert), ll_contact_state_name(c->state),
	       ll_contact_source_name(c->source), until,
	       ll_cert_use_name(ll_cert_uses(c->cert)));
	return 0;
}

static int list_contacts(struct cli *cli)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	int rc = cli_open_home(&ks, NULL, cli, 0);

	if (rc == 0 && ll_contacts_foreach(ks, list_one, NULL, &err) < 0)
		rc = cli_fail(cli, "contact list", &err);
	ll_keystore_close(&ks);
	return rc;
}

static int accept_contact(struct cli *cli, const char *addr, const char *fpr)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	int rc = cli_open_home(&ks, NULL, cli, 0);

	if (rc == 0 && ll_contacts_accept(ks, addr, fpr, time(NULL), &err) < 0)
		rc = cli_fail(cli, "contact accept", &err);
	else if (rc == 0 && !cli->quiet)
		printf("%s now uses %s\n", addr, fpr);
	ll_keystore_close(&ks);
	return rc;
}

/* letterlock contact lookup [--pkx URL] [--smimea] ADDRESS...: one
 * line an address, "ADDRESS found SOURCE", "ADDRESS none"; "changed"
 * when the directory replaced the key, "pending" when a key waits. */
static int lookup(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pkx", required_argument, NULL, 'p' },
		{ "pkx-ca-file", required_argument, NULL, 'C' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "smimea", no_argument, NULL, 's' },
		{ "resolver-conf", required_argument, NULL, 'r' },
		{ "trust-anchor", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ll_contacts_options o = LL_CONTACTS_OPTIONS_INIT;
	struct ll_contact_result *res = NULL;
	struct ll_keystore *ks = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };
	char note[2048];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pkx_url = optarg;
			break;
		case 'C':
			o.pkx_ca_file = optarg;
			break;
		case 'm':
			o.max_age = strtol(optarg, NULL, 10);
			if (o.max_age <= 0) /* 0 would mean the default */
				o.max_age = 1;
			break;
		case 's':
			o.smimea = 1;
			break;
		case 'r':
			o.resolver_conf = optarg;
			break;
		case 't':
			o.trust_anchor_file = optarg;
			break;
		default:
			fputs(contact_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if ((o.pkx_url == NULL && !o.smimea) || optind >= argc ||
	    (!o.smimea &&
	     (o.resolver_conf != NULL || o.trust_anchor_file != NULL))) {
		fputs(contact_usage, stderr);
		return EXIT_USAGE;
	}
	res = calloc((size_t)(argc - optind), sizeof(*res));
	if (res == NULL)
		return EXIT_FAIL;
	rc = cli_open_home(&ks, &ctx, cli, CLI_LOAD_CERTS);
	if (rc == 0 &&
	    ll_contacts_resolve(ks, ctx, (const char *const *)argv + optind,
				(size_t)(argc - optind), &o, res, note,
				sizeof(note), &err) < 0)
		rc = cli_fail(cli, "contact lookup", &err);
	if (rc == 0 && note[0] != '\0')
		fprintf(stderr, "letterlock: warning: %s\n", note);
	for (int i = 0; rc == 0 && i < argc - optind; i++)
		printf("%s %s%s%s%s\n", res[i].address,
		       res[i].found	? "found " :
		       res[i].sign_only ? "none (signing certificates only)" :
					  "none",
		       res[i].found ? ll_contact_source_name(res[i].source) :
				      "",
		       res[i].changed ? " changed" : "",
		       res[i].pending ? " pending" : "");
	free(res);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	return rc;
}

int cmd_contact(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "caps", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned caps = 0;
	int c;

	if (argc < 2 || cli_wants_help(argc, argv)) {
		fputs(contact_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		return list_contacts(cli);
	if (strcmp(argv[1], "accept") == 0 && argc == 4)
		return accept_contact(cli, argv[2], argv[3]);
	if (strcmp(argv[1], "lookup") == 0)
		return lookup(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "add") != 0) {
		fputs(contact_usage, stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'c' || parse_caps(&caps, optarg) < 0)
			return EXIT_USAGE;
	}
	if (optind >= argc) {
		fputs(contact_usage, stderr);
		return EXIT_USAGE;
	}
	return add_files(cli, 0, caps, argc - optind, argv + optind);
}

int cmd_trust(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || cli_wants_help(argc, argv)) {
		fputs(trust_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		return cli_list(cli, LL_KS_TRUST);
	if (strcmp(argv[1], "add") == 0 && argc > 2)
		return add_files(cli, 1, 0, argc - 2, argv + 2);
	fputs(trust_usage, stderr);
	return EXIT_USAGE;
}
