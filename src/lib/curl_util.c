/*
 * curl_util.c - what every libcurl client of letterlock does the same
 * way: global set-up, the options of a verified transfer, the bounded
 * body, the error text.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* Is LINE (N bytes, its line end included or not) the EHLO keyword
 * KW: "250-KW" or "250 KW", then the end or a parameter? */
static int ehlo_keyword(const char *line, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	if (n < 4 + k || strncasecmp(line + 4, kw, k) != 0)
		return 0;
	return n == 4 + k || line[4 + k] == ' ' || line[4 + k] == '\r' ||
	       line[4 + k] == '\n';
}

void ll_smtp_ehlo_watch(struct ll_smtp_ehlo *e, curl_infotype type,
			const char *data, size_t size)
{
	if (type == CURLINFO_HEADER_OUT) {
		/* EHLO, or HELO when EHLO was refused: a new answer */
		if (size >= 5 && (strncasecmp(data, "EHLO ", 5) == 0 ||
				  strncasecmp(data, "HELO ", 5) == 0)) {
			e->reading = 1;
			e->smtputf8 = 0;
		}
		return;
	}
	if (type != CURLINFO_HEADER_IN || !e->reading)
		return;
	/* libcurl hands the answer over a line at a time */
	if (size < 4 || strncmp(data, "250", 3) != 0 ||
	    (data[3] != '-' && data[3] != ' ')) {
		e->reading = 0; /* EHLO refused: HELO comes next */
		return;
	}
	if (ehlo_keyword(data, size, "SMTPUTF8"))
		e->smtputf8 = 1;
	if (data[3] == ' ') {
		e->reading = 0;
		e->seen = 1;
	}
}

static int is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

int ll_smtp_needs_utf8(const char *from, const char *const *rcpts, size_t n,
		       const char *msg, size_t len)
{
	if (!is_ascii(from))
		return 1;
	for (size_t i = 0; i < n; i++)
		if (!is_ascii(rcpts[i]))
			return 1;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)msg[i] >= 0x80)
			return 1;
		if (msg[i] != '\n')
			continue;
		/* an empty line ends the header */
		if ((i + 1 < len && msg[i + 1] == '\n') ||
		    (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n'))
			return 0;
	}
	return 0;
}

CURLcode ll_curl_smtp_noop(CURL *c)
{
	CURLcode cc;

	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "NOOP");
	curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 0L);
	cc = ll_curl_perform(c);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	return cc;
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
