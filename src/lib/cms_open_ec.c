/*
 * cms_open_ec.c - decrypt an EnvelopedData / AuthEnvelopedData sent to
 * one of our EC P-256 keys, without OpenSSL's CMS layer.
 *
 * Why: for every message, OpenSSL's CMS_decrypt checks the sender's
 * ephemeral key in full (a scalar multiplication by the group order, as
 * costly as the ECDH itself), parses the structure into its ASN.1
 * objects and sets up a chain of cipher BIOs: about half of opening a
 * 4 KiB message.  On P-256 (cofactor 1) every point on the curve other
 * than the point at infinity has the group's order, so the partial check
 * (NIST SP 800-56A rev. 3, 5.6.2.3.4: in range, on the curve, not
 * infinity) is already the full one.
 *
 * Only the form cms_env_ec.c and OpenSSL write is read here: a
 * KeyAgreeRecipientInfo with an ephemeral originatorKey (id-ecPublicKey
 * without parameters, an uncompressed point), no ukm,
 * dhSinglePass-stdDH-sha256kdf-scheme with id-aes256-wrap, the rid an
 * issuerAndSerialNumber; the content AES-256-CBC, or AES-256-GCM with a
 * 12-octet nonce and no attributes.  Every RecipientInfo must be such a
 * KARI, other recipients' included (their issuer names such that OpenSSL
 * parses them).  Anything else returns 0 before any secret is touched,
 * and the message goes to OpenSSL's CMS as before.  The outcome is
 * OpenSSL's: the same identity (the newest one any RecipientInfo
 * names), the same KARI (the first that names it), no plaintext when the
 * key does not unwrap, the padding is wrong or the tag does not match,
 * and the same error for each (test_cms_env_ec.c holds the two paths to
 * the same result for every octet of a message changed).
 */
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"

#define POINT_LEN 65 /* uncompressed P-256 point */
#define WRAPPED_LEN 40 /* RFC 3394: a 32-octet key and one block */
#define CEK_LEN 32 /* AES-256 */
#define GCM_NONCE_LEN 12
#define CBC_IV_LEN 16
#define RIS_MAX (10 * LL_MSG_MAX_RECIPIENTS) /* as ll_cms_find_recipient */
#define DEPTH 4 /* of a RecipientInfo inside the whole structure */

/* One of our certificates as a rid names it: issuer and serial, DER. */
struct rid_name {
	const unsigned char *issuer;
	size_t issuer_len;
	unsigned char serial[48];
	size_t serial_len;
};

/* The KARI and the RecipientEncryptedKey chosen for our key. */
struct kari_pick {
	const unsigned char *point; /* POINT_LEN octets */
	const unsigned char *wrapped; /* WRAPPED_LEN octets */
};

static int rid_name_of(struct rid_name *n, X509 *x)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	unsigned char *p = n->serial;
	int k = i2d_ASN1_INTEGER(serial, NULL);

	if (X509_NAME_get0_der(X509_get_issuer_name(x), &n->issuer,
			       &n->issuer_len) != 1 ||
	    k <= 0 || (size_t)k > sizeof(n->serial) ||
	    i2d_ASN1_INTEGER(serial, &p) != k)
		return -1;
	n->serial_len = (size_t)k;
	return 0;
}

/* A DER INTEGER's contents in their shortest form (OpenSSL refuses any
 * other). */
static int int_minimal(const struct ll_tlv *t)
{
	size_t n = (size_t)(t->end - t->p);

	if (t->cls != V_ASN1_UNIVERSAL || t->tag != V_ASN1_INTEGER || t->cons ||
	    n == 0)
		return 0;
	if (n == 1)
		return 1;
	if (t->p[0] == 0x00 && !(t->p[1] & 0x80))
		return 0;
	return !(t->p[0] == 0xff && (t->p[1] & 0x80));
}

/* NAME, an issuer in a rid, is one OpenSSL would parse: ours (from a
 * certificate it parsed), or another that it parses now. */
static int name_ok(const struct ll_tlv *name, const struct rid_name *n)
{
	size_t len = (size_t)(name->next - name->start);
	const unsigned char *q = name->start;
	X509_NAME *x;

	if (len == n->issuer_len && memcmp(q, n->issuer, len) == 0)
		return 1;
	x = d2i_X509_NAME(NULL, &q, (long)len);
	X509_NAME_free(x);
	return x != NULL && q == name->next;
}

/*
 * 1 if RID, an issuerAndSerialNumber, names N; 0 if it names another
 * certificate; -1 if not that kind of rid, if it would not parse, or if
 * it names N's serial under an issuer spelt differently (OpenSSL
 * compares names in their canonical form, octets cannot tell).
 */
static int rid_match(const struct ll_tlv *rid, const struct rid_name *n)
{
	struct ll_tlv name, serial;

	if (rid->cls != V_ASN1_UNIVERSAL || rid->tag != V_ASN1_SEQUENCE ||
	    !rid->cons || rid->inf ||
	    ll_tlv_read(&name, rid->p, rid->end, DEPTH + 4) < 0 ||
	    name.cls != V_ASN1_UNIVERSAL || name.tag != V_ASN1_SEQUENCE ||
	    !name.cons || name.inf ||
	    ll_tlv_read(&serial, name.next, rid->end, DEPTH + 4) < 0 ||
	    serial.next != rid->end || !int_minimal(&serial))
		return -1;
	if ((size_t)(serial.next - serial.start) == n->serial_len &&
	    memcmp(serial.start, n->serial, n->serial_len) == 0)
		return (size_t)(name.next - name.start) == n->issuer_len &&
				       memcmp(name.start, n->issuer,
					      n->issuer_len) == 0 ?
			       1 :
			       -1;
	return name_ok(&name, n) ? 0 : -1;
}

/*
 * KeyAgreeRecipientInfo ::= [1] { version 3, originator [0],
 * keyEncryptionAlgorithm, recipientEncryptedKeys SEQUENCE OF
 * RecipientEncryptedKey { rid, encryptedKey } }, in our form (no ukm).
 * 1 and *PICK if one of its keys is for N; 0 if none is; -1 if the KARI
 * is not of our form.
 */
static int kari_find(struct kari_pick *pick, const struct ll_tlv *ri,
		     const struct rid_name *n)
{
	struct ll_tlv ver, orig, kea, reks, rek, rid, ek;
	const unsigned char *p;
	int found = 0;

	if (ri->inf || ll_tlv_read(&ver, ri->p, ri->end, DEPTH + 1) < 0 ||
	    ll_tlv_read(&orig, ver.next, ri->end, DEPTH + 1) < 0 ||
	    ll_tlv_read(&kea, orig.next, ri->end, DEPTH + 1) < 0 ||
	    ll_tlv_read(&reks, kea.next, ri->end, DEPTH + 1) < 0)
		return -1;
	if (ver.next - ver.start != 3 ||
	    memcmp(ver.start, "\x02\x01\x03", 3) != 0 ||
	    orig.next - orig.start != LL_KARI_ORIGINATOR_LEN + POINT_LEN ||
	    memcmp(orig.start, ll_kari_originator, LL_KARI_ORIGINATOR_LEN) !=
		    0 ||
	    orig.start[LL_KARI_ORIGINATOR_LEN] != 0x04 ||
	    kea.next - kea.start != LL_KARI_KEA_LEN ||
	    memcmp(kea.start, ll_kari_kea, LL_KARI_KEA_LEN) != 0 ||
	    reks.cls != V_ASN1_UNIVERSAL || reks.tag != V_ASN1_SEQUENCE ||
	    !reks.cons || reks.inf || reks.next != ri->end)
		return -1;
	for (p = reks.p; p < reks.end; p = rek.next) {
		int m;

		if (ll_tlv_read(&rek, p, reks.end, DEPTH + 2) < 0 ||
		    rek.cls != V_ASN1_UNIVERSAL || rek.tag != V_ASN1_SEQUENCE ||
		    !rek.cons || rek.inf ||
		    ll_tlv_read(&rid, rek.p, rek.end, DEPTH + 3) < 0 ||
		    ll_tlv_read(&ek, rid.next, rek.end, DEPTH + 3) < 0 ||
		    ek.cls != V_ASN1_UNIVERSAL ||
		    ek.tag != V_ASN1_OCTET_STRING || ek.cons ||
		    ek.next != rek.end)
			return -1;
		m = rid_match(&rid, n);
		if (m < 0)
			return -1;
		if (m == 1 && !found) {
			/* the first key for N is the one OpenSSL tries */
			if (ek.end - ek.p != WRAPPED_LEN)
				return -1;
			pick->point = orig.start + LL_KARI_ORIGINATOR_LEN;
			pick->wrapped = ek.p;
			found = 1;
		}
	}
	return found;
}

/*
 * The first KARI of RIS with a key for N: 1 and *PICK; 0 if none names
 * N; -1 if any RecipientInfo is not a KARI of our form (a
 * KeyTransRecipientInfo among them, say: OpenSSL's CMS does those).
 */
static int find_ours(struct kari_pick *pick, const struct ll_tlv *ris,
		     const struct rid_name *n)
{
	struct kari_pick later;
	struct ll_tlv ri;
	const unsigned char *p;
	size_t count = 0;
	int found = 0;

	if (ris->inf)
		return -1;
	/* every one is walked: what OpenSSL would refuse to parse, even
	 * in another recipient's part, is left to it */
	for (p = ris->p; p < ris->end; p = ri.next) {
		int r;

		if (++count > RIS_MAX ||
		    ll_tlv_read(&ri, p, ris->end, DEPTH) < 0 ||
		    ri.cls != V_ASN1_CONTEXT_SPECIFIC || ri.tag != 1 ||
		    !ri.cons)
			return -1;
		r = kari_find(found ? &later : pick, &ri, n);
		if (r < 0)
			return -1;
		found |= r;
	}
	return found;
}

static int is_p256(EVP_PKEY *pk)
{
	char group[32];

	return pk != NULL && EVP_PKEY_is_a(pk, "EC") &&
	       EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1 &&
	       strcmp(group, "prime256v1") == 0;
}

/* ---- the content-encryption algorithm ---- */

struct content_alg {
	int gcm;
	const unsigned char *iv;
};

/* aes256-CBC { iv OCTET STRING (16) } or aes256-GCM { nonce (12),
 * ICVlen } (its ICVlen was checked against the tag by cms_inplace.c). */
static int content_alg(struct content_alg *a, const struct ll_env_view *v)
{
	const unsigned char *end = v->alg.end;
	struct ll_tlv oid, prm, iv;

	if (v->alg.inf || ll_tlv_read(&oid, v->alg.p, end, DEPTH + 2) < 0 ||
	    ll_tlv_read(&prm, oid.next, end, DEPTH + 2) < 0 || prm.next != end)
		return -1;
	if (oid.next - oid.start == LL_OID_LEN &&
	    memcmp(oid.start, ll_oid_aes256_cbc, LL_OID_LEN) == 0) {
		if (v->auth || prm.cls != V_ASN1_UNIVERSAL ||
		    prm.tag != V_ASN1_OCTET_STRING || prm.cons ||
		    prm.end - prm.p != CBC_IV_LEN)
			return -1;
		a->gcm = 0;
		a->iv = prm.p;
		return 0;
	}
	if (oid.next - oid.start == LL_OID_LEN &&
	    memcmp(oid.start, ll_oid_aes256_gcm, LL_OID_LEN) == 0) {
		if (!v->auth || prm.cls != V_ASN1_UNIVERSAL ||
		    prm.tag != V_ASN1_SEQUENCE || !prm.cons || prm.inf ||
		    ll_tlv_read(&iv, prm.p, prm.end, DEPTH + 3) < 0 ||
		    iv.cls != V_ASN1_UNIVERSAL ||
		    iv.tag != V_ASN1_OCTET_STRING || iv.cons ||
		    iv.end - iv.p != GCM_NONCE_LEN)
			return -1;
		a->gcm = 1;
		a->iv = iv.p;
		return 0;
	}
	return -1;
}

/* ---- the crypto ---- */

/*
 * The CEK from the sender's ephemeral point, our key PRIV and the
 * wrapped key in PICK.
 */
static int unwrap_cek(unsigned char cek[CEK_LEN], struct ll_ctx *ctx,
		      EVP_PKEY *priv, const struct kari_pick *pick)
{
	const struct ll_algs *algs = ll_ctx_algs(ctx);
	EVP_PKEY_CTX *derive = ll_ctx_derive(ctx, priv);
	EVP_PKEY *peer = EVP_PKEY_new();
	EVP_PKEY_CTX *check = NULL;
	int rc = LL_EDECRYPT;

	/* the point is decoded on our key's group; it must lie on it */
	if (algs == NULL || derive == NULL || peer == NULL ||
	    EVP_PKEY_copy_parameters(peer, priv) != 1 ||
	    EVP_PKEY_set1_encoded_public_key(peer, pick->point, POINT_LEN) != 1)
		goto out;
	check = EVP_PKEY_CTX_new_from_pkey(ll_ctx_libctx(ctx), peer, NULL);
	if (check == NULL || EVP_PKEY_public_check_quick(check) != 1)
		goto out;
	if (ll_cms_ecdh_wrap(cek, pick->wrapped, 0, derive, peer, algs) < 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_free(peer);
	return rc;
}

/* CT[0..CTLEN) decrypted in place (EVP allows the same buffer in and
 * out); for GCM the tag is checked before *PT_LEN is set. */
static int decrypt_content(size_t *pt_len, struct ll_ctx *ctx,
			   const struct content_alg *a,
			   const struct ll_env_view *v,
			   const unsigned char cek[CEK_LEN], unsigned char *ct,
			   size_t ctlen)
{
	const struct ll_algs *algs = ll_ctx_algs(ctx);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, rc = LL_EDECRYPT;

	if (algs == NULL || c == NULL ||
	    EVP_DecryptInit_ex2(c, a->gcm ? algs->gcm : algs->cbc, cek, a->iv,
				NULL) != 1 ||
	    EVP_DecryptUpdate(c, ct, &n1, ct, (int)ctlen) != 1)
		goto out;
	if (a->gcm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
					  (int)v->maclen, (void *)v->mac) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(c, ct + n1, &n2) != 1)
		goto out;
	*pt_len = (size_t)n1 + (size_t)n2;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c); /* cleans the key schedule */
	return rc;
}

int ll_cms_open_ec(size_t *pt_len, struct ll_ctx *ctx,
		   const struct ll_env_view *v, unsigned char *ct, size_t ctlen,
		   struct ll_error *err)
{
	struct kari_pick pick = { 0 };
	struct ll_identity *id = NULL;
	struct content_alg a;
	unsigned char cek[CEK_LEN];
	int rc;

	/* what OpenSSL's parse of the rest would check */
	if (v->extras || ctlen > INT_MAX || !int_minimal(&v->ver) ||
	    v->ver.end - v->ver.p > 4 ||
	    v->ctype.next - v->ctype.start != LL_OID_LEN ||
	    memcmp(v->ctype.start, ll_oid_data, LL_OID_LEN) != 0 ||
	    content_alg(&a, v) < 0)
		return 0;
	/* the newest identity first, as ll_cms_find_recipient */
	for (size_t i = ll_ctx_identity_count(ctx); i-- > 0 && id == NULL;) {
		struct ll_identity *cand = ll_ctx_identity_at(ctx, i);
		struct rid_name n;
		int r;

		if (rid_name_of(&n, ll_cert_x509(ll_identity_cert(cand))) < 0)
			return 0;
		r = find_ours(&pick, &v->ris, &n);
		if (r < 0)
			return 0;
		if (r == 1)
			id = cand;
	}
	/* none of ours (OpenSSL's path says so), or not an EC key */
	if (id == NULL || !is_p256(ll_identity_pkey(id)))
		return 0;
	ERR_clear_error();
	rc = unwrap_cek(cek, ctx, ll_identity_pkey(id), &pick);
	if (rc == 0)
		rc = decrypt_content(pt_len, ctx, &a, v, cek, ct, ctlen);
	OPENSSL_cleanse(cek, sizeof(cek));
	if (rc < 0)
		return ll_err_ossl(
			err, LL_EDECRYPT,
			"decryption failed (corrupt or tampered ciphertext)");
	return 1;
}
