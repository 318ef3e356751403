/*
 * passphrase.c - secrets typed by the user: the terminal with echo off,
 * and where the keystore's passphrase comes from (the first line of
 * $LETTERLOCK_PASSPHRASE_FILE, else the terminal).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>

#include <openssl/crypto.h>

#include "cli.h"

/* While echo is off: a signal that ends the program turns it on first. */
static const int ending[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static struct sigaction saved_act[sizeof(ending) / sizeof(ending[0])];
static struct termios saved_tty;
static volatile sig_atomic_t echo_off_fd = -1;

static void restore_and_die(int sig)
{
	if (echo_off_fd >= 0)
		tcsetattr(echo_off_fd, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void guard_echo(int fd, const struct termios *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_die;
	sigemptyset(&sa.sa_mask);
	saved_tty = *old;
	echo_off_fd = fd;
	for (size_t i = 0; i < sizeof(ending) / sizeof(ending[0]); i++) {
		sigaction(ending[i], &sa, &saved_act[i]);
		/* a signal the program was started ignoring stays ignored */
		if (saved_act[i].sa_handler == SIG_IGN)
			sigaction(ending[i], &saved_act[i], NULL);
	}
}

static void unguard_echo(void)
{
	for (size_t i = 0; i < sizeof(ending) / sizeof(ending[0]); i++)
		sigaction(ending[i], &saved_act[i], NULL);
	echo_off_fd = -1;
}

int cli_ask_tty(char *buf, size_t size, const char *prompt)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int rc = 0;

	if (tty == NULL)
		return CLI_TTY_NONE;
	/* no stdio buffer keeps a copy of the secret */
	setvbuf(tty, NULL, _IONBF, 0);
	/* never read a secret that would be echoed */
	if (tcgetattr(fileno(tty), &old) != 0) {
		fclose(tty);
		return CLI_TTY_ECHO;
	}
	/* echo off before the prompt: what is typed after it is kept */
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	guard_echo(fileno(tty), &old);
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	fputs(prompt, tty);
	fflush(tty);
	if (fgets(buf, (int)size, tty) == NULL)
		rc = CLI_TTY_EOF;
	else if (strchr(buf, '\n') == NULL && !feof(tty))
		rc = CLI_TTY_LONG;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	unguard_echo();
	fputc('\n', tty);
	fclose(tty);
	if (rc < 0)
		OPENSSL_cleanse(buf, size);
	else
		buf[strcspn(buf, "\r\n")] = '\0';
	return rc;
}

/* The first line of FILE; one try (it will not get better). */
static int from_file(char *buf, size_t size, const char *file, unsigned attempt,
		     struct ll_error *err)
{
	int rc;

	if (attempt > 0)
		return LL_EPASSPHRASE;
	rc = cli_read_password(buf, size, file);
	if (rc == -1)
		rc = cli_err(err, LL_ELOCKED,
			     "LETTERLOCK_PASSPHRASE_FILE %s cannot be read",
			     file);
	else if (rc == -2)
		rc = cli_err(err, LL_EINVAL,
			     "%s: the passphrase is longer than %d bytes", file,
			     LL_KEYSTORE_PASS_MAX);
	else if (buf[0] == '\0')
		rc = cli_err(err, LL_ELOCKED,
			     "%s: the first line (the passphrase) is empty",
			     file);
	return rc;
}

int cli_passphrase_cb(void *arg, char *buf, size_t size, unsigned attempt,
		      struct ll_error *err)
{
	const struct cli *cli = arg;
	const char *file = getenv(CLI_PASSPHRASE_ENV);
	char prompt[4200];
	int rc;

	if (file != NULL && *file != '\0')
		return from_file(buf, size, file, attempt, err);
	if (attempt > 0)
		fprintf(stderr, "letterlock: wrong passphrase\n");
	snprintf(prompt, sizeof(prompt),
		 "passphrase for the keys in %s: ", cli->home);
	rc = cli_ask_tty(buf, size, prompt);
	switch (rc) {
	case 0:
		return 0;
	case CLI_TTY_LONG:
		return cli_err(err, LL_EINVAL,
			       "the passphrase is longer than %d bytes",
			       LL_KEYSTORE_PASS_MAX);
	case CLI_TTY_EOF:
		return cli_err(err, LL_ELOCKED, "no passphrase given");
	default:
		return cli_err(err, LL_ELOCKED,
			       "the keys are locked by a passphrase: set "
			       "%s to a file whose first line is the "
			       "passphrase, or run on a terminal",
			       CLI_PASSPHRASE_ENV);
	}
}
