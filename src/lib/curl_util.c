/*
 * curl_util.c - what every libcurl client of letterlock does the same
 * way: global set-up, the options of a verified transfer, the bounded
 * body, the error text.
 */
#include <pthread.h>
#include <stdio.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ll_curl_init(struct ll_error *err)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "libcurl: %s",
			      curl_easy_strerror(curl_init_rc));
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct ll_curl_sink *s = arg;
	size_t len = size * n;

	if (len > s->max - s->body.len) {
		s->too_big = 1;
		if (!s->truncate)
			return 0;
		if (s->max > s->body.len &&
		    ll_buf_add(&s->body, p, s->max - s->body.len) < 0)
			return 0;
		return len;
	}
	if (ll_buf_add(&s->body, p, len) < 0)
		return 0;
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

void ll_curl_setup(CURL *c, const char *protocols, long timeout,
		   const char *ca_file, char *ebuf, struct ll_curl_sink *sink)
{
	curl_easy_reset(c);
	ebuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, add_ca_file);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, ca_file);
	}
	if (sink != NULL) {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	}
}

CURLcode ll_curl_perform(CURL *c)
{
	CURLcode cc = curl_easy_perform(c);

	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(c, CURLOPT_READDATA, NULL);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
	return cc;
}

const char *ll_curl_why(const char *ebuf, CURLcode cc)
{
	return ebuf[0] != '\0' ? ebuf : curl_easy_strerror(cc);
}

int ll_curl_post(struct ll_curl_sink *sink, const char *url, const char *ctype,
		 const char *ca_file, long timeout, const void *der,
		 size_t len, const char *what, struct ll_error *err)
{
	char ebuf[CURL_ERROR_SIZE], hdr[128];
	struct curl_slist *hdrs = NULL;
	CURL *c;
	CURLcode cc;
	long status = 0;
	int rc = 0;

	rc = ll_curl_init(err);
	if (rc < 0)
		return rc;
	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
	c = curl_easy_init();
	hdrs = curl_slist_append(hdrs, hdr);
	if (c == NULL || hdrs == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	ll_curl_setup(c, "http,https", timeout, ca_file, ebuf, sink);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)der);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	cc = ll_curl_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "%s at %s: %s", what,
			    url,
			    sink->too_big ? "reply too large" :
					    ll_curl_why(ebuf, cc));
	else if (status != 200)
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS,
			    "%s at %s answered HTTP %ld", what, url, status);
out:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
}
