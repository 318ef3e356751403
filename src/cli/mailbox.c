/* mailbox.c - IMAP search and fetch, SMTP submission, through libcurl. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <letterlock/ca.h>
#include <openssl/crypto.h>

#include "internal.h" /* ll_host_is_loopback, ll_curl_* */
#include "cli.h"
#include "mailbox.h"

#define REPLY_MAX 200 /* a server line kept for messages */
#define LIST_MAX (1024 * 1024) /* an IMAP STATUS or SEARCH answer */
#define MAILBOX_NAME_MAX 200
/* an address in A-labels: RFC 5321 allows 256 octets for a path, A-labels
 * take a little more than the UTF-8 they encode */
#define ENVELOPE_ADDR_MAX 512

struct mailbox {
	CURL *imap;
	CURL *smtp;
	char *imap_base; /* scheme://host[:port] */
	char *mbox; /* the mailbox name, plain ASCII */
	char *mbox_path; /* the same, escaped for a URL path */
	long imap_tls; /* CURLUSESSL_* */
	char *smtp_url;
	long smtp_tls;
	char *user;
	char *password;
	char *ca_file;
	int timeout;
	int reuse; /* keep the SMTP connection between submissions */
	int mail_started; /* MAIL FROM went out in this exchange */
	int data_started; /* DATA went out in this exchange */
	struct ll_smtp_ehlo ehlo; /* what the SMTP server offered */
	char reply[REPLY_MAX]; /* the server's last line */
};

struct source {
	const char *p;
	size_t left;
};

static int mb_err(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int mb_err(struct ll_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = cli_verr(err, code, fmt, ap);
	va_end(ap);
	return code;
}

/* Printable ASCII without the characters an IMAP quoted string escapes. */
static int imap_quotable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/*
 * Split URL (scheme PLAIN or TLS) into BASE "scheme://host[:port]" and
 * its path (without the leading '/', decoded), and choose the TLS mode.
 */
static int split_url(const char *url, const char *plain, const char *tls,
		     int have_ca, char **base, char **path, long *mode,
		     struct ll_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *p = NULL;
	int rc = 0, n;

	*base = NULL;
	*path = NULL;
	if (u == NULL)
		return mb_err(err, LL_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &p, CURLU_URLDECODE) != CURLUE_OK) {
		rc = mb_err(err, LL_EINVAL, "not a usable URL: %.200s", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (strcasecmp(scheme, tls) == 0) {
		*mode = CURLUSESSL_ALL;
	} else if (strcasecmp(scheme, plain) == 0) {
		*mode = ll_host_is_loopback(host) && !have_ca ?
				CURLUSESSL_NONE :
				CURLUSESSL_ALL;
	} else {
		rc = mb_err(err, LL_EINVAL,
			    "%.200s: the URL must start with %s:// or %s://",
			    url, plain, tls);
		goto out;
	}
	n = snprintf(NULL, 0, "%s://%s%s%s", scheme, host, port ? ":" : "",
		     port ? port : "");
	*base = malloc((size_t)n + 1);
	*path = strdup(p[0] == '/' ? p + 1 : p);
	if (*base == NULL || *path == NULL) {
		rc = mb_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(*base, (size_t)n + 1, "%s://%s%s%s", scheme, host,
		 port ? ":" : "", port ? port : "");
out:
	if (rc < 0) {
		free(*base);
		free(*path);
		*base = NULL;
		*path = NULL;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

/* strdup of S, NULL for NULL; sets *oom when the copy fails */
static char *dup_or_null(const char *s, int *oom)
{
	char *d = s != NULL ? strdup(s) : NULL;

	*oom |= s != NULL && d == NULL;
	return d;
}

int mailbox_open(struct mailbox **out, const struct mailbox_conf *conf,
		 struct ll_error *err)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));
	char *smtp_base = NULL, *smtp_path = NULL;
	int rc, oom = 0;

	*out = NULL;
	if (mb == NULL)
		return mb_err(err, LL_ENOMEM, "out of memory");
	if (ll_curl_init(NULL) < 0) {
		free(mb);
		return mb_err(err, LL_ENOMEM, "cannot start libcurl");
	}
	mb->timeout = conf->timeout > 0 ? conf->timeout : 60;
	mb->reuse = conf->reuse;
	if (conf->imap_url != NULL) {
		rc = split_url(conf->imap_url, "imap", "imaps",
			       conf->ca_file != NULL, &mb->imap_base, &mb->mbox,
			       &mb->imap_tls, err);
		if (rc < 0)
			goto out;
		if (mb->mbox[0] == '\0') {
			free(mb->mbox);
			mb->mbox = strdup("INBOX");
			oom |= mb->mbox == NULL;
		}
		mb->imap = curl_easy_init();
		oom |= mb->imap == NULL;
	}
	rc = split_url(conf->smtp_url, "smtp", "smtps", conf->ca_file != NULL,
		       &smtp_base, &smtp_path, &mb->smtp_tls, err);
	if (rc < 0)
		goto out;
	mb->smtp_url = dup_or_null(conf->smtp_url, &oom);
	mb->user = dup_or_null(conf->user, &oom);
	mb->password = dup_or_null(conf->password, &oom);
	mb->ca_file = dup_or_null(conf->ca_file, &oom);
	mb->smtp = curl_easy_init();
	if (oom || mb->smtp == NULL) {
		rc = mb_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	if (mb->imap != NULL && !imap_quotable(mb->mbox, MAILBOX_NAME_MAX)) {
		rc = mb_err(err, LL_EINVAL,
			    "IMAP mailbox names other than plain ASCII are "
			    "not supported");
		goto out;
	}
	if (mb->imap != NULL) {
		mb->mbox_path = curl_easy_escape(mb->imap, mb->mbox, 0);
		if (mb->mbox_path == NULL) {
			rc = mb_err(err, LL_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = mb;
	mb = NULL;
out:
	free(smtp_base);
	free(smtp_path);
	mailbox_close(&mb);
	return rc;
}

void mailbox_close(struct mailbox **pp)
{
	struct mailbox *mb;

	if (pp == NULL || *pp == NULL)
		return;
	mb = *pp;
	*pp = NULL;
	if (mb->imap != NULL)
		curl_easy_cleanup(mb->imap);
	if (mb->smtp != NULL)
		curl_easy_cleanup(mb->smtp);
	curl_free(mb->mbox_path);
	free(mb->imap_base);
	free(mb->mbox);
	free(mb->smtp_url);
	free(mb->user);
	if (mb->password != NULL)
		OPENSSL_cleanse(mb->password, strlen(mb->password));
	free(mb->password);
	free(mb->ca_file);
	free(mb);
}

/* ---- curl plumbing ---- */

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct source *s = arg;
	size_t len = size * n;

	if (len > s->left)
		len = s->left;
	memcpy(buf, s->p, len);
	s->p += len;
	s->left -= len;
	return len;
}

/* Keep the server's last line for error messages (never our own
 * lines: those carry the credentials). */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t size,
		    void *arg)
{
	struct mailbox *mb = arg;
	size_t i = 0;

	(void)c;
	if (c == mb->smtp)
		ll_smtp_ehlo_watch(&mb->ehlo, type, data, size);
	if (type == CURLINFO_HEADER_OUT && size >= 10 &&
	    strncasecmp(data, "MAIL FROM:", 10) == 0)
		mb->mail_started = 1;
	if (type == CURLINFO_HEADER_OUT && size >= 4 &&
	    strncasecmp(data, "DATA", 4) == 0)
		mb->data_started = 1;
	/* the answer to QUIT would hide the reply that made us quit */
	if (type != CURLINFO_HEADER_IN ||
	    (size >= 4 && strncmp(data, "221 ", 4) == 0))
		return 0;
	for (; i < size && i + 1 < sizeof(mb->reply); i++) {
		unsigned char ch = (unsigned char)data[i];

		if (ch == '\r' || ch == '\n')
			break;
		mb->reply[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	mb->reply[i] = '\0';
	return 0;
}

/* Set C up for one exchange with TLS mode TLS, the answer into S. */
static void common_opts(struct mailbox *mb, CURL *c, long tls, char *ebuf,
			struct ll_curl_sink *s)
{
	ll_curl_setup(c, "imap,imaps,smtp,smtps", (long)mb->timeout,
		      mb->ca_file, ebuf, s);
	/*
	 * A message of 25 MiB over a slow link takes longer than any
	 * time-out that suits a dead server: the time-out bounds the
	 * connection and a stall (not one byte either way for that long),
	 * and the whole exchange only at 60 times it.
	 */
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L * mb->timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)mb->timeout);
	if (mb->user != NULL) {
		curl_easy_setopt(c, CURLOPT_USERNAME, mb->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, mb->password);
	}
	curl_easy_setopt(c, CURLOPT_USE_SSL, tls);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, mb);
	mb->reply[0] = '\0';
	mb->mail_started = 0;
	mb->data_started = 0;
}

/* The error of an exchange that ended with CC (CURLE_OK: 0). */
static int perform_error(struct mailbox *mb, CURLcode cc, const char *proto,
			 const char *ebuf, const struct ll_curl_sink *s,
			 struct ll_error *err)
{
	const char *why = ll_curl_why(ebuf, cc);
	int rc = 0;

	if (s != NULL && s->too_big)
		rc = mb_err(err, LL_ETOOBIG, "%s: answer larger than %zu bytes",
			    proto, s->max);
	else if (cc == CURLE_LOGIN_DENIED)
		rc = mb_err(err, LL_EIO, "%s login failed: %s%s%s", proto, why,
			    mb->reply[0] ? ": " : "", mb->reply);
	else if (cc != CURLE_OK)
		rc = mb_err(err, LL_EIO, "%s: %s%s%s%s", proto, why,
			    mb->reply[0] ? " (server: " : "", mb->reply,
			    mb->reply[0] ? ")" : "");
	return rc;
}

/* ---- IMAP ---- */

/*
 * One IMAP exchange, the answer into S: CMD (a command of ours), or
 * NULL to fetch the message UID.  The URL names the mailbox when SELECT
 * is set (CMD works in it; a fetch always does), and the message when
 * UID is not 0.
 */
static int imap_run(struct mailbox *mb, int select, unsigned long uid,
		    const char *cmd, struct ll_curl_sink *s,
		    struct ll_error *err)
{
	char ebuf[CURL_ERROR_SIZE];
	struct ll_buf url = { 0 };
	int rc;

	if (mb->imap == NULL)
		return mb_err(err, LL_EINVAL, "no IMAP URL");
	if (ll_buf_addf(&url, "%s/%s", mb->imap_base,
			select ? mb->mbox_path : "") < 0 ||
	    (uid != 0 && ll_buf_addf(&url, ";UID=%lu", uid) < 0)) {
		ll_buf_free(&url);
		return mb_err(err, LL_ENOMEM, "out of memory");
	}
	common_opts(mb, mb->imap, mb->imap_tls, ebuf, s);
	curl_easy_setopt(mb->imap, CURLOPT_URL, url.p);
	if (cmd != NULL)
		curl_easy_setopt(mb->imap, CURLOPT_CUSTOMREQUEST, cmd);
	rc = perform_error(mb, ll_curl_perform(mb->imap), "IMAP", ebuf, s, err);
	ll_buf_free(&url);
	return rc;
}

/* The next line of S at *pos, without its line end; 0 at the end. */
static int next_line(const struct ll_buf *s, size_t *pos, const char **line,
		     size_t *len)
{
	const char *p, *nl;

	if (*pos >= s->len)
		return 0;
	p = s->p + *pos;
	nl = memchr(p, '\n', s->len - *pos);
	*line = p;
	*len = nl ? (size_t)(nl - p) : s->len - *pos;
	*pos += *len + (nl ? 1 : 0);
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	return 1;
}

/* A decimal number of 1 to 10 digits at *p (below 2^32); advances. */
static int read_number(const char **p, const char *end, unsigned long *v)
{
	const char *s = *p;
	unsigned long long x = 0;

	if (s >= end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		x = x * 10 + (unsigned long long)(*s - '0');
		if (x > 0xffffffffULL)
			return -1;
	}
	*p = s;
	*v = (unsigned long)x;
	return 0;
}

int mailbox_uidnext(struct mailbox *mb, unsigned long *uidnext,
		    struct ll_error *err)
{
	struct ll_curl_sink s = { .max = LIST_MAX };
	char cmd[MAILBOX_NAME_MAX + 40];
	const char *line, *end, *p;
	size_t pos = 0, len;
	int rc, found = 0;

	snprintf(cmd, sizeof(cmd), "STATUS \"%s\" (UIDNEXT)", mb->mbox);
	rc = imap_run(mb, 0, 0, cmd, &s, err);
	while (rc == 0 && !found && next_line(&s.body, &pos, &line, &len)) {
		end = line + len;
		if (len < 9 || strncasecmp(line, "* STATUS ", 9) != 0)
			continue;
		p = memchr(line, '(', len);
		for (; p != NULL && p + 8 < end; p++) {
			if (strncasecmp(p, "UIDNEXT ", 8) != 0)
				continue;
			p += 8;
			found = read_number(&p, end, uidnext) == 0;
			break;
		}
	}
	if (rc == 0 && !found)
		rc = mb_err(err, LL_EPARSE,
			    "IMAP: the server did not say UIDNEXT of %s",
			    mb->mbox);
	ll_buf_free(&s.body);
	return rc;
}

/* Keep the N highest of UIDS, highest first, after adding V. */
static void keep_highest(unsigned long *uids, size_t *n, unsigned long v)
{
	size_t i = *n;

	if (i == MAILBOX_MAX_HITS) {
		if (v <= uids[i - 1])
			return;
		i--;
	} else {
		(*n)++;
	}
	while (i > 0 && uids[i - 1] < v) {
		uids[i] = uids[i - 1];
		i--;
	}
	uids[i] = v;
}

int mailbox_search(struct mailbox *mb, unsigned long first, const char *from,
		   const char *subject, unsigned long uids[MAILBOX_MAX_HITS],
		   size_t *n, struct ll_error *err)
{
	struct ll_curl_sink s = { .max = LIST_MAX };
	char cmd[800];
	const char *line, *end, *p;
	size_t pos = 0, len, used;
	int rc;

	*n = 0;
	if (first == 0)
		first = 1;
	used = (size_t)snprintf(cmd, sizeof(cmd), "UID SEARCH UID %lu:*",
				first);
	/* criteria the server cannot take as a quoted string are left to
	 * the caller's own check of each message */
	if (from != NULL && imap_quotable(from, 254))
		used += (size_t)snprintf(cmd + used, sizeof(cmd) - used,
					 " FROM \"%s\"", from);
	if (subject != NULL && imap_quotable(subject, 254))
		snprintf(cmd + used, sizeof(cmd) - used, " SUBJECT \"%s\"",
			 subject);
	rc = imap_run(mb, 1, 0, cmd, &s, err);
	while (rc == 0 && next_line(&s.body, &pos, &line, &len)) {
		unsigned long v;

		end = line + len;
		if (len < 8 || strncasecmp(line, "* SEARCH", 8) != 0)
			continue;
		for (p = line + 8; p < end;) {
			if (*p == ' ') {
				p++;
				continue;
			}
			if (read_number(&p, end, &v) < 0)
				break; /* e.g. "(MODSEQ n)": no more UIDs */
			/* "n:*" also matches the highest UID below n */
			if (v >= first)
				keep_highest(uids, n, v);
		}
	}
	ll_buf_free(&s.body);
	return rc;
}

int mailbox_fetch(struct mailbox *mb, unsigned long uid, size_t max, char **msg,
		  size_t *len, struct ll_error *err)
{
	struct ll_curl_sink s = { .max = max };
	int rc;

	*msg = NULL;
	*len = 0;
	rc = imap_run(mb, 1, uid, NULL, &s, err);
	if (rc == 0 && s.body.p == NULL)
		rc = mb_err(err, LL_EPARSE, "IMAP: message %lu is empty", uid);
	if (rc < 0) {
		ll_buf_free(&s.body);
		return rc;
	}
	*msg = s.body.p;
	*len = s.body.len;
	return 0;
}

/* ---- a folder of its own ---- */

/* FOLDER escaped for the URL path into *path (curl_free it). */
static int folder_path(struct mailbox *mb, const char *folder, char **path,
		       struct ll_error *err)
{
	if (mb->imap == NULL)
		return mb_err(err, LL_EINVAL, "no IMAP URL");
	if (!imap_quotable(folder, MAILBOX_NAME_MAX))
		return mb_err(err, LL_EINVAL,
			      "IMAP mailbox names other than plain ASCII are "
			      "not supported");
	*path = curl_easy_escape(mb->imap, folder, 0);
	return *path ? 0 : mb_err(err, LL_ENOMEM, "out of memory");
}

int mailbox_select(struct mailbox *mb, const char *folder,
		   struct ll_error *err)
{
	char *path = NULL, *name;
	int rc = folder_path(mb, folder, &path, err);

	if (rc < 0)
		return rc;
	name = strdup(folder);
	if (name == NULL) {
		curl_free(path);
		return mb_err(err, LL_ENOMEM, "out of memory");
	}
	free(mb->mbox);
	curl_free(mb->mbox_path);
	mb->mbox = name;
	mb->mbox_path = path;
	return 0;
}

int mailbox_append(struct mailbox *mb, const char *folder, const char *msg,
		   size_t len, struct ll_error *err)
{
	struct ll_curl_sink s = { .max = LIST_MAX };
	struct source src = { msg, len };
	char ebuf[CURL_ERROR_SIZE], cmd[MAILBOX_NAME_MAX + 16];
	struct ll_buf url = { 0 };
	char *path = NULL;
	int rc;

	rc = folder_path(mb, folder, &path, err);
	if (rc < 0)
		return rc;
	/* made when missing; "already exists" is no error here */
	snprintf(cmd, sizeof(cmd), "CREATE \"%s\"", folder);
	imap_run(mb, 0, 0, cmd, &s, NULL);
	ll_buf_free(&s.body);
	if (ll_buf_addf(&url, "%s/%s", mb->imap_base, path) < 0) {
		rc = mb_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	common_opts(mb, mb->imap, mb->imap_tls, ebuf, NULL);
	curl_easy_setopt(mb->imap, CURLOPT_URL, url.p);
	curl_easy_setopt(mb->imap, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(mb->imap, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(mb->imap, CURLOPT_READDATA, &src);
	curl_easy_setopt(mb->imap, CURLOPT_INFILESIZE_LARGE,
			 (curl_off_t)len);
	rc = perform_error(mb, ll_curl_perform(mb->imap), "IMAP APPEND", ebuf,
			   NULL, err);
out:
	ll_buf_free(&url);
	curl_free(path);
	return rc;
}

/* ---- SMTP ---- */

/* The reply code of the server's last line, 0 when it has none. */
static long reply_code(const char *line)
{
	if (line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return 0;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* What the failure CC of the last exchange says about trying again. */
static void judge(struct mailbox *mb, CURLcode cc, struct mailbox_outcome *oc)
{
	long code = 0;

	curl_easy_getinfo(mb->smtp, CURLINFO_RESPONSE_CODE, &code);
	if (code < 100 || code > 599)
		code = reply_code(mb->reply);
	oc->code = code;
	oc->session = !mb->mail_started;
	switch (cc) {
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:
		/* STARTTLS or AUTH answered 454 (RFC 3207, 4954): not now,
		 * rather than never; no STARTTLS offered, 535: never */
		oc->permanent = code < 400 || code >= 500;
		oc->session = 1;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		oc->permanent = 1;
		oc->session = 1;
		break;
	default:
		oc->permanent = code >= 500;
		break;
	}
}

/* One SMTP exchange of MB's handle: MSG from MFROM to LIST. */
static CURLcode submit_once(struct mailbox *mb, const char *mfrom,
			    struct curl_slist *list, const char *msg,
			    size_t len, char *ebuf)
{
	struct source src = { msg, len };

	common_opts(mb, mb->smtp, mb->smtp_tls, ebuf, NULL);
	curl_easy_setopt(mb->smtp, CURLOPT_URL, mb->smtp_url);
	curl_easy_setopt(mb->smtp, CURLOPT_MAIL_FROM, mfrom);
	curl_easy_setopt(mb->smtp, CURLOPT_MAIL_RCPT, list);
	curl_easy_setopt(mb->smtp, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(mb->smtp, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(mb->smtp, CURLOPT_READDATA, &src);
	curl_easy_setopt(mb->smtp, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	/* without reuse: QUIT now */
	curl_easy_setopt(mb->smtp, CURLOPT_FORBID_REUSE, mb->reuse ? 0L : 1L);
	return ll_curl_perform(mb->smtp);
}

/*
 * Mail that needs SMTPUTF8 goes only to a server that offers it (RFC
 * 6531 3.2: no downgrade).  What the server offered is known once an
 * exchange has read its answer to EHLO; before the first, a NOOP
 * connects and reads it, so that nothing of the message goes out to a
 * server that would have to take UTF-8 without SMTPUTF8.
 */
static int utf8_offered(struct mailbox *mb, struct mailbox_outcome *oc,
			struct ll_error *err)
{
	struct ll_curl_sink sink = { .max = REPLY_MAX, .truncate = 1 };
	char ebuf[CURL_ERROR_SIZE];
	CURLcode cc;
	int rc = 0;

	if (!mb->ehlo.seen) {
		common_opts(mb, mb->smtp, mb->smtp_tls, ebuf, &sink);
		curl_easy_setopt(mb->smtp, CURLOPT_URL, mb->smtp_url);
		cc = ll_curl_smtp_noop(mb->smtp);
		ll_buf_free(&sink.body);
		if (cc != CURLE_OK) {
			judge(mb, cc, oc);
			return perform_error(mb, cc, "SMTP", ebuf, NULL, err);
		}
	}
	if (!mb->ehlo.smtputf8) {
		oc->code = 0;
		oc->permanent = 1;
		rc = mb_err(err, LL_EIO, "%s", MAILBOX_NO_SMTPUTF8);
	}
	return rc;
}

/*
 * "<ADDR>" into B as the envelope has it: the domain in A-labels, the
 * same domain in either form (RFC 5890), which every server reads and
 * which needs no SMTPUTF8 (libcurl converts a U-label domain only in a
 * UTF-8 locale, and a server may know its domains in one form only):
 * 李四@例子.中国 and 李四@xn--fsqu00a.xn--fiqs8s are one mailbox.  As
 * given when it is not an address the CA could certify.  *utf8 is set
 * when what remains is not ASCII (a UTF-8 local part).
 */
static int envelope_addr(struct ll_buf *b, const char *addr, int *utf8)
{
	char canon[ENVELOPE_ADDR_MAX];
	const char *use = addr;

	if (ll_ca_mailbox_canonical(canon, sizeof(canon), NULL, addr, NULL) ==
	    0)
		use = canon;
	for (const char *p = use; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*utf8 = 1;
	b->len = 0;
	return ll_buf_addf(b, "<%s>", use);
}

int mailbox_submit(struct mailbox *mb, const char *from,
		   const char *const *rcpts, size_t n, const char *msg,
		   size_t len, struct mailbox_outcome *oc, struct ll_error *err)
{
	struct curl_slist *list = NULL, *l;
	struct ll_buf mfrom = { 0 }, mto = { 0 };
	char ebuf[CURL_ERROR_SIZE];
	CURLcode cc;
	CURL *fresh;
	long made = -1; /* connections the exchange made; 0: it reused one */
	int rc = 0, utf8 = 0;

	memset(oc, 0, sizeof(*oc));
	if (envelope_addr(&mfrom, from, &utf8) < 0)
		rc = mb_err(err, LL_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		l = envelope_addr(&mto, rcpts[i], &utf8) < 0 ?
			    NULL :
			    curl_slist_append(list, mto.p);
		if (l == NULL)
			rc = mb_err(err, LL_ENOMEM, "out of memory");
		else
			list = l;
	}
	if (rc == 0 && (utf8 || ll_smtp_needs_utf8("", NULL, 0, msg, len)))
		rc = utf8_offered(mb, oc, err);
	if (rc < 0)
		goto out;
	cc = submit_once(mb, mfrom.p, list, msg, len, ebuf);
	if (cc != CURLE_OK && mb->reuse && !mb->data_started &&
	    curl_easy_getinfo(mb->smtp, CURLINFO_NUM_CONNECTS, &made) ==
		    CURLE_OK &&
	    made == 0) {
		/* a kept connection that the server has closed meanwhile
		 * (its idle timeout's 421, a restart) fails before DATA:
		 * the server took nothing, so once more, with a handle of
		 * its own (nothing of the dead session's state) */
		fresh = curl_easy_init();
		if (fresh != NULL) {
			curl_easy_cleanup(mb->smtp);
			mb->smtp = fresh;
			cc = submit_once(mb, mfrom.p, list, msg, len, ebuf);
		}
	}
	if (cc != CURLE_OK) {
		judge(mb, cc, oc);
		rc = perform_error(mb, cc, "SMTP", ebuf, NULL, err);
	}
out:
	curl_slist_free_all(list);
	ll_buf_free(&mfrom);
	ll_buf_free(&mto);
	return rc;
}

int mailbox_send(struct mailbox *mb, const char *from, const char *to,
		 const char *msg, size_t len, struct ll_error *err)
{
	struct mailbox_outcome oc;

	return mailbox_submit(mb, from, &to, 1, msg, len, &oc, err);
}

const char *mailbox_reply(const struct mailbox *mb)
{
	return mb->reply;
}
