/* cmd_passwd.c - letterlock passwd: how the keys are protected at rest */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

static const char passwd_usage[] =
	"usage: letterlock passwd [--key-file | --new-passphrase-file F |\n"
	"                          --status]\n"
	"Protects the private keys of the home with a new passphrase, asked\n"
	"twice on the terminal or the first line of F; or, with --key-file,\n"
	"with a key file only the user can read (unattended use: whoever\n"
	"reads the home reads the keys).  The current passphrase, if any,\n"
	"comes from $LETTERLOCK_PASSPHRASE_FILE or the terminal.  Only\n"
	"master.key is rewritten, atomically.  --status prints `passphrase'\n"
	"or `key-file'.\n";

#define PASS_SIZE (LL_KEYSTORE_PASS_MAX + 1)

/* The new passphrase: the first line of FILE, else typed twice. */
static int new_passphrase(char *pass, const char *file)
{
	char again[PASS_SIZE];
	int rc;

	if (file != NULL) {
		rc = cli_read_password(pass, PASS_SIZE, file);
		if (rc == -2)
			fprintf(stderr,
				"letterlock: %s: the passphrase is "
				"longer than %d bytes\n",
				file, LL_KEYSTORE_PASS_MAX);
		if (rc < 0)
			return EXIT_FAIL;
		if (pass[0] == '\0') {
			fprintf(stderr,
				"letterlock: %s: the first line (the "
				"passphrase) is empty; --key-file "
				"keeps the keys without one\n",
				file);
			return EXIT_USAGE;
		}
		return 0;
	}
	rc = cli_ask_tty(pass, PASS_SIZE, "new passphrase: ");
	if (rc == 0 && pass[0] == '\0')
		rc = CLI_TTY_EOF;
	if (rc == 0)
		rc = cli_ask_tty(again, sizeof(again),
				 "new passphrase again: ");
	if (rc == 0 && (strlen(pass) != strlen(again) ||
			CRYPTO_memcmp(pass, again, strlen(pass)) != 0)) {
		fprintf(stderr, "letterlock: the two passphrases differ; "
				"nothing changed\n");
		rc = EXIT_USAGE;
	} else if (rc == CLI_TTY_EOF) {
		fprintf(stderr, "letterlock: no new passphrase given; nothing "
				"changed\n");
		rc = EXIT_USAGE;
	} else if (rc == CLI_TTY_LONG) {
		fprintf(stderr,
			"letterlock: a passphrase is at most %d "
			"bytes\n",
			LL_KEYSTORE_PASS_MAX);
		rc = EXIT_USAGE;
	} else if (rc < 0) {
		fprintf(stderr, "letterlock: no terminal to ask the new "
				"passphrase on: use --new-passphrase-file F\n");
		rc = EXIT_USAGE;
	}
	OPENSSL_cleanse(again, sizeof(again));
	return rc;
}

/* R, the keystore's answer to a change of its protection: 0 when the
 * change is made (a warning when only the directory's fsync failed),
 * else the exit code, said. */
static int made(struct cli *cli, int r, struct ll_error *err)
{
	if (r == LL_ENOTSYNCED)
		fprintf(stderr,
			"letterlock: passwd: warning: %s (it may be lost on a "
			"crash: run sync)\n",
			err->message);
	else if (r < 0)
		return cli_fail(cli, "passwd", err);
	return 0;
}

int cmd_passwd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-file", no_argument, NULL, 'k' },
		{ "new-passphrase-file", required_argument, NULL, 'f' },
		{ "status", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	const char *file = NULL;
	char pass[PASS_SIZE] = { 0 };
	int c, rc, keyfile = 0, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keyfile = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 's':
			status = 1;
			break;
		case 'h':
			fputs(passwd_usage, stdout);
			return EXIT_OK;
		default:
			fputs(passwd_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || keyfile + status + (file != NULL) > 1) {
		fputs(passwd_usage, stderr);
		return EXIT_USAGE;
	}
	rc = cli_open_home(&ks, NULL, cli, CLI_LOAD_NONE);
	if (rc != 0)
		return rc;
	if (status) {
		printf("%s\n", ll_keystore_protection(ks) == LL_KS_PASSPHRASE ?
				       "passphrase" :
				       "key-file");
		goto out;
	}
	/* the current passphrase first, then the new one */
	if (ll_keystore_unlock(ks, NULL, &err) < 0) {
		rc = cli_fail(cli, cli->home, &err);
		goto out;
	}
	if (keyfile) {
		rc = made(cli, ll_keystore_set_key_file(ks, &err), &err);
		if (rc == 0 && !cli->quiet)
			fprintf(stderr,
				"letterlock: the keys in %s are kept under a "
				"key file: whoever can read %s/master.key "
				"can use them\n",
				cli->home, cli->home);
		goto out;
	}
	rc = new_passphrase(pass, file);
	if (rc != 0)
		goto out;
	rc = made(cli, ll_keystore_set_passphrase(ks, pass, NULL, &err), &err);
	if (rc == 0 && !cli->quiet)
		fprintf(stderr,
			"letterlock: the keys in %s are protected by the new "
			"passphrase\n",
			cli->home);
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	ll_keystore_close(&ks);
	return rc;
}
