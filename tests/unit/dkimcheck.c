/*
 * dkimcheck.c - letterlockd's DKIM and CAA checks (src/service/mail.h)
 * from the command line, for tests/integration/test_maildns.sh, which
 * runs them against the mail stack's DNS.  Not installed, not a unit
 * test of its own.
 *
 *   dkimcheck dkim RESOLVER_CONF DOMAIN FILE   lld_dkim_verify on FILE
 *   dkimcheck caa RESOLVER_CONF DOMAIN IDENTITY  lld_caa_check
 *
 * RESOLVER_CONF "" means the system's resolver.  Prints "pass",
 * "allowed", or the reason.  Exit status: 0 pass / allowed, 1 refused
 * (LL_EPOLICY), 3 the lookup failed (LL_EIO), 4 anything else, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"

/* FILE's bytes into *out (malloc'd), at most LLD_REPLY_MAX + 1. */
static int slurp(char **out, size_t *len, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(LLD_REPLY_MAX + 1);
	size_t n = 0;

	if (f == NULL || buf == NULL) {
		perror(path);
		if (f != NULL)
			fclose(f);
		free(buf);
		return -1;
	}
	n = fread(buf, 1, LLD_REPLY_MAX + 1, f);
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

static int verdict(int rc, const struct ll_error *err, const char *ok)
{
	if (rc == 0) {
		printf("%s\n", ok);
		return 0;
	}
	printf("%s: %s\n", ll_strerror(rc), err->message);
	return rc == LL_EPOLICY ? 1 : rc == LL_EIO ? 3 : 4;
}

int main(int argc, char **argv)
{
	struct ll_error err = { 0 };
	char *msg = NULL;
	size_t len = 0;
	int rc;

	if (argc == 5 && strcmp(argv[1], "dkim") == 0) {
		if (slurp(&msg, &len, argv[4]) < 0)
			return 4;
		rc = lld_dkim_verify(msg, len, argv[3], argv[2], &err);
		free(msg);
		return verdict(rc, &err, "pass");
	}
	if (argc == 5 && strcmp(argv[1], "caa") == 0) {
		rc = lld_caa_check(argv[3], argv[4], argv[2], &err);
		return verdict(rc, &err, "allowed");
	}
	fprintf(stderr, "usage: dkimcheck dkim RESOLVER_CONF DOMAIN FILE\n"
			"       dkimcheck caa RESOLVER_CONF DOMAIN IDENTITY\n");
	return 2;
}
