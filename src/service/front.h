/*
 * front.h - the network front of `letterlockd run`: HTTP(S) on libevent
 * (http.c), the ACME server (acme_*.c), the PKI endpoints - CA
 * certificates, CRL, OCSP (pki_http.c) - the TSA (tsa_http.c) and the
 * PKX directory (pkx_http.c).
 *
 * The handlers see a request as plain data (struct lld_req) and fill a
 * struct lld_resp; only http.c knows libevent.  That keeps the protocol
 * code testable without sockets.  The front holds no private key: what
 * needs one goes to the keyholder (keyholder.h).
 */
#ifndef LLD_FRONT_H
#define LLD_FRONT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "internal.h" /* struct ll_buf */
#include "service.h"
#include "nonce.h"
#include "store.h"

struct lld_kh;
struct lld_mailer;
struct lld_nonces;

#define LLD_BODY_MAX (64 * 1024) /* largest request body taken */
/* ... under /vault/ only (vault.h): a backup in a JWS */
#define LLD_VAULT_BODY_MAX (2 * 1024 * 1024)
#define LLD_HDR_MAX 512 /* one response header value */
#define LLD_ORDER_DAYS 7 /* orders and authorizations live this long */
/* revokeCert by authorization: the mailbox proof must be this recent
 * (doc/acme.md) */
#define LLD_REVOKE_AUTHZ_SECS 3600
#define LLD_KEYCACHE 256 /* account keys kept parsed */
/* Time-stamp requests waiting for the TSA keyholder at most: beyond,
 * the front refuses at once (systemFailure) rather than queue, so that
 * neither side of the socket pair can fill up while the other waits on
 * it. */
#define LLD_TSA_INFLIGHT_MAX 512

struct json_t;
struct lld_limit;
struct lld_pkx_cache;

/* The pipelined keyholders. */
enum lld_pipe {
	LLD_PIPE_ISSUE, /* srv->khp, lld_acme_finish */
	LLD_PIPE_TSA,	/* srv->kht, lld_tsa_finish */
	LLD_PIPES,
};

/* What one `letterlockd run` serves with. */
struct lld_srv {
	const struct lld_conf *conf;
	const char *dir;
	struct lld_store *store;
	struct lld_kh *kh; /* CRL, OCSP, mail, recovery; any thread */
	/* pipelined issuance, the event loop only; NULL once gone (one:
	 * two waited on each other for the shared journal) */
	struct lld_kh *khp;
	/* pipelined time-stamps, the event loop only; it holds the
	 * time-stamping unit's key and no other; NULL once gone */
	struct lld_kh *kht;
	/* requests sent to each pipelined keyholder and not yet answered
	 * (http.c keeps the count) */
	size_t inflight[LLD_PIPES];
	struct lld_nonces *nonces;
	struct lld_mailer *mailer; /* NULL: no email validation configured */
	/* the CA certificates, DER and PEM, read at start */
	unsigned char *root_der, *smime_der, *tsa_der;
	size_t root_len, smime_len, tsa_len;
	char *chain_pem; /* smime-ca then root, appended to every leaf */
	void *ocsp_issuer; /* X509 * of the S/MIME CA, for CertID checks */
	/* account keys parsed before (acme_server.c), by id modulo size */
	struct lld_keycache {
		int64_t id;
		char *jwk; /* the stored JSON the key was parsed from */
		struct ll_jwk *key;
	} keys[LLD_KEYCACHE];
	time_t crl_made; /* when the CRL served was signed */
	struct lld_limit *pkx_limit; /* PKX requests per client (pkx.h) */
	struct lld_pkx_cache *pkx_cache; /* PKX lookup answers (pkx.h) */
	double pkx_others; /* when changes of other processes were looked
			      for (monotonic seconds) */
};

enum lld_method {
	LLD_GET,
	LLD_HEAD,
	LLD_POST,
	LLD_OTHER
};

struct lld_req {
	enum lld_method method;
	const char *path; /* decoded path, no query */
	const char *ctype; /* Content-Type, NULL if none */
	const unsigned char *body;
	size_t len;
	time_t now;
	const char *peer; /* the client's numeric address, NULL unknown */
	const char *if_none_match; /* If-None-Match, NULL if none */
};

#define LLD_RESP_LINKS 4

struct lld_resp {
	int status;
	char ctype[64];
	char location[LLD_HDR_MAX];
	char links[LLD_RESP_LINKS][LLD_HDR_MAX]; /* Link values */
	size_t nlinks;
	char nonce[LLD_NONCE_LEN + 1]; /* Replay-Nonce, "" none */
	int retry_after; /* seconds, 0 none */
	char cache[64]; /* Cache-Control, "" none */
	char etag[72]; /* ETag (quoted), "" none */
	struct ll_buf body;
	struct lld_pending *pending; /* answered later, see below */
};


/*
 * A request a pipelined keyholder is answering (a finalize's
 * certificate, a time-stamp): the handler sends the keyholder its
 * request and sets resp->pending; http.c keeps the HTTP request and
 * this (with the response so far) in the FIFO of PIPE and, when that
 * keyholder's socket is readable, calls the pipe's finisher for the
 * head and sends the answer.
 */
struct lld_pending {
	enum lld_pipe pipe;
	int64_t order; /* LLD_PIPE_ISSUE */
	struct lld_resp resp;
	void *req; /* struct evhttp_request *, NULL once gone (http.c) */
	void *conn; /* its struct evhttp_connection * */
	struct lld_pending *next;
};

/* http.c: serve SRV on conf->listen until SIGINT/SIGTERM.  Returns an
 * LLD_EXIT_* code. */
int lld_http_run(struct lld_srv *srv);

/* acme_server.c: an ACME request (path under /acme/); 0 if handled,
 * -1 if the path is not ACME's. */
int lld_acme_handle(struct lld_srv *srv, const struct lld_req *req,
		    struct lld_resp *resp);

/* acme_server.c: read the keyholder's answer for P (the head of the
 * FIFO) and complete P->resp.  -1 when the keyholder is gone (every
 * later answer fails too), else 0. */
int lld_acme_finish(struct lld_srv *srv, struct lld_pending *p);

/* acme_server.c: drop the parsed account keys (at exit). */
void lld_acme_forget_keys(struct lld_srv *srv);

/* acme_server.c: finish orders left "processing" by a stopped front
 * (issue, idempotently, and record).  Called once at start. */
int lld_acme_recover(struct lld_srv *srv);

/* pki_http.c: /ca/..., /crl/..., /ocsp[/...]; 0 if handled, -1 if not
 * such a path. */
int lld_pki_handle(struct lld_srv *srv, const struct lld_req *req,
		   struct lld_resp *resp);

/* pki_http.c: sign a new CRL now (at start, after a revocation, and
 * when the one served is a day old) and keep it in the store. */
int lld_pki_crl_refresh(struct lld_srv *srv, time_t now, struct ll_error *err);

/* tsa_http.c: POST /tsa; 0 if handled, -1 if not that path. */
int lld_tsa_handle(struct lld_srv *srv, const struct lld_req *req,
		   struct lld_resp *resp);

/* tsa_http.c: read the TSA keyholder's answer for P (the head of its
 * FIFO) into P->resp.  -1 when the keyholder is gone, else 0. */
int lld_tsa_finish(struct lld_srv *srv, struct lld_pending *p);

/* tsa_http.c: the answer to a time-stamp request the TSA could not
 * sign (a rejection, systemFailure) into RESP. */
void lld_tsa_fail(struct lld_resp *resp);

/* pkx_http.c: /pkx/..., the public key directory (doc/pkx-api.md);
 * 0 if handled, -1 if not such a path. */
int lld_pkx_handle(struct lld_srv *srv, const struct lld_req *req,
		   struct lld_resp *resp);

/* pkx_http.c: the rate limit and the answer cache of [pkx] into
 * srv->pkx_limit and srv->pkx_cache, at start; lld_pkx_stop frees
 * them. */
int lld_pkx_start(struct lld_srv *srv, struct ll_error *err);
void lld_pkx_stop(struct lld_srv *srv);

/* vault_http.c: /vault/..., the key vault (doc/vault-api.md); 0 if
 * handled, -1 if not such a path. */
int lld_vault_handle(struct lld_srv *srv, const struct lld_req *req,
		     struct lld_resp *resp);

/* A POST outside /acme/ authenticated as ACME's are (acme_server.c):
 * the account and the payload. */
struct lld_auth {
	struct lld_account acct;
	struct json_t *payload; /* a JSON object; NULL for POST-as-GET */
};

/*
 * acme_server.c: check REQ's flattened JWS exactly as an ACME request
 * signed with an account's "kid" (doc/acme.md: shape and algorithm,
 * "url" the URL of REQ, the account, the signature, the nonce, the
 * account valid) and put a fresh nonce in RESP.  0 with *out filled
 * (lld_auth_clear it); otherwise -1 and the problem is in RESP.
 */
int lld_acme_authenticate(struct lld_srv *srv, const struct lld_req *req,
			  struct lld_resp *resp, struct lld_auth *out);
/* The same for a request of at most MAX octets (the key vault's). */
int lld_acme_authenticate_max(struct lld_srv *srv, const struct lld_req *req,
			      struct lld_resp *resp, size_t max,
			      struct lld_auth *out);
void lld_auth_clear(struct lld_auth *a);

/* Small helpers for handlers (http.c). */
void lld_resp_init(struct lld_resp *r);
void lld_resp_free(struct lld_resp *r);
/* Set body BYTES (LEN) with content type CTYPE and status STATUS. */
int lld_resp_set(struct lld_resp *r, int status, const char *ctype,
		 const void *bytes, size_t len);
/* An application/problem+json error: TYPE is the last part of the
 * urn:ietf:params:acme:error: name ("badNonce"), DETAIL one line. */
void lld_resp_problem(struct lld_resp *r, int status, const char *type,
		      const char *detail);
/* The same with the detail made of FMT and AP (at most half of
 * LLD_PROBLEM_MAX octets). */
void lld_resp_problemv(struct lld_resp *r, int status, const char *type,
		       const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* T as RFC 3339 UTC ("2026-11-24T10:00:00Z") into BUF. */
void lld_rfc3339(char *buf, size_t len, time_t t);
/* 1 if the Content-Type CTYPE (NULL: none) is the media type WANT,
 * parameters allowed. */
int lld_ctype_is(const char *ctype, const char *want);

#endif
