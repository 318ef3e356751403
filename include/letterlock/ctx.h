/*
 * letterlock/ctx.h - the context: OpenSSL library context, the user's
 * identities (current and past keys), contacts' certificates and the
 * trust anchors.  One context per thread.
 */
#ifndef LETTERLOCK_CTX_H
#define LETTERLOCK_CTX_H

#include <time.h>
#include <letterlock/error.h>
#include <letterlock/cert.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ll_ctx;

int ll_ctx_new(struct ll_ctx **out, struct ll_error *err);
void ll_ctx_free(struct ll_ctx **pp);

/*
 * Add an identity; the context takes ownership of *id (and sets it to
 * NULL).  The newest certificate for an address (latest notBefore that
 * is valid now) is the one used for signing; all keys decrypt.
 */
int ll_ctx_add_identity(struct ll_ctx *ctx, struct ll_identity **id,
			struct ll_error *err);

/* Add a recipient certificate; the context takes a reference. */
int ll_ctx_add_contact(struct ll_ctx *ctx, struct ll_cert *cert,
		       struct ll_error *err);

/* Add a trust anchor; the context takes a reference. */
int ll_ctx_add_trust(struct ll_ctx *ctx, struct ll_cert *cert,
		     struct ll_error *err);

/*
 * Verification time: 0 (default) means now.  Tests and the renewal
 * logic use it to judge mail at another time.
 */
void ll_ctx_set_time(struct ll_ctx *ctx, time_t t);

/* The signing identity for ADDR, or NULL; borrowed. */
struct ll_identity *ll_ctx_identity_for(struct ll_ctx *ctx,
					const char *addr);

/* The contact certificate to encrypt to for ADDR: of those valid now
 * that may be encrypted to (ll_cert_uses), the one issued last; with
 * none, our own identity's for an address of ours; else NULL.
 * Borrowed.  A signing-only certificate is never chosen. */
struct ll_cert *ll_ctx_contact_for(struct ll_ctx *ctx, const char *addr);

/* 1 if ADDR has contact certificates valid now and not revoked, none
 * of which may be encrypted to (signing certificates only), else 0:
 * why ll_ctx_contact_for found nothing. */
int ll_ctx_contact_sign_only(struct ll_ctx *ctx, const char *addr);

#ifdef __cplusplus
}
#endif
#endif
