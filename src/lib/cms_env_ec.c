/*
 * cms_env_ec.c - EnvelopedData / AuthEnvelopedData to EC P-256
 * recipients, written by us instead of OpenSSL's CMS layer.
 *
 * Why: OpenSSL's CMS sets each recipient's key as the ECDH peer with
 * validation on, a full public-key check (a scalar multiplication by the
 * group order) for every recipient of every message, and its API has no
 * way to say that a key was checked already.  Here a recipient's key is
 * checked once (ll_cert_key_check: the certificate is cached by the
 * context) and the derive skips the check.
 *
 * What goes out is what OpenSSL's CMS wrote for us before: one
 * KeyAgreeRecipientInfo per recipient (RFC 5753: a fresh ephemeral key
 * as originatorKey, dhSinglePass-stdDH-sha256kdf-scheme with
 * id-aes256-wrap, rid issuerAndSerialNumber, no ukm), the RecipientInfos
 * as a DER SET, the content in BER chunks under indefinite lengths, and
 * for AES-256-GCM the tag as the mac of an AuthEnvelopedData (RFC
 * 5083/5084, 16-octet ICV).
 *
 * It is a filter BIO: the header goes out with the first write, each
 * write becomes one OCTET STRING chunk of ciphertext, and BIO_flush ends
 * the content (last block, end-of-contents octets, the tag).  Anything
 * written after that is an error.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "internal.h"

#define CEK_LEN 32 /* AES-256 */
#define WRAPPED_LEN 40 /* RFC 3394: the key and one 8-octet block */
#define POINT_LEN 65 /* uncompressed P-256 point */
#define CHUNK_HEAD 6 /* 04, a length of up to 4 octets, room */
#define CHUNK_MAX 65536 /* plaintext octets per content chunk */

/* id-envelopedData, id-ct-authEnvelopedData, id-data (full TLVs) */
static const unsigned char oid_enveloped[] = { 0x06, 0x09, 0x2a, 0x86,
					       0x48, 0x86, 0xf7, 0x0d,
					       0x01, 0x07, 0x03 };
static const unsigned char oid_auth_enveloped[] = { 0x06, 0x0b, 0x2a, 0x86,
						    0x48, 0x86, 0xf7, 0x0d,
						    0x01, 0x09, 0x10, 0x01,
						    0x17 };
const unsigned char ll_oid_data[LL_OID_LEN] = { 0x06, 0x09, 0x2a, 0x86,
						0x48, 0x86, 0xf7, 0x0d,
						0x01, 0x07, 0x01 };
/* aes256-CBC, aes256-GCM (OID TLVs) */
const unsigned char ll_oid_aes256_cbc[LL_OID_LEN] = { 0x06, 0x09, 0x60, 0x86,
						      0x48, 0x01, 0x65, 0x03,
						      0x04, 0x01, 0x2a };
const unsigned char ll_oid_aes256_gcm[LL_OID_LEN] = { 0x06, 0x09, 0x60, 0x86,
						      0x48, 0x01, 0x65, 0x03,
						      0x04, 0x01, 0x2e };

/*
 * [0] originator: [1] originatorKey { id-ecPublicKey (no parameters,
 * as OpenSSL writes it: RFC 5753 3.1.1 allows them absent), BIT STRING
 * of the point }; the point follows.
 */
const unsigned char ll_kari_originator[LL_KARI_ORIGINATOR_LEN] = {
	0xa0, 0x51, 0xa1, 0x4f, 0x30, 0x09, 0x06, 0x07, 0x2a,
	0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x03, 0x42, 0x00
};
/* keyEncryptionAlgorithm: dhSinglePass-stdDH-sha256kdf-scheme with
 * KeyWrapAlgorithm id-aes256-wrap (no parameters) */
const unsigned char ll_kari_kea[LL_KARI_KEA_LEN] = {
	0x30, 0x15, 0x06, 0x06, 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x01, 0x30, 0x0b,
	0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2d
};
/*
 * RFC 5753 7.2 ECC-CMS-SharedInfo for that wrap: keyInfo id-aes256-wrap,
 * no entityUInfo (we send no ukm), suppPubInfo [2] the KEK length in
 * bits as a 32-bit big-endian OCTET STRING (256).
 */
static const unsigned char shared_info[] = { 0x30, 0x15, 0x30, 0x0b, 0x06, 0x09,
					     0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
					     0x04, 0x01, 0x2d, 0xa2, 0x06, 0x04,
					     0x04, 0x00, 0x00, 0x01, 0x00 };

/* ---- one KeyAgreeRecipientInfo ---- */

static int kek_md(unsigned char kek[32], const unsigned char *z, size_t zlen,
		  const EVP_MD *sha256)
{
	static const unsigned char counter[4] = { 0, 0, 0, 1 };
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	ok = m != NULL && EVP_DigestInit_ex2(m, sha256, NULL) == 1 &&
	     EVP_DigestUpdate(m, z, zlen) == 1 &&
	     EVP_DigestUpdate(m, counter, sizeof(counter)) == 1 &&
	     EVP_DigestUpdate(m, shared_info, sizeof(shared_info)) == 1 &&
	     EVP_DigestFinal_ex(m, kek, &n) == 1 && n == 32;
	EVP_MD_CTX_free(m); /* cleans its state */
	return ok ? 0 : LL_ECRYPTO;
}

int ll_cms_ecdh_kek(unsigned char kek[32], const unsigned char *z, size_t zlen,
		    OSSL_LIB_CTX *libctx)
{
	EVP_MD *sha256 = EVP_MD_fetch(libctx, "SHA2-256", NULL);
	int rc = sha256 != NULL ? kek_md(kek, z, zlen, sha256) : LL_ECRYPTO;

	EVP_MD_free(sha256);
	return rc;
}

/* What every KARI of one message shares. */
struct kari_job {
	OSSL_LIB_CTX *libctx;
	const struct ll_algs *algs; /* with the P-256 group */
	BN_CTX *bn;
	BIGNUM *k; /* an ephemeral private key, secure heap */
	EC_POINT *pub, *peer, *z;
	BIGNUM *x; /* the shared secret */
	const unsigned char *cek;
};

/* IN wrapped (ENC) or unwrapped under the KEK of the shared secret Z
 * into OUT (aes_kw.c); Z is left for the caller to wipe. */
static int wrap_with(unsigned char *out, const unsigned char *in, int enc,
		     const unsigned char z[32], const struct ll_algs *algs)
{
	unsigned char kek[32];
	int rc = LL_ECRYPTO;

	if (kek_md(kek, z, 32, algs->sha256) < 0)
		goto out;
	/* unwrapping checks RFC 3394's integrity value: a wrong key or a
	 * changed octet fails */
	if (enc)
		rc = ll_aes_kw_wrap(out, in, kek, algs->ecb);
	else
		rc = ll_aes_kw_unwrap(out, in, kek, algs->ecb);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	return rc;
}

int ll_cms_ecdh_wrap(unsigned char *out, const unsigned char *in, int enc,
		     EVP_PKEY_CTX *derive, EVP_PKEY *peer,
		     const struct ll_algs *algs)
{
	unsigned char z[32];
	size_t zlen = sizeof(z);
	int rc = LL_ECRYPTO;

	/* no validation of PEER here: the callers checked it, once per
	 * certificate or against the curve, which is the point of this */
	if (EVP_PKEY_derive_set_peer_ex(derive, peer, 0) == 1 &&
	    EVP_PKEY_derive(derive, z, &zlen) == 1 && zlen == sizeof(z))
		rc = wrap_with(out, in, enc, z, algs);
	OPENSSL_cleanse(z, sizeof(z));
	return rc;
}

/*
 * The CEK wrapped for the key of PEER's certificate under a fresh
 * ephemeral key: the point of that key in POINT, the wrapped key in
 * WRAPPED.
 *
 * The ephemeral key is a scalar and two multiplications on the P-256
 * group the context keeps: EVP_PKEY_keygen, its encoded point and a
 * derive context set up a key object, its provider data and a copy of
 * the group for every recipient (17 us a key here, against 11.6 for
 * the same random scalar, kG and its encoding).  The key is made as
 * OpenSSL makes one (k uniform in [1, n-1], kG) and the secret is the
 * x-coordinate of kQ (SEC 1 3.3.1, what EVP_PKEY_derive gives): the
 * same octets on the wire.  The scalar is wiped as soon as both
 * products are made.
 */
static int agree_and_wrap(unsigned char point[POINT_LEN],
			  unsigned char wrapped[WRAPPED_LEN],
			  struct kari_job *job, X509 *peer)
{
	const EC_GROUP *g = job->algs->p256;
	const ASN1_BIT_STRING *pub = X509_get0_pubkey_bitstr(peer);
	unsigned char z[32];
	int ok, rc = LL_ECRYPTO;

	/* the peer's point as its certificate encodes it (asking the key
	 * object for it encodes it anew, an inversion each time); the key
	 * was checked once per certificate already (ll_cert_key_check),
	 * decoding checks it is on the curve */
	ok = pub != NULL &&
	     EC_POINT_oct2point(g, job->peer, ASN1_STRING_get0_data(pub),
				(size_t)ASN1_STRING_length(pub), job->bn) == 1;
	do {
		ok = ok && BN_priv_rand_range_ex(job->k, EC_GROUP_get0_order(g),
						 0, job->bn) == 1;
	} while (ok && BN_is_zero(job->k));
	ok = ok &&
	     EC_POINT_mul(g, job->pub, job->k, NULL, NULL, job->bn) == 1 &&
	     EC_POINT_mul(g, job->z, NULL, job->peer, job->k, job->bn) == 1;
	BN_clear(job->k);
	ok = ok &&
	     EC_POINT_point2oct(g, job->pub, POINT_CONVERSION_UNCOMPRESSED,
				point, POINT_LEN, job->bn) == POINT_LEN &&
	     EC_POINT_get_affine_coordinates(g, job->z, job->x, NULL,
					     job->bn) == 1 &&
	     BN_bn2binpad(job->x, z, sizeof(z)) == sizeof(z);
	BN_clear(job->x);
	if (ok)
		rc = wrap_with(wrapped, job->cek, 1, z, job->algs);
	OPENSSL_cleanse(z, sizeof(z));
	return rc;
}

/*
 * KeyAgreeRecipientInfo ::= [1] SEQUENCE { version 3, originator [0],
 *   keyEncryptionAlgorithm, recipientEncryptedKeys SEQUENCE OF
 *   SEQUENCE { rid issuerAndSerialNumber, encryptedKey OCTET STRING } }
 */
static int kari_encode(struct ll_buf *out, struct kari_job *job, X509 *x)
{
	unsigned char point[POINT_LEN], wrapped[WRAPPED_LEN];
	unsigned char *name = NULL, *serial = NULL;
	int name_len, serial_len, rc;
	size_t ias, rek, reks;

	rc = agree_and_wrap(point, wrapped, job, x);
	if (rc < 0)
		return rc;
	name_len = i2d_X509_NAME(X509_get_issuer_name(x), &name);
	serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &serial);
	if (name_len <= 0 || serial_len <= 0) {
		rc = LL_ECRYPTO;
		goto out;
	}
	ias = (size_t)name_len + (size_t)serial_len;
	rek = ll_der_tlv_size(ias) + ll_der_tlv_size(WRAPPED_LEN);
	reks = ll_der_tlv_size(rek);
	rc = ll_der_head(out, 0xa1,
			 3 + LL_KARI_ORIGINATOR_LEN + POINT_LEN +
				 LL_KARI_KEA_LEN + ll_der_tlv_size(reks));
	if (rc == 0)
		rc = ll_buf_add(out, "\x02\x01\x03", 3);
	if (rc == 0)
		rc = ll_buf_add(out, ll_kari_originator,
				LL_KARI_ORIGINATOR_LEN);
	if (rc == 0)
		rc = ll_buf_add(out, point, POINT_LEN);
	if (rc == 0)
		rc = ll_buf_add(out, ll_kari_kea, LL_KARI_KEA_LEN);
	if (rc == 0)
		rc = ll_der_head(out, 0x30, reks);
	if (rc == 0)
		rc = ll_der_head(out, 0x30, rek);
	if (rc == 0)
		rc = ll_der_head(out, 0x30, ias);
	if (rc == 0)
		rc = ll_buf_add(out, name, (size_t)name_len);
	if (rc == 0)
		rc = ll_buf_add(out, serial, (size_t)serial_len);
	if (rc == 0)
		rc = ll_der_head(out, 0x04, WRAPPED_LEN);
	if (rc == 0)
		rc = ll_buf_add(out, wrapped, WRAPPED_LEN);
out:
	OPENSSL_free(name);
	OPENSSL_free(serial);
	return rc;
}

/* The RecipientInfos SET for RCPTS, appended to OUT. */
static int recipient_infos(struct ll_buf *out, struct ll_ctx *ctx,
			   struct ll_cert *const *rcpts, size_t n,
			   const unsigned char *cek, struct ll_error *err)
{
	struct kari_job job = { .libctx = ll_ctx_libctx(ctx), .cek = cek };
	struct ll_buf *ri = calloc(n, sizeof(*ri));
	size_t total = 0;
	int rc = LL_ECRYPTO;

	if (ri == NULL)
		return LL_ENOMEM;
	job.algs = ll_ctx_algs(ctx);
	job.bn = BN_CTX_secure_new_ex(job.libctx);
	job.k = BN_secure_new();
	job.x = BN_secure_new();
	if (job.algs == NULL || job.bn == NULL || job.k == NULL ||
	    job.x == NULL)
		goto fail;
	BN_set_flags(job.k, BN_FLG_CONSTTIME);
	job.pub = EC_POINT_new(job.algs->p256);
	job.peer = EC_POINT_new(job.algs->p256);
	job.z = EC_POINT_new(job.algs->p256);
	if (job.pub == NULL || job.peer == NULL || job.z == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (!ll_cert_key_check(rcpts[i], job.libctx)) {
			rc = ll_err_ossl(err, LL_ECRYPTO,
					 "the EC key of %s is not valid",
					 ll_cert_email(rcpts[i]));
			goto out;
		}
		rc = kari_encode(&ri[i], &job, ll_cert_x509(rcpts[i]));
		if (rc < 0)
			goto fail;
		total += ri[i].len;
	}
	qsort(ri, n, sizeof(*ri), ll_der_cmp);
	rc = ll_der_head(out, 0x31, total);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = ll_buf_add(out, ri[i].p, ri[i].len);
	if (rc == 0)
		goto out;
fail:
	rc = ll_err_ossl(err, LL_ECRYPTO, "encrypting the key to a recipient");
out:
	for (size_t i = 0; i < n; i++)
		ll_buf_free(&ri[i]);
	free(ri);
	EC_POINT_free(job.pub);
	EC_POINT_free(job.peer);
	EC_POINT_clear_free(job.z);
	BN_clear_free(job.k);
	BN_clear_free(job.x);
	BN_CTX_free(job.bn);
	return rc;
}

int ll_cms_env_ec_ok(struct ll_cert *const *rcpts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY *pk = X509_get0_pubkey(ll_cert_x509(rcpts[i]));
		char group[32];

		if (pk == NULL || !EVP_PKEY_is_a(pk, "EC") ||
		    EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) !=
			    1 ||
		    strcmp(group, "prime256v1") != 0)
			return 0;
	}
	return n > 0;
}

/* ---- the filter BIO ---- */

enum env_state {
	ENV_HEAD,
	ENV_CONTENT,
	ENV_DONE,
	ENV_FAILED
};

struct env {
	enum env_state state;
	int gcm;
	EVP_CIPHER_CTX *c;
	struct ll_buf head; /* the DER before the first content chunk */
	unsigned char *scratch; /* a chunk's head and its ciphertext */
	size_t scratch_cap; /* plaintext octets a chunk of it can take */
};

/* Ciphertext already in E->scratch + CHUNK_HEAD, N octets: one OCTET
 * STRING chunk to NEXT. */
static int put_chunk(struct env *e, BIO *next, size_t n)
{
	unsigned char *p = e->scratch + CHUNK_HEAD;
	size_t k = ll_der_len_size(n);

	if (n == 0)
		return 0;
	p -= k + 1;
	p[0] = 0x04;
	if (k == 1) {
		p[1] = (unsigned char)n;
	} else {
		p[1] = (unsigned char)(0x80 | (k - 1));
		for (size_t j = 0; j < k - 1; j++)
			p[2 + j] = (unsigned char)(n >> (8 * (k - 2 - j)));
	}
	return ll_bio_put(next, p, n + k + 1);
}

/*
 * Room for a chunk of N plaintext octets (at most CHUNK_MAX): its head,
 * the ciphertext, a block more (CBC).  Grown to what the writes need,
 * not made 64 KiB at once: a 4 KiB message's writes are small, and a
 * block that size, freed with every message, went back to the system
 * and came back as fresh pages each time (5% of a 4 KiB EC seal in
 * brk and page faults).
 */
static int scratch_alloc(struct env *e, size_t n)
{
	unsigned char *p;

	if (n > CHUNK_MAX)
		n = CHUNK_MAX;
	if (e->scratch != NULL && e->scratch_cap >= n)
		return 0;
	p = realloc(e->scratch, CHUNK_HEAD + n + 16);
	if (p == NULL)
		return LL_ENOMEM;
	e->scratch = p;
	e->scratch_cap = n;
	return 0;
}

static int put_head_once(struct env *e, BIO *next)
{
	int rc;

	if (e->state != ENV_HEAD)
		return 0;
	rc = ll_bio_put(next, e->head.p, e->head.len);
	ll_buf_free(&e->head);
	e->state = ENV_CONTENT;
	return rc;
}

static int env_write(BIO *b, const char *data, int len)
{
	struct env *e = BIO_get_data(b);
	BIO *next = BIO_next(b);
	const unsigned char *p = (const unsigned char *)data;
	int left = len;

	if (e->state == ENV_DONE || e->state == ENV_FAILED || next == NULL)
		return -1;
	if (len <= 0)
		return 0;
	if (put_head_once(e, next) < 0 || scratch_alloc(e, (size_t)len) < 0) {
		e->state = ENV_FAILED;
		return -1;
	}
	/* a big write (BIO_f_buffer passes those on whole) in 64 KiB
	 * chunks: the scratch stays small, readers get bounded chunks */
	while (left > 0) {
		int n = left < CHUNK_MAX ? left : CHUNK_MAX, outl = 0;

		if (EVP_EncryptUpdate(e->c, e->scratch + CHUNK_HEAD, &outl, p,
				      n) != 1 ||
		    put_chunk(e, next, (size_t)outl) < 0) {
			e->state = ENV_FAILED;
			return -1;
		}
		p += n;
		left -= n;
	}
	return len;
}

/* The last block, the ends of the content, the tag, the outer ends. */
static int env_finish(struct env *e, BIO *next)
{
	static const unsigned char eoc4[4] = { 0 }, eoc6[6] = { 0 };
	unsigned char mac[2 + 16] = { 0x04, 0x10 };
	int outl = 0, rc;

	rc = put_head_once(e, next);
	if (rc == 0)
		rc = scratch_alloc(e, 0);
	if (rc == 0 &&
	    EVP_EncryptFinal_ex(e->c, e->scratch + CHUNK_HEAD, &outl) != 1)
		rc = LL_ECRYPTO;
	if (rc == 0)
		rc = put_chunk(e, next, (size_t)outl);
	/* ends [0] encryptedContent and EncryptedContentInfo */
	if (rc == 0)
		rc = ll_bio_put(next, eoc4, sizeof(eoc4));
	if (rc == 0 && e->gcm) {
		if (EVP_CIPHER_CTX_ctrl(e->c, EVP_CTRL_AEAD_GET_TAG, 16,
					mac + 2) != 1)
			rc = LL_ECRYPTO;
		if (rc == 0)
			rc = ll_bio_put(next, mac, sizeof(mac));
	}
	/* ends the (Auth)EnvelopedData, [0] content and ContentInfo */
	if (rc == 0)
		rc = ll_bio_put(next, eoc6, sizeof(eoc6));
	return rc;
}

static long env_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct env *e = BIO_get_data(b);
	BIO *next = BIO_next(b);

	if (next == NULL)
		return 0;
	if (cmd == BIO_CTRL_FLUSH) {
		if (e->state == ENV_FAILED)
			return 0;
		if (e->state != ENV_DONE) {
			if (env_finish(e, next) < 0) {
				e->state = ENV_FAILED;
				return 0;
			}
			e->state = ENV_DONE;
		}
	}
	return BIO_ctrl(next, cmd, num, ptr);
}

static int env_destroy(BIO *b)
{
	struct env *e = BIO_get_data(b);

	if (e == NULL)
		return 1;
	EVP_CIPHER_CTX_free(e->c); /* cleans the key schedule */
	ll_buf_free(&e->head);
	free(e->scratch);
	free(e);
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *env_method;

static void env_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
				     "letterlock EC enveloped data");

	if (m == NULL)
		return;
	BIO_meth_set_write(m, env_write);
	BIO_meth_set_ctrl(m, env_ctrl);
	BIO_meth_set_destroy(m, env_destroy);
	env_method = m;
}

/*
 * ContentInfo { contentType, [0] (Auth)EnvelopedData { version,
 * recipientInfos, EncryptedContentInfo { id-data, algorithm, [0] ...
 * up to the content: indefinite lengths, closed by env_finish.
 */
static int make_head(struct ll_buf *h, struct ll_ctx *ctx,
		     struct ll_cert *const *rcpts, size_t n, int gcm,
		     const unsigned char *cek, const unsigned char *iv,
		     struct ll_error *err)
{
	int rc;

	rc = ll_buf_add(h, "\x30\x80", 2);
	if (rc == 0)
		rc = gcm ? ll_buf_add(h, oid_auth_enveloped,
				      sizeof(oid_auth_enveloped)) :
			   ll_buf_add(h, oid_enveloped, sizeof(oid_enveloped));
	/* RFC 5083: version 0; RFC 5652 6.1: 2 with a KARI (version 3) */
	if (rc == 0)
		rc = ll_buf_add(h,
				gcm ? "\xa0\x80\x30\x80\x02\x01\x00" :
				      "\xa0\x80\x30\x80\x02\x01\x02",
				7);
	if (rc == 0)
		rc = recipient_infos(h, ctx, rcpts, n, cek, err);
	if (rc == 0)
		rc = ll_buf_add(h, "\x30\x80", 2);
	if (rc == 0)
		rc = ll_buf_add(h, ll_oid_data, LL_OID_LEN);
	if (rc == 0 && gcm) {
		/* GCMParameters { aes-nonce (12), aes-ICVlen 16 } */
		rc = ll_buf_add(h, "\x30\x1e", 2);
		if (rc == 0)
			rc = ll_buf_add(h, ll_oid_aes256_gcm, LL_OID_LEN);
		if (rc == 0)
			rc = ll_buf_add(h, "\x30\x11\x04\x0c", 4);
		if (rc == 0)
			rc = ll_buf_add(h, iv, 12);
		if (rc == 0)
			rc = ll_buf_add(h, "\x02\x01\x10", 3);
	} else if (rc == 0) {
		rc = ll_buf_add(h, "\x30\x1d", 2);
		if (rc == 0)
			rc = ll_buf_add(h, ll_oid_aes256_cbc, LL_OID_LEN);
		if (rc == 0)
			rc = ll_buf_add(h, "\x04\x10", 2);
		if (rc == 0)
			rc = ll_buf_add(h, iv, 16);
	}
	if (rc == 0)
		rc = ll_buf_add(h, "\xa0\x80", 2);
	return rc;
}

BIO *ll_cms_env_ec_new(struct ll_ctx *ctx, struct ll_cert *const *rcpts,
		       size_t n, int gcm, struct ll_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	OSSL_LIB_CTX *libctx = ll_ctx_libctx(ctx);
	unsigned char cek[CEK_LEN], iv[16];
	size_t ivlen = gcm ? 12 : 16;
	const struct ll_algs *algs = ll_ctx_algs(ctx);
	struct env *e = NULL;
	BIO *b = NULL;
	int rc;

	pthread_once(&once, env_method_init);
	if (env_method == NULL || !ll_cms_env_ec_ok(rcpts, n)) {
		ll_err(err, LL_EINVAL, LL_ECLASS_CMS,
		       "not a set of EC P-256 recipients");
		return NULL;
	}
	ERR_clear_error();
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		ll_err(err, LL_ENOMEM, LL_ECLASS_CMS, "out of memory");
		return NULL;
	}
	e->gcm = gcm;
	e->state = ENV_HEAD;
	e->c = EVP_CIPHER_CTX_new();
	if (algs == NULL || e->c == NULL ||
	    RAND_priv_bytes_ex(libctx, cek, sizeof(cek), 0) != 1 ||
	    RAND_bytes_ex(libctx, iv, ivlen, 0) != 1 ||
	    EVP_EncryptInit_ex2(e->c, gcm ? algs->gcm : algs->cbc, cek, iv,
				NULL) != 1) {
		ll_err_ossl(err, LL_ECRYPTO, "starting encryption");
		goto out;
	}
	rc = make_head(&e->head, ctx, rcpts, n, gcm, cek, iv, err);
	if (rc < 0) {
		if (err != NULL && err->code == 0)
			ll_err(err, rc, LL_ECLASS_CMS,
			       "writing the enveloped data");
		goto out;
	}
	b = BIO_new(env_method);
	if (b == NULL) {
		ll_err_ossl(err, LL_ENOMEM, "starting encryption");
		goto out;
	}
	BIO_set_data(b, e);
	BIO_set_init(b, 1);
	e = NULL;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (e != NULL) {
		EVP_CIPHER_CTX_free(e->c);
		ll_buf_free(&e->head);
		free(e);
	}
	return b;
}
