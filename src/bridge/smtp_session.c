/*
 * smtp_session.c - the bridge's SMTP submission listener (RFC 5321,
 * 4954 AUTH PLAIN and LOGIN, 3207 STARTTLS, 1870 SIZE, 2920
 * PIPELINING, 6152 8BITMIME, 3030 CHUNKING, 2034 enhanced status
 * codes).
 *
 * A session is a state machine: `enter` is the only place the state
 * changes, and each command has a row in `commands` with the states it
 * is allowed in and whether it needs a login.  Input goes through the
 * bounded parser of smtp_parse.c; one command is answered at a time, in
 * order, so pipelined commands wait in the input buffer (at most
 * READ_HIGH bytes are read ahead).  While a message is sealed and
 * relayed (smtp_relay.c, a child process) the session reads no
 * command; the loop serves the others.
 *
 * Login: the account's address and the bridge password, only over TLS
 * unless [bridge] allow_plain; three failures end the session.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>

#include "bridge.h"
#include "conf.h"
#include "smtp_parse.h"

#define SESSIONS_MAX 64
#define IDLE_SECONDS 300 /* RFC 5321 4.5.3.2.7 asks for 5 minutes */
#define ERRORS_MAX 20
#define AUTH_FAILS_MAX 3
#define READ_HIGH (1024 * 1024)
#define CRED_MAX 1024
#define CLOSE_POLL_MS 20
#define CLOSE_WAIT_MS 5000

enum state {
	S_GREET, /* connected (or after STARTTLS): EHLO first */
	S_READY, /* after EHLO */
	S_MAIL, /* MAIL FROM taken */
	S_RCPT, /* one RCPT TO or more */
	S_DATA, /* reading the message */
	S_BUSY, /* the message is being sealed and relayed */
	S_BDAT, /* BDAT chunks taken, not the LAST one yet */
	S_CLOSING, /* the last reply is going out */
};

#define IN(s) (1u << (s))

enum auth_step {
	A_NONE,
	A_PLAIN, /* waiting for PLAIN's response */
	A_LOGIN_USER, /* waiting for LOGIN's user name */
	A_LOGIN_PASS, /* waiting for LOGIN's password */
};

struct smtp_state {
	struct bridge *b;
	struct session *sessions;
	size_t nsessions;
};

struct session {
	struct bridge *b;
	struct smtp_state *st;
	struct bufferevent *bev;
	struct smtp_parser p;
	enum state state;
	int tls;
	enum auth_step auth;
	char login[SMTP_ADDR_MAX]; /* LOGIN's user name */
	struct bridge_account *account; /* logged in as */
	int errors, auth_fails;
	char from[SMTP_ADDR_MAX];
	char **rcpts;
	size_t nrcpts;
	struct smtp_relay *relay; /* the message being relayed */
	struct event *closing; /* S_CLOSING: waits for the output */
	int close_polls;
	int shut; /* TLS close_notify sent */
	/* the BDAT chunk being read */
	size_t bdat_size;
	int bdat_last;
	const char *bdat_fail; /* its reply when it fails */
	struct session *next;
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void process(struct session *s);

static void reply(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void reset_txn(struct session *s)
{
	s->from[0] = '\0';
	ll_strv_free(&s->rcpts);
	s->nrcpts = 0;
}

static void session_free(struct session *s)
{
	struct session **pp = &s->st->sessions;

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->next;
	if (*pp == s)
		*pp = s->next;
	s->st->nsessions--;
	smtp_relay_forget(s->relay); /* it finishes; the log tells */
	reset_txn(s);
	smtp_parser_free(&s->p);
	OPENSSL_cleanse(s->login, sizeof(s->login));
	if (s->closing != NULL)
		event_free(s->closing);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s);
}

/*
 * A closing session: freed once its last reply is out of its buffers
 * (a TLS stream's too: the write callback of a filter may have passed
 * before the session was closing), or after CLOSE_WAIT_MS anyway.
 */
static void closing_check(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	struct timeval again = { 0, CLOSE_POLL_MS * 1000 };
	int out = evbuffer_get_length(bufferevent_get_output(s->bev)) > 0;

	/* TLS: the close_notify after the last reply */
	if (!out && under != NULL && !s->shut) {
		SSL_shutdown(bufferevent_openssl_get_ssl(s->bev));
		s->shut = 1;
	}
	if ((!out &&
	     (under == NULL ||
	      evbuffer_get_length(bufferevent_get_output(under)) == 0)) ||
	    ++s->close_polls * CLOSE_POLL_MS >= CLOSE_WAIT_MS) {
		session_free(s);
		return;
	}
	event_add(s->closing, &again);
}

static void enter(struct session *s, enum state st)
{
	s->state = st;
	if (st == S_CLOSING && s->closing == NULL) {
		/* free once the last reply is written */
		bufferevent_disable(s->bev, EV_READ);
		s->closing = evtimer_new(s->b->base, closing_check, s);
		/* (without it the client's close or the idle time-out
		 * ends the session) */
		if (s->closing != NULL)
			event_active(s->closing, EV_TIMEOUT, 0);
	}
}

/* A client error: after ERRORS_MAX the session ends. */
static void error(struct session *s, const char *text)
{
	if (++s->errors >= ERRORS_MAX) {
		reply(s, "421 4.7.0 too many errors, closing");
		enter(s, S_CLOSING);
		return;
	}
	reply(s, "%s", text);
}

/* ------------------------------------------------------------ commands */

static void do_helo(struct session *s, const char *arg)
{
	if (*arg == '\0') {
		error(s, "501 5.5.4 HELO needs a domain");
		return;
	}
	reset_txn(s);
	reply(s, "250 127.0.0.1");
	enter(s, S_READY);
}

static void do_ehlo(struct session *s, const char *arg)
{
	if (*arg == '\0') {
		error(s, "501 5.5.4 EHLO needs a domain");
		return;
	}
	reset_txn(s);
	reply(s, "250-127.0.0.1 letterlock bridge");
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %zu", s->b->max_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-CHUNKING");
	reply(s, "250-ENHANCEDSTATUSCODES");
	if (!s->tls)
		reply(s, "250-STARTTLS");
	if (s->tls || s->b->allow_plain)
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250 HELP");
	enter(s, S_READY);
}

static void do_starttls(struct session *s, const char *arg)
{
	struct timeval idle = { IDLE_SECONDS, 0 };
	struct bufferevent *tls;

	if (s->tls) {
		error(s, "503 5.5.1 TLS is on already");
		return;
	}
	if (*arg != '\0') {
		error(s, "501 5.5.4 STARTTLS takes no argument");
		return;
	}
	reply(s, "220 2.0.0 ready to start TLS");
	/* what the client sent after STARTTLS is dropped (RFC 3207 4.2) */
	smtp_parser_free(&s->p);
	smtp_parser_init(&s->p);
	tls = bridge_starttls(s->b, s->bev);
	s->bev = tls;
	if (tls == NULL)
		return; /* the stream is gone: process() frees the session */
	s->tls = 1;
	s->account = NULL;
	reset_txn(s);
	bufferevent_setcb(tls, on_read, NULL, on_event, s);
	bufferevent_setwatermark(tls, EV_READ, 0, READ_HIGH);
	bufferevent_set_timeouts(tls, &idle, &idle);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	enter(s, S_GREET);
}

static void login(struct session *s, const char *user, const char *pass)
{
	s->auth = A_NONE;
	s->account = bridge_login(s->b, user, pass);
	if (s->account != NULL) {
		reply(s, "235 2.7.0 authenticated");
		return;
	}
	bridge_log("smtp: login failed for %.100s", user);
	if (++s->auth_fails >= AUTH_FAILS_MAX) {
		reply(s, "421 4.7.0 too many failed logins, closing");
		enter(s, S_CLOSING);
		return;
	}
	reply(s, "535 5.7.8 authentication credentials invalid");
}

/* A response line to AUTH's 334. */
static void auth_step(struct session *s, const char *line)
{
	char user[CRED_MAX], pass[CRED_MAX];
	int n;

	if (strcmp(line, "*") == 0) {
		s->auth = A_NONE;
		{
			error(s, "501 5.0.0 authentication cancelled");
			return;
		}
	}
	switch (s->auth) {
	case A_PLAIN:
		if (smtp_auth_plain(line, user, sizeof(user), pass,
				    sizeof(pass)) < 0) {
			s->auth = A_NONE;
			{
				error(s,
				      "501 5.5.2 cannot decode the response");
				return;
			}
		}
		login(s, user, pass);
		break;
	case A_LOGIN_USER:
		n = smtp_b64_decode((unsigned char *)s->login,
				    sizeof(s->login) - 1, line);
		if (n <= 0 || memchr(s->login, '\0', (size_t)n) != NULL) {
			s->auth = A_NONE;
			{
				error(s,
				      "501 5.5.2 cannot decode the response");
				return;
			}
		}
		s->login[n] = '\0';
		s->auth = A_LOGIN_PASS;
		reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		break;
	case A_LOGIN_PASS:
		n = smtp_b64_decode((unsigned char *)pass, sizeof(pass) - 1,
				    line);
		if (n < 0 || memchr(pass, '\0', (size_t)n) != NULL) {
			s->auth = A_NONE;
			{
				error(s,
				      "501 5.5.2 cannot decode the response");
				return;
			}
		}
		pass[n] = '\0';
		login(s, s->login, pass);
		break;
	case A_NONE:
		break;
	}
	OPENSSL_cleanse(user, sizeof(user));
	OPENSSL_cleanse(pass, sizeof(pass));
}

static void do_auth(struct session *s, const char *arg)
{
	size_t n = strcspn(arg, " ");
	const char *initial = arg[n] == ' ' ? arg + n + 1 : NULL;

	if (s->account != NULL) {
		error(s, "503 5.5.1 already authenticated");
		return;
	}
	if (!s->tls && !s->b->allow_plain) {
		error(s, "538 5.7.11 encryption required: STARTTLS "
			 "first");
		return;
	}
	if (n == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		s->auth = A_PLAIN;
		if (initial == NULL)
			reply(s, "334 ");
		else if (strcmp(initial, "=") == 0)
			auth_step(s, ""); /* an empty response */
		else
			auth_step(s, initial);
	} else if (n == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		s->auth = A_LOGIN_USER;
		if (initial == NULL)
			reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
		else
			auth_step(s, initial);
	} else {
		error(s, "504 5.5.4 PLAIN or LOGIN");
	}
}

/* The ESMTP parameters of MAIL: SIZE, BODY and AUTH are known. */
static const char *mail_params(struct session *s, const char *params)
{
	char v[64];
	const char *p = params;
	int r;

	while (*p != '\0') {
		size_t n = strcspn(p, " =");

		if (!((n == 4 && strncasecmp(p, "SIZE", 4) == 0) ||
		      (n == 4 && strncasecmp(p, "BODY", 4) == 0) ||
		      (n == 4 && strncasecmp(p, "AUTH", 4) == 0)))
			return "555 5.5.4 unknown MAIL parameter";
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
	}
	r = smtp_param(params, "SIZE", v, sizeof(v));
	if (r < 0)
		return "501 5.5.4 bad SIZE";
	if (r == 1) {
		char *end;
		unsigned long long size = strtoull(v, &end, 10);

		if (*v == '\0' || *end != '\0')
			return "501 5.5.4 bad SIZE";
		if (size > s->b->max_size)
			return "552 5.3.4 message larger than the bridge "
			       "takes";
	}
	r = smtp_param(params, "BODY", v, sizeof(v));
	if (r < 0 || (r == 1 && strcasecmp(v, "7BIT") != 0 &&
		      strcasecmp(v, "8BITMIME") != 0))
		return "501 5.5.4 BODY is 7BIT or 8BITMIME";
	return NULL;
}

static void do_mail(struct session *s, const char *arg)
{
	const char *params, *bad;

	if (smtp_parse_path(arg, "FROM:", s->from, &params) < 0) {
		s->from[0] = '\0';
		{
			error(s, "501 5.5.4 MAIL FROM:<address>");
			return;
		}
	}
	bad = mail_params(s, params);
	if (bad != NULL) {
		s->from[0] = '\0';
		{
			error(s, bad);
			return;
		}
	}
	reply(s, "250 2.1.0 sender ok");
	enter(s, S_MAIL);
}

static void do_rcpt(struct session *s, const char *arg)
{
	char addr[SMTP_ADDR_MAX], **nv;
	const char *params;

	if (smtp_parse_path(arg, "TO:", addr, &params) < 0 || addr[0] == '\0') {
		error(s, "501 5.5.4 RCPT TO:<address>");
		return;
	}
	if (*params != '\0') {
		error(s, "555 5.5.4 RCPT takes no parameters here");
		return;
	}
	if (s->nrcpts >= LL_MSG_MAX_RECIPIENTS) {
		reply(s, "452 4.5.3 too many recipients");
		return;
	}
	nv = realloc(s->rcpts, (s->nrcpts + 2) * sizeof(*nv));
	if (nv == NULL) {
		reply(s, "451 4.3.0 out of memory");
		return;
	}
	s->rcpts = nv;
	s->rcpts[s->nrcpts] = strdup(addr);
	if (s->rcpts[s->nrcpts] == NULL) {
		s->rcpts[s->nrcpts] = NULL;
		reply(s, "451 4.3.0 out of memory");
		return;
	}
	s->rcpts[++s->nrcpts] = NULL;
	reply(s, "250 2.1.5 recipient ok");
	enter(s, S_RCPT);
}

static void do_data(struct session *s, const char *arg)
{
	if (*arg != '\0') {
		error(s, "501 5.5.4 DATA takes no argument");
		return;
	}
	if (s->state != S_RCPT) {
		error(s, "554 5.5.1 no valid recipients");
		return;
	}
	reply(s, "354 end data with <CR><LF>.<CR><LF>");
	smtp_parser_data(&s->p, s->b->max_size);
	enter(s, S_DATA);
}

static void on_data(struct session *s);

/* A BDAT chunk read whole (or one of no bytes). */
static void on_chunk(struct session *s)
{
	size_t len;

	if (s->bdat_fail == NULL && s->p.too_big)
		s->bdat_fail = "552 5.3.4 message larger than the bridge takes";
	if (s->bdat_fail != NULL) {
		free(smtp_parser_take(&s->p, &len));
		if (s->state == S_MAIL || s->state == S_RCPT ||
		    s->state == S_BDAT) {
			reset_txn(s); /* the transaction failed */
			enter(s, S_READY);
		}
		error(s, s->bdat_fail);
		return;
	}
	if (!s->bdat_last) {
		reply(s, "250 2.0.0 %zu octets received", s->bdat_size);
		enter(s, S_BDAT);
		return;
	}
	on_data(s);
}

/* BDAT SIZE [LAST] (RFC 3030): the chunk is read even when the command
 * fails, so that the client's stream stays in step. */
static void do_bdat(struct session *s, const char *arg)
{
	size_t n;
	int last;

	if (smtp_parse_bdat(arg, &n, &last) < 0) {
		/* the chunk's size unknown: the stream cannot be followed */
		reply(s, "501 5.5.4 BDAT SIZE [LAST]; closing");
		enter(s, S_CLOSING);
		return;
	}
	s->bdat_size = n;
	s->bdat_last = last;
	s->bdat_fail = NULL;
	if (s->account == NULL)
		s->bdat_fail = "530 5.7.0 authentication required";
	else if (s->state == S_MAIL)
		s->bdat_fail = "554 5.5.1 no valid recipients";
	else if (s->state != S_RCPT && s->state != S_BDAT)
		s->bdat_fail = "503 5.5.1 bad sequence of commands";
	smtp_parser_bdat(&s->p, n, s->b->max_size, s->state != S_BDAT);
	if (n == 0)
		on_chunk(s);
}

static void do_rset(struct session *s, const char *arg)
{
	reset_txn(s);
	reply(s, "250 2.0.0 ok");
	if (s->state != S_GREET)
		enter(s, S_READY);
}

static void do_noop(struct session *s, const char *arg)
{
	reply(s, "250 2.0.0 ok");
}

static void do_quit(struct session *s, const char *arg)
{
	reply(s, "221 2.0.0 bye");
	enter(s, S_CLOSING);
}

static void do_vrfy(struct session *s, const char *arg)
{
	reply(s, "252 2.5.0 not verified; send and see");
}

static void do_help(struct session *s, const char *arg)
{
	reply(s, "214 2.0.0 letterlock bridge: see letterlock(1)");
}

#define ANY (IN(S_GREET) | IN(S_READY) | IN(S_MAIL) | IN(S_RCPT) | IN(S_BDAT))

static const struct {
	enum smtp_verb verb;
	unsigned states;
	int login; /* needs a login */
	void (*fn)(struct session *s, const char *arg);
} commands[] = {
	{ SMTP_EHLO, ANY, 0, do_ehlo },
	{ SMTP_HELO, ANY, 0, do_helo },
	{ SMTP_STARTTLS, IN(S_READY), 0, do_starttls },
	{ SMTP_AUTH, IN(S_READY), 0, do_auth },
	{ SMTP_MAIL, IN(S_READY), 1, do_mail },
	{ SMTP_RCPT, IN(S_MAIL) | IN(S_RCPT), 1, do_rcpt },
	{ SMTP_DATA, IN(S_MAIL) | IN(S_RCPT), 1, do_data },
	{ SMTP_BDAT, ANY, 0, do_bdat }, /* checks itself: reads the chunk */
	{ SMTP_RSET, ANY, 0, do_rset },
	{ SMTP_NOOP, ANY, 0, do_noop },
	{ SMTP_QUIT, ANY, 0, do_quit },
	{ SMTP_VRFY, ANY, 0, do_vrfy },
	{ SMTP_HELP, ANY, 0, do_help },
};

static void on_line(struct session *s)
{
	const char *arg;
	enum smtp_verb v;

	if (strlen(s->p.line) != s->p.linelen) {
		s->auth = A_NONE;
		{
			error(s, "500 5.5.2 NUL in a command");
			return;
		}
	}
	if (s->auth != A_NONE) {
		auth_step(s, s->p.line);
		return;
	}
	v = smtp_parse_verb(s->p.line, &arg);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].verb != v)
			continue;
		if (!(commands[i].states & IN(s->state))) {
			error(s, s->state == S_GREET ?
					 "503 5.5.1 EHLO first" :
					 "503 5.5.1 bad sequence of "
					 "commands");
			return;
		}
		if (commands[i].login && s->account == NULL) {
			error(s, "530 5.7.0 authentication required");
			return;
		}
		{
			commands[i].fn(s, arg);
			return;
		}
	}
	error(s, "500 5.5.2 command not recognized");
}

/* The relay's answer (smtp_relay.c). */
static void relayed(void *arg, const char *text)
{
	struct session *s = arg;
	struct timeval idle = { IDLE_SECONDS, 0 };

	s->relay = NULL;
	reply(s, "%s", text);
	reset_txn(s);
	enter(s, S_READY);
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	process(s); /* what the client pipelined meanwhile */
}

static void on_data(struct session *s)
{
	struct smtp_relay_req req = { 0 };
	char seen[300];
	size_t len;
	char *msg = smtp_parser_take(&s->p, &len);

	if (s->b->stopping) {
		free(msg);
		reply(s, "421 4.3.2 the bridge is stopping: try again later");
		enter(s, S_CLOSING);
		return;
	}
	if (msg == NULL) {
		if (len == 0)
			reply(s, "451 4.3.0 out of memory");
		else
			reply(s, "552 5.3.4 message larger than %zu bytes",
			      s->b->max_size);
		reset_txn(s);
		enter(s, S_READY);
		return;
	}
	smtp_relay_key(req.key, msg, len, s->from, s->rcpts);
	if (smtp_relay_seen(s->account, req.key, seen, sizeof(seen))) {
		bridge_log("%s: message from <%s> sent again by the client: "
			   "%s",
			   s->account->address, s->from, seen);
		free(msg);
		reply(s, "%s", seen);
		reset_txn(s);
		enter(s, S_READY);
		return;
	}
	req.account = s->account;
	req.from = strdup(s->from);
	req.rcpts = s->rcpts;
	req.nrcpts = s->nrcpts;
	req.msg = msg;
	req.len = len;
	s->rcpts = NULL;
	s->nrcpts = 0;
	if (req.from == NULL ||
	    smtp_relay(s->b, &req, relayed, s, &s->relay) < 0) {
		free(req.from);
		ll_strv_free(&req.rcpts);
		free(req.msg);
		reply(s, "451 4.3.0 the bridge cannot start the relay now");
		reset_txn(s);
		enter(s, S_READY);
		return;
	}
	/* sealing and a slow server take their time */
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	enter(s, S_BUSY);
}

/* Work through the input until it is used up or the session waits. */
static void process(struct session *s)
{
	while (s->state != S_BUSY && s->state != S_CLOSING) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		struct evbuffer_iovec v;
		size_t used = 0;
		enum smtp_event ev;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		ev = smtp_parser_feed(&s->p, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		switch (ev) {
		case SMTP_EV_MORE:
			break;
		case SMTP_EV_LONG_LINE:
			s->auth = A_NONE;
			error(s, "500 5.5.2 line too long");
			break;
		case SMTP_EV_LINE: {
			struct bufferevent *before = s->bev;

			on_line(s);
			if (s->bev == NULL) {
				session_free(s); /* STARTTLS failed */
				return;
			}
			if (s->bev != before)
				return; /* STARTTLS: a new stream */
			break;
		}
		case SMTP_EV_DATA:
			on_data(s);
			break;
		case SMTP_EV_CHUNK:
			on_chunk(s);
			break;
		}
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	process(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		reply(s, "421 4.4.2 idle too long, closing");
		enter(s, S_CLOSING);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		session_free(s);
}

/* ------------------------------------------------------------ module */

static int smtp_init(struct bridge *b, void **state)
{
	struct smtp_state *st = calloc(1, sizeof(*st));
	char path[PATH_MAX];

	if (st == NULL)
		return -1;
	st->b = b;
	*state = st;
	/* the accounts' outboxes live below HOME/bridge/queue */
	if (bridge_path(path, b->cli->home, "queue") < 0 ||
	    (mkdir(path, 0700) != 0 && errno != EEXIST)) {
		bridge_log("%s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < b->naccounts; i++) {
		if (smtp_relay_prepare(&b->accounts[i]) < 0) {
			bridge_log("%s: %s", b->accounts[i].queue_home,
				   strerror(errno));
			return -1;
		}
		b->accounts[i].pending = 1; /* what a last run left */
	}
	return 0;
}

static void smtp_accept(struct bridge *b, void *state, int fd)
{
	struct smtp_state *st = state;
	struct timeval idle = { IDLE_SECONDS, 0 };
	struct session *s;

	if (st->nsessions >= SESSIONS_MAX) {
		static const char busy[] = "421 4.3.2 too many sessions\r\n";

		(void)!write(fd, busy, sizeof(busy) - 1);
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		return;
	}
	s->b = b;
	s->st = st;
	smtp_parser_init(&s->p);
	s->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		free(s);
		return;
	}
	s->next = st->sessions;
	st->sessions = s;
	st->nsessions++;
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIGH);
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	reply(s, "220 127.0.0.1 letterlock bridge ESMTP");
	enter(s, S_GREET);
}

static void smtp_stop(struct bridge *b, void *state)
{
	struct smtp_state *st = state;

	while (st->sessions != NULL)
		session_free(st->sessions);
	smtp_pool_stop(b);
	free(st);
}

const struct bridge_module bridge_smtp_module = {
	.name = "smtp",
	.default_port = 1025,
	.port_setting = offsetof(struct cli_conf, bridge_smtp_port),
	.init = smtp_init,
	.accept = smtp_accept,
	.stop = smtp_stop,
};
