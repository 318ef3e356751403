/*
 * backup.c - the encrypted backup of a home (letterlock/backup.h): the
 * recovery code, the scrypt key, the blob and what it holds.
 *
 * The plaintext is a sequence of records, each a type octet and its
 * fields (integers big-endian, every length checked against what is
 * left and against its own maximum):
 *
 *   'I'  identity: u32 length, PKCS#8 DER of the private key;
 *        u32 length, DER of the certificate; u8 count (at most
 *        CHAIN_MAX) of chain certificates, each u32 length and DER
 *   'T'  trust anchor: u32 length, DER
 *   'S'  named secret: u16 length, the name; u32 length, the value
 *   'R'  the home's own revocation mark (ll_revocation_mark): the
 *        certificate's SHA-256 as 64 lower-case hex characters; when,
 *        u64 seconds since 1970; the CRLReason, u8 (0xff none).  At
 *        most MARKS_MAX; a home without marks writes none, so its blob
 *        opens with readers older than the record.
 *
 * The key kept in the home (LL_BACKUP_KEY_SECRET) is "LLK1", log2 N
 * (u8), r and p (u32), the salt, the key, then where, the address and
 * the secret names as u16-length strings (the names after a u16 count).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "internal.h"
#include <letterlock/backup.h>

#define MAGIC "LLB1"
#define KEY_MAGIC "LLK1"
#define VERSION 1
#define KDF_SCRYPT 1
#define AEAD_AES256_GCM 1
#define SALT_LEN 16
#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define CHAIN_MAX 8
#define DER_MAX (64 * 1024) /* one key or certificate */
#define NAME_MAX_LEN 1024 /* a secret's name */
#define NAMES_MAX 64 /* secret names remembered with the key */
#define ITEMS_MAX 4096 /* records of one blob */
#define WHERE_MAX 15
#define ADDRESS_MAX 1024
#define MARKS_MAX 1024 /* revocation marks of one blob */
#define FPR_HEX 64
#define REASON_NONE 0xff

#define CODE_DATA 26 /* symbols of randomness: 130 bits */
#define CODE_CHECK 4 /* symbols of check: 20 bits */
#define CODE_SYMBOLS (CODE_DATA + CODE_CHECK)
#define CODE_GROUP 5
#define CODE_LABEL "letterlock recovery code 1"

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct ll_backup_key {
	struct ll_backup_kdf kdf;
	unsigned char salt[SALT_LEN];
	unsigned char key[KEY_LEN];
	char where[WHERE_MAX + 1];
	char *address;
	char **names;
	size_t nnames;
};

struct secret {
	char *name;
	unsigned char *data;
	size_t len;
};

struct mark {
	char fpr[FPR_HEX + 1];
	time_t when;
	int reason;
};

struct ll_backup {
	struct mark *marks;
	size_t nmarks;
	struct ll_identity **ids;
	size_t nids;
	struct ll_cert **trust;
	size_t ntrust;
	struct secret *secrets;
	size_t nsecrets;
};

/* ---- the recovery code ---- */

static int b32_value(int c)
{
	if (c >= 'a' && c <= 'z')
		c -= 'a' - 'A';
	if (c == 'O')
		c = '0';
	if (c == 'I' || c == 'L')
		c = '1';
	for (int i = 0; i < 32; i++)
		if (b32[i] == c)
			return i;
	return -1;
}

/* The check symbols of the CODE_DATA symbol values V into CHK. */
static int code_check(unsigned char chk[CODE_CHECK],
		      const unsigned char v[CODE_DATA])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, CODE_LABEL, sizeof(CODE_LABEL)) == 1 &&
		 EVP_DigestUpdate(c, v, CODE_DATA) == 1 &&
		 EVP_DigestFinal_ex(c, md, &mdlen) == 1;
	uint32_t bits;

	EVP_MD_CTX_free(c);
	if (!ok)
		return LL_ECRYPTO;
	bits = (uint32_t)md[0] << 12 | (uint32_t)md[1] << 4 | md[2] >> 4;
	for (int i = CODE_CHECK - 1; i >= 0; i--) {
		chk[i] = bits & 31;
		bits >>= 5;
	}
	return 0;
}

/* The symbol values V (CODE_SYMBOLS) written in groups into OUT. */
static void code_write(char out[LL_BACKUP_CODE_LEN + 1],
		       const unsigned char v[CODE_SYMBOLS])
{
	size_t o = 0;

	for (size_t i = 0; i < CODE_SYMBOLS; i++) {
		if (i > 0 && i % CODE_GROUP == 0)
			out[o++] = '-';
		out[o++] = b32[v[i] & 31];
	}
	out[o] = '\0';
}

int ll_backup_code_new(char out[LL_BACKUP_CODE_LEN + 1], struct ll_error *err)
{
	unsigned char v[CODE_SYMBOLS];
	int rc;

	if (RAND_priv_bytes(v, CODE_DATA) != 1)
		return ll_err_ossl(err, LL_ECRYPTO, "random");
	for (size_t i = 0; i < CODE_DATA; i++)
		v[i] &= 31; /* 256 is a multiple of 32: uniform */
	rc = code_check(v + CODE_DATA, v);
	if (rc < 0)
		return ll_err_ossl(err, rc, "SHA-256");
	code_write(out, v);
	OPENSSL_cleanse(v, sizeof(v));
	return 0;
}

int ll_backup_code_normalize(char out[LL_BACKUP_CODE_LEN + 1],
			     const char *typed, struct ll_error *err)
{
	unsigned char v[CODE_SYMBOLS], chk[CODE_CHECK];
	size_t n = 0;
	int rc = 0;

	for (const char *s = typed; *s != '\0'; s++) {
		int x;

		if (*s == '-' || *s == ' ' || *s == '\t' || *s == '\r' ||
		    *s == '\n')
			continue;
		x = b32_value((unsigned char)*s);
		if (x < 0) {
			rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				    "the recovery code has a character that "
				    "is not in it (only 0-9 and A-Z without "
				    "U)");
			goto out;
		}
		if (n == CODE_SYMBOLS) {
			n++;
			break;
		}
		v[n++] = (unsigned char)x;
	}
	if (n != CODE_SYMBOLS) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the recovery code has %d characters in groups "
			    "of %d; this is %s",
			    CODE_SYMBOLS, CODE_GROUP,
			    n < CODE_SYMBOLS ? "shorter" : "longer");
		goto out;
	}
	rc = code_check(chk, v);
	if (rc < 0) {
		rc = ll_err_ossl(err, rc, "SHA-256");
		goto out;
	}
	if (CRYPTO_memcmp(chk, v + CODE_DATA, CODE_CHECK) != 0) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the recovery code has a typo (its check "
			    "characters do not match)");
		goto out;
	}
	code_write(out, v);
out:
	OPENSSL_cleanse(v, sizeof(v));
	return rc;
}

/* ---- the key ---- */

int ll_backup_kdf_check(const struct ll_backup_kdf *k, struct ll_error *err)
{
	if (k->log2_n < 10 || k->log2_n > 20 || k->r < 1 || k->r > 16 ||
	    k->p < 1 || k->p > 4)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "backup KDF parameters out of range (log2 N "
			      "%u, r %u, p %u)",
			      k->log2_n, k->r, k->p);
	if (((uint64_t)128 * k->r << k->log2_n) > LL_BACKUP_KDF_MEM_MAX ||
	    ((uint64_t)k->r * k->p << k->log2_n) > LL_BACKUP_KDF_WORK_MAX)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "backup KDF parameters ask for too much memory "
			      "or time (log2 N %u, r %u, p %u)",
			      k->log2_n, k->r, k->p);
	return 0;
}

static int key_new(struct ll_backup_key **out, struct ll_error *err)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
}

/* scrypt of the canonical CODE under K's salt and parameters. */
static int derive(struct ll_backup_key *k, const char *code,
		  struct ll_error *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL);
	EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << k->kdf.log2_n;
	uint64_t maxmem = LL_BACKUP_KDF_MEM_MAX + (64 << 20);
	uint32_t r = k->kdf.r, p = k->kdf.p;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						  (void *)code, strlen(code)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, k->salt,
						  SALT_LEN),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM,
					    &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int rc = 0;

	ERR_clear_error();
	if (c == NULL || EVP_KDF_derive(c, k->key, KEY_LEN, params) != 1)
		rc = ll_err_ossl(err, LL_ECRYPTO, "scrypt");
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	return rc;
}

int ll_backup_key_derive(struct ll_backup_key **out, const char *code,
			 const struct ll_backup_kdf *kdf, struct ll_error *err)
{
	static const struct ll_backup_kdf def = LL_BACKUP_KDF_INIT;
	struct ll_backup_key *k = NULL;
	char canon[LL_BACKUP_CODE_LEN + 1];
	int rc;

	*out = NULL;
	rc = ll_backup_code_normalize(canon, code, err);
	if (rc == 0)
		rc = ll_backup_kdf_check(kdf ? kdf : &def, err);
	if (rc == 0)
		rc = key_new(&k, err);
	if (rc < 0)
		goto out;
	k->kdf = kdf ? *kdf : def;
	if (RAND_bytes(k->salt, SALT_LEN) != 1) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "random");
		goto out;
	}
	rc = derive(k, canon, err);
	if (rc < 0)
		goto out;
	*out = k;
	k = NULL;
out:
	OPENSSL_cleanse(canon, sizeof(canon));
	ll_backup_key_free(&k);
	return rc;
}

void ll_backup_key_free(struct ll_backup_key **pp)
{
	struct ll_backup_key *k;

	if (pp == NULL || *pp == NULL)
		return;
	k = *pp;
	*pp = NULL;
	for (size_t i = 0; i < k->nnames; i++)
		free(k->names[i]);
	free(k->names);
	free(k->address);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

const char *ll_backup_key_where(const struct ll_backup_key *k)
{
	return k->where;
}

const char *ll_backup_key_address(const struct ll_backup_key *k)
{
	return k->address ? k->address : "";
}

size_t ll_backup_key_secret_count(const struct ll_backup_key *k)
{
	return k->nnames;
}

const char *ll_backup_key_secret(const struct ll_backup_key *k, size_t i)
{
	return i < k->nnames ? k->names[i] : NULL;
}

/* ---- big-endian fields ---- */

static int put_u(struct ll_buf *b, uint32_t v, int octets)
{
	unsigned char x[4];

	for (int i = 0; i < octets; i++)
		x[i] = (unsigned char)(v >> (8 * (octets - 1 - i)));
	return ll_buf_add(b, x, (size_t)octets);
}

static int put_bytes(struct ll_buf *b, const void *p, size_t n, int octets)
{
	int rc = put_u(b, (uint32_t)n, octets);

	return rc == 0 && n > 0 ? ll_buf_add(b, p, n) : rc;
}

/* A reader over P[0..LEN): every take checks what is left. */
struct rd {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static uint32_t get_u(struct rd *r, int octets)
{
	uint32_t v = 0;

	if (r->bad || r->len - r->off < (size_t)octets) {
		r->bad = 1;
		return 0;
	}
	for (int i = 0; i < octets; i++)
		v = v << 8 | r->p[r->off++];
	return v;
}

/* A length-prefixed field of at most MAX octets, borrowed from R. */
static const unsigned char *get_bytes(struct rd *r, size_t *n, int octets,
				      size_t max)
{
	const unsigned char *p;

	*n = get_u(r, octets);
	if (r->bad || *n > max || r->len - r->off < *n) {
		r->bad = 1;
		*n = 0;
		return NULL;
	}
	p = r->p + r->off;
	r->off += *n;
	return p;
}

static char *get_str(struct rd *r, size_t max)
{
	size_t n;
	const unsigned char *p = get_bytes(r, &n, 2, max);
	char *s;

	if (p == NULL || memchr(p, '\0', n) != NULL) {
		r->bad = 1;
		return NULL;
	}
	s = malloc(n + 1);
	if (s == NULL) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* ---- the key kept in the home ---- */

int ll_backup_key_store(struct ll_keystore *ks, const struct ll_backup_key *k,
			const char *where, const char *address,
			const char *const *names, size_t n,
			struct ll_error *err)
{
	struct ll_buf b = { .wipe = 1 };
	int rc;

	if (strlen(where) > WHERE_MAX || strlen(address) > ADDRESS_MAX ||
	    n > NAMES_MAX)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "backup destination, address or secret list "
			      "too long");
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) > NAME_MAX_LEN)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "secret name too long");
	if (ll_buf_add(&b, KEY_MAGIC, 4) < 0 ||
	    put_u(&b, k->kdf.log2_n, 1) < 0 || put_u(&b, k->kdf.r, 4) < 0 ||
	    put_u(&b, k->kdf.p, 4) < 0 ||
	    ll_buf_add(&b, k->salt, SALT_LEN) < 0 ||
	    ll_buf_add(&b, k->key, KEY_LEN) < 0 ||
	    put_bytes(&b, where, strlen(where), 2) < 0 ||
	    put_bytes(&b, address, strlen(address), 2) < 0 ||
	    put_u(&b, (uint32_t)n, 2) < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (put_bytes(&b, names[i], strlen(names[i]), 2) < 0) {
			rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
				    "out of memory");
			goto out;
		}
	rc = ll_keystore_put_secret(ks, LL_BACKUP_KEY_SECRET, b.p, b.len, err);
out:
	ll_buf_free(&b);
	return rc;
}

/* Fixed-size field of N octets into DST. */
static void get_fixed(struct rd *r, unsigned char *dst, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		return;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
}

int ll_backup_key_load(struct ll_backup_key **out, struct ll_keystore *ks,
		       struct ll_error *err)
{
	struct ll_backup_key *k = NULL;
	unsigned char *data = NULL, magic[4] = { 0 };
	size_t len = 0, n;
	struct rd r = { 0 };
	char *where = NULL;
	int rc;

	*out = NULL;
	rc = ll_keystore_get_secret(&data, &len, ks, LL_BACKUP_KEY_SECRET, err);
	if (rc == 0)
		rc = key_new(&k, err);
	if (rc < 0)
		goto out;
	r.p = data;
	r.len = len;
	get_fixed(&r, magic, 4);
	if (memcmp(magic, KEY_MAGIC, 4) != 0)
		r.bad = 1;
	k->kdf.log2_n = get_u(&r, 1);
	k->kdf.r = get_u(&r, 4);
	k->kdf.p = get_u(&r, 4);
	get_fixed(&r, k->salt, SALT_LEN);
	get_fixed(&r, k->key, KEY_LEN);
	where = get_str(&r, WHERE_MAX);
	if (where != NULL)
		memcpy(k->where, where, strlen(where) + 1);
	k->address = get_str(&r, ADDRESS_MAX);
	n = get_u(&r, 2);
	if (n > NAMES_MAX)
		r.bad = 1;
	if (!r.bad && n > 0) {
		k->names = calloc(n, sizeof(*k->names));
		if (k->names == NULL)
			r.bad = 1;
	}
	for (size_t i = 0; !r.bad && i < n; i++) {
		k->names[i] = get_str(&r, NAME_MAX_LEN);
		k->nnames += k->names[i] != NULL;
	}
	if (r.bad || r.off != r.len || ll_backup_kdf_check(&k->kdf, NULL) < 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_STORE,
			    "the home's backup key record is damaged");
		goto out;
	}
	*out = k;
	k = NULL;
out:
	free(where);
	ll_wipe_free(data, len);
	ll_backup_key_free(&k);
	return rc;
}

/* ---- the plaintext ---- */

static int put_cert(struct ll_buf *b, const struct ll_cert *c,
		    struct ll_error *err)
{
	unsigned char *der = NULL;
	size_t n = 0;
	int rc = ll_cert_der(&der, &n, c, err);

	if (rc == 0 && put_bytes(b, der, n, 4) < 0)
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	free(der);
	return rc;
}

static int put_identity(struct ll_buf *b, const struct ll_identity *id,
			struct ll_error *err)
{
	unsigned char *key = NULL;
	size_t keylen = 0, n = ll_identity_chain_count(id);
	int rc;

	if (n > CHAIN_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			      "an identity with more than %d chain "
			      "certificates",
			      CHAIN_MAX);
	rc = ll_identity_key_der(&key, &keylen, id, err);
	if (rc == 0 &&
	    (ll_buf_add(b, "I", 1) < 0 || put_bytes(b, key, keylen, 4) < 0))
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	if (rc == 0)
		rc = put_cert(b, ll_identity_cert(id), err);
	if (rc == 0 && put_u(b, (uint32_t)n, 1) < 0)
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = put_cert(b, ll_identity_chain(id, i), err);
	ll_wipe_free(key, keylen);
	return rc;
}

static int put_trust(void *arg, const struct ll_cert *c)
{
	struct ll_buf *b = arg;

	if (ll_buf_add(b, "T", 1) < 0)
		return LL_ENOMEM;
	return put_cert(b, c, NULL);
}

static int put_secret(struct ll_buf *b, struct ll_keystore *ks,
		      const char *name, struct ll_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int rc;

	if (strlen(name) > NAME_MAX_LEN)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "secret name too long");
	rc = ll_keystore_get_secret(&data, &len, ks, name, err);
	if (rc == LL_ENOTFOUND) {
		ll_error_clear(err);
		return 0;
	}
	if (rc == 0 && (ll_buf_add(b, "S", 1) < 0 ||
			put_bytes(b, name, strlen(name), 2) < 0 ||
			put_bytes(b, data, len, 4) < 0))
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	ll_wipe_free(data, len);
	return rc;
}

/* The 64 lower-case hex characters of a SHA-256 fingerprint? */
static int fpr_ok(const char *p, size_t n)
{
	if (n != FPR_HEX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* A CRLReason code as ll_revocation_mark takes it (-1 none)? */
static int reason_ok(int r)
{
	return r == -1 || (r >= 0 && r <= 10 && r != 7);
}

struct marks_out {
	struct ll_buf *b;
	size_t n;
};

static int put_mark(void *arg, const char *fpr, time_t when, int reason)
{
	struct marks_out *m = arg;
	uint64_t w = when < 0 ? 0 : (uint64_t)when;

	/* a row this home could not have written is left out */
	if (!fpr_ok(fpr, strlen(fpr)) || !reason_ok(reason))
		return 0;
	if (m->n >= MARKS_MAX)
		return LL_ETOOBIG;
	m->n++;
	if (ll_buf_add(m->b, "R", 1) < 0 ||
	    ll_buf_add(m->b, fpr, FPR_HEX) < 0 ||
	    put_u(m->b, (uint32_t)(w >> 32), 4) < 0 ||
	    put_u(m->b, (uint32_t)w, 4) < 0 ||
	    put_u(m->b, reason < 0 ? REASON_NONE : (uint32_t)reason, 1) < 0)
		return LL_ENOMEM;
	return 0;
}

static int put_marks(struct ll_buf *b, struct ll_keystore *ks,
		     struct ll_error *err)
{
	struct marks_out m = { b, 0 };
	int rc = ll_revocation_marks_foreach(ks, put_mark, &m, err);

	if (rc == LL_ETOOBIG)
		return ll_err(err, rc, LL_ECLASS_POLICY,
			      "more than %d revocation marks to back up",
			      MARKS_MAX);
	if (rc == LL_ENOMEM)
		return ll_err(err, rc, LL_ECLASS_OS, "out of memory");
	return rc;
}

static int plaintext(struct ll_buf *b, struct ll_keystore *ks,
		     const char *const *names, size_t n, struct ll_error *err)
{
	struct ll_ctx *ctx = NULL;
	int rc;

	rc = ll_ctx_new(&ctx, err);
	if (rc == 0)
		rc = ll_keystore_load(ks, ctx, err);
	for (size_t i = 0; rc == 0 && i < ll_ctx_identity_count(ctx); i++)
		rc = put_identity(b, ll_ctx_identity_at(ctx, i), err);
	if (rc == 0) {
		rc = ll_keystore_foreach(ks, LL_KS_TRUST, put_trust, b, err);
		if (rc < 0 && err != NULL && err->code == 0)
			rc = ll_err(err, rc, LL_ECLASS_OS,
				    "a trust anchor for the backup");
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = put_secret(b, ks, names[i], err);
	if (rc == 0)
		rc = put_marks(b, ks, err);
	ll_ctx_free(&ctx);
	return rc;
}

static int add_item(void *vpp, size_t *n, size_t elem)
{
	void **pp = vpp;
	void *nv;

	if (*n >= ITEMS_MAX)
		return LL_ETOOBIG;
	nv = realloc(*pp, (*n + 1) * elem);
	if (nv == NULL)
		return LL_ENOMEM;
	*pp = nv;
	return 0;
}

static int parse_cert(struct ll_cert **out, struct rd *r, struct ll_error *err)
{
	size_t n;
	const unsigned char *p = get_bytes(r, &n, 4, DER_MAX);

	if (p == NULL)
		return LL_EPARSE;
	return ll_cert_parse(out, p, n, err);
}

static int parse_identity(struct ll_backup *b, struct rd *r,
			  struct ll_error *err)
{
	struct ll_cert *cert = NULL, *chain[CHAIN_MAX] = { 0 };
	struct ll_identity *id = NULL;
	const unsigned char *key;
	size_t keylen, n = 0;
	int rc;

	key = get_bytes(r, &keylen, 4, DER_MAX);
	rc = key ? parse_cert(&cert, r, err) : LL_EPARSE;
	if (rc == 0) {
		n = get_u(r, 1);
		if (r->bad || n > CHAIN_MAX) {
			n = 0;
			rc = LL_EPARSE;
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = parse_cert(&chain[i], r, err);
	if (rc == 0)
		rc = ll_identity_from_key_der(&id, key, keylen, cert, chain, n,
					      err);
	if (rc == 0)
		rc = add_item(&b->ids, &b->nids, sizeof(*b->ids));
	if (rc == 0) {
		b->ids[b->nids++] = id;
		id = NULL;
	}
	ll_identity_free(&id);
	ll_cert_free(&cert);
	for (size_t i = 0; i < CHAIN_MAX; i++)
		ll_cert_free(&chain[i]);
	return rc;
}

static int parse_secret(struct ll_backup *b, struct rd *r)
{
	char *name = get_str(r, NAME_MAX_LEN);
	size_t n;
	const unsigned char *p = get_bytes(r, &n, 4, LL_KEYSTORE_SECRET_MAX);
	struct secret s = { 0 };
	int rc;

	if (name == NULL || p == NULL) {
		free(name);
		return LL_EPARSE;
	}
	s.name = name;
	s.len = n;
	s.data = malloc(n + 1);
	rc = s.data ? add_item(&b->secrets, &b->nsecrets, sizeof(s)) :
		      LL_ENOMEM;
	if (rc < 0) {
		free(s.data);
		free(name);
		return rc;
	}
	memcpy(s.data, p, n);
	b->secrets[b->nsecrets++] = s;
	return 0;
}

static int parse_mark(struct ll_backup *b, struct rd *r)
{
	struct mark m = { 0 };
	uint64_t when;
	int rc;

	if (r->len - r->off < FPR_HEX ||
	    !fpr_ok((const char *)r->p + r->off, FPR_HEX))
		return LL_EPARSE;
	memcpy(m.fpr, r->p + r->off, FPR_HEX);
	r->off += FPR_HEX;
	when = (uint64_t)get_u(r, 4) << 32;
	when |= get_u(r, 4);
	m.reason = (int)get_u(r, 1);
	if (m.reason == REASON_NONE)
		m.reason = -1;
	if (r->bad || when > (uint64_t)INT64_MAX || !reason_ok(m.reason) ||
	    b->nmarks >= MARKS_MAX)
		return LL_EPARSE;
	m.when = (time_t)when;
	rc = add_item(&b->marks, &b->nmarks, sizeof(m));
	if (rc < 0)
		return rc;
	b->marks[b->nmarks++] = m;
	return 0;
}

int ll_backup_parse_records(struct ll_backup **out, const unsigned char *p,
			    size_t len, struct ll_error *err)
{
	struct ll_backup *b = calloc(1, sizeof(*b));
	struct rd r = { .p = p, .len = len };
	int rc = b ? 0 : LL_ENOMEM;

	*out = NULL;
	while (rc == 0 && r.off < r.len) {
		unsigned char type = r.p[r.off++];
		struct ll_cert *c = NULL;

		switch (type) {
		case 'I':
			rc = parse_identity(b, &r, err);
			break;
		case 'T':
			rc = parse_cert(&c, &r, err);
			if (rc == 0)
				rc = add_item(&b->trust, &b->ntrust,
					      sizeof(*b->trust));
			if (rc == 0) {
				b->trust[b->ntrust++] = c;
				c = NULL;
			}
			ll_cert_free(&c);
			break;
		case 'S':
			rc = parse_secret(b, &r);
			break;
		case 'R':
			rc = parse_mark(b, &r);
			break;
		default:
			rc = LL_EPARSE;
			break;
		}
	}
	if (rc < 0) {
		ll_backup_free(&b);
		if (rc == LL_ENOMEM)
			return ll_err(err, rc, LL_ECLASS_OS, "out of memory");
		return ll_err(err, rc == LL_ETOOBIG ? rc : LL_EPARSE,
			      LL_ECLASS_POLICY,
			      "the backup opened but its content is "
			      "malformed");
	}
	*out = b;
	return 0;
}

/* ---- the blob ---- */

static void header_write(unsigned char h[LL_BACKUP_HEADER_LEN],
			 const struct ll_backup_key *k,
			 const unsigned char nonce[NONCE_LEN], size_t ctlen)
{
	memcpy(h, MAGIC, 4);
	h[4] = VERSION;
	h[5] = KDF_SCRYPT;
	h[6] = AEAD_AES256_GCM;
	h[7] = (unsigned char)k->kdf.log2_n;
	for (int i = 0; i < 4; i++) {
		h[8 + i] = (unsigned char)(k->kdf.r >> (24 - 8 * i));
		h[12 + i] = (unsigned char)(k->kdf.p >> (24 - 8 * i));
		h[44 + i] = (unsigned char)(ctlen >> (24 - 8 * i));
	}
	memcpy(h + 16, k->salt, SALT_LEN);
	memcpy(h + 32, nonce, NONCE_LEN);
}

/* GCM over IN (N octets) into OUT with the header H as AAD; the tag
 * is written (ENC) or checked (!ENC) at TAG. */
static int gcm(unsigned char *out, const unsigned char *in, size_t n,
	       const unsigned char *key, const unsigned char *h,
	       unsigned char *tag, int enc)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, ok;

	ok = c != NULL &&
	     EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, h + 32, enc) ==
		     1 &&
	     EVP_CipherUpdate(c, NULL, &l, h, LL_BACKUP_HEADER_LEN) == 1 &&
	     (n == 0 || EVP_CipherUpdate(c, out, &l, in, (int)n) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
					 tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + (n ? l : 0), &l) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
					 tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int ll_backup_seal(unsigned char **out, size_t *len,
		   const struct ll_backup_key *k, struct ll_keystore *ks,
		   const char *const *names, size_t n, struct ll_error *err)
{
	struct ll_buf pt = { .wipe = 1 };
	unsigned char nonce[NONCE_LEN], *blob = NULL;
	size_t total;
	int rc;

	*out = NULL;
	*len = 0;
	rc = plaintext(&pt, ks, names, n, err);
	if (rc < 0)
		goto out;
	total = LL_BACKUP_HEADER_LEN + pt.len + TAG_LEN;
	if (total > LL_BACKUP_MAX) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			    "the backup would be %zu octets, more than %d",
			    total, LL_BACKUP_MAX);
		goto out;
	}
	blob = malloc(total);
	if (blob == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	if (RAND_bytes(nonce, NONCE_LEN) != 1) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "random");
		goto out;
	}
	header_write(blob, k, nonce, pt.len);
	if (gcm(blob + LL_BACKUP_HEADER_LEN, (unsigned char *)pt.p, pt.len,
		k->key, blob, blob + LL_BACKUP_HEADER_LEN + pt.len, 1) < 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "AES-256-GCM");
		goto out;
	}
	*out = blob;
	*len = total;
	blob = NULL;
out:
	free(blob);
	ll_buf_free(&pt);
	return rc;
}

int ll_backup_reseal(unsigned char **out, size_t *len,
		     struct ll_backup_key **key, struct ll_keystore *ks,
		     struct ll_error *err)
{
	struct ll_backup_key *k = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if (key != NULL)
		*key = NULL;
	rc = ll_backup_key_load(&k, ks, err);
	if (rc == 0)
		rc = ll_backup_seal(out, len, k, ks,
				    (const char *const *)k->names, k->nnames,
				    err);
	if (rc == 0 && key != NULL) {
		*key = k;
		k = NULL;
	}
	ll_backup_key_free(&k);
	return rc;
}

/* The header of BLOB read into K's parameters and salt (K may be NULL)
 * and *ctlen, every field checked. */
static int header_read(struct ll_backup_kdf *kdf, unsigned char *salt,
		       size_t *ctlen, const unsigned char *b, size_t len,
		       struct ll_error *err)
{
	struct ll_backup_kdf k;
	struct rd r = { .p = b, .len = len, .off = 8 };
	uint32_t c;
	int rc;

	if (len > LL_BACKUP_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			      "a backup larger than %d octets", LL_BACKUP_MAX);
	if (len < LL_BACKUP_HEADER_LEN + TAG_LEN || memcmp(b, MAGIC, 4) != 0)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "not a letterlock backup");
	if (b[4] != VERSION || b[5] != KDF_SCRYPT || b[6] != AEAD_AES256_GCM)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "a backup of an unknown version or algorithm "
			      "(%u, %u, %u)",
			      b[4], b[5], b[6]);
	k.log2_n = b[7];
	k.r = get_u(&r, 4);
	k.p = get_u(&r, 4);
	r.off = 44;
	c = get_u(&r, 4);
	if (c != len - LL_BACKUP_HEADER_LEN - TAG_LEN)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "a backup whose length does not match its "
			      "header (cut short or padded)");
	rc = ll_backup_kdf_check(&k, err);
	if (rc < 0)
		return rc;
	if (kdf != NULL)
		*kdf = k;
	if (salt != NULL)
		memcpy(salt, b + 16, SALT_LEN);
	if (ctlen != NULL)
		*ctlen = c;
	return 0;
}

int ll_backup_peek(struct ll_backup_kdf *kdf, const void *blob, size_t len,
		   struct ll_error *err)
{
	return header_read(kdf, NULL, NULL, blob, len, err);
}

int ll_backup_open(struct ll_backup **out, struct ll_backup_key **key,
		   const void *blob, size_t len, const char *code,
		   struct ll_error *err)
{
	const unsigned char *b = blob;
	struct ll_backup_key *k = NULL;
	char canon[LL_BACKUP_CODE_LEN + 1];
	unsigned char *pt = NULL, tag[TAG_LEN];
	size_t ctlen = 0;
	int rc;

	*out = NULL;
	if (key != NULL)
		*key = NULL;
	rc = key_new(&k, err);
	if (rc == 0)
		rc = header_read(&k->kdf, k->salt, &ctlen, b, len, err);
	/* a typo is caught here, before the slow step */
	if (rc == 0)
		rc = ll_backup_code_normalize(canon, code, err);
	if (rc == 0)
		rc = derive(k, canon, err);
	if (rc < 0)
		goto out;
	pt = malloc(ctlen + 1);
	if (pt == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	memcpy(tag, b + LL_BACKUP_HEADER_LEN + ctlen, TAG_LEN);
	if (gcm(pt, b + LL_BACKUP_HEADER_LEN, ctlen, k->key, b, tag, 0) < 0) {
		ERR_clear_error();
		rc = ll_err(err, LL_EDECRYPT, LL_ECLASS_POLICY,
			    "the backup does not open: wrong recovery code, "
			    "or the backup is damaged or was altered");
		goto out;
	}
	rc = ll_backup_parse_records(out, pt, ctlen, err);
	if (rc < 0)
		goto out;
	if (key != NULL) {
		*key = k;
		k = NULL;
	}
out:
	ll_wipe_free(pt, pt ? ctlen + 1 : 0);
	OPENSSL_cleanse(canon, sizeof(canon));
	ll_backup_key_free(&k);
	return rc;
}

size_t ll_backup_identity_count(const struct ll_backup *b)
{
	return b->nids;
}

const struct ll_identity *ll_backup_identity(const struct ll_backup *b,
					     size_t i)
{
	return i < b->nids ? b->ids[i] : NULL;
}

size_t ll_backup_trust_count(const struct ll_backup *b)
{
	return b->ntrust;
}

size_t ll_backup_revocation_count(const struct ll_backup *b)
{
	return b->nmarks;
}

size_t ll_backup_secret_count(const struct ll_backup *b)
{
	return b->nsecrets;
}

const char *ll_backup_secret_name(const struct ll_backup *b, size_t i)
{
	return i < b->nsecrets ? b->secrets[i].name : NULL;
}

int ll_backup_install(const struct ll_backup *b, struct ll_keystore *ks,
		      size_t *added, struct ll_error *err)
{
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < b->nids; i++) {
		rc = ll_keystore_add_identity(ks, b->ids[i], err);
		if (rc == 0)
			n++;
		if (rc == LL_EEXIST) {
			ll_error_clear(err);
			rc = 0;
		}
	}
	for (size_t i = 0; rc == 0 && i < b->ntrust; i++) {
		rc = ll_keystore_add_trust(ks, b->trust[i], err);
		if (rc == LL_EEXIST) {
			ll_error_clear(err);
			rc = 0;
		}
	}
	for (size_t i = 0; rc == 0 && i < b->nsecrets; i++)
		rc = ll_keystore_put_secret(ks, b->secrets[i].name,
					    b->secrets[i].data,
					    b->secrets[i].len, err);
	/* a certificate revoked from the old device never signs here */
	for (size_t i = 0; rc == 0 && i < b->nmarks; i++)
		rc = ll_revocation_mark_fpr(ks, b->marks[i].fpr,
					    b->marks[i].when,
					    b->marks[i].reason, err);
	if (added != NULL)
		*added = n;
	return rc;
}

void ll_backup_free(struct ll_backup **pp)
{
	struct ll_backup *b;

	if (pp == NULL || *pp == NULL)
		return;
	b = *pp;
	*pp = NULL;
	for (size_t i = 0; i < b->nids; i++)
		ll_identity_free(&b->ids[i]);
	free(b->ids);
	for (size_t i = 0; i < b->ntrust; i++)
		ll_cert_free(&b->trust[i]);
	free(b->trust);
	for (size_t i = 0; i < b->nsecrets; i++) {
		ll_wipe_free(b->secrets[i].data, b->secrets[i].len + 1);
		free(b->secrets[i].name);
	}
	free(b->secrets);
	free(b->marks);
	free(b);
}
