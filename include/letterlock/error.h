/*
 * letterlock/error.h - error reporting shared by every module.
 *
 * Functions return int: 0 on success, a negative LL_E* code on failure.
 * Details go to a caller-provided struct ll_error (may be NULL).
 */
#ifndef LETTERLOCK_ERROR_H
#define LETTERLOCK_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ll_errcode {
	LL_OK = 0,
	LL_EINVAL = -1,	  /* bad argument or usage */
	LL_ENOMEM = -2,	  /* allocation failed */
	LL_EIO = -3,	  /* operating system I/O error */
	LL_EPARSE = -4,	  /* malformed input (MIME, CMS, PEM, ...) */
	LL_ETOOBIG = -5,  /* input exceeds a documented limit */
	LL_ECRYPTO = -6,  /* OpenSSL failure not caused by the input */
	LL_ENOKEY = -7,	  /* none of our keys can decrypt this */
	LL_ENOCERT = -8,  /* a recipient has no certificate */
	LL_EDECRYPT = -9, /* decryption failed (padding, tag, key) */
	LL_ENOTFOUND = -10,
	LL_EEXIST = -11,
	LL_ESTORE = -12,  /* local store (SQLite) failure */
	LL_EPOLICY = -13, /* refused by policy (attack shapes, limits) */
	LL_EPASSPHRASE = -14, /* wrong passphrase (keystore) */
	LL_ELOCKED = -15,     /* keys locked and no passphrase given */
	LL_ENOTSYNCED = -16, /* done, but not yet known to be on the disk */
};

enum ll_errclass {
	LL_ECLASS_NONE = 0,
	LL_ECLASS_OS,
	LL_ECLASS_OPENSSL,
	LL_ECLASS_MIME,
	LL_ECLASS_CMS,
	LL_ECLASS_STORE,
	LL_ECLASS_POLICY,
	LL_ECLASS_USAGE,
};

#define LL_ERROR_MSG_MAX 256
#define LL_ERROR_DETAIL_MAX 512

struct ll_error {
	int code;			      /* LL_E* */
	enum ll_errclass klass;
	char message[LL_ERROR_MSG_MAX];	      /* one line, no newline */
	char detail[LL_ERROR_DETAIL_MAX];     /* drained OpenSSL queue */
};

/* Reset *err to "no error".  NULL-safe. */
void ll_error_clear(struct ll_error *err);

/* Static name of an LL_E* code ("LL_EPARSE" -> "malformed input"). */
const char *ll_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
