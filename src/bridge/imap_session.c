/*
 * imap_session.c - the IMAP listener of the bridge: the state machine
 * before login (CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN,
 * AUTHENTICATE PLAIN), then a relay between the client and the
 * session's child (imap_upstream.c), which owns the upstream
 * connection and does every command after login.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bridge.h"
#include "client.h"
#include "imap_parse.h"

#define SESSIONS_MAX 64
#define IDLE_SECONDS 1800 /* RFC 3501 5.4: at least 30 minutes */
#define ERRORS_MAX 10
#define AUTH_FAILS_MAX 3 /* failed logins that end a session */
#define LOGIN_UNIT_MAX (4 * IMAP_LINE_MAX)

enum state {
	S_NOAUTH, /* before login */
	S_AUTH_PLAIN, /* AUTHENTICATE PLAIN waits for its response */
	S_STARTING, /* the child logs in upstream */
	S_PROXY, /* bytes go to and from the child */
	S_CLOSING, /* the last reply goes out, then the end */
};

struct session {
	struct bridge_client conn; /* first: the client's connection */
	struct bridge *b;
	struct bufferevent *child; /* the socketpair to the child */
	struct bridge_job *job;
	struct imap_reader r;
	enum state state;
	int errors;
	int auth_fails;
	struct imap_child c; /* what the child gets */
};

_Static_assert(offsetof(struct session, conn) == 0, "a bridge_client first");

#define reply(s, ...) bridge_client_reply(&(s)->conn, __VA_ARGS__)

/* client.c's ops->free: what the session holds besides its connection */
static void session_free(void *arg)
{
	struct session *s = arg;

	bridge_job_forget(s->job); /* it sees the socket close, ends */
	imap_reader_free(&s->r);
	if (s->child != NULL)
		bufferevent_free(s->child);
}

static void enter(struct session *s, enum state st)
{
	s->state = st;
	if (st == S_CLOSING)
		bridge_client_close(&s->conn);
}

static void error(struct session *s, const char *tag, const char *text)
{
	reply(s, "%s %s", tag, text);
	if (++s->errors >= ERRORS_MAX) {
		reply(s, "* BYE too many errors");
		enter(s, S_CLOSING);
	}
}

static void capability(struct session *s)
{
	int auth = s->conn.tls || s->b->allow_plain;

	reply(s, "* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR%s%s",
	      s->conn.tls ? "" : " STARTTLS",
	      auth ? " AUTH=PLAIN" : " LOGINDISABLED");
}

/* ------------------------------------------------------------ the child */

static void child_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == S_STARTING)
		enter(s, S_PROXY);
	evbuffer_add_buffer(bufferevent_get_output(s->conn.bev),
			    bufferevent_get_input(bev));
}

static void child_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* the child ended the session (LOGOUT, upstream gone) */
		child_read(bev, s);
		bufferevent_free(s->child);
		s->child = NULL;
		enter(s, S_CLOSING);
	}
}

static void child_done(void *arg, int code, const char *said)
{
	struct session *s = arg;

	s->job = NULL;
	if (code != 0)
		bridge_log("imap: %s: session ended (exit %d)", s->c.a->address,
			   code);
}

static void login(struct session *s, const char *tag, const char *user,
		  const char *pass)
{
	struct bridge_account *a = bridge_login(s->b, user, pass);
	int sp[2];

	if (a == NULL) {
		bridge_log("imap: failed login for %.64s", user);
		error(s, tag, "NO [AUTHENTICATIONFAILED] invalid credentials");
		if (++s->auth_fails >= AUTH_FAILS_MAX &&
		    s->state != S_CLOSING) {
			reply(s, "* BYE too many failed logins");
			enter(s, S_CLOSING);
		}
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
		error(s, tag, "NO [UNAVAILABLE] cannot start the session");
		return;
	}
	s->c.b = s->b;
	s->c.a = a;
	snprintf(s->c.tag, sizeof(s->c.tag), "%s", tag);
	if (bridge_spawn_fd(s->b, sp[1], imap_child_run, &s->c, child_done, s,
			    &s->job) != 0) {
		close(sp[0]);
		close(sp[1]);
		error(s, tag, "NO [UNAVAILABLE] cannot start the session");
		return;
	}
	close(sp[1]);
	evutil_make_socket_nonblocking(sp[0]);
	s->child = bufferevent_socket_new(s->b->base, sp[0],
					  BEV_OPT_CLOSE_ON_FREE);
	if (s->child == NULL) {
		close(sp[0]);
		reply(s, "* BYE out of memory");
		enter(s, S_CLOSING);
		return;
	}
	bufferevent_setcb(s->child, child_read, NULL, child_event, s);
	bufferevent_enable(s->child, EV_READ | EV_WRITE);
	bridge_log("imap: %s logged in", a->address);
	enter(s, S_STARTING);
}

/* ------------------------------------------------------------ commands */

static void do_starttls(struct session *s, const char *tag)
{
	if (s->conn.tls) {
		error(s, tag, "BAD TLS is on already");
		return;
	}
	reply(s, "%s OK begin TLS now", tag);
	/* what the client sent after STARTTLS is dropped (RFC 3501 6.2.1) */
	imap_reader_next(&s->r);
	/* failed: the stream is gone, process() frees the session */
	(void)bridge_client_starttls(&s->conn);
}

/* An AUTHENTICATE PLAIN response (base64 of authzid NUL user NUL pass). */
static void auth_plain(struct session *s, const char *tag, const char *b64)
{
	unsigned char buf[3 * IMAP_ARG_MAX / 4 + 4];
	size_t n = strlen(b64);
	int len;
	char *user, *pass, *end;

	if (strcmp(b64, "*") == 0) {
		error(s, tag, "BAD authentication cancelled");
		return;
	}
	if (n == 0 || n % 4 != 0 || n > IMAP_ARG_MAX) {
		error(s, tag, "BAD malformed response");
		return;
	}
	len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len < 0) {
		error(s, tag, "BAD malformed response");
		return;
	}
	while (n > 0 && b64[n - 1] == '=') {
		len--;
		n--;
	}
	buf[len] = '\0';
	end = (char *)buf + len;
	user = memchr(buf, '\0', (size_t)len);
	pass = user != NULL ? memchr(user + 1, '\0', (size_t)(end - user - 1)) :
			      NULL;
	if (user == NULL || pass == NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		error(s, tag, "BAD malformed response");
		return;
	}
	login(s, tag, user + 1, pass + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
}

/* One command before login, the unit in s->r. */
static void command(struct session *s)
{
	const char *p = s->r.buf, *end = s->r.buf + s->r.len;
	char tag[64], verb[32], user[IMAP_ARG_MAX], pass[IMAP_ARG_MAX];
	int auth = s->conn.tls || s->b->allow_plain;

	if (s->state == S_AUTH_PLAIN) {
		size_t n = s->r.len;

		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		s->state = S_NOAUTH;
		if (n >= sizeof(pass)) {
			error(s, s->c.tag, "BAD malformed response");
			return;
		}
		memcpy(pass, p, n);
		pass[n] = '\0';
		auth_plain(s, s->c.tag, pass);
		OPENSSL_cleanse(pass, sizeof(pass));
		return;
	}
	if (imap_arg(&p, end, tag, sizeof(tag)) < 0 ||
	    imap_arg(&p, end, verb, sizeof(verb)) < 0) {
		error(s, "*", "BAD no tag or command");
		return;
	}
	if (strcasecmp(verb, "CAPABILITY") == 0) {
		capability(s);
		reply(s, "%s OK CAPABILITY completed", tag);
	} else if (strcasecmp(verb, "NOOP") == 0) {
		reply(s, "%s OK NOOP completed", tag);
	} else if (strcasecmp(verb, "LOGOUT") == 0) {
		reply(s, "* BYE letterlock bridge logging out");
		reply(s, "%s OK LOGOUT completed", tag);
		enter(s, S_CLOSING);
	} else if (strcasecmp(verb, "STARTTLS") == 0) {
		do_starttls(s, tag);
	} else if (!auth && (strcasecmp(verb, "LOGIN") == 0 ||
			     strcasecmp(verb, "AUTHENTICATE") == 0)) {
		error(s, tag, "NO [PRIVACYREQUIRED] STARTTLS first");
	} else if (strcasecmp(verb, "LOGIN") == 0) {
		if (imap_arg(&p, end, user, sizeof(user)) < 0 ||
		    imap_arg(&p, end, pass, sizeof(pass)) < 0)
			error(s, tag, "BAD LOGIN user password");
		else
			login(s, tag, user, pass);
		OPENSSL_cleanse(pass, sizeof(pass));
	} else if (strcasecmp(verb, "AUTHENTICATE") == 0) {
		if (imap_arg(&p, end, user, sizeof(user)) < 0 ||
		    strcasecmp(user, "PLAIN") != 0) {
			error(s, tag, "NO [CANNOT] only AUTHENTICATE PLAIN");
		} else if (imap_arg(&p, end, pass, sizeof(pass)) == 0) {
			auth_plain(s, tag, pass); /* SASL-IR */
		} else {
			snprintf(s->c.tag, sizeof(s->c.tag), "%s", tag);
			reply(s, "+ ");
			s->state = S_AUTH_PLAIN;
		}
		OPENSSL_cleanse(pass, sizeof(pass));
	} else {
		error(s, tag, "BAD log in first");
	}
}

/* The client's input (client.c's ops->read). */
static void process(void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(s->conn.bev);

	if (s->state == S_PROXY || s->state == S_STARTING) {
		if (s->child != NULL)
			evbuffer_add_buffer(bufferevent_get_output(s->child),
					    in);
		return;
	}
	while (s->state == S_NOAUTH || s->state == S_AUTH_PLAIN) {
		size_t n = evbuffer_get_length(in), used;
		const char *data;
		int rc;

		if (n == 0)
			return;
		data = (const char *)evbuffer_pullup(in, -1);
		rc = imap_reader_feed(&s->r, data, n, &used);
		evbuffer_drain(in, used);
		if (rc == IMAP_SYNC) {
			reply(s, "+ go ahead");
			continue;
		}
		if (rc == IMAP_MORE)
			return;
		if (rc < 0) {
			reply(s, "* BYE command too long");
			enter(s, S_CLOSING);
			return;
		}
		command(s);
		if (s->conn.bev == NULL) {
			bridge_client_free(&s->conn); /* STARTTLS failed */
			return;
		}
		imap_reader_next(&s->r);
		if (s->state == S_STARTING) {
			/* pipelined after the login: the child's */
			evbuffer_add_buffer(bufferevent_get_output(s->child),
					    bufferevent_get_input(s->conn.bev));
			return;
		}
	}
}

static void on_idle(void *arg)
{
	struct session *s = arg;

	reply(s, "* BYE idle too long");
	enter(s, S_CLOSING);
}

/* ------------------------------------------------------------ module */

static const struct bridge_client_ops imap_clients = {
	.max = SESSIONS_MAX,
	.busy = "* BYE too many sessions\r\n",
	.idle_seconds = IDLE_SECONDS,
	.read = process,
	.idle = on_idle,
	.free = session_free,
};

static int imap_init(struct bridge *b, void **state)
{
	*state = bridge_clients_new(b, &imap_clients);
	return *state != NULL ? 0 : -1;
}

static void imap_accept(struct bridge *b, void *state, int fd)
{
	struct session *s = bridge_client_new(state, fd, sizeof(*s));

	if (s == NULL)
		return; /* too many, or out of memory: closed */
	s->b = b;
	imap_reader_init(&s->r, IMAP_ARG_MAX, LOGIN_UNIT_MAX);
	reply(s,
	      "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR%s%s] "
	      "letterlock bridge ready",
	      " STARTTLS", b->allow_plain ? " AUTH=PLAIN" : " LOGINDISABLED");
	enter(s, S_NOAUTH);
}

static void imap_stop(struct bridge *b, void *state)
{
	struct bridge_clients *set = state;

	bridge_clients_free(&set);
}

const struct bridge_module bridge_imap_module = {
	.name = "imap",
	.default_port = 1143,
	.port_setting = offsetof(struct cli_conf, bridge_imap_port),
	.init = imap_init,
	.accept = imap_accept,
	.stop = imap_stop,
};
