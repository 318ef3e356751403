/*
 * smtp_relay.c - a message submitted to the bridge, sealed and relayed
 * upstream by a relay worker (a child process, smtp_pool.c), and the
 * retries of what waits.
 *
 * The worker does what `letterlock send` does (send.h): seal, queue the
 * copies in the account's outbox (HOME/bridge/queue/ADDRESS/outbox: one
 * file, fsync'd, linked under the message's resubmission key in ids/),
 * submit, mark each copy sent as soon as the server took it, remove the
 * entry.  Its result (a sysexits.h code, as
 * the exit code of `letterlock send`) becomes the client's reply: 250
 * only when every copy was taken; 451 when a copy waits (the bridge
 * retries it, doubling the delay from [bridge] retry up to an hour);
 * 5xx when it was refused (policy refuse, a malformed message, a
 * permanent refusal upstream: then nothing stays queued).
 *
 * Why child processes rather than worker threads: sealing parses the
 * client's message and uses the private key; in a child a crash or a
 * leak stays there, the keystore, GMime, libcurl and OpenSSL need no
 * locking, and a stalled upstream holds one process, not the loop.  A
 * worker relays one message after another: the home stays open and
 * the upstream session (TLS, login) stays up between them
 * (struct smtp_relay_worker).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bridge.h"
#include "outbox.h"
#include "send.h"
#include "smtp_parse.h"
#include "submit.h"

#define BACKOFF_MAX 3600
#define MARK_DAYS 7 /* a resubmission is recognised this long */
#define REASON_MAX 300
/* how long a server that refused mail for want of SMTPUTF8 is taken
 * not to have it: a server upgraded meanwhile is seen again */
#define NO_SMTPUTF8_SECONDS 3600

struct smtp_relay {
	struct bridge *b;
	struct bridge_account *a;
	struct smtp_relay_req req;
	void (*done)(void *cbarg, const char *reply);
	void *cbarg;
};

/* In a relay worker: what stays open from one message to the next. */
struct smtp_relay_worker {
	struct bridge *b;
	struct bridge_account *a;
	struct send s; /* its home and submission session (send_reset) */
	char *pw;
	int conf_rc; /* of reading the settings: 0, or the exit code */
};

static int set(char **f, const char *v)
{
	free(*f);
	*f = v ? strdup(v) : NULL;
	return v == NULL || *f != NULL ? 0 : -1;
}

/* In a child: letterlock.conf with account A's upstream over [mail]
 * and its policy over [send]'s; its password into *pw. */
static int account_conf(struct cli_conf *c, char **pw, const struct bridge *b,
			const struct bridge_account *a)
{
	*pw = NULL;
	if (cli_conf_read(c, b->cli->home, b->config, "letterlock: bridge") < 0)
		return EX_CONFIG;
	if (set(&c->smtp_url, a->smtp_url) || set(&c->imap_url, a->imap_url) ||
	    set(&c->mail_user, a->user ? a->user : a->address) ||
	    set(&c->mail_ca_file, a->ca_file) ||
	    set(&c->mail_password_file, NULL) ||
	    (a->policy && set(&c->policy, a->policy)) ||
	    (a->domain_policy && set(&c->domain_policy, a->domain_policy)))
		return EX_OSERR;
	*pw = bridge_account_password(b->cli->home, a->address);
	if (*pw == NULL)
		fprintf(stderr,
			"letterlock: bridge: %s: no password stored: "
			"submitting without a login\n",
			a->address);
	return 0;
}

static void wipe(char **pw)
{
	if (*pw != NULL)
		ll_wipe_free(*pw, strlen(*pw));
	*pw = NULL;
}

/* HOME/bridge/queue/ADDRESS/ids/KEY, or -1 when it does not fit. */
static int mark_path(char path[PATH_MAX], const struct bridge_account *a,
		     const char *key)
{
	int n = snprintf(path, PATH_MAX, "%s/ids%s%s", a->queue_home,
			 key[0] ? "/" : "", key);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

void smtp_relay_key(char *key, const char *msg, size_t len, const char *from,
		    char *const *rcpts)
{
	unsigned char md[32];
	char mid[1000];
	EVP_MD_CTX *c;
	int ok;

	key[0] = '\0';
	if (!smtp_message_id(mid, sizeof(mid), msg, len))
		return;
	c = EVP_MD_CTX_new();
	ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(c, mid, strlen(mid) + 1) &&
	     EVP_DigestUpdate(c, from, strlen(from) + 1);
	for (size_t i = 0; ok && rcpts[i] != NULL; i++)
		ok = EVP_DigestUpdate(c, rcpts[i], strlen(rcpts[i]) + 1);
	if (ok && EVP_DigestFinal_ex(c, md, NULL))
		for (size_t i = 0; i < sizeof(md); i++)
			snprintf(key + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(c);
}

int smtp_relay_seen(const struct bridge_account *a, const char *key,
		    char *reply, size_t size)
{
	char id[OUTBOX_ID_MAX];

	switch (outbox_seen(a->queue_home, key, id)) {
	case 1:
		snprintf(reply, size,
			 "451 4.4.1 this message is queued already (%s): the "
			 "bridge sends it when the server takes it",
			 id);
		return 1;
	case 2:
		snprintf(reply, size,
			 "250 2.0.0 this message was sent already (%s): not "
			 "sent again",
			 id);
		return 1;
	}
	return 0;
}

int smtp_relay_prepare(const struct bridge_account *a)
{
	char path[PATH_MAX];
	time_t old = time(NULL) - MARK_DAYS * 86400;
	struct dirent *d;
	DIR *dir;
	int dfd;

	if (mkdir(a->queue_home, 0700) != 0 && errno != EEXIST)
		return -1;
	if (mark_path(path, a, "") < 0 ||
	    (mkdir(path, 0700) != 0 && errno != EEXIST))
		return -1;
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	dfd = dirfd(dir);
	while ((d = readdir(dir)) != NULL) {
		struct stat st;

		if (d->d_name[0] != '.' &&
		    fstatat(dfd, d->d_name, &st, 0) == 0 && st.st_mtime < old)
			unlinkat(dfd, d->d_name, 0);
	}
	closedir(dir);
	return 0;
}

struct smtp_relay_worker *smtp_relay_worker_new(struct bridge *b,
						struct bridge_account *a)
{
	struct smtp_relay_worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->b = b;
	w->a = a;
	w->s.cli = b->cli;
	/* the settings once a worker: a change is seen by the next one */
	w->conf_rc = account_conf(&w->s.conf, &w->pw, b, a);
	w->s.conf_loaded = 1;
	w->s.password = w->pw;
	w->s.outbox_home = a->queue_home;
	return w;
}

void smtp_relay_worker_free(struct smtp_relay_worker **pp)
{
	struct smtp_relay_worker *w = *pp;

	if (w == NULL)
		return;
	send_free(&w->s);
	wipe(&w->pw);
	free(w);
	*pp = NULL;
}

int smtp_relay_one(struct smtp_relay_worker *w, struct smtp_relay_req *req)
{
	struct send *s = &w->s;
	struct outbox_entry *e = NULL;
	int rc = w->conf_rc;

	s->key = req->key;
	s->envfrom = req->from;
	for (size_t i = 0; rc == 0 && i < req->nrcpts; i++)
		rc = send_add_rcpt(s, req->rcpts[i]);
	s->msg = req->msg;
	s->len = req->len;
	req->msg = NULL;
	if (rc == 0)
		rc = send_message(s);
	if (rc == EX_UNAVAILABLE && s->id[0] != '\0' &&
	    outbox_open(&e, w->a->queue_home, s->id) == 0) {
		/* the client hears "refused": nothing may follow, and the
		 * same message sent again is a new try */
		outbox_forget(w->a->queue_home, e);
		outbox_remove(&e, w->a->queue_home);
		fprintf(stderr, "letterlock: bridge: %s: not kept\n", s->id);
	}
	outbox_close(&e);
	send_reset(s);
	return rc;
}

/* The reason in SAID: its last line that is neither a warning nor
 * about the outbox, without the "letterlock: send: " prefix, made
 * printable, into OUT. */
static void reason(char out[REASON_MAX], const char *said)
{
	const char *best = NULL, *p = said;
	size_t n = 0;

	while (*p != '\0') {
		size_t k = strcspn(p, "\n");

		if (k > 0 && !memmem(p, k, "warning:", 8) &&
		    !memmem(p, k, "outbox", 6) &&
		    !memmem(p, k, "not kept", 8)) {
			best = p;
			n = k;
		}
		p += k + (p[k] == '\n');
	}
	if (best == NULL) {
		snprintf(out, REASON_MAX, "see the bridge's log");
		return;
	}
	for (const char *pre = "letterlock: ";
	     n > strlen(pre) && strncmp(best, pre, strlen(pre)) == 0;
	     pre = "send: ") {
		best += strlen(pre);
		n -= strlen(pre);
	}
	if (n >= REASON_MAX)
		n = REASON_MAX - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (best[i] < 0x20 || best[i] > 0x7e) ? ' ' : best[i];
	out[n] = '\0';
}

static void later(struct bridge *b, struct bridge_account *a)
{
	a->pending = 1;
	a->backoff = a->backoff == 0		  ? b->retry :
		     a->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
						    a->backoff * 2;
	a->next_try = time(NULL) + a->backoff;
}

static void free_req(struct smtp_relay_req *q)
{
	free(q->from);
	ll_strv_free(&q->rcpts);
	free(q->msg);
}

/* The worker's result CODE for R, and what it said (smtp_pool.c). */
static void relay_done(void *arg, int code, const char *said)
{
	struct smtp_relay *r = arg;
	char why[REASON_MAX], reply[REASON_MAX + 100];

	reason(why, said);
	switch (code) {
	case 0:
		snprintf(reply, sizeof(reply),
			 "250 2.0.0 sealed and accepted upstream");
		break;
	case EX_TEMPFAIL:
		snprintf(reply, sizeof(reply),
			 "451 4.4.1 %s; queued: the bridge sends it when the "
			 "server takes it",
			 why);
		later(r->b, r->a);
		break;
	case EX_NOUSER:
		snprintf(reply, sizeof(reply), "550 5.7.1 %s", why);
		break;
	case EX_USAGE:
	case EX_DATAERR:
		snprintf(reply, sizeof(reply), "554 5.6.0 %s", why);
		break;
	case EX_UNAVAILABLE:
	case EX_CONFIG:
		if (strstr(said, MAILBOX_NO_SMTPUTF8) != NULL) {
			/* RFC 6531 3.2: not downgraded, not queued */
			r->a->no_smtputf8_until =
				time(NULL) + NO_SMTPUTF8_SECONDS;
			snprintf(reply, sizeof(reply),
				 "554 5.6.7 the mail server of %s does not "
				 "offer SMTPUTF8, which this message needs "
				 "(a UTF-8 address or header): not sent, "
				 "nothing queued; the message is still yours",
				 r->a->address);
			break;
		}
		snprintf(reply, sizeof(reply), "554 5.7.0 %s", why);
		break;
	default:
		snprintf(reply, sizeof(reply), "451 4.3.0 %s (exit %d)", why,
			 code);
		/* it may have queued something before failing */
		r->a->pending = 1;
		break;
	}
	bridge_log("%s: message from <%s> to %zu recipient%s: %s",
		   r->a->address, r->req.from, r->req.nrcpts,
		   r->req.nrcpts == 1 ? "" : "s", reply);
	if (r->done != NULL)
		r->done(r->cbarg, reply);
	free_req(&r->req);
	free(r);
}

int smtp_relay(struct bridge *b, struct smtp_relay_req *req,
	       void (*done)(void *cbarg, const char *reply), void *cbarg,
	       struct smtp_relay **out)
{
	struct smtp_relay *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->b = b;
	r->a = req->account;
	r->req = *req;
	r->done = done;
	r->cbarg = cbarg;
	*out = NULL;
	if (smtp_pool_relay(b, r->a, &r->req, relay_done, r) < 0) {
		*req = r->req; /* still the caller's */
		free(r);
		return -1;
	}
	memset(req, 0, sizeof(*req));
	*out = r;
	return 0;
}

int smtp_relay_utf8(const struct bridge_account *a)
{
	return a == NULL || time(NULL) >= a->no_smtputf8_until;
}

int smtp_relay_utf8_any(const struct bridge *b)
{
	for (size_t i = 0; i < b->naccounts; i++)
		if (smtp_relay_utf8(&b->accounts[i]))
			return 1;
	return b->naccounts == 0;
}

void smtp_relay_forget(struct smtp_relay *r)
{
	if (r != NULL)
		r->done = NULL;
}

/* ---------------------------------------------------------- retries */

struct flush {
	struct bridge *b;
	struct bridge_account *a;
	const char *password; /* in the child: the upstream password */
};

/* submit.h's refused: a copy queued (its client heard 451) and now
 * refused for good is reported to the sender in their INBOX. */
static int refused(void *arg, const struct outbox_entry *e, size_t i,
		   const char *reply)
{
	struct flush *f = arg;

	if (bridge_bounce(f->b, f->a, f->password, e, i, reply) < 0)
		return -1;
	/* A message of one copy that went nowhere: the same message sent
	 * again is a new try (its key goes, as when the first try was
	 * refused).  With several copies (Bcc) the key stays: another
	 * copy may have been delivered. */
	if (e->ncopies == 1)
		outbox_forget(f->a->queue_home, e);
	return 0;
}

static int flush_run(void *arg)
{
	struct flush *f = arg;
	struct cli_conf c;
	struct submit sub;
	char *pw = NULL;
	int rc;

	memset(&sub, 0, sizeof(sub));
	rc = account_conf(&c, &pw, f->b, f->a);
	if (rc == 0)
		rc = submit_init(&sub, f->b->cli, &c, "bridge", pw);
	if (rc == 0) {
		sub.home = f->a->queue_home;
		sub.refused = refused;
		sub.refused_arg = f;
		f->password = pw;
		rc = submit_flush(&sub);
	}
	submit_end(&sub);
	wipe(&pw);
	cli_conf_free(&c);
	return rc;
}

static void flush_done(void *arg, int code, const char *said)
{
	struct flush *f = arg;

	f->a->flushing = 0;
	if (code == 0) {
		f->a->pending = 0;
		f->a->backoff = 0;
	} else {
		later(f->b, f->a);
		bridge_log("%s: the outbox is tried again in %d s",
			   f->a->address, f->a->backoff);
	}
	free(f);
}

/* Does account A's outbox hold an entry? */
static int has_queue(const struct bridge_account *a)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int found = 0;

	snprintf(path, sizeof(path), "%s/outbox", a->queue_home);
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while (!found && (d = readdir(dir)) != NULL)
		found = d->d_name[0] != '.';
	closedir(dir);
	return found;
}

void smtp_relay_tick(struct bridge *b)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < b->naccounts && !b->stopping; i++) {
		struct bridge_account *a = &b->accounts[i];
		struct flush *f;

		if (a->flushing || !a->pending || now < a->next_try)
			continue;
		if (!has_queue(a)) {
			a->pending = 0;
			a->backoff = 0;
			continue;
		}
		f = calloc(1, sizeof(*f));
		if (f == NULL)
			continue;
		f->b = b;
		f->a = a;
		if (bridge_spawn(b, flush_run, f, flush_done, f, NULL) < 0) {
			free(f);
			later(b, a);
			continue;
		}
		a->flushing = 1;
	}
}
