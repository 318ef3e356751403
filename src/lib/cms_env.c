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
				size_t n, int gcm, int oaep_ok,
				struct ll_error *err)
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
		int oaep = oaep_ok &&
			   (ll_cert_caps(rcpts[i]) & LL_CAP_RSA_OAEP) != 0;
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
	const unsigned char *p = der;
	CMS_ContentInfo *cms;

	*out = NULL;
	if (len > LL_MSG_MAX_SIZE)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_CMS, "CMS too large");
	ERR_clear_error();
	cms = CMS_ContentInfo_new_ex(ll_ctx_libctx(ctx), NULL);
	if (cms == NULL)
		return LL_ENOMEM;
	if (d2i_CMS_ContentInfo(&cms, &p, (long)len) == NULL) {
		CMS_ContentInfo_free(cms);
		return ll_err_ossl(err, LL_EPARSE,
				   "not a CMS structure (corrupt or truncated)");
	}
	if (p != der + len) {
		CMS_ContentInfo_free(cms);
		return ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
			      "%zu bytes of trailing data after the CMS structure",
			      (size_t)(der + len - p));
	}
	*out = cms;
	return 0;
}

/* ---- finding the content-encryption algorithm (for the status) ---- */

const char *ll_cipher_name(int nid)
{
	switch (nid) {
	case NID_aes_256_gcm: return "aes-256-gcm";
	case NID_aes_192_gcm: return "aes-192-gcm";
	case NID_aes_128_gcm: return "aes-128-gcm";
	case NID_aes_256_cbc: return "aes-256-cbc";
	case NID_aes_192_cbc: return "aes-192-cbc";
	case NID_aes_128_cbc: return "aes-128-cbc";
	case NID_des_ede3_cbc: return "des-ede3-cbc";
	/* named only to say why they are refused (msg_open.c) */
	case NID_rc2_cbc: return "rc2-cbc";
	case NID_des_cbc: return "des-cbc";
	}
	return "unknown";
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

int ll_cms_find_recipient(struct ll_identity **out, struct ll_ctx *ctx,
			  CMS_ContentInfo *cms, struct ll_error *err)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);

	*out = NULL;
	/* room for every Cc of a big list; bounded work per message */
	if (sk_CMS_RecipientInfo_num(ris) > 10 * LL_MSG_MAX_RECIPIENTS)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "more than %d recipients",
			      10 * LL_MSG_MAX_RECIPIENTS);
	/* the newest identity first: the usual case */
	for (size_t i = ll_ctx_identity_count(ctx); i-- > 0 && !*out;) {
		struct ll_identity *cand = ll_ctx_identity_at(ctx, i);
		X509 *x = ll_cert_x509(ll_identity_cert(cand));

		for (int j = 0; j < sk_CMS_RecipientInfo_num(ris); j++)
			if (matches(sk_CMS_RecipientInfo_value(ris, j), x))
				*out = cand;
	}
	ERR_clear_error();
	if (*out == NULL)
		return ll_err(err, LL_ENOKEY, LL_ECLASS_CMS,
			      "not encrypted to any of our keys (%d recipients)",
			      sk_CMS_RecipientInfo_num(ris));
	return 0;
}
