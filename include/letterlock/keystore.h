/*
 * letterlock/keystore.h - the client's home: identities (private keys
 * encrypted at rest, every key ever held), contacts and trust anchors,
 * in SQLite.
 *
 * Keys at rest.  Each private key (and each named secret) is sealed on
 * its own with AES-256-GCM under one random 256-bit master key, the
 * sealed blob bound to its certificate's fingerprint (or the secret's
 * name).  The master key lives in HOME/master.key (mode 0600), in one
 * of two forms:
 *
 *   key file    the 32 raw bytes: unattended use (a service, a bridge
 *               started at login).  Anyone who can read the file can
 *               read every key; it protects against nothing that can
 *               read the home.
 *   passphrase  the master key wrapped under a passphrase (scrypt, then
 *               AES-256-GCM; the KDF parameters and salt are in the
 *               file).  A stolen disk or backup of the home gives no
 *               key without the passphrase, but someone (or an agent)
 *               must give it at each start.
 *
 * `letterlock passwd` switches between them and changes the passphrase
 * (ll_keystore_set_passphrase, ll_keystore_set_key_file): only
 * master.key is rewritten, atomically; the master key itself and the
 * sealed rows stay as they are, so a copy of an earlier master.key
 * still opens the store (see doc/decisions.md).
 *
 * Unlocking is lazy: ll_keystore_open reads master.key but derives
 * nothing.  Only what needs a private key or a secret (loading the
 * identities, adding one, the named secrets) unlocks, through
 * ll_keystore_unlock or the passphrase callback; listing identities,
 * contacts and trust anchors never does.
 *
 * Key history: every identity ever stored stays; all of them are loaded
 * (ll_keystore_load, ll_keystore_load_identities) so that mail sealed
 * to an old key still opens; ll_keystore_foreach_key tells which one
 * is current for its address.
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

/*
 * Open (creating if needed, mode 0700) the home directory HOME.  A home
 * without master.key gets a new one in the key-file form.  A
 * passphrase-protected home opens locked (nothing is derived yet).
 * Errors: LL_EIO (the directory or master.key cannot be read or made),
 * LL_ESTORE (the database, or a master.key that is neither form: wrong
 * size, unknown magic or version, KDF parameters out of bounds).
 */
int ll_keystore_open(struct ll_keystore **out, const char *home,
		     struct ll_error *err);
void ll_keystore_close(struct ll_keystore **pp);

/* ---- protection of the master key ---- */

enum ll_keystore_protection {
	LL_KS_KEY_FILE = 0,   /* master.key holds the raw key */
	LL_KS_PASSPHRASE = 1, /* master.key holds it wrapped (scrypt) */
};

/* How master.key is kept now. */
enum ll_keystore_protection
ll_keystore_protection(const struct ll_keystore *ks);

/* 1 while the master key is not known (a passphrase home not yet
 * unlocked), else 0. */
int ll_keystore_is_locked(const struct ll_keystore *ks);

/*
 * scrypt parameters for wrapping the master key: N = 2^log2_n, r, p.
 * The default (LL_KEYSTORE_KDF_INIT) costs 128 MiB and about 0.7 s on
 * a 2020s x86 core.  Accepted (written and read): log2_n 10..20, r
 * 1..32, p 1..16, with 128 * r * N at most LL_KEYSTORE_KDF_MAXMEM and N
 * * r * p at most 2^24 (about 8 times the default's work), so that a
 * hostile master.key cannot make a reader allocate or spin for long.
 */
struct ll_keystore_kdf {
	unsigned version; /* LL_KEYSTORE_KDF_VERSION */
	unsigned log2_n;
	unsigned r;
	unsigned p;
};
#define LL_KEYSTORE_KDF_VERSION 1
#define LL_KEYSTORE_KDF_INIT { LL_KEYSTORE_KDF_VERSION, 17, 8, 2 }
#define LL_KEYSTORE_KDF_MAXMEM (256u * 1024 * 1024)

/* Longest passphrase, in bytes (without the NUL). */
#define LL_KEYSTORE_PASS_MAX 1023
/* How many times the callback is asked after a wrong passphrase, in all. */
#define LL_KEYSTORE_PASS_TRIES 3

/*
 * The passphrase callback, called when a locked keystore first needs
 * its master key.  It writes the passphrase, NUL-terminated, into BUF
 * (SIZE bytes, LL_KEYSTORE_PASS_MAX + 1) and returns 0; or it gives up
 * with a negative LL_E* code, having said why in ERR (LL_ELOCKED: no
 * passphrase to be had).  ATTEMPT is 0 at first; after a wrong
 * passphrase the callback is asked again with ATTEMPT + 1, at most
 * LL_KEYSTORE_PASS_TRIES times in all, and may return LL_EPASSPHRASE
 * to stop (a passphrase read from a file will not get better).  BUF is
 * wiped by the keystore after use.
 */
typedef int (*ll_keystore_passphrase_fn)(void *arg, char *buf, size_t size,
					 unsigned attempt,
					 struct ll_error *err);

/* Set (FN NULL: remove) the callback; ARG is passed to it, borrowed. */
void ll_keystore_set_passphrase_cb(struct ll_keystore *ks,
				   ll_keystore_passphrase_fn fn, void *arg);

/*
 * Unlock now: with PASS if not NULL, else through the callback.  0 at
 * once when already unlocked (a key-file home always is).  Errors:
 * LL_EPASSPHRASE (wrong passphrase, or a master.key altered since it
 * was written: the two are indistinguishable), LL_ELOCKED (no PASS and
 * no callback), what the callback returned, LL_ECRYPTO, LL_ENOMEM.
 */
int ll_keystore_unlock(struct ll_keystore *ks, const char *pass,
		       struct ll_error *err);

/*
 * Protect the master key with PASS (1 .. LL_KEYSTORE_PASS_MAX bytes)
 * under the scrypt parameters KDF (NULL: LL_KEYSTORE_KDF_INIT), or,
 * with ll_keystore_set_key_file, keep it as a raw key file.  Both
 * unlock first if needed, then replace master.key atomically (a new
 * file, fsync'd, renamed over it, the directory fsync'd): after a crash
 * master.key is the old or the new one, and either opens the store.
 * Errors: those of ll_keystore_unlock, LL_EINVAL (empty or too long
 * PASS, parameters out of bounds), LL_EIO (nothing changed).
 * LL_ENOTSYNCED is not a failure: the change is made (master.key is the
 * new one, KS uses it) but the directory's fsync failed, so whether it
 * survives a crash is not known; say it as a warning.
 */
int ll_keystore_set_passphrase(struct ll_keystore *ks, const char *pass,
			       const struct ll_keystore_kdf *kdf,
			       struct ll_error *err);
int ll_keystore_set_key_file(struct ll_keystore *ks, struct ll_error *err);

/* ---- contents ---- */

/* Store an identity (key encrypted; unlocks if needed).  LL_EEXIST if
 * the same cert is in; the errors of ll_keystore_unlock. */
int ll_keystore_add_identity(struct ll_keystore *ks,
			     const struct ll_identity *id,
			     struct ll_error *err);
int ll_keystore_add_contact(struct ll_keystore *ks, const struct ll_cert *c,
			    struct ll_error *err);
int ll_keystore_add_trust(struct ll_keystore *ks, const struct ll_cert *c,
			  struct ll_error *err);

/*
 * Load into CTX: ll_keystore_load everything (identities, contacts,
 * trust anchors); ll_keystore_load_identities every identity ever
 * stored, with its private key (unlocks if there is one; the errors of
 * ll_keystore_unlock; LL_ESTORE when a stored key does not open);
 * ll_keystore_load_certs only the current contacts and the trust
 * anchors (never unlocks).
 */
int ll_keystore_load(struct ll_keystore *ks, struct ll_ctx *ctx,
		     struct ll_error *err);
int ll_keystore_load_identities(struct ll_keystore *ks, struct ll_ctx *ctx,
				struct ll_error *err);
int ll_keystore_load_certs(struct ll_keystore *ks, struct ll_ctx *ctx,
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
 * Key history, without unlocking.  Each identity's certificate is in
 * the state it has at NOW (0: the current time) for its address (its
 * first, ll_cert_email):
 *
 *   current        the one ll_ctx_identity_for picks for signing: valid
 *                  at NOW and, of those, the latest notBefore;
 *   superseded     valid at NOW, but a later one is current;
 *   expired        notAfter before NOW;
 *   not-yet-valid  notBefore after NOW.
 *
 * Every identity stays able to decrypt whatever its state.
 */
enum ll_key_state {
	LL_KEY_CURRENT,
	LL_KEY_SUPERSEDED,
	LL_KEY_EXPIRED,
	LL_KEY_NOT_YET_VALID,
	LL_KEY_REVOKED, /* the home knows it revoked (revocation.h) */
};

/* "current", "superseded", "expired", "not-yet-valid", "revoked". */
const char *ll_key_state_name(enum ll_key_state state);

struct ll_keystore_key {
	const struct ll_cert *cert; /* borrowed for the call */
	enum ll_key_state state;
	time_t added; /* when it was stored */
};

/*
 * Call FN once per stored identity: by address (byte order), and for
 * one address the current key first, then the others by notBefore,
 * latest first.  FN returning non-zero stops the walk with that value.
 * Errors: LL_ESTORE, LL_ENOMEM.
 */
int ll_keystore_foreach_key(struct ll_keystore *ks, time_t now,
			    int (*fn)(void *arg,
				      const struct ll_keystore_key *k),
			    void *arg, struct ll_error *err);

/*
 * The current certificate for ADDR at NOW (0: now), chosen as
 * ll_ctx_identity_for chooses, without unlocking: a new reference in
 * *out (ll_cert_free).  LL_ENOTFOUND if there is none.
 */
int ll_keystore_current_cert(struct ll_cert **out, struct ll_keystore *ks,
			     const char *addr, time_t now,
			     struct ll_error *err);

/*
 * Named secrets (an ACME account key, ...), sealed like private keys:
 * AES-256-GCM under master.key, bound to NAME so that a sealed blob
 * cannot be moved to another name.  NAME is at most LL_KEYSTORE_NAME_MAX
 * bytes, DATA at most LL_KEYSTORE_SECRET_MAX.
 *
 * ll_keystore_put_secret stores DATA under NAME, replacing what NAME
 * held.  ll_keystore_get_secret gives it back in *out (malloc'd, length
 * *len; the caller wipes and frees it with ll_wipe_free(*out, *len)).
 * Both unlock if needed.  Errors: LL_EINVAL (NAME or DATA too long),
 * LL_ENOTFOUND (no secret NAME), LL_ESTORE (the store, or a blob that
 * does not open: wrong master.key or damaged), LL_ECRYPTO, and those of
 * ll_keystore_unlock.
 */
#define LL_KEYSTORE_NAME_MAX 4096
#define LL_KEYSTORE_SECRET_MAX (64 * 1024)

int ll_keystore_put_secret(struct ll_keystore *ks, const char *name,
			   const void *data, size_t len,
			   struct ll_error *err);
/* Forget the secret NAME (nothing to do when there is none).  The row
 * is deleted; SQLite may keep its old bytes in free pages until they
 * are reused (they were sealed).  Errors: LL_ESTORE. */
int ll_keystore_delete_secret(struct ll_keystore *ks, const char *name,
			      struct ll_error *err);
int ll_keystore_get_secret(unsigned char **out, size_t *len,
			   struct ll_keystore *ks, const char *name,
			   struct ll_error *err);

#ifdef __cplusplus
}
#endif
#endif
