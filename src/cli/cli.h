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
/*
 * Open the home into *ks (its passphrase callback set: the keys unlock
 * when first needed) and, if CTX is not NULL, a context loaded with
 * LOAD: CLI_LOAD_NONE nothing, CLI_LOAD_ALL identities (their keys:
 * the passphrase, if there is one), contacts and trust anchors,
 * CLI_LOAD_CERTS only the contacts and trust anchors.  An exit code,
 * the failure said on stderr.
 */
enum {
	CLI_LOAD_NONE = 0,
	CLI_LOAD_ALL = 1,
	CLI_LOAD_CERTS = 2
};
int cli_open_home(struct ll_keystore **ks, struct ll_ctx **ctx,
		  const struct cli *cli, int load);
/* Load the identities (with their keys) into CTX; an exit code. */
int cli_load_keys(struct ll_keystore *ks, struct ll_ctx *ctx,
		  const struct cli *cli);
/* Fill ERR (may be NULL) with CODE and the message; returns CODE. */
int cli_err(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cli_verr(struct ll_error *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int cli_fail(const struct cli *cli, const char *what,
	     const struct ll_error *err);
int cli_exit_for(int rc);
/* "WHO: " and the message on stderr, stdout flushed first (progress
 * lines stay before it); returns CODE. */
int cli_vsay(int code, const char *who, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int cli_wants_help(int argc, char **argv);

int cli_list(struct cli *cli, enum ll_keystore_kind kind);

/* passphrase.c: a line typed on /dev/tty with echo off, after PROMPT,
 * into BUF (SIZE bytes, without its newline).  0, or CLI_TTY_NONE (no
 * terminal), CLI_TTY_ECHO (echo cannot be turned off), CLI_TTY_EOF
 * (nothing typed), CLI_TTY_LONG (longer than SIZE - 1); BUF wiped. */
enum {
	CLI_TTY_NONE = -1,
	CLI_TTY_ECHO = -2,
	CLI_TTY_EOF = -3,
	CLI_TTY_LONG = -4,
};
int cli_ask_tty(char *buf, size_t size, const char *prompt);
/* The keystore's passphrase (ll_keystore_passphrase_fn; ARG the struct
 * cli): the first line of the file $LETTERLOCK_PASSPHRASE_FILE names,
 * else asked on the terminal, else LL_ELOCKED saying how to give it. */
#define CLI_PASSPHRASE_ENV "LETTERLOCK_PASSPHRASE_FILE"
int cli_passphrase_cb(void *arg, char *buf, size_t size, unsigned attempt,
		      struct ll_error *err);

int cmd_identity(struct cli *cli, int argc, char **argv);
int cmd_contact(struct cli *cli, int argc, char **argv);
int cmd_trust(struct cli *cli, int argc, char **argv);
int cmd_seal(struct cli *cli, int argc, char **argv);
int cmd_open(struct cli *cli, int argc, char **argv);
int cmd_enrol(struct cli *cli, int argc, char **argv);
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_outbox(struct cli *cli, int argc, char **argv);
int cmd_renew(struct cli *cli, int argc, char **argv);
int cmd_passwd(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_revoke(struct cli *cli, int argc, char **argv);

#endif
