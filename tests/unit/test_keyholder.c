/*
 * test_keyholder.c - src/service/keyholder.c, kh_*.c: the process that holds
 * letterlockd's signing keys, run for real (forked) over a CA directory
 * made by `letterlockd init` (lld_cmd_init), and the new init options.
 * What comes back is checked with OpenSSL's own APIs (CRL and OCSP
 * verification) and libletterlock's ll_msg_open (the challenge mail).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

#include "keyholder.h"
#include "service.h"
#include "tsa.h"

#define CA_NAME      \
	"Pr\xc3\xbc" \
	"f CA" /* Prüf CA: the mail body goes QP */
#define BASE "http://ca.test:8080"
#define MAIL_FROM "acme@ca.test"
#define ALICE "alice@example.test"
#define BOB "bob@example.test"
#define NOW ((time_t)1700000000) /* Tue, 14 Nov 2023 22:13:20 UTC */

struct fixture {
	char tmp[64];
	char dir[128];
	struct lld_conf conf;
	X509 *root, *smime, *ocsp;
	EVP_PKEY *smime_key; /* read here, for the CRL check */
	EVP_PKEY *p256, *rsa2048, *rsa1024;
	struct lld_kh *kh;
};

static struct fixture F;

/* ------------------------------------------------------------ helpers */

/* Run lld_cmd_init on ARGV with stdout and stderr silenced. */
static int quiet_init(int argc, char **argv)
{
	int out = dup(STDOUT_FILENO), errfd = dup(STDERR_FILENO);
	int null = open("/dev/null", O_WRONLY);
	int rc;

	assert_true(out >= 0 && errfd >= 0 && null >= 0);
	fflush(stdout);
	fflush(stderr);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	rc = lld_cmd_init(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(errfd, STDERR_FILENO);
	close(out);
	close(errfd);
	close(null);
	return rc;
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	buf = malloc(1 << 20);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

static X509 *read_cert(const char *name)
{
	char *pem = slurp(F.dir, name, NULL);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	assert_non_null(x);
	BIO_free(b);
	free(pem);
	return x;
}

static void start(void)
{
	struct ll_error err = { 0 };

	if (lld_kh_start(&F.kh, F.dir, &F.conf, LLD_KH_CA, &err) < 0)
		fail_msg("lld_kh_start: %s [%s]", err.message, err.detail);
}

static void restart(void)
{
	lld_kh_stop(&F.kh);
	start();
}

/* A PKCS#10 request by KEY for EMAIL (SAN rfc822Name), DER. */
static unsigned char *make_csr(size_t *len, EVP_PKEY *key, const char *email)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_NAME *nm = X509_NAME_new();
	char san[128];
	unsigned char *der = NULL, *out;
	int n;

	snprintf(san, sizeof(san), "email:%s", email);
	assert_true(req && exts && nm);
	assert_true(X509_NAME_add_entry_by_NID(
		nm, NID_commonName, MBSTRING_UTF8, (const unsigned char *)email,
		-1, -1, 0));
	assert_true(X509_REQ_set_subject_name(req, nm));
	assert_true(X509_REQ_set_pubkey(req, key));
	sk_X509_EXTENSION_push(exts,
			       X509V3_EXT_conf_nid(NULL, NULL,
						   NID_subject_alt_name, san));
	assert_true(X509_REQ_add_extensions(req, exts));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	out = malloc((size_t)n);
	assert_non_null(out);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	X509_NAME_free(nm);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return out;
}

/* What the front sends for a CSR by KEY for EMAIL: the request parsed
 * and checked (ll_ca_csr_parse), its key re-encoded (ll_ca_csr_spki),
 * its usage. */
struct req {
	unsigned char *spki;
	size_t len;
	unsigned usage;
};

static void make_req(struct req *q, EVP_PKEY *key, const char *email)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *csr = NULL;
	size_t csrlen = 0;
	unsigned char *der = make_csr(&csrlen, key, email);

	memset(q, 0, sizeof(*q));
	if (ll_ca_csr_parse(&csr, der, csrlen, email, &err) < 0 ||
	    ll_ca_csr_spki(&q->spki, &q->len, csr, &err) < 0)
		fail_msg("CSR for %s: %s", email, err.message);
	q->usage = ll_ca_csr_usage(csr);
	ll_ca_csr_free(&csr);
	free(der);
}

/* KEY's SubjectPublicKeyInfo as OpenSSL encodes it, with no CSR: for
 * keys ll_ca_csr_parse would refuse. */
static void key_req(struct req *q, EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);

	assert_true(n > 0);
	memset(q, 0, sizeof(*q));
	q->spki = malloc((size_t)n);
	assert_non_null(q->spki);
	memcpy(q->spki, der, (size_t)n);
	q->len = (size_t)n;
	OPENSSL_free(der);
}

struct issued {
	unsigned char *der;
	size_t len;
	char serial[LLD_SERIAL_MAX + 1];
};

static int req_issue(struct issued *out, int64_t order, const struct req *q,
		     const char *email, int days, struct ll_error *err)
{
	memset(out, 0, sizeof(*out));
	return lld_kh_issue(F.kh, order, email, q->spki, q->len, q->usage, days,
			    &out->der, &out->len, out->serial, err);
}

/* Order ORDER for EMAIL, from a CSR by KEY for EMAIL. */
static int try_issue(struct issued *out, int64_t order, EVP_PKEY *key,
		     const char *email, struct ll_error *err)
{
	struct req q;
	int rc;

	make_req(&q, key, email);
	rc = req_issue(out, order, &q, email, 0, err);
	free(q.spki);
	return rc;
}

static void issue(struct issued *out, int64_t order, EVP_PKEY *key,
		  const char *email)
{
	struct ll_error err = { 0 };

	if (try_issue(out, order, key, email, &err) < 0)
		fail_msg("issue order %lld: %s [%s]", (long long)order,
			 err.message, err.detail);
}

static X509 *der_cert(const struct issued *c)
{
	const unsigned char *p = c->der;
	X509 *x = d2i_X509(NULL, &p, (long)c->len);

	assert_non_null(x);
	return x;
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	assert_non_null(t);
	assert_true(ASN1_TIME_to_tm(t, &tm));
	return timegm(&tm);
}

/* The keyholder: our one child that is not a zombie; 0 if none. */
static pid_t child_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	int count = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[64], buf[512], *rp, *end, state;
		long pid = strtol(e->d_name, &end, 10), ppid;
		size_t n;
		FILE *f;

		if (*end != '\0' || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		rp = strrchr(buf, ')');
		if (rp != NULL &&
		    sscanf(rp + 2, "%c %ld", &state, &ppid) == 2 &&
		    ppid == (long)getpid() && state != 'Z') {
			found = (pid_t)pid;
			count++;
		}
	}
	closedir(d);
	assert_true(count <= 1);
	return found;
}

/* 1 if PID is gone or a zombie. */
static int dead(pid_t pid)
{
	char path[64], buf[512], *rp, state;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp != NULL && sscanf(rp + 2, "%c", &state) == 1 &&
	       (state == 'Z' || state == 'X');
}

/* The front's end of the keyholder socket: our one socket. */
static int kh_socket(void)
{
	int found = -1;

	for (int fd = 3; fd < 1024; fd++) {
		struct stat st;

		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
			assert_int_equal(found, -1);
			found = fd;
		}
	}
	assert_true(found >= 0);
	return found;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int ocsp_call(const char *serial, unsigned char **der, size_t *len,
		     struct ll_error *err)
{
	struct lld_ocsp_item it = { 0 };

	it.status = LLD_OCSP_GOOD;
	it.reason = -1;
	snprintf(it.serial, sizeof(it.serial), "%s", serial);
	return lld_kh_ocsp(F.kh, &it, NULL, 0, NOW, der, len, err);
}

/* ------------------------------------------------------------ fixture */

static int group_setup(void **state)
{
	char *argv[] = {
		"init",
		"--dir",
		F.dir,
		"--name",
		CA_NAME,
		"--base-url",
		BASE,
		"--country",
		"DE",
		"--listen",
		"[::1]:8443",
		"--mail-from",
		MAIL_FROM,
		"--smtp-url",
		"smtp://127.0.0.1:2587",
		"--imap-url",
		"imap://127.0.0.1:2143/INBOX",
		"--mail-password-file",
		"/etc/letterlockd/mail.password",
		"--caa-identity",
		"ca.test",
	};
	const char *tmp = getenv("TMPDIR");
	char *pem;
	BIO *b;

	(void)state;
	snprintf(F.tmp, sizeof(F.tmp), "%s/test_keyholder.XXXXXX",
		 tmp != NULL && strlen(tmp) < 30 ? tmp : "/tmp");
	if (mkdtemp(F.tmp) == NULL)
		return -1;
	snprintf(F.dir, sizeof(F.dir), "%s/ca", F.tmp);
	if (quiet_init((int)(sizeof(argv) / sizeof(argv[0])), argv) !=
	    LLD_EXIT_OK)
		return -1;
	if (lld_conf_load(&F.conf, F.dir) < 0)
		return -1;
	F.root = read_cert("certs/root.pem");
	F.smime = read_cert("certs/smime-ca.pem");
	F.ocsp = read_cert("certs/ocsp.pem");
	pem = slurp(F.dir, "keys/smime-ca.key", NULL);
	b = BIO_new_mem_buf(pem, -1);
	F.smime_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	free(pem);
	F.p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	F.rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	F.rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (F.smime_key == NULL || F.p256 == NULL || F.rsa2048 == NULL ||
	    F.rsa1024 == NULL)
		return -1;
	start();
	return 0;
}

static int rm_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char sub[1024];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rm_tree(sub);
	}
	closedir(d);
	return rmdir(path);
}

static int group_teardown(void **state)
{
	(void)state;
	lld_kh_stop(&F.kh);
	X509_free(F.root);
	X509_free(F.smime);
	X509_free(F.ocsp);
	EVP_PKEY_free(F.smime_key);
	EVP_PKEY_free(F.p256);
	EVP_PKEY_free(F.rsa2048);
	EVP_PKEY_free(F.rsa1024);
	rm_tree(F.tmp);
	return 0;
}

/* -------------------------------------------------------------- init */

static void test_init_files(void **state)
{
	struct stat st;
	char path[256], *text;
	X509 *mail;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	STACK_OF(X509_INFO) * infos;
	BIO *b;
	uint32_t ku;

	(void)state;
	snprintf(path, sizeof(path), "%s/keys/mail.key", F.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_string_equal(F.conf.mail_from, MAIL_FROM);
	assert_string_equal(F.conf.mail_user, MAIL_FROM);
	assert_string_equal(F.conf.smtp_url, "smtp://127.0.0.1:2587");
	assert_string_equal(F.conf.imap_url, "imap://127.0.0.1:2143/INBOX");
	assert_string_equal(F.conf.mail_password_file,
			    "/etc/letterlockd/mail.password");
	assert_string_equal(F.conf.mail_ca_file, "");
	assert_string_equal(F.conf.listen, "[::1]:8443");
	assert_string_equal(F.conf.caa_identity, "ca.test");
	assert_string_equal(F.conf.resolver_conf, "");

	/* mail.pem: the certificate, the S/MIME CA, the root */
	text = slurp(F.dir, "certs/mail.pem", NULL);
	b = BIO_new_mem_buf(text, -1);
	infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	assert_non_null(infos);
	assert_int_equal(sk_X509_INFO_num(infos), 3);
	mail = sk_X509_INFO_value(infos, 0)->x509;
	assert_int_equal(X509_cmp(sk_X509_INFO_value(infos, 1)->x509, F.smime),
			 0);
	assert_int_equal(X509_cmp(sk_X509_INFO_value(infos, 2)->x509, F.root),
			 0);
	assert_int_equal(X509_check_email(mail, MAIL_FROM, 0, 0), 1);
	ku = X509_get_key_usage(mail);
	assert_int_equal(ku, KU_DIGITAL_SIGNATURE); /* signing only */
	assert_true(X509_get_extended_key_usage(mail) & XKU_SMIME);
	sk_X509_push(chain, F.smime);
	X509_STORE_add_cert(store, F.root);
	assert_true(X509_STORE_CTX_init(vc, store, mail, chain));
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SMIME_SIGN);
	assert_int_equal(X509_verify_cert(vc), 1);
	X509_STORE_CTX_free(vc);
	X509_STORE_free(store);
	sk_X509_free(chain);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(b);
	free(text);

	text = slurp(F.dir, LLD_CONF_NAME, NULL);
	assert_non_null(strstr(text, "\n[mail]\nfrom = " MAIL_FROM "\n"));
	assert_non_null(strstr(text, "\n[dns]\ncaa_identity = ca.test\n"));
	free(text);
}

static void test_init_bad_options(void **state)
{
	static const char *const bad[][4] = {
		{ "--listen", "127.0.0.1", NULL, NULL },
		{ "--listen", "127.0.0.1:0", NULL, NULL },
		{ "--listen", "::1:80", NULL, NULL },
		{ "--mail-from", MAIL_FROM, NULL, NULL }, /* no URLs */
		{ "--smtp-url", "smtp://h", NULL, NULL }, /* no --mail-from */
		{ "--mail-ca-file", "/x", NULL, NULL },
		{ "--resolver-conf", "unbound.conf", NULL, NULL },
		{ "--caa-identity", "CA.test", NULL, NULL },
		{ "--caa-identity", "ca..test", NULL, NULL },
		{ "--mail-from", "not an address", "--smtp-url", "smtp://h" },
		{ "--mail-from", MAIL_FROM, "--smtp-url", "http://h" },
		{ "--mail-from", "a@b.test;x", "--smtp-url", "smtp://h" },
	};
	char dir[160];
	struct stat st;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bad", F.tmp);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[9] = { "init", "--dir", dir };
		int argc = 3;

		for (int k = 0; k < 4 && bad[i][k] != NULL; k++)
			argv[argc++] = (char *)bad[i][k];
		if (argc == 7) { /* --mail-from and --smtp-url given */
			argv[argc++] = "--imap-url";
			argv[argc++] = "imap://h/INBOX";
		}
		if (quiet_init(argc, argv) != LLD_EXIT_USAGE)
			fail_msg("case %zu (%s %s) was not refused", i,
				 bad[i][0], bad[i][1]);
		assert_int_equal(stat(dir, &st), -1); /* nothing written */
	}
}

/* ------------------------------------------------------------- issue */

static void check_serial(const struct issued *c)
{
	X509 *x = der_cert(c);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = BN_bn2hex(bn);
	const char *h = hex;
	char want[64];
	size_t i;

	while (*h == '0')
		h++;
	for (i = 0; h[i] != '\0'; i++)
		want[i] = (char)(h[i] >= 'A' && h[i] <= 'F' ? h[i] - 'A' + 'a' :
							      h[i]);
	want[i] = '\0';
	assert_string_equal(c->serial, want);
	assert_true(c->serial[0] != '0');
	OPENSSL_free(hex);
	BN_free(bn);
	/* issued by the S/MIME CA, for the address */
	assert_int_equal(X509_verify(x, X509_get0_pubkey(F.smime)), 1);
	assert_int_equal(X509_check_email(x, ALICE, 0, 0), 1);
	X509_free(x);
}

static void validity_days(const struct issued *c, long days)
{
	X509 *x = der_cert(c);
	time_t nb = asn1_time(X509_get0_notBefore(x));
	time_t na = asn1_time(X509_get0_notAfter(x));

	assert_int_equal((na - nb + 1) / 86400, days);
	X509_free(x);
}

static void test_issue(void **state)
{
	struct issued a, a2, b, r;

	(void)state;
	issue(&a, 1, F.p256, ALICE);
	check_serial(&a);
	issue(&a2, 1, F.p256, ALICE); /* the same order: the same cert */
	assert_int_equal(a.len, a2.len);
	assert_memory_equal(a.der, a2.der, a.len);
	assert_string_equal(a.serial, a2.serial);
	issue(&b, 2, F.p256, ALICE); /* another order: another cert */
	check_serial(&b);
	assert_string_not_equal(a.serial, b.serial);
	issue(&r, 3, F.rsa2048, ALICE);
	check_serial(&r);
	validity_days(&r, 365); /* the configured default */
	free(a.der);
	free(a2.der);
	free(b.der);
	free(r.der);
}

static void test_issue_days(void **state)
{
	struct ll_error err = { 0 };
	struct issued c = { 0 };
	struct req q;

	(void)state;
	make_req(&q, F.p256, ALICE);
	assert_int_equal(req_issue(&c, 4, &q, ALICE, 30, &err), 0);
	validity_days(&c, 30);
	free(c.der);
	assert_int_equal(req_issue(&c, 5, &q, ALICE, LL_CA_MAX_DAYS + 1, &err),
			 LL_EPOLICY);
	assert_null(c.der);
	free(q.spki);
}

/* The keyUsage of the certificate of ORDER issued for Q with USAGE. */
static uint32_t usage_ku(int64_t order, struct req *q, unsigned usage)
{
	struct ll_error err = { 0 };
	struct issued c;
	uint32_t ku;
	X509 *x;

	q->usage = usage;
	if (req_issue(&c, order, q, ALICE, 0, &err) < 0)
		fail_msg("issue order %lld: %s", (long long)order, err.message);
	x = der_cert(&c);
	ku = X509_get_key_usage(x);
	X509_free(x);
	free(c.der);
	return ku;
}

/* The usage asked goes into keyUsage; usage bits beyond
 * LL_CA_USAGE_BOTH are not sent. */
static void test_issue_usage(void **state)
{
	struct ll_error err = { 0 };
	struct issued c;
	struct req q;

	(void)state;
	make_req(&q, F.p256, ALICE);
	assert_int_equal(q.usage, 0);
	assert_int_equal(usage_ku(6, &q, LL_CA_USAGE_SIGN),
			 KU_DIGITAL_SIGNATURE);
	assert_int_equal(usage_ku(7, &q, LL_CA_USAGE_ENCRYPT),
			 KU_KEY_AGREEMENT);
	q.usage = 4;
	assert_int_equal(req_issue(&c, 8, &q, ALICE, 0, &err), LL_EINVAL);
	assert_null(c.der);
	free(q.spki);
}

static void test_issue_refused(void **state)
{
	struct ll_error err = { 0 };
	struct issued c;
	struct req q;

	(void)state;
	/* a key the profile refuses (the front's ll_ca_csr_parse would
	 * too): the keyholder checks it again, nothing is journaled, and
	 * it serves on */
	key_req(&q, F.rsa1024);
	assert_int_equal(req_issue(&c, 10, &q, ALICE, 0, &err), LL_EPOLICY);
	assert_non_null(strstr(err.message, "1024 bits"));
	assert_null(c.der);
	free(q.spki);
	/* an SPKI that does not decode, or with an octet after it */
	q.spki = (unsigned char *)"\x30\x03\x02\x01\x00";
	q.len = 5;
	assert_int_equal(req_issue(&c, 10, &q, ALICE, 0, &err), LL_EPARSE);
	make_req(&q, F.p256, ALICE);
	q.spki = realloc(q.spki, q.len + 1);
	assert_non_null(q.spki);
	q.spki[q.len++] = 0;
	assert_int_equal(req_issue(&c, 10, &q, ALICE, 0, &err), LL_EPARSE);
	q.len--;
	/* an address of the right characters the CA cannot certify */
	assert_int_equal(req_issue(&c, 10, &q, "alice@localhost", 0, &err),
			 LL_EINVAL);
	issue(&c, 10, F.p256, ALICE);
	free(c.der);
	/* order 10 is taken now: another request for it is refused */
	assert_int_equal(try_issue(&c, 10, F.rsa2048, ALICE, &err), LL_EEXIST);
	assert_int_equal(req_issue(&c, 11, &q, "no address", 0, &err),
			 LL_EINVAL);
	free(q.spki);
}

/* An order is issued for one key: another key of the same type, or the
 * same key for another address, is refused; the first again is not. */
static void test_issue_other_key(void **state)
{
	struct ll_error err = { 0 };
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct issued a, b, c;

	(void)state;
	assert_non_null(other);
	issue(&a, 12, F.p256, ALICE);
	assert_int_equal(try_issue(&c, 12, other, ALICE, &err), LL_EEXIST);
	assert_null(c.der);
	assert_non_null(strstr(err.message, "another request"));
	assert_int_equal(try_issue(&c, 12, F.p256, BOB, &err), LL_EEXIST);
	assert_null(c.der);
	issue(&b, 12, F.p256, ALICE);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.der, b.der, a.len);
	issue(&c, 13, other, ALICE); /* the key itself is fine */
	check_serial(&c);
	free(a.der);
	free(b.der);
	free(c.der);
	EVP_PKEY_free(other);
}

/* Pipelined: three requests sent before the first answer is read; the
 * answers come back in order, each for its own request, and a refusal
 * in the middle does not shift the others. */
static void test_issue_pipelined(void **state)
{
	static const char *const who[] = { ALICE, BOB, ALICE };
	struct ll_error err = { 0 };
	struct issued one = { 0 };
	struct req q[3];
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);

	(void)state;
	assert_non_null(small);
	make_req(&q[0], F.p256, ALICE);
	make_req(&q[1], F.p256, BOB);
	key_req(&q[2], small); /* refused by the keyholder's key check */
	for (int i = 0; i < 3; i++)
		assert_int_equal(lld_kh_issue_send(F.kh, 40 + i, who[i],
						   q[i].spki, q[i].len,
						   q[i].usage, 0, &err),
				 0);
	for (int i = 0; i < 3; i++) {
		unsigned char *der = NULL;
		const unsigned char *p;
		size_t len = 0;
		char serial[LLD_SERIAL_MAX + 1];
		X509 *x;
		int rc = lld_kh_issue_recv(F.kh, &der, &len, serial, &err);

		if (i == 2) {
			assert_int_equal(rc, LL_EPOLICY);
			assert_null(der);
			break;
		}
		assert_int_equal(rc, 0);
		p = der;
		x = d2i_X509(NULL, &p, (long)len);
		assert_non_null(x);
		assert_int_equal(X509_check_email(x, who[i], 0, 0), 1);
		X509_free(x);
		free(der);
	}
	/* the keyholder is still in step: a plain call works */
	assert_int_equal(try_issue(&one, 43, F.p256, ALICE, &err), 0);
	free(one.der);
	for (int i = 0; i < 3; i++)
		free(q[i].spki);
	EVP_PKEY_free(small);
}

/* --------------------------------------------------------------- CRL */

static X509_CRL *get_crl(const struct lld_revoked *list, size_t n, time_t now)
{
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl;

	if (lld_kh_crl(F.kh, list, n, now, &der, &len, &err) < 0)
		fail_msg("lld_kh_crl: %s [%s]", err.message, err.detail);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_true(p == der + len);
	free(der);
	return crl;
}

static long crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v;

	assert_non_null(n);
	v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

/* The reasonCode of the entry SERIAL: -1 when absent. */
static int entry_reason(X509_CRL *crl, const char *serial, time_t *when)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn;
	X509_REVOKED *rv = NULL;
	ASN1_ENUMERATED *e;
	int crit = 0, r = -1;

	assert_true(BN_hex2bn(&bn, serial) > 0);
	sn = BN_to_ASN1_INTEGER(bn, NULL);
	assert_int_equal(X509_CRL_get0_by_serial(crl, &rv, sn), 1);
	*when = asn1_time(X509_REVOKED_get0_revocationDate(rv));
	e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, &crit, NULL);
	if (e != NULL) {
		r = (int)ASN1_ENUMERATED_get(e);
		assert_int_equal(crit, 0);
	}
	ASN1_ENUMERATED_free(e);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return r;
}

static void test_crl(void **state)
{
	struct lld_revoked list[4] = {
		{ "", NOW - 400, 1 }, /* keyCompromise */
		{ "1f", NOW - 300, 0 }, /* unspecified: no reasonCode */
		{ "abc", NOW - 200, -1 },
		{ "ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00", NOW - 100, 4 },
	};
	struct ll_error err = { 0 };
	struct issued c;
	X509_CRL *crl, *crl2;
	AUTHORITY_KEYID *akid;
	unsigned char *der = NULL;
	size_t len = 0;
	time_t when;
	long n1, n2;

	(void)state;
	issue(&c, 20, F.p256, ALICE);
	snprintf(list[0].serial, sizeof(list[0].serial), "%s", c.serial);
	free(c.der);
	crl = get_crl(list, 4, NOW);
	assert_int_equal(X509_CRL_verify(crl, F.smime_key), 1);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(F.smime)), 1);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_CRL_get_signature_nid(crl),
			 NID_ecdsa_with_SHA256);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl),
				       X509_get_subject_name(F.smime)),
			 0);
	assert_int_equal(asn1_time(X509_CRL_get0_lastUpdate(crl)), NOW);
	assert_int_equal(asn1_time(X509_CRL_get0_nextUpdate(crl)),
			 NOW + 7 * 86400);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 4);
	assert_int_equal(entry_reason(crl, list[0].serial, &when), 1);
	assert_int_equal(when, NOW - 400);
	assert_int_equal(entry_reason(crl, "1f", &when), -1);
	assert_int_equal(when, NOW - 300);
	assert_int_equal(entry_reason(crl, "abc", &when), -1);
	assert_int_equal(entry_reason(crl, list[3].serial, &when), 4);
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL,
				    NULL);
	assert_non_null(akid);
	assert_non_null(akid->keyid);
	assert_int_equal(
		ASN1_OCTET_STRING_cmp(akid->keyid,
				      X509_get0_subject_key_id(F.smime)),
		0);
	AUTHORITY_KEYID_free(akid);
	n1 = crl_number(crl);
	assert_true(n1 >= 1);

	/* an empty CRL, later: the number goes up */
	crl2 = get_crl(NULL, 0, NOW + 3600);
	assert_int_equal(X509_CRL_verify(crl2, F.smime_key), 1);
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl2)) <= 0);
	n2 = crl_number(crl2);
	assert_true(n2 > n1);
	X509_CRL_free(crl);
	X509_CRL_free(crl2);

	/* a serial twice is refused; out-of-range input is not sent */
	snprintf(list[1].serial, sizeof(list[1].serial), "%s", "abc");
	assert_int_equal(lld_kh_crl(F.kh, list, 4, NOW, &der, &len, &err),
			 LL_EINVAL);
	list[1].reason = 7;
	assert_int_equal(lld_kh_crl(F.kh, list, 2, NOW, &der, &len, &err),
			 LL_EINVAL);
	list[1].reason = 0;
	snprintf(list[1].serial, sizeof(list[1].serial), "%s", "ABC");
	assert_int_equal(lld_kh_crl(F.kh, list, 2, NOW, &der, &len, &err),
			 LL_EINVAL);
	assert_null(der);
}

/* The largest CRL: LLD_KH_CRL_MAX entries of 20-octet serials, every
 * one with a reasonCode and a GeneralizedTime (after 2049). */
static void test_crl_full(void **state)
{
	struct lld_revoked *list = calloc(LLD_KH_CRL_MAX, sizeof(*list));
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	time_t late = (time_t)2600000000; /* 2052 */
	X509_CRL *crl;

	(void)state;
	assert_non_null(list);
	for (size_t i = 0; i < LLD_KH_CRL_MAX; i++) {
		snprintf(list[i].serial, sizeof(list[i].serial),
			 "ff%030zx%08zx", i, i);
		list[i].when = late - (time_t)i;
		list[i].reason = 4;
	}
	assert_int_equal(lld_kh_crl(F.kh, list, LLD_KH_CRL_MAX + 1, late, &der,
				    &len, &err),
			 LL_ETOOBIG);
	crl = get_crl(list, LLD_KH_CRL_MAX, late);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)),
			 LLD_KH_CRL_MAX);
	assert_int_equal(X509_CRL_verify(crl, F.smime_key), 1);
	X509_CRL_free(crl);
	free(list);
}

/* -------------------------------------------------------------- OCSP */

static OCSP_BASICRESP *get_ocsp(const struct lld_ocsp_item *it,
				const unsigned char *nonce, size_t noncelen)
{
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;

	if (lld_kh_ocsp(F.kh, it, nonce, noncelen, NOW, &der, &len, &err) < 0)
		fail_msg("lld_kh_ocsp: %s [%s]", err.message, err.detail);
	p = der;
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	assert_non_null(resp);
	assert_int_equal(OCSP_response_status(resp),
			 OCSP_RESPONSE_STATUS_SUCCESSFUL);
	bs = OCSP_response_get1_basic(resp);
	assert_non_null(bs);
	OCSP_RESPONSE_free(resp);
	free(der);
	return bs;
}

/* Verified against the hierarchy, responder by key, cert included. */
static void check_basic(OCSP_BASICRESP *bs)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	const ASN1_OCTET_STRING *keyid = NULL;
	const X509_NAME *name = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);

	sk_X509_push(untrusted, F.smime);
	X509_STORE_add_cert(store, F.root);
	assert_int_equal(OCSP_basic_verify(bs, untrusted, store, 0), 1);
	assert_int_equal(OCSP_resp_get0_id(bs, &keyid, &name), 1);
	assert_non_null(keyid);
	assert_null(name);
	assert_true(X509_pubkey_digest(F.ocsp, EVP_sha1(), md, &mdlen));
	assert_int_equal(ASN1_STRING_length(keyid), (int)mdlen);
	assert_memory_equal(ASN1_STRING_get0_data(keyid), md, mdlen);
	assert_int_equal(sk_X509_num(certs), 1);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), F.ocsp), 0);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
}

/* The status of SERIAL (CertID with MD) in BS. */
static int find_status(OCSP_BASICRESP *bs, const EVP_MD *md, const char *serial,
		       int *reason, time_t *revoked)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn;
	OCSP_CERTID *id;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	int status = -1;

	assert_true(BN_hex2bn(&bn, serial) > 0);
	sn = BN_to_ASN1_INTEGER(bn, NULL);
	id = OCSP_cert_id_new(md, X509_get_subject_name(F.smime),
			      X509_get0_pubkey_bitstr(F.smime), sn);
	assert_int_equal(OCSP_resp_find_status(bs, id, &status, reason, &rev,
					       &thisupd, &nextupd),
			 1);
	assert_int_equal(asn1_time(thisupd), NOW);
	assert_int_equal(asn1_time(nextupd), NOW + 86400);
	*revoked = rev != NULL ? asn1_time(rev) : 0;
	OCSP_CERTID_free(id);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return status;
}

static void test_ocsp(void **state)
{
	static const unsigned char nonce[16] = "0123456789abcdef";
	struct lld_ocsp_item it = { 0 };
	struct ll_error err = { 0 };
	struct issued c;
	OCSP_BASICRESP *bs;
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id;
	X509 *leaf;
	unsigned char *der = NULL;
	size_t len = 0;
	time_t rev;
	int reason = 0;

	(void)state;
	issue(&c, 30, F.p256, ALICE);
	leaf = der_cert(&c);

	/* good, SHA-1 CertID, the nonce echoed */
	it.sha256 = 0;
	snprintf(it.serial, sizeof(it.serial), "%s", c.serial);
	it.status = LLD_OCSP_GOOD;
	it.reason = -1;
	bs = get_ocsp(&it, nonce, sizeof(nonce));
	check_basic(bs);
	assert_int_equal(find_status(bs, EVP_sha1(), c.serial, &reason, &rev),
			 V_OCSP_CERTSTATUS_GOOD);
	/* the CertID a client makes from the certificate matches */
	id = OCSP_cert_to_id(EVP_sha1(), leaf, F.smime);
	assert_non_null(OCSP_request_add0_id(req, id));
	assert_true(OCSP_request_add1_nonce(req, (unsigned char *)nonce,
					    sizeof(nonce)));
	assert_int_equal(OCSP_check_nonce(req, bs), 1);
	assert_true(OCSP_resp_find(bs, id, -1) >= 0);
	OCSP_BASICRESP_free(bs);

	/* revoked (keyCompromise), SHA-256 CertID, no nonce */
	it.sha256 = 1;
	it.status = LLD_OCSP_REVOKED;
	it.revoked = NOW - 60;
	it.reason = 1;
	bs = get_ocsp(&it, NULL, 0);
	check_basic(bs);
	assert_int_equal(find_status(bs, EVP_sha256(), c.serial, &reason, &rev),
			 V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 1);
	assert_int_equal(rev, NOW - 60);
	assert_int_equal(OCSP_check_nonce(req, bs), -1); /* none echoed */
	OCSP_BASICRESP_free(bs);

	/* revoked without a reason */
	it.reason = 0;
	bs = get_ocsp(&it, NULL, 0);
	assert_int_equal(find_status(bs, EVP_sha256(), c.serial, &reason, &rev),
			 V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, OCSP_REVOKED_STATUS_NOSTATUS);
	OCSP_BASICRESP_free(bs);

	/* unknown */
	it.sha256 = 0;
	it.status = LLD_OCSP_UNKNOWN;
	snprintf(it.serial, sizeof(it.serial), "%s", "deadbeef");
	bs = get_ocsp(&it, nonce, 8);
	check_basic(bs);
	assert_int_equal(find_status(bs, EVP_sha1(), "deadbeef", &reason, &rev),
			 V_OCSP_CERTSTATUS_UNKNOWN);
	assert_int_equal(OCSP_check_nonce(req, bs), 0); /* another nonce */
	OCSP_BASICRESP_free(bs);

	/* checked by the front before anything is sent */
	it.status = LLD_OCSP_GOOD;
	assert_int_equal(lld_kh_ocsp(F.kh, &it, nonce, 33, NOW, &der, &len,
				     &err),
			 LL_EINVAL);
	snprintf(it.serial, sizeof(it.serial), "%s", "DEAD");
	assert_int_equal(lld_kh_ocsp(F.kh, &it, NULL, 0, NOW, &der, &len, &err),
			 LL_EINVAL);
	assert_null(der);

	OCSP_REQUEST_free(req);
	X509_free(leaf);
	free(c.der);
}

/* -------------------------------------------------------------- mail */

static void test_challenge_mail(void **state)
{
	struct ll_error err = { 0 };
	struct ll_ctx *ctx = NULL;
	struct ll_cert *root = NULL;
	struct ll_opened *o = NULL;
	const struct ll_open_status *st;
	char *msg = NULL, *pem = NULL;
	const char *body;
	size_t len = 0, blen = 0;

	(void)state;
	if (lld_kh_challenge_mail(F.kh, ALICE, "tok-EN_1", "<c1@ca.test>", NOW,
				  &msg, &len, &err) < 0)
		fail_msg("challenge mail: %s [%s]", err.message, err.detail);
	assert_int_equal(strlen(msg), len);
	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n')
			assert_true(i > 0 && msg[i - 1] == '\r');
	assert_non_null(strstr(msg, "From: " MAIL_FROM "\r\n"));
	assert_non_null(strstr(msg, "To: " ALICE "\r\n"));
	assert_non_null(strstr(msg, "\r\nSubject: ACME: tok-EN_1\r\n"));
	assert_non_null(strstr(msg, "\r\nDate: Tue, 14 Nov 2023 22:13:20 "
				    "+0000\r\n"));
	assert_non_null(strstr(msg, "\r\nMessage-ID: <c1@ca.test>\r\n"));
	assert_non_null(strstr(msg, "\r\nAuto-Submitted: auto-generated; "
				    "type=acme\r\n"));
	assert_non_null(strstr(msg, "Content-Type: multipart/signed"));

	/* it opens, signed by the CA's mail certificate */
	pem = slurp(F.dir, "certs/root.pem", NULL);
	assert_int_equal(ll_cert_parse(&root, pem, strlen(pem), NULL), 0);
	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	assert_int_equal(ll_ctx_add_trust(ctx, root, NULL), 0);
	if (ll_msg_open(&o, ctx, msg, len, &err) < 0)
		fail_msg("open: %s", err.message);
	st = ll_opened_status(o);
	assert_true(st->is_signed);
	assert_int_equal(st->signature, LL_SIG_VALID);
	assert_string_equal(st->signer, MAIL_FROM);
	assert_true(st->signer_matches_from);
	body = ll_opened_data(o, &blen);
	assert_non_null(strstr(body, "Content-Type: text/plain; "
				     "charset=utf-8"));
	assert_non_null(strstr(body, "quoted-printable"));
	assert_non_null(strstr(body, "automatic certificate request check"));
	assert_non_null(strstr(body, "Pr=C3=BCf CA."));
	assert_non_null(strstr(body, "letterlock answers it"));
	assert_non_null(strstr(body, "If you did not ask for a certificate"));
	ll_opened_free(&o);
	ll_ctx_free(&ctx);
	ll_cert_free(&root);
	free(pem);
	free(msg);

	/* nothing that could end or fold a header line gets through */
	msg = NULL;
	assert_int_equal(lld_kh_challenge_mail(F.kh, ALICE, "a\r\nBcc: x",
					       "<c2@ca.test>", NOW, &msg, &len,
					       &err),
			 LL_EINVAL);
	assert_int_equal(lld_kh_challenge_mail(F.kh, "a@b.test\r\nBcc: x",
					       "tok", "<c2@ca.test>", NOW, &msg,
					       &len, &err),
			 LL_EINVAL);
	assert_int_equal(lld_kh_challenge_mail(F.kh, ALICE, "tok",
					       "<c2@ca.test> x", NOW, &msg,
					       &len, &err),
			 LL_EINVAL);
	assert_null(msg);
}

/* ----------------------------------------------------------- threads */

static void *ocsp_thread(void *arg)
{
	intptr_t fails = 0;

	(void)arg;
	for (int i = 0; i < 10; i++) {
		unsigned char *der = NULL;
		size_t len = 0;

		if (ocsp_call("1234", &der, &len, NULL) < 0 || len == 0)
			fails++;
		free(der);
	}
	return (void *)fails;
}

static void test_threads(void **state)
{
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ocsp_thread, NULL),
				 0);
	for (int i = 0; i < 4; i++) {
		void *fails = NULL;

		assert_int_equal(pthread_join(t[i], &fails), 0);
		assert_null(fails);
	}
}

/* ----------------------------------------------------------- journal */

static void test_journal_survives_restart(void **state)
{
	struct issued a, b;
	struct stat st;
	char path[256];
	X509_CRL *crl;
	long n1;

	(void)state;
	issue(&a, 40, F.p256, ALICE);
	crl = get_crl(NULL, 0, NOW);
	n1 = crl_number(crl);
	X509_CRL_free(crl);
	restart();
	issue(&b, 40, F.p256, ALICE);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.der, b.der, a.len);
	crl = get_crl(NULL, 0, NOW);
	assert_true(crl_number(crl) > n1);
	X509_CRL_free(crl);
	free(a.der);
	free(b.der);
	snprintf(path, sizeof(path), "%s/keyholder.db", F.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/keyholder.db-wal", F.dir);
	assert_int_equal(stat(path, &st), 0); /* WAL mode */
}

/* ------------------------------------------------ the keyholder gone */

static void test_killed(void **state)
{
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	struct timespec t0;
	pid_t pid;

	(void)state;
	restart();
	pid = child_pid();
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ocsp_call("1", &der, &len, &err), LL_EIO);
	assert_int_equal(ocsp_call("1", &der, &len, &err), LL_EIO);
	assert_true(elapsed(&t0) < 5.0);
	assert_null(der);
	assert_int_equal(child_pid(), 0); /* reaped */
	restart();
	assert_int_equal(ocsp_call("1", &der, &len, &err), 0);
	free(der);
}

/* A frame: magic, TYPE, FLAGS, the length of the N octets of PAYLOAD
 * (or LEN when not 0), the payload. */
static size_t frame(unsigned char *out, unsigned type, unsigned flags,
		    uint32_t len, const unsigned char *payload, size_t n)
{
	uint32_t l = len ? len : (uint32_t)n;

	memcpy(out, "LLKH", 4);
	out[4] = (unsigned char)(type >> 8);
	out[5] = (unsigned char)type;
	out[6] = (unsigned char)(flags >> 8);
	out[7] = (unsigned char)flags;
	for (int i = 0; i < 4; i++)
		out[8 + i] = (unsigned char)(l >> (8 * (3 - i)));
	if (n > 0)
		memcpy(out + 12, payload, n);
	return 12 + n;
}

/* The payload of an OCSP request for serial "1" in STATUS, with EXTRA
 * octets after it. */
static size_t ocsp_payload(unsigned char *p, unsigned status, size_t extra)
{
	static const unsigned char head[] = { 0, 0, 0, 0, 1, '1' };
	size_t n = 0;
	int64_t now = NOW;

	memcpy(p, head, sizeof(head));
	n += sizeof(head);
	p[n++] = (unsigned char)status;
	memset(p + n, 0, 8); /* revoked */
	n += 8;
	memset(p + n, 0xff, 4); /* reason -1 */
	n += 4;
	memset(p + n, 0, 4); /* no nonce */
	n += 4;
	for (int i = 0; i < 8; i++)
		p[n++] = (unsigned char)((uint64_t)now >> (8 * (7 - i)));
	memset(p + n, 0, extra);
	return n + extra;
}

/* The payload of an ISSUE request: order 1 for ALICE, SPKI the one
 * octet 0x30, USAGE, 0 days. */
static size_t issue_payload(unsigned char *p, uint32_t usage)
{
	static const char email[] = ALICE;
	size_t n = 0, elen = sizeof(email) - 1;

	memset(p, 0, 7);
	p[7] = 1; /* order */
	n = 8;
	memset(p + n, 0, 3);
	p[n + 3] = (unsigned char)elen;
	memcpy(p + n + 4, email, elen);
	n += 4 + elen;
	memcpy(p + n, "\0\0\0\1\x30", 5); /* spki */
	n += 5;
	for (int i = 0; i < 4; i++)
		p[n++] = (unsigned char)(usage >> (8 * (3 - i)));
	memset(p + n, 0, 4); /* days */
	return n + 4;
}

/* Frames out of shape end the keyholder: each is written straight into
 * the socket.  The wire types (kh_internal.h): 2 ISSUE, 3 CRL, 4 OCSP. */
static void test_malformed_frames(void **state)
{
	unsigned char buf[128], pl[64];
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 9; i++) {
		struct timespec t0;
		size_t n = 0;
		pid_t pid;
		int fd;

		switch (i) {
		case 0: /* a good request first: the keyholder answers */
			n = frame(buf, 4, 0, 0, pl, ocsp_payload(pl, 0, 0));
			break;
		case 1:
			n = frame(buf, 4, 0, 0, pl, ocsp_payload(pl, 0, 0));
			buf[0] = 'X'; /* magic */
			break;
		case 2:
			n = frame(buf, 99, 0, 0, NULL, 0); /* unknown type */
			break;
		case 3:
			n = frame(buf, 4, 1, 0, pl, ocsp_payload(pl, 0, 0));
			break;
		case 4: /* a length over the cap, no payload behind it */
			n = frame(buf, 3, 0, 0xffffffffu, NULL, 0);
			break;
		case 5: /* a field cut short */
			n = frame(buf, 4, 0, 0, pl, 3);
			break;
		case 6: /* status 9 */
			n = frame(buf, 4, 0, 0, pl, ocsp_payload(pl, 9, 0));
			break;
		case 7: /* an octet after the last field */
			n = frame(buf, 4, 0, 0, pl, ocsp_payload(pl, 0, 1));
			break;
		case 8: /* a usage bit beyond LL_CA_USAGE_BOTH */
			n = frame(buf, 2, 0, 0, pl, issue_payload(pl, 4));
			break;
		}
		restart();
		pid = child_pid();
		fd = kh_socket();
		assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (i == 0) {
			/* its answer is read as the answer to this call */
			assert_int_equal(ocsp_call("1", &der, &len, &err), 0);
			free(der);
			der = NULL;
			assert_false(dead(pid));
			continue;
		}
		if (ocsp_call("1", &der, &len, &err) != LL_EIO)
			fail_msg("frame %d: the keyholder served on", i);
		assert_true(elapsed(&t0) < 5.0);
		assert_true(dead(pid));
	}
	restart();
	assert_int_equal(ocsp_call("1", &der, &len, &err), 0);
	free(der);
}

/* The keyholder dies with the front (PR_SET_PDEATHSIG). */
static void test_dies_with_front(void **state)
{
	int p[2];
	pid_t helper, kh = 0;
	struct timespec t0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		struct lld_kh *k = NULL;
		pid_t pid = 0;

		close(p[0]);
		if (lld_kh_start(&k, F.dir, &F.conf, LLD_KH_CA, NULL) == 0)
			pid = child_pid();
		if (write(p[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		_exit(0); /* without lld_kh_stop: a front that dies */
	}
	close(p[1]);
	assert_int_equal(read(p[0], &kh, sizeof(kh)), (ssize_t)sizeof(kh));
	close(p[0]);
	assert_int_equal(waitpid(helper, NULL, 0), helper);
	assert_true(kh > 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!dead(kh) && elapsed(&t0) < 5.0) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	assert_true(dead(kh));
}

/* A key or certificate that does not load: the start fails, naming it. */
static void test_start_errors(void **state)
{
	struct ll_error err = { 0 };
	struct lld_kh *k = NULL;
	struct lld_conf conf;
	char from[256], to[256];
	int fd;

	(void)state;
	snprintf(from, sizeof(from), "%s/keys/ocsp.key", F.dir);
	snprintf(to, sizeof(to), "%s/keys/ocsp.key.saved", F.dir);
	assert_int_equal(rename(from, to), 0);
	fd = open(from, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a key\n", 10), 10);
	close(fd);
	assert_int_equal(lld_kh_start(&k, F.dir, &F.conf, LLD_KH_CA, &err),
			 LL_EPARSE);
	assert_null(k);
	assert_non_null(strstr(err.message, "keys/ocsp.key"));
	unlink(from);
	assert_int_equal(lld_kh_start(&k, F.dir, &F.conf, LLD_KH_CA, &err),
			 LL_EIO);
	assert_non_null(strstr(err.message, "keys/ocsp.key"));
	assert_int_equal(rename(to, from), 0);

	/* a mail certificate for another address than [mail] from */
	conf = F.conf;
	snprintf(conf.mail_from, sizeof(conf.mail_from), "other@ca.test");
	assert_int_equal(lld_kh_start(&k, F.dir, &conf, LLD_KH_CA, &err),
			 LL_EPOLICY);
	assert_non_null(strstr(err.message, "certs/mail.pem"));
	assert_null(k);
}

/* ---------------------------------------------------------------- TSA */

/* A TimeStampReq over DATA with HASH (NID), NULL parameters or not, a
 * nonce of NONCE_LEN random octets (0: none) and certReq, DER. */
static unsigned char *tsa_query(size_t *len, TS_REQ **out, int hash,
				int null_params, size_t nonce_len, int cert_req)
{
	unsigned char digest[EVP_MAX_MD_SIZE], nonce[32], *der = NULL;
	unsigned int dlen = 0;
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	const EVP_MD *md = EVP_get_digestbynid(hash);
	int n;

	assert_non_null(req);
	assert_non_null(md);
	assert_int_equal(EVP_Digest("data", 4, digest, &dlen, md, NULL), 1);
	X509_ALGOR_set0(alg, OBJ_nid2obj(hash),
			null_params ? V_ASN1_NULL : V_ASN1_UNDEF, NULL);
	assert_int_equal(TS_MSG_IMPRINT_set_algo(mi, alg), 1);
	assert_int_equal(TS_MSG_IMPRINT_set_msg(mi, digest, (int)dlen), 1);
	assert_int_equal(TS_REQ_set_version(req, 1), 1);
	assert_int_equal(TS_REQ_set_msg_imprint(req, mi), 1);
	if (nonce_len > 0) {
		BIGNUM *bn;
		ASN1_INTEGER *ai;

		assert_int_equal(RAND_bytes(nonce, (int)nonce_len), 1);
		nonce[0] |= 0x80; /* a full first octet: DER adds 0x00 */
		bn = BN_bin2bn(nonce, (int)nonce_len, NULL);
		ai = BN_to_ASN1_INTEGER(bn, NULL);
		assert_int_equal(TS_REQ_set_nonce(req, ai), 1);
		ASN1_INTEGER_free(ai);
		BN_free(bn);
	}
	assert_int_equal(TS_REQ_set_cert_req(req, cert_req), 1);
	n = i2d_TS_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	*out = req;
	return der;
}

/* RESP verified by OpenSSL's TS verifier against REQ: signature to the
 * root (the unit's certificates from the token or given), imprint,
 * nonce, version; its time within a few seconds of now; its serial
 * into SERIAL. */
static void tsa_verify(const unsigned char *resp, size_t len, TS_REQ *req,
		       int cert_req, char serial[80])
{
	const unsigned char *p = resp;
	TS_RESP *r = d2i_TS_RESP(NULL, &p, (long)len);
	TS_VERIFY_CTX *v = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509 *tsa = read_cert("certs/tsa.pem");
	X509 *tsa_ca = read_cert("certs/tsa-ca.pem");
	TS_TST_INFO *tst;
	time_t when;
	struct tm tm;
	BIGNUM *bn;
	char *hex;

	assert_non_null(r);
	assert_ptr_equal(p, resp + len);
	assert_non_null(v);
	assert_int_equal(X509_STORE_add_cert(store, F.root), 1);
	if (!cert_req) {
		sk_X509_push(untrusted, tsa);
		sk_X509_push(untrusted, tsa_ca);
		tsa = tsa_ca = NULL;
	}
	TS_VERIFY_CTX_add_flags(v, TS_VFY_SIGNATURE);
	TS_VERIFY_CTX_set_store(v, store);
	TS_VERIFY_CTX_set_certs(v, untrusted);
	if (TS_RESP_verify_response(v, r) != 1) {
		ERR_print_errors_fp(stderr);
		fail_msg("the TSA's reply does not verify");
	}
	tst = TS_RESP_get_tst_info(r);
	assert_int_equal(ASN1_TIME_to_tm(TS_TST_INFO_get_time(tst), &tm), 1);
	when = timegm(&tm);
	assert_true(labs((long)(when - time(NULL))) <= 5);
	assert_true(OBJ_obj2txt(serial, 80, TS_TST_INFO_get_policy_id(tst), 1) >
		    0);
	assert_string_equal(serial, F.conf.tsa_policy);
	bn = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL);
	hex = BN_bn2hex(bn);
	assert_true(strlen(hex) == 32); /* 16 octets, unpredictable */
	snprintf(serial, 80, "%s", hex);
	/* certReq honoured both ways */
	assert_int_equal(sk_X509_num(TS_RESP_get_token(r)->d.sign->cert) > 0,
			 cert_req);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(tsa);
	X509_free(tsa_ca);
	TS_VERIFY_CTX_free(v); /* frees the store and the stack */
	TS_RESP_free(r);
}

/* Time-stamps from the TSA keyholder, pipelined, verified by OpenSSL;
 * serials unique. */
static void test_tsa(void **state)
{
	static const struct {
		int hash, null_params;
		size_t nonce;
		int cert_req;
	} cases[] = {
		{ NID_sha256, 0, 8, 1 },
		{ NID_sha384, 1, 0, 1 },
		{ NID_sha512, 0, 20, 0 },
		{ NID_sha256, 1, 1, 0 },
	};
	enum {
		N = sizeof(cases) / sizeof(cases[0])
	};
	struct ll_error err = { 0 };
	struct lld_kh *k = NULL;
	TS_REQ *reqs[N];
	char serials[N][80];

	(void)state;
	if (lld_kh_start(&k, F.dir, &F.conf, LLD_KH_TSA, &err) < 0)
		fail_msg("TSA keyholder: %s [%s]", err.message, err.detail);
	for (size_t i = 0; i < N; i++) {
		struct lld_tsa_req r;
		enum lld_tsa_fail fail;
		char why[LLD_TSA_WHY_MAX];
		size_t len = 0;
		unsigned char *q = tsa_query(&len, &reqs[i], cases[i].hash,
					     cases[i].null_params,
					     cases[i].nonce, cases[i].cert_req);

		assert_int_equal(lld_tsa_parse(&r, q, len, F.conf.tsa_policy,
					       &fail, why, sizeof(why)),
				 0);
		assert_int_equal(lld_kh_tsa_send(k, &r, &err), 0);
		OPENSSL_free(q);
	}
	for (size_t i = 0; i < N; i++) {
		unsigned char *der = NULL;
		size_t len = 0;

		assert_int_equal(lld_kh_tsa_recv(k, &der, &len, &err), 0);
		tsa_verify(der, len, reqs[i], cases[i].cert_req, serials[i]);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(serials[i], serials[j]);
		free(der);
		TS_REQ_free(reqs[i]);
	}
	/* the TSA keyholder serves time-stamps only: a CA call ends it */
	{
		unsigned char *der = NULL;
		size_t len = 0;

		assert_int_equal(lld_kh_crl(k, NULL, 0, NOW, &der, &len, &err),
				 LL_EIO);
	}
	lld_kh_stop(&k);
}

/* The CA's keyholder takes no time-stamp frame; the TSA's needs none of
 * the CA's keys (it starts without them) and refuses requests the front
 * would not send. */
static void test_tsa_roles(void **state)
{
	struct lld_tsa_req r = { 0 };
	struct ll_error err = { 0 };
	struct lld_kh *k = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	char from[256], to[256];

	(void)state;
	r.hash = LLD_TSA_SHA256;
	r.imprint_len = 32;
	restart();
	assert_int_equal(lld_kh_tsa_send(F.kh, &r, &err), 0);
	assert_int_equal(lld_kh_tsa_recv(F.kh, &der, &len, &err), LL_EIO);
	restart();

	snprintf(from, sizeof(from), "%s/keys/smime-ca.key", F.dir);
	snprintf(to, sizeof(to), "%s/keys/smime-ca.key.saved", F.dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(lld_kh_start(&k, F.dir, &F.conf, LLD_KH_TSA, &err), 0);
	assert_int_equal(rename(to, from), 0);
	/* an imprint of the wrong length, a padded nonce: refused here */
	r.imprint_len = 31;
	assert_int_equal(lld_kh_tsa_send(k, &r, &err), LL_EINVAL);
	r.imprint_len = 32;
	r.nonce_len = 2; /* 00 01: padded */
	r.nonce[1] = 1;
	assert_int_equal(lld_kh_tsa_send(k, &r, &err), LL_EINVAL);
	lld_kh_stop(&k);

	/* a unit certificate that is not one: the start fails, naming it */
	snprintf(from, sizeof(from), "%s/certs/tsa.pem", F.dir);
	snprintf(to, sizeof(to), "%s/certs/tsa.pem.saved", F.dir);
	assert_int_equal(rename(from, to), 0);
	{
		char *pem;
		size_t n = 0;
		FILE *f;

		pem = slurp(F.dir, "certs/ocsp.pem", &n);
		f = fopen(from, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(pem, 1, n, f), n);
		fclose(f);
		free(pem);
	}
	assert_int_equal(lld_kh_start(&k, F.dir, &F.conf, LLD_KH_TSA, &err),
			 LL_EPOLICY);
	assert_non_null(strstr(err.message, "certs/tsa.pem"));
	assert_null(k);
	assert_int_equal(rename(to, from), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_files),
		cmocka_unit_test(test_init_bad_options),
		cmocka_unit_test(test_issue),
		cmocka_unit_test(test_issue_days),
		cmocka_unit_test(test_issue_usage),
		cmocka_unit_test(test_issue_refused),
		cmocka_unit_test(test_issue_other_key),
		cmocka_unit_test(test_issue_pipelined),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_crl_full),
		cmocka_unit_test(test_ocsp),
		cmocka_unit_test(test_challenge_mail),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_journal_survives_restart),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_malformed_frames),
		cmocka_unit_test(test_dies_with_front),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_tsa),
		cmocka_unit_test(test_tsa_roles),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
