/*
 * cms_keypref.c - the certificate a signer asks to be encrypted to.
 *
 * Who signs with one certificate and decrypts with another (commercial
 * CAs, smart cards, Outlook) names the second in a signed attribute:
 * SMIMEEncryptionKeyPreference (RFC 8551 2.5.3, id-aa-encrypKeyPref)
 *
 *   SMIMEEncryptionKeyPreference ::= CHOICE {
 *     issuerAndSerialNumber   [0] IssuerAndSerialNumber,
 *     receipentKeyId          [1] RecipientKeyIdentifier,
 *     subjectAltKeyIdentifier [2] SubjectKeyIdentifier }
 *
 * (implicit tags), or Microsoft's attribute of the same meaning
 * (1.3.6.1.4.1.311.16.4), a bare IssuerAndSerialNumber.  NSS writes
 * both.  Only the signed attributes count: an unsigned one is anyone's
 * word.  The value is untrusted: each is read by bounded DER functions,
 * which take nothing more than the one element.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define OID_MS_ENC_KEY_PREF "1.3.6.1.4.1.311.16.4"
#define KEYPREF_MAX 4096 /* an issuer name and a serial, or a key id */

/* Decode an IssuerAndSerialNumber of exactly LEN octets at P (its
 * SEQUENCE tag at P[0]); NULL if it is not one. */
static PKCS7_ISSUER_AND_SERIAL *ias_parse(const unsigned char *p, size_t len)
{
	const unsigned char *q = p;
	PKCS7_ISSUER_AND_SERIAL *ias;

	ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q, (long)len);
	if (ias != NULL && q != p + len) {
		PKCS7_ISSUER_AND_SERIAL_free(ias);
		ias = NULL;
	}
	return ias;
}

int ll_keypref_parse(struct ll_keypref *out, const unsigned char *p, size_t len,
		     int microsoft)
{
	struct ll_tlv t, kid;
	unsigned char *copy;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > KEYPREF_MAX ||
	    ll_tlv_read(&t, p, p + len, 4) < 0 || t.inf || t.next != p + len)
		return LL_EPARSE;
	if (microsoft) {
		if (t.tag != V_ASN1_SEQUENCE || t.cls != V_ASN1_UNIVERSAL)
			return LL_EPARSE;
		out->ias = ias_parse(p, len);
		return out->ias != NULL ? 0 : LL_EPARSE;
	}
	if (t.cls != V_ASN1_CONTEXT_SPECIFIC)
		return LL_EPARSE;
	switch (t.tag) {
	case 0:
		/* [0] IMPLICIT: the SEQUENCE with its tag replaced */
		if (!t.cons)
			return LL_EPARSE;
		copy = OPENSSL_memdup(p, len);
		if (copy == NULL)
			return LL_ENOMEM;
		copy[0] = V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED;
		out->ias = ias_parse(copy, len);
		OPENSSL_free(copy);
		return out->ias != NULL ? 0 : LL_EPARSE;
	case 1:
		/* RecipientKeyIdentifier: its subjectKeyIdentifier first */
		if (!t.cons || ll_tlv_read(&kid, t.p, t.end, 3) < 0 ||
		    kid.inf || kid.tag != V_ASN1_OCTET_STRING || kid.cons ||
		    kid.cls != V_ASN1_UNIVERSAL)
			return LL_EPARSE;
		t = kid;
		break;
	case 2:
		if (t.cons)
			return LL_EPARSE;
		break;
	default:
		return LL_EPARSE;
	}
	if (t.end == t.p || (size_t)(t.end - t.p) > sizeof(out->kid))
		return LL_EPARSE;
	out->kidlen = (size_t)(t.end - t.p);
	memcpy(out->kid, t.p, out->kidlen);
	return 0;
}

void ll_keypref_clear(struct ll_keypref *k)
{
	PKCS7_ISSUER_AND_SERIAL_free(k->ias);
	memset(k, 0, sizeof(*k));
}

/* 1 if X is the certificate K names. */
static int names(const struct ll_keypref *k, X509 *x)
{
	const ASN1_OCTET_STRING *ski;

	if (k->ias != NULL)
		return X509_NAME_cmp(X509_get_issuer_name(x), k->ias->issuer) ==
			       0 &&
		       ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
					k->ias->serial) == 0;
	ski = X509_get0_subject_key_id(x);
	return ski != NULL && (size_t)ASN1_STRING_length(ski) == k->kidlen &&
	       memcmp(ASN1_STRING_get0_data(ski), k->kid, k->kidlen) == 0;
}

/* The attribute OID of SI's signed attributes, read into K: 1 there
 * (and parsed), 0 not there, -1 there but not readable (twice, two
 * values, a shape we do not know). */
static int signed_pref(struct ll_keypref *k, CMS_SignerInfo *si,
		       const ASN1_OBJECT *oid, int microsoft)
{
	int idx = CMS_signed_get_attr_by_OBJ(si, oid, -1);
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	const ASN1_STRING *s;

	if (idx < 0)
		return 0;
	if (CMS_signed_get_attr_by_OBJ(si, oid, idx) >= 0)
		return -1;
	a = CMS_signed_get_attr(si, idx);
	if (a == NULL || X509_ATTRIBUTE_count(a) != 1)
		return -1;
	t = X509_ATTRIBUTE_get0_type(a, 0);
	/* a SEQUENCE and a context-tagged value both keep their whole
	 * encoding, tag included */
	if (t == NULL ||
	    (t->type != V_ASN1_SEQUENCE && t->type != V_ASN1_OTHER))
		return -1;
	s = t->value.asn1_string;
	return ll_keypref_parse(k, ASN1_STRING_get0_data(s),
				(size_t)ASN1_STRING_length(s), microsoft) == 0 ?
		       1 :
		       -1;
}

/* The first certificate of SK that K names, or NULL. */
static X509 *find_in(const struct ll_keypref *k, STACK_OF(X509) * sk)
{
	for (int i = 0; i < sk_X509_num(sk); i++)
		if (names(k, sk_X509_value(sk, i)))
			return sk_X509_value(sk, i);
	return NULL;
}

static X509 *find(const struct ll_keypref *k, struct ll_ctx *ctx,
		  STACK_OF(X509) * certs)
{
	X509 *x = find_in(k, certs);

	for (size_t i = 0; x == NULL && i < ll_ctx_contact_count(ctx); i++) {
		X509 *c = ll_cert_x509(ll_ctx_contact_at(ctx, i));

		if (names(k, c))
			x = c;
	}
	return x;
}

/* 1 if X chains to one of CTX's trust anchors now, through CERTS. */
static int chains(struct ll_ctx *ctx, X509 *x, STACK_OF(X509) * certs)
{
	X509_STORE_CTX *sctx = NULL;
	unsigned char fpr[32];
	int ok = 0;

	/*
	 * A certificate both to sign and to encrypt to names itself (NSS
	 * does by default): its chain was just verified, as a signer's,
	 * which asks more, and is in the cache for a window holding now.
	 * Nothing verified here goes into that cache: it asks no purpose.
	 */
	if (ll_ctx_cert_fpr(ctx, x, fpr) == 0 &&
	    ll_ctx_chain_cached(ctx, fpr, ll_ctx_now(ctx), NULL))
		return 1;
	sctx = X509_STORE_CTX_new_ex(ll_ctx_libctx(ctx), NULL);
	/*
	 * No OpenSSL purpose: its "S/MIME encryption" wants
	 * keyEncipherment even of an EC key; the key's use and the EKU
	 * are judged by the caller.
	 */
	if (sctx != NULL &&
	    X509_STORE_CTX_init(sctx, ll_ctx_store(ctx), x, certs)) {
		X509_STORE_CTX_set_time(sctx, 0, ll_ctx_now(ctx));
		ok = X509_verify_cert(sctx) == 1;
	}
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	return ok;
}

/* EKU absent (any use, RFC 5280 4.2.1.12) or naming emailProtection. */
static int for_email(X509 *x)
{
	return !(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
	       (X509_get_extended_key_usage(x) & XKU_SMIME) != 0;
}

int ll_cms_keypref(X509 **out, char *why, size_t whylen, struct ll_ctx *ctx,
		   CMS_ContentInfo *cms, CMS_SignerInfo *si,
		   STACK_OF(X509) * extra)
{
	ASN1_OBJECT *ms = OBJ_txt2obj(OID_MS_ENC_KEY_PREF, 1);
	struct ll_keypref rfc = { 0 }, msk = { 0 };
	STACK_OF(X509) *certs = NULL;
	X509 *x = NULL, *y = NULL;
	int have_rfc, have_ms, rc = 0;

	*out = NULL;
	why[0] = '\0';
	if (ms == NULL)
		return LL_ENOMEM;
	have_rfc = signed_pref(&rfc, si,
			       OBJ_nid2obj(NID_id_smime_aa_encrypKeyPref), 0);
	have_ms = signed_pref(&msk, si, ms, 1);
	ERR_clear_error();
	if (have_rfc == 0 && have_ms == 0)
		goto out;
	if (have_rfc < 0 || have_ms < 0) {
		snprintf(why, whylen,
			 "the encryption key preference does not parse: "
			 "ignored");
		goto out;
	}
	certs = CMS_get1_certs(cms);
	if (certs == NULL)
		certs = sk_X509_new_null();
	for (int i = 0; certs != NULL && i < sk_X509_num(extra); i++)
		if (sk_X509_push(certs, sk_X509_value(extra, i)))
			X509_up_ref(sk_X509_value(extra, i));
	if (certs == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	x = have_rfc > 0 ? find(&rfc, ctx, certs) : NULL;
	y = have_ms > 0 ? find(&msk, ctx, certs) : NULL;
	/* both said, and not the same: neither is the signer's word */
	if (have_rfc > 0 && have_ms > 0 &&
	    (x == NULL || y == NULL || X509_cmp(x, y) != 0)) {
		snprintf(why, whylen,
			 "the two encryption key preferences name different "
			 "certificates: ignored");
		goto out;
	}
	if (x == NULL)
		x = y;
	if (x == NULL)
		snprintf(why, whylen,
			 "the encryption key preference names a certificate "
			 "neither carried nor known");
	else if (!(ll_x509_uses(x) & LL_USE_ENCRYPT))
		snprintf(why, whylen,
			 "the encryption key preference names a certificate "
			 "whose keyUsage allows no encryption: ignored");
	else if (!for_email(x))
		snprintf(why, whylen,
			 "the encryption key preference names a certificate "
			 "not for email (extendedKeyUsage): ignored");
	else if (!chains(ctx, x, certs))
		snprintf(why, whylen,
			 "the encryption key preference names a certificate "
			 "that does not chain to a trust anchor: ignored");
	else if (X509_up_ref(x))
		*out = x;
out:
	sk_X509_pop_free(certs, X509_free);
	ll_keypref_clear(&rfc);
	ll_keypref_clear(&msk);
	ASN1_OBJECT_free(ms);
	return rc;
}
