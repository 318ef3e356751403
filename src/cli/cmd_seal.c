/* cmd_seal.c - letterlock seal */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char seal_usage[] =
	"usage: letterlock seal [--sign-only|--encrypt-only] [--opaque] [--cbc]\n"
	"                       [--no-header-protection]\n"
	"                       [--tsa URL [--tsa-ca-file F] [--require-timestamp]]\n"
	"                       [-o OUT] [IN]\n"
	"  --cbc  the profile every S/MIME client reads (AES-256-CBC and RSA\n"
	"         PKCS#1 v1.5), even for recipients known to read more\n"
	"  --tsa URL  time-stamp the signature at this RFC 3161 TSA (the\n"
	"         token must verify under the trust anchors); if the TSA\n"
	"         fails the message is signed without one, with a warning,\n"
	"         unless --require-timestamp (then nothing is written)\n"
	"Signs (as the identity of From) and encrypts (to To, Cc, Bcc and\n"
	"the sender) the message IN (default: stdin).  With Bcc recipients\n"
	"each gets a copy of its own: OUT holds the To/Cc copy, OUT.bcc1,\n"
	"OUT.bcc2, ... the Bcc copies (-o is then required).\n";

int cmd_seal(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sign-only", no_argument, NULL, 's' },
		{ "encrypt-only", no_argument, NULL, 'e' },
		{ "opaque", no_argument, NULL, 'O' },
		{ "cbc", no_argument, NULL, 'c' },
		{ "no-header-protection", no_argument, NULL, 'n' },
		{ "tsa", required_argument, NULL, 'T' },
		{ "tsa-ca-file", required_argument, NULL, 'C' },
		{ "require-timestamp", no_argument, NULL, 'R' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_keystore *ks = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_sealed *s = NULL;
	struct ll_error err = { 0 };
	const char *outpath = NULL;
	char *msg = NULL, **bcc = NULL, **tocc = NULL;
	size_t len;
	int c, rc, has_tocc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			so.flags &= ~LL_SEAL_ENCRYPT;
			break;
		case 'e':
			so.flags &= ~LL_SEAL_SIGN;
			break;
		case 'O':
			so.flags |= LL_SEAL_OPAQUE;
			break;
		case 'c':
			so.flags |= LL_SEAL_FORCE_CBC;
			break;
		case 'n':
			so.flags |= LL_SEAL_NO_HP;
			break;
		case 'T':
			so.tsa_url = optarg;
			break;
		case 'C':
			so.tsa_ca_file = optarg;
			break;
		case 'R':
			so.flags |= LL_SEAL_REQUIRE_TIMESTAMP;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'h':
			fputs(seal_usage, stdout);
			return EXIT_OK;
		default:
			fputs(seal_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (!(so.flags & (LL_SEAL_SIGN | LL_SEAL_ENCRYPT))) {
		fprintf(stderr, "letterlock: --sign-only and --encrypt-only "
				"exclude each other\n");
		return EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		fputs(seal_usage, stderr);
		return EXIT_USAGE;
	}
	if (so.tsa_url == NULL && (so.tsa_ca_file != NULL ||
				   (so.flags & LL_SEAL_REQUIRE_TIMESTAMP))) {
		fprintf(stderr, "letterlock: --tsa-ca-file and "
				"--require-timestamp need --tsa URL\n");
		return EXIT_USAGE;
	}
	rc = cli_read_file(&msg, &len, optind < argc ? argv[optind] : NULL,
			   LL_MSG_MAX_SIZE);
	if (rc < 0)
		return rc == -2 ? EXIT_BADINPUT : EXIT_FAIL;
	rc = cli_open_home(&ks, &ctx, cli, 1);
	if (rc != 0)
		goto out;
	if (ll_msg_addresses(&bcc, msg, len, LL_ADDR_BCC, &err) < 0) {
		rc = cli_fail(cli, "seal", &err);
		goto out;
	}
	if (bcc[0] != NULL && (outpath == NULL || !strcmp(outpath, "-"))) {
		fprintf(stderr, "letterlock: the message has Bcc recipients: "
				"each gets a copy of its own, so -o OUT is "
				"needed\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (ll_msg_addresses(&tocc, msg, len, LL_ADDR_TO_CC, &err) < 0) {
		rc = cli_fail(cli, "seal", &err);
		goto out;
	}
	has_tocc = tocc[0] != NULL || bcc[0] == NULL;
	rc = ll_msg_seal(&s, ctx, msg, len, &so, &err);
	if (rc < 0) {
		rc = cli_fail(cli, "seal", &err);
		goto out;
	}
	if (*ll_sealed_note(s) != '\0') /* said even with --quiet */
		fprintf(stderr, "letterlock: warning: %s\n", ll_sealed_note(s));
	for (size_t i = 0; i < ll_sealed_count(s); i++) {
		const char *const *rcpts;
		size_t n, dlen;
		const char *data = ll_sealed_data(s, i, &dlen);
		char path[4096];

		rcpts = ll_sealed_rcpts(s, i, &n);
		if (i == 0 && has_tocc)
			snprintf(path, sizeof(path), "%s",
				 outpath ? outpath : "-");
		else
			snprintf(path, sizeof(path), "%s.bcc%zu", outpath,
				 has_tocc ? i : i + 1);
		if (cli_write_file(path, data, dlen) < 0) {
			rc = EXIT_FAIL;
			goto out;
		}
		if (bcc[0] != NULL && !cli->quiet) {
			fprintf(stderr, "%s:", path);
			for (size_t k = 0; k < n; k++)
				fprintf(stderr, " %s", rcpts[k]);
			fputc('\n', stderr);
		}
	}
out:
	ll_sealed_free(&s);
	ll_strv_free(&bcc);
	ll_strv_free(&tocc);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	free(msg);
	return rc;
}
