/*
 * imap_cache.c - opened messages kept in HOME/bridge/cache, encrypted
 * at rest (imap_fetch.h).
 *
 * An entry is named by the SHA-256 of its identity "ACCOUNT\nMAILBOX\n
 * UIDVALIDITY\nUID" and holds nonce (12) | AES-256-GCM ciphertext | tag
 * (16), the identity as associated data: a file renamed or copied
 * under another name does not open, so an entry is only ever served for
 * the message it was made from, and a mailbox whose UIDVALIDITY changed
 * names other entries.  The key is the keystore secret CACHE_SECRET
 * (made on first use).  The directory is kept under the size bound by
 * removing the least recently used entries (mtime, touched on a hit).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "imap_fetch.h"

#define CACHE_SECRET "bridge/cache-key"
#define NONCE 12
#define TAG 16

/* The key into o->cache_key: 0, or -1 (no cache for this session). */
static int cache_key(struct imap_opener *o)
{
	struct ll_error err = { 0 };
	unsigned char *k = NULL;
	size_t n = 0;
	int rc;

	if (o->cache_state != 0)
		return o->cache_state > 0 ? 0 : -1;
	o->cache_state = -1;
	if (o->cache_dir[0] == '\0' || imap_opener_ready(o) < 0)
		return -1;
	rc = ll_keystore_get_secret(&k, &n, o->ks, CACHE_SECRET, &err);
	if (rc == LL_ENOTFOUND) {
		unsigned char fresh[32];

		ll_error_clear(&err);
		if (RAND_bytes(fresh, sizeof(fresh)) != 1 ||
		    ll_keystore_put_secret(o->ks, CACHE_SECRET, fresh,
					   sizeof(fresh), &err) < 0) {
			OPENSSL_cleanse(fresh, sizeof(fresh));
			ll_error_clear(&err);
			return -1;
		}
		memcpy(o->cache_key, fresh, sizeof(fresh));
		OPENSSL_cleanse(fresh, sizeof(fresh));
	} else if (rc < 0 || n != sizeof(o->cache_key)) {
		ll_wipe_free(k, n);
		ll_error_clear(&err);
		return -1;
	} else {
		memcpy(o->cache_key, k, n);
		ll_wipe_free(k, n);
	}
	o->cache_state = 1;
	return 0;
}

/* HOME/bridge/cache/HEX(SHA-256(ID)) into PATH. */
static int entry_path(char path[PATH_MAX], const struct imap_opener *o,
		      const char *id)
{
	unsigned char md[32];
	char hex[65];

	if (EVP_Digest(id, strlen(id), md, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return snprintf(path, PATH_MAX, "%s/%s", o->cache_dir, hex) < PATH_MAX ?
		       0 :
		       -1;
}

/* AES-256-GCM of IN (N) with ID as associated data; ENC 1 seals (OUT
 * gets N bytes and TAGP the tag), 0 opens (TAGP checked).  0, or -1. */
static int gcm(const struct imap_opener *o, int enc, const unsigned char *iv,
	       const char *id, const unsigned char *in, size_t n,
	       unsigned char *out, unsigned char *tagp)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len, ok;

	ok = c != NULL && n <= INT_MAX &&
	     EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, o->cache_key, iv,
			       enc) == 1 &&
	     EVP_CipherUpdate(c, NULL, &len, (const unsigned char *)id,
			      (int)strlen(id)) == 1 &&
	     EVP_CipherUpdate(c, out, &len, in, (int)n) == 1 &&
	     (enc ||
	      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tagp) == 1) &&
	     EVP_CipherFinal_ex(c, out + len, &len) == 1 &&
	     (!enc ||
	      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, tagp) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int imap_cache_get(struct imap_opener *o, const char *id, char **out,
		   size_t *outlen)
{
	char path[PATH_MAX];
	unsigned char *buf = NULL;
	char *plain = NULL;
	struct stat st;
	int fd = -1, hit = 0;
	size_t n;

	*out = NULL;
	if (cache_key(o) < 0 || entry_path(path, o, id) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < NONCE + TAG || (size_t)st.st_size > o->cache_max)
		goto out;
	n = (size_t)st.st_size;
	buf = malloc(n);
	plain = malloc(n - NONCE - TAG + 1);
	if (buf == NULL || plain == NULL || read(fd, buf, n) != (ssize_t)n)
		goto out;
	if (gcm(o, 0, buf, id, buf + NONCE, n - NONCE - TAG,
		(unsigned char *)plain, buf + n - TAG) < 0)
		goto out; /* another key, damaged, not this message's */
	futimens(fd, NULL); /* recently used */
	*outlen = n - NONCE - TAG;
	*out = plain;
	plain = NULL;
	hit = 1;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (plain != NULL)
		ll_wipe_free(plain, n - NONCE - TAG + 1);
	return hit;
}

/*
 * Remove the least recently used entries while the directory holds
 * more than o->cache_max bytes.  Counting is a scan of the directory,
 * so it is done when this process's own count says the bound is
 * passed, or after as many entries put as the last count found (a
 * search before any FETCH puts thousands: a scan per entry would be
 * quadratic); what other sessions put meanwhile is seen then.
 */
static void trim(struct imap_opener *o)
{
	DIR *d = opendir(o->cache_dir);
	struct dirent *e;
	unsigned long long total = 0;
	size_t entries = 0;

	if (d == NULL)
		return;
	for (;;) {
		struct stat st, old = { 0 };
		char oldest[NAME_MAX + 1] = "";

		total = 0;
		entries = 0;
		rewinddir(d);
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.' ||
			    fstatat(dirfd(d), e->d_name, &st, 0) != 0)
				continue;
			total += (unsigned long long)st.st_size;
			entries++;
			if (oldest[0] == '\0' ||
			    st.st_mtim.tv_sec < old.st_mtim.tv_sec) {
				old = st;
				snprintf(oldest, sizeof(oldest), "%s",
					 e->d_name);
			}
		}
		if (total <= o->cache_max || oldest[0] == '\0' ||
		    unlinkat(dirfd(d), oldest, 0) != 0)
			break;
	}
	closedir(d);
	o->cache_used = total;
	o->cache_puts_left = entries;
}

void imap_cache_put(struct imap_opener *o, const char *id, const char *data,
		    size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	unsigned char *buf;
	size_t n = NONCE + len + TAG;
	int fd;

	if (n > o->cache_max / 4 || cache_key(o) < 0 ||
	    entry_path(path, o, id) < 0)
		return;
	buf = malloc(n);
	if (buf == NULL)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		free(buf);
		return;
	}
	if (RAND_bytes(buf, NONCE) != 1 ||
	    gcm(o, 1, buf, id, (const unsigned char *)data, len, buf + NONCE,
		buf + NONCE + len) < 0) {
		free(buf);
		return;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd >= 0 && cli_write_all(fd, (const char *)buf, n) == 0 &&
	    close(fd) == 0) {
		fd = -1;
		if (rename(tmp, path) != 0)
			unlink(tmp);
	} else {
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	free(buf);
	o->cache_used += n;
	if (o->cache_puts_left == 0 || o->cache_used > o->cache_max)
		trim(o);
	else
		o->cache_puts_left--;
}
