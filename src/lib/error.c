/* error.c - struct ll_error and the OpenSSL error queue. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "internal.h"

void ll_error_clear(struct ll_error *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}

const char *ll_strerror(int code)
{
	switch (code) {
	case LL_OK: return "success";
	case LL_EINVAL: return "invalid argument";
	case LL_ENOMEM: return "out of memory";
	case LL_EIO: return "I/O error";
	case LL_EPARSE: return "malformed input";
	case LL_ETOOBIG: return "input too large";
	case LL_ECRYPTO: return "cryptographic library failure";
	case LL_ENOKEY: return "no key for this message";
	case LL_ENOCERT: return "recipient without certificate";
	case LL_EDECRYPT: return "decryption failed";
	case LL_ENOTFOUND: return "not found";
	case LL_EEXIST: return "already present";
	case LL_ESTORE: return "store failure";
	case LL_EPOLICY: return "refused by policy";
	case LL_EPASSPHRASE: return "wrong passphrase";
	case LL_ELOCKED: return "keys locked: passphrase needed";
	case LL_ENOTSYNCED:
		return "done, not yet synced";
	}
	return "unknown error";
}

static void set_msg(struct ll_error *err, int code, enum ll_errclass klass,
		    const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void set_msg(struct ll_error *err, int code, enum ll_errclass klass,
		    const char *fmt, va_list ap)
{
	err->code = code;
	err->klass = klass;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	for (char *s = err->message; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int ll_err(struct ll_error *err, int code, enum ll_errclass klass,
	   const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	set_msg(err, code, klass, fmt, ap);
	va_end(ap);
	err->detail[0] = '\0';
	return code;
}

int ll_err_ossl(struct ll_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	size_t used = 0;

	if (err == NULL) {
		ERR_clear_error();
		return code;
	}
	va_start(ap, fmt);
	set_msg(err, code, LL_ECLASS_OPENSSL, fmt, ap);
	va_end(ap);
	err->detail[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (used + strlen(one) + 3 < sizeof(err->detail)) {
			used += (size_t)snprintf(err->detail + used,
						 sizeof(err->detail) - used,
						 "%s%s", used ? "; " : "", one);
		}
	}
	return code;
}

int ll_buf_reserve(struct ll_buf *b, size_t extra)
{
	size_t want, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return LL_ENOMEM;
	want = b->len + extra + 1;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (b->wipe) {
		/* never leave a secret behind in a freed block */
		p = malloc(cap);
		if (p == NULL)
			return LL_ENOMEM;
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
	} else {
		p = realloc(b->p, cap);
		if (p == NULL)
			return LL_ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int ll_buf_add(struct ll_buf *b, const void *p, size_t n)
{
	int rc = ll_buf_reserve(b, n);

	if (rc < 0)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int ll_buf_adds(struct ll_buf *b, const char *s)
{
	return ll_buf_add(b, s, strlen(s));
}

int ll_buf_addf(struct ll_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LL_EINVAL;
	rc = ll_buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void ll_buf_free(struct ll_buf *b)
{
	if (b->p != NULL && b->wipe)
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void ll_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}
