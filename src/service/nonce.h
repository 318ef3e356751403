/*
 * nonce.h - ACME replay nonces (RFC 8555 section 6.5), kept by the
 * front in memory: no store write per request.
 *
 * A nonce is base64url(counter || HMAC-SHA256(key, counter)[0..8]), 16
 * bytes, with a key drawn at start: nonces of an earlier run (or
 * another front) fail the MAC, which RFC 8555 allows (the client gets
 * badNonce with a fresh nonce and retries).  A bitmap over the last
 * LLD_NONCE_WINDOW counters marks the used ones; a nonce is refused once
 * about LLD_NONCE_WINDOW newer ones were made (the window less one block
 * of 4096) or after LLD_NONCE_TTL seconds.  Memory is fixed
 * (the bitmap and a coarse time ring), whatever the request rate.
 */
#ifndef LLD_NONCE_H
#define LLD_NONCE_H

#include <time.h>

#include <letterlock/error.h>

#define LLD_NONCE_LEN 22 /* 16 bytes, base64url */
#define LLD_NONCE_TTL 3600 /* seconds a nonce stays usable */

#define LLD_NONCE_WINDOW (1u << 20) /* nonces outstanding at most */

struct lld_nonces;

/* Errors: LL_ENOMEM, LL_ECRYPTO. */
int lld_nonces_new(struct lld_nonces **out, struct ll_error *err);
void lld_nonces_free(struct lld_nonces **pp);

/* A fresh nonce into OUT. */
void lld_nonce_make(struct lld_nonces *ns, char out[LLD_NONCE_LEN + 1],
		    time_t now);

/* 0 if S is a nonce we made, not used before, within the window and
 * younger than LLD_NONCE_TTL (it is now used); -1 otherwise. */
int lld_nonce_use(struct lld_nonces *ns, const char *s, time_t now);

#endif
