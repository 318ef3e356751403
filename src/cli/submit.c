/* submit.c - outbox entries to the submission server (submit.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/crypto.h>

#include "submit.h"

#define DEFAULT_TIMEOUT 60
#define MAX_TIMEOUT 3600
#define RCPTS_SHOWN 3 /* recipients named in a message, then "N more" */

int submit_timeout(const char *text)
{
	char *end;
	long v;

	if (text == NULL)
		return DEFAULT_TIMEOUT;
	v = strtol(text, &end, 10);
	if (*text == '\0' || *end != '\0' || v < 1 || v > MAX_TIMEOUT)
		return -1;
	return (int)v;
}

/* The mailbox for login USER, opened (no I/O) unless it is already. */
static int open_for(struct submit *s, const char *user)
{
	struct mailbox_conf mc = { 0 };
	struct ll_error err = { 0 };

	if (s->mb != NULL && (!s->have_login || strcmp(s->mb_user, user) == 0))
		return 0;
	mailbox_close(&s->mb);
	free(s->mb_user);
	s->mb_user = strdup(user);
	mc.smtp_url = s->smtp_url;
	mc.user = s->have_login ? user : NULL;
	mc.password = s->have_login ? s->password : NULL;
	mc.ca_file = s->ca_file;
	mc.timeout = s->timeout;
	mc.reuse = 1; /* the next copy goes over the same connection */
	if (s->mb_user == NULL || mailbox_open(&s->mb, &mc, &err) < 0) {
		fprintf(stderr, "letterlock: %s: %s\n", s->who,
			s->mb_user ? err.message : "out of memory");
		return EX_CONFIG;
	}
	return 0;
}

int submit_init(struct submit *s, const struct cli *cli,
		const struct cli_conf *conf, const char *who,
		const char *password)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->home = cli->home;
	s->who = who;
	s->smtp_url = conf->smtp_url;
	s->user = conf->mail_user;
	s->ca_file = conf->mail_ca_file;
	s->timeout = submit_timeout(conf->timeout);
	if (s->smtp_url == NULL) {
		fprintf(stderr,
			"letterlock: %s: no submission server: set [mail] "
			"smtp_url in letterlock.conf\n",
			who);
		return EX_CONFIG;
	}
	if (s->timeout < 0) {
		fprintf(stderr,
			"letterlock: %s: [send] timeout takes 1 to %d "
			"seconds\n",
			who, MAX_TIMEOUT);
		return EX_CONFIG;
	}
	if (password != NULL) {
		if (strlen(password) >= sizeof(s->password)) {
			fprintf(stderr,
				"letterlock: %s: the password is longer than "
				"%d bytes\n",
				who, SUBMIT_PASSWORD_MAX - 1);
			return EX_CONFIG;
		}
		strcpy(s->password, password);
		s->have_login = 1;
	} else if (conf->mail_password_file != NULL) {
		rc = cli_read_password(s->password, sizeof(s->password),
				       conf->mail_password_file);
		if (rc == -2)
			fprintf(stderr,
				"letterlock: %s: %s: the password is longer "
				"than %d bytes\n",
				who, conf->mail_password_file,
				SUBMIT_PASSWORD_MAX - 1);
		if (rc < 0)
			return EX_CONFIG;
		s->have_login = 1;
	}
	/* the URL checked now, before anything is sealed or queued */
	return open_for(s, s->user ? s->user : "");
}

void submit_end(struct submit *s)
{
	mailbox_close(&s->mb);
	free(s->mb_user);
	s->mb_user = NULL;
	OPENSSL_cleanse(s->password, sizeof(s->password));
}

/* "a, b, c and N more" into BUF. */
static void name_rcpts(char *buf, size_t size, char *const *rcpts)
{
	size_t n = 0, at = 0;

	buf[0] = '\0';
	for (; rcpts[n] != NULL; n++)
		if (n < RCPTS_SHOWN && at < size)
			at += (size_t)snprintf(buf + at, size - at, "%s%s",
					       n ? ", " : "", rcpts[n]);
	if (n > RCPTS_SHOWN && at < size)
		snprintf(buf + at, size - at, " and %zu more", n - RCPTS_SHOWN);
}

/* Copy I of E to the server: 0, or an exit code (said). */
static int send_copy(struct submit *s, struct outbox_entry *e, size_t i)
{
	struct mailbox_outcome oc;
	struct ll_error err = { 0 };
	char *data = NULL, to[400], text[512], when[32];
	const char *user = s->user ? s->user : e->from;
	time_t now = time(NULL);
	struct tm tm;
	size_t len = 0, n = 0;
	int rc;

	while (e->rcpts[i][n] != NULL)
		n++;
	name_rcpts(to, sizeof(to), e->rcpts[i]);
	rc = open_for(s, user);
	if (rc != 0)
		return rc;
	if (outbox_load(e, i, &data, &len) < 0)
		return EX_IOERR;
	rc = mailbox_submit(s->mb, e->from, (const char *const *)e->rcpts[i], n,
			    data, len, &oc, &err);
	free(data);
	if (rc == 0) {
		/* as soon as possible after the server's 250 */
		if (outbox_mark_sent(e, i) < 0) {
			fprintf(stderr,
				"letterlock: %s: %s: the server took copy %zu "
				"but that could not be recorded: a flush "
				"would send it again\n",
				s->who, e->id, i + 1);
			return EX_IOERR;
		}
		if (s->verbose)
			fprintf(stderr,
				"letterlock: %s: %s: copy %zu of %zu "
				"to %s: %s\n",
				s->who, e->id, i + 1, e->ncopies, to,
				mailbox_reply(s->mb));
		return 0;
	}
	rc = oc.permanent ? EX_UNAVAILABLE : EX_TEMPFAIL;
	fprintf(stderr, "letterlock: %s: %s: copy %zu of %zu (to %s): %s\n",
		s->who, e->id, i + 1, e->ncopies, to, err.message);
	if (oc.permanent && !oc.session && s->refused != NULL &&
	    s->refused(s->refused_arg, e, i, err.message) == 0) {
		if (outbox_mark_sent(e, i) < 0)
			return EX_IOERR;
		fprintf(stderr,
			"letterlock: %s: %s: copy %zu refused for good; "
			"the sender was told, it is not tried again\n",
			s->who, e->id, i + 1);
		return 0;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	snprintf(text, sizeof(text), "%s, copy %zu (to %s): %s (%s)", when,
		 i + 1, to, err.message,
		 oc.permanent ? "permanent" : "temporary");
	outbox_set_error(e, text);
	if (oc.session)
		s->stopped = rc;
	return rc;
}

int submit_entry(struct submit *s, struct outbox_entry **pp)
{
	struct outbox_entry *e = *pp;
	char id[OUTBOX_ID_MAX];
	int worst = 0, rc;

	for (size_t i = 0; i < e->ncopies; i++) {
		if (e->sent[i])
			continue;
		if (s->stopped) {
			worst = worst == EX_UNAVAILABLE ? worst : s->stopped;
			break;
		}
		rc = send_copy(s, e, i);
		if (rc == EX_UNAVAILABLE || (rc == EX_TEMPFAIL && worst == 0))
			worst = rc;
		else if (rc != 0 && rc != EX_TEMPFAIL)
			return rc;
	}
	memcpy(id, e->id, sizeof(id));
	if (worst == 0 && outbox_remove(pp, s->home) < 0)
		fprintf(stderr,
			"letterlock: %s: %s: every copy was sent; the entry "
			"stays until the next `letterlock outbox flush` "
			"removes it (nothing is sent again)\n",
			s->who, id);
	return worst;
}

int submit_worse(int a, int b)
{
	if (a == EX_UNAVAILABLE || b == EX_UNAVAILABLE)
		return EX_UNAVAILABLE;
	return a != 0 ? a : b;
}

int submit_flush(struct submit *s)
{
	char **ids = NULL;
	int worst = 0;
	size_t untried = 0;

	if (outbox_ids(&ids, s->home) < 0)
		return EX_IOERR;
	for (size_t i = 0; ids[i] != NULL; i++) {
		struct outbox_entry *e = NULL;
		int o;

		if (s->stopped) {
			untried++;
			continue;
		}
		o = outbox_open(&e, s->home, ids[i]);
		if (o == 1)
			fprintf(stderr,
				"letterlock: %s: %s is being sent "
				"by another letterlock; left to it\n",
				s->who, ids[i]);
		if (o < 0)
			worst = submit_worse(worst, EX_IOERR);
		if (o != 0)
			continue;
		o = submit_entry(s, &e);
		if (o == 0)
			printf("%s: sent\n", ids[i]);
		worst = submit_worse(worst, o);
		outbox_close(&e);
	}
	if (untried > 0)
		fprintf(stderr,
			"letterlock: %s: %zu more message%s not tried: "
			"the server cannot be used now\n",
			s->who, untried, untried == 1 ? "" : "s");
	if (worst != 0)
		fprintf(stderr, "letterlock: %s: what is left stays queued%s\n",
			s->who,
			strcmp(s->who, "outbox") == 0 ?
				" (`letterlock outbox list`)" :
				"");
	ll_strv_free(&ids);
	return worst;
}
