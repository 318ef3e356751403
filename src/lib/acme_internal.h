/*
 * acme_internal.h - shared by libletterlock's acme_*.c files (and the
 * fuzz targets of what the ACME client reads from the network) only.
 *
 *   acme_http.c     HTTP through libcurl: bounded answers, nonces, the
 *                   JWS-signed POST, Retry-After, problem answers
 *   acme_json.c     the CA's JSON objects, each read from (ptr, len)
 *   acme_client.c   directory, account, orders, authorizations,
 *                   challenges, polling, finalize, the download
 *   acme_mail.c     the challenge mail's check and the response mail
 *   acme_csr.c      the certificate's key, request and identity
 */
#ifndef LL_ACME_INTERNAL_H
#define LL_ACME_INTERNAL_H

#include <stddef.h>

#include <curl/curl.h>

#include <letterlock/acme.h>

#include "ca_internal.h"

#define LL_ACME_NONCE_MAX 256 /* a Replay-Nonce */
#define LL_ACME_CTYPE_MAX 128 /* a Content-Type (media type only) */
#define LL_ACME_MSGID_MAX 900 /* a Message-ID we echo in a reply */
#define LL_ACME_STATUS_MAX 32 /* a status shown in a message */

/* ---- the objects ---- */

/* The directory (RFC 8555 section 7.1.1): the URLs the client uses. */
struct ll_acme_dir {
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *revoke_cert; /* "revokeCert", or NULL */
	char *terms; /* meta "termsOfService", or NULL */
	char *root_url; /* meta "letterlockRootCertificate", or NULL */
	char *pkx_url; /* meta "letterlockPkx", or NULL */
	char *vault_url; /* meta "letterlockVault", or NULL */
};

struct ll_acme {
	CURL *curl;
	char *ca_file;
	int timeout;
	char *dir_url;
	struct ll_acme_dir dir;
	char nonce[LL_ACME_NONCE_MAX + 1];
	long retry_after; /* of the last answer; -1 if none */
	struct ll_jwk *key;
	char *kid;
};

struct ll_acme_order {
	char *url;
	enum ll_acme_status status;
	char *finalize;
	char *certificate;
	char *authz[LL_ACME_MAX_AUTHZ];
	size_t nauthz;
	char error[LL_ERROR_MSG_MAX];
};

struct ll_acme_authz {
	char *url;
	enum ll_acme_status status;
	char *identifier;
	char *chal_url;
	char *token;
	char *from;
	enum ll_acme_status chal_status;
	char error[LL_ERROR_MSG_MAX];
};

struct ll_acme_certkey {
	EVP_PKEY *pkey;
};

/* ---- acme_json.c: text checks and the CA's JSON ---- */

int ll_acme_nomem(struct ll_error *err);

/* Text from the network made fit for one line of a message: control
 * characters become spaces, at most LEN - 1 bytes. */
void ll_acme_clean_text(char *dst, size_t len, const char *src);

/* 1 if S is 1 to MAX base64url characters (no padding). */
int ll_acme_b64url_ok(const char *s, size_t max);

/* 1 if S is a URL we may hand to curl: 1 to LL_ACME_MAX_URL octets of
 * printable ASCII without spaces. */
int ll_acme_url_text_ok(const char *s);

/*
 * The parsers of what the CA answers, each taking the body P[0..LEN)
 * as it came (at most LL_ACME_MAX_JSON bytes, else LL_ETOOBIG): a JSON
 * object (duplicate members refused), else LL_EPARSE.  A refused
 * object leaves the output as it was; messages name the object.
 */

/* The directory into *d (its strings malloc'd; free with
 * ll_acme_dir_free).  LL_EPOLICY when it wants external account
 * binding. */
int ll_acme_json_directory(struct ll_acme_dir *d, const char *p, size_t len,
			   struct ll_error *err);
void ll_acme_dir_free(struct ll_acme_dir *d);

/* A newAccount answer: LL_EPOLICY when its "status" is there and is
 * not "valid". */
int ll_acme_json_account(const char *p, size_t len, struct ll_error *err);

/* An order: status, finalize, certificate, authorizations and error
 * replace those of O (its url stays). */
int ll_acme_json_order(struct ll_acme_order *o, const char *p, size_t len,
		       struct ll_error *err);

/* An authorization: status and identifier, and its email-reply-00
 * challenge when it has one (as ll_acme_json_challenge), into Z. */
int ll_acme_json_authz(struct ll_acme_authz *z, const char *p, size_t len,
		       struct ll_error *err);

/* A challenge object: url, token, from, status and error into Z. */
int ll_acme_json_challenge(struct ll_acme_authz *z, const char *p, size_t len,
			   struct ll_error *err);

/*
 * A problem document (RFC 7807) as "TYPE: DETAIL" into BUF (cut at LEN
 * - 1 bytes, control characters made spaces): 1 if P[0..LEN) is one, 0
 * if not.  ll_acme_problem_is: 1 if its type is
 * "urn:ietf:params:acme:error:" NAME.
 */
int ll_acme_problem_text(char *buf, size_t len, const char *p, size_t n);
int ll_acme_problem_is(const char *p, size_t n, const char *name);

/* ---- acme_http.c: the exchanges ---- */

/* One HTTP answer. */
struct ll_acme_resp {
	long status;
	struct ll_curl_sink sink; /* the body */
	char nonce[LL_ACME_NONCE_MAX + 1]; /* Replay-Nonce, base64url */
	char *location; /* Location, or NULL */
	long retry_after; /* seconds; -1 if none */
	char ctype[LL_ACME_CTYPE_MAX]; /* media type, lower case */
};

/* An empty answer of at most MAX body bytes; ll_acme_resp_reset frees
 * what it holds and empties it again. */
void ll_acme_resp_init(struct ll_acme_resp *r, size_t max);
void ll_acme_resp_reset(struct ll_acme_resp *r);

/* One header line P[0..LEN) of an answer (as libcurl hands it over,
 * with its line end) into R: Replay-Nonce, Location, Retry-After and
 * Content-Type are kept; a status line starts a new answer. */
void ll_acme_resp_header(struct ll_acme_resp *r, const char *p, size_t len);

/* https anywhere, http to this machine only: 0 or LL_EINVAL. */
int ll_acme_check_url(const char *url, struct ll_error *err);

/* curl_global_init once, and A's handle. */
int ll_acme_http_new(struct ll_acme *a, struct ll_error *err);

enum ll_acme_method {
	LL_ACME_GET,
	LL_ACME_HEAD,
};

/* GET (or HEAD) URL with ACCEPT into R (any HTTP status).  A keeps the
 * answer's nonce and Retry-After. */
int ll_acme_get(struct ll_acme *a, enum ll_acme_method m, const char *url,
		const char *accept, struct ll_acme_resp *r,
		struct ll_error *err);

/*
 * POST a JWS of PAYLOAD (NULL: POST-as-GET) to URL, signed with the
 * account key: with "jwk" when JWK is set (newAccount), else with the
 * account URL as "kid".  A badNonce refusal is retried once.  Returns
 * 0 with a 2xx answer in R, else the CA's problem.
 */
int ll_acme_post(struct ll_acme *a, const char *url, const char *payload,
		 int jwk, const char *accept, struct ll_acme_resp *r,
		 struct ll_error *err);

/* A non-2xx answer as an error: the problem it carries (LL_EPOLICY),
 * else the HTTP status (LL_EIO). */
int ll_acme_http_fail(const struct ll_acme_resp *r, const char *url,
		      struct ll_error *err);

#endif
