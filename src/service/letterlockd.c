/*
 * letterlockd.c - the letterlock service: certificate authority (and,
 * in later work, ACME, PKX, TSA, OCSP/CRL and the key vault).
 *
 * This first piece has the administrator's commands: `init` creates the
 * CA hierarchy and configuration, `issue` certifies one CSR offline.
 */
#include <stdio.h>
#include <string.h>

#include "service.h"

static const struct command {
	const char *verb;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "init", lld_cmd_init,
	  "init --dir DIR [--name NAME] [--base-url URL] [--country CC]\n"
	  "        [--listen HOST:PORT] [--mail-from ADDR --smtp-url URL\n"
	  "        --imap-url URL [--mail-user USER]\n"
	  "        [--mail-password-file FILE] [--mail-ca-file FILE]]\n"
	  "        [--resolver-conf FILE] [--caa-identity DOMAIN]" },
	{ "run", lld_cmd_run, "run --dir DIR [--listen HOST:PORT]" },
	{ "root-crl", lld_cmd_root_crl,
	  "root-crl --dir DIR [--key FILE] [--days N]" },
	{ "export-smimea", lld_cmd_export_smimea,
	  "export-smimea --dir DIR [--out FILE] [--domain DOMAIN]...\n"
	  "        [--ttl SECONDS]" },
	{ "issue", lld_cmd_issue,
	  "issue --dir DIR --email ADDR --csr CSR [--days N]\n"
	  "        [--usage sign|encrypt|both] [-o CERT.pem]" },
};

static void usage(FILE *f)
{
	fputs("usage: letterlockd COMMAND [ARGS]\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].summary);
	fputs("\n`letterlockd COMMAND --help` describes one command; see "
	      "letterlockd(8)\nand letterlockd.conf(5).\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return LLD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return LLD_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("letterlockd %s\n", LL_VERSION);
		return LLD_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].verb) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, LLD_PROG ": unknown command '%s'\n", argv[1]);
	usage(stderr);
	return LLD_EXIT_USAGE;
}
