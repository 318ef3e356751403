/*
 * cms_env.c - CMS EnvelopedData / AuthEnvelopedData: make (streamed)
 * and decrypt with any of the context's keys.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>

#include "internal.h"

CMS_ContentInfo *ll_cms_env_new(struct ll_ctx *ctx, struct ll_cert **rcpts,
				size_t n, int gcm, struct ll_error *err)
{
	EVP_CIPHER *cipher = NULL;
	CMS_ContentInfo *cms = NULL;
	unsigned fl = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;

	ERR_clear_error();
	cipher = EVP_CIPHER_fetch(ll_ctx_libctx(ctx),
				  gcm ? "AES-256-GCM" : "AES-256-CBC", NULL);
	if (cipher == NULL)
		goto fail;
	cms = CMS_encrypt_ex(NULL, NULL, cipher, fl, ll_ctx_libctx(ctx),
			     NULL);
	if (cms == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		X509 *x = ll_cert_x509(rcpts[i]);
		EVP_PKEY *pk = X509_get0_pubkey(x);
		int oaep = (ll_cert_caps(rcpts[i]) & LL_CAP_RSA_OAEP) != 0;
		CMS_RecipientInfo *ri;
		EVP_PKEY_CTX *pctx;

		if (pk == NULL)
			goto fail;
		if (EVP_PKEY_is_a(pk, "EC")) {
			ri = CMS_add1_recipient_cert(cms, x, CMS_KEY_PARAM);
			pctx = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
			/* OpenSSL's KDF default is SHA-1; RFC 5753/8551 */
			if (pctx == NULL ||
			    EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0)
				goto fail;
		} else if (EVP_PKEY_is_a(pk, "RSA") && oaep) {
			ri = CMS_add1_recipient_cert(cms, x, CMS_KEY_PARAM);
			pctx = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
			if (pctx == NULL ||
			    EVP_PKEY_CTX_set_rsa_padding(pctx,
						 RSA_PKCS1_OAEP_PADDING) <= 0 ||
			    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
			    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
				goto fail;
		} else if (EVP_PKEY_is_a(pk, "RSA")) {
			ri = CMS_add1_recipient_cert(cms, x, 0);
		} else {
			ll_err(err, LL_EINVAL, LL_ECLASS_CMS,
			       "cannot encrypt to a %s key (%s)",
			       EVP_PKEY_get0_type_name(pk),
			       ll_cert_email(rcpts[i]));
			goto out;
		}
		if (ri == NULL)
			goto fail;
	}
	EVP_CIPHER_free(cipher);
	return cms;
fail:
	ll_err_ossl(err, LL_ECRYPTO, "creating the encrypted message");
out:
	EVP_CIPHER_free(cipher);
	CMS_ContentInfo_free(cms);
	return NULL;
}

int ll_cms_d2i(CMS_ContentInfo **out, struct ll_ctx *ctx,
	       const unsigned char *der, size_t len, struct ll_error *err)
{
	CMS_ContentInfo *cms;
	BIO *b;

	*out = NULL;
	if (len > LL_MSG_MAX_SIZE)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_CMS, "CMS too large");
	ERR_clear_error();
	cms = CMS_ContentInfo_new_ex(ll_ctx_libctx(ctx), NULL);
	b = BIO_new_mem_buf(der, (int)len);
	if (cms == NULL || b == NULL) {
		CMS_ContentInfo_free(cms);
		BIO_free(b);
		return LL_ENOMEM;
	}
	if (d2i_CMS_bio(b, &cms) == NULL) {
		CMS_ContentInfo_free(cms);
		BIO_free(b);
		return ll_err_ossl(err, LL_EPARSE,
				   "not a CMS structure (corrupt or truncated)");
	}
	BIO_free(b);
	*out = cms;
	return 0;
}

/* ---- finding the content-encryption algorithm (for the status) ---- */

struct tlv {
	const unsigned char *p;	  /* contents */
	const unsigned char *end; /* end of contents (or of parent if inf) */
	const unsigned char *next;
	int tag, cls, inf;
};

static int tlv_skip_inf(const unsigned char *p, const unsigned char *end,
			const unsigned char **next, int depth);

static int tlv_read(struct tlv *t, const unsigned char *p,
		    const unsigned char *end, int depth)
{
	const unsigned char *q = p;
	long len;
	int r;

	if (depth > 16 || p >= end)
		return -1;
	r = ASN1_get_object(&q, &len, &t->tag, &t->cls, (long)(end - p));
	if (r & 0x80)
		return -1;
	t->p = q;
	t->inf = r == 0x21;
	if (t->inf) {
		t->end = end;
		if (tlv_skip_inf(q, end, &t->next, depth + 1) < 0)
			return -1;
	} else {
		t->end = q + len;
		t->next = q + len;
	}
	return 0;
}

static int tlv_skip_inf(const unsigned char *p, const unsigned char *end,
			const unsigned char **next, int depth)
{
	struct tlv t;

	while (p + 2 <= end) {
		if (p[0] == 0 && p[1] == 0) {
			*next = p + 2;
			return 0;
		}
		if (tlv_read(&t, p, end, depth) < 0)
			return -1;
		p = t.next;
	}
	return -1;
}

static const char *cipher_name(int nid)
{
	switch (nid) {
	case NID_aes_256_gcm: return "aes-256-gcm";
	case NID_aes_192_gcm: return "aes-192-gcm";
	case NID_aes_128_gcm: return "aes-128-gcm";
	case NID_aes_256_cbc: return "aes-256-cbc";
	case NID_aes_192_cbc: return "aes-192-cbc";
	case NID_aes_128_cbc: return "aes-128-cbc";
	case NID_des_ede3_cbc: return "des-ede3-cbc";
	}
	return "unknown";
}

const char *ll_cms_peek_cipher(const unsigned char *der, size_t len)
{
	const unsigned char *end = der + len, *q;
	struct tlv ci, oid, wrap, env, t, alg, o;
	ASN1_OBJECT *obj;
	int nid;

	if (tlv_read(&ci, der, end, 0) < 0 ||
	    tlv_read(&oid, ci.p, ci.end, 1) < 0 ||
	    tlv_read(&wrap, oid.next, ci.end, 1) < 0 ||
	    tlv_read(&env, wrap.p, wrap.end, 2) < 0 ||
	    tlv_read(&t, env.p, env.end, 3) < 0)	/* version */
		return "unknown";
	if (tlv_read(&t, t.next, env.end, 3) < 0)
		return "unknown";
	if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 0 &&
	    tlv_read(&t, t.next, env.end, 3) < 0)	/* originatorInfo */
		return "unknown";
	/* t: recipientInfos; next: (auth)encryptedContentInfo */
	if (tlv_read(&t, t.next, env.end, 3) < 0 ||
	    tlv_read(&o, t.p, t.end, 4) < 0 ||		/* contentType */
	    tlv_read(&alg, o.next, t.end, 4) < 0 ||
	    tlv_read(&o, alg.p, alg.end, 5) < 0 || o.tag != V_ASN1_OBJECT)
		return "unknown";
	q = alg.p;
	obj = d2i_ASN1_OBJECT(NULL, &q, (long)(o.next - alg.p));
	if (obj == NULL) {
		ERR_clear_error();
		return "unknown";
	}
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	return cipher_name(nid);
}

static int matches(CMS_RecipientInfo *ri, X509 *x)
{
	int type = CMS_RecipientInfo_type(ri);

	if (type == CMS_RECIPINFO_TRANS)
		return CMS_RecipientInfo_ktri_cert_cmp(ri, x) == 0;
	if (type == CMS_RECIPINFO_AGREE) {
		STACK_OF(CMS_RecipientEncryptedKey) *reks =
			CMS_RecipientInfo_kari_get0_reks(ri);

		for (int i = 0; i < sk_CMS_RecipientEncryptedKey_num(reks); i++)
			if (CMS_RecipientEncryptedKey_cert_cmp(
				    sk_CMS_RecipientEncryptedKey_value(reks, i),
				    x) == 0)
				return 1;
	}
	return 0;
}

int ll_cms_decrypt(struct ll_buf *out, struct ll_ctx *ctx,
		   CMS_ContentInfo *cms, struct ll_error *err)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	struct ll_identity *id = NULL;
	BIO *b = NULL;
	BUF_MEM *m;
	int rc = 0;

	/* the newest identity first: the usual case */
	for (size_t i = ll_ctx_identity_count(ctx); i-- > 0 && id == NULL;) {
		struct ll_identity *cand = ll_ctx_identity_at(ctx, i);
		X509 *x = ll_cert_x509(ll_identity_cert(cand));

		for (int j = 0; j < sk_CMS_RecipientInfo_num(ris); j++)
			if (matches(sk_CMS_RecipientInfo_value(ris, j), x))
				id = cand;
	}
	ERR_clear_error();
	if (id == NULL)
		return ll_err(err, LL_ENOKEY, LL_ECLASS_CMS,
			      "not encrypted to any of our keys (%d recipients)",
			      sk_CMS_RecipientInfo_num(ris));
	b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return LL_ENOMEM;
	if (CMS_decrypt(cms, ll_identity_pkey(id),
			ll_cert_x509(ll_identity_cert(id)), NULL, b,
			CMS_BINARY) != 1) {
		rc = ll_err_ossl(err, LL_EDECRYPT,
				 "decryption failed (corrupt or tampered ciphertext)");
		goto out;
	}
	/* hand the plaintext over without a copy */
	BIO_get_mem_ptr(b, &m);
	BIO_set_close(b, BIO_NOCLOSE);
	ll_buf_free(out);
	if (m->max == m->length && ll_buf_add(out, m->data, m->length) < 0) {
		rc = LL_ENOMEM;
	} else if (m->max > m->length) {
		out->p = m->data;
		out->len = m->length;
		out->cap = m->max;
		out->p[out->len] = '\0';
		m->data = NULL;
	}
	if (m->data != NULL)
		OPENSSL_cleanse(m->data, m->max);
	BUF_MEM_free(m);
	BIO_free(b);
	return rc;
out:
	/* no partial plaintext survives a failure */
	if (BIO_get_mem_ptr(b, &m) == 1 && m != NULL && m->data != NULL)
		OPENSSL_cleanse(m->data, m->max);
	BIO_free(b);
	return rc;
}
