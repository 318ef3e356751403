/*
 * bench_pkx.c - PKX lookups a second: letterlockd's directory next to
 * nginx serving the same answers as static files and OpenLDAP slapd
 * holding the same certificates as userCertificate (bench/pkx drives
 * it; issue 4, section 6).
 *
 *   bench_pkx fill CADIR N OUT
 *       N real certificates of CADIR's S/MIME CA (`letterlockd init`),
 *       one a mailbox pkxNNNNN@example.test, each for a fresh EC P-256
 *       key, issued with libletterlock's CA (ll_ca_issue: the profile,
 *       the lint, the CA's signature) and recorded in CADIR's store as
 *       an order of one account would record them - which writes the
 *       directory entry.  Writes OUT/addrs ("ADDRESS FINGERPRINT" a
 *       line) and OUT/pkx.ldif (the same certificates as
 *       userCertificate;binary under ou=pkx,dc=bench,dc=example).
 *   bench_pkx mirror PORT ADDRS DIR
 *       GET /pkx/addr/ADDRESS of every address from letterlockd on
 *       127.0.0.1:PORT, each body written to DIR/ADDRESS: the bytes a
 *       lookup answers, for nginx to serve.
 *   bench_pkx http PORT ADDRS N CONNS
 *       N lookups GET /pkx/addr/ADDRESS of random addresses of ADDRS
 *       (the same sequence every time) over CONNS keep-alive
 *       connections; every answer must be 200 and name the address's
 *       certificate by its fingerprint.
 *   bench_pkx ldap PORT ADDRS N CONNS
 *       the same lookups as LDAP searches (mail=ADDRESS) of slapd on
 *       127.0.0.1:PORT, one synchronous ldap_search_ext_s at a time
 *       per connection; every answer must be one entry whose
 *       userCertificate;binary has the fingerprint.
 *
 * The load modes first make one untimed pass over as many random
 * addresses as there are (the server's caches), then print
 * "pkx RATE req/s (...)" with the 50th and 99th percentile latency.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <letterlock/ca.h>

#include "../src/service/keyholder.h"
#include "../src/service/pkx.h"
#include "../src/service/store.h"
#include "httpload.h"

#define LDAP_BASE "ou=pkx,dc=bench,dc=example"
#define ADDR_MAX 64
#define SEED 0x5eed5eedu

struct addr {
	char name[ADDR_MAX];
	char fpr[LLD_FPR_HEX + 1];
};

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n)
		hl_die(path);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static FILE *create(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		hl_die(path);
	return f;
}

/* ---- fill ---- */

static struct ll_ca *load_ca(const char *dir)
{
	struct ll_ca_options opt = LL_CA_OPTIONS_INIT;
	struct ll_error err = { 0 };
	char path[4096], *cert, *key;
	struct ll_ca *ca = NULL;
	size_t certlen, keylen;

	snprintf(path, sizeof(path), "%s/certs/smime-ca.pem", dir);
	cert = read_all(path, &certlen);
	snprintf(path, sizeof(path), "%s/keys/smime-ca.key", dir);
	key = read_all(path, &keylen);
	/* URLs of the shape `letterlockd init` writes (http, as the lint
	 * wants); the certificates' URLs play no part in lookups */
	opt.crl_url = "http://127.0.0.1/crl/smime-ca.crl";
	opt.ocsp_url = "http://127.0.0.1/ocsp";
	opt.ca_issuers_url = "http://127.0.0.1/ca/smime-ca.crt";
	if (ll_ca_new(&ca, cert, certlen, key, keylen, &opt, &err) < 0)
		hl_die(err.message);
	free(cert);
	free(key);
	return ca;
}

/* A certificate for ADDR with a fresh key. */
static struct ll_cert *issue(struct ll_ca *ca, const char *addr)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *req = NULL;
	struct ll_cert *cert = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	unsigned char *spki = NULL;
	int n;

	if (key == NULL || (n = i2d_PUBKEY(key, &spki)) <= 0)
		hl_die("key generation failed");
	if (ll_ca_csr_from_spki(&req, spki, (size_t)n, addr, LL_CA_USAGE_BOTH,
				&err) < 0 ||
	    ll_ca_issue(&cert, ca, req, NULL, &err) < 0)
		hl_die(err.message);
	ll_ca_csr_free(&req);
	OPENSSL_free(spki);
	EVP_PKEY_free(key);
	return cert;
}

/* Record CERT (DER, LEN octets) for ADDR as the certificate of a new
 * order of ACCT. */
static void record(struct lld_store *st, int64_t acct, size_t i,
		   const char *addr, const struct ll_cert *cert,
		   const unsigned char *der, size_t len)
{
	struct ll_error err = { 0 };
	struct lld_order o;
	struct lld_authz a;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	char serial[LLD_SERIAL_MAX + 1], t1[40], t2[40];
	time_t now = time(NULL);

	if (x == NULL || lld_serial_hex(serial, X509_get0_serialNumber(x)) < 0)
		hl_die("the new certificate does not parse");
	snprintf(t1, sizeof(t1), "p1-%zu", i);
	snprintf(t2, sizeof(t2), "p2-%zu", i);
	if (lld_store_order_new(st, acct, addr, t1, t2, now, now + 86400, &o,
				&err) < 0 ||
	    lld_store_authz_get(st, o.authz, &a, &err) < 0 ||
	    lld_store_chall_settle(st, a.chall, 1, NULL, now, &err) < 0 ||
	    lld_store_order_move(st, o.id, "ready", "processing", NULL, 0, NULL,
				 &err) < 0 ||
	    lld_store_cert_add(st, o.id, serial, addr, der, len,
			       ll_cert_not_before(cert),
			       ll_cert_not_after(cert), &err) < 0)
		hl_die(err.message);
	X509_free(x);
}

static int run_fill(const char *dir, size_t n, const char *out)
{
	struct ll_error err = { 0 };
	struct lld_store *st = NULL;
	struct ll_ca *ca = load_ca(dir);
	char path[4096];
	int64_t acct = 0;
	FILE *addrs = create(out, "addrs"), *ldif = create(out, "pkx.ldif");

	snprintf(path, sizeof(path), "%s/letterlockd.db", dir);
	if (lld_store_open(&st, path, &err) < 0 ||
	    lld_store_account_add(st, "bench-pkx-account", "{}", "[]",
				  time(NULL), &acct, &err) < 0)
		hl_die(err.message);
	fprintf(ldif, "dn: dc=bench,dc=example\nobjectClass: dcObject\n"
		      "objectClass: organization\ndc: bench\no: bench\n\n"
		      "dn: " LDAP_BASE "\nobjectClass: organizationalUnit\n"
		      "ou: pkx\n\n");
	for (size_t i = 0; i < n; i++) {
		char addr[ADDR_MAX], fpr[LLD_FPR_HEX + 1];
		size_t len = 0;
		unsigned char *der = NULL;
		struct ll_cert *cert;
		char *b64;

		snprintf(addr, sizeof(addr), "pkx%05zu@example.test", i);
		cert = issue(ca, addr);
		if (ll_cert_der(&der, &len, cert, &err) < 0)
			hl_die(err.message);
		record(st, acct, i, addr, cert, der, len);
		b64 = malloc(4 * ((len + 2) / 3) + 1);
		if (b64 == NULL || lld_sha256_hex(fpr, der, len, &err) < 0)
			hl_die("out of memory");
		EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
		fprintf(addrs, "%s %s\n", addr, fpr);
		fprintf(ldif,
			"dn: mail=%s," LDAP_BASE
			"\nobjectClass: inetOrgPerson\n"
			"cn: %s\nsn: %s\nmail: %s\n"
			"userCertificate;binary:: %s\n\n",
			addr, addr, addr, addr, b64);
		free(b64);
		free(der);
		ll_cert_free(&cert);
	}
	if (fclose(addrs) != 0 || fclose(ldif) != 0)
		hl_die("cannot write the address list or the LDIF");
	lld_store_close(&st);
	ll_ca_free(&ca);
	printf("fill %zu certificates\n", n);
	return 0;
}

/* ---- the addresses and the lookups ---- */

static struct addr *read_addrs(const char *path, size_t *n)
{
	size_t len, cap = 1024;
	char *text = read_all(path, &len), *line, *save = NULL;
	struct addr *a = malloc(cap * sizeof(*a));

	*n = 0;
	for (line = strtok_r(text, "\n", &save); a != NULL && line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (*n == cap)
			a = realloc(a, (cap *= 2) * sizeof(*a));
		if (a == NULL ||
		    sscanf(line, "%63s %64s", a[*n].name, a[*n].fpr) != 2)
			hl_die("bad address list");
		(*n)++;
	}
	if (a == NULL || *n == 0)
		hl_die("no addresses");
	free(text);
	return a;
}

/* N random indices into NA addresses, the same every run. */
static size_t *sequence(size_t n, size_t na)
{
	size_t *seq = malloc(n * sizeof(*seq));
	unsigned x = SEED;

	if (seq == NULL)
		hl_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		seq[i] = x % na;
	}
	return seq;
}

static char *get(unsigned short port, const char *addr)
{
	char *r = NULL;

	if (asprintf(&r,
		     "GET " LLD_PKX_PREFIX "addr/%s HTTP/1.1\r\n"
		     "Host: 127.0.0.1:%hu\r\n\r\n",
		     addr, port) < 0)
		hl_die("out of memory");
	return r;
}

static int run_mirror(unsigned short port, const struct addr *a, size_t na,
		      const char *dir)
{
	char *buf = malloc(HL_RESP_MAX);
	int fd = hl_connect();

	if (buf == NULL)
		hl_die("out of memory");
	for (size_t i = 0; i < na; i++) {
		char *req = get(port, a[i].name);
		size_t body = 0, end = 0;
		FILE *f;

		hl_send(fd, req, strlen(req));
		free(req);
		if (hl_response(fd, buf, NULL, &body, &end) != 200 ||
		    memmem(buf + body, end - body, a[i].fpr, LLD_FPR_HEX) ==
			    NULL)
			hl_die("letterlockd does not answer the entry");
		f = create(dir, a[i].name);
		if (fwrite(buf + body, 1, end - body, f) != end - body ||
		    fclose(f) != 0)
			hl_die("cannot write an entry");
	}
	close(fd);
	free(buf);
	printf("mirror %zu entries\n", na);
	return 0;
}

static int run_http(unsigned short port, const struct addr *a, size_t na,
		    size_t n, size_t conns)
{
	size_t *seq = sequence(n, na);
	char **reqs = calloc(n, sizeof(*reqs));
	const char **wants = calloc(n, sizeof(*wants));

	if (reqs == NULL || wants == NULL)
		hl_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		reqs[i] = get(port, a[seq[i]].name);
		wants[i] = a[seq[i]].fpr;
	}
	hl_timed_each(reqs, NULL, n < na ? n : na, conns, wants, 200,
		      "warm-up");
	hl_timed_each(reqs, NULL, n, conns, wants, 200, "pkx");
	for (size_t i = 0; i < n; i++)
		free(reqs[i]);
	free(reqs);
	free(wants);
	free(seq);
	return 0;
}

/* ---- LDAP ---- */

struct slapd_load {
	char url[64];
	const struct addr *a;
	const size_t *seq;
	char **filters;
};

static void *slapd_open(void *arg, size_t c)
{
	const struct slapd_load *l = arg;
	struct berval anon = { 0, NULL };
	int v3 = LDAP_VERSION3;
	LDAP *ld = NULL;

	if (ldap_initialize(&ld, l->url) != LDAP_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) !=
		    LDAP_OPT_SUCCESS ||
	    ldap_sasl_bind_s(ld, NULL, LDAP_SASL_SIMPLE, &anon, NULL, NULL,
			     NULL) != LDAP_SUCCESS)
		hl_die("cannot bind to slapd");
	return ld;
}

/* Search I: one entry, whose certificate has the fingerprint. */
static int slapd_one(void *conn, size_t i, void *arg)
{
	static char *attrs[] = { "userCertificate;binary", NULL };
	const struct slapd_load *l = arg;
	LDAP *ld = conn;
	LDAPMessage *res = NULL, *e;
	struct berval **v = NULL;
	char fpr[LLD_FPR_HEX + 1];
	int rc = -1;

	if (ldap_search_ext_s(ld, LDAP_BASE, LDAP_SCOPE_ONELEVEL, l->filters[i],
			      attrs, 0, NULL, NULL, NULL, 2,
			      &res) != LDAP_SUCCESS ||
	    ldap_count_entries(ld, res) != 1)
		goto out;
	e = ldap_first_entry(ld, res);
	v = ldap_get_values_len(ld, e, attrs[0]);
	if (v != NULL && v[0] != NULL && v[1] == NULL &&
	    lld_sha256_hex(fpr, v[0]->bv_val, v[0]->bv_len, NULL) == 0 &&
	    strcmp(fpr, l->a[l->seq[i]].fpr) == 0)
		rc = 0;
out:
	ldap_value_free_len(v);
	ldap_msgfree(res);
	return rc;
}

static void slapd_close(void *conn, void *arg)
{
	ldap_unbind_ext_s(conn, NULL, NULL);
}

static int run_ldap(unsigned short port, const struct addr *a, size_t na,
		    size_t n, size_t conns)
{
	struct slapd_load l = { .a = a, .seq = sequence(n, na) };
	struct hl_proto p = { slapd_open, slapd_one, slapd_close, &l };

	snprintf(l.url, sizeof(l.url), "ldap://127.0.0.1:%hu", port);
	l.filters = calloc(n, sizeof(*l.filters));
	if (l.filters == NULL)
		hl_die("out of memory");
	/* the addresses hold nothing a filter must escape */
	for (size_t i = 0; i < n; i++)
		if (asprintf(&l.filters[i], "(mail=%s)", a[l.seq[i]].name) < 0)
			hl_die("out of memory");
	hl_run(&p, n < na ? n : na, conns, "warm-up");
	hl_run(&p, n, conns, "pkx");
	for (size_t i = 0; i < n; i++)
		free(l.filters[i]);
	free(l.filters);
	free((void *)l.seq);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	unsigned short port = 0;
	struct addr *a = NULL;
	size_t na = 0, n = 0, conns = 0;
	int rc;

	if (strcmp(mode, "fill") == 0 && argc == 5)
		return run_fill(argv[2], strtoul(argv[3], NULL, 10), argv[4]);
	if (argc < 5 || sscanf(argv[2], "%hu", &port) != 1)
		hl_die("usage: bench_pkx fill CADIR N OUT | mirror PORT ADDRS "
		       "DIR | http PORT ADDRS N CONNS | ldap PORT ADDRS N "
		       "CONNS");
	hl_init(port);
	a = read_addrs(argv[3], &na);
	if (strcmp(mode, "mirror") == 0 && argc == 5) {
		rc = run_mirror(port, a, na, argv[4]);
		free(a);
		return rc;
	}
	if (argc == 6) {
		n = strtoul(argv[4], NULL, 10);
		conns = strtoul(argv[5], NULL, 10);
	}
	if (n < 1 || conns < 1 || conns > HL_MAX_CONNS || conns > n)
		hl_die("bad N or CONNS");
	if (strcmp(mode, "http") == 0)
		rc = run_http(port, a, na, n, conns);
	else if (strcmp(mode, "ldap") == 0)
		rc = run_ldap(port, a, na, n, conns);
	else
		hl_die("unknown mode");
	free(a);
	return rc;
}
