/* cmd_contact.c - letterlock contact add|list, trust add|list */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char contact_usage[] =
	"usage: letterlock contact add [--caps LIST] CERT...\n"
	"       letterlock contact list\n"
	"LIST: what the contact's client reads, comma-separated:\n"
	"      aes256-gcm, aes128-gcm, aes256-cbc, aes128-cbc, rsa-oaep\n";
static const char trust_usage[] =
	"usage: letterlock trust add CA.pem...\n"
	"       letterlock trust list\n";

static int parse_caps(unsigned *out, const char *s)
{
	static const struct {
		const char *name;
		unsigned bit;
	} tab[] = {
		{ "aes256-gcm", LL_CAP_AES256_GCM },
		{ "aes128-gcm", LL_CAP_AES128_GCM },
		{ "aes256-cbc", LL_CAP_AES256_CBC },
		{ "aes128-cbc", LL_CAP_AES128_CBC },
		{ "rsa-oaep", LL_CAP_RSA_OAEP },
	};
	char *dup = strdup(s), *tok, *save = NULL;
	int rc = 0;

	*out = 0;
	if (dup == NULL)
		return -1;
	for (tok = strtok_r(dup, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
			if (strcmp(tok, tab[i].name) == 0)
				break;
		if (i == sizeof(tab) / sizeof(tab[0])) {
			fprintf(stderr, "letterlock: unknown capability %s\n",
				tok);
			rc = -1;
			break;
		}
		*out |= tab[i].bit;
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

			ll_cert_set_caps(v[j], caps);
			r = trust ? ll_keystore_add_trust(ks, v[j], &err) :
				    ll_keystore_add_contact(ks, v[j], &err);
			if (r < 0 && r != LL_EEXIST)
				rc = cli_fail(cli, argv[i], &err);
			else if (!cli->quiet)
				printf("%s %s %s%s\n", trust ? "trusted" : "contact",
				       ll_cert_email(v[j])[0] ?
					       ll_cert_email(v[j]) :
					       ll_cert_subject(v[j]),
				       ll_cert_fingerprint(v[j]),
				       r == LL_EEXIST ? " (already known)" : "");
			ll_cert_free(&v[j]);
		}
		free(v);
		free(buf);
	}
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
		return cli_list(cli, LL_KS_CONTACT);
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
