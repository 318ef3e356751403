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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <letterlock/jose.h>

#include "../src/service/store.h"

#define MAX_CONNS 16
#define RESP_MAX (256 * 1024)

static char host_port[64];
static char base[128];
static unsigned short port;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_acme: %s\n", what);
	exit(1);
}

static int connect_to(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("cannot connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write failed");
		p += w;
		n -= (size_t)w;
	}
}

/* One response into BUF (NUL-terminated); its status, and the
 * Replay-Nonce into NONCE when not NULL. */
static int read_response(int fd, char *buf, char *nonce)
{
	size_t have = 0, need = 0;
	char *hdr_end = NULL;
	int status = 0;

	for (;;) {
		ssize_t r;

		if (hdr_end != NULL && have >= need)
			break;
		if (have >= RESP_MAX - 1)
			die("response too large");
		r = read(fd, buf + have, RESP_MAX - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("connection closed");
		have += (size_t)r;
		buf[have] = '\0';
		if (hdr_end == NULL) {
			char *cl;

			hdr_end = strstr(buf, "\r\n\r\n");
			if (hdr_end == NULL)
				continue;
			cl = strcasestr(buf, "\r\nContent-Length:");
			need = (size_t)(hdr_end - buf) + 4 +
			       (cl && cl < hdr_end ? strtoul(cl + 17, NULL, 10)
						   : 0);
		}
	}
	sscanf(buf, "HTTP/1.1 %d", &status);
	if (nonce != NULL) {
		char *n = strcasestr(buf, "\r\nReplay-Nonce:");

		nonce[0] = '\0';
		if (n != NULL)
			sscanf(n + 15, " %63[A-Za-z0-9_-]", nonce);
	}
	return status;
}

static char *request(const char *method, const char *path, const char *body)
{
	char *out = NULL;
	size_t blen = body ? strlen(body) : 0;

	if (asprintf(&out,
		     "%s %s HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Type: application/jose+json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     method, path, host_port, blen, body ? body : "") < 0)
		die("out of memory");
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
		die(err.message);
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
		die("CSR signing failed");
	len = i2d_X509_REQ(req, &der);
	if (len <= 0 || ll_b64url_encode(&out, NULL, der, (size_t)len, &err) < 0)
		die("CSR encoding failed");
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return out;
}

struct job {
	char **reqs;
	size_t n;
	const char *want; /* substring every answer must have */
	int want_status;
	size_t bad;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	char *buf = malloc(RESP_MAX);
	int fd = connect_to();

	if (buf == NULL)
		die("out of memory");
	for (size_t i = 0; i < j->n; i++) {
		send_all(fd, j->reqs[i], strlen(j->reqs[i]));
		if (read_response(fd, buf, NULL) != j->want_status ||
		    (j->want && !strstr(buf, j->want)))
			j->bad++;
	}
	close(fd);
	free(buf);
	return NULL;
}

/* Send REQS over CONNS connections at once; requests per second. */
static double timed(char **reqs, size_t n, size_t conns, const char *want,
		    int status, const char *name)
{
	struct job jobs[MAX_CONNS];
	pthread_t th[MAX_CONNS];
	size_t per = n / conns, bad = 0;
	double t0, dt;

	for (size_t c = 0; c < conns; c++) {
		jobs[c] = (struct job){ reqs + c * per,
					c + 1 == conns ? n - c * per : per,
					want, status, 0 };
	}
	t0 = now_s();
	for (size_t c = 0; c < conns; c++)
		pthread_create(&th[c], NULL, run_job, &jobs[c]);
	for (size_t c = 0; c < conns; c++) {
		pthread_join(th[c], NULL);
		bad += jobs[c].bad;
	}
	dt = now_s() - t0;
	if (bad > 0) {
		fprintf(stderr, "bench_acme: %s: %zu of %zu answers wrong\n",
			name, bad, n);
		exit(1);
	}
	printf("%s %.0f req/s (%zu in %.2f s, %zu connections)\n", name,
	       (double)n / dt, n, dt, conns);
	return (double)n / dt;
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
		die("usage: bench_acme STORE URL N CONNS");
	n = strtoul(argv[3], NULL, 10);
	conns = strtoul(argv[4], NULL, 10);
	if (n < 1 || conns < 1 || conns > MAX_CONNS ||
	    sscanf(argv[2], "http://127.0.0.1:%hu", &port) != 1)
		die("bad arguments");
	snprintf(base, sizeof(base), "%s", argv[2]);
	snprintf(host_port, sizeof(host_port), "127.0.0.1:%hu", port);
	buf = malloc(RESP_MAX);
	reqs = calloc(n, sizeof(*reqs));
	orders = calloc(n, sizeof(*orders));
	if (buf == NULL || reqs == NULL || orders == NULL)
		die("out of memory");

	/* the account and N ready orders, straight in the store */
	if (ll_jwk_generate(&key, "ES256", &err) < 0 ||
	    ll_jwk_thumbprint(tp, key, &err) < 0 ||
	    ll_jwk_json(&jwk, key, &err) < 0 ||
	    lld_store_open(&st, argv[1], &err) < 0 ||
	    lld_store_account_add(st, tp, jwk, "[]", time(NULL), &acct,
				  &err) < 0)
		die(err.message);
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
			die(err.message);
		orders[i] = o.id;
	}
	lld_store_close(&st);

	/* nonces and signed requests, before the clock */
	ckey = EVP_EC_gen("P-256");
	if (ckey == NULL)
		die("key generation failed");
	fd = connect_to();
	for (size_t i = 0; i < n; i++) {
		char path[128], payload[1024], addr[64];
		char *head = request("HEAD", "/acme/new-nonce", NULL), *csr;

		send_all(fd, head, strlen(head));
		free(head);
		if (read_response(fd, buf, nonce) != 200 || nonce[0] == '\0')
			die("no nonce");
		snprintf(addr, sizeof(addr), "bench%zu@example.test", i);
		csr = make_csr(addr, ckey);
		snprintf(path, sizeof(path), "/acme/order/%lld/finalize",
			 (long long)orders[i]);
		snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
		free(csr);
		reqs[i] = signed_post(key, kid, nonce, path, payload);
	}
	close(fd);
	timed(reqs, n, conns, "\"status\":\"valid\"", 200, "issue");

	/* the plain request rate: POST-as-GET of the orders just made */
	fd = connect_to();
	for (size_t i = 0; i < n; i++) {
		char path[128];
		char *head = request("HEAD", "/acme/new-nonce", NULL);

		free(reqs[i]);
		send_all(fd, head, strlen(head));
		free(head);
		if (read_response(fd, buf, nonce) != 200)
			die("no nonce");
		snprintf(path, sizeof(path), "/acme/order/%lld",
			 (long long)orders[i]);
		reqs[i] = signed_post(key, kid, nonce, path, NULL);
	}
	close(fd);
	timed(reqs, n, conns, "\"certificate\"", 200, "post-as-get");
	for (size_t i = 0; i < n; i++) {
		free(reqs[i]);
		reqs[i] = request("HEAD", "/acme/new-nonce", NULL);
	}
	timed(reqs, n, conns, NULL, 200, "new-nonce");
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
