/*
 * keystore_master.c - HOME/master.key: the passphrase-wrapped form of
 * the master key (scrypt + AES-256-GCM, keystore_master.h), its bounds,
 * and the file, read bounded and written atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"
#include "keystore_master.h"

#define MAGIC "LLMK"
#define FORMAT_VERSION 1
#define KDF_SCRYPT 1
#define AEAD_AES256GCM 1
#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16

/* offsets in the wrapped form */
#define OFF_VERSION 4
#define OFF_KDF 5
#define OFF_AEAD 6
#define OFF_LOG2N 7
#define OFF_R 8
#define OFF_P 12
#define OFF_SALTLEN 16
#define OFF_SALT 17
#define OFF_NONCE (OFF_SALT + SALT_LEN)
#define OFF_CT (OFF_NONCE + NONCE_LEN)
#define OFF_TAG (OFF_CT + LL_MASTER_LEN)

_Static_assert(OFF_CT == LL_MASTER_HEADER_LEN, "header layout");
_Static_assert(OFF_TAG + TAG_LEN == LL_MASTER_WRAPPED_LEN, "file layout");

/* ---- AES-256-GCM, shared with keystore.c's sealed keys ---- */

int ll_gcm_seal(unsigned char *out, unsigned char *tag,
		const unsigned char *key, const unsigned char *nonce,
		const void *aad, size_t aadlen, const unsigned char *in,
		size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = c != NULL && aadlen <= INT_MAX && len <= INT_MAX &&
	     EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	     EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) == 1 &&
	     EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1 &&
	     EVP_EncryptFinal_ex(c, out + n, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : LL_ECRYPTO;
}

int ll_gcm_open(unsigned char *out, const unsigned char *key,
		const unsigned char *nonce, const void *aad, size_t aadlen,
		const unsigned char *in, size_t len, const unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok, rc = LL_ECRYPTO;

	ok = c != NULL && aadlen <= INT_MAX && len <= INT_MAX &&
	     EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) == 1 &&
	     EVP_DecryptUpdate(c, out, &n, in, (int)len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				 (void *)tag) == 1;
	if (ok) {
		/* all that can fail now is the tag */
		rc = EVP_DecryptFinal_ex(c, out + n, &n) == 1 ? 0 : LL_EDECRYPT;
	}
	EVP_CIPHER_CTX_free(c);
	if (rc < 0)
		OPENSSL_cleanse(out, len);
	return rc;
}

/* ---- the wrapped form ---- */

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Within the bounds keystore.h states; every product fits 64 bits. */
static int kdf_ok(const struct ll_keystore_kdf *k)
{
	uint64_t n;

	if (k->log2_n < 10 || k->log2_n > 20 || k->r < 1 || k->r > 32 ||
	    k->p < 1 || k->p > 16)
		return 0;
	n = (uint64_t)1 << k->log2_n;
	return 128 * k->r * n <= LL_KEYSTORE_KDF_MAXMEM &&
	       n * k->r * k->p <= (uint64_t)1 << 24;
}

static int derive(unsigned char *key, const char *pass,
		  const unsigned char *salt, const struct ll_keystore_kdf *k,
		  struct ll_error *err)
{
	/* scrypt's own check, a little above ours (its B and XY arrays) */
	const uint64_t maxmem = (uint64_t)LL_KEYSTORE_KDF_MAXMEM + (1u << 20);

	ERR_clear_error();
	if (EVP_PBE_scrypt_ex(pass, strlen(pass), salt, SALT_LEN,
			      (uint64_t)1 << k->log2_n, k->r, k->p, maxmem, key,
			      LL_MASTER_LEN, NULL, NULL) != 1)
		return ll_err_ossl(err, LL_ECRYPTO, "scrypt");
	return 0;
}

static int pass_ok(const char *pass, struct ll_error *err)
{
	size_t n = strlen(pass);

	if (n == 0 || n > LL_KEYSTORE_PASS_MAX)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "a passphrase is 1 to %d bytes",
			      LL_KEYSTORE_PASS_MAX);
	return 0;
}

int ll_master_wrap(unsigned char *out, const unsigned char *master,
		   const char *pass, const struct ll_keystore_kdf *kdf,
		   struct ll_error *err)
{
	static const struct ll_keystore_kdf dflt = LL_KEYSTORE_KDF_INIT;
	unsigned char key[LL_MASTER_LEN];
	int rc;

	if (kdf == NULL)
		kdf = &dflt;
	if (kdf->version != LL_KEYSTORE_KDF_VERSION || !kdf_ok(kdf))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "scrypt parameters out of bounds");
	rc = pass_ok(pass, err);
	if (rc < 0)
		return rc;
	memcpy(out, MAGIC, 4);
	out[OFF_VERSION] = FORMAT_VERSION;
	out[OFF_KDF] = KDF_SCRYPT;
	out[OFF_AEAD] = AEAD_AES256GCM;
	out[OFF_LOG2N] = (unsigned char)kdf->log2_n;
	put32(out + OFF_R, kdf->r);
	put32(out + OFF_P, kdf->p);
	out[OFF_SALTLEN] = SALT_LEN;
	if (RAND_bytes(out + OFF_SALT, SALT_LEN) != 1 ||
	    RAND_bytes(out + OFF_NONCE, NONCE_LEN) != 1)
		return ll_err_ossl(err, LL_ECRYPTO, "random");
	rc = derive(key, pass, out + OFF_SALT, kdf, err);
	if (rc == 0 &&
	    ll_gcm_seal(out + OFF_CT, out + OFF_TAG, key, out + OFF_NONCE, out,
			LL_MASTER_HEADER_LEN, master, LL_MASTER_LEN) < 0)
		rc = ll_err_ossl(err, LL_ECRYPTO, "wrapping the master key");
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int ll_master_check(const unsigned char *in, size_t len,
		    struct ll_keystore_kdf *kdf, struct ll_error *err)
{
	struct ll_keystore_kdf k = { LL_KEYSTORE_KDF_VERSION, 0, 0, 0 };

	if (len != LL_MASTER_WRAPPED_LEN || memcmp(in, MAGIC, 4) != 0)
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "master.key is damaged (neither a key file "
			      "nor a wrapped key)");
	if (in[OFF_VERSION] != FORMAT_VERSION || in[OFF_KDF] != KDF_SCRYPT ||
	    in[OFF_AEAD] != AEAD_AES256GCM || in[OFF_SALTLEN] != SALT_LEN)
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "master.key: unknown format (version %u, "
			      "KDF %u, cipher %u)",
			      in[OFF_VERSION], in[OFF_KDF], in[OFF_AEAD]);
	k.log2_n = in[OFF_LOG2N];
	k.r = get32(in + OFF_R);
	k.p = get32(in + OFF_P);
	if (!kdf_ok(&k))
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "master.key: scrypt parameters out of bounds "
			      "(N = 2^%u, r = %u, p = %u)",
			      k.log2_n, k.r, k.p);
	if (kdf != NULL)
		*kdf = k;
	return 0;
}

int ll_master_unwrap(unsigned char *master, const unsigned char *in, size_t len,
		     const char *pass, struct ll_error *err)
{
	struct ll_keystore_kdf k;
	unsigned char key[LL_MASTER_LEN];
	int rc;

	rc = ll_master_check(in, len, &k, err);
	if (rc < 0)
		return rc;
	rc = derive(key, pass, in + OFF_SALT, &k, err);
	if (rc == 0) {
		rc = ll_gcm_open(master, key, in + OFF_NONCE, in,
				 LL_MASTER_HEADER_LEN, in + OFF_CT,
				 LL_MASTER_LEN, in + OFF_TAG);
		if (rc == LL_EDECRYPT)
			rc = ll_err(err, LL_EPASSPHRASE, LL_ECLASS_USAGE,
				    "wrong passphrase");
		else if (rc < 0)
			rc = ll_err_ossl(err, rc, "unwrapping the master key");
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0)
		OPENSSL_cleanse(master, LL_MASTER_LEN);
	return rc;
}

/* ---- the file ---- */

int ll_master_read_file(unsigned char *buf, size_t *len, const char *path,
			struct ll_error *err)
{
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*len = 0;
	if (fd < 0 && errno == ENOENT)
		return LL_ENOTFOUND;
	if (fd < 0)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
			      strerror(errno));
	/* never more than the largest form and one byte to tell */
	while (n < LL_MASTER_FILE_MAX) {
		r = read(fd, buf + n, LL_MASTER_FILE_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
				      strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int ll_master_write_file(const char *dir, const unsigned char *data, size_t len,
			 int replace, struct ll_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/master.key", dir) >=
		    sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.master.key.XXXXXX", dir) >=
		    sizeof(tmp))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "home directory name too long");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", tmp,
			      strerror(errno));
	if (fchmod(fd, 0600) != 0 || ll_write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "writing %s: %s", tmp,
			    strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "writing %s: %s", tmp,
			    strerror(errno));
		goto out;
	}
	if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		rc = !replace && errno == EEXIST ?
			     LL_EEXIST :
			     ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
				    strerror(errno));
		goto out;
	}
	/* the temporary name goes before the directory reaches the disk
	 * (after a rename it is gone already) */
	unlink(tmp);
	/* master.key is the new one now: a failed fsync of the directory
	 * only leaves it unknown whether that survives a crash */
	if (fsync_dir(dir) != 0)
		return ll_err(err, LL_ENOTSYNCED, LL_ECLASS_OS,
			      "%s: the change is made but the directory "
			      "could not be synced: %s",
			      dir, strerror(errno));
out:
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int ll_master_sweep(const char *dir)
{
	static const char prefix[] = ".master.key.";
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	time_t now = time(NULL);
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		/* only mkostemp's names: the prefix and six characters */
		if (strncmp(e->d_name, prefix, sizeof(prefix) - 1) != 0 ||
		    strlen(e->d_name) != sizeof(prefix) - 1 + 6)
			continue;
		/* a writer at work now (two processes making a new home at
		 * once) keeps its file: only a stale one is a leftover */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
			    0 ||
		    st.st_mtime > now - LL_MASTER_SWEEP_AGE)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		fsync_dir(dir);
	return n;
}
