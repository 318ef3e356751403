/* util.c - files, the home directory, error reporting. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "internal.h" /* ll_write_all */

int cli_read_file(char **out, size_t *len, const char *path, size_t max)
{
	FILE *f = (path == NULL || strcmp(path, "-") == 0) ?
			  stdin : fopen(path, "rb");
	size_t cap = 65536, n = 0;
	char *buf = NULL, *nb;

	if (f == NULL) {
		fprintf(stderr, "letterlock: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(cap + 1);
	while (buf != NULL) {
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (n > max) {
			fprintf(stderr, "letterlock: %s: larger than %zu bytes\n",
				path ? path : "stdin", max);
			free(buf);
			if (f != stdin)
				fclose(f);
			return -2;
		}
		if (r == 0)
			break;
		if (n == cap) {
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL)
				goto fail;
			buf = nb;
		}
	}
	if (buf == NULL || ferror(f)) {
		fprintf(stderr, "letterlock: reading %s failed\n",
			path ? path : "stdin");
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	if (f != stdin)
		fclose(f);
	return -1;
}

int cli_write_all(int fd, const char *data, size_t len)
{
	return ll_write_all(fd, data, len);
}

static int write_all(int fd, const char *path, const char *data, size_t len)
{
	if (cli_write_all(fd, data, len) == 0)
		return 0;
	fprintf(stderr, "letterlock: %s: %s\n", path, strerror(errno));
	return -1;
}

static int write_direct(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		fprintf(stderr, "letterlock: %s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = write_all(fd, path, data, len);
	if (close(fd) != 0 && rc == 0) {
		fprintf(stderr, "letterlock: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Write to PATH.tmp, fsync, rename: never a half-written file. */
int cli_write_file(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	struct stat st;
	int fd;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
			fprintf(stderr, "letterlock: writing stdout failed\n");
			return -1;
		}
		return 0;
	}
	/* a device or a pipe (/dev/null, /dev/stdout) is written as it is */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return write_direct(path, data, len);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "letterlock: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, tmp, data, len) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "letterlock: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The first line of PATH into BUF (SIZE bytes with its NUL), the file
 * read wiped.  -1 when it cannot be read (said on stderr), -2 when the
 * line does not fit (not said). */
int cli_read_password(char *buf, size_t size, const char *path)
{
	char *data = NULL;
	size_t len = 0, n;

	if (cli_read_file(&data, &len, path, 4096) < 0)
		return -1;
	n = strcspn(data, "\r\n");
	if (n < size) {
		memcpy(buf, data, n);
		buf[n] = '\0';
	}
	OPENSSL_cleanse(data, len);
	free(data);
	return n < size ? 0 : -2;
}

/* What the keystore said: where a passphrase was at fault, the home's
 * name says which keys. */
static int home_fail(const struct cli *cli, const char *what,
		     const struct ll_error *err)
{
	if (err->code == LL_EPASSPHRASE || err->code == LL_ELOCKED)
		what = cli->home;
	return cli_fail(cli, what, err);
}

int cli_open_home(struct ll_keystore **ks, struct ll_ctx **ctx,
		  const struct cli *cli, int load)
{
	struct ll_error err = { 0 };
	int rc;

	*ks = NULL;
	if (ctx != NULL)
		*ctx = NULL;
	rc = ll_keystore_open(ks, cli->home, &err);
	if (rc < 0)
		return cli_fail(cli, cli->home, &err);
	ll_keystore_set_passphrase_cb(*ks, cli_passphrase_cb, (void *)cli);
	if (ctx == NULL)
		return 0;
	rc = ll_ctx_new(ctx, &err);
	if (rc == 0 && load == CLI_LOAD_ALL)
		rc = ll_keystore_load(*ks, *ctx, &err);
	else if (rc == 0 && load == CLI_LOAD_CERTS)
		rc = ll_keystore_load_certs(*ks, *ctx, &err);
	if (rc == 0 && load != CLI_LOAD_NONE) {
		/* what the home knows revoked signs and is offered no more;
		 * open asks responders itself (cmd_open.c) */
		struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;

		ro.cache = *ks;
		rc = ll_ctx_set_revocation(*ctx, &ro, &err);
	}
	if (rc < 0) {
		ll_keystore_close(ks);
		ll_ctx_free(ctx);
		return home_fail(cli, "loading the home", &err);
	}
	return 0;
}

int cli_load_keys(struct ll_keystore *ks, struct ll_ctx *ctx,
		  const struct cli *cli)
{
	struct ll_error err = { 0 };

	if (ll_keystore_load_identities(ks, ctx, &err) < 0)
		return home_fail(cli, "loading the keys", &err);
	return 0;
}

int cli_verr(struct ll_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	memset(err, 0, sizeof(*err));
	err->code = code;
	err->klass = LL_ECLASS_OS;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	for (char *s = err->message; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
	return code;
}

int cli_err(struct ll_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = cli_verr(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int cli_vsay(int code, const char *who, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", who);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return code;
}

int cli_exit_for(int rc)
{
	switch (rc) {
	case 0: return EXIT_OK;
	case LL_EINVAL: return EXIT_USAGE;
	case LL_ENOCERT: return EXIT_NOCERT;
	case LL_ENOKEY:
	case LL_EDECRYPT: return EXIT_NODECRYPT;
	case LL_EPARSE:
	case LL_ETOOBIG:
	case LL_EPOLICY: return EXIT_BADINPUT;
	}
	return EXIT_FAIL;
}

int cli_fail(const struct cli *cli, const char *what,
	     const struct ll_error *err)
{
	fprintf(stderr, "letterlock: %s: %s\n", what,
		err->message[0] ? err->message : ll_strerror(err->code));
	if (err->detail[0] && getenv("LETTERLOCK_DEBUG") != NULL)
		fprintf(stderr, "letterlock:   (%s)\n", err->detail);
	return cli_exit_for(err->code ? err->code : LL_ECRYPTO);
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}
