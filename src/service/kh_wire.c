/*
 * kh_wire.c - the keyholder's frames (kh_internal.h): bounded writers
 * and readers of their fields, the checks of text fields both sides
 * make, the socket reads and writes with deadlines, and the keyholder's
 * error messages.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>

#include "kh_internal.h"

#define KH_TIME_MAX INT64_C(253402300799) /* 9999-12-31 23:59:59 UTC */

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

int kh_err(struct ll_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = kh_verr(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int kh_err_ossl(struct ll_error *err, int code, const char *fmt, ...)
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

/* Prefix err->message with the files it is about. */
int kh_about(struct ll_error *err, int rc, const char *dir, const char *what)
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

/* ------------------------------------------------------------ fields */

int kh_c_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* base64url */
int kh_c_token(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* A dot-atom mailbox (RFC 5322 atext, RFC 6531 UTF-8): nothing that
 * can end or fold a header line, quote, or start another address. */
int kh_c_mailbox(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       strchr("!#$%&'*+-/=?^_`{|}~.@", c) != NULL;
}

/* Visible ASCII. */
int kh_c_visible(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* Inside "<" ">" of a Message-ID. */
static int c_msgid(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>';
}

/* Any octet but NUL (messages, made printable after). */
int kh_c_any(unsigned char c)
{
	return c != 0;
}

void kh_printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* S is MIN..MAX octets of class CLS. */
int kh_text_ok(const char *s, size_t min, size_t max, int (*cls)(unsigned char))
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

int kh_mailbox_ok(const char *s)
{
	return kh_text_ok(s, 3, LLD_EMAIL_MAX, kh_c_mailbox) &&
	       strchr(s, '@') != NULL;
}

int kh_msgid_ok(const char *s)
{
	size_t n = s ? strnlen(s, LLD_MSGID_MAX + 1) : 0;

	if (n < 3 || n > LLD_MSGID_MAX || s[0] != '<' || s[n - 1] != '>')
		return 0;
	for (size_t i = 1; i + 1 < n; i++)
		if (!c_msgid((unsigned char)s[i]))
			return 0;
	return 1;
}

int kh_time_ok(int64_t t)
{
	return t > 0 && t <= KH_TIME_MAX;
}

/* A CRLReason (RFC 5280 5.3.1; 7 is not used), or -1: none. */
int kh_reason_ok(int64_t r)
{
	return r >= -1 && r <= 10 && r != 7;
}

/* ------------------------------------------------------------ writing */

static void w_add(struct kh_wbuf *w, const void *p, size_t n)
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

static void w_uint(struct kh_wbuf *w, uint64_t v, size_t n)
{
	unsigned char b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	w_add(w, b, n);
}

void kh_w_u8(struct kh_wbuf *w, unsigned v)
{
	w_uint(w, v, 1);
}

void kh_w_u32(struct kh_wbuf *w, uint32_t v)
{
	w_uint(w, v, 4);
}

void kh_w_i32(struct kh_wbuf *w, int32_t v)
{
	w_uint(w, (uint32_t)v, 4);
}

void kh_w_i64(struct kh_wbuf *w, int64_t v)
{
	w_uint(w, (uint64_t)v, 8);
}

void kh_w_bytes(struct kh_wbuf *w, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->oom = 1;
		return;
	}
	kh_w_u32(w, (uint32_t)n);
	w_add(w, p, n);
}

void kh_w_str(struct kh_wbuf *w, const char *s)
{
	kh_w_bytes(w, s, strlen(s));
}

/* Start a frame of TYPE in W (emptied). */
void kh_w_begin(struct kh_wbuf *w, unsigned type)
{
	w->len = 0;
	w->oom = 0;
	kh_w_u32(w, KH_MAGIC);
	w_uint(w, type, 2);
	w_uint(w, 0, 2);
	kh_w_u32(w, 0); /* the length, set by kh_w_end */
}

/* Finish the frame: its payload length into the header. */
int kh_w_end(struct kh_wbuf *w)
{
	size_t n = w->len - KH_HDR;

	if (w->oom || n > UINT32_MAX)
		return -1;
	for (size_t i = 0; i < 4; i++)
		w->p[8 + i] = (unsigned char)(n >> (8 * (3 - i)));
	return 0;
}

void kh_w_free(struct kh_wbuf *w)
{
	free(w->p);
	memset(w, 0, sizeof(*w));
}

/* An ERROR frame for CODE and ERR into W (restarted). */
void kh_w_error(struct kh_wbuf *w, int code, const struct ll_error *err)
{
	char msg[LL_ERROR_MSG_MAX], detail[LL_ERROR_DETAIL_MAX];

	snprintf(msg, sizeof(msg), "%s",
		 err->message[0] ? err->message : ll_strerror(code));
	snprintf(detail, sizeof(detail), "%s", err->detail);
	kh_w_begin(w, KH_ERROR);
	kh_w_i32(w, code);
	kh_w_str(w, msg);
	kh_w_str(w, detail);
}

/* ------------------------------------------------------------ reading */

static uint64_t r_uint(struct kh_rbuf *r, size_t n)
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

unsigned kh_r_u8(struct kh_rbuf *r)
{
	return (unsigned)r_uint(r, 1);
}

uint32_t kh_r_u32(struct kh_rbuf *r)
{
	return (uint32_t)r_uint(r, 4);
}

int32_t kh_r_i32(struct kh_rbuf *r)
{
	uint32_t u = (uint32_t)r_uint(r, 4);
	int32_t v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

int64_t kh_r_i64(struct kh_rbuf *r)
{
	uint64_t u = r_uint(r, 8);
	int64_t v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

/* A byte string of at most MAX octets; borrowed from R. */
const unsigned char *kh_r_bytes(struct kh_rbuf *r, size_t max, size_t *n)
{
	size_t len = kh_r_u32(r);
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
void kh_r_text(struct kh_rbuf *r, char *dst, size_t cap, size_t min,
	       int (*cls)(unsigned char))
{
	size_t n = 0;
	const unsigned char *p = kh_r_bytes(r, cap - 1, &n);

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
int kh_r_done(const struct kh_rbuf *r)
{
	return !r->bad && r->pos == r->len;
}

/* --------------------------------------------------------- socket I/O */

int64_t kh_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until FD is ready for EV; DEADLINE (kh_mono_ms) < 0: forever. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };

	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - kh_mono_ms();
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

int kh_send_all(int fd, const unsigned char *p, size_t n, int64_t deadline)
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

/* Read and check a header: magic, zero field.  0; 1: the end of the
 * stream; -1: an I/O error or time out; -2: out of shape. */
int kh_recv_hdr(int fd, struct kh_hdr *h, int64_t deadline)
{
	unsigned char b[KH_HDR];
	struct kh_rbuf r = { b, sizeof(b), 0, 0 };
	int rc = recv_all(fd, b, sizeof(b), deadline);

	if (rc != 0)
		return rc;
	if (kh_r_u32(&r) != KH_MAGIC)
		return -2;
	h->type = (unsigned)r_uint(&r, 2);
	if (r_uint(&r, 2) != 0)
		return -2;
	h->len = kh_r_u32(&r);
	return 0;
}

/* The payload of H into *out (malloc'd; at least one octet). */
int kh_recv_payload(int fd, const struct kh_hdr *h, unsigned char **out,
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
