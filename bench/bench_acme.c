/*
 * bench_acme.c - throughput of a running `letterlockd run` on loopback:
 * certificate issuance (ACME finalize to a valid order with its
 * certificate, the mail round trip left out) and the plain ACME request
 * rate (HEAD new-nonce; POST-as-GET of an order: JWS check, nonce,
 * store read).
 *
 *   bench_acme STORE URL N CONNS
 *
 * STORE is the server's SQLite store (it must be running on URL,
 * http://127.0.0.1:PORT).  The program makes an account and N orders
 * whose challenges are settled valid straight in the store (this is
 * what the mail round trip would have done), fetches the nonces and
 * signs every request before the clock starts, so that only the
 * server's work is timed; CONNS keep-alive connections (one thread
 * each) keep it busy.  Prints lines "name value unit".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <letterlock/jose.h>

#include "../src/service/store.h"
#include "httpload.h"

static char host_port[64];
static char base[128];
static unsigned short port;

static char *request(const char *method, const char *path, const char *body)
{
	char *out = NULL;
	size_t blen = body ? strlen(body) : 0;

	if (asprintf(&out,
		     "%s %s HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Type: application/jose+json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     method, path, host_port, blen, body ? body : "") < 0)
		hl_die("out of memory");
	return out;
}

static char *signed_post(const struct ll_jwk *key, const char *kid,
			 const char *nonce, const char *path,
			 const char *payload)
{
	char url[512];
	char *jws = NULL, *req;
	size_t len = 0;
	struct ll_error err = { 0 };

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (ll_jws_sign(&jws, &len, key, kid, nonce, url, payload,
			payload ? strlen(payload) : 0, &err) < 0)
		hl_die(err.message);
	req = request("POST", path, jws);
	free(jws);
	return req;
}

/* A CSR for ADDR with a fresh P-256 key, base64url DER. */
static char *make_csr(const char *addr, EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *san;
	char sanv[400];
	unsigned char *der = NULL;
	int len;
	char *out = NULL;
	struct ll_error err = { 0 };

	snprintf(sanv, sizeof(sanv), "email:%s", addr);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				   (const unsigned char *)addr, -1, -1, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sanv);
	sk_X509_EXTENSION_push(exts, san);
	X509_REQ_add_extensions(req, exts);
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		hl_die("CSR signing failed");
	len = i2d_X509_REQ(req, &der);
	if (len <= 0 ||
	    ll_b64url_encode(&out, NULL, der, (size_t)len, &err) < 0)
		hl_die("CSR encoding failed");
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return out;
}

int main(int argc, char **argv)
{
	struct ll_error err = { 0 };
	struct lld_store *st = NULL;
	struct ll_jwk *key = NULL;
	EVP_PKEY *ckey = NULL;
	char tp[LL_JWK_THUMBPRINT_LEN + 1], kid[256], nonce[64];
	char *jwk = NULL, *buf;
	char **reqs;
	int64_t acct = 0;
	int64_t *orders;
	size_t n, conns;
	int fd;

	if (argc != 5)
		hl_die("usage: bench_acme STORE URL N CONNS");
	n = strtoul(argv[3], NULL, 10);
	conns = strtoul(argv[4], NULL, 10);
	if (n < 1 || conns < 1 || conns > HL_MAX_CONNS ||
	    sscanf(argv[2], "http://127.0.0.1:%hu", &port) != 1)
		hl_die("bad arguments");
	snprintf(base, sizeof(base), "%s", argv[2]);
	snprintf(host_port, sizeof(host_port), "127.0.0.1:%hu", port);
	hl_init(port);
	buf = malloc(HL_RESP_MAX);
	reqs = calloc(n, sizeof(*reqs));
	orders = calloc(n, sizeof(*orders));
	if (buf == NULL || reqs == NULL || orders == NULL)
		hl_die("out of memory");

	/* the account and N ready orders, straight in the store */
	if (ll_jwk_generate(&key, "ES256", &err) < 0 ||
	    ll_jwk_thumbprint(tp, key, &err) < 0 ||
	    ll_jwk_json(&jwk, key, &err) < 0 ||
	    lld_store_open(&st, argv[1], &err) < 0 ||
	    lld_store_account_add(st, tp, jwk, "[]", time(NULL), &acct, &err) <
		    0)
		hl_die(err.message);
	snprintf(kid, sizeof(kid), "%s/acme/acct/%lld", base, (long long)acct);
	for (size_t i = 0; i < n; i++) {
		struct lld_order o;
		struct lld_authz a;
		char addr[64], t1[40], t2[40];

		snprintf(addr, sizeof(addr), "bench%zu@example.test", i);
		snprintf(t1, sizeof(t1), "b1-%lld-%zu", (long long)acct, i);
		snprintf(t2, sizeof(t2), "b2-%lld-%zu", (long long)acct, i);
		if (lld_store_order_new(st, acct, addr, t1, t2, time(NULL),
					time(NULL) + 86400, &o, &err) < 0 ||
		    lld_store_authz_get(st, o.authz, &a, &err) < 0 ||
		    lld_store_chall_settle(st, a.chall, 1, NULL, time(NULL),
					   &err) < 0)
			hl_die(err.message);
		orders[i] = o.id;
	}
	lld_store_close(&st);

	/* nonces and signed requests, before the clock */
	ckey = EVP_EC_gen("P-256");
	if (ckey == NULL)
		hl_die("key generation failed");
	fd = hl_connect();
	for (size_t i = 0; i < n; i++) {
		char path[128], payload[1024], addr[64];
		char *head = request("HEAD", "/acme/new-nonce", NULL), *csr;

		hl_send(fd, head, strlen(head));
		free(head);
		if (hl_response(fd, buf, nonce, NULL, NULL) != 200 ||
		    nonce[0] == '\0')
			hl_die("no nonce");
		snprintf(addr, sizeof(addr), "bench%zu@example.test", i);
		csr = make_csr(addr, ckey);
		snprintf(path, sizeof(path), "/acme/order/%lld/finalize",
			 (long long)orders[i]);
		snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
		free(csr);
		reqs[i] = signed_post(key, kid, nonce, path, payload);
	}
	close(fd);
	hl_timed(reqs, NULL, n, conns, "\"status\":\"valid\"", 16, 200,
		 "issue");

	/* the plain request rate: POST-as-GET of the orders just made */
	fd = hl_connect();
	for (size_t i = 0; i < n; i++) {
		char path[128];
		char *head = request("HEAD", "/acme/new-nonce", NULL);

		free(reqs[i]);
		hl_send(fd, head, strlen(head));
		free(head);
		if (hl_response(fd, buf, nonce, NULL, NULL) != 200)
			hl_die("no nonce");
		snprintf(path, sizeof(path), "/acme/order/%lld",
			 (long long)orders[i]);
		reqs[i] = signed_post(key, kid, nonce, path, NULL);
	}
	close(fd);
	hl_timed(reqs, NULL, n, conns, "\"certificate\"", 13, 200,
		 "post-as-get");
	for (size_t i = 0; i < n; i++) {
		free(reqs[i]);
		reqs[i] = request("HEAD", "/acme/new-nonce", NULL);
	}
	hl_timed(reqs, NULL, n, conns, NULL, 0, 200, "new-nonce");
	for (size_t i = 0; i < n; i++)
		free(reqs[i]);
	free(reqs);
	free(orders);
	free(buf);
	free(jwk);
	ll_jwk_free(&key);
	EVP_PKEY_free(ckey);
	return 0;
}
