/*
 * keystore_master.h - HOME/master.key for keystore.c: the raw key file
 * and the passphrase-wrapped form, read bounded, written atomically.
 *
 * The wrapped form (all integers big-endian), LL_MASTER_WRAPPED_LEN
 * bytes:
 *
 *   0  4  magic "LLMK"
 *   4  1  format version, 1
 *   5  1  KDF, 1 = scrypt
 *   6  1  AEAD, 1 = AES-256-GCM
 *   7  1  log2 N
 *   8  4  r
 *  12  4  p
 *  16  1  salt length, 16
 *  17 16  salt
 *  33 12  GCM nonce
 *  45 32  the master key, encrypted
 *  77 16  GCM tag
 *
 * The 45 bytes of header (through the nonce) are the AAD: a changed
 * parameter fails the tag like a wrong passphrase.  The raw form is
 * exactly LL_MASTER_LEN bytes; any other size is neither.
 */
#ifndef LL_KEYSTORE_MASTER_H
#define LL_KEYSTORE_MASTER_H

#include <stddef.h>

#include <letterlock/keystore.h>

#define LL_MASTER_LEN 32
#define LL_MASTER_HEADER_LEN 45
#define LL_MASTER_WRAPPED_LEN (LL_MASTER_HEADER_LEN + LL_MASTER_LEN + 16)
/* the most read from master.key: one byte more than the largest form */
#define LL_MASTER_FILE_MAX (LL_MASTER_WRAPPED_LEN + 1)

/*
 * AES-256-GCM with KEY (32 bytes) and NONCE (12 bytes) over AAD:
 * ll_gcm_seal encrypts IN[0..LEN) into OUT (LEN bytes) and its 16-byte
 * TAG (0 or LL_ECRYPTO); ll_gcm_open decrypts, LL_EDECRYPT when the tag
 * does not verify (OUT wiped), LL_ECRYPTO.
 */
int ll_gcm_seal(unsigned char *out, unsigned char *tag,
		const unsigned char *key, const unsigned char *nonce,
		const void *aad, size_t aadlen, const unsigned char *in,
		size_t len);
int ll_gcm_open(unsigned char *out, const unsigned char *key,
		const unsigned char *nonce, const void *aad, size_t aadlen,
		const unsigned char *in, size_t len, const unsigned char *tag);

/*
 * Wrap MASTER (LL_MASTER_LEN bytes) under PASS with KDF (NULL: the
 * default) into OUT (LL_MASTER_WRAPPED_LEN bytes).  LL_EINVAL for
 * parameters out of bounds or an empty or too long PASS; LL_ECRYPTO.
 */
int ll_master_wrap(unsigned char *out, const unsigned char *master,
		   const char *pass, const struct ll_keystore_kdf *kdf,
		   struct ll_error *err);

/*
 * Check that IN[0..LEN) is a wrapped master key this version reads,
 * with parameters within bounds, without deriving anything; its
 * parameters in *kdf if KDF is not NULL.  LL_ESTORE if not.
 */
int ll_master_check(const unsigned char *in, size_t len,
		    struct ll_keystore_kdf *kdf, struct ll_error *err);

/*
 * Unwrap IN[0..LEN) with PASS into MASTER (LL_MASTER_LEN bytes, wiped
 * on failure).  LL_ESTORE as ll_master_check; LL_EPASSPHRASE when the
 * tag does not verify (wrong passphrase or altered file); LL_ECRYPTO.
 */
int ll_master_unwrap(unsigned char *master, const unsigned char *in, size_t len,
		     const char *pass, struct ll_error *err);

/*
 * Read PATH into BUF (LL_MASTER_FILE_MAX bytes), its length in *len.
 * LL_ENOTFOUND if it does not exist, LL_EIO.
 */
int ll_master_read_file(unsigned char *buf, size_t *len, const char *path,
			struct ll_error *err);

/*
 * Write DATA[0..LEN) as DIR/master.key, mode 0600, atomically: a
 * temporary file in DIR, written and fsync'd, then renamed over
 * master.key (REPLACE) or linked to it only if it does not exist yet
 * (else LL_EEXIST: another process made it first), then DIR fsync'd.
 * LL_EIO; LL_ENOTSYNCED when only the fsync of DIR failed: master.key
 * is the new one, but whether it survives a crash is not known.
 */
int ll_master_write_file(const char *dir, const unsigned char *data, size_t len,
			 int replace, struct ll_error *err);

/*
 * Remove what an interrupted ll_master_write_file left in DIR: its
 * temporary files ".master.key.XXXXXX", which may hold a raw master
 * key, once LL_MASTER_SWEEP_AGE seconds old (a younger one may be a
 * writer's at work).  Returns how many were removed (0 also when DIR
 * cannot be read).
 */
#define LL_MASTER_SWEEP_AGE 60
int ll_master_sweep(const char *dir);

#endif
