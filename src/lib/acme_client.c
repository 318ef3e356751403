/*
 * acme_client.c - ACME (RFC 8555) client for email identifiers and the
 * email-reply-00 challenge (RFC 8823): HTTP through libcurl, JSON
 * through jansson, JWS through jose.c; the challenge mail's check and
 * the reply; the certificate's key, its request and the identity made
 * from the issued chain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <letterlock/acme.h>

#include "ca_internal.h"

#define NONCE_MAX 256
#define CTYPE_MAX 128
#define MSGID_MAX 900 /* a Message-ID we echo in a reply */
#define DEFAULT_TIMEOUT 30 /* seconds for one HTTP exchange */
#define DEFAULT_WAIT 2 /* seconds between polls without Retry-After */
#define SECRET_PREFIX "acme-account-key "

static const char problem_ns[] = "urn:ietf:params:acme:error:";

struct ll_acme {
	CURL *curl;
	char *ca_file;
	int timeout;
	char *dir_url;
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *terms;
	char *root_url;
	char nonce[NONCE_MAX + 1];
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

/* One HTTP answer. */
struct resp {
	long status;
	struct ll_buf body;
	size_t max;
	int too_big;
	char nonce[NONCE_MAX + 1];
	char *location;
	long retry_after;
	char ctype[CTYPE_MAX];
};

static const char *const status_names[] = {
	[LL_ACME_UNKNOWN] = "unknown", [LL_ACME_PENDING] = "pending",
	[LL_ACME_READY] = "ready",     [LL_ACME_PROCESSING] = "processing",
	[LL_ACME_VALID] = "valid",     [LL_ACME_INVALID] = "invalid",
	[LL_ACME_EXPIRED] = "expired", [LL_ACME_DEACTIVATED] = "deactivated",
	[LL_ACME_REVOKED] = "revoked",
};

const char *ll_acme_status_name(enum ll_acme_status s)
{
	if ((size_t)s >= LL_ARRAY_SIZE(status_names))
		return "unknown";
	return status_names[s];
}

static enum ll_acme_status status_parse(const char *s)
{
	for (size_t i = 1; i < LL_ARRAY_SIZE(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum ll_acme_status)i;
	return LL_ACME_UNKNOWN;
}

/* ---- small helpers ---- */

static int nomem(struct ll_error *err)
{
	return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
}

/* Text from the network made fit for one line of a message: control
 * characters become spaces, at most LEN - 1 bytes. */
static void clean_text(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src != NULL && *src != '\0' && i + 1 < len; src++) {
		unsigned char c = (unsigned char)*src;

		dst[i++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[i] = '\0';
}

static int is_b64url(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* A URL we may hand to curl: printable ASCII without spaces, bounded. */
static int url_text_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LL_ACME_MAX_URL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* https anywhere, http to this machine only. */
static int check_url(const char *url, struct ll_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (u == NULL)
		return nomem(err);
	if (!url_text_ok(url) ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "not a usable URL: %.200s", url);
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0)
		goto out;
	if (strcasecmp(scheme, "http") != 0 || !ll_host_is_loopback(host))
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "%.200s: only https, or http to this machine, "
			    "may be used",
			    url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static void sleep_s(long s)
{
	struct timespec ts = { .tv_sec = s, .tv_nsec = 0 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n;

	if (len > r->max - r->body.len) {
		r->too_big = 1;
		return 0;
	}
	if (ll_buf_add(&r->body, p, len) < 0)
		return 0;
	return len;
}

static void resp_reset(struct resp *r)
{
	size_t max = r->max;

	ll_buf_free(&r->body);
	free(r->location);
	memset(r, 0, sizeof(*r));
	r->max = max;
	r->retry_after = -1;
}

static void resp_init(struct resp *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
	r->retry_after = -1;
}

static void header_value(const char *p, size_t n, const char **v, size_t *vlen)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' ||
			 p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*v = p;
	*vlen = n;
}

static void on_retry_after(struct resp *r, const char *v, size_t n)
{
	char buf[64];
	long secs = 0;
	time_t t;

	if (n == 0 || n >= sizeof(buf))
		return;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (strspn(buf, "0123456789") == n) {
		for (size_t i = 0; i < n && secs < 86400; i++)
			secs = secs * 10 + (buf[i] - '0');
		r->retry_after = secs;
		return;
	}
	t = curl_getdate(buf, NULL);
	if (t != (time_t)-1)
		r->retry_after = t > time(NULL) ? (long)(t - time(NULL)) : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n, vlen;
	const char *colon, *v;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 Continue): forget the last */
		r->nonce[0] = '\0';
		r->ctype[0] = '\0';
		r->retry_after = -1;
		free(r->location);
		r->location = NULL;
		return len;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL)
		return len;
	header_value(colon + 1, len - (size_t)(colon + 1 - p), &v, &vlen);
#define IS(name)                                    \
	((size_t)(colon - p) == sizeof(name) - 1 && \
	 strncasecmp(p, name, sizeof(name) - 1) == 0)
	if (IS("Replay-Nonce")) {
		if (vlen > 0 && vlen <= NONCE_MAX) {
			memcpy(r->nonce, v, vlen);
			r->nonce[vlen] = '\0';
			if (!is_b64url(r->nonce, NONCE_MAX))
				r->nonce[0] = '\0';
		}
	} else if (IS("Location")) {
		free(r->location);
		r->location = NULL;
		if (vlen > 0 && vlen <= LL_ACME_MAX_URL)
			r->location = strndup(v, vlen);
	} else if (IS("Retry-After")) {
		on_retry_after(r, v, vlen);
	} else if (IS("Content-Type")) {
		size_t k = 0;

		for (; k < vlen && k + 1 < sizeof(r->ctype) && v[k] != ';' &&
		       v[k] != ' ';
		     k++)
			r->ctype[k] = (char)((v[k] >= 'A' && v[k] <= 'Z') ?
						     v[k] - 'A' + 'a' :
						     v[k]);
		r->ctype[k] = '\0';
	}
#undef IS
	return len;
}

/* Trust CA_FILE besides what curl loaded (the OpenSSL back end). */
static CURLcode add_ca_file(CURL *c, void *sslctx, void *arg)
{
	X509_STORE *st = SSL_CTX_get_cert_store(sslctx);

	(void)c;
	if (st == NULL || X509_STORE_load_file(st, arg) != 1) {
		ERR_clear_error();
		return CURLE_SSL_CACERT_BADFILE;
	}
	return CURLE_OK;
}

enum method {
	M_GET,
	M_HEAD,
	M_POST
};

static int exchange(struct ll_acme *a, enum method m, const char *url,
		    const char *body, size_t blen, const char *accept,
		    struct resp *r, struct ll_error *err)
{
	char ebuf[CURL_ERROR_SIZE] = "", acc[160];
	struct curl_slist *hdrs = NULL, *nh;
	CURLcode cc;
	int rc;

	rc = check_url(url, err);
	if (rc < 0)
		return rc;
	resp_reset(r);
	curl_easy_reset(a->curl);
	snprintf(acc, sizeof(acc), "Accept: %s", accept);
	nh = curl_slist_append(hdrs, acc);
	if (nh != NULL)
		hdrs = nh;
	if (nh != NULL && m == M_POST) {
		nh = curl_slist_append(hdrs,
				       "Content-Type: application/jose+json");
		if (nh != NULL)
			hdrs = nh;
	}
	if (nh == NULL) {
		rc = nomem(err);
		goto out;
	}
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, (long)a->timeout);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, (long)a->timeout);
	curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "letterlock/" LL_VERSION);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(a->curl, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)r->max);
	curl_easy_setopt(a->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(a->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (a->ca_file != NULL) {
		curl_easy_setopt(a->curl, CURLOPT_SSL_CTX_FUNCTION,
				 add_ca_file);
		curl_easy_setopt(a->curl, CURLOPT_SSL_CTX_DATA, a->ca_file);
	}
	if (m == M_HEAD) {
		curl_easy_setopt(a->curl, CURLOPT_NOBODY, 1L);
	} else if (m == M_POST) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)blen);
	}
	cc = curl_easy_perform(a->curl);
	/* nothing of this call's stack may stay behind in the handle */
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, NULL);
	if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			    "%.200s: answer larger than %zu bytes", url,
			    r->max);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "%.200s: %s", url,
			    ebuf[0] ? ebuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->nonce[0] != '\0')
		memcpy(a->nonce, r->nonce, sizeof(a->nonce));
	a->retry_after = r->retry_after;
out:
	curl_slist_free_all(hdrs);
	return rc;
}

/* JSON of an answer; an object, or LL_EPARSE. */
static int parse_json(json_t **out, const struct resp *r, const char *what,
		      struct ll_error *err)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	j = json_loadb(r->body.p ? r->body.p : "", r->body.len,
		       JSON_REJECT_DUPLICATES, &je);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "%s: the CA's answer is not a JSON object", what);
	}
	*out = j;
	return 0;
}

/* An RFC 7807 problem as "TYPE: DETAIL" into BUF; 0 if J is none. */
static int problem_text(char *buf, size_t len, json_t *j)
{
	const char *type, *detail;
	json_t *sub;
	char t[160], d[LL_ERROR_MSG_MAX];

	if (!json_is_object(j))
		return 0;
	type = json_string_value(json_object_get(j, "type"));
	detail = json_string_value(json_object_get(j, "detail"));
	sub = json_object_get(j, "subproblems");
	if ((detail == NULL || *detail == '\0') && json_is_array(sub) &&
	    json_array_size(sub) > 0)
		detail = json_string_value(
			json_object_get(json_array_get(sub, 0), "detail"));
	if (type == NULL && detail == NULL)
		return 0;
	clean_text(t, sizeof(t), type ? type : "about:blank");
	clean_text(d, sizeof(d), detail ? detail : "");
	/* longer text is cut at LEN - 1 bytes */
	if (snprintf(buf, len, "%s%s%s", t, d[0] ? ": " : "", d) < 0)
		buf[0] = '\0';
	return 1;
}

/* Non-2xx answer: the problem it carries, else the HTTP status. */
static int http_fail(const struct resp *r, const char *url,
		     struct ll_error *err)
{
	json_t *j = NULL;
	char text[LL_ERROR_MSG_MAX];
	int rc;

	if (r->body.len > 0)
		j = json_loadb(r->body.p, r->body.len, 0, NULL);
	if (problem_text(text, sizeof(text), j))
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "%s", text);
	else
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS,
			    "%.200s: HTTP status %ld", url, r->status);
	json_decref(j);
	return rc;
}

static int is_problem(const struct resp *r, const char *name)
{
	json_t *j;
	const char *type;
	int yes;

	if (r->status < 400 || r->body.len == 0)
		return 0;
	j = json_loadb(r->body.p, r->body.len, 0, NULL);
	type = json_string_value(json_object_get(j, "type"));
	yes = type != NULL &&
	      strncmp(type, problem_ns, sizeof(problem_ns) - 1) == 0 &&
	      strcmp(type + sizeof(problem_ns) - 1, name) == 0;
	json_decref(j);
	return yes;
}

/* A string member, copied (malloc'd); NULL when absent and optional. */
static int get_str(char **out, json_t *obj, const char *name, int required,
		   size_t max, const char *what, struct ll_error *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (s == NULL || strlen(s) > max)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "%s: \"%s\" is missing, not a string or longer "
			      "than %zu bytes",
			      what, name, max);
	*out = strdup(s);
	return *out != NULL ? 0 : nomem(err);
}

static int get_url(char **out, json_t *obj, const char *name, int required,
		   const char *what, struct ll_error *err)
{
	int rc = get_str(out, obj, name, required, LL_ACME_MAX_URL, what, err);

	if (rc == 0 && *out != NULL && !url_text_ok(*out)) {
		free(*out);
		*out = NULL;
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s: \"%s\" is not a URL", what, name);
	}
	return rc;
}

static int get_status(enum ll_acme_status *out, json_t *obj, const char *what,
		      struct ll_error *err)
{
	const char *s = json_string_value(json_object_get(obj, "status"));

	if (s == NULL)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY, "%s: no status",
			      what);
	*out = status_parse(s);
	if (*out == LL_ACME_UNKNOWN)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "%s: unknown status", what);
	return 0;
}

/* ---- the client ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int fetch_directory(struct ll_acme *a, struct ll_error *err)
{
	struct resp r;
	json_t *j = NULL, *meta;
	int rc;

	resp_init(&r, LL_ACME_MAX_JSON);
	rc = exchange(a, M_GET, a->dir_url, NULL, 0, "application/json", &r,
		      err);
	if (rc < 0)
		goto out;
	if (r.status != 200) {
		rc = http_fail(&r, a->dir_url, err);
		goto out;
	}
	rc = parse_json(&j, &r, "directory", err);
	if (rc == 0)
		rc = get_url(&a->new_nonce, j, "newNonce", 1, "directory", err);
	if (rc == 0)
		rc = get_url(&a->new_account, j, "newAccount", 1, "directory",
			     err);
	if (rc == 0)
		rc = get_url(&a->new_order, j, "newOrder", 1, "directory", err);
	if (rc < 0)
		goto out;
	meta = json_object_get(j, "meta");
	if (!json_is_object(meta))
		goto out;
	rc = get_url(&a->terms, meta, "termsOfService", 0, "directory meta",
		     err);
	if (rc == 0)
		rc = get_url(&a->root_url, meta, "letterlockRootCertificate", 0,
			     "directory meta", err);
	if (rc == 0 &&
	    json_is_true(json_object_get(meta, "externalAccountRequired")))
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the CA requires an external account binding, "
			    "which letterlock does not support");
out:
	json_decref(j);
	resp_reset(&r);
	return rc;
}

int ll_acme_new(struct ll_acme **out, const char *url,
		const struct ll_acme_options *opt, struct ll_error *err)
{
	struct ll_acme *a = NULL;
	int rc;

	*out = NULL;
	rc = check_url(url, err);
	if (rc < 0)
		return rc;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "libcurl: %s",
			      curl_easy_strerror(curl_init_rc));
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return nomem(err);
	a->retry_after = -1;
	a->timeout = opt != NULL && opt->timeout > 0 ? opt->timeout :
						       DEFAULT_TIMEOUT;
	a->curl = curl_easy_init();
	a->dir_url = strdup(url);
	if (a->curl == NULL || a->dir_url == NULL) {
		rc = nomem(err);
		goto out;
	}
	if (opt != NULL && opt->ca_file != NULL) {
		a->ca_file = strdup(opt->ca_file);
		if (a->ca_file == NULL) {
			rc = nomem(err);
			goto out;
		}
		if (access(a->ca_file, R_OK) != 0) {
			rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s",
				    a->ca_file, strerror(errno));
			goto out;
		}
	}
	rc = fetch_directory(a, err);
	if (rc < 0)
		goto out;
	*out = a;
	a = NULL;
out:
	ll_acme_free(&a);
	return rc;
}

void ll_acme_free(struct ll_acme **pp)
{
	struct ll_acme *a;

	if (pp == NULL || *pp == NULL)
		return;
	a = *pp;
	*pp = NULL;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	free(a->ca_file);
	free(a->dir_url);
	free(a->new_nonce);
	free(a->new_account);
	free(a->new_order);
	free(a->terms);
	free(a->root_url);
	free(a->kid);
	ll_jwk_free(&a->key);
	free(a);
}

const char *ll_acme_terms(const struct ll_acme *a)
{
	return a->terms;
}

const char *ll_acme_account_url(const struct ll_acme *a)
{
	return a->kid;
}

void ll_acme_set_key(struct ll_acme *a, struct ll_jwk **key)
{
	ll_jwk_free(&a->key);
	a->key = *key;
	*key = NULL;
	free(a->kid);
	a->kid = NULL;
}

int ll_acme_thumbprint(char out[LL_JWK_THUMBPRINT_LEN + 1],
		       const struct ll_acme *a, struct ll_error *err)
{
	if (a->key == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "no account key");
	return ll_jwk_thumbprint(out, a->key, err);
}

/* ---- signed requests ---- */

static int fetch_nonce(struct ll_acme *a, struct ll_error *err)
{
	struct resp r;
	int rc;

	resp_init(&r, LL_ACME_MAX_JSON);
	rc = exchange(a, M_HEAD, a->new_nonce, NULL, 0, "*/*", &r, err);
	if (rc == 0 && (r.status < 200 || r.status > 299))
		rc = http_fail(&r, a->new_nonce, err);
	else if (rc == 0 && r.nonce[0] == '\0')
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "newNonce gave no Replay-Nonce");
	resp_reset(&r);
	return rc;
}

/*
 * POST a JWS of PAYLOAD (NULL: POST-as-GET) to URL, signed with the
 * account key: with "jwk" when JWK is set (newAccount), else with the
 * account URL as "kid".  A badNonce refusal is retried once.  Returns
 * 0 with a 2xx answer in R, else the CA's problem.
 */
static int post(struct ll_acme *a, const char *url, const char *payload,
		int jwk, const char *accept, struct resp *r,
		struct ll_error *err)
{
	char *jws = NULL;
	size_t jlen = 0;
	int rc = 0;

	if (a->key == NULL || (!jwk && a->kid == NULL))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "no ACME account yet");
	for (int attempt = 0; attempt < 2; attempt++) {
		char nonce[NONCE_MAX + 1];

		if (a->nonce[0] == '\0') {
			rc = fetch_nonce(a, err);
			if (rc < 0)
				return rc;
		}
		memcpy(nonce, a->nonce, sizeof(nonce));
		a->nonce[0] = '\0'; /* a nonce is good for one request */
		free(jws);
		jws = NULL;
		rc = ll_jws_sign(&jws, &jlen, a->key, jwk ? NULL : a->kid,
				 nonce, url, payload ? payload : "",
				 payload ? strlen(payload) : 0, err);
		if (rc < 0)
			break;
		rc = exchange(a, M_POST, url, jws, jlen, accept, r, err);
		if (rc < 0)
			break;
		if (attempt == 0 && r->status == 400 &&
		    is_problem(r, "badNonce"))
			continue;
		if (r->status < 200 || r->status > 299)
			rc = http_fail(r, url, err);
		break;
	}
	free(jws);
	return rc;
}

/* ---- account ---- */

int ll_acme_account_key(struct ll_jwk **out, int *created,
			struct ll_keystore *ks, const char *url,
			struct ll_error *err)
{
	struct ll_buf name = { 0 };
	unsigned char *pem = NULL;
	char *npem = NULL;
	size_t plen = 0, nlen = 0;
	struct ll_jwk *k = NULL;
	int rc;

	*out = NULL;
	if (created != NULL)
		*created = 0;
	if (ll_buf_adds(&name, SECRET_PREFIX) < 0 ||
	    ll_buf_adds(&name, url) < 0) {
		rc = nomem(err);
		goto out;
	}
	rc = ll_keystore_get_secret(&pem, &plen, ks, name.p, err);
	if (rc == 0) {
		rc = ll_jwk_from_private_pem(&k, (const char *)pem, plen, err);
		goto done;
	}
	if (rc != LL_ENOTFOUND)
		goto out;
	rc = ll_jwk_generate(&k, "ES256", err);
	if (rc == 0)
		rc = ll_jwk_private_pem(&npem, &nlen, k, err);
	if (rc == 0)
		rc = ll_keystore_put_secret(ks, name.p, npem, nlen, err);
	if (rc == 0 && created != NULL)
		*created = 1;
done:
	if (rc == 0) {
		*out = k;
		k = NULL;
	}
out:
	ll_jwk_free(&k);
	ll_wipe_free(pem, plen);
	ll_wipe_free(npem, nlen);
	ll_buf_free(&name);
	return rc;
}

/* "mailto:" and ADDR, octets outside RFC 6068's addr-spec characters
 * percent-encoded. */
static int mailto(struct ll_buf *b, const char *addr)
{
	static const char ok[] = "!$'*+-.=@_~";
	int rc = ll_buf_adds(b, "mailto:");

	for (const unsigned char *s = (const unsigned char *)addr;
	     rc == 0 && *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(ok, *s) != NULL)
			rc = ll_buf_add(b, s, 1);
		else
			rc = ll_buf_addf(b, "%%%02X", *s);
	}
	return rc;
}

int ll_acme_register(struct ll_acme *a, const char *contact, int *created,
		     struct ll_error *err)
{
	struct ll_buf uri = { 0 };
	struct ll_mailbox m;
	json_t *req = NULL, *j = NULL;
	char *payload = NULL;
	const char *st;
	struct resp r;
	int rc = 0;

	resp_init(&r, LL_ACME_MAX_JSON);
	if (created != NULL)
		*created = 0;
	req = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (req == NULL) {
		rc = nomem(err);
		goto out;
	}
	if (contact != NULL) {
		rc = ll_mailbox_parse(&m, contact, strlen(contact), err);
		if (rc < 0)
			goto out;
		if (mailto(&uri, m.addr) < 0 ||
		    json_object_set_new(req, "contact",
					json_pack("[s]", uri.p)) != 0) {
			rc = nomem(err);
			goto out;
		}
	}
	payload = json_dumps(req, JSON_COMPACT);
	if (payload == NULL) {
		rc = nomem(err);
		goto out;
	}
	rc = post(a, a->new_account, payload, 1, "application/json", &r, err);
	if (rc < 0)
		goto out;
	if (r.location == NULL || !url_text_ok(r.location)) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "newAccount: no account URL (Location)");
		goto out;
	}
	if (r.body.len > 0) {
		rc = parse_json(&j, &r, "account", err);
		if (rc < 0)
			goto out;
		st = json_string_value(json_object_get(j, "status"));
		if (st != NULL && strcmp(st, "valid") != 0) {
			char s[32];

			clean_text(s, sizeof(s), st);
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "the ACME account is %s", s);
			goto out;
		}
	}
	free(a->kid);
	a->kid = r.location;
	r.location = NULL;
	if (created != NULL)
		*created = r.status == 201;
out:
	resp_reset(&r);
	json_decref(req);
	json_decref(j);
	free(payload);
	ll_buf_free(&uri);
	return rc;
}

/* ---- the root ---- */

int ll_acme_root_cert(struct ll_cert **out, struct ll_acme *a,
		      struct ll_error *err)
{
	struct ll_cert *c = NULL;
	EVP_PKEY *pk;
	struct resp r;
	X509 *x;
	int rc;

	*out = NULL;
	if (a->root_url == NULL)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_POLICY,
			      "the directory names no root certificate "
			      "(meta letterlockRootCertificate)");
	resp_init(&r, LL_ACME_MAX_CERT);
	rc = exchange(a, M_GET, a->root_url, NULL, 0,
		      "application/pkix-cert, application/x-x509-ca-cert, "
		      "application/x-pem-file",
		      &r, err);
	if (rc < 0)
		goto out;
	if (r.status != 200) {
		rc = http_fail(&r, a->root_url, err);
		goto out;
	}
	rc = ll_cert_parse(&c, r.body.p ? r.body.p : "", r.body.len, err);
	if (rc < 0)
		goto out;
	x = ll_cert_x509(c);
	pk = X509_get0_pubkey(x);
	ERR_clear_error();
	if (X509_check_ca(x) < 1 || X509_check_issued(x, x) != X509_V_OK ||
	    pk == NULL || X509_verify(x, pk) != 1) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "%.200s is not a self-signed CA certificate",
				 a->root_url);
		goto out;
	}
	*out = c;
	c = NULL;
out:
	ll_cert_free(&c);
	resp_reset(&r);
	return rc;
}

/* ---- orders ---- */

static int parse_order(struct ll_acme_order *o, json_t *j, struct ll_error *err)
{
	json_t *az = json_object_get(j, "authorizations");
	char *fin = NULL, *cert = NULL;
	enum ll_acme_status st;
	int rc;

	rc = get_status(&st, j, "order", err);
	if (rc == 0)
		rc = get_url(&fin, j, "finalize", 1, "order", err);
	if (rc == 0)
		rc = get_url(&cert, j, "certificate", 0, "order", err);
	if (rc == 0 && (!json_is_array(az) || json_array_size(az) == 0 ||
			json_array_size(az) > LL_ACME_MAX_AUTHZ))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "order: \"authorizations\" is not a list of 1 to "
			    "%d URLs",
			    LL_ACME_MAX_AUTHZ);
	for (size_t i = 0; rc == 0 && i < json_array_size(az); i++) {
		const char *u = json_string_value(json_array_get(az, i));

		if (u == NULL || !url_text_ok(u))
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
				    "order: an authorization is not a URL");
	}
	if (rc < 0) {
		free(fin);
		free(cert);
		return rc;
	}
	for (size_t i = 0; i < o->nauthz; i++)
		free(o->authz[i]);
	o->nauthz = 0;
	for (size_t i = 0; i < json_array_size(az); i++) {
		o->authz[i] = strdup(json_string_value(json_array_get(az, i)));
		if (o->authz[i] == NULL)
			rc = nomem(err);
		o->nauthz++;
	}
	o->status = st;
	free(o->finalize);
	o->finalize = fin;
	free(o->certificate);
	o->certificate = cert;
	o->error[0] = '\0';
	problem_text(o->error, sizeof(o->error), json_object_get(j, "error"));
	return rc;
}

int ll_acme_order_new(struct ll_acme_order **out, struct ll_acme *a,
		      const char *address, struct ll_error *err)
{
	struct ll_acme_order *o = NULL;
	struct ll_mailbox m;
	json_t *req = NULL, *j = NULL;
	char *payload = NULL;
	struct resp r;
	int rc;

	*out = NULL;
	resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_mailbox_parse(&m, address, strlen(address), err);
	if (rc < 0)
		goto out;
	req = json_pack("{s:[{s:s,s:s}]}", "identifiers", "type", "email",
			"value", m.addr);
	payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
	o = calloc(1, sizeof(*o));
	if (payload == NULL || o == NULL) {
		rc = nomem(err);
		goto out;
	}
	rc = post(a, a->new_order, payload, 0, "application/json", &r, err);
	if (rc < 0)
		goto out;
	if (r.location == NULL || !url_text_ok(r.location)) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "newOrder: no order URL (Location)");
		goto out;
	}
	o->url = r.location;
	r.location = NULL;
	rc = parse_json(&j, &r, "order", err);
	if (rc == 0)
		rc = parse_order(o, j, err);
	if (rc < 0)
		goto out;
	*out = o;
	o = NULL;
out:
	ll_acme_order_free(&o);
	resp_reset(&r);
	json_decref(req);
	json_decref(j);
	free(payload);
	return rc;
}

void ll_acme_order_free(struct ll_acme_order **pp)
{
	struct ll_acme_order *o;

	if (pp == NULL || *pp == NULL)
		return;
	o = *pp;
	*pp = NULL;
	for (size_t i = 0; i < o->nauthz; i++)
		free(o->authz[i]);
	free(o->url);
	free(o->finalize);
	free(o->certificate);
	free(o);
}

const char *ll_acme_order_url(const struct ll_acme_order *o)
{
	return o->url;
}

enum ll_acme_status ll_acme_order_status(const struct ll_acme_order *o)
{
	return o->status;
}

size_t ll_acme_order_authz_count(const struct ll_acme_order *o)
{
	return o->nauthz;
}

const char *ll_acme_order_authz(const struct ll_acme_order *o, size_t i)
{
	return i < o->nauthz ? o->authz[i] : NULL;
}

/* POST-as-GET URL and hand the JSON object to PARSE. */
static int refresh(struct ll_acme *a, const char *url, const char *what,
		   int (*parse)(void *obj, json_t *j, struct ll_error *err),
		   void *obj, struct ll_error *err)
{
	json_t *j = NULL;
	struct resp r;
	int rc;

	resp_init(&r, LL_ACME_MAX_JSON);
	rc = post(a, url, NULL, 0, "application/json", &r, err);
	if (rc == 0)
		rc = parse_json(&j, &r, what, err);
	if (rc == 0)
		rc = parse(obj, j, err);
	json_decref(j);
	resp_reset(&r);
	return rc;
}

/*
 * Refresh OBJ at URL while its status *ST is one of BUSY (a bit per
 * status), pausing as the CA asks (within 1 .. LL_ACME_MAX_WAIT
 * seconds), for at most TIMEOUT seconds.
 */
static int poll(struct ll_acme *a, const char *url, const char *what,
		int (*parse)(void *obj, json_t *j, struct ll_error *err),
		void *obj, const enum ll_acme_status *st, unsigned busy,
		int timeout, struct ll_error *err)
{
	time_t deadline = mono_now() + (timeout > 0 ? timeout : 0);
	int rc;

	/* what we hold may be old (an order read before its authorization
	 * became valid): look once before waiting */
	if (busy & (1u << *st)) {
		rc = refresh(a, url, what, parse, obj, err);
		if (rc < 0)
			return rc;
	}
	while (busy & (1u << *st)) {
		long wait = a->retry_after >= 0 ? a->retry_after : DEFAULT_WAIT;
		time_t now = mono_now();

		if (now >= deadline)
			return ll_err(err, LL_EIO, LL_ECLASS_OS,
				      "%s is still %s after %d s", what,
				      ll_acme_status_name(*st), timeout);
		if (wait < 1)
			wait = 1;
		if (wait > LL_ACME_MAX_WAIT)
			wait = LL_ACME_MAX_WAIT;
		if (wait > deadline - now)
			wait = (long)(deadline - now);
		sleep_s(wait);
		rc = refresh(a, url, what, parse, obj, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int order_parse_cb(void *obj, json_t *j, struct ll_error *err)
{
	return parse_order(obj, j, err);
}

int ll_acme_order_poll(struct ll_acme *a, struct ll_acme_order *o, int timeout,
		       struct ll_error *err)
{
	int rc = poll(a, o->url, "the order", order_parse_cb, o, &o->status,
		      1u << LL_ACME_PENDING | 1u << LL_ACME_PROCESSING, timeout,
		      err);

	if (rc < 0)
		return rc;
	if (o->status == LL_ACME_READY || o->status == LL_ACME_VALID)
		return 0;
	return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "the order is %s%s%s",
		      ll_acme_status_name(o->status), o->error[0] ? ": " : "",
		      o->error);
}

int ll_acme_order_finalize(struct ll_acme *a, struct ll_acme_order *o,
			   const unsigned char *csr, size_t len,
			   struct ll_error *err)
{
	char *b64 = NULL, *payload = NULL;
	json_t *req = NULL, *j = NULL;
	struct resp r;
	int rc;

	resp_init(&r, LL_ACME_MAX_JSON);
	rc = ll_b64url_encode(&b64, NULL, csr, len, err);
	if (rc < 0)
		goto out;
	req = json_pack("{s:s}", "csr", b64);
	payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (payload == NULL) {
		rc = nomem(err);
		goto out;
	}
	rc = post(a, o->finalize, payload, 0, "application/json", &r, err);
	if (rc == 0)
		rc = parse_json(&j, &r, "order", err);
	if (rc == 0)
		rc = parse_order(o, j, err);
out:
	resp_reset(&r);
	json_decref(req);
	json_decref(j);
	free(payload);
	free(b64);
	return rc;
}

int ll_acme_order_certificate(char **out, size_t *len, struct ll_acme *a,
			      const struct ll_acme_order *o,
			      struct ll_error *err)
{
	static const char pem_ct[] = "application/pem-certificate-chain";
	struct resp r;
	int rc;

	*out = NULL;
	*len = 0;
	if (o->status != LL_ACME_VALID || o->certificate == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the order has no certificate yet");
	resp_init(&r, LL_ACME_MAX_CHAIN);
	rc = post(a, o->certificate, NULL, 0, pem_ct, &r, err);
	if (rc < 0)
		goto out;
	if ((r.ctype[0] != '\0' && strcmp(r.ctype, pem_ct) != 0) ||
	    r.body.len == 0 ||
	    memmem(r.body.p, r.body.len, "-----BEGIN CERTIFICATE-----", 27) ==
		    NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the certificate download is not %s", pem_ct);
		goto out;
	}
	*out = r.body.p;
	*len = r.body.len;
	r.body.p = NULL;
	r.body.len = 0;
out:
	resp_reset(&r);
	return rc;
}

/* ---- authorizations ---- */

static int parse_challenge(struct ll_acme_authz *z, json_t *c,
			   struct ll_error *err)
{
	char *url = NULL, *token = NULL, *from = NULL;
	enum ll_acme_status st;
	struct ll_mailbox m;
	int rc;

	rc = get_url(&url, c, "url", 1, "challenge", err);
	if (rc == 0)
		rc = get_str(&token, c, "token", 1, LL_ACME_MAX_TOKEN,
			     "challenge", err);
	if (rc == 0)
		rc = get_str(&from, c, "from", 1, LL_MAILBOX_MAX, "challenge",
			     err);
	if (rc == 0)
		rc = get_status(&st, c, "challenge", err);
	if (rc == 0 && !is_b64url(token, LL_ACME_MAX_TOKEN))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "challenge: the token is not base64url");
	if (rc == 0 && ll_mailbox_parse(&m, from, strlen(from), NULL) < 0)
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "challenge: \"from\" is not a mailbox address");
	if (rc < 0) {
		free(url);
		free(token);
		free(from);
		return rc;
	}
	free(z->chal_url);
	free(z->token);
	free(z->from);
	z->chal_url = url;
	z->token = token;
	z->from = from;
	z->chal_status = st;
	z->error[0] = '\0';
	problem_text(z->error, sizeof(z->error), json_object_get(c, "error"));
	return 0;
}

static int parse_authz(struct ll_acme_authz *z, json_t *j, struct ll_error *err)
{
	json_t *id = json_object_get(j, "identifier");
	json_t *chs = json_object_get(j, "challenges");
	const char *type = json_string_value(json_object_get(id, "type"));
	char *value = NULL;
	enum ll_acme_status st;
	int rc;

	rc = get_status(&st, j, "authorization", err);
	if (rc == 0 && (type == NULL || strcmp(type, "email") != 0))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "authorization: not for an email identifier");
	if (rc == 0)
		rc = get_str(&value, id, "value", 1, LL_MAILBOX_MAX * 4,
			     "authorization", err);
	if (rc == 0 && !json_is_array(chs))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "authorization: no list of challenges");
	for (size_t i = 0; rc == 0 && i < json_array_size(chs); i++) {
		json_t *c = json_array_get(chs, i);
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t != NULL && strcmp(t, "email-reply-00") == 0) {
			rc = parse_challenge(z, c, err);
			break;
		}
	}
	if (rc < 0) {
		free(value);
		return rc;
	}
	free(z->identifier);
	z->identifier = value;
	z->status = st;
	return 0;
}

static int authz_parse_cb(void *obj, json_t *j, struct ll_error *err)
{
	return parse_authz(obj, j, err);
}

int ll_acme_authz_fetch(struct ll_acme_authz **out, struct ll_acme *a,
			const char *url, struct ll_error *err)
{
	struct ll_acme_authz *z = calloc(1, sizeof(*z));
	int rc;

	*out = NULL;
	if (z == NULL)
		return nomem(err);
	z->url = strdup(url);
	if (z->url == NULL) {
		rc = nomem(err);
		goto out;
	}
	rc = refresh(a, url, "authorization", authz_parse_cb, z, err);
	if (rc < 0)
		goto out;
	*out = z;
	z = NULL;
out:
	ll_acme_authz_free(&z);
	return rc;
}

void ll_acme_authz_free(struct ll_acme_authz **pp)
{
	struct ll_acme_authz *z;

	if (pp == NULL || *pp == NULL)
		return;
	z = *pp;
	*pp = NULL;
	free(z->url);
	free(z->identifier);
	free(z->chal_url);
	free(z->token);
	free(z->from);
	free(z);
}

enum ll_acme_status ll_acme_authz_status(const struct ll_acme_authz *z)
{
	return z->status;
}

const char *ll_acme_authz_identifier(const struct ll_acme_authz *z)
{
	return z->identifier;
}

int ll_acme_authz_has_challenge(const struct ll_acme_authz *z)
{
	return z->chal_url != NULL;
}

const char *ll_acme_authz_token(const struct ll_acme_authz *z)
{
	return z->token;
}

const char *ll_acme_authz_from(const struct ll_acme_authz *z)
{
	return z->from;
}

enum ll_acme_status
ll_acme_authz_challenge_status(const struct ll_acme_authz *z)
{
	return z->chal_status;
}

const char *ll_acme_authz_error(const struct ll_acme_authz *z)
{
	return z->error;
}

int ll_acme_authz_respond(struct ll_acme *a, struct ll_acme_authz *z,
			  struct ll_error *err)
{
	json_t *j = NULL;
	struct resp r;
	int rc;

	if (z->chal_url == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the authorization has no email-reply-00 "
			      "challenge");
	resp_init(&r, LL_ACME_MAX_JSON);
	rc = post(a, z->chal_url, "{}", 0, "application/json", &r, err);
	if (rc == 0 && r.body.len > 0)
		rc = parse_json(&j, &r, "challenge", err);
	if (rc == 0 && j != NULL)
		rc = parse_challenge(z, j, err);
	json_decref(j);
	resp_reset(&r);
	return rc;
}

int ll_acme_authz_poll(struct ll_acme *a, struct ll_acme_authz *z, int timeout,
		       struct ll_error *err)
{
	int rc = poll(a, z->url, "the authorization", authz_parse_cb, z,
		      &z->status, 1u << LL_ACME_PENDING, timeout, err);

	if (rc < 0)
		return rc;
	if (z->status == LL_ACME_VALID)
		return 0;
	return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
		      "the authorization is %s%s%s",
		      ll_acme_status_name(z->status), z->error[0] ? ": " : "",
		      z->error);
}

/* ---- the challenge mail and the reply ---- */

/* "ACME: TOKEN" (white space around, any case of "ACME"); TOKEN out. */
static int subject_token(char **out, const char *subject)
{
	const char *s = subject, *end;
	size_t n;

	*out = NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncasecmp(s, "ACME:", 5) != 0)
		return -1;
	s += 5;
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - s);
	if (n == 0 || n > LL_ACME_MAX_TOKEN)
		return -1;
	*out = strndup(s, n);
	if (*out == NULL || !is_b64url(*out, LL_ACME_MAX_TOKEN)) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* A msg-id we can echo: "<...>", printable ASCII, no white space. */
static char *clean_msgid(const char *v)
{
	const char *s = v, *e;
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	n = (size_t)(e - s);
	if (n < 3 || n > MSGID_MAX || s[0] != '<' || s[n - 1] != '>')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return NULL;
	return strndup(s, n);
}

int ll_acme_mail_check(char **token1, char **msgid, struct ll_ctx *ctx,
		       const char *msg, size_t len, const char *from,
		       struct ll_error *err)
{
	struct ll_opened *o = NULL;
	const struct ll_open_status *st;
	struct ll_mailbox want, got;
	struct ll_entity e;
	char **addrs = NULL, *subject = NULL, *mid = NULL, *tok = NULL;
	const char *data;
	size_t dlen;
	int rc;

	*token1 = NULL;
	*msgid = NULL;
	rc = ll_mailbox_parse(&want, from, strlen(from), err);
	if (rc < 0)
		goto out;
	rc = ll_msg_open(&o, ctx, msg, len, err);
	if (rc == LL_ENOKEY || rc == LL_EDECRYPT) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "encrypted, not a challenge");
		goto out;
	}
	if (rc < 0)
		goto out;
	st = ll_opened_status(o);
	if (!st->is_signed) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "not signed with S/MIME");
		goto out;
	}
	if (st->signature != LL_SIG_VALID || !st->signer_matches_from) {
		const char *why = st->nerrors > 0 ? st->errors[0] : "";

		if (strncmp(why, "signature: ", 11) == 0)
			why += 11;
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "signature %s%s%s",
			    ll_sig_state_name(st->signature),
			    why[0] ? ": " : "", why);
		goto out;
	}
	data = ll_opened_data(o, &dlen);
	rc = ll_msg_addresses(&addrs, data, dlen, LL_ADDR_FROM, err);
	if (rc < 0)
		goto out;
	if (addrs[0] == NULL || addrs[1] != NULL ||
	    ll_mailbox_parse(&got, addrs[0], strlen(addrs[0]), NULL) < 0 ||
	    strcmp(got.addr, want.addr) != 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "From is not %s",
			    want.addr);
		goto out;
	}
	rc = ll_mime_split(&e, data, dlen, err);
	if (rc < 0)
		goto out;
	if (ll_mime_count(&e.hdr, "Subject") != 1) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "not one Subject field");
		goto out;
	}
	subject = ll_mime_get(&e.hdr, "Subject");
	if (subject == NULL || subject_token(&tok, subject) < 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the Subject is not \"ACME: \" and a token");
		goto out;
	}
	mid = ll_mime_get(&e.hdr, "Message-ID");
	if (mid != NULL && ll_mime_count(&e.hdr, "Message-ID") == 1)
		*msgid = clean_msgid(mid);
	*token1 = tok;
	tok = NULL;
	rc = 0;
out:
	ll_opened_free(&o);
	ll_strv_free(&addrs);
	free(subject);
	free(mid);
	free(tok);
	return rc;
}

static void mail_date(char *buf, size_t len)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec" };
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int ll_acme_mail_response(char **out, size_t *len, const char *address,
			  const char *to, const char *token1, const char *msgid,
			  const char *digest, struct ll_error *err)
{
	struct ll_mailbox me, them;
	struct ll_buf b = { 0 };
	unsigned char rnd[16];
	char date[64], id[40];
	char *clean = NULL;
	const char *dom;
	int rc;

	*out = NULL;
	*len = 0;
	rc = ll_mailbox_parse(&me, address, strlen(address), err);
	if (rc == 0)
		rc = ll_mailbox_parse(&them, to, strlen(to), err);
	if (rc < 0)
		return rc;
	if (!is_b64url(token1, LL_ACME_MAX_TOKEN) ||
	    strlen(digest) != LL_JWK_THUMBPRINT_LEN ||
	    !is_b64url(digest, LL_JWK_THUMBPRINT_LEN))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "a token or digest that is not base64url");
	if (msgid != NULL) {
		clean = clean_msgid(msgid);
		if (clean == NULL || strcmp(clean, msgid) != 0) {
			free(clean);
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "not a Message-ID we can refer to");
		}
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(clean);
		return ll_err_ossl(err, LL_ECRYPTO, "random");
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	mail_date(date, sizeof(date));
	dom = strrchr(me.addr, '@') + 1;
	rc = ll_buf_addf(&b,
			 "Date: %s\r\n"
			 "From: %s\r\n"
			 "To: %s\r\n"
			 "Subject: RE: ACME: %s\r\n"
			 "Message-ID: <%s@%s>\r\n",
			 date, me.addr, them.addr, token1, id, dom);
	if (rc == 0 && clean != NULL)
		rc = ll_buf_addf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n",
				 clean, clean);
	if (rc == 0)
		rc = ll_buf_addf(
			&b,
			"MIME-Version: 1.0\r\n"
			"Content-Type: text/plain; charset=us-ascii\r\n"
			"Content-Transfer-Encoding: 7bit\r\n"
			"\r\n"
			"-----BEGIN ACME RESPONSE-----\r\n"
			"%s\r\n"
			"-----END ACME RESPONSE-----\r\n",
			digest);
	free(clean);
	if (rc < 0) {
		ll_buf_free(&b);
		return nomem(err);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ---- the certificate's key, request and identity ---- */

int ll_acme_certkey_generate(struct ll_acme_certkey **out, enum ll_keytype type,
			     struct ll_error *err)
{
	struct ll_acme_certkey *k;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return nomem(err);
	ERR_clear_error();
	switch (type) {
	case LL_KEY_RSA2048:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case LL_KEY_EC_P256:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case LL_KEY_RSA3072:
	default:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	}
	if (k->pkey == NULL) {
		free(k);
		return ll_err_ossl(err, LL_ECRYPTO, "key generation");
	}
	*out = k;
	return 0;
}

void ll_acme_certkey_free(struct ll_acme_certkey **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	EVP_PKEY_free((*pp)->pkey); /* OpenSSL wipes private key memory */
	free(*pp);
	*pp = NULL;
}

static int add_req_ext(STACK_OF(X509_EXTENSION) * exts, int nid, int crit,
		       void *value)
{
	X509_EXTENSION *x = X509V3_EXT_i2d(nid, crit, value);

	if (x == NULL)
		return 0;
	if (!sk_X509_EXTENSION_push(exts, x)) {
		X509_EXTENSION_free(x);
		return 0;
	}
	return 1;
}

int ll_acme_csr_new(unsigned char **out, size_t *len,
		    const struct ll_acme_certkey *key, const char *address,
		    struct ll_error *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	X509_REQ *req = NULL;
	struct ll_mailbox m;
	unsigned char *der = NULL;
	int rc, n, cn, is_ec;

	*out = NULL;
	*len = 0;
	rc = ll_mailbox_parse(&m, address, strlen(address), err);
	if (rc < 0)
		return rc;
	ERR_clear_error();
	is_ec = EVP_PKEY_is_a(key->pkey, "EC");
	cn = m.chars <= LL_CN_MAX;
	req = X509_REQ_new();
	exts = sk_X509_EXTENSION_new_null();
	gens = sk_GENERAL_NAME_new_null();
	g = ll_mailbox_general_name(&m);
	ku = ASN1_BIT_STRING_new();
	eku = sk_ASN1_OBJECT_new_null();
	if (req == NULL || exts == NULL || gens == NULL || g == NULL ||
	    ku == NULL || eku == NULL || !sk_GENERAL_NAME_push(gens, g)) {
		rc = nomem(err);
		goto out;
	}
	g = NULL;
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_pubkey(req, key->pkey) ||
	    (cn && !X509_NAME_add_entry_by_txt(
			   X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
			   (const unsigned char *)m.addr, (int)m.len, -1, 0)) ||
	    !ASN1_BIT_STRING_set_bit(ku, LL_KU_DIGITAL_SIGNATURE, 1) ||
	    !ASN1_BIT_STRING_set_bit(
		    ku, is_ec ? LL_KU_KEY_AGREEMENT : LL_KU_KEY_ENCIPHERMENT,
		    1) ||
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_email_protect)) ||
	    /* RFC 5280 4.2.1.6: critical when the subject is empty */
	    !add_req_ext(exts, NID_subject_alt_name, !cn, gens) ||
	    !add_req_ext(exts, NID_key_usage, 1, ku) ||
	    !add_req_ext(exts, NID_ext_key_usage, 0, eku) ||
	    !X509_REQ_add_extensions(req, exts) ||
	    X509_REQ_sign(req, key->pkey, EVP_sha256()) <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "building the certificate request");
		goto out;
	}
	n = i2d_X509_REQ(req, &der);
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "encoding the certificate request");
		goto out;
	}
	*out = malloc((size_t)n);
	if (*out == NULL) {
		rc = nomem(err);
		goto out;
	}
	memcpy(*out, der, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	GENERAL_NAME_free(g);
	ASN1_BIT_STRING_free(ku);
	/* the stack holds a static OBJ_nid2obj object: free only the stack */
	sk_ASN1_OBJECT_free(eku);
	return rc;
}

static int chain_verify(X509 *leaf, STACK_OF(X509) * untrusted, X509 *root,
			struct ll_error *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int rc = 0, e;

	if (store == NULL || vc == NULL || !X509_STORE_add_cert(store, root) ||
	    !X509_STORE_CTX_init(vc, store, leaf, untrusted) ||
	    !X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SMIME_SIGN)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "chain verification");
		goto out;
	}
	if (X509_verify_cert(vc) != 1) {
		e = X509_STORE_CTX_get_error(vc);
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the issued certificate does not chain to the "
			    "CA's root: %s",
			    X509_verify_cert_error_string(e));
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(vc);
	X509_STORE_free(store);
	return rc;
}

int ll_acme_identity(struct ll_identity **out,
		     const struct ll_acme_certkey *key, const char *chain,
		     size_t len, const struct ll_cert *root,
		     const char *address, struct ll_error *err)
{
	struct ll_cert **v = NULL, *above[LL_ACME_MAX_CHAIN_CERTS];
	STACK_OF(X509) *untrusted = NULL;
	unsigned char *kder = NULL;
	X509 *leaf, *rx = ll_cert_x509(root);
	size_t n = 0, nabove = 0;
	int rc, klen = 0;

	*out = NULL;
	if (len > LL_ACME_MAX_CHAIN)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			      "certificate chain larger than %d bytes",
			      LL_ACME_MAX_CHAIN);
	rc = ll_cert_parse_all(&v, &n, chain, len, err);
	if (rc < 0)
		return rc;
	if (n == 0 || n > LL_ACME_MAX_CHAIN_CERTS) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "a chain of %zu certificates (1 to %d expected)", n,
			    LL_ACME_MAX_CHAIN_CERTS);
		goto out;
	}
	leaf = ll_cert_x509(v[0]);
	ERR_clear_error();
	if (X509_check_private_key(leaf, key->pkey) != 1) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "the issued certificate is not for our key");
		goto out;
	}
	if (!ll_x509_has_email(leaf, address)) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the issued certificate does not name %s", address);
		goto out;
	}
	untrusted = sk_X509_new_null();
	if (untrusted == NULL) {
		rc = nomem(err);
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		X509 *x = ll_cert_x509(v[i]);

		if (!sk_X509_push(untrusted, x)) {
			rc = nomem(err);
			goto out;
		}
		if (X509_cmp(x, rx) != 0)
			above[nabove++] = v[i];
	}
	rc = chain_verify(leaf, untrusted, rx, err);
	if (rc < 0)
		goto out;
	klen = i2d_PrivateKey(key->pkey, &kder);
	if (klen <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding the private key");
		klen = 0;
		goto out;
	}
	rc = ll_identity_from_key_der(out, kder, (size_t)klen, v[0], above,
				      nabove, err);
out:
	if (kder != NULL)
		OPENSSL_clear_free(kder, (size_t)klen);
	sk_X509_free(untrusted);
	for (size_t i = 0; i < n; i++)
		ll_cert_free(&v[i]);
	free(v);
	return rc;
}

void ll_acme_cert_serial(char *buf, size_t len, const struct ll_cert *c)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(ll_cert_x509(c));
	BIGNUM *bn = s ? ASN1_INTEGER_to_BN(s, NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	if (len > 0)
		snprintf(buf, len, "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}
