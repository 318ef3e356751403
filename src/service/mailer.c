/*
 * mailer.c - the thread of `letterlockd run` that talks to the CA's
 * mailbox (mail.h): it sends the RFC 8823 challenge mails over SMTP and
 * takes the replies in over IMAP, both through libcurl.
 *
 * A round: every wanted challenge mail is composed and signed by the
 * keyholder and submitted; then every message in the mailbox is
 * fetched, judged and flagged \Deleted, and the mailbox expunged.  A
 * message is kept (not flagged) only when it could not be judged for a
 * reason that may pass: the store or DNS failed.  One line on stderr
 * per event; never the password, never a token.
 *
 * TLS: smtps:// and imaps:// are TLS from the start; on smtp:// and
 * imap:// STARTTLS is used when the server offers it.  The server's
 * certificate is always verified (against [mail] ca_file when set).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "internal.h"
#include "keyholder.h"
#include "mail.h"
#include "service.h"
#include "store.h"

#define MAIL_LOG LLD_PROG ": mail: "
#define SEND_PER_ROUND 32 /* challenge mails sent in one round */
#define FETCH_PER_ROUND 200 /* messages read in one round */
#define SEARCH_MAX (64 * 1024) /* bytes of a UID SEARCH answer */
#define PASSWORD_MAX 4096
#define CONNECT_TIMEOUT 10L /* seconds */
#define TRANSFER_TIMEOUT 60L
#define WHY_MAX 512 /* a failure as logged */

struct lld_mailer {
	struct lld_conf conf; /* a copy */
	struct lld_kh *kh;
	struct lld_store *store; /* used by the thread only */
	char *password; /* NULL: no AUTH; wiped at stop */
	size_t pwcap;
	char mailbox_url[LLD_URL_MAX + 16];
	CURL *imap; /* one IMAP connection across rounds */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kicked, stopping;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one line of text whatever a message put in it */
	for (char *s = line; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
	fprintf(stderr, MAIL_LOG "%s\n", line);
}

static int stopping(struct lld_mailer *m)
{
	int s;

	pthread_mutex_lock(&m->mu);
	s = m->stopping;
	pthread_mutex_unlock(&m->mu);
	return s;
}

/* ---- libcurl plumbing (curl_util.c) ---- */

struct source {
	const char *p;
	size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct source *s = arg;
	size_t n = size * nmemb;

	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return n;
}

static int url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	int yes = 0;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		yes = ll_host_is_loopback(host);
	curl_free(host);
	curl_url_cleanup(u);
	return yes;
}

static int has_scheme(const char *url, const char *scheme)
{
	return strncmp(url, scheme, strlen(scheme)) == 0;
}

/* What every transfer to the mail servers sets: PROTOCOLS only, to
 * URL, curl's message into ERRBUF, the answer into SINK (NULL: none). */
static void curl_common(struct lld_mailer *m, CURL *h, const char *protocols,
			const char *url, char *errbuf,
			struct ll_curl_sink *sink)
{
	const char *user = m->conf.mail_user[0] != '\0' ? m->conf.mail_user :
							  m->conf.mail_from;

	/* [mail] ca_file is trusted besides the system's store
	 * (letterlockd.conf(5)) */
	ll_curl_setup(h, protocols, TRANSFER_TIMEOUT,
		      m->conf.mail_ca_file[0] != '\0' ? m->conf.mail_ca_file :
							NULL,
		      errbuf, sink);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_URL, url);
	/* TLS always, but for a mail server on this machine: a password
	 * must not go out where STARTTLS could be stripped */
	if (has_scheme(url, "smtps://") || has_scheme(url, "imaps://") ||
	    !url_is_loopback(url))
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	else
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	if (m->password != NULL) {
		curl_easy_setopt(h, CURLOPT_USERNAME, user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, m->password);
	}
}

/* ---- sending challenge mails ---- */

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size,
		    void *arg)
{
	(void)h;
	ll_smtp_ehlo_watch(arg, type, data, size);
	return 0;
}

/*
 * A challenge to a UTF-8 address (SmtpUTF8Mailbox, RFC 8398) goes only
 * to a server that offers SMTPUTF8 (RFC 6531 3.2: no downgrade): a
 * NOOP first reads what the server offers, and the mail follows over
 * the same connection.  0 when it may be sent, else -1 and WHY.
 */
static int utf8_offered(struct lld_mailer *m, CURL *h,
			struct ll_smtp_ehlo *ehlo, char why[WHY_MAX])
{
	struct ll_curl_sink sink = { .max = WHY_MAX, .truncate = 1 };
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc;

	curl_common(m, h, "smtp,smtps", m->conf.smtp_url, errbuf, &sink);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, ehlo);
	rc = ll_curl_smtp_noop(h);
	ll_buf_free(&sink.body);
	if (rc != CURLE_OK) {
		snprintf(why, WHY_MAX, "%s", ll_curl_why(errbuf, rc));
		return -1;
	}
	if (!ehlo->smtputf8) {
		snprintf(why, WHY_MAX,
			 "the mail server does not offer SMTPUTF8, which a "
			 "UTF-8 address needs: not sent (RFC 6531)");
		return -1;
	}
	return 0;
}

static int smtp_send(struct lld_mailer *m, const char *to, const char *msg,
		     size_t len, char why[WHY_MAX])
{
	struct curl_slist *rcpt = NULL;
	struct source src = { msg, len, 0 };
	struct ll_smtp_ehlo ehlo = { 0 };
	char from[LLD_URL_MAX + 3], rcpt_addr[LLD_EMAIL_MAX + 3];
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = curl_easy_init();
	CURLcode rc;

	snprintf(from, sizeof(from), "<%s>", m->conf.mail_from);
	snprintf(rcpt_addr, sizeof(rcpt_addr), "<%s>", to);
	if (h != NULL)
		rcpt = curl_slist_append(NULL, rcpt_addr);
	if (h == NULL || rcpt == NULL) {
		snprintf(why, WHY_MAX, "out of memory");
		curl_easy_cleanup(h);
		return -1;
	}
	if (ll_smtp_needs_utf8(m->conf.mail_from, &to, 1, msg, len) &&
	    utf8_offered(m, h, &ehlo, why) < 0) {
		curl_slist_free_all(rcpt);
		curl_easy_cleanup(h);
		return -1;
	}
	curl_common(m, h, "smtp,smtps", m->conf.smtp_url, errbuf, NULL);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &src);
	rc = ll_curl_perform(h);
	if (rc != CURLE_OK)
		snprintf(why, WHY_MAX, "%s", ll_curl_why(errbuf, rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return rc == CURLE_OK ? 0 : -1;
}

/* "<hex@domain-of-mail_from>" */
static int make_msgid(struct lld_mailer *m, char out[LLD_MSGID_MAX + 1])
{
	unsigned char rnd[16];
	char hex[2 * sizeof(rnd) + 1];
	const char *at = strrchr(m->conf.mail_from, '@');
	int n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	n = snprintf(out, LLD_MSGID_MAX + 1, "<%s@%s>", hex,
		     at != NULL ? at + 1 : "letterlockd.invalid");
	return n > 0 && n <= LLD_MSGID_MAX ? 0 : -1;
}

static void send_one(struct lld_mailer *m, int64_t id)
{
	char msgid[LLD_MSGID_MAX + 1], why[WHY_MAX];
	struct ll_error err = { 0 };
	struct lld_chall c;
	char *msg = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	int rc;

	rc = lld_store_chall_get(m->store, id, &c, &err);
	if (rc < 0) {
		say("challenge %" PRId64 ": store: %s", id, err.message);
		return;
	}
	if (make_msgid(m, msgid) < 0) {
		say("challenge %" PRId64 ": no random Message-ID", id);
		return;
	}
	rc = lld_kh_challenge_mail(m->kh, c.email, c.token1, msgid, now, &msg,
				   &len, &err);
	if (rc < 0) {
		say("challenge %" PRId64 ": keyholder: %s", id, err.message);
		return;
	}
	rc = smtp_send(m, c.email, msg, len, why);
	free(msg);
	if (rc < 0) {
		say("cannot send challenge %" PRId64 " to %s: %s (next round)",
		    id, c.email, why);
		return;
	}
	rc = lld_store_chall_sent(m->store, id, msgid, now, &err);
	if (rc < 0) {
		say("sent challenge %" PRId64 " to %s but cannot record it: %s",
		    id, c.email, err.message);
		return;
	}
	say("sent challenge %" PRId64 " to %s", id, c.email);
}

static void send_round(struct lld_mailer *m)
{
	int64_t ids[SEND_PER_ROUND];
	struct ll_error err = { 0 };
	size_t n = 0;

	if (lld_store_chall_to_send(m->store, ids, SEND_PER_ROUND, &n, &err) <
	    0) {
		say("store: %s", err.message);
		return;
	}
	for (size_t i = 0; i < n && !stopping(m); i++)
		send_one(m, ids[i]);
}

/* ---- reading replies ---- */

/* A command on the mailbox (libcurl SELECTs it first); its untagged
 * answers into OUT when not NULL. */
static int imap_command(struct lld_mailer *m, const char *cmd,
			struct ll_curl_sink *out, char why[WHY_MAX])
{
	struct ll_curl_sink none = { .max = SEARCH_MAX, .truncate = 1 };
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc;

	curl_common(m, m->imap, "imap,imaps", m->mailbox_url, errbuf,
		    out != NULL ? out : &none);
	curl_easy_setopt(m->imap, CURLOPT_CUSTOMREQUEST, cmd);
	rc = ll_curl_perform(m->imap);
	ll_buf_free(&none.body);
	if (rc != CURLE_OK) {
		snprintf(why, WHY_MAX, "%s: %s", cmd, ll_curl_why(errbuf, rc));
		return -1;
	}
	return 0;
}

/* The UIDs of "* SEARCH n n ..." lines in P (N bytes), at most MAX; a
 * number cut off by the end of P, or not a 32-bit UID, ends the list. */
static size_t search_uids(unsigned long *uids, size_t max, const char *p,
			  size_t n)
{
	size_t i = 0, count = 0;

	while (i < n && count < max) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t end = nl != NULL ? (size_t)(nl - p) : n;
		size_t k = i + 8;

		if (end - i < 8 || strncasecmp(p + i, "* SEARCH", 8) != 0) {
			i = end + 1;
			continue;
		}
		while (k < end && count < max) {
			unsigned long v = 0;
			size_t start;

			while (k < end && p[k] == ' ')
				k++;
			start = k;
			while (k < end && p[k] >= '0' && p[k] <= '9' &&
			       k - start < 11) {
				v = v * 10 + (unsigned long)(p[k] - '0');
				k++;
			}
			if (k == start || v == 0 || v > 0xffffffffUL ||
			    (k < end && p[k] != ' ' && p[k] != '\r') ||
			    (k == end && nl == NULL))
				return count;
			uids[count++] = v;
		}
		i = end + 1;
	}
	return count;
}

/* Fetch message UID into OUT (at most LLD_REPLY_MAX bytes): 0, 1 when
 * it is larger, -1 when the server could not be read. */
static int imap_fetch(struct lld_mailer *m, unsigned long uid,
		      struct ll_curl_sink *out, char why[WHY_MAX])
{
	char url[sizeof(m->mailbox_url) + 32], errbuf[CURL_ERROR_SIZE];
	CURLcode rc;

	snprintf(url, sizeof(url), "%s/;UID=%lu", m->mailbox_url, uid);
	curl_common(m, m->imap, "imap,imaps", url, errbuf, out);
	rc = ll_curl_perform(m->imap);
	if (out->too_big)
		return 1;
	if (rc != CURLE_OK) {
		snprintf(why, WHY_MAX, "fetch %lu: %s", uid,
			 ll_curl_why(errbuf, rc));
		return -1;
	}
	return 0;
}

enum verdict {
	KEEP,
	DELETE
};

static int open_status(const char *s)
{
	return strcmp(s, "pending") == 0 || strcmp(s, "processing") == 0;
}

/* Judge one message and settle its challenge. */
static enum verdict take_reply(struct lld_mailer *m, unsigned long uid,
			       const char *msg, size_t len)
{
	char problem[LLD_PROBLEM_MAX + 1];
	struct ll_error err = { 0 };
	struct lld_reply r;
	struct lld_chall c;
	time_t now = time(NULL);
	int rc, valid;

	rc = lld_reply_parse(&r, msg, len, &err);
	if (rc < 0) {
		say("ignored message %lu: %s", uid, err.message);
		return DELETE;
	}
	rc = lld_store_chall_by_token1(m->store, r.token1, &c, &err);
	if (rc == LL_ENOTFOUND) {
		say("ignored message %lu: no challenge has its Subject token",
		    uid);
		return DELETE;
	}
	if (rc < 0) {
		say("message %lu: store: %s (next round)", uid, err.message);
		return KEEP;
	}
	if (!open_status(c.status)) {
		say("ignored message %lu: challenge %" PRId64 " is %s already",
		    uid, c.id, c.status);
		return DELETE;
	}
	ll_error_clear(&err);
	rc = lld_reply_judge(&r, msg, len, &c, &m->conf, now, problem, &err);
	if (rc == LL_EIO) {
		say("reply for challenge %" PRId64
		    " not judged yet: %s (next round)",
		    c.id, err.message);
		return KEEP;
	}
	if (rc < 0 && problem[0] == '\0') {
		say("reply for challenge %" PRId64
		    " not judged: %s (next round)",
		    c.id, err.message);
		return KEEP;
	}
	valid = rc == 0;
	{
		struct ll_error serr = { 0 };

		rc = lld_store_chall_settle(m->store, c.id, valid,
					    valid ? NULL : problem, now, &serr);
		if (rc == LL_EEXIST) {
			say("ignored message %lu: challenge %" PRId64
			    " was settled already",
			    uid, c.id);
			return DELETE;
		}
		if (rc < 0) {
			say("reply for challenge %" PRId64
			    ": store: %s (next round)",
			    c.id, serr.message);
			return KEEP;
		}
	}
	if (valid)
		say("reply for challenge %" PRId64 " accepted", c.id);
	else
		say("reply for challenge %" PRId64 " refused: %s", c.id,
		    err.message);
	return DELETE;
}

static void poll_round(struct lld_mailer *m)
{
	unsigned long uids[FETCH_PER_ROUND];
	char why[WHY_MAX], cmd[64];
	struct ll_curl_sink search = { .max = SEARCH_MAX, .truncate = 1 };
	size_t n, deleted = 0;

	if (m->imap == NULL) {
		m->imap = curl_easy_init();
		if (m->imap == NULL) {
			say("IMAP: out of memory");
			return;
		}
	}
	if (imap_command(m, "UID SEARCH ALL", &search, why) < 0) {
		say("IMAP: %s (next round)", why);
		ll_buf_free(&search.body);
		return;
	}
	n = search_uids(uids, FETCH_PER_ROUND, search.body.p, search.body.len);
	ll_buf_free(&search.body);

	for (size_t i = 0; i < n && !stopping(m); i++) {
		struct ll_curl_sink msg = { .max = LLD_REPLY_MAX };
		enum verdict v = DELETE;
		int rc = imap_fetch(m, uids[i], &msg, why);

		if (rc < 0) {
			say("IMAP: %s (next round)", why);
			ll_buf_free(&msg.body);
			break;
		}
		if (rc == 1)
			say("ignored message %lu: larger than %d bytes",
			    uids[i], LLD_REPLY_MAX);
		else
			v = take_reply(m, uids[i],
				       msg.body.p != NULL ? msg.body.p : "",
				       msg.body.len);
		ll_buf_free(&msg.body);
		if (v == KEEP)
			continue;
		snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS (\\Deleted)",
			 uids[i]);
		if (imap_command(m, cmd, NULL, why) < 0) {
			say("IMAP: %s (next round)", why);
			break;
		}
		deleted++;
	}
	if (deleted > 0 && imap_command(m, "EXPUNGE", NULL, why) < 0)
		say("IMAP: %s (next round)", why);
}

/* ---- the thread ---- */

/*
 * Rounds follow a kick quickly (a challenge mail to send, a reply
 * expected soon: 200 ms, then each wait half as long again) and slow
 * down to poll_interval, so an enrolment does not wait out a whole
 * interval while the mailbox is idle the rest of the time.
 */
static void *mailer_main(void *arg)
{
	struct lld_mailer *m = arg;
	long interval_ms =
		1000L * (m->conf.poll_interval > 0 ? m->conf.poll_interval : 2);
	long wait_ms = 200;

	pthread_mutex_lock(&m->mu);
	while (!m->stopping) {
		struct timespec until;

		m->kicked = 0;
		pthread_mutex_unlock(&m->mu);
		send_round(m);
		if (!stopping(m))
			poll_round(m);
		pthread_mutex_lock(&m->mu);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (wait_ms % 1000) * 1000000L;
		until.tv_sec += wait_ms / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		wait_ms = wait_ms * 3 / 2 > interval_ms ? interval_ms :
							  wait_ms * 3 / 2;
		while (!m->stopping && !m->kicked) {
			int rc = pthread_cond_timedwait(&m->cv, &m->mu, &until);

			if (rc == ETIMEDOUT)
				break;
		}
		if (m->kicked)
			wait_ms = 200;
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* The first line of the password file into M->password. */
static int read_password(struct lld_mailer *m, struct ll_error *err)
{
	char *buf = NULL;
	size_t len = 0, line;

	if (m->conf.mail_password_file[0] == '\0')
		return 0;
	if (lld_read_file(&buf, &len, m->conf.mail_password_file,
			  PASSWORD_MAX) < 0)
		return ll_err(err, LL_EIO, LL_ECLASS_OS,
			      "cannot read the mail password file %s",
			      m->conf.mail_password_file);
	line = strcspn(buf, "\r\n");
	OPENSSL_cleanse(buf + line, len - line);
	if (line == 0) {
		free(buf);
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the mail password file %s is empty",
			      m->conf.mail_password_file);
	}
	m->password = buf;
	m->pwcap = len + 1;
	return 0;
}

static void wipe_password(struct lld_mailer *m)
{
	if (m->password == NULL)
		return;
	OPENSSL_cleanse(m->password, m->pwcap);
	free(m->password);
	m->password = NULL;
}

/* imap_url's mailbox ("INBOX" when the URL names none), no '/' at the
 * end. */
static int mailbox_url(struct lld_mailer *m, struct ll_error *err)
{
	const char *u = m->conf.imap_url, *host = strstr(u, "://");
	const char *path = host != NULL ? strchr(host + 3, '/') : NULL;
	size_t n = strlen(u);
	int k;

	if (host == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "[mail] imap_url is not a URL");
	while (n > 0 && u[n - 1] == '/')
		n--;
	if (path == NULL || (size_t)(path - u) >= n)
		k = snprintf(m->mailbox_url, sizeof(m->mailbox_url),
			     "%.*s/INBOX", (int)n, u);
	else
		k = snprintf(m->mailbox_url, sizeof(m->mailbox_url), "%.*s",
			     (int)n, u);
	if (k < 0 || (size_t)k >= sizeof(m->mailbox_url))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "[mail] imap_url too long");
	return 0;
}

int lld_mailer_start(struct lld_mailer **out, const struct lld_conf *conf,
		     struct lld_kh *kh, struct ll_error *err)
{
	struct lld_mailer *m = NULL;
	pthread_condattr_t ca;
	int rc, sync_up = 0;

	*out = NULL;
	if (strchr(conf->mail_from, '@') == NULL || conf->smtp_url[0] == '\0' ||
	    conf->imap_url[0] == '\0')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "[mail] needs from, smtp_url and imap_url");
	if (!(has_scheme(conf->smtp_url, "smtp://") ||
	      has_scheme(conf->smtp_url, "smtps://")) ||
	    !(has_scheme(conf->imap_url, "imap://") ||
	      has_scheme(conf->imap_url, "imaps://")))
		return ll_err(
			err, LL_EINVAL, LL_ECLASS_USAGE,
			"[mail] smtp_url must be smtp(s)://, imap_url imap(s)://");
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	memcpy(&m->conf, conf, sizeof(m->conf));
	m->kh = kh;
	rc = mailbox_url(m, err);
	if (rc < 0)
		goto out;
	rc = read_password(m, err);
	if (rc < 0)
		goto out;
	if (ll_curl_init(NULL) < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			    "cannot initialise libcurl");
		goto out;
	}
	rc = lld_store_open(&m->store, conf->store_path, err);
	if (rc < 0)
		goto out;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->mu, NULL);
	sync_up = 1;
	rc = pthread_create(&m->thread, NULL, mailer_main, m);
	if (rc != 0) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS,
			    "cannot start the mailer thread: %s", strerror(rc));
		goto out;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	if (m != NULL) {
		if (sync_up) {
			pthread_cond_destroy(&m->cv);
			pthread_mutex_destroy(&m->mu);
		}
		lld_store_close(&m->store);
		wipe_password(m);
		free(m);
	}
	return rc;
}

void lld_mailer_kick(struct lld_mailer *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->kicked = 1;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void lld_mailer_stop(struct lld_mailer **pp)
{
	struct lld_mailer *m;

	if (pp == NULL || *pp == NULL)
		return;
	m = *pp;
	pthread_mutex_lock(&m->mu);
	m->stopping = 1;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	if (m->imap != NULL)
		curl_easy_cleanup(m->imap);
	lld_store_close(&m->store);
	wipe_password(m);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
	*pp = NULL;
}
