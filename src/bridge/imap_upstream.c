/*
 * imap_upstream.c - the child of one logged-in IMAP session
 * (bridge.h: imap_child_run).  It connects to the account's IMAP
 * server (IMAPS, or STARTTLS; the certificate verified against the
 * system store and the account's pinned CA), logs in with the stored
 * password, then relays: the client's commands (from the loop, on
 * BRIDGE_CHILD_FD) to the server, the server's responses back, with
 * CAPABILITY cut to what the bridge handles and FETCH of whole S/MIME
 * messages answered with the opened message (imap_fetch.c).  Blocking
 * I/O is fine here: the process serves this one session.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bridge.h"
#include "imap_child.h"
#include "imap_fetchcmd.h"
#include "imap_rewrite.h"
#include "imap_search.h"

#define CLIENT_FD BRIDGE_CHILD_FD
#define UP_TIMEOUT 60 /* seconds for the upstream's greeting and login */
#define GONE "* BYE the mail server closed the connection\r\n"
#define CACHE_MAX (256u * 1024 * 1024) /* HOME/bridge/cache, bytes */
/* A server's response line: "* SEARCH" lists every UID found on one
 * line (1,000,000 UIDs of 7 digits) */
#define UP_LINE_MAX (8u * 1024 * 1024)



static int up_write(struct imap_up *u, const char *p, size_t n)
{
	if (u->ssl == NULL) {
		if (cli_write_all(u->fd, p, n) == 0)
			return 0;
		u->gone = 1;
		return -1;
	}
	while (n > 0) {
		int k = SSL_write(u->ssl, p, n > 65536 ? 65536 : (int)n);

		if (k <= 0) {
			u->gone = 1;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static ssize_t up_read(struct imap_up *u, char *buf, size_t n)
{
	ssize_t k;

	if (u->ssl == NULL)
		k = read(u->fd, buf, n);
	else
		k = SSL_read(u->ssl, buf, (int)n);
	if (k <= 0) {
		u->gone = 1;
		return -1;
	}
	return k;
}

/* imap[s]://HOST[:PORT][/...] into U. */
static int parse_url(struct imap_up *u, const char *url)
{
	const char *h, *end, *colon;
	size_t n;

	if (strncasecmp(url, "imaps://", 8) == 0) {
		u->implicit_tls = 1;
		u->port = 993;
		h = url + 8;
	} else if (strncasecmp(url, "imap://", 7) == 0) {
		u->port = 143;
		h = url + 7;
	} else {
		return -1;
	}
	end = h + strcspn(h, "/");
	colon = memchr(h, ':', (size_t)(end - h));
	n = (size_t)((colon ? colon : end) - h);
	if (n == 0 || n >= sizeof(u->host))
		return -1;
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	if (colon != NULL) {
		u->port = atoi(colon + 1);
		if (u->port <= 0 || u->port > 65535)
			return -1;
	}
	return 0;
}

static int dial(struct imap_up *u)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct timeval tv = { UP_TIMEOUT, 0 };
	char port[8];

	snprintf(port, sizeof(port), "%d", u->port);
	if (getaddrinfo(u->host, port, &hints, &res) != 0)
		return -1;
	u->fd = -1;
	for (ai = res; ai != NULL && u->fd < 0; ai = ai->ai_next) {
		u->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (u->fd < 0)
			continue;
		setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(u->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(u->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(u->fd);
			u->fd = -1;
		}
	}
	freeaddrinfo(res);
	return u->fd < 0 ? -1 : 0;
}

static int tls_start(struct imap_up *u, const char *ca_file)
{
	unsigned char ip[16];

	u->ctx = SSL_CTX_new(TLS_client_method());
	if (u->ctx == NULL)
		return -1;
	SSL_CTX_set_min_proto_version(u->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(u->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(u->ctx) != 1 ||
	    (ca_file != NULL &&
	     SSL_CTX_load_verify_locations(u->ctx, ca_file, NULL) != 1))
		return -1;
	u->ssl = SSL_new(u->ctx);
	if (u->ssl == NULL || SSL_set_fd(u->ssl, u->fd) != 1)
		return -1;
	if (inet_pton(AF_INET, u->host, ip) == 1 ||
	    inet_pton(AF_INET6, u->host, ip) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(u->ssl),
						  u->host) != 1)
			return -1;
	} else if (SSL_set1_host(u->ssl, u->host) != 1 ||
		   SSL_set_tlsext_host_name(u->ssl, u->host) != 1) {
		return -1;
	}
	if (SSL_connect(u->ssl) != 1) {
		fprintf(stderr, "letterlock: bridge: imap: %s: TLS: %s\n",
			u->host,
			SSL_get_verify_result(u->ssl) != X509_V_OK ?
				X509_verify_cert_error_string(
					SSL_get_verify_result(u->ssl)) :
				"handshake failed");
		return -1;
	}
	return 0;
}

/* The next response unit of the server into u->r; 0, or -1. */
static int up_unit(struct imap_up *u)
{
	for (;;) {
		size_t used;
		int rc;

		if (u->off < u->have) {
			rc = imap_reader_feed(&u->r, u->buf + u->off,
					      u->have - u->off, &used);
			u->off += used;
			if (rc == IMAP_UNIT)
				return 0;
			if (rc < 0)
				return -1;
			if (rc == IMAP_SYNC)
				continue;
		}
		ssize_t k = up_read(u, u->buf, sizeof(u->buf));

		if (k <= 0)
			return -1;
		u->have = (size_t)k;
		u->off = 0;
	}
}

/* Until the response tagged TAG: 0 OK, -1 otherwise. */
static int up_wait(struct imap_up *u, const char *tag)
{
	size_t tl = strlen(tag);

	for (;;) {
		int ok;

		if (up_unit(u) < 0)
			return -1;
		if (strncmp(u->r.buf, tag, tl) == 0 && u->r.buf[tl] == ' ') {
			ok = strncasecmp(u->r.buf + tl + 1, "OK", 2) == 0;
			imap_reader_next(&u->r);
			return ok ? 0 : -1;
		}
		imap_reader_next(&u->r);
	}
}

int imap_up_write(struct imap_sess *s, const char *p, size_t n)
{
	return up_write(&s->u, p, n);
}

int imap_up_unit(struct imap_sess *s)
{
	return up_unit(&s->u);
}

const char *imap_where(const struct imap_sess *s, char *out, size_t size)
{
	if (s->uidvalidity == 0 || s->mailbox[0] == '\0' ||
	    (size_t)snprintf(out, size, "%s\n%s\n%lu", s->account,
			     s->mailbox, s->uidvalidity) >= size)
		return NULL;
	return out;
}

/* A quoted IMAP string of S into OUT; -1 when it cannot be one. */
static int quote(char *out, size_t size, const char *s)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n' || n + 4 >= size)
			return -1;
		if (*s == '"' || *s == '\\')
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

/* Back to before dial (after a failed try). */
static void up_reset(struct imap_up *u)
{
	if (u->ssl != NULL)
		SSL_free(u->ssl);
	SSL_CTX_free(u->ctx);
	if (u->fd >= 0)
		close(u->fd);
	u->ssl = NULL;
	u->ctx = NULL;
	u->fd = -1;
	u->have = u->off = 0;
	u->gone = 0;
	imap_reader_next(&u->r);
}

/*
 * Connect, TLS, log in.  0; -1 when the server could not be reached or
 * dropped the connection before the login (worth another try: a
 * flaky link, a server restarting); -2 when trying again cannot help
 * (its certificate not valid, a STARTTLS refused, the login refused,
 * no password).
 */
static int up_login(struct imap_up *u, struct imap_child *c)
{
	const struct bridge_account *a = c->a;
	char *pw = NULL;
	char qu[600], qp[600], cmd[1300];
	int rc = -1;

	if (dial(u) < 0) {
		fprintf(stderr, "letterlock: bridge: imap: cannot reach %s\n",
			u->host);
		goto out;
	}
	if (u->implicit_tls && tls_start(u, a->ca_file) < 0)
		goto tls_failed;
	if (up_unit(u) < 0)
		goto out;
	if (strncasecmp(u->r.buf, "* OK", 4) != 0) {
		rc = -2; /* "* BYE" or "* PREAUTH": not for us */
		goto out;
	}
	imap_reader_next(&u->r);
	if (!u->implicit_tls) {
		static const char st[] = "S STARTTLS\r\n";

		rc = -2;
		if (up_write(u, st, sizeof(st) - 1) < 0 ||
		    up_wait(u, "S") < 0 ||
		    u->off != u->have) /* nothing may follow in clear */
			goto out;
		rc = -1;
		if (tls_start(u, a->ca_file) < 0)
			goto tls_failed;
	}
	rc = -2;
	pw = bridge_account_password(c->b->cli->home, a->address);
	if (pw == NULL ||
	    quote(qu, sizeof(qu), a->user ? a->user : a->address) < 0 ||
	    quote(qp, sizeof(qp), pw) < 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "L LOGIN %s %s\r\n", qu, qp);
	if (up_write(u, cmd, strlen(cmd)) < 0)
		goto out;
	rc = up_wait(u, "L") < 0 ? -2 : 0;
	if (rc < 0)
		fprintf(stderr,
			"letterlock: bridge: imap: %s: login refused "
			"upstream\n",
			a->address);
	goto out;
tls_failed:
	/* a certificate that does not verify will not verify next time */
	if (u->ssl != NULL && SSL_get_verify_result(u->ssl) != X509_V_OK)
		rc = -2;
out:
	OPENSSL_cleanse(qp, sizeof(qp));
	OPENSSL_cleanse(cmd, sizeof(cmd));
	if (pw != NULL)
		ll_wipe_free(pw, strlen(pw));
	return rc;
}



int imap_respond(struct imap_sess *s)
{
	const char *p = s->u.r.buf, *lf, *cap;
	size_t len = s->u.r.len, olen, tl = strlen(s->select_tag);
	char *out = NULL, where[IMAP_ARG_MAX + 400];
	int rc;

	if (strncasecmp(p, "* OK [UIDVALIDITY ", 18) == 0)
		s->uidvalidity = strtoul(p + 18, NULL, 10);
	else if (tl > 0 && strncmp(p, s->select_tag, tl) == 0 && p[tl] == ' ') {
		if (strncasecmp(p + tl + 1, "OK", 2) != 0)
			s->uidvalidity = 0; /* nothing selected */
		s->select_tag[0] = '\0';
	}

	/* the capability list (untagged, or a response code) of the
	 * first line, never of a literal */
	lf = memchr(p, '\n', len);
	cap = strstr(p, "CAPABILITY ");
	if (cap != NULL && cap < lf && len <= IMAP_LINE_MAX &&
	    (strncasecmp(p, "* CAPABILITY ", 13) == 0 ||
	     (cap > p && cap[-1] == '['))) {
		char tmp[IMAP_LINE_MAX + 1];

		olen = imap_cap_filter(tmp, p, len, (size_t)(cap - p) + 11);
		return cli_write_all(CLIENT_FD, tmp, olen);
	}
	if (p[0] == '*' && strstr(p, " FETCH ") != NULL &&
	    memchr(p, '{', len) != NULL) {
		rc = imap_fetch_rewrite(&s->op,
					imap_where(s, where, sizeof(where)), p,
					len, &out, &olen);
		if (rc < 0) {
			static const char bye[] = "* BYE cannot open a "
						  "message\r\n";

			cli_write_all(CLIENT_FD, bye, sizeof(bye) - 1);
			return -1;
		}
		if (rc == 1) {
			rc = cli_write_all(CLIENT_FD, out, olen);
			free(out);
			return rc;
		}
	}
	return cli_write_all(CLIENT_FD, p, len);
}

/* The verb of the command CMD ("" when none), in VERB (32 bytes). */
static void verb_of(char verb[32], const char *cmd, size_t len)
{
	const char *sp = memchr(cmd, ' ', len), *v;
	size_t n;

	verb[0] = '\0';
	if (sp == NULL)
		return;
	v = sp + 1;
	n = strcspn(v, " \r\n");
	if (n < 32) {
		memcpy(verb, v, n);
		verb[n] = '\0';
	}
}

/*
 * The client's commands the bridge does not pass on: those of the
 * login, and those of extensions taken out of CAPABILITY because their
 * answers would be the server's view of an S/MIME message (COMPRESS
 * would hide every later command; NOTIFY sends FETCH data the bridge
 * does not rewrite; SORT and THREAD order by the ciphertext's fields
 * and take search keys that are not rewritten; URLFETCH gives a part
 * as the server holds it).  CMD is the unit, VERB its verb.
 */
static int refused(const char *cmd, size_t len, const char *verb)
{
	static const char *const verbs[] = {
		"STARTTLS", "LOGIN",  "AUTHENTICATE", "COMPRESS",   "NOTIFY",
		"SORT",	    "THREAD", "URLFETCH",     "GENURLAUTH", "RESETKEY",
	};
	char uidverb[32];
	const char *sp = memchr(cmd, ' ', len);

	/* UID SORT, UID THREAD: the verb after UID */
	if (strcasecmp(verb, "UID") == 0 && sp != NULL) {
		verb_of(uidverb, sp + 1, len - (size_t)(sp + 1 - cmd));
		verb = uidverb;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcasecmp(verb, verbs[i]) == 0)
			return 1;
	return 0;
}

/*
 * Is the client's SELECT or EXAMINE (VERB) given parameters, RFC
 * 4466's "(CONDSTORE)" or "(QRESYNC (...))"?  They are not offered
 * (CONDSTORE's FETCH modifiers would let the server answer for an
 * S/MIME message), so such a SELECT is refused before it changes
 * anything, here or at the server.
 */
static int select_params(const struct imap_sess *s, const char *verb)
{
	const char *p = s->cr.buf, *end = s->cr.buf + s->cr.len;
	char arg[IMAP_ARG_MAX];

	if (strcasecmp(verb, "SELECT") != 0 && strcasecmp(verb, "EXAMINE") != 0)
		return 0;
	/* the tag, the verb, the mailbox; a name given as a literal is
	 * read as one once the unit is whole */
	for (int i = 0; i < 3; i++)
		if (imap_arg(&p, end, arg, sizeof(arg)) < 0)
			return 0;
	return p < end && *p == '(';
}

/* The answer "TAG KIND TEXT" to the command UNIT. */
static void tagged(const char *unit, const char *kind, const char *text)
{
	char line[400];
	size_t n = strcspn(unit, " \r\n");

	snprintf(line, sizeof(line), "%.*s %s %s\r\n", n < 60 ? (int)n : 60,
		 unit, kind, text);
	cli_write_all(CLIENT_FD, line, strlen(line));
}

/*
 * An APPEND, whole in s->cr: "tag APPEND mailbox [flags] [date] {n}"
 * CRLF, the message, CRLF.  Sealed, it goes upstream with a
 * synchronizing literal; the message follows on the server's "+".
 * 0, or -1 (the upstream is gone).
 */
static int append(struct imap_sess *s)
{
	const char *u = s->cr.buf, *lf = memchr(u, '\n', s->cr.len), *brace;
	size_t llen, n, rest;
	int sync;
	char why[LL_ERROR_MSG_MAX + 40], head[IMAP_LINE_MAX + 32];

	llen = lf ? (size_t)(lf - u) : 0;
	if (llen > 0 && u[llen - 1] == '\r')
		llen--;
	if (lf == NULL || imap_literal_size(u, llen, &n, &sync) < 0) {
		/* no literal: not an APPEND the bridge can seal (a message
		 * as a quoted string, CATENATE's parts, which it does not
		 * offer); a server that took one would store it as it is */
		tagged(u, "NO [CANNOT]",
		       "an APPEND carries its message as one literal");
		return 0;
	}
	rest = s->cr.len - (size_t)(lf + 1 - u) - n;
	brace = u + llen;
	while (brace > u && *brace != '{')
		brace--;
	if (rest > 2 || memchr(u, '{', (size_t)(brace - u)) != NULL) {
		/* MULTIAPPEND, or a mailbox name as a literal */
		tagged(u, "NO [CANNOT]",
		       "one message per APPEND, mailbox names without literals");
		return 0;
	}
	if (imap_seal_append(&s->op, lf + 1, n, &s->lit, &s->litlen, why,
			     sizeof(why)) < 0) {
		/* fail closed: no plaintext goes upstream */
		tagged(u, "NO", why);
		return 0;
	}
	snprintf(head, sizeof(head), "%.*s{%zu}\r\n", (int)(brace - u), u,
		 s->litlen);
	return imap_up_write(s, head, strlen(head));
}

/* SELECT or EXAMINE: the mailbox the next FETCHes are in (its
 * UIDVALIDITY comes with the server's answer). */
static void selecting(struct imap_sess *s, const char *verb)
{
	const char *p = s->cr.buf, *end = s->cr.buf + s->cr.len;
	char tag[64], v[32];

	/* another SELECT still unanswered: the UIDVALIDITY that comes
	 * next may be its own, and what is fetched meanwhile its
	 * mailbox's; this one's is not known (nothing cached) */
	int pipelined = s->select_tag[0] != '\0';

	if (strcasecmp(verb, "SELECT") != 0 && strcasecmp(verb, "EXAMINE") != 0)
		return;
	s->uidvalidity = 0;
	s->select_tag[0] = '\0';
	if (imap_arg(&p, end, tag, sizeof(tag)) == 0)
		snprintf(s->select_tag, sizeof(s->select_tag), "%s", tag);
	if (pipelined || s->select_tag[0] == '\0' ||
	    imap_arg(&p, end, v, sizeof(v)) < 0 ||
	    imap_arg(&p, end, s->mailbox, sizeof(s->mailbox)) < 0 ||
	    strchr(s->mailbox, '\n') != NULL) {
		s->mailbox[0] = '\0';
		return;
	}
	if (strcasecmp(s->mailbox, "INBOX") == 0)
		strcpy(s->mailbox, "INBOX");
}

/* The client's bytes in BUF (LEN): 0, or -1 (the session ends). */
static int from_client(struct imap_sess *s, const char *buf, size_t len)
{
	size_t off = 0, used;
	char verb[32];
	int f;

	while (off < len) {
		f = imap_reader_feed(&s->cr, buf + off, len - off, &used);
		off += used;
		if (f < 0) {
			static const char bye[] = "* BYE command too long\r\n";

			cli_write_all(CLIENT_FD, bye, sizeof(bye) - 1);
			return -1;
		}
		if (f == IMAP_MORE)
			break;
		verb_of(verb, s->cr.buf, s->cr.len);
		/* a SELECT whose name is a synchronizing literal comes in
		 * pieces: its first one leaves the mailbox unknown (nothing
		 * cached), not the one selected before */
		if (s->sent == 0 && f == IMAP_UNIT && select_params(s, verb)) {
			tagged(s->cr.buf, "BAD",
			       "SELECT parameters (CONDSTORE, QRESYNC) are "
			       "not offered");
			imap_reader_next(&s->cr);
			continue;
		}
		if (s->sent == 0 && (f == IMAP_UNIT || f == IMAP_SYNC))
			selecting(s, verb);
		if (f == IMAP_UNIT && s->sent == 0)
			s->logout |= strcasecmp(verb, "LOGOUT") == 0;
		if (s->sent == 0 && !s->appending &&
		    refused(s->cr.buf, s->cr.len, verb)) {
			if (f == IMAP_UNIT)
				tagged(s->cr.buf, "BAD", "not in this state");
			else
				return -1; /* a literal of a refused one */
		} else if (s->sent == 0 && f == IMAP_UNIT &&
			   strcasecmp(verb, "ENABLE") == 0) {
			/* nothing the bridge offers is enabled by ENABLE
			 * (CONDSTORE, QRESYNC, UTF8=ACCEPT are not
			 * offered): none is enabled at the server either
			 * (RFC 5161 3.1: unknown names are ignored) */
			if (cli_write_all(CLIENT_FD, "* ENABLED\r\n", 11) < 0)
				return -1;
			tagged(s->cr.buf, "OK", "ENABLE completed");
		} else if (s->sent == 0 &&
			   (strcasecmp(verb, "APPEND") == 0 ||
			    imap_search_verb(s->cr.buf, s->cr.len) ||
			    (f == IMAP_SYNC &&
			     imap_fetch_is(s->cr.buf, s->cr.len)))) {
			if (f == IMAP_SYNC) {
				/* the literal comes to us first */
				s->appending = 1;
				if (cli_write_all(CLIENT_FD, "+ go ahead\r\n",
						  12) < 0)
					return -1;
			} else {
				s->appending = 0;
				if ((strcasecmp(verb, "APPEND") == 0 ?
					     append(s) :
					     imap_search_command(s)) < 0)
					return -1;
			}
		} else if (s->sent == 0 && f == IMAP_UNIT &&
			   imap_fetch_is(s->cr.buf, s->cr.len)) {
			/* answered here, or passed on (imap_fetchcmd.c);
			 * its literals came to the bridge first */
			s->appending = 0;
			if (imap_fetch_command(s) < 0)
				return -1;
		} else if (imap_up_write(s, s->cr.buf + s->sent,
				    s->cr.len - s->sent) < 0) {
			return -1;
		}
		/* a synchronizing literal: the server's "+" goes to the
		 * client */
		s->sent = f == IMAP_SYNC && !s->appending ? s->cr.len : 0;
		if (f == IMAP_UNIT)
			imap_reader_next(&s->cr);
		if (s->lit != NULL)
			break; /* the rest once the APPEND is sent */
	}
	return (int)off;
}

/*
 * up_login, tried again after 1, 2 and 4 seconds while the server is
 * not reachable: a server restarting or a link dropping for a moment
 * costs the client a slow login, not a failed one.  Within the time a
 * client waits for its LOGIN (a minute and more in the common ones).
 */
static int login_retrying(struct imap_up *u, struct imap_child *c)
{
	unsigned delay = 1;
	int rc;

	while ((rc = up_login(u, c)) == -1 && delay <= 4) {
		fprintf(stderr,
			"letterlock: bridge: imap: %s: trying again in %u s\n",
			c->a->address, delay);
		up_reset(u);
		sleep(delay);
		delay *= 2;
	}
	return rc;
}

/* HOME/bridge/cache/ACCOUNT.db into PATH (the directory made): 0, or
 * -1. */
static int cache_path(char path[PATH_MAX], const struct imap_child *c)
{
	char dir[PATH_MAX];

	if (bridge_path(dir, c->b->cli->home, "cache") < 0 ||
	    (mkdir(dir, 0700) != 0 && errno != EEXIST))
		return -1;
	return snprintf(path, PATH_MAX, "%s/%s.db", dir, c->a->address) <
			       PATH_MAX ?
		       0 :
		       -1;
}

int imap_child_run(void *arg)
{
	struct imap_child *c = arg;
	struct imap_sess s = { .u = { .fd = -1 },
			  .op = { .cli = c->b->cli, .cache_max = CACHE_MAX },
			  .account = c->a->address };
	static char cbuf[65536];
	size_t chave = 0, coff = 0;
	char line[160];
	int rc = 1;

	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	if (cache_path(s.op.cache_path, c) < 0)
		s.op.cache_path[0] = '\0'; /* no cache */
	imap_reader_init(&s.u.r, LL_MSG_MAX_SIZE, LL_MSG_MAX_SIZE + 4096);
	s.u.r.line_max = UP_LINE_MAX;
	imap_reader_init(&s.cr, c->b->max_size, c->b->max_size + 4096);
	if (parse_url(&s.u, c->a->imap_url) < 0 ||
	    login_retrying(&s.u, c) < 0) {
		snprintf(line, sizeof(line),
			 "%s NO [UNAVAILABLE] the mail server is not "
			 "reachable or refused the login\r\n",
			 c->tag);
		cli_write_all(CLIENT_FD, line, strlen(line));
		goto out;
	}
	snprintf(line, sizeof(line), "%s OK LOGIN completed\r\n", c->tag);
	if (cli_write_all(CLIENT_FD, line, strlen(line)) < 0)
		goto out;
	/* the upstream's time-outs no longer apply: IDLE waits long */
	struct timeval none = { 0, 0 };
	setsockopt(s.u.fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	for (;;) {
		/* the client is not read while an APPEND waits for the
		 * server's "+" */
		struct pollfd pfd[2] = { { s.lit ? -1 : CLIENT_FD, POLLIN, 0 },
					 { s.u.fd, POLLIN, 0 } };
		size_t used;
		int f;

		/* the client's bytes read before an APPEND held them */
		if (s.lit == NULL && coff < chave) {
			f = from_client(&s, cbuf + coff, chave - coff);
			if (f < 0)
				goto failed;
			coff += (size_t)f;
			continue;
		}
		/* the server's bytes already read */
		while (s.u.off < s.u.have || SSL_pending(s.u.ssl) > 0) {
			if (s.u.off == s.u.have) {
				ssize_t k = up_read(&s.u, s.u.buf,
						    sizeof(s.u.buf));

				if (k <= 0)
					goto gone;
				s.u.have = (size_t)k;
				s.u.off = 0;
			}
			f = imap_reader_feed(&s.u.r, s.u.buf + s.u.off,
					     s.u.have - s.u.off, &used);
			s.u.off += used;
			if (f < 0)
				goto gone;
			if (f != IMAP_UNIT)
				continue;
			if (s.lit != NULL && s.u.r.buf[0] == '+') {
				/* the server's "+" for the sealed APPEND */
				if (up_write(&s.u, s.lit, s.litlen) < 0 ||
				    up_write(&s.u, "\r\n", 2) < 0)
					goto gone;
				free(s.lit);
				s.lit = NULL;
			} else {
				if (s.lit != NULL && s.u.r.buf[0] != '*') {
					/* refused before the message */
					free(s.lit);
					s.lit = NULL;
				}
				if (imap_respond(&s) < 0)
					goto failed;
			}
			imap_reader_next(&s.u.r);
		}
		if (s.lit == NULL && coff < chave)
			continue;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (pfd[1].revents) {
			ssize_t k = up_read(&s.u, s.u.buf, sizeof(s.u.buf));

			if (k <= 0)
				goto gone;
			s.u.have = (size_t)k;
			s.u.off = 0;
		}
		if (pfd[0].revents) {
			ssize_t k = read(CLIENT_FD, cbuf, sizeof(cbuf));

			if (k <= 0) {
				up_write(&s.u, "Z LOGOUT\r\n", 10);
				rc = 0;
				goto out;
			}
			chave = (size_t)k;
			coff = 0;
		}
	}
gone:
	s.u.gone = 1;
failed:
	/* a command the server went away under (the bridge's own FETCH
	 * of a message, an APPEND) ends the session as a read of the
	 * relay does: with BYE, not a silent close */
	if (s.u.gone) {
		if (!s.logout)
			cli_write_all(CLIENT_FD, GONE, sizeof(GONE) - 1);
		rc = 0;
	}
out:
	free(s.lit);
	imap_reader_free(&s.u.r);
	imap_reader_free(&s.cr);
	imap_opener_free(&s.op);
	if (s.u.ssl != NULL)
		SSL_free(s.u.ssl);
	SSL_CTX_free(s.u.ctx);
	if (s.u.fd >= 0)
		close(s.u.fd);
	return rc;
}
