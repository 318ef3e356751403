/*
 * test_dualcert.c - one certificate to sign, another to encrypt to:
 * keyUsage on recipients and signers (RFC 8550 4.4.2), the signed
 * encryption key preference (RFC 8551 2.5.3 and Microsoft's attribute)
 * and what the contact store makes of both.
 *
 * A small PKI of its own: a trusted CA issuing carol's certificates
 * with the keyUsage each case needs, and an untrusted CA.  Signed
 * messages are made with OpenSSL's CMS API, so that every shape of the
 * attribute (and its misplacements) can be written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/rsa.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include <letterlock/letterlock.h>

#include "internal.h"
#include "msgtest.h"

#define OID_MS_PREF "1.3.6.1.4.1.311.16.4"

struct who {
	X509 *x;
	EVP_PKEY *k;
};

/* the trusted CA, the untrusted one, and the end entities */
static struct who ca, evil, sign1, sign2, enc1, enc2, encevil, dave_enc, both,
	noku;
static char home[64];

static EVP_PKEY *rsa_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);

	assert_non_null(k);
	return k;
}

static void ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	assert_non_null(e);
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

/* W: a certificate for EMAIL (NULL: a CA named CN) with the keyUsage
 * KU (NULL: none), issued by ISSUER (NULL: itself). */
static void make(struct who *w, const struct who *issuer, const char *cn,
		 const char *email, const char *ku, EVP_PKEY *key)
{
	static long serial = 100;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char san[128];

	w->k = key != NULL ? key : rsa_key();
	assert_true(X509_set_version(x, 2));
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->x) : n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, w->k);
	ext(x, issuer ? issuer->x : x, NID_subject_key_identifier, "hash");
	if (email == NULL) {
		ext(x, x, NID_basic_constraints, "critical,CA:true");
		ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "email:%s", email);
		ext(x, issuer->x, NID_subject_alt_name, san);
		ext(x, issuer->x, NID_ext_key_usage, "emailProtection");
		if (ku != NULL)
			ext(x, issuer->x, NID_key_usage, ku);
	}
	assert_true(X509_sign(x, issuer ? issuer->k : w->k, EVP_sha256()) > 0);
	w->x = x;
}

#define CAROL "carol@example.test"
#define ENC "critical,keyEncipherment"

/* The cast: who, issued by whom (NULL: a CA of its own), for which
 * address (NULL: a CA) with which keyUsage (NULL: none); an EC key
 * where EC is set. */
static const struct cast {
	struct who *w;
	const struct who *issuer;
	const char *cn, *email, *ku;
	int ec;
} cast[] = {
	{ &ca, NULL, "Dual CA", NULL, NULL, 0 },
	{ &evil, NULL, "Evil CA", NULL, NULL, 0 },
	{ &sign1, &ca, "carol sign", CAROL,
	  "critical,digitalSignature,nonRepudiation", 0 },
	{ &sign2, &ca, "carol sign 2", CAROL, "critical,digitalSignature", 0 },
	{ &enc1, &ca, "carol enc", CAROL, ENC, 0 },
	{ &enc2, &ca, "carol enc 2", CAROL, ENC, 0 },
	{ &encevil, &evil, "carol enc evil", CAROL, ENC, 0 },
	{ &dave_enc, &ca, "dave enc", "dave@example.test", ENC, 0 },
	{ &both, &ca, "carol ec", CAROL,
	  "critical,digitalSignature,keyAgreement", 1 },
	{ &noku, &ca, "carol no keyUsage", CAROL, NULL, 0 },
};

static int setup(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/ll-dualcert.%d", (int)getpid());
	for (size_t i = 0; i < LL_ARRAY_SIZE(cast); i++)
		make(cast[i].w, cast[i].issuer, cast[i].cn, cast[i].email,
		     cast[i].ku, cast[i].ec ? EVP_EC_gen("P-256") : NULL);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(cast); i++) {
		X509_free(cast[i].w->x);
		EVP_PKEY_free(cast[i].w->k);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd) == 0 ? 0 : -1;
}

/* A new ll_cert of X (a reference of its own). */
static struct ll_cert *wrap(X509 *x)
{
	struct ll_cert *c = NULL;

	assert_true(X509_up_ref(x));
	assert_int_equal(ll_cert_wrap(&c, x, NULL), 0);
	return c;
}

static unsigned uses_of(X509 *x)
{
	struct ll_cert *c = wrap(x);
	unsigned u = ll_cert_uses(c);

	ll_cert_free(&c);
	return u;
}

static void test_uses(void **state)
{
	struct who odd = { 0 };

	(void)state;
	assert_int_equal(uses_of(sign1.x), LL_USE_SIGN);
	assert_int_equal(uses_of(enc1.x), LL_USE_ENCRYPT);
	/* EC: keyAgreement is what encrypting to it takes */
	assert_int_equal(uses_of(both.x), LL_USE_SIGN | LL_USE_ENCRYPT);
	/* no keyUsage: any use */
	assert_int_equal(uses_of(noku.x), LL_USE_SIGN | LL_USE_ENCRYPT);
	/* an RSA key whose keyUsage says keyAgreement only: no use */
	make(&odd, &ca, "carol odd", "carol@example.test",
	     "critical,keyAgreement", NULL);
	assert_int_equal(uses_of(odd.x), 0);
	X509_free(odd.x);
	EVP_PKEY_free(odd.k);
	assert_string_equal(ll_cert_use_name(LL_USE_SIGN), "sign");
	assert_string_equal(ll_cert_use_name(LL_USE_ENCRYPT), "encrypt");
	assert_string_equal(ll_cert_use_name(LL_USE_SIGN | LL_USE_ENCRYPT),
			    "both");
	assert_string_equal(ll_cert_use_name(0), "none");
}

/* ------------------------------------------------- the attribute value */

enum form {
	IAS_RFC,
	IAS_MS,
	SKI_RFC,
	RKI_RFC
};

/* The DER value of the preference naming X, in FORM, into OUT. */
static size_t pref_der(unsigned char *out, size_t max, X509 *x, enum form form)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	PKCS7_ISSUER_AND_SERIAL *ias;
	unsigned char *p = NULL;
	int n;

	if (form == SKI_RFC || form == RKI_RFC) {
		size_t kl = (size_t)ASN1_STRING_length(ski), at = 0;

		assert_true(kl + 4 <= max && kl < 100);
		if (form == RKI_RFC) {
			out[at++] = 0xa1;
			out[at++] = (unsigned char)(kl + 2);
			out[at++] = 0x04;
		} else {
			out[at++] = 0x82;
		}
		out[at++] = (unsigned char)kl;
		memcpy(out + at, ASN1_STRING_get0_data(ski), kl);
		return at + kl;
	}
	ias = PKCS7_ISSUER_AND_SERIAL_new();
	assert_true(X509_NAME_set(&ias->issuer, X509_get_issuer_name(x)));
	ASN1_INTEGER_free(ias->serial);
	ias->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x));
	n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &p);
	PKCS7_ISSUER_AND_SERIAL_free(ias);
	assert_true(n > 0 && (size_t)n <= max);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	if (form == IAS_RFC)
		out[0] = 0xa0; /* [0] IMPLICIT */
	return (size_t)n;
}

static void test_parse(void **state)
{
	static const enum form forms[] = { IAS_RFC, IAS_MS, SKI_RFC, RKI_RFC };
	unsigned char der[600];

	(void)state;
	for (size_t f = 0; f < 4; f++) {
		size_t n = pref_der(der, sizeof(der) - 1, enc1.x, forms[f]);
		int ms = forms[f] == IAS_MS;
		struct ll_keypref k;

		assert_int_equal(ll_keypref_parse(&k, der, n, ms), 0);
		assert_true(k.ias != NULL || k.kidlen > 0);
		ll_keypref_clear(&k);
		/* the other attribute's shape is not this one's */
		assert_int_not_equal(ll_keypref_parse(&k, der, n, !ms), 0);
		ll_keypref_clear(&k);
		/* cut anywhere, or with an octet more: not a preference */
		for (size_t cut = 0; cut < n; cut++) {
			assert_int_not_equal(ll_keypref_parse(&k, der, cut, ms),
					     0);
			ll_keypref_clear(&k);
		}
		der[n] = 0;
		assert_int_not_equal(ll_keypref_parse(&k, der, n + 1, ms), 0);
		ll_keypref_clear(&k);
	}
	/* a tag the CHOICE does not have */
	der[0] = 0x83;
	der[1] = 1;
	der[2] = 0;
	{
		struct ll_keypref k;

		assert_int_not_equal(ll_keypref_parse(&k, der, 3, 0), 0);
		ll_keypref_clear(&k);
	}
}

/* ------------------------------------------------------ signed mail */

struct pref {
	X509 *names; /* NULL: no attribute */
	enum form form;
	int unsignd; /* put it among the unsigned attributes */
	X509 *carried; /* one more certificate in the message, or NULL */
	X509 *ms_too; /* Microsoft's attribute beside, naming this */
};

/* SI's attribute in FORM naming X, signed or not (UNSIGND). */
static void add_pref(CMS_SignerInfo *si, X509 *x, enum form form, int unsignd)
{
	unsigned char val[600];
	size_t vl = pref_der(val, sizeof(val), x, form);
	const unsigned char *q = val;
	ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &q, (long)vl);
	ASN1_OBJECT *ms = OBJ_txt2obj(OID_MS_PREF, 1);
	X509_ATTRIBUTE *a;

	/* a context-tagged value is V_ASN1_OTHER, which
	 * X509_ATTRIBUTE_create_by_OBJ takes for a string format */
	assert_non_null(t);
	a = form == IAS_MS ? X509_ATTRIBUTE_create_by_OBJ(NULL, ms, t->type,
							  t->value.ptr, -1) :
			     X509_ATTRIBUTE_create(
				     NID_id_smime_aa_encrypKeyPref, t->type,
				     ASN1_STRING_dup(t->value.asn1_string));
	assert_non_null(a);
	assert_true(unsignd ? CMS_unsigned_add1_attr(si, a) :
			      CMS_signed_add1_attr(si, a));
	X509_ATTRIBUTE_free(a);
	ASN1_TYPE_free(t);
	ASN1_OBJECT_free(ms);
}

/* A message from carol signed by SIGNER (opaque signed-data), with the
 * preference P. */
static char *signed_msg(const struct who *signer, const struct pref *p)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\n"
				   "dual certificates\r\n";
	STACK_OF(X509) *certs = sk_X509_new_null();
	unsigned flags = CMS_PARTIAL | CMS_BINARY;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	unsigned char *der = NULL;
	struct ll_buf b64 = { 0 }, msg = { 0 };
	BIO *in;
	int n;

	if (p->carried != NULL)
		sk_X509_push(certs, p->carried);
	cms = CMS_sign(signer->x, signer->k, certs, NULL, flags);
	if (cms == NULL)
		ERR_print_errors_fp(stderr);
	assert_non_null(cms);
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	if (p->names != NULL)
		add_pref(si, p->names, p->form, p->unsignd);
	if (p->ms_too != NULL)
		add_pref(si, p->ms_too, IAS_MS, 0);
	in = BIO_new_mem_buf(body, (int)strlen(body));
	assert_true(CMS_final(cms, in, NULL, flags));
	BIO_free(in);
	n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	assert_int_equal(ll_b64_encode(&b64, der, (size_t)n), 0);
	assert_int_equal(
		ll_buf_addf(&msg,
			    "From: carol <carol@example.test>\r\n"
			    "To: bob <bob@example.test>\r\n"
			    "Subject: two certificates\r\n"
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: application/pkcs7-mime;"
			    " smime-type=signed-data; name=smime.p7m\r\n"
			    "Content-Transfer-Encoding: base64\r\n\r\n%.*s",
			    (int)b64.len, b64.p),
		0);
	ll_buf_add(&msg, "", 1);
	OPENSSL_free(der);
	ll_buf_free(&b64);
	CMS_ContentInfo_free(cms);
	sk_X509_free(certs);
	return msg.p;
}

/* Bob's context: his identity, the CA trusted, CONTACT (may be NULL)
 * known. */
static struct ll_ctx *bob_ctx(X509 *contact)
{
	struct ll_ctx *ctx = mt_ctx(&mt_bob);
	struct ll_cert *c = wrap(ca.x);

	assert_int_equal(ll_ctx_add_trust(ctx, c, NULL), 0);
	ll_cert_free(&c);
	if (contact != NULL) {
		c = wrap(contact);
		assert_int_equal(ll_ctx_add_contact(ctx, c, NULL), 0);
		ll_cert_free(&c);
	}
	return ctx;
}

/* Open carol's message signed by SIGNER with P in bob's context: the
 * signature state, and the fingerprint of the certificate to encrypt
 * to (or "") and the errors joined, into ENC and WHY. */
static enum ll_sig_state open_pref(const struct who *signer,
				   const struct pref *p, X509 *known,
				   char enc[65], char *why, size_t whylen)
{
	struct ll_ctx *ctx = bob_ctx(known);
	struct ll_opened *o = NULL;
	struct ll_error err = { 0 };
	char *m = signed_msg(signer, p);
	const struct ll_open_status *st;
	enum ll_sig_state s;

	if (ll_msg_open(&o, ctx, m, strlen(m), &err) < 0)
		fail_msg("open: %s", err.message);
	st = ll_opened_status(o);
	s = st->signature;
	snprintf(enc, 65, "%s",
		 ll_opened_encryption_cert(o) ?
			 ll_cert_fingerprint(ll_opened_encryption_cert(o)) :
			 "");
	why[0] = '\0';
	for (size_t i = 0; i < st->nerrors; i++)
		snprintf(why + strlen(why), whylen - strlen(why), "%s; ",
			 st->errors[i]);
	ll_opened_free(&o);
	ll_ctx_free(&ctx);
	free(m);
	return s;
}

static const char *fpr_of(X509 *x)
{
	static char buf[65];
	struct ll_cert *c = wrap(x);

	snprintf(buf, sizeof(buf), "%s", ll_cert_fingerprint(c));
	ll_cert_free(&c);
	return buf;
}

static void test_open_pref(void **state)
{
	static const enum form forms[] = { IAS_RFC, IAS_MS, SKI_RFC, RKI_RFC };
	char enc[65], why[1200];

	(void)state;
	/* each form, the certificate carried: taken */
	for (size_t f = 0; f < 4; f++) {
		struct pref p = { enc1.x, forms[f], 0, enc1.x, NULL };

		assert_int_equal(open_pref(&sign1, &p, NULL, enc, why,
					   sizeof(why)),
				 LL_SIG_VALID);
		assert_string_equal(enc, fpr_of(enc1.x));
		assert_string_equal(why, "");
	}
	/* one certificate for both, naming itself (NSS's default): taken,
	 * its chain as the signer's */
	{
		struct pref p = { both.x, IAS_MS, 0, NULL, NULL };

		assert_int_equal(open_pref(&both, &p, NULL, enc, why,
					   sizeof(why)),
				 LL_SIG_VALID);
		assert_string_equal(enc, fpr_of(both.x));
		assert_string_equal(why, "");
	}
	/* both attributes, naming the same one: taken; two different
	 * ones: neither */
	{
		struct pref same = { enc1.x, RKI_RFC, 0, enc1.x, enc1.x };
		struct pref two = { enc1.x, IAS_RFC, 0, enc1.x, enc2.x };

		assert_int_equal(open_pref(&sign1, &same, NULL, enc, why,
					   sizeof(why)),
				 LL_SIG_VALID);
		assert_string_equal(enc, fpr_of(enc1.x));
		assert_int_equal(open_pref(&sign1, &two, enc2.x, enc, why,
					   sizeof(why)),
				 LL_SIG_VALID);
		assert_string_equal(enc, "");
		assert_non_null(strstr(why, "name different certificates"));
	}
	/* not carried, but a known contact: taken */
	{
		struct pref p = { enc1.x, IAS_RFC, 0, NULL, NULL };

		assert_int_equal(open_pref(&sign1, &p, enc1.x, enc, why,
					   sizeof(why)),
				 LL_SIG_VALID);
		assert_string_equal(enc, fpr_of(enc1.x));
		/* neither carried nor known: nothing, and said */
		assert_int_equal(open_pref(&sign1, &p, NULL, enc, why,
					   sizeof(why)),
				 LL_SIG_VALID);
		assert_string_equal(enc, "");
		assert_non_null(strstr(why, "neither carried nor known"));
	}
}

static void test_open_pref_refused(void **state)
{
	char enc[65], why[1200];
	struct pref other = { dave_enc.x, IAS_RFC, 0, dave_enc.x, NULL };
	struct pref signing = { sign2.x, IAS_RFC, 0, sign2.x, NULL };
	struct pref outside = { enc1.x, IAS_RFC, 1, enc1.x, NULL };
	struct pref untrusted = { encevil.x, IAS_MS, 0, encevil.x, NULL };
	struct pref none = { NULL, IAS_RFC, 0, enc1.x, NULL };

	(void)state;
	/* another address's certificate */
	assert_int_equal(open_pref(&sign1, &other, NULL, enc, why, sizeof(why)),
			 LL_SIG_VALID);
	assert_string_equal(enc, "");
	assert_non_null(strstr(why, "another address"));
	/* a certificate whose keyUsage allows no encryption */
	assert_int_equal(open_pref(&sign1, &signing, NULL, enc, why,
				   sizeof(why)),
			 LL_SIG_VALID);
	assert_string_equal(enc, "");
	assert_non_null(strstr(why, "keyUsage allows no encryption"));
	/* outside the signed attributes: anyone's word, not looked at */
	assert_int_equal(open_pref(&sign1, &outside, NULL, enc, why,
				   sizeof(why)),
			 LL_SIG_VALID);
	assert_string_equal(enc, "");
	assert_string_equal(why, "");
	/* under a CA nobody trusts */
	assert_int_equal(open_pref(&sign1, &untrusted, NULL, enc, why,
				   sizeof(why)),
			 LL_SIG_VALID);
	assert_string_equal(enc, "");
	assert_non_null(strstr(why, "does not chain"));
	/* no attribute: a certificate carried beside is not taken */
	assert_int_equal(open_pref(&sign1, &none, NULL, enc, why, sizeof(why)),
			 LL_SIG_VALID);
	assert_string_equal(enc, "");
	/* an encryption-only certificate made no valid signature */
	none.carried = NULL;
	assert_int_equal(open_pref(&enc1, &none, NULL, enc, why, sizeof(why)),
			 LL_SIG_INVALID);
	assert_non_null(strstr(why, "not for signing"));
	assert_string_equal(enc, "");
}

/* ---------------------------------------------- contacts and sealing */

static struct ll_keystore *open_home(void)
{
	struct ll_keystore *ks = NULL;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ll_keystore_open(&ks, home, NULL), 0);
	return ks;
}

static enum ll_contact_state add(struct ll_keystore *ks, X509 *x,
				 enum ll_contact_source src)
{
	struct ll_cert *c = wrap(x);
	enum ll_contact_state st;

	assert_int_equal(ll_contacts_add(ks, c, src, time(NULL), &st, NULL), 0);
	ll_cert_free(&c);
	return st;
}

/* Bob seals to carol with KS's contacts: 0 and the recipient infos
 * checked to name WANT (and not NOT), or the seal's error in WHY. */
static int seal_to_carol(struct ll_keystore *ks, X509 *want, X509 * not,
			 char *why, size_t whylen)
{
	static const char m[] = "From: bob@example.test\r\n"
				"To: carol@example.test\r\n"
				"Subject: to the encryption key\r\n\r\nhi\r\n";
	struct ll_ctx *ctx = bob_ctx(NULL);
	const char *addr = "carol@example.test";
	struct ll_contact_result res;
	struct ll_sealed *s = NULL;
	struct ll_error err = { 0 };
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_buf der = { 0 };
	CMS_ContentInfo *cms;
	const unsigned char *p;
	STACK_OF(CMS_RecipientInfo) * ris;
	const char *data;
	size_t len;
	int rc, named = 0, other = 0;

	assert_int_equal(ll_contacts_resolve(ks, ctx, &addr, 1, NULL, &res,
					     NULL, 0, NULL),
			 0);
	so.flags |= LL_SEAL_FORCE_CBC;
	rc = ll_msg_seal(&s, ctx, m, strlen(m), &so, &err);
	snprintf(why, whylen, "%s", rc < 0 ? err.message : "");
	if (rc < 0) {
		assert_false(res.found);
		ll_ctx_free(&ctx);
		return rc;
	}
	assert_true(res.found);
	assert_false(res.sign_only);
	data = ll_sealed_data(s, 0, &len);
	mt_body_der(&der, data, len);
	p = (const unsigned char *)der.p;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)der.len);
	assert_non_null(cms);
	ris = CMS_get0_RecipientInfos(cms);
	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);

		named |= CMS_RecipientInfo_ktri_cert_cmp(ri, want) == 0;
		other |= not != NULL &&
			 CMS_RecipientInfo_ktri_cert_cmp(ri, not ) == 0;
	}
	assert_true(named);
	assert_false(other);
	CMS_ContentInfo_free(cms);
	ll_buf_free(&der);
	ll_sealed_free(&s);
	ll_ctx_free(&ctx);
	return 0;
}

static void test_contacts_uses(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_cert *c;
	char why[512];

	(void)state;
	/* a signing certificate only (added by hand or harvested): carol
	 * has none to encrypt to, and the seal says why */
	assert_int_equal(add(ks, sign1.x, LL_SRC_MANUAL), LL_CONTACT_CURRENT);
	assert_int_equal(seal_to_carol(ks, enc1.x, NULL, why, sizeof(why)),
			 LL_ENOCERT);
	assert_non_null(strstr(why, "carol@example.test (a signing "
				    "certificate only"));
	/* the encryption certificate beside it: no change of key, both
	 * current, and it is the one encrypted to */
	assert_int_equal(add(ks, enc1.x, LL_SRC_HARVESTED), LL_CONTACT_CURRENT);
	assert_int_equal(seal_to_carol(ks, enc1.x, sign1.x, why, sizeof(why)),
			 0);
	/* the signer's key stays known, a second signing key is a change */
	assert_int_equal(ll_contacts_known(ks, "carol@example.test",
					   fpr_of(sign1.x)),
			 1);
	assert_int_equal(ll_contacts_known(ks, "carol@example.test",
					   fpr_of(sign2.x)),
			 -1);
	/* another key to encrypt to, from mail: pending, not used */
	assert_int_equal(add(ks, enc2.x, LL_SRC_HARVESTED), LL_CONTACT_PENDING);
	assert_int_equal(seal_to_carol(ks, enc1.x, enc2.x, why, sizeof(why)),
			 0);
	/* another signing key from mail: pending as well */
	assert_int_equal(add(ks, sign2.x, LL_SRC_HARVESTED),
			 LL_CONTACT_PENDING);
	/* the user accepts the new encryption key: it replaces the old
	 * one, not the signing key */
	assert_int_equal(ll_contacts_accept(ks, "carol@example.test",
					    fpr_of(enc2.x), time(NULL), NULL),
			 0);
	assert_int_equal(seal_to_carol(ks, enc2.x, enc1.x, why, sizeof(why)),
			 0);
	assert_int_equal(ll_contacts_known(ks, "carol@example.test",
					   fpr_of(sign1.x)),
			 1);
	ll_keystore_close(&ks);

	/* an address with an encryption key only: a signing key is new,
	 * not changed */
	ks = open_home();
	assert_int_equal(add(ks, enc1.x, LL_SRC_PKX), LL_CONTACT_CURRENT);
	assert_int_equal(ll_contacts_known(ks, "carol@example.test",
					   fpr_of(sign1.x)),
			 0);
	assert_int_equal(add(ks, sign1.x, LL_SRC_HARVESTED),
			 LL_CONTACT_CURRENT);
	/* a certificate for both, from mail, shares a use with each */
	c = wrap(both.x);
	assert_int_equal(add(ks, both.x, LL_SRC_HARVESTED), LL_CONTACT_PENDING);
	ll_cert_free(&c);
	ll_keystore_close(&ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uses),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_open_pref),
		cmocka_unit_test(test_open_pref_refused),
		cmocka_unit_test(test_contacts_uses),
	};
	int rc;

	if (mt_setup(NULL) != 0 || setup(NULL) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	teardown(NULL);
	mt_teardown(NULL);
	return rc;
}
