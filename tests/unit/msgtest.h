/*
 * msgtest.h - what test_msg_seal.c and test_msg_open.c share: a small
 * cast of generated identities and contexts that know each other.
 *
 *   alice@example.test    RSA-2048
 *   bob@example.test      EC P-256
 *   carol@example.test    RSA-2048
 *   dave@example.test     EC P-256
 *   mallory               RSA-2048, a certificate for alice@example.test
 *                         that nobody trusts
 *
 * Every context made by mt_ctx holds one identity, fresh copies of the
 * four honest certificates as contacts (capabilities unknown: set them
 * per test with ll_ctx_contact_for + ll_cert_set_caps) and trusts those
 * four self-signed certificates.
 */
#ifndef LL_MSGTEST_H
#define LL_MSGTEST_H

#include <stddef.h>

#include <letterlock/letterlock.h>

#include "internal.h"

struct mt_who {
	const char *email;
	enum ll_keytype type;
	struct ll_identity *id; /* the template, cloned into contexts */
};

extern struct mt_who mt_alice, mt_bob, mt_carol, mt_dave, mt_mallory;

/* cmocka group setup / teardown: generate / free the cast. */
int mt_setup(void **state);
int mt_teardown(void **state);

/* A context with WHO's identity (see above). */
struct ll_ctx *mt_ctx(const struct mt_who *who);

/* Seal MSG (a C string) with FLAGS; the seal must succeed. */
struct ll_sealed *mt_seal(struct ll_ctx *ctx, const char *msg,
			  unsigned flags);
/* Open copy I of S; the open must succeed. */
struct ll_opened *mt_open_copy(struct ll_ctx *ctx, const struct ll_sealed *s,
			       size_t i);
/* ll_msg_open on LEN bytes, returning its code; *out as it left it. */
int mt_try_open(struct ll_opened **out, struct ll_ctx *ctx, const char *p,
		size_t len, struct ll_error *err);

/* Does P[0..N) contain NEEDLE? */
int mt_has(const char *p, size_t n, const char *needle);
/* A header field line "NAME: VALUE" at the start of a line of the
 * header block of the message P[0..N)?  (VALUE NULL: any value.) */
int mt_has_field(const char *p, size_t n, const char *name,
		 const char *value);
/* The decoded body (base64 DER) of the message P[0..N), in *der. */
void mt_body_der(struct ll_buf *der, const char *p, size_t n);
/* Replace the first FROM with TO in a malloc'd copy of P[0..N). */
char *mt_replace(const char *p, size_t n, const char *from, const char *to,
		 size_t *outlen);

#endif
