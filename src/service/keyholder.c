/*
 * keyholder.c - the process holding letterlockd's signing keys
 * (keyholder.h), and the front's side of its socket.
 *
 * Frames, both ways, on a SOCK_STREAM socketpair:
 *
 *   u32 magic "LLKH" | u16 type | u16 zero | u32 payload length | payload
 *
 * Integers are big-endian.  The payload is the fields of its type in a
 * fixed order: integers (u8, u32, i32, i64) and byte strings (u32
 * length, then the octets), each string with a maximum length and, for
 * text, a character class.  A frame's length is checked against the
 * maximum of its type before any of its payload is read.
 *
 *   type   front -> keyholder              keyholder -> front
 *   READY                                  (loaded; no fields)
 *   ISSUE  i64 order, email, csr,          serial, der
 *          i32 days
 *   CRL    i64 now, u32 n, n x (serial,    der
 *          i64 when, i32 reason)
 *   OCSP   u8 sha256, serial, u8 status,   der
 *          i64 revoked, i32 reason,
 *          nonce, i64 now
 *   MAIL   to, token1, msgid, i64 now      message
 *   ERROR                                  i32 code, message, detail
 *
 * A reply carries its request's type with KH_REPLY set, or is an ERROR.
 * The keyholder exits on the first frame out of shape (STYLE.md 7);
 * the front checks the same rules before it sends, so only a broken
 * front trips them.  The front in turn treats a reply out of shape, or
 * none within KH_TIMEOUT_MS, as the keyholder gone: it kills it, and
 * every later call fails with LL_EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sqlite3.h>

#if defined(__SANITIZE_ADDRESS__)
#define KH_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KH_LSAN 1
#endif
#endif
#ifdef KH_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "internal.h" /* ll_cert_x509 */
#include "keyholder.h"
#include "service.h"

#define KH_MAGIC 0x4c4c4b48u /* "LLKH" */
#define KH_HDR 12
#define KH_REPLY 0x100u
#define KH_TIMEOUT_MS (120 * 1000) /* a call, CRLs of 10^5 entries too */
#define KH_STOP_GRACE_MS 10000
#define KH_FD 3 /* the socket in the keyholder */
#define KH_FILE_MAX (64 * 1024) /* a key or certificate file */
#define KH_CERT_MAX (32 * 1024) /* an issued certificate, DER */
#define KH_OCSP_MAX (16 * 1024)
#define KH_MAIL_MAX (64 * 1024)
#define KH_CRL_ENTRY_MAX 64 /* DER octets of one revoked entry */
#define KH_CRL_DER_MAX (4096 + (size_t)LLD_KH_CRL_MAX * KH_CRL_ENTRY_MAX)
#define KH_TIME_MAX INT64_C(253402300799) /* 9999-12-31 23:59:59 UTC */
#define KH_CRL_DAYS 7
#define KH_OCSP_SECS 86400
#define KH_MALFORMED 1 /* a handler's verdict: the request is out of shape */
#define KH_BROKEN 2 /* the front's: the reply is, or none came */

enum kh_type {
	KH_READY = 1,
	KH_ISSUE = 2,
	KH_CRL = 3,
	KH_OCSP = 4,
	KH_MAIL = 5,
	KH_ERROR = 0x7f,
};

/* Field sizes: a string is its u32 length and at most MAX octets. */
#define F_STR(max) (4 + (size_t)(max))
#define KH_ISSUE_REQ_MAX (8 + F_STR(LLD_EMAIL_MAX) + F_STR(LL_CA_CSR_MAX) + 4)
#define KH_CRL_REQ_MAX \
	(8 + 4 + (size_t)LLD_KH_CRL_MAX * (F_STR(LLD_SERIAL_MAX) + 8 + 4))
#define KH_OCSP_REQ_MAX \
	(1 + F_STR(LLD_SERIAL_MAX) + 1 + 8 + 4 + F_STR(LLD_OCSP_NONCE_MAX) + 8)
#define KH_MAIL_REQ_MAX \
	(F_STR(LLD_EMAIL_MAX) + F_STR(LLD_TOKEN_MAX) + F_STR(LLD_MSGID_MAX) + 8)
#define KH_ERROR_MAX \
	(4 + F_STR(LL_ERROR_MSG_MAX - 1) + F_STR(LL_ERROR_DETAIL_MAX - 1))

struct lld_kh {
	pthread_mutex_t mu;
	int fd; /* -1 once the keyholder is gone */
	pid_t pid; /* 0 once reaped */
};

/* ------------------------------------------------------------ errors */

static enum ll_errclass class_of(int code)
{
	switch (code) {
	case LL_EIO:
	case LL_ENOMEM:
		return LL_ECLASS_OS;
	case LL_ECRYPTO:
		return LL_ECLASS_OPENSSL;
	case LL_ESTORE:
		return LL_ECLASS_STORE;
	case LL_EPOLICY:
	case LL_EEXIST:
		return LL_ECLASS_POLICY;
	case LL_EINVAL:
		return LL_ECLASS_USAGE;
	default:
		return LL_ECLASS_NONE;
	}
}

static int kh_verr(struct ll_error *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static int kh_verr(struct ll_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	err->klass = class_of(code);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	err->detail[0] = '\0';
	return code;
}

static int kh_err(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int kh_err(struct ll_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = kh_verr(err, code, fmt, ap);
	va_end(ap);
	return code;
}

/* The same, and OpenSSL's error queue drained into err->detail. */
static int kh_err_ossl(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int kh_err_ossl(struct ll_error *err, int code, const char *fmt, ...)
{
	unsigned long e;
	size_t used = 0;
	va_list ap;

	va_start(ap, fmt);
	code = kh_verr(err, code, fmt, ap);
	va_end(ap);
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		if (err == NULL || used + 3 >= sizeof(err->detail))
			continue;
		ERR_error_string_n(e, one, sizeof(one));
		used += (size_t)snprintf(err->detail + used,
					 sizeof(err->detail) - used, "%s%s",
					 used ? "; " : "", one);
		if (used >= sizeof(err->detail))
			used = sizeof(err->detail) - 1;
	}
	return code;
}

/* ------------------------------------------------- fields and frames */

static int c_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* base64url */
static int c_token(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* A dot-atom mailbox (RFC 5322 atext, RFC 6531 UTF-8): nothing that
 * can end or fold a header line, quote, or start another address. */
static int c_mailbox(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       strchr("!#$%&'*+-/=?^_`{|}~.@", c) != NULL;
}

/* Visible ASCII. */
static int c_visible(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* Inside "<" ">" of a Message-ID. */
static int c_msgid(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>';
}

/* Any octet but NUL (messages, made printable after). */
static int c_any(unsigned char c)
{
	return c != 0;
}

static void printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* S is MIN..MAX octets of class CLS. */
static int text_ok(const char *s, size_t min, size_t max,
		   int (*cls)(unsigned char))
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, max + 1);
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || !cls((unsigned char)s[i]))
			return 0;
	return 1;
}

static int mailbox_ok(const char *s)
{
	return text_ok(s, 3, LLD_EMAIL_MAX, c_mailbox) &&
	       strchr(s, '@') != NULL;
}

static int msgid_ok(const char *s)
{
	size_t n = s ? strnlen(s, LLD_MSGID_MAX + 1) : 0;

	if (n < 3 || n > LLD_MSGID_MAX || s[0] != '<' || s[n - 1] != '>')
		return 0;
	for (size_t i = 1; i + 1 < n; i++)
		if (!c_msgid((unsigned char)s[i]))
			return 0;
	return 1;
}

static int time_ok(int64_t t)
{
	return t > 0 && t <= KH_TIME_MAX;
}

/* A CRLReason (RFC 5280 5.3.1; 7 is not used), or -1: none. */
static int reason_ok(int64_t r)
{
	return r >= -1 && r <= 10 && r != 7;
}

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void w_add(struct wbuf *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		unsigned char *np;

		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->oom = 1;
				return;
			}
			cap *= 2;
		}
		np = realloc(w->p, cap);
		if (np == NULL) {
			w->oom = 1;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void w_uint(struct wbuf *w, uint64_t v, size_t n)
{
	unsigned char b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	w_add(w, b, n);
}

static void w_u8(struct wbuf *w, unsigned v)
{
	w_uint(w, v, 1);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	w_uint(w, v, 4);
}

static void w_i32(struct wbuf *w, int32_t v)
{
	w_uint(w, (uint32_t)v, 4);
}

static void w_i64(struct wbuf *w, int64_t v)
{
	w_uint(w, (uint64_t)v, 8);
}

static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->oom = 1;
		return;
	}
	w_u32(w, (uint32_t)n);
	w_add(w, p, n);
}

static void w_str(struct wbuf *w, const char *s)
{
	w_bytes(w, s, strlen(s));
}

/* Start a frame of TYPE in W (emptied). */
static void w_begin(struct wbuf *w, unsigned type)
{
	w->len = 0;
	w->oom = 0;
	w_u32(w, KH_MAGIC);
	w_uint(w, type, 2);
	w_uint(w, 0, 2);
	w_u32(w, 0); /* the length, set by w_end */
}

/* Finish the frame: its payload length into the header. */
static int w_end(struct wbuf *w)
{
	size_t n = w->len - KH_HDR;

	if (w->oom || n > UINT32_MAX)
		return -1;
	for (size_t i = 0; i < 4; i++)
		w->p[8 + i] = (unsigned char)(n >> (8 * (3 - i)));
	return 0;
}

static void w_free(struct wbuf *w)
{
	free(w->p);
	memset(w, 0, sizeof(*w));
}

struct rbuf {
	const unsigned char *p;
	size_t len, pos;
	int bad;
};

static uint64_t r_uint(struct rbuf *r, size_t n)
{
	uint64_t v = 0;

	if (r->bad || r->len - r->pos < n) {
		r->bad = 1;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v = v << 8 | r->p[r->pos + i];
	r->pos += n;
	return v;
}

static unsigned r_u8(struct rbuf *r)
{
	return (unsigned)r_uint(r, 1);
}

static uint32_t r_u32(struct rbuf *r)
{
	return (uint32_t)r_uint(r, 4);
}

static int32_t r_i32(struct rbuf *r)
{
	uint32_t u = (uint32_t)r_uint(r, 4);
	int32_t v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static int64_t r_i64(struct rbuf *r)
{
	uint64_t u = r_uint(r, 8);
	int64_t v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

/* A byte string of at most MAX octets; borrowed from R. */
static const unsigned char *r_bytes(struct rbuf *r, size_t max, size_t *n)
{
	size_t len = r_u32(r);
	const unsigned char *p;

	*n = 0;
	if (r->bad || len > max || r->len - r->pos < len) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += len;
	*n = len;
	return p;
}

/* Text of MIN..CAP-1 octets of class CLS into DST, NUL-terminated. */
static void r_text(struct rbuf *r, char *dst, size_t cap, size_t min,
		   int (*cls)(unsigned char))
{
	size_t n = 0;
	const unsigned char *p = r_bytes(r, cap - 1, &n);

	dst[0] = '\0';
	if (p == NULL || n < min) {
		r->bad = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!cls(p[i])) {
			r->bad = 1;
			return;
		}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* All of the payload was read, and in shape. */
static int r_done(const struct rbuf *r)
{
	return !r->bad && r->pos == r->len;
}

/* ----------------------------------------------------- socket I/O */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until FD is ready for EV; DEADLINE (mono_ms) < 0: forever. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };

	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - mono_ms();
		int r;

		if (deadline >= 0 && left <= 0)
			return -1;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 0; /* ready, or an error the call will see */
	}
}

static int send_all(int fd, const unsigned char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 0: N octets read; 1: end of stream before the first; -1: error, time
 * out, or the stream ended inside. */
static int recv_all(int fd, unsigned char *p, size_t n, int64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, p + got, n - got, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLIN, deadline) < 0)
				return -1;
			continue;
		}
		if (r == 0 && got == 0)
			return 1;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

struct hdr {
	unsigned type;
	size_t len;
};

/* Read and check a header: magic, zero field.  0; 1: the end of the
 * stream; -1: an I/O error or time out; -2: out of shape. */
static int recv_hdr(int fd, struct hdr *h, int64_t deadline)
{
	unsigned char b[KH_HDR];
	struct rbuf r = { b, sizeof(b), 0, 0 };
	int rc = recv_all(fd, b, sizeof(b), deadline);

	if (rc != 0)
		return rc;
	if (r_u32(&r) != KH_MAGIC)
		return -2;
	h->type = (unsigned)r_uint(&r, 2);
	if (r_uint(&r, 2) != 0)
		return -2;
	h->len = r_u32(&r);
	return 0;
}

/* The payload of H into *out (malloc'd; at least one octet). */
static int recv_payload(int fd, const struct hdr *h, unsigned char **out,
			int64_t deadline)
{
	unsigned char *p = malloc(h->len ? h->len : 1);

	if (p == NULL)
		return -1;
	if (recv_all(fd, p, h->len, deadline) != 0) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* ===================================================== the keyholder */

struct keyholder {
	int fd;
	const struct lld_conf *conf;
	struct ll_ca *ca; /* issues */
	X509 *ca_cert; /* names the CRL and the OCSP CertID */
	EVP_PKEY *ca_key; /* signs the CRL */
	X509 *ocsp_cert;
	EVP_PKEY *ocsp_key;
	struct ll_ctx *mail; /* the CA's mail identity; NULL: no [mail] */
	sqlite3 *db; /* the journal */
};

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* DIR/NAME (at most KH_FILE_MAX octets) into *out, NUL-terminated; the
 * caller wipes it (ll_wipe_free(*out, *len + 1)). */
static int kh_read(char **out, size_t *len, const char *dir, const char *name,
		   struct ll_error *err)
{
	char path[LLD_PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int fd = -1, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return kh_err(err, LL_EINVAL, "%s: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = kh_err(err, LL_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KH_FILE_MAX) {
		rc = kh_err(err, LL_ETOOBIG,
			    "%s: not a file of at most %d octets", path,
			    KH_FILE_MAX);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = kh_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = kh_err(err, LL_EIO, "%s: %s", path,
				    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL)
		ll_wipe_free(buf, cap);
	if (fd >= 0)
		close(fd);
	return rc;
}

static X509 *pem_cert(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;

	BIO_free(b);
	return x;
}

static EVP_PKEY *pem_key(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k =
		b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) :
		    NULL;

	BIO_free(b);
	return k;
}

/* The signature digest for a CA key (S/MIME BR 7.1.3.2). */
static const EVP_MD *key_md(const EVP_PKEY *k)
{
	char group[64] = "";

	if (EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) &&
	    strcmp(group, "secp384r1") == 0)
		return EVP_sha384();
	return EVP_sha256();
}

/* Prefix err->message with the files it is about. */
static int about(struct ll_error *err, int rc, const char *dir,
		 const char *what)
{
	char msg[LL_ERROR_MSG_MAX];

	if (err == NULL)
		return rc;
	if (snprintf(msg, sizeof(msg), "%s/%s: %s", dir, what, err->message) <
	    0)
		return rc;
	memcpy(err->message, msg, sizeof(msg)); /* cut if it must be */
	return rc;
}

static int load_ca(struct keyholder *k, const char *dir, struct ll_error *err)
{
	struct ll_ca_options opt = LL_CA_OPTIONS_INIT;
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0;
	int rc;

	rc = kh_read(&cert, &certlen, dir, "certs/smime-ca.pem", err);
	if (rc == 0)
		rc = kh_read(&key, &keylen, dir, "keys/smime-ca.key", err);
	if (rc < 0)
		goto out;
	opt.crl_url = k->conf->crl_url;
	opt.ocsp_url = k->conf->ocsp_url;
	opt.ca_issuers_url = k->conf->ca_issuers_url;
	opt.default_days = k->conf->validity_days;
	rc = ll_ca_new(&k->ca, cert, certlen, key, keylen, &opt, err);
	if (rc < 0) {
		rc = about(err, rc, dir,
			   "keys/smime-ca.key, certs/smime-ca.pem");
		goto out;
	}
	/* the same files again, for the CRL: ll_ca keeps its key inside */
	k->ca_cert = pem_cert(cert, certlen);
	k->ca_key = pem_key(key, keylen);
	if (k->ca_cert == NULL || k->ca_key == NULL ||
	    X509_get0_subject_key_id(k->ca_cert) == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/keys/smime-ca.key, certs/smime-ca.pem: "
				 "not PEM, or no subjectKeyIdentifier",
				 dir);
		goto out;
	}
out:
	free(cert);
	if (key != NULL)
		ll_wipe_free(key, keylen + 1);
	return rc;
}

static int load_ocsp(struct keyholder *k, const char *dir, struct ll_error *err)
{
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0;
	int rc;

	rc = kh_read(&cert, &certlen, dir, "certs/ocsp.pem", err);
	if (rc == 0)
		rc = kh_read(&key, &keylen, dir, "keys/ocsp.key", err);
	if (rc < 0)
		goto out;
	k->ocsp_cert = pem_cert(cert, certlen);
	if (k->ocsp_cert == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/certs/ocsp.pem: not a PEM certificate",
				 dir);
		goto out;
	}
	k->ocsp_key = pem_key(key, keylen);
	if (k->ocsp_key == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/keys/ocsp.key: not an unencrypted PEM "
				 "private key",
				 dir);
		goto out;
	}
	if (X509_check_private_key(k->ocsp_cert, k->ocsp_key) != 1) {
		rc = kh_err_ossl(err, LL_EPOLICY,
				 "%s/keys/ocsp.key does not match "
				 "certs/ocsp.pem",
				 dir);
		goto out;
	}
	if (X509_check_issued(k->ca_cert, k->ocsp_cert) != X509_V_OK ||
	    X509_verify(k->ocsp_cert, X509_get0_pubkey(k->ca_cert)) != 1 ||
	    !(X509_get_extended_key_usage(k->ocsp_cert) & XKU_OCSP_SIGN)) {
		rc = kh_err_ossl(err, LL_EPOLICY,
				 "%s/certs/ocsp.pem: not an OCSP responder "
				 "certificate of the S/MIME CA",
				 dir);
		goto out;
	}
out:
	free(cert);
	if (key != NULL)
		ll_wipe_free(key, keylen + 1);
	return rc;
}

static int load_mail(struct keyholder *k, const char *dir, struct ll_error *err)
{
	struct ll_identity *id = NULL;
	char *certs = NULL, *key = NULL;
	size_t certslen = 0, keylen = 0;
	int rc;

	rc = kh_read(&certs, &certslen, dir, "certs/mail.pem", err);
	if (rc == 0)
		rc = kh_read(&key, &keylen, dir, "keys/mail.key", err);
	if (rc < 0)
		goto out;
	rc = ll_identity_parse_pem(&id, key, keylen, certs, certslen, err);
	if (rc < 0) {
		rc = about(err, rc, dir, "keys/mail.key, certs/mail.pem");
		goto out;
	}
	if (!ll_cert_matches_email(ll_identity_cert(id), k->conf->mail_from)) {
		rc = kh_err(err, LL_EPOLICY,
			    "%s/certs/mail.pem does not name [mail] from %s",
			    dir, k->conf->mail_from);
		goto out;
	}
	rc = ll_ctx_new(&k->mail, err);
	if (rc == 0)
		rc = ll_ctx_add_identity(k->mail, &id, err);
	if (rc < 0)
		goto out;
	if (ll_ctx_identity_for(k->mail, k->conf->mail_from) == NULL) {
		rc = kh_err(err, LL_EPOLICY,
			    "%s/certs/mail.pem is not valid now", dir);
		goto out;
	}
out:
	ll_identity_free(&id);
	free(certs);
	if (key != NULL)
		ll_wipe_free(key, keylen + 1);
	return rc;
}

/* ---- the journal: DIR/keyholder.db ---- */

static const char journal_schema[] =
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS issued("
	" order_id INTEGER PRIMARY KEY,"
	" serial TEXT NOT NULL UNIQUE,"
	" request_sha256 BLOB NOT NULL," /* request_digest() */
	" der BLOB NOT NULL,"
	" issued_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS counter("
	" name TEXT PRIMARY KEY,"
	" value INTEGER NOT NULL);";

static int db_err(struct keyholder *k, struct ll_error *err, const char *what)
{
	return kh_err(err, LL_ESTORE, "keyholder journal: %s: %s", what,
		      k->db ? sqlite3_errmsg(k->db) : "cannot open");
}

static int journal_open(struct keyholder *k, const char *dir,
			struct ll_error *err)
{
	char path[LLD_PATH_MAX];
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/keyholder.db", dir) >=
	    sizeof(path))
		return kh_err(err, LL_EINVAL, "%s: path too long", dir);
	if (sqlite3_open_v2(path, &k->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return about(err, db_err(k, err, "open"), dir, "keyholder.db");
	sqlite3_busy_timeout(k->db, 5000);
	rc = sqlite3_prepare_v2(k->db, "PRAGMA journal_mode=WAL", -1, &st,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		rc = db_err(k, err, "WAL mode");
		goto out;
	}
	if (sqlite3_exec(k->db, journal_schema, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		rc = db_err(k, err, "schema");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * The certificate already journaled for ORDER into the reply W (*found
 * 1), or nothing (*found 0).  LL_EEXIST if ORDER was issued for another
 * request.
 */
static int journal_find(struct keyholder *k, int64_t order,
			const unsigned char digest[32], struct wbuf *w,
			int *found, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *serial, *der, *dg;
	int rc, n;

	*found = 0;
	if (sqlite3_prepare_v2(k->db,
			       "SELECT serial, der, request_sha256 FROM issued "
			       "WHERE order_id = ?",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, order) != SQLITE_OK) {
		rc = db_err(k, err, "lookup");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = db_err(k, err, "lookup");
		goto out;
	}
	serial = sqlite3_column_text(st, 0);
	der = sqlite3_column_blob(st, 1);
	n = sqlite3_column_bytes(st, 1);
	dg = sqlite3_column_blob(st, 2);
	if (serial == NULL || der == NULL || n <= 0 || n > KH_CERT_MAX ||
	    !text_ok((const char *)serial, 1, LLD_SERIAL_MAX, c_hex) ||
	    dg == NULL || sqlite3_column_bytes(st, 2) != 32) {
		rc = kh_err(err, LL_ESTORE,
			    "keyholder journal: the row of order %" PRId64
			    " is damaged",
			    order);
		goto out;
	}
	if (memcmp(dg, digest, 32) != 0) {
		rc = kh_err(err, LL_EEXIST,
			    "order %" PRId64 " was issued for another "
			    "request",
			    order);
		goto out;
	}
	w_str(w, (const char *)serial);
	w_bytes(w, der, (size_t)n);
	*found = 1;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Journal the certificate of ORDER; committed (and synced, by
 * synchronous=FULL) when this returns 0. */
static int journal_add(struct keyholder *k, int64_t order, const char *serial,
		       const unsigned char digest[32], const unsigned char *der,
		       size_t derlen, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(k->db,
			       "INSERT INTO issued(order_id, serial, "
			       "request_sha256, der, issued_at) "
			       "VALUES(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, order) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 3, digest, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 4, der, (int)derlen, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL)) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_err(k, err, "recording the certificate");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The next CRL number, journaled before it is used. */
static int journal_crl_number(struct keyholder *k, int64_t *out,
			      struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(k->db,
			       "INSERT INTO counter(name, value) "
			       "VALUES('crl_number', 1) ON CONFLICT(name) "
			       "DO UPDATE SET value = value + 1 "
			       "RETURNING value",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_err(k, err, "CRL number");
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_err(k, err, "CRL number");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int kh_load(struct keyholder *k, const char *dir, struct ll_error *err)
{
	int rc = load_ca(k, dir, err);

	if (rc == 0)
		rc = load_ocsp(k, dir, err);
	if (rc == 0 && k->conf->mail_from[0] != '\0')
		rc = load_mail(k, dir, err);
	if (rc == 0)
		rc = journal_open(k, dir, err);
	return rc;
}

static void kh_unload(struct keyholder *k)
{
	sqlite3_close(k->db);
	ll_ctx_free(&k->mail);
	EVP_PKEY_free(k->ocsp_key);
	X509_free(k->ocsp_cert);
	EVP_PKEY_free(k->ca_key);
	X509_free(k->ca_cert);
	ll_ca_free(&k->ca);
	memset(k, 0, sizeof(*k));
}

/* ---- requests ---- */

/* A DER encoding made by OpenSSL into the reply, at most MAX octets. */
static int put_der(struct wbuf *w, unsigned char *der, int n, size_t max,
		   struct ll_error *err, const char *what)
{
	int rc;

	if (n <= 0)
		rc = kh_err_ossl(err, LL_ECRYPTO, "encoding the %s", what);
	else if ((size_t)n > max)
		rc = kh_err(err, LL_ETOOBIG, "the %s has %d octets, over %zu",
			    what, n, max);
	else {
		w_bytes(w, der, (size_t)n);
		rc = 0;
	}
	OPENSSL_free(der);
	return rc;
}


/* A serial number from lower-case hex (already checked). */
static ASN1_INTEGER *serial_int(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *a = NULL;

	if (BN_hex2bn(&bn, hex) == (int)strlen(hex))
		a = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return a;
}

/*
 * What makes a repeated request the same: SHA-256 of the canonical
 * address, a NUL, and the requested public key (SubjectPublicKeyInfo,
 * DER) - not the CSR's bytes, whose signature may differ each time.
 */
static int request_digest(unsigned char out[32], const char *email,
			  const unsigned char *req, size_t len,
			  struct ll_error *err)
{
	const unsigned char *p = req;
	X509_REQ *x = d2i_X509_REQ(NULL, &p, (long)len);
	unsigned char *spki = NULL;
	EVP_MD_CTX *md = NULL;
	int n = -1, rc = 0;

	if (x == NULL) { /* PEM, then (ll_ca_csr_parse took it) */
		BIO *b = BIO_new_mem_buf(req, (int)len);

		x = b ? PEM_read_bio_X509_REQ(b, NULL, no_passphrase, NULL) :
			NULL;
		BIO_free(b);
	}
	if (x != NULL)
		n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(x), &spki);
	md = EVP_MD_CTX_new();
	if (n <= 0 || md == NULL ||
	    !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, email, strlen(email) + 1) ||
	    !EVP_DigestUpdate(md, spki, (size_t)n) ||
	    !EVP_DigestFinal_ex(md, out, NULL))
		rc = kh_err_ossl(err, LL_ECRYPTO, "the request's digest");
	EVP_MD_CTX_free(md);
	OPENSSL_free(spki);
	X509_REQ_free(x);
	return rc;
}

static int op_issue(struct keyholder *k, struct rbuf *r, struct wbuf *w,
		    struct ll_error *err)
{
	struct ll_ca_issue_options opt = LL_CA_ISSUE_OPTIONS_INIT;
	char email[LLD_EMAIL_MAX + 1], serial[LLD_SERIAL_MAX + 1];
	struct ll_ca_csr *csr = NULL;
	struct ll_cert *cert = NULL;
	unsigned char digest[32], *der = NULL;
	const unsigned char *req;
	size_t reqlen = 0, derlen = 0;
	int64_t order;
	int32_t days;
	int rc, found = 0;

	order = r_i64(r);
	r_text(r, email, sizeof(email), 3, c_mailbox);
	req = r_bytes(r, LL_CA_CSR_MAX, &reqlen);
	days = r_i32(r);
	if (!r_done(r) || order < 1 || reqlen == 0 || days < 0 ||
	    days > LL_CA_MAX_DAYS)
		return KH_MALFORMED;
	/* checked again here: the front is not trusted with the profile */
	rc = ll_ca_csr_parse(&csr, req, reqlen, email, err);
	if (rc == 0)
		rc = request_digest(digest, ll_ca_csr_email(csr), req, reqlen,
				    err);
	if (rc == 0)
		rc = journal_find(k, order, digest, w, &found, err);
	if (rc < 0 || found)
		goto out;
	opt.days = days;
	rc = ll_ca_issue(&cert, k->ca, csr, &opt, err);
	if (rc < 0)
		goto out;
	rc = ll_cert_der(&der, &derlen, cert, err);
	if (rc < 0)
		goto out;
	if (derlen > KH_CERT_MAX ||
	    lld_serial_hex(serial,
			   X509_get0_serialNumber(ll_cert_x509(cert))) < 0) {
		rc = kh_err_ossl(err, LL_ECRYPTO,
				 "the new certificate: too large, or its "
				 "serial number is not positive");
		goto out;
	}
	/* journaled, and synced, before the answer leaves */
	rc = journal_add(k, order, serial, digest, der, derlen, err);
	if (rc < 0)
		goto out;
	w_str(w, serial);
	w_bytes(w, der, derlen);
out:
	free(der);
	ll_cert_free(&cert);
	ll_ca_csr_free(&csr);
	return rc;
}

static int crl_add_entry(X509_CRL *crl, const char *serial, int64_t when,
			 int reason, struct ll_error *err)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *sn = serial_int(serial);
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
	ASN1_ENUMERATED *e = NULL;
	int rc = 0;

	if (rv == NULL || sn == NULL || t == NULL ||
	    !X509_REVOKED_set_serialNumber(rv, sn) ||
	    !X509_REVOKED_set_revocationDate(rv, t)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "a CRL entry");
		goto out;
	}
	/* RFC 5280 5.3.1: no reasonCode rather than unspecified (0) */
	if (reason > 0) {
		e = ASN1_ENUMERATED_new();
		if (e == NULL || !ASN1_ENUMERATED_set(e, reason) ||
		    !X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, e, 0, 0)) {
			rc = kh_err_ossl(err, LL_ECRYPTO, "a reasonCode");
			goto out;
		}
	}
	if (!X509_CRL_add0_revoked(crl, rv)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "a CRL entry");
		goto out;
	}
	rv = NULL;
out:
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	X509_REVOKED_free(rv);
	return rc;
}

/* Issuer, times, AKI, CRL number; then signed, DER into W. */
static int crl_finish(struct keyholder *k, X509_CRL *crl, int64_t now,
		      struct wbuf *w, struct ll_error *err)
{
	STACK_OF(X509_REVOKED) * revs;
	AUTHORITY_KEYID *akid = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *last = NULL, *next = NULL;
	unsigned char *der = NULL;
	int64_t number = 0;
	int rc, n;

	if (!X509_CRL_sort(crl)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "sorting the CRL");
		goto out;
	}
	revs = X509_CRL_get_REVOKED(crl);
	for (int i = 1; i < sk_X509_REVOKED_num(revs); i++) {
		const ASN1_INTEGER *a = X509_REVOKED_get0_serialNumber(
			sk_X509_REVOKED_value(revs, i - 1));
		const ASN1_INTEGER *b = X509_REVOKED_get0_serialNumber(
			sk_X509_REVOKED_value(revs, i));
		char hex[LLD_SERIAL_MAX + 1] = "?";

		if (ASN1_INTEGER_cmp(a, b) == 0) {
			lld_serial_hex(hex, a);
			rc = kh_err(err, LL_EINVAL, "serial %s is listed twice",
				    hex);
			goto out;
		}
	}
	last = ASN1_TIME_set(NULL, (time_t)now);
	next = ASN1_TIME_set(NULL, (time_t)now + KH_CRL_DAYS * 86400);
	akid = AUTHORITY_KEYID_new();
	if (akid != NULL)
		akid->keyid = ASN1_OCTET_STRING_dup(
			X509_get0_subject_key_id(k->ca_cert));
	if (last == NULL || next == NULL || akid == NULL ||
	    akid->keyid == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(k->ca_cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, last) ||
	    !X509_CRL_set1_nextUpdate(crl, next) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
				   0)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "the CRL");
		goto out;
	}
	rc = journal_crl_number(k, &number, err);
	if (rc < 0)
		goto out;
	num = ASN1_INTEGER_new();
	if (num == NULL || !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) ||
	    X509_CRL_sign(crl, k->ca_key, key_md(k->ca_key)) <= 0) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "signing the CRL");
		goto out;
	}
	n = i2d_X509_CRL(crl, &der);
	rc = put_der(w, der, n, KH_CRL_DER_MAX, err, "CRL");
out:
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	ASN1_TIME_free(next);
	ASN1_TIME_free(last);
	return rc;
}

static int op_crl(struct keyholder *k, struct rbuf *r, struct wbuf *w,
		  struct ll_error *err)
{
	X509_CRL *crl = NULL;
	int64_t now = r_i64(r);
	uint32_t n = r_u32(r);
	int rc = 0;

	if (r->bad || !time_ok(now) || n > LLD_KH_CRL_MAX)
		return KH_MALFORMED;
	crl = X509_CRL_new();
	if (crl == NULL) {
		rc = kh_err_ossl(err, LL_ENOMEM, "a CRL");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		char serial[LLD_SERIAL_MAX + 1];
		int64_t when;
		int32_t reason;

		r_text(r, serial, sizeof(serial), 1, c_hex);
		when = r_i64(r);
		reason = r_i32(r);
		if (r->bad || !time_ok(when) || !reason_ok(reason)) {
			rc = KH_MALFORMED;
			goto out;
		}
		if (rc == 0)
			rc = crl_add_entry(crl, serial, when, reason, err);
	}
	if (!r_done(r)) {
		rc = KH_MALFORMED;
		goto out;
	}
	if (rc == 0)
		rc = crl_finish(k, crl, now, w, err);
out:
	X509_CRL_free(crl);
	return rc;
}

static int op_ocsp(struct keyholder *k, struct rbuf *r, struct wbuf *w,
		   struct ll_error *err)
{
	char serial[LLD_SERIAL_MAX + 1];
	unsigned char nonce[LLD_OCSP_NONCE_MAX], *der = NULL;
	const unsigned char *np;
	size_t noncelen = 0;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *rev = NULL;
	ASN1_INTEGER *sn = NULL;
	OCSP_CERTID *id = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	unsigned sha256, status;
	int64_t revoked, now;
	int32_t reason;
	int rc = 0, st, n;

	sha256 = r_u8(r);
	r_text(r, serial, sizeof(serial), 1, c_hex);
	status = r_u8(r);
	revoked = r_i64(r);
	reason = r_i32(r);
	np = r_bytes(r, LLD_OCSP_NONCE_MAX, &noncelen);
	now = r_i64(r);
	if (!r_done(r) || sha256 > 1 || status > LLD_OCSP_UNKNOWN ||
	    !time_ok(now) || !reason_ok(reason) ||
	    (status == LLD_OCSP_REVOKED ? !time_ok(revoked) :
					  revoked != 0 || reason != -1))
		return KH_MALFORMED;
	memcpy(nonce, np, noncelen);
	st = status == LLD_OCSP_GOOD	? V_OCSP_CERTSTATUS_GOOD :
	     status == LLD_OCSP_REVOKED ? V_OCSP_CERTSTATUS_REVOKED :
					  V_OCSP_CERTSTATUS_UNKNOWN;
	sn = serial_int(serial);
	id = sn ? OCSP_cert_id_new(sha256 ? EVP_sha256() : EVP_sha1(),
				   X509_get_subject_name(k->ca_cert),
				   X509_get0_pubkey_bitstr(k->ca_cert), sn) :
		  NULL;
	bs = OCSP_BASICRESP_new();
	thisupd = ASN1_GENERALIZEDTIME_set(NULL, (time_t)now);
	nextupd = ASN1_GENERALIZEDTIME_set(NULL, (time_t)now + KH_OCSP_SECS);
	if (status == LLD_OCSP_REVOKED)
		rev = ASN1_GENERALIZEDTIME_set(NULL, (time_t)revoked);
	if (id == NULL || bs == NULL || thisupd == NULL || nextupd == NULL ||
	    (status == LLD_OCSP_REVOKED && rev == NULL) ||
	    OCSP_basic_add1_status(bs, id, st,
				   reason > 0 ? reason :
						OCSP_REVOKED_STATUS_NOSTATUS,
				   rev, thisupd, nextupd) == NULL ||
	    (noncelen > 0 &&
	     !OCSP_basic_add1_nonce(bs, nonce, (int)noncelen))) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "the OCSP response");
		goto out;
	}
	if (!OCSP_basic_sign(bs, k->ocsp_cert, k->ocsp_key, key_md(k->ocsp_key),
			     NULL, OCSP_RESPID_KEY)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "signing the OCSP response");
		goto out;
	}
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	if (resp == NULL) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "the OCSP response");
		goto out;
	}
	n = i2d_OCSP_RESPONSE(resp, &der);
	rc = put_der(w, der, n, KH_OCSP_MAX, err, "OCSP response");
out:
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_INTEGER_free(sn);
	ASN1_GENERALIZEDTIME_free(rev);
	ASN1_GENERALIZEDTIME_free(nextupd);
	ASN1_GENERALIZEDTIME_free(thisupd);
	return rc;
}

/* ---- the challenge mail ---- */

/* One line of text as quoted-printable (RFC 2045 6.7), CRLF ended. */
static void qp_line(FILE *f, const unsigned char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		char tok[4];
		size_t tl = 1;

		if (c >= 0x7f || c == '=' || c < 0x20 ||
		    (c == ' ' && i + 1 == n))
			tl = (size_t)snprintf(tok, sizeof(tok), "=%02X", c);
		else
			tok[0] = (char)c;
		if (col + tl > 75) {
			fputs("=\r\n", f);
			col = 0;
		}
		fwrite(tok, 1, tl, f);
		col += tl;
	}
	fputs("\r\n", f);
}

static int mail_body(char **out, size_t *len, const char *name)
{
	FILE *f = open_memstream(out, len);

	if (f == NULL)
		return -1;
	fprintf(f,
		"This is an automatic certificate request check from\n"
		"%s.\n"
		"\n"
		"Someone asked for an S/MIME certificate for this mailbox.\n"
		"Their mail program proves that the mailbox is theirs by\n"
		"answering this message; letterlock answers it on its own.\n"
		"\n"
		"If you did not ask for a certificate, ignore this message:\n"
		"without an answer no certificate is issued.\n",
		name);
	return fclose(f) == 0 ? 0 : -1;
}

static int is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* The message to sign, CRLF lines, into *out. */
static int mail_compose(char **out, size_t *len, const struct keyholder *k,
			const char *to, const char *token1, const char *msgid,
			int64_t now)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)now;
	char *body = NULL;
	size_t bodylen = 0;
	struct tm tm;
	FILE *f = NULL;
	int rc = -1, ascii;

	if (gmtime_r(&t, &tm) == NULL ||
	    mail_body(&body, &bodylen, k->conf->name) < 0)
		goto out;
	ascii = is_ascii(body, bodylen);
	f = open_memstream(out, len);
	if (f == NULL)
		goto out;
	fprintf(f,
		"From: %s\r\n"
		"To: %s\r\n"
		"Subject: ACME: %s\r\n"
		"Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n"
		"Message-ID: %s\r\n"
		"MIME-Version: 1.0\r\n"
		"Auto-Submitted: auto-generated; type=acme\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: %s\r\n"
		"\r\n",
		k->conf->mail_from, to, token1, wday[tm.tm_wday], tm.tm_mday,
		mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		tm.tm_sec, msgid, ascii ? "7bit" : "quoted-printable");
	for (char *line = body, *nl; (nl = strchr(line, '\n')) != NULL;
	     line = nl + 1) {
		if (ascii) {
			fwrite(line, 1, (size_t)(nl - line), f);
			fputs("\r\n", f);
		} else {
			qp_line(f, (const unsigned char *)line,
				(size_t)(nl - line));
		}
	}
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc < 0 && f != NULL) {
		free(*out);
		*out = NULL;
	}
	free(body);
	return rc;
}

static int op_mail(struct keyholder *k, struct rbuf *r, struct wbuf *w,
		   struct ll_error *err)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	char to[LLD_EMAIL_MAX + 1], token1[LLD_TOKEN_MAX + 1];
	char msgid[LLD_MSGID_MAX + 1];
	struct ll_sealed *s = NULL;
	char *text = NULL;
	const char *data;
	size_t textlen = 0, datalen = 0;
	int64_t now;
	int rc;

	r_text(r, to, sizeof(to), 3, c_mailbox);
	r_text(r, token1, sizeof(token1), 1, c_token);
	r_text(r, msgid, sizeof(msgid), 3, c_visible);
	now = r_i64(r);
	if (!r_done(r) || !mailbox_ok(to) || !msgid_ok(msgid) || !time_ok(now))
		return KH_MALFORMED;
	if (k->mail == NULL)
		return kh_err(err, LL_EINVAL,
			      "no [mail] from configured: no challenge mail");
	if (mail_compose(&text, &textlen, k, to, token1, msgid, now) < 0) {
		rc = kh_err(err, LL_ENOMEM, "composing the challenge mail");
		goto out;
	}
	so.flags = LL_SEAL_SIGN | LL_SEAL_NO_HP;
	rc = ll_msg_seal(&s, k->mail, text, textlen, &so, err);
	if (rc < 0)
		goto out;
	data = ll_sealed_count(s) > 0 ? ll_sealed_data(s, 0, &datalen) : NULL;
	if (data == NULL || datalen > KH_MAIL_MAX) {
		rc = kh_err(err, LL_ETOOBIG, "the signed challenge mail");
		goto out;
	}
	w_bytes(w, data, datalen);
out:
	ll_sealed_free(&s);
	free(text);
	return rc;
}

/* ---- the loop ---- */

static const struct kh_op {
	unsigned type;
	size_t max; /* payload octets */
	int (*run)(struct keyholder *k, struct rbuf *r, struct wbuf *w,
		   struct ll_error *err);
} kh_ops[] = {
	{ KH_ISSUE, KH_ISSUE_REQ_MAX, op_issue },
	{ KH_CRL, KH_CRL_REQ_MAX, op_crl },
	{ KH_OCSP, KH_OCSP_REQ_MAX, op_ocsp },
	{ KH_MAIL, KH_MAIL_REQ_MAX, op_mail },
};

static const struct kh_op *kh_op_find(unsigned type)
{
	for (size_t i = 0; i < sizeof(kh_ops) / sizeof(kh_ops[0]); i++)
		if (kh_ops[i].type == type)
			return &kh_ops[i];
	return NULL;
}

/* An ERROR frame for CODE and ERR into W (restarted). */
static void w_error(struct wbuf *w, int code, const struct ll_error *err)
{
	char msg[LL_ERROR_MSG_MAX], detail[LL_ERROR_DETAIL_MAX];

	snprintf(msg, sizeof(msg), "%s",
		 err->message[0] ? err->message : ll_strerror(code));
	snprintf(detail, sizeof(detail), "%s", err->detail);
	w_begin(w, KH_ERROR);
	w_i32(w, code);
	w_str(w, msg);
	w_str(w, detail);
}

static void say_malformed(const struct hdr *h)
{
	fprintf(stderr,
		LLD_PROG " keyholder: a request out of shape (type %u, %zu "
			 "octets): exiting\n",
		h->type, h->len);
}

/* Serve the front until it closes the socket (0) or a frame is out of
 * shape (-1). */
static int serve(struct keyholder *k)
{
	struct wbuf w = { 0 };
	int rc;

	for (;;) {
		struct ll_error err = { 0 };
		const struct kh_op *op;
		unsigned char *payload = NULL;
		struct rbuf r = { 0 };
		struct hdr h = { 0 };

		rc = recv_hdr(k->fd, &h, -1);
		if (rc == 1) { /* the front closed its end */
			rc = 0;
			break;
		}
		if (rc == -2)
			fprintf(stderr, LLD_PROG " keyholder: a frame header "
						 "out of shape: exiting\n");
		if (rc < 0) {
			rc = -1;
			break;
		}
		op = kh_op_find(h.type);
		if (op == NULL || h.len > op->max ||
		    recv_payload(k->fd, &h, &payload, -1) < 0) {
			say_malformed(&h);
			rc = -1;
			break;
		}
		r.p = payload;
		r.len = h.len;
		ERR_clear_error();
		w_begin(&w, op->type | KH_REPLY);
		rc = op->run(k, &r, &w, &err);
		free(payload);
		if (rc == KH_MALFORMED) {
			say_malformed(&h);
			rc = -1;
			break;
		}
		if (rc < 0)
			w_error(&w, rc, &err);
		if (w_end(&w) < 0) {
			struct ll_error oom = { 0 };

			w_error(&w, LL_ENOMEM, &oom);
			if (w_end(&w) < 0) {
				rc = -1;
				break;
			}
		}
		if (send_all(k->fd, w.p, w.len, -1) < 0) {
			rc = -1;
			break;
		}
	}
	w_free(&w);
	return rc;
}

/* Default dispositions and no blocked signals (the front's handlers
 * and masks are not ours), but the front alone handles SIGINT and
 * SIGHUP, and a closed socket is an error, not a signal. */
static void kh_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL); /* reserved ones refuse */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The socket onto KH_FD, every descriptor above it closed, standard
 * input from /dev/null (the front's may be a network socket); standard
 * output and error stay, for the log. */
static int kh_fds(int fd)
{
	int null;

	if (fd != KH_FD) {
		if (dup2(fd, KH_FD) < 0)
			return -1;
		close(fd);
	}
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || (null != STDIN_FILENO &&
			 (dup2(null, STDIN_FILENO) < 0 || close(null) < 0)))
		return -1;
	if (close_range(KH_FD + 1, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (long i = KH_FD + 1; i < (max > 0 ? max : 1024); i++)
			close((int)i);
	}
	return KH_FD;
}

static void kh_send_error(int fd, int code, const struct ll_error *err)
{
	struct wbuf w = { 0 };

	w_error(&w, code, err);
	if (w_end(&w) == 0)
		send_all(fd, w.p, w.len, -1);
	w_free(&w);
}

static void kh_main(int fd, pid_t front, const char *dir,
		    const struct lld_conf *conf) __attribute__((noreturn));
static void kh_main(int fd, pid_t front, const char *dir,
		    const struct lld_conf *conf)
{
	struct keyholder k = { 0 };
	struct ll_error err = { 0 };
	struct wbuf w = { 0 };
	int rc, status = 1;

	/* die with the front (strictly: with the thread that forked, so
	 * `run` forks from its main thread); it may be gone already */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != front)
		_exit(1);
	kh_signals();
	fd = kh_fds(fd);
	if (fd < 0)
		_exit(1);
	umask(077); /* the journal */
	k.fd = fd;
	k.conf = conf;
	rc = kh_load(&k, dir, &err);
	if (rc < 0) {
		kh_send_error(fd, rc, &err);
		goto out;
	}
	w_begin(&w, KH_READY | KH_REPLY);
	if (w_end(&w) < 0 || send_all(fd, w.p, w.len, -1) < 0)
		goto out;
	status = serve(&k) < 0 ? 1 : 0;
out:
	w_free(&w);
	kh_unload(&k);
	close(fd);
#ifdef KH_LSAN
	__lsan_do_leak_check(); /* what _exit would skip */
#endif
	/* not exit(): the front's atexit handlers are not ours to run */
	_exit(status);
}

/* ========================================================= the front */

/* The keyholder is gone or broken: make sure it is gone and reaped. */
static void kh_kill(struct lld_kh *kh)
{
	if (kh->fd >= 0) {
		close(kh->fd);
		kh->fd = -1;
	}
	if (kh->pid > 0) {
		kill(kh->pid, SIGKILL);
		while (waitpid(kh->pid, NULL, 0) < 0 && errno == EINTR)
			;
		kh->pid = 0;
	}
}

static int kh_gone(struct ll_error *err)
{
	return kh_err(err, LL_EIO, "the keyholder is gone");
}

/* Read a reply of type WANT (KH_REPLY is added) within DEADLINE into
 * *out (malloc'd, *len octets): 0; the keyholder's error: its code;
 * no reply in time, or one out of shape: KH_BROKEN (the caller kills
 * the keyholder). */
static int kh_recv(int fd, unsigned want, size_t max, unsigned char **out,
		   size_t *len, int64_t deadline, struct ll_error *err)
{
	unsigned char *p = NULL;
	struct rbuf r = { 0 };
	struct hdr h;
	char msg[LL_ERROR_MSG_MAX], detail[LL_ERROR_DETAIL_MAX];
	int32_t code;

	if (recv_hdr(fd, &h, deadline) != 0)
		return KH_BROKEN;
	if (h.type != (want | KH_REPLY) && h.type != KH_ERROR)
		return KH_BROKEN;
	if (h.len > (h.type == KH_ERROR ? KH_ERROR_MAX : max) ||
	    recv_payload(fd, &h, &p, deadline) < 0)
		return KH_BROKEN;
	if (h.type != KH_ERROR) {
		*out = p;
		*len = h.len;
		return 0;
	}
	r.p = p;
	r.len = h.len;
	code = r_i32(&r);
	r_text(&r, msg, sizeof(msg), 0, c_any);
	r_text(&r, detail, sizeof(detail), 0, c_any);
	free(p);
	if (!r_done(&r) || code >= 0)
		return KH_BROKEN;
	printable(msg);
	printable(detail);
	kh_err(err, code, "%s", msg);
	if (err != NULL)
		snprintf(err->detail, sizeof(err->detail), "%s", detail);
	return code;
}

/*
 * One call: send the frame in W (NULL: only read, the READY at start)
 * and read the reply of type WANT, at most MAX octets, into *out.
 * Serialised by the mutex.  LL_EIO, the keyholder killed, when it is
 * gone, silent for KH_TIMEOUT_MS, or out of shape.
 */
static int kh_call(struct lld_kh *kh, struct wbuf *w, unsigned want, size_t max,
		   unsigned char **out, size_t *len, struct ll_error *err)
{
	int64_t deadline = mono_ms() + KH_TIMEOUT_MS;
	int rc;

	*out = NULL;
	*len = 0;
	if (w != NULL && w_end(w) < 0) {
		w_free(w);
		return kh_err(err, LL_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&kh->mu);
	if (kh->fd < 0) {
		rc = kh_gone(err);
		goto out;
	}
	if (w != NULL && send_all(kh->fd, w->p, w->len, deadline) < 0) {
		kh_kill(kh);
		rc = kh_gone(err);
		goto out;
	}
	rc = kh_recv(kh->fd, want, max, out, len, deadline, err);
	if (rc == KH_BROKEN) {
		kh_kill(kh);
		rc = kh_gone(err);
	}
out:
	pthread_mutex_unlock(&kh->mu);
	if (w != NULL)
		w_free(w);
	return rc;
}

/* A reply that parsed out of shape: the keyholder is broken. */
static int kh_bad_reply(struct lld_kh *kh, struct ll_error *err)
{
	pthread_mutex_lock(&kh->mu);
	kh_kill(kh);
	pthread_mutex_unlock(&kh->mu);
	return kh_gone(err);
}

/* Wait for the keyholder to exit, GRACE_MS at most, then kill it. */
static void kh_reap(pid_t pid, int grace_ms)
{
	int64_t end = mono_ms() + grace_ms;

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (r == 0 && mono_ms() >= end)
			break;
		if (r == 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void lld_kh_stop(struct lld_kh **pp)
{
	struct lld_kh *kh;

	if (pp == NULL || *pp == NULL)
		return;
	kh = *pp;
	*pp = NULL;
	pthread_mutex_lock(&kh->mu); /* a call in flight ends first */
	if (kh->fd >= 0)
		close(kh->fd); /* the keyholder reads the end and exits */
	kh->fd = -1;
	pthread_mutex_unlock(&kh->mu);
	if (kh->pid > 0)
		kh_reap(kh->pid, KH_STOP_GRACE_MS);
	pthread_mutex_destroy(&kh->mu);
	free(kh);
}

int lld_kh_start(struct lld_kh **out, const char *dir,
		 const struct lld_conf *conf, struct ll_error *err)
{
	struct lld_kh *kh = NULL;
	unsigned char *p = NULL;
	size_t n = 0;
	int sv[2] = { -1, -1 };
	pid_t front = getpid(), pid;
	int rc;

	if (dir == NULL || conf == NULL)
		return kh_err(err, LL_EINVAL, "lld_kh_start: no directory");
	kh = calloc(1, sizeof(*kh));
	if (kh == NULL)
		return kh_err(err, LL_ENOMEM, "out of memory");
	kh->fd = -1;
	if (pthread_mutex_init(&kh->mu, NULL) != 0) {
		free(kh);
		return kh_err(err, LL_ENOMEM, "pthread_mutex_init");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = kh_err(err, LL_EIO, "socketpair: %s", strerror(errno));
		goto out;
	}
	fflush(NULL); /* what stdio holds is the front's to write */
	pid = fork();
	if (pid < 0) {
		rc = kh_err(err, LL_EIO, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		kh_main(sv[1], front, dir, conf);
	}
	kh->pid = pid;
	kh->fd = sv[0];
	sv[0] = -1;
	close(sv[1]);
	sv[1] = -1;
	rc = kh_call(kh, NULL, KH_READY, 0, &p, &n, err);
	if (rc < 0)
		goto out;
	*out = kh;
	kh = NULL;
out:
	free(p);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	lld_kh_stop(&kh);
	return rc;
}

int lld_kh_issue(struct lld_kh *kh, int64_t order, const char *email,
		 const unsigned char *csr, size_t csrlen, int days,
		 unsigned char **der, size_t *derlen,
		 char serial[LLD_SERIAL_MAX + 1], struct ll_error *err)
{
	struct wbuf w = { 0 };
	struct rbuf r = { 0 };
	char s[LLD_SERIAL_MAX + 1];
	unsigned char *rep = NULL, *copy;
	const unsigned char *d;
	size_t replen = 0, n = 0;
	int rc;

	if (order < 1)
		return kh_err(err, LL_EINVAL, "order id %" PRId64, order);
	if (!mailbox_ok(email))
		return kh_err(err, LL_EINVAL,
			      "not a mailbox address the keyholder takes");
	if (csr == NULL || csrlen == 0 || csrlen > LL_CA_CSR_MAX)
		return kh_err(err, LL_ETOOBIG, "a CSR is 1 to %d octets",
			      LL_CA_CSR_MAX);
	if (days < 0 || days > LL_CA_MAX_DAYS)
		return kh_err(err, LL_EPOLICY,
			      "validity of %d days: 1 to %d allowed", days,
			      LL_CA_MAX_DAYS);
	w_begin(&w, KH_ISSUE);
	w_i64(&w, order);
	w_str(&w, email);
	w_bytes(&w, csr, csrlen);
	w_i32(&w, days);
	rc = kh_call(kh, &w, KH_ISSUE,
		     F_STR(LLD_SERIAL_MAX) + F_STR(KH_CERT_MAX), &rep, &replen,
		     err);
	if (rc < 0)
		return rc;
	r.p = rep;
	r.len = replen;
	r_text(&r, s, sizeof(s), 1, c_hex);
	d = r_bytes(&r, KH_CERT_MAX, &n);
	if (!r_done(&r) || n == 0) {
		rc = kh_bad_reply(kh, err);
		goto out;
	}
	copy = malloc(n);
	if (copy == NULL) {
		rc = kh_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, d, n);
	*der = copy;
	*derlen = n;
	memcpy(serial, s, strlen(s) + 1);
out:
	free(rep);
	return rc;
}

/* The one field of a reply, a DER or text of at most MAX octets, into
 * *out (malloc'd, NUL-terminated). */
static int kh_one_field(struct lld_kh *kh, unsigned char *rep, size_t replen,
			size_t max, unsigned char **out, size_t *len,
			struct ll_error *err)
{
	struct rbuf r = { rep, replen, 0, 0 };
	const unsigned char *d = r_bytes(&r, max, len);
	unsigned char *copy;

	if (!r_done(&r) || *len == 0)
		return kh_bad_reply(kh, err);
	copy = malloc(*len + 1);
	if (copy == NULL)
		return kh_err(err, LL_ENOMEM, "out of memory");
	memcpy(copy, d, *len);
	copy[*len] = '\0';
	*out = copy;
	return 0;
}

int lld_kh_crl(struct lld_kh *kh, const struct lld_revoked *list, size_t n,
	       time_t now, unsigned char **der, size_t *derlen,
	       struct ll_error *err)
{
	struct wbuf w = { 0 };
	unsigned char *rep = NULL;
	size_t replen = 0;
	int rc;

	if (n > 0 && list == NULL)
		return kh_err(err, LL_EINVAL, "no list of %zu entries", n);
	if (n > LLD_KH_CRL_MAX)
		return kh_err(err, LL_ETOOBIG, "a CRL lists at most %d",
			      LLD_KH_CRL_MAX);
	if (!time_ok(now))
		return kh_err(err, LL_EINVAL, "CRL time out of range");
	for (size_t i = 0; i < n; i++)
		if (!text_ok(list[i].serial, 1, LLD_SERIAL_MAX, c_hex) ||
		    !time_ok(list[i].when) || !reason_ok(list[i].reason))
			return kh_err(err, LL_EINVAL,
				      "CRL entry %zu: serial, time or "
				      "reason out of range",
				      i);
	w_begin(&w, KH_CRL);
	w_i64(&w, now);
	w_u32(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		w_str(&w, list[i].serial);
		w_i64(&w, list[i].when);
		w_i32(&w, list[i].reason);
	}
	rc = kh_call(kh, &w, KH_CRL, F_STR(KH_CRL_DER_MAX), &rep, &replen, err);
	if (rc == 0)
		rc = kh_one_field(kh, rep, replen, KH_CRL_DER_MAX, der, derlen,
				  err);
	free(rep);
	return rc;
}

int lld_kh_ocsp(struct lld_kh *kh, const struct lld_ocsp_item *item,
		const unsigned char *nonce, size_t noncelen, time_t now,
		unsigned char **der, size_t *derlen, struct ll_error *err)
{
	struct wbuf w = { 0 };
	unsigned char *rep = NULL;
	size_t replen = 0;
	int revoked, rc;

	if (item == NULL || (item->sha256 != 0 && item->sha256 != 1) ||
	    !text_ok(item->serial, 1, LLD_SERIAL_MAX, c_hex) ||
	    (unsigned)item->status > LLD_OCSP_UNKNOWN || !time_ok(now))
		return kh_err(err, LL_EINVAL,
			      "OCSP item: hash, serial, status or time out "
			      "of range");
	revoked = item->status == LLD_OCSP_REVOKED;
	if (revoked && (!time_ok(item->revoked) || !reason_ok(item->reason)))
		return kh_err(err, LL_EINVAL,
			      "OCSP item: revocation time or reason out of "
			      "range");
	if (noncelen > LLD_OCSP_NONCE_MAX || (noncelen > 0 && nonce == NULL))
		return kh_err(err, LL_EINVAL, "an OCSP nonce is 1 to %d octets",
			      LLD_OCSP_NONCE_MAX);
	w_begin(&w, KH_OCSP);
	w_u8(&w, (unsigned)item->sha256);
	w_str(&w, item->serial);
	w_u8(&w, (unsigned)item->status);
	w_i64(&w, revoked ? (int64_t)item->revoked : 0);
	w_i32(&w, revoked ? item->reason : -1);
	w_bytes(&w, nonce, noncelen);
	w_i64(&w, now);
	rc = kh_call(kh, &w, KH_OCSP, F_STR(KH_OCSP_MAX), &rep, &replen, err);
	if (rc == 0)
		rc = kh_one_field(kh, rep, replen, KH_OCSP_MAX, der, derlen,
				  err);
	free(rep);
	return rc;
}

int lld_kh_challenge_mail(struct lld_kh *kh, const char *to, const char *token1,
			  const char *msgid, time_t now, char **msg,
			  size_t *len, struct ll_error *err)
{
	struct wbuf w = { 0 };
	unsigned char *rep = NULL, *text = NULL;
	size_t replen = 0;
	int rc;

	if (!mailbox_ok(to) || !text_ok(token1, 1, LLD_TOKEN_MAX, c_token) ||
	    !msgid_ok(msgid) || !time_ok(now))
		return kh_err(err, LL_EINVAL,
			      "challenge mail: address, token, Message-ID "
			      "or time out of shape");
	w_begin(&w, KH_MAIL);
	w_str(&w, to);
	w_str(&w, token1);
	w_str(&w, msgid);
	w_i64(&w, now);
	rc = kh_call(kh, &w, KH_MAIL, F_STR(KH_MAIL_MAX), &rep, &replen, err);
	if (rc == 0)
		rc = kh_one_field(kh, rep, replen, KH_MAIL_MAX, &text, len,
				  err);
	if (rc == 0)
		*msg = (char *)text;
	free(rep);
	return rc;
}
