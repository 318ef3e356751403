/* cmd_identity.c - letterlock identity import|import-pem|new|list|export-cert */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"

static const char id_usage[] =
	"usage: letterlock identity import FILE.p12 [--passphrase-file F]\n"
	"       letterlock identity import-pem KEY.pem CERTS.pem\n"
	"       letterlock identity new --email ADDR [--key rsa-3072|rsa-2048|"
	"ec-p256]\n"
	"                               --self-signed [--days N]\n"
	"       letterlock identity list [--json]\n"
	"       letterlock identity export-cert ADDR\n";

/* Store ID; a self-made (self-signed) certificate is also trusted. */
static int store_identity(const struct cli *cli, struct ll_identity *id,
			  int trust_self)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	int rc = cli_open_home(&ks, NULL, cli, 0);

	if (rc != 0)
		return rc;
	rc = ll_keystore_add_identity(ks, id, &err);
	if (rc == LL_EEXIST) {
		fprintf(stderr, "letterlock: this identity is already in %s\n",
			cli->home);
		rc = 0;
	} else if (rc < 0) {
		rc = cli_fail(cli, "storing the identity", &err);
	} else if (trust_self && (rc = ll_keystore_add_trust(
					  ks, ll_identity_cert(id), &err)) < 0 &&
		   rc != LL_EEXIST) {
		rc = cli_fail(cli, "trusting the new certificate", &err);
	} else if (!cli->quiet) {
		rc = 0;
		struct ll_cert *c = ll_identity_cert(id);

		printf("identity %s\n  subject %s\n  sha256 %s\n",
		       ll_cert_email(c), ll_cert_subject(c),
		       ll_cert_fingerprint(c));
	}
	ll_keystore_close(&ks);
	return rc;
}

static int id_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pwfile = NULL;
	char *p12 = NULL, *pw = NULL;
	size_t p12len, pwlen = 0;
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'p')
			return EXIT_USAGE;
		pwfile = optarg;
	}
	if (optind + 1 != argc) {
		fputs(id_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_read_file(&p12, &p12len, argv[optind], 1 << 20) < 0)
		return EXIT_FAIL;
	if (pwfile != NULL) {
		if (cli_read_file(&pw, &pwlen, pwfile, 4096) < 0) {
			free(p12);
			return EXIT_FAIL;
		}
		/* the first line is the passphrase */
		pw[strcspn(pw, "\r\n")] = '\0';
	}
	rc = ll_identity_parse_pkcs12(&id, p12, p12len, pw ? pw : "", &err);
	if (rc < 0)
		rc = cli_fail(cli, argv[optind], &err);
	else
		rc = store_identity(cli, id, 0);
	ll_identity_free(&id);
	if (pw != NULL)
		OPENSSL_cleanse(pw, pwlen);
	free(pw);
	free(p12);
	return rc;
}

static int id_import_pem(struct cli *cli, int argc, char **argv)
{
	char *key = NULL, *certs = NULL;
	size_t keylen = 0, certslen;
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	int rc = EXIT_FAIL;

	if (argc != 3) {
		fputs(id_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_read_file(&key, &keylen, argv[1], 1 << 20) < 0 ||
	    cli_read_file(&certs, &certslen, argv[2], 1 << 20) < 0)
		goto out;
	rc = ll_identity_parse_pem(&id, key, keylen, certs, certslen, &err);
	if (rc < 0)
		rc = cli_fail(cli, argv[1], &err);
	else
		rc = store_identity(cli, id, 0);
out:
	ll_identity_free(&id);
	if (key != NULL)
		OPENSSL_cleanse(key, keylen);
	free(key);
	free(certs);
	return rc;
}

static int id_new(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ "key", required_argument, NULL, 'k' },
		{ "days", required_argument, NULL, 'd' },
		{ "self-signed", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *email = NULL;
	enum ll_keytype type = LL_KEY_RSA3072;
	int days = 365, self = 0, c, rc;
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			email = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "rsa-3072") == 0) {
				type = LL_KEY_RSA3072;
			} else if (strcmp(optarg, "rsa-2048") == 0) {
				type = LL_KEY_RSA2048;
			} else if (strcmp(optarg, "ec-p256") == 0) {
				type = LL_KEY_EC_P256;
			} else {
				fprintf(stderr, "letterlock: unknown key type "
						"%s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			days = atoi(optarg);
			break;
		case 's':
			self = 1;
			break;
		default:
			fputs(id_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (email == NULL || optind != argc) {
		fputs(id_usage, stderr);
		return EXIT_USAGE;
	}
	if (!self) {
		fprintf(stderr, "letterlock: only --self-signed identities can "
				"be made here; a CA-issued one comes with "
				"enrolment\n");
		return EXIT_USAGE;
	}
	rc = ll_identity_generate(&id, email, type, days, &err);
	if (rc < 0)
		rc = cli_fail(cli, "identity new", &err);
	else
		rc = store_identity(cli, id, 1);
	ll_identity_free(&id);
	return rc;
}

static int print_cert(void *arg, const struct ll_cert *c)
{
	char nb[32], na[32];
	time_t t;
	time_t now = time(NULL);
	struct tm tm;
	const char *state;

	(void)arg;
	t = ll_cert_not_before(c);
	gmtime_r(&t, &tm);
	strftime(nb, sizeof(nb), "%Y-%m-%d", &tm);
	t = ll_cert_not_after(c);
	gmtime_r(&t, &tm);
	strftime(na, sizeof(na), "%Y-%m-%d", &tm);
	state = ll_cert_not_after(c) < now ? "expired" :
		ll_cert_not_before(c) > now ? "not yet valid" : "valid";
	printf("%s\t%s..%s\t%s\t%s\n", ll_cert_email(c)[0] ?
	       ll_cert_email(c) : "-", nb, na, state, ll_cert_fingerprint(c));
	if (*(const int *)arg)
		printf("\t%s\n", ll_cert_subject(c));
	return 0;
}

int cli_list(struct cli *cli, enum ll_keystore_kind kind)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	int rc = cli_open_home(&ks, NULL, cli, 0), verbose = 1;

	if (rc != 0)
		return rc;
	rc = ll_keystore_foreach(ks, kind, print_cert, &verbose, &err);
	if (rc < 0)
		rc = cli_fail(cli, "listing", &err);
	ll_keystore_close(&ks);
	return rc;
}

/* ---- identity list: the key history ---- */

static void iso_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One line a key: ADDRESS STATE NOT-BEFORE NOT-AFTER KEY FINGERPRINT,
 * tab-separated (letterlock(1)). */
static int print_key(void *arg, const struct ll_keystore_key *k)
{
	char nb[32], na[32], type[32];

	(void)arg;
	iso_time(nb, sizeof(nb), ll_cert_not_before(k->cert));
	iso_time(na, sizeof(na), ll_cert_not_after(k->cert));
	printf("%s\t%s\t%s\t%s\t%s\t%s\n",
	       ll_cert_email(k->cert)[0] ? ll_cert_email(k->cert) : "-",
	       ll_key_state_name(k->state), nb, na,
	       ll_cert_key_name(k->cert, type, sizeof(type)),
	       ll_cert_fingerprint(k->cert));
	return 0;
}

/* The same as an object of the --json array, with subject and added. */
static int json_key(void *arg, const struct ll_keystore_key *k)
{
	char nb[32], na[32], added[32], type[32];
	json_t *o;

	iso_time(nb, sizeof(nb), ll_cert_not_before(k->cert));
	iso_time(na, sizeof(na), ll_cert_not_after(k->cert));
	iso_time(added, sizeof(added), k->added);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "address",
		      ll_cert_email(k->cert), "state",
		      ll_key_state_name(k->state), "not_before", nb,
		      "not_after", na, "key",
		      ll_cert_key_name(k->cert, type, sizeof(type)),
		      "fingerprint", ll_cert_fingerprint(k->cert), "subject",
		      ll_cert_subject(k->cert), "added", added);
	if (o == NULL || json_array_append_new(arg, o) != 0)
		return LL_ENOMEM;
	return 0;
}

static int id_list(struct cli *cli, int argc, char **argv)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	json_t *all = NULL;
	char *s = NULL;
	int rc;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json") != 0)) {
		fputs(id_usage, stderr);
		return EXIT_USAGE;
	}
	rc = cli_open_home(&ks, NULL, cli, CLI_LOAD_NONE);
	if (rc != 0)
		return rc;
	if (argc == 2) {
		all = json_array();
		if (all == NULL) {
			rc = EXIT_FAIL;
			goto out;
		}
	}
	rc = ll_keystore_foreach_key(ks, 0, all ? json_key : print_key, all,
				     &err);
	if (rc < 0) {
		rc = rc == LL_ENOMEM && err.code == 0 ?
			     EXIT_FAIL :
			     cli_fail(cli, "identity list", &err);
		goto out;
	}
	if (all != NULL) {
		s = json_dumps(all, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (s == NULL) {
			rc = EXIT_FAIL;
			goto out;
		}
		printf("%s\n", s);
	}
out:
	free(s);
	json_decref(all);
	ll_keystore_close(&ks);
	return rc;
}

/* The current certificate: no private key needed, no passphrase. */
static int id_export(struct cli *cli, int argc, char **argv)
{
	struct ll_keystore *ks = NULL;
	struct ll_cert *c = NULL;
	struct ll_error err = { 0 };
	char *pem = NULL;
	int rc;

	if (argc != 2) {
		fputs(id_usage, stderr);
		return EXIT_USAGE;
	}
	rc = cli_open_home(&ks, NULL, cli, CLI_LOAD_NONE);
	if (rc != 0)
		return rc;
	rc = ll_keystore_current_cert(&c, ks, argv[1], 0, &err);
	if (rc == LL_ENOTFOUND) {
		fprintf(stderr, "letterlock: no current identity for %s\n",
			argv[1]);
		rc = EXIT_FAIL;
	} else if (rc < 0) {
		rc = cli_fail(cli, "export", &err);
	} else if (ll_cert_pem(&pem, c, &err) < 0) {
		rc = cli_fail(cli, "export", &err);
	} else {
		fputs(pem, stdout);
	}
	free(pem);
	ll_cert_free(&c);
	ll_keystore_close(&ks);
	return rc;
}

int cmd_identity(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || cli_wants_help(argc, argv)) {
		fputs(id_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	argc--;
	argv++;
	if (strcmp(argv[0], "import") == 0)
		return id_import(cli, argc, argv);
	if (strcmp(argv[0], "import-pem") == 0)
		return id_import_pem(cli, argc, argv);
	if (strcmp(argv[0], "new") == 0)
		return id_new(cli, argc, argv);
	if (strcmp(argv[0], "list") == 0)
		return id_list(cli, argc, argv);
	if (strcmp(argv[0], "export-cert") == 0)
		return id_export(cli, argc, argv);
	fputs(id_usage, stderr);
	return EXIT_USAGE;
}
