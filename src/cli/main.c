/* main.c - letterlock: S/MIME for every mailbox, from the command line. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cli.h"

static const char usage[] =
	"usage: letterlock [--home DIR] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  identity import FILE.p12 [--passphrase-file F]\n"
	"  identity import-pem KEY.pem CERTS.pem\n"
	"  identity new --email ADDR [--key rsa-3072|rsa-2048|ec-p256]\n"
	"               --self-signed [--days N]\n"
	"  identity list [--json]\n"
	"  identity export-cert ADDR\n"
	"  contact add [--caps LIST] CERT...\n"
	"  contact list\n"
	"  contact accept ADDRESS FINGERPRINT\n"
	"  contact lookup [--pkx URL] [--smimea] [--max-age S] ADDRESS...\n"
	"  trust add CA.pem...\n"
	"  trust list\n"
	"  seal [--sign-only|--encrypt-only] [--opaque] [--cbc]\n"
	"       [--no-header-protection]\n"
	"       [--tsa URL [--tsa-ca-file F] [--require-timestamp]]\n"
	"       [-o OUT] [IN]\n"
	"  open [--json] [--no-harvest] [--offline]\n"
	"       [--require-revocation-status] [-o OUT] [IN]\n"
	"  enrol ADDRESS --acme URL --imap-url URL --smtp-url URL\n"
	"        [--mail-user U] [--mail-password-file F] [--mail-ca-file F]\n"
	"        [--acme-ca-file F] [--key-type rsa3072|rsa2048|p256]\n"
	"        [--timeout SECONDS] [--quiet]\n"
	"  send [-t] [-f FROM] [-v] [--policy sign-only|refuse]\n"
	"       [--tsa URL [--require-timestamp]] [RCPT...] < MESSAGE\n"
	"  outbox list | flush [-v] | drop ID...\n"
	"  renew [ADDRESS...] [--force] [--now TIME] [--dry-run]\n"
	"        [--key-type rsa3072|rsa2048|p256] [enrol's --acme, --imap-url ...]\n"
	"  passwd [--key-file | --new-passphrase-file F | --status]\n"
	"  backup [ADDRESS] [--to vault|mailbox] [--code-file F] | --refresh\n"
	"         [enrol's --acme, --imap-url ... options]\n"
	"  restore ADDRESS [--from vault|mailbox] [--code-file F] "
	"[--version N]\n"
	"         [enrol's --acme, --imap-url ... options]\n"
	"  revoke [ADDRESS | --fingerprint FPR] [--reason REASON]\n"
	"         [--acme URL --imap-url URL --smtp-url URL ...]\n"
	"  account add ADDRESS --imap-url URL --smtp-url URL [--user U]\n"
	"        [--password-file F] [--ca-file F] [--policy sign-only|refuse]\n"
	"        [--domain-policy LIST]\n"
	"  account list | remove ADDRESS\n"
	"  bridge [--daemon] [--config FILE] | --show-password\n"
	"\n"
	"The home is --home DIR, else $LETTERLOCK_HOME, else\n"
	"$XDG_DATA_HOME/letterlock (~/.local/share/letterlock).\n"
	"Keys under a passphrase: the first line of the file\n"
	"$LETTERLOCK_PASSPHRASE_FILE names, else asked on the terminal.\n"
	"`letterlock COMMAND --help` describes one command; see letterlock(1).\n";

static char home_buf[4096];

static const char *default_home(void)
{
	const char *h = getenv("LETTERLOCK_HOME");

	if (h != NULL && *h != '\0')
		return h;
	h = getenv("XDG_DATA_HOME");
	if (h != NULL && *h != '\0') {
		snprintf(home_buf, sizeof(home_buf), "%s/letterlock", h);
		return home_buf;
	}
	h = getenv("HOME");
	if (h == NULL || *h == '\0')
		return NULL;
	snprintf(home_buf, sizeof(home_buf), "%s/.local/share/letterlock", h);
	return home_buf;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int i = 1;

	cli.prog = "letterlock";
	/*
	 * Big buffers straight from mmap: glibc's dynamic threshold would
	 * move them to the heap after the first free, where growing one
	 * copies it (twice the memory of a large message for a moment).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			cli.home = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--home=", 7) == 0) {
			cli.home = argv[i] + 7;
			i++;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("letterlock %s\n", LL_VERSION);
			return EXIT_OK;
		} else {
			fprintf(stderr, "letterlock: unknown option %s\n%s",
				argv[i], usage);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (cli.home == NULL)
		cli.home = default_home();
	if (cli.home == NULL) {
		fprintf(stderr, "letterlock: no home: use --home DIR or set "
				"LETTERLOCK_HOME\n");
		return EXIT_USAGE;
	}
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "identity") == 0)
		return cmd_identity(&cli, argc, argv);
	if (strcmp(argv[0], "contact") == 0)
		return cmd_contact(&cli, argc, argv);
	if (strcmp(argv[0], "trust") == 0)
		return cmd_trust(&cli, argc, argv);
	if (strcmp(argv[0], "seal") == 0)
		return cmd_seal(&cli, argc, argv);
	if (strcmp(argv[0], "open") == 0)
		return cmd_open(&cli, argc, argv);
	if (strcmp(argv[0], "enrol") == 0)
		return cmd_enrol(&cli, argc, argv);
	if (strcmp(argv[0], "send") == 0)
		return cmd_send(&cli, argc, argv);
	if (strcmp(argv[0], "outbox") == 0)
		return cmd_outbox(&cli, argc, argv);
	if (strcmp(argv[0], "renew") == 0)
		return cmd_renew(&cli, argc, argv);
	if (strcmp(argv[0], "passwd") == 0)
		return cmd_passwd(&cli, argc, argv);
	if (strcmp(argv[0], "backup") == 0)
		return cmd_backup(&cli, argc, argv);
	if (strcmp(argv[0], "restore") == 0)
		return cmd_restore(&cli, argc, argv);
	if (strcmp(argv[0], "revoke") == 0)
		return cmd_revoke(&cli, argc, argv);
	if (strcmp(argv[0], "account") == 0)
		return cmd_account(&cli, argc, argv);
	if (strcmp(argv[0], "bridge") == 0)
		return cmd_bridge(&cli, argc, argv);
	if (strcmp(argv[0], "help") == 0) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "letterlock: unknown command '%s'\n%s", argv[0],
		usage);
	return EXIT_USAGE;
}
