/* fsutil.c - files and directories of the CA, error reports. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h" /* ll_write_all */
#include "service.h"

int lld_read_file(char **out, size_t *len, const char *path, size_t max)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO :
					  open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 16384, n = 0; /* keys fit: no realloc copies */
	char *buf = NULL, *nb;
	int rc = -1;

	if (fd < 0) {
		fprintf(stderr, LLD_PROG ": %s: %s\n", path, strerror(errno));
		goto out;
	}
	buf = malloc(cap + 1);
	if (buf == NULL)
		goto oom;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, LLD_PROG ": %s: %s\n", path,
				strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			fprintf(stderr,
				LLD_PROG ": %s: larger than %zu bytes\n", path,
				max);
			goto out;
		}
		if (n == cap) {
			nb = realloc(buf, 2 * cap + 1);
			if (nb == NULL)
				goto oom;
			buf = nb;
			cap *= 2;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
	goto out;
oom:
	fprintf(stderr, LLD_PROG ": out of memory\n");
out:
	if (buf != NULL)
		ll_wipe_free(buf, cap + 1); /* it may be a key */
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}

static int write_all(int fd, const char *path, const char *data, size_t len)
{
	if (ll_write_all(fd, data, len) == 0)
		return 0;
	fprintf(stderr, LLD_PROG ": %s: %s\n", path, strerror(errno));
	return -1;
}

int lld_write_file(const char *path, const char *data, size_t len,
		   unsigned mode, int excl)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
	int fd, rc = -1;

	if (strcmp(path, "-") == 0)
		return write_all(STDOUT_FILENO, "stdout", data, len);
	flags |= excl ? O_EXCL : O_TRUNC;
	fd = open(path, flags, (mode_t)mode);
	if (fd < 0) {
		fprintf(stderr, LLD_PROG ": %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (refusing to overwrite it)" : "");
		return -1;
	}
	if (fchmod(fd, (mode_t)mode) < 0 || write_all(fd, path, data, len) < 0)
		goto out;
	if (fsync(fd) < 0 && errno != EINVAL) {
		fprintf(stderr, LLD_PROG ": %s: fsync: %s\n", path,
			strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (close(fd) < 0 && rc == 0) {
		fprintf(stderr, LLD_PROG ": %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

int lld_mkdir(const char *path, unsigned mode)
{
	struct stat st;

	if (mkdir(path, (mode_t)mode) == 0)
		return 0;
	if (errno == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	fprintf(stderr, LLD_PROG ": %s: %s\n", path,
		errno == EEXIST ? "exists and is not a directory" :
				  strerror(errno));
	return -1;
}

int lld_mkdir_parents(const char *path, unsigned mode)
{
	char buf[LLD_PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		fprintf(stderr, LLD_PROG ": %s: bad directory name\n", path);
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, LLD_PROG ": %s: %s\n", buf,
				strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return lld_mkdir(path, mode);
}

int lld_sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || fsync(fd) < 0) {
		fprintf(stderr, LLD_PROG ": %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int lld_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, LLD_PROG ": %s: path too long\n", dir);
		return -1;
	}
	return 0;
}

int lld_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

int lld_arg(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, LLD_PROG ": %s needs a value\n", name);
		return -1;
	}
	(*i)++;
	*val = argv[*i];
	return 1;
}

void lld_report(const char *what, const struct ll_error *err)
{
	fprintf(stderr, LLD_PROG ": %s: %s", what,
		err->message[0] ? err->message : ll_strerror(err->code));
	if (err->detail[0] != '\0')
		fprintf(stderr, " [%s]", err->detail);
	fputc('\n', stderr);
}
