/* cli.h - shared by the letterlock command-line program. */
#ifndef LL_CLI_H
#define LL_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <letterlock/letterlock.h>

/* Exit codes (letterlock(1)). */
enum {
	EXIT_OK = 0,
	EXIT_BADSIG = 1,
	EXIT_USAGE = 2,
	EXIT_NOCERT = 3,
	EXIT_NODECRYPT = 4,
	EXIT_BADINPUT = 5,
	EXIT_FAIL = 6,
};

struct cli {
	const char *home;
	const char *prog;
	int quiet;
};

/* util.c: read PATH (stdin for NULL or "-"); -1 on an I/O error, -2
 * when larger than MAX (the message says so). */
int cli_read_file(char **out, size_t *len, const char *path, size_t max);
int cli_write_file(const char *path, const char *data, size_t len);
/* All of DATA to FD (EINTR retried); -1 with errno set. */
int cli_write_all(int fd, const char *data, size_t len);
/* The first line of PATH (a password file) into BUF (SIZE bytes); -1
 * unreadable (said), -2 longer than SIZE - 1 (not said). */
int cli_read_password(char *buf, size_t size, const char *path);
int cli_open_home(struct ll_keystore **ks, struct ll_ctx **ctx,
		  const struct cli *cli, int load);
int cli_fail(const struct cli *cli, const char *what,
	     const struct ll_error *err);
int cli_exit_for(int rc);
/* "WHO: " and the message on stderr, stdout flushed first (progress
 * lines stay before it); returns CODE. */
int cli_vsay(int code, const char *who, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int cli_wants_help(int argc, char **argv);

int cli_list(struct cli *cli, enum ll_keystore_kind kind);

int cmd_identity(struct cli *cli, int argc, char **argv);
int cmd_contact(struct cli *cli, int argc, char **argv);
int cmd_trust(struct cli *cli, int argc, char **argv);
int cmd_seal(struct cli *cli, int argc, char **argv);
int cmd_open(struct cli *cli, int argc, char **argv);
int cmd_enrol(struct cli *cli, int argc, char **argv);
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_outbox(struct cli *cli, int argc, char **argv);
int cmd_renew(struct cli *cli, int argc, char **argv);

#endif
