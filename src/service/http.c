/*
 * http.c - the HTTP(S) server of `letterlockd run` (libevent evhttp).
 *
 * One event loop; each request becomes a struct lld_req for the ACME
 * or PKI handlers and their struct lld_resp goes back out.  Bodies are
 * capped (LLD_BODY_MAX) and headers (8 KiB) by evhttp before any
 * handler runs (the key vault's larger limit for /vault/ only);
 * idle connections time out.  Plain HTTP is served only
 * on a loopback address; anywhere else [http] tls_cert/tls_key are
 * required (TLS 1.2+, OpenSSL through bufferevent_openssl).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "front.h"
#include "keyholder.h"

#define CRL_CHECK_SECONDS 3600
#define CRL_MAX_AGE 86400 /* re-sign daily; nextUpdate is 7 days out */

void lld_resp_init(struct lld_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 500;
}

void lld_resp_free(struct lld_resp *r)
{
	ll_buf_free(&r->body);
}

int lld_resp_set(struct lld_resp *r, int status, const char *ctype,
		 const void *bytes, size_t len)
{
	r->status = status;
	snprintf(r->ctype, sizeof(r->ctype), "%s", ctype ? ctype : "");
	r->body.len = 0;
	if (len > 0 && ll_buf_add(&r->body, bytes, len) < 0) {
		r->status = 500;
		return -1;
	}
	return 0;
}

/* DETAIL into JSON: escape what JSON requires, drop control bytes. */
static void json_escaped(struct ll_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			ll_buf_add(b, "\\", 1);
			ll_buf_add(b, s, 1);
		} else if (c >= 0x20 && c != 0x7f) {
			ll_buf_add(b, s, 1);
		}
	}
}

void lld_resp_problem(struct lld_resp *r, int status, const char *type,
		      const char *detail)
{
	r->status = status;
	snprintf(r->ctype, sizeof(r->ctype), "application/problem+json");
	r->body.len = 0;
	r->location[0] = '\0';
	ll_buf_addf(&r->body,
		    "{\"type\":\"urn:ietf:params:acme:error:%s\",\"detail\":\"",
		    type);
	json_escaped(&r->body, detail);
	ll_buf_addf(&r->body, "\",\"status\":%d}", status);
}

void lld_resp_problemv(struct lld_resp *r, int status, const char *type,
		       const char *fmt, va_list ap)
{
	char detail[LLD_PROBLEM_MAX / 2];

	vsnprintf(detail, sizeof(detail), fmt, ap);
	lld_resp_problem(r, status, type, detail);
}

void lld_rfc3339(char *buf, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lld_ctype_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	if (ctype == NULL || strncasecmp(ctype, want, n) != 0)
		return 0;
	return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ';
}

struct server;

/* One pipelined keyholder and the requests waiting for it. */
struct pipe {
	struct server *sv;
	enum lld_pipe kind;
	struct lld_pending *head, *tail; /* oldest first */
	struct event *ev; /* its socket readable */
};

struct server {
	struct lld_srv *srv;
	struct event_base *base;
	SSL_CTX *tls;
	struct pipe pipes[LLD_PIPES];
};

static void issue_failed(struct lld_resp *resp)
{
	lld_resp_problem(resp, 500, "serverInternal",
			 "issuance failed; the order will be finished later");
}

/* What each pipe is: what reads an answer, what a request gets when
 * the keyholder is gone. */
static const struct pipe_kind {
	const char *name;
	int (*finish)(struct lld_srv *srv, struct lld_pending *p);
	void (*failed)(struct lld_resp *resp);
} pipe_kinds[LLD_PIPES] = {
	[LLD_PIPE_ISSUE] = { "issuing", lld_acme_finish, issue_failed },
	[LLD_PIPE_TSA] = { "time-stamping", lld_tsa_finish, lld_tsa_fail },
};

/* The pipe's keyholder in struct lld_srv. */
static struct lld_kh **pipe_kh(struct pipe *pp)
{
	return pp->kind == LLD_PIPE_TSA ? &pp->sv->srv->kht :
					  &pp->sv->srv->khp;
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return status < 500 ? "Error" : "Internal Server Error";
	}
}

static void send_resp(struct evhttp_request *er, struct lld_resp *resp);
static void defer(struct server *sv, struct evhttp_request *er,
		  struct lld_resp *resp);
static void pipe_gone(struct pipe *pp);

/* The numeric address of ER's client (borrowed from its connection),
 * NULL if unknown. */
static const char *peer_of(struct evhttp_request *er)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(er);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn == NULL)
		return NULL;
	evhttp_connection_get_peer(conn, &addr, &port);
	return addr;
}

static void on_request(struct evhttp_request *er, void *arg)
{
	struct server *sv = arg;
	struct lld_req req = { 0 };
	struct lld_resp resp;
	struct evbuffer *in = evhttp_request_get_input_buffer(er);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(er);
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	char *path = NULL;
	size_t plen = 0;

	lld_resp_init(&resp);
	switch (evhttp_request_get_command(er)) {
	case EVHTTP_REQ_GET:
		req.method = LLD_GET;
		break;
	case EVHTTP_REQ_HEAD:
		req.method = LLD_HEAD;
		break;
	case EVHTTP_REQ_POST:
		req.method = LLD_POST;
		break;
	default:
		req.method = LLD_OTHER;
		break;
	}
	if (raw == NULL || raw[0] != '/') {
		lld_resp_problem(&resp, 404, "malformed", "no such resource");
		goto send;
	}
	path = evhttp_uridecode(raw, 0, &plen);
	if (path == NULL || strlen(path) != plen) {
		lld_resp_problem(&resp, 404, "malformed", "no such resource");
		goto send;
	}
	req.path = path;
	req.ctype = evhttp_find_header(evhttp_request_get_input_headers(er),
				       "Content-Type");
	req.len = evbuffer_get_length(in);
	req.body = req.len ? evbuffer_pullup(in, -1) : NULL;
	req.now = time(NULL);
	req.if_none_match = evhttp_find_header(
		evhttp_request_get_input_headers(er), "If-None-Match");
	/* PKX limits each client by this */
	req.peer = peer_of(er);
	if (req.len > LLD_BODY_MAX &&
	    strncmp(path, "/vault/", sizeof("/vault/") - 1) != 0) {
		lld_resp_problem(&resp, 413, "malformed",
				 "request body too large");
		goto send;
	}
	if (lld_acme_handle(sv->srv, &req, &resp) < 0 &&
	    lld_tsa_handle(sv->srv, &req, &resp) < 0 &&
	    lld_pki_handle(sv->srv, &req, &resp) < 0 &&
	    lld_pkx_handle(sv->srv, &req, &resp) < 0 &&
	    lld_vault_handle(sv->srv, &req, &resp) < 0)
		lld_resp_problem(&resp, 404, "malformed", "no such resource");
send:
	/* a keyholder that failed on a send is gone: answer what waits on
	 * it now rather than at some later event */
	for (int i = 0; i < LLD_PIPES; i++) {
		struct lld_kh *kh = *pipe_kh(&sv->pipes[i]);

		if (kh != NULL && lld_kh_fd(kh) < 0)
			pipe_gone(&sv->pipes[i]);
	}
	if (resp.pending != NULL) {
		defer(sv, er, &resp);
		free(path);
		return;
	}
	send_resp(er, &resp);
	lld_resp_free(&resp);
	free(path);
}

static void send_resp(struct evhttp_request *er, struct lld_resp *resp)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(er);
	struct evbuffer *body = NULL;

	if (resp->ctype[0] != '\0')
		evhttp_add_header(out, "Content-Type", resp->ctype);
	if (resp->location[0] != '\0')
		evhttp_add_header(out, "Location", resp->location);
	for (size_t i = 0; i < resp->nlinks; i++)
		evhttp_add_header(out, "Link", resp->links[i]);
	if (resp->nonce[0] != '\0')
		evhttp_add_header(out, "Replay-Nonce", resp->nonce);
	if (resp->etag[0] != '\0')
		evhttp_add_header(out, "ETag", resp->etag);
	if (resp->retry_after > 0) {
		char s[24];

		snprintf(s, sizeof(s), "%d", resp->retry_after);
		evhttp_add_header(out, "Retry-After", s);
	}
	evhttp_add_header(out, "Cache-Control",
			  resp->cache[0] ? resp->cache : "no-store");
	body = evbuffer_new();
	if (body != NULL && resp->body.len > 0)
		evbuffer_add(body, resp->body.p, resp->body.len);
	evhttp_send_reply(er, resp->status, reason_of(resp->status), body);
	if (body != NULL)
		evbuffer_free(body);
}

/* Keep ER and RESP (moved) until the keyholder answers. */
static void defer(struct server *sv, struct evhttp_request *er,
		  struct lld_resp *resp)
{
	struct lld_pending *p = resp->pending;
	struct pipe *pp = &sv->pipes[p->pipe];

	resp->pending = NULL;
	p->resp = *resp;
	/* a client gone meanwhile leaves ER detached from its connection
	 * (libevent frees only requests it has answered or still holds);
	 * evhttp_send_reply then frees it instead of sending */
	p->req = er;
	sv->srv->inflight[p->pipe]++;
	if (pp->tail != NULL)
		pp->tail->next = p;
	else
		pp->head = p;
	pp->tail = p;
}

/* Answer the oldest waiting request (a client gone meanwhile gets
 * nothing, and its request is freed) and drop it. */
static void pending_done(struct pipe *pp)
{
	struct lld_pending *p = pp->head;

	pp->head = p->next;
	if (pp->head == NULL)
		pp->tail = NULL;
	pp->sv->srv->inflight[pp->kind]--;
	send_resp(p->req, &p->resp);
	lld_resp_free(&p->resp);
	free(p);
}

/* A pipelined keyholder is gone: stop watching it and answer what
 * waits on it.  Orders stay processing, finished at the next start;
 * later finalizes go to the other keyholder; later time-stamp requests
 * are refused (systemFailure). */
static void pipe_gone(struct pipe *pp)
{
	if (pp->ev != NULL)
		event_del(pp->ev);
	lld_kh_stop(pipe_kh(pp));
	while (pp->head != NULL) {
		pipe_kinds[pp->kind].failed(&pp->head->resp);
		pending_done(pp);
	}
}

/* A pipelined keyholder answered (or is gone): complete the oldest. */
static void on_pipe(evutil_socket_t fd, short what, void *arg)
{
	struct pipe *pp = arg;
	const char *name = pipe_kinds[pp->kind].name;

	if (pp->head == NULL) {
		/* an answer nobody asked for, or the end */
		fprintf(stderr, LLD_PROG ": the %s keyholder ended\n", name);
		pipe_gone(pp);
		return;
	}
	if (pipe_kinds[pp->kind].finish(pp->sv->srv, pp->head) == 0) {
		pending_done(pp);
		return;
	}
	fprintf(stderr, LLD_PROG ": the %s keyholder is gone\n", name);
	pipe_gone(pp);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	SSL_CTX *ctx = arg;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
					      BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *tls_new(const struct lld_conf *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		fprintf(stderr, LLD_PROG ": %s: cannot use as certificate\n",
			c->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) !=
		    1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, LLD_PROG ": %s: not the key of %s\n",
			c->tls_key, c->tls_cert);
		goto fail;
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* "host:port" into HOST and PORT; 1 if HOST is a loopback address. */
static int split_listen(const char *listen, char *host, size_t hostlen,
			unsigned short *port)
{
	const char *colon = strrchr(listen, ':');
	char *end = NULL;
	long p;
	size_t n;

	if (colon == NULL || colon == listen)
		return -1;
	n = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']') {
		listen++;
		n -= 2;
	}
	if (n >= hostlen)
		return -1;
	memcpy(host, listen, n);
	host[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (unsigned short)p;
	return ll_host_is_loopback(host);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *sv = arg;

	fprintf(stderr, LLD_PROG ": %s, stopping\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(sv->base, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *sv = arg;
	struct ll_error err = { 0 };
	time_t now = time(NULL);

	if (now - sv->srv->crl_made >= CRL_MAX_AGE &&
	    lld_pki_crl_refresh(sv->srv, now, &err) < 0)
		lld_report("CRL", &err);
}

int lld_http_run(struct lld_srv *srv)
{
	const struct lld_conf *c = srv->conf;
	struct server sv = { .srv = srv };
	struct evhttp *http = NULL;
	struct event *sigint = NULL, *sigterm = NULL, *tick = NULL;
	struct event_config *cfg;
	struct timeval every = { CRL_CHECK_SECONDS, 0 };
	char host[128];
	unsigned short port = 0;
	int loop, rc = LLD_EXIT_FAIL;

	loop = split_listen(c->listen, host, sizeof(host), &port);
	if (loop < 0) {
		fprintf(stderr,
			LLD_PROG ": [http] listen = %s: want HOST:PORT\n",
			c->listen);
		return LLD_EXIT_STATE;
	}
	if (c->tls_cert[0] == '\0' && !loop) {
		fprintf(stderr,
			LLD_PROG ": plain HTTP only on a loopback address; "
				 "set [http] tls_cert and tls_key to listen "
				 "on %s\n",
			host);
		return LLD_EXIT_STATE;
	}
	if (c->tls_cert[0] != '\0') {
		sv.tls = tls_new(c);
		if (sv.tls == NULL)
			return LLD_EXIT_STATE;
	}
	cfg = event_config_new();
	/* epoll: the changes of a loop's turn in one epoll_ctl each, not
	 * one per change (evhttp turns reading off and on per request) */
	if (cfg == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) <
		    0)
		goto out;
	sv.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (sv.base == NULL)
		goto out;
	http = evhttp_new(sv.base);
	if (http == NULL)
		goto out;
	/* the vault's requests are the largest; every other path is held
	 * to LLD_BODY_MAX in on_request */
	evhttp_set_max_body_size(http, LLD_VAULT_BODY_MAX);
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_timeout(http, 30);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
						 EVHTTP_REQ_POST);
	evhttp_set_gencb(http, on_request, &sv);
	if (sv.tls != NULL)
		evhttp_set_bevcb(http, tls_bev, sv.tls);
	if (evhttp_bind_socket_with_handle(http, host, port) == NULL) {
		fprintf(stderr, LLD_PROG ": cannot listen on %s: %s\n",
			c->listen, strerror(errno));
		rc = LLD_EXIT_STATE;
		goto out;
	}
	for (int i = 0; i < LLD_PIPES; i++) {
		struct pipe *pp = &sv.pipes[i];
		struct lld_kh *kh;

		pp->sv = &sv;
		pp->kind = (enum lld_pipe)i;
		kh = *pipe_kh(pp);
		if (kh == NULL)
			continue;
		pp->ev = event_new(sv.base, lld_kh_fd(kh), EV_READ | EV_PERSIST,
				   on_pipe, pp);
		if (pp->ev == NULL || event_add(pp->ev, NULL) < 0)
			goto out;
	}
	sigint = evsignal_new(sv.base, SIGINT, on_signal, &sv);
	sigterm = evsignal_new(sv.base, SIGTERM, on_signal, &sv);
	tick = event_new(sv.base, -1, EV_PERSIST, on_tick, &sv);
	if (sigint == NULL || sigterm == NULL || tick == NULL ||
	    event_add(sigint, NULL) < 0 || event_add(sigterm, NULL) < 0 ||
	    event_add(tick, &every) < 0)
		goto out;
	fprintf(stderr, LLD_PROG ": listening on %s://%s\n",
		sv.tls ? "https" : "http", c->listen);
	if (event_base_dispatch(sv.base) < 0)
		goto out;
	rc = LLD_EXIT_OK;
out:
	for (int i = 0; i < LLD_PIPES; i++) {
		struct pipe *pp = &sv.pipes[i];

		while (pp->head != NULL) { /* orders stay processing */
			struct lld_pending *p = pp->head;

			pp->head = p->next;
			lld_resp_free(&p->resp);
			free(p);
		}
		if (pp->ev != NULL)
			event_free(pp->ev);
	}
	if (tick != NULL)
		event_free(tick);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (http != NULL)
		evhttp_free(http);
	if (sv.base != NULL)
		event_base_free(sv.base);
	SSL_CTX_free(sv.tls);
	return rc;
}
