/*
 * smtp_session.c - the bridge's SMTP submission listener (RFC 5321,
 * 4954 AUTH PLAIN and LOGIN, 3207 STARTTLS, 1870 SIZE, 2920
 * PIPELINING, 6152 8BITMIME, 3030 CHUNKING, 2034 enhanced status
 * codes, 6531 SMTPUTF8).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>

#include "bridge.h"
#include "client.h"
#include "conf.h"
#include "smtp_parse.h"

#define SESSIONS_MAX 64
#define IDLE_SECONDS 300 /* RFC 5321 4.5.3.2.7 asks for 5 minutes */
#define ERRORS_MAX 20
#define AUTH_FAILS_MAX 3
#define READ_HIGH (1024 * 1024)
#define CRED_MAX 1024

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

struct session {
	struct bridge_client conn; /* first: the client's connection */
	struct bridge *b;
	struct smtp_parser p;
	enum state state;
	enum auth_step auth;
	char login[SMTP_ADDR_MAX]; /* LOGIN's user name */
	struct bridge_account *account; /* logged in as */
	int errors, auth_fails;
	char from[SMTP_ADDR_MAX];
	int utf8; /* MAIL said SMTPUTF8: UTF-8 addresses are allowed */
	char **rcpts;
	size_t nrcpts;
	struct smtp_relay *relay; /* the message being relayed */
	/* the BDAT chunk being read */
	size_t bdat_size;
	int bdat_last;
	const char *bdat_fail; /* its reply when it fails */
};

_Static_assert(offsetof(struct session, conn) == 0, "a bridge_client first");

#define reply(s, ...) bridge_client_reply(&(s)->conn, __VA_ARGS__)

static void process(void *arg);

static void reset_txn(struct session *s)
{
	s->from[0] = '\0';
	s->utf8 = 0;
	ll_strv_free(&s->rcpts);
	s->nrcpts = 0;
}

/* client.c's ops->free: what the session holds besides its connection */
static void session_free(void *arg)
{
	struct session *s = arg;

	smtp_relay_forget(s->relay); /* it finishes; the log tells */
	reset_txn(s);
	smtp_parser_free(&s->p);
	OPENSSL_cleanse(s->login, sizeof(s->login));
}

static void enter(struct session *s, enum state st)
{
	s->state = st;
	if (st == S_CLOSING)
		bridge_client_close(&s->conn); /* once the last reply is out */
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
	if (smtp_relay_utf8_any(s->b))
		reply(s, "250-SMTPUTF8");
	if (!s->conn.tls)
		reply(s, "250-STARTTLS");
	if (s->conn.tls || s->b->allow_plain)
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250 HELP");
	enter(s, S_READY);
}

static void do_starttls(struct session *s, const char *arg)
{
	if (s->conn.tls) {
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
	if (bridge_client_starttls(&s->conn) < 0)
		return; /* the stream is gone: process() frees the session */
	s->account = NULL;
	reset_txn(s);
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
	if (!s->conn.tls && !s->b->allow_plain) {
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

/* The ESMTP parameters of MAIL: SIZE, BODY, AUTH and SMTPUTF8 are
 * known. */
static const char *mail_params(struct session *s, const char *params)
{
	char v[64];
	const char *p = params;
	int r;

	while (*p != '\0') {
		size_t n = strcspn(p, " =");

		if (!((n == 4 && strncasecmp(p, "SIZE", 4) == 0) ||
		      (n == 4 && strncasecmp(p, "BODY", 4) == 0) ||
		      (n == 4 && strncasecmp(p, "AUTH", 4) == 0) ||
		      (n == 8 && strncasecmp(p, "SMTPUTF8", 8) == 0)))
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
	r = smtp_param(params, "SMTPUTF8", v, sizeof(v));
	if (r < 0 || (r == 1 && *v != '\0'))
		return "501 5.5.4 SMTPUTF8 takes no value";
	s->utf8 = r == 1;
	return NULL;
}

/* RFC 6531 3.7.4.1: a UTF-8 address in a transaction that did not say
 * SMTPUTF8 is refused, and so is one the account's server is known
 * not to take (smtp_relay_utf8): refused now, before the
 * message is written, rather than after. */
#define NEED_SMTPUTF8                                               \
	"553 5.6.7 a UTF-8 address needs MAIL FROM:<...> SMTPUTF8 " \
	"(RFC 6531)"
#define UPSTREAM_NO_SMTPUTF8                                             \
	"553 5.6.7 the mail server of this account does not take UTF-8 " \
	"addresses (no SMTPUTF8): not sent"
static const char *utf8_refused(struct session *s)
{
	if (!s->utf8)
		return NEED_SMTPUTF8;
	if (!smtp_relay_utf8(s->account))
		return UPSTREAM_NO_SMTPUTF8;
	return NULL;
}

static void do_mail(struct session *s, const char *arg)
{
	const char *params, *bad;
	int utf8 = smtp_parse_path(arg, "FROM:", s->from, &params);

	if (utf8 < 0) {
		s->from[0] = '\0';
		{
			error(s, "501 5.5.4 MAIL FROM:<address>");
			return;
		}
	}
	bad = mail_params(s, params);
	if (bad == NULL && utf8)
		bad = utf8_refused(s);
	if (bad != NULL) {
		s->from[0] = '\0';
		s->utf8 = 0;
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
	const char *params, *bad;
	int utf8 = smtp_parse_path(arg, "TO:", addr, &params);

	if (utf8 < 0 || addr[0] == '\0') {
		error(s, "501 5.5.4 RCPT TO:<address>");
		return;
	}
	if (*params != '\0') {
		error(s, "555 5.5.4 RCPT takes no parameters here");
		return;
	}
	bad = utf8 ? utf8_refused(s) : NULL;
	if (bad != NULL) {
		error(s, bad);
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

	s->relay = NULL;
	reply(s, "%s", text);
	reset_txn(s);
	enter(s, S_READY);
	bridge_client_timeout(&s->conn, 1);
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
	bridge_client_timeout(&s->conn, 0);
	enter(s, S_BUSY);
}

/* Work through the input until it is used up or the session waits
 * (client.c's ops->read). */
static void process(void *arg)
{
	struct session *s = arg;

	while (s->state != S_BUSY && s->state != S_CLOSING) {
		struct evbuffer *in = bufferevent_get_input(s->conn.bev);
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
			struct bufferevent *before = s->conn.bev;

			on_line(s);
			if (s->conn.bev == NULL) {
				/* STARTTLS failed: the stream is gone */
				bridge_client_free(&s->conn);
				return;
			}
			if (s->conn.bev != before)
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

static void on_idle(void *arg)
{
	struct session *s = arg;

	reply(s, "421 4.4.2 idle too long, closing");
	enter(s, S_CLOSING);
}

/* ------------------------------------------------------------ module */

static const struct bridge_client_ops smtp_clients = {
	.max = SESSIONS_MAX,
	.busy = "421 4.3.2 too many sessions\r\n",
	.idle_seconds = IDLE_SECONDS,
	.read_high = READ_HIGH,
	.read = process,
	.idle = on_idle,
	.free = session_free,
};

static int smtp_init(struct bridge *b, void **state)
{
	char path[PATH_MAX];

	*state = bridge_clients_new(b, &smtp_clients);
	if (*state == NULL)
		return -1;
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
	struct session *s = bridge_client_new(state, fd, sizeof(*s));

	if (s == NULL)
		return; /* too many, or out of memory: closed */
	s->b = b;
	smtp_parser_init(&s->p);
	reply(s, "220 127.0.0.1 letterlock bridge ESMTP");
	enter(s, S_GREET);
}

static void smtp_stop(struct bridge *b, void *state)
{
	struct bridge_clients *set = state;

	bridge_clients_free(&set);
	smtp_pool_stop(b);
}

const struct bridge_module bridge_smtp_module = {
	.name = "smtp",
	.default_port = 1025,
	.port_setting = offsetof(struct cli_conf, bridge_smtp_port),
	.init = smtp_init,
	.accept = smtp_accept,
	.stop = smtp_stop,
};
