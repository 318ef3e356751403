/*
 * acme_http.c - the ACME client's HTTP (RFC 8555 section 6): libcurl
 * with bounded answers, the headers it keeps (Replay-Nonce, Location,
 * Retry-After, Content-Type), nonces, the JWS-signed POST with one
 * retry after badNonce, and refusals as errors.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "acme_internal.h"

/* ---- one answer ---- */

void ll_acme_resp_init(struct ll_acme_resp *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->sink.max = max;
	r->retry_after = -1;
}

void ll_acme_resp_reset(struct ll_acme_resp *r)
{
	size_t max = r->sink.max;

	ll_buf_free(&r->sink.body);
	free(r->location);
	ll_acme_resp_init(r, max);
}

/* The value of a header field: P[0..N) without the white space around
 * it and the line end. */
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

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static void on_retry_after(struct ll_acme_resp *r, const char *v, size_t n)
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

void ll_acme_resp_header(struct ll_acme_resp *r, const char *p, size_t len)
{
	const char *colon, *v;
	size_t vlen;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 Continue): forget the last */
		r->nonce[0] = '\0';
		r->ctype[0] = '\0';
		r->retry_after = -1;
		free(r->location);
		r->location = NULL;
		return;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL)
		return;
	header_value(colon + 1, len - (size_t)(colon + 1 - p), &v, &vlen);
#define IS(name)                                    \
	((size_t)(colon - p) == sizeof(name) - 1 && \
	 strncasecmp(p, name, sizeof(name) - 1) == 0)
	if (IS("Replay-Nonce")) {
		if (vlen > 0 && vlen <= LL_ACME_NONCE_MAX) {
			memcpy(r->nonce, v, vlen);
			r->nonce[vlen] = '\0';
			if (!ll_acme_b64url_ok(r->nonce, LL_ACME_NONCE_MAX))
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
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	ll_acme_resp_header(arg, p, size * n);
	return size * n;
}

/* ---- the exchange ---- */

int ll_acme_check_url(const char *url, struct ll_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (u == NULL)
		return ll_acme_nomem(err);
	if (!ll_acme_url_text_ok(url) ||
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

int ll_acme_http_new(struct ll_acme *a, struct ll_error *err)
{
	int rc = ll_curl_init(err);

	if (rc < 0)
		return rc;
	a->curl = curl_easy_init();
	return a->curl != NULL ? 0 : ll_acme_nomem(err);
}

enum method {
	M_GET,
	M_HEAD,
	M_POST
};

static int exchange(struct ll_acme *a, enum method m, const char *url,
		    const char *body, size_t blen, const char *accept,
		    struct ll_acme_resp *r, struct ll_error *err)
{
	char ebuf[CURL_ERROR_SIZE], acc[160];
	struct curl_slist *hdrs = NULL, *nh;
	CURLcode cc;
	int rc;

	rc = ll_acme_check_url(url, err);
	if (rc < 0)
		return rc;
	ll_acme_resp_reset(r);
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
		rc = ll_acme_nomem(err);
		goto out;
	}
	ll_curl_setup(a->curl, "http,https", (long)a->timeout, a->ca_file, ebuf,
		      &r->sink);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "letterlock/" LL_VERSION);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(a->curl, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)r->sink.max);
	if (m == M_HEAD) {
		curl_easy_setopt(a->curl, CURLOPT_NOBODY, 1L);
	} else if (m == M_POST) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)blen);
	}
	cc = ll_curl_perform(a->curl);
	if (r->sink.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			    "%.200s: answer larger than %zu bytes", url,
			    r->sink.max);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "%.200s: %s", url,
			    ll_curl_why(ebuf, cc));
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

int ll_acme_get(struct ll_acme *a, enum ll_acme_method m, const char *url,
		const char *accept, struct ll_acme_resp *r,
		struct ll_error *err)
{
	return exchange(a, m == LL_ACME_HEAD ? M_HEAD : M_GET, url, NULL, 0,
			accept, r, err);
}

int ll_acme_http_fail(const struct ll_acme_resp *r, const char *url,
		      struct ll_error *err)
{
	char text[LL_ERROR_MSG_MAX];

	if (ll_acme_problem_text(text, sizeof(text), r->sink.body.p,
				 r->sink.body.len))
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "%s", text);
	return ll_err(err, LL_EIO, LL_ECLASS_OS, "%.200s: HTTP status %ld", url,
		      r->status);
}

/* ---- signed requests ---- */

static int fetch_nonce(struct ll_acme *a, struct ll_error *err)
{
	struct ll_acme_resp r;
	int rc;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	rc = exchange(a, M_HEAD, a->dir.new_nonce, NULL, 0, "*/*", &r, err);
	if (rc == 0 && (r.status < 200 || r.status > 299))
		rc = ll_acme_http_fail(&r, a->dir.new_nonce, err);
	else if (rc == 0 && r.nonce[0] == '\0')
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "newNonce gave no Replay-Nonce");
	ll_acme_resp_reset(&r);
	return rc;
}

int ll_acme_post(struct ll_acme *a, const char *url, const char *payload,
		 int jwk, const char *accept, struct ll_acme_resp *r,
		 struct ll_error *err)
{
	char *jws = NULL;
	size_t jlen = 0;
	int rc = 0;

	if (a->key == NULL || (!jwk && a->kid == NULL))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "no ACME account yet");
	for (int attempt = 0; attempt < 2; attempt++) {
		char nonce[LL_ACME_NONCE_MAX + 1];

		if (a->nonce[0] == '\0') {
			rc = fetch_nonce(a, err);
			if (rc < 0)
				break;
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
		    ll_acme_problem_is(r->sink.body.p, r->sink.body.len,
				       "badNonce"))
			continue;
		if (r->status < 200 || r->status > 299)
			rc = ll_acme_http_fail(r, url, err);
		break;
	}
	free(jws);
	return rc;
}
