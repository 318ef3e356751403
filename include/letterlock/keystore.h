/*
 * letterlock/keystore.h - the client's home: identities (private keys
 * encrypted at rest, every key ever held), contacts and trust anchors,
 * in SQLite.
 *
 * Private keys are sealed with AES-256-GCM under a 256-bit key read
 * from HOME/master.key (created mode 0600 on first use).  Anyone who
 * can read that file can read the keys: the keys issue replaces it with
 * a passphrase-derived key.
 */
#ifndef LETTERLOCK_KEYSTORE_H
#define LETTERLOCK_KEYSTORE_H

#include <letterlock/error.h>
#include <letterlock/cert.h>
#include <letterlock/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ll_keystore;

/* Open (creating if needed, mode 0700) the home directory HOME. */
int ll_keystore_open(struct ll_keystore **out, const char *home,
		     struct ll_error *err);
void ll_keystore_close(struct ll_keystore **pp);

/* Store an identity (key encrypted).  LL_EEXIST if the same cert is in. */
int ll_keystore_add_identity(struct ll_keystore *ks,
			     const struct ll_identity *id,
			     struct ll_error *err);
int ll_keystore_add_contact(struct ll_keystore *ks, const struct ll_cert *c,
			    struct ll_error *err);
int ll_keystore_add_trust(struct ll_keystore *ks, const struct ll_cert *c,
			  struct ll_error *err);

/* Load everything into CTX (identities, contacts, trust anchors). */
int ll_keystore_load(struct ll_keystore *ks, struct ll_ctx *ctx,
		     struct ll_error *err);

enum ll_keystore_kind {
	LL_KS_IDENTITY,
	LL_KS_CONTACT,
	LL_KS_TRUST,
};

/* Call FN once per stored certificate of KIND, oldest first. */
int ll_keystore_foreach(struct ll_keystore *ks, enum ll_keystore_kind kind,
			int (*fn)(void *arg, const struct ll_cert *c),
			void *arg, struct ll_error *err);

/*
 * Named secrets (an ACME account key, ...), sealed like private keys:
 * AES-256-GCM under master.key, bound to NAME so that a sealed blob
 * cannot be moved to another name.  NAME is at most LL_KEYSTORE_NAME_MAX
 * bytes, DATA at most LL_KEYSTORE_SECRET_MAX.
 *
 * ll_keystore_put_secret stores DATA under NAME, replacing what NAME
 * held.  ll_keystore_get_secret gives it back in *out (malloc'd, length
 * *len; the caller wipes and frees it with ll_wipe_free(*out, *len)).
 * Errors: LL_EINVAL (NAME or DATA too long), LL_ENOTFOUND (no secret
 * NAME), LL_ESTORE (the store, or a blob that does not open: wrong
 * master.key or damaged), LL_ECRYPTO.
 */
#define LL_KEYSTORE_NAME_MAX 4096
#define LL_KEYSTORE_SECRET_MAX (64 * 1024)

int ll_keystore_put_secret(struct ll_keystore *ks, const char *name,
			   const void *data, size_t len,
			   struct ll_error *err);
int ll_keystore_get_secret(unsigned char **out, size_t *len,
			   struct ll_keystore *ks, const char *name,
			   struct ll_error *err);

#ifdef __cplusplus
}
#endif
#endif
