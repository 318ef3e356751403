/*
 * letterlock/backup.h - the end-to-end encrypted backup of a home:
 * every identity (private key, certificate and chain; past keys too),
 * the trust anchors and named secrets such as the ACME account key,
 * sealed on this machine under a key derived from a recovery code that
 * only the user holds.  The blob may then be stored anywhere (the
 * letterlockd vault, the user's own mailbox): whoever holds it without
 * the code holds ciphertext.
 *
 * The blob (all integers big-endian):
 *
 *   offset  size  field
 *        0     4  magic "LLB1"
 *        4     1  format version, 1
 *        5     1  KDF, 1 = scrypt
 *        6     1  cipher, 1 = AES-256-GCM
 *        7     1  log2 of scrypt's N
 *        8     4  scrypt r
 *       12     4  scrypt p
 *       16    16  salt
 *       32    12  GCM nonce
 *       44     4  length of the ciphertext, C
 *       48     C  ciphertext
 *     48+C    16  GCM tag
 *
 * The whole 48-octet header is the GCM additional data, so no field of
 * it can change without the tag failing.  The plaintext is a sequence
 * of records (backup.c).
 *
 * The recovery code: 26 Crockford base32 symbols of randomness (130
 * bits) and 4 check symbols (20 bits of a SHA-256 over them), written
 * as six groups of five, "7K3QZ-...".  Typing is forgiving (any case,
 * any dashes and spaces, O for 0, I and L for 1); a typo is caught by
 * the check symbols before the slow derivation.
 *
 * Errors (besides LL_ENOMEM, LL_ECRYPTO, LL_ESTORE): LL_EINVAL (a
 * recovery code that is not one, or has a typo), LL_EPARSE and
 * LL_ETOOBIG (not a backup, or one over the limits), LL_EPOLICY (KDF
 * parameters over the limits: a blob made to cost memory or time),
 * LL_EDECRYPT (wrong recovery code, or a damaged or altered backup: the
 * two cannot be told apart, and nothing of the content is given out).
 */
#ifndef LETTERLOCK_BACKUP_H
#define LETTERLOCK_BACKUP_H

#include <stddef.h>
#include <letterlock/error.h>
#include <letterlock/keystore.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LL_BACKUP_MAX (1024 * 1024) /* octets of a blob */
#define LL_BACKUP_HEADER_LEN 48
#define LL_BACKUP_CODE_LEN 35 /* six groups of five, dashes between */
#define LL_BACKUP_MEDIA_TYPE "application/vnd.letterlock.backup"

/* The named secret of the home that keeps the derived key (never the
 * code), so that later key changes are backed up without asking. */
#define LL_BACKUP_KEY_SECRET "backup-key"

/*
 * scrypt's cost.  The default takes about a second and 256 MiB on a
 * current machine (N = 2^18, r = 8, p = 1).  A blob is refused
 * (LL_EPOLICY) when it asks for more than LL_BACKUP_KDF_MEM_MAX octets
 * (128 r N) or LL_BACKUP_KDF_WORK_MAX (N r p), or log2 N outside 10 to
 * 20, r outside 1 to 16, p outside 1 to 4.
 */
struct ll_backup_kdf {
	unsigned log2_n;
	unsigned r;
	unsigned p;
};
#define LL_BACKUP_KDF_INIT \
	{                  \
		18, 8, 1   \
	}
#define LL_BACKUP_KDF_MEM_MAX (512UL * 1024 * 1024)
#define LL_BACKUP_KDF_WORK_MAX (1UL << 22) /* twice the default */

/* 0 if KDF is within the limits above, else LL_EPOLICY saying why. */
int ll_backup_kdf_check(const struct ll_backup_kdf *kdf, struct ll_error *err);

/* ---- the recovery code ---- */

/* A new recovery code, NUL-terminated, into OUT.  LL_ECRYPTO. */
int ll_backup_code_new(char out[LL_BACKUP_CODE_LEN + 1], struct ll_error *err);

/*
 * TYPED as the user wrote it, checked and written the canonical way
 * into OUT.  LL_EINVAL when it is not a recovery code: wrong length,
 * a character that is not Crockford base32, or check symbols that do
 * not match (a typo); the message says which.
 */
int ll_backup_code_normalize(char out[LL_BACKUP_CODE_LEN + 1],
			     const char *typed, struct ll_error *err);

/* ---- the key ---- */

struct ll_backup_key;

/*
 * The key of CODE (checked with ll_backup_code_normalize) under a new
 * random salt and the parameters KDF (NULL: the default).  This is the
 * slow step.  *out belongs to the caller (ll_backup_key_free wipes it).
 */
int ll_backup_key_derive(struct ll_backup_key **out, const char *code,
			 const struct ll_backup_kdf *kdf, struct ll_error *err);
void ll_backup_key_free(struct ll_backup_key **pp);

/*
 * Keep KEY in KS as the named secret LL_BACKUP_KEY_SECRET, with where
 * the backup went (WHERE: "vault" or "mailbox"), for ADDRESS, and the
 * names of the N secrets of KS it holds (NAMES); ll_backup_key_load
 * gives them back (the strings borrowed from *out).  Load: LL_ENOTFOUND
 * when no backup was made from this home, LL_EPARSE for a damaged one.
 */
int ll_backup_key_store(struct ll_keystore *ks, const struct ll_backup_key *key,
			const char *where, const char *address,
			const char *const *names, size_t n,
			struct ll_error *err);
int ll_backup_key_load(struct ll_backup_key **out, struct ll_keystore *ks,
		       struct ll_error *err);
const char *ll_backup_key_where(const struct ll_backup_key *key);
const char *ll_backup_key_address(const struct ll_backup_key *key);
size_t ll_backup_key_secret_count(const struct ll_backup_key *key);
const char *ll_backup_key_secret(const struct ll_backup_key *key, size_t i);

/* ---- the blob ---- */

/*
 * The blob of everything KS holds (every identity, every trust anchor,
 * the home's own revocation marks) and the N named secrets NAMES of KS (a name KS does not hold is left
 * out), sealed under KEY, into *out (malloc'd, *len octets, at most
 * LL_BACKUP_MAX: else LL_ETOOBIG).  The identities are read through
 * ll_keystore_load.  Each call uses a new nonce.
 */
int ll_backup_seal(unsigned char **out, size_t *len,
		   const struct ll_backup_key *key, struct ll_keystore *ks,
		   const char *const *names, size_t n, struct ll_error *err);

/*
 * After a key change: the backup made from KS before, sealed again
 * with the key kept there and the secret names kept with it, without
 * the recovery code.  *key (may be NULL) is that key: where the backup
 * goes and for which address.  LL_ENOTFOUND when no backup was made
 * from this home (then nothing is to be done).
 */
int ll_backup_reseal(unsigned char **out, size_t *len,
		     struct ll_backup_key **key, struct ll_keystore *ks,
		     struct ll_error *err);

/* What a blob held, opened. */
struct ll_backup;

/*
 * Open BLOB (LEN octets, from anywhere: it is parsed as hostile) with
 * the recovery code CODE.  Every size and the KDF parameters are
 * checked before anything is allocated or derived.  On success *out
 * holds the content (ll_backup_free wipes it) and, when KEY is not
 * NULL, *key the derived key (to keep with ll_backup_key_store).
 * Errors: as the module comment says; on any error nothing of the
 * plaintext is kept.
 */
int ll_backup_open(struct ll_backup **out, struct ll_backup_key **key,
		   const void *blob, size_t len, const char *code,
		   struct ll_error *err);

/* Only the header of BLOB: its KDF parameters into *kdf (may be NULL).
 * Errors: LL_EPARSE, LL_ETOOBIG, LL_EPOLICY. */
int ll_backup_peek(struct ll_backup_kdf *kdf, const void *blob, size_t len,
		   struct ll_error *err);

/* The content, borrowed from B. */
size_t ll_backup_identity_count(const struct ll_backup *b);
const struct ll_identity *ll_backup_identity(const struct ll_backup *b,
					     size_t i);
size_t ll_backup_trust_count(const struct ll_backup *b);
size_t ll_backup_secret_count(const struct ll_backup *b);
/* The home's own revocation marks it carried (ll_revocation_mark). */
size_t ll_backup_revocation_count(const struct ll_backup *b);
const char *ll_backup_secret_name(const struct ll_backup *b, size_t i);

/*
 * Put the content of B into KS: every identity (one that is there
 * already is left as it is), every trust anchor, every named secret
 * (replacing what KS held under that name), every revocation mark of
 * the home it was made from (ll_revocation_mark: a certificate revoked
 * there neither signs nor is offered here).  *added (may be NULL):
 * identities that were not there before.
 */
int ll_backup_install(const struct ll_backup *b, struct ll_keystore *ks,
		      size_t *added, struct ll_error *err);

void ll_backup_free(struct ll_backup **pp);

#ifdef __cplusplus
}
#endif
#endif
