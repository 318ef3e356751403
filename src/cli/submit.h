/*
 * submit.h - handing outbox entries to the submission server ([mail]
 * smtp_url of letterlock.conf), for `letterlock send` and
 * `letterlock outbox flush`.  Exit codes are sendmail's (sysexits.h).
 */
#ifndef LL_CLI_SUBMIT_H
#define LL_CLI_SUBMIT_H

#include "cli.h"
#include "conf.h"
#include "mailbox.h"
#include "outbox.h"

#define SUBMIT_PASSWORD_MAX 1024

struct submit {
	const char *home;
	const char *who; /* "send", "outbox": the prefix of messages */
	const char *smtp_url, *user, *ca_file;
	char password[SUBMIT_PASSWORD_MAX];
	int have_login;
	int timeout;
	int verbose;
	struct mailbox *mb; /* open for mb_user */
	char *mb_user;
	int stopped; /* a failure of the session: the exit code it gave;
			nothing more is tried */
	/* A copy the server refused for good (a 5xx to its MAIL, RCPT or
	 * data; not a failed login): when set, REFUSED(REFUSED_ARG, E, I,
	 * the server's answer) tells the sender; 0 when it did, and the
	 * copy is then done (marked as sent: not tried again).  NULL: the
	 * copy stays queued with its error, for the user to see. */
	int (*refused)(void *arg, const struct outbox_entry *e, size_t i,
		       const char *reply);
	void *refused_arg;
};

/* Take the settings from CONF (password file read now), or the
 * password PASSWORD when not NULL (copied).  0, or the exit code after
 * saying what is wrong.  The outbox is s->home's (cli's home; a caller
 * may point it elsewhere). */
int submit_init(struct submit *s, const struct cli *cli,
		const struct cli_conf *conf, const char *who,
		const char *password);
void submit_end(struct submit *s);

/*
 * Send the copies of *PP not sent yet, one SMTP transaction each,
 * marking each sent as soon as the server took it; when all are, the
 * entry is removed (and *PP closed).  0 when everything was sent, else
 * EX_TEMPFAIL (a temporary failure: a later try may succeed),
 * EX_UNAVAILABLE (refused for good: trying again as it is will fail
 * too) or another exit code for a local failure; each failure is said
 * on stderr and kept in the entry.
 */
int submit_entry(struct submit *s, struct outbox_entry **pp);

/*
 * Every entry of s->home's outbox in turn, oldest first (those another
 * process holds are left to it); "ID: sent" on stdout for each sent.
 * 0 when everything was sent, else the worst exit code (EX_UNAVAILABLE
 * before others).
 */
int submit_flush(struct submit *s);

/* The more serious of the exit codes A and B (69 before 75). */
int submit_worse(int a, int b);

/* The seconds of a timeout setting: 1 to 3600, default 60; -1 bad. */
int submit_timeout(const char *text);

#endif
