/*
 * test_msg_seal.c - ll_msg_seal: what each mode writes, who each copy
 * is encrypted to, when AES-256-GCM is chosen, the Bcc copies, header
 * protection on the outside, and the errors (missing certificates named,
 * bad messages, bad options).  Signatures and recipient lists are
 * checked with OpenSSL's CMS API directly, not only through ll_msg_open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "msgtest.h"

static const char plan_msg[] =
	"From: Alice <alice@example.test>\n"
	"To: Bob <bob@example.test>\n"
	"Subject: secret plans\n"
	"Date: Tue, 24 Nov 2026 12:00:00 +0000\n"
	"Message-ID: <plans-1@example.test>\n"
	"\n"
	"Meet at noon.\n"
	"Bring the key.\n";

/* The outer Content-Type of copy I, unfolded, or "" */
static char *outer_ctype(const struct ll_sealed *s, size_t i)
{
	struct ll_entity e;
	size_t len;
	const char *p = ll_sealed_data(s, i, &len);
	char *v;

	assert_int_equal(ll_mime_split(&e, p, len, NULL), 0);
	v = ll_mime_get(&e.hdr, "Content-Type");
	assert_non_null(v);
	return v;
}

static CMS_ContentInfo *copy_cms(const struct ll_sealed *s, size_t i)
{
	struct ll_buf der = { 0 };
	const unsigned char *q;
	CMS_ContentInfo *cms;
	size_t len;
	const char *p = ll_sealed_data(s, i, &len);

	mt_body_der(&der, p, len);
	q = (const unsigned char *)der.p;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)der.len);
	assert_non_null(cms);
	assert_ptr_equal(q, (const unsigned char *)der.p + der.len);
	ll_buf_free(&der);
	return cms;
}

/* Does copy I's CMS have a recipient info for WHO's certificate? */
static int encrypted_to(CMS_ContentInfo *cms, const struct mt_who *who)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	X509 *x = ll_cert_x509(ll_identity_cert(who->id));

	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);

		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
		    CMS_RecipientInfo_ktri_cert_cmp(ri, x) == 0)
			return 1;
		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
			STACK_OF(CMS_RecipientEncryptedKey) *reks =
				CMS_RecipientInfo_kari_get0_reks(ri);

			for (int j = 0;
			     j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
					    sk_CMS_RecipientEncryptedKey_value(
						    reks, j),
					    x) == 0)
					return 1;
		}
	}
	ERR_clear_error();
	return 0;
}

static int nrecipients(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int n = 0;

	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);

		n += CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE ?
			     sk_CMS_RecipientEncryptedKey_num(
				     CMS_RecipientInfo_kari_get0_reks(ri)) :
			     1;
	}
	return n;
}

static void assert_rcpts(const struct ll_sealed *s, size_t i,
			 const char *const *want, size_t nwant)
{
	size_t n = 99;
	const char *const *r = ll_sealed_rcpts(s, i, &n);

	assert_int_equal(n, nwant);
	for (size_t k = 0; k < nwant; k++)
		assert_string_equal(r[k], want[k]);
}

static void assert_crlf_only(const struct ll_sealed *s)
{
	for (size_t i = 0; i < ll_sealed_count(s); i++) {
		size_t len;
		const char *p = ll_sealed_data(s, i, &len);

		assert_non_null(p);
		assert_true(len > 0);
		assert_false(ll_has_bare_lf(p, len));
		assert_int_equal(p[len - 1], '\n');
	}
}

static void test_sign_encrypt_default(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s = mt_seal(a, plan_msg,
				      LL_SEAL_SIGN | LL_SEAL_ENCRYPT);
	static const char *const bob[] = { "bob@example.test" };
	CMS_ContentInfo *cms;
	size_t len;
	const char *p;
	char *ct;

	(void)state;
	assert_int_equal(ll_sealed_count(s), 1);
	assert_rcpts(s, 0, bob, 1);
	/* nobody advertised GCM: CBC */
	assert_string_equal(ll_sealed_cipher(s, 0), "aes-256-cbc");
	assert_crlf_only(s);
	p = ll_sealed_data(s, 0, &len);
	ct = outer_ctype(s, 0);
	assert_non_null(strstr(ct, "application/pkcs7-mime"));
	assert_non_null(strstr(ct, "smime-type=enveloped-data"));
	free(ct);
	assert_true(mt_has_field(p, len, "MIME-Version", "1.0"));
	assert_true(mt_has_field(p, len, "From", "Alice <alice@example.test>"));
	assert_true(mt_has_field(p, len, "To", "Bob <bob@example.test>"));
	/* header protection: the real subject is not outside */
	assert_true(mt_has_field(p, len, "Subject", "[...]"));
	assert_false(mt_has(p, len, "secret plans"));
	assert_false(mt_has(p, len, "Meet at noon"));
	/* to the recipient and to the sender */
	cms = copy_cms(s, 0);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
	assert_int_equal(nrecipients(cms), 2);
	assert_true(encrypted_to(cms, &mt_bob));
	assert_true(encrypted_to(cms, &mt_alice));
	assert_false(encrypted_to(cms, &mt_carol));
	CMS_ContentInfo_free(cms);
	ll_sealed_free(&s);
	assert_null(s);
	ll_ctx_free(&a);
}

/* multipart/signed: the signature verifies (OpenSSL, no chain) over the
 * exact bytes of the first part, which carry the message. */
static void test_sign_only_detached(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s = mt_seal(a, plan_msg, LL_SEAL_SIGN);
	struct ll_entity e, sigent;
	struct ll_ctype ct;
	struct ll_slice parts[4];
	struct ll_buf der = { 0 };
	const unsigned char *q;
	CMS_ContentInfo *cms;
	BIO *data;
	size_t len, n = 0;
	const char *p;

	(void)state;
	assert_int_equal(ll_sealed_count(s), 1);
	assert_null(ll_sealed_cipher(s, 0));
	assert_crlf_only(s);
	p = ll_sealed_data(s, 0, &len);
	/* signed only: the subject stays outside, the body is readable */
	assert_true(mt_has_field(p, len, "Subject", "secret plans"));
	assert_true(mt_has(p, len, "Meet at noon.\r\nBring the key.\r\n"));
	assert_int_equal(ll_mime_split(&e, p, len, NULL), 0);
	assert_int_equal(ll_mime_ctype(&ct, &e.hdr, NULL), 0);
	assert_string_equal(ct.type, "multipart");
	assert_string_equal(ct.subtype, "signed");
	assert_string_equal(ct.protocol, "application/pkcs7-signature");
	assert_int_equal(ll_mime_parts(parts, 4, &n, &e.body, ct.boundary,
				       NULL),
			 0);
	assert_int_equal(n, 2);
	assert_true(mt_has(parts[0].p, parts[0].len, "Meet at noon."));
	assert_int_equal(ll_mime_split(&sigent, parts[1].p, parts[1].len, NULL),
			 0);
	assert_int_equal(ll_mime_decode_body(&der, &sigent, NULL), 0);
	q = (const unsigned char *)der.p;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)der.len);
	assert_non_null(cms);
	data = BIO_new_mem_buf(parts[0].p, (int)parts[0].len);
	assert_int_equal(CMS_verify(cms, NULL, NULL, data, NULL,
				    CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY),
			 1);
	BIO_free(data);
	/* one changed byte of the part and it no longer verifies */
	{
		char *bad = malloc(parts[0].len);

		memcpy(bad, parts[0].p, parts[0].len);
		bad[parts[0].len - 3] ^= 1;
		data = BIO_new_mem_buf(bad, (int)parts[0].len);
		assert_int_not_equal(CMS_verify(cms, NULL, NULL, data, NULL,
						CMS_NO_SIGNER_CERT_VERIFY |
							CMS_BINARY),
				     1);
		ERR_clear_error();
		BIO_free(data);
		free(bad);
	}
	CMS_ContentInfo_free(cms);
	ll_buf_free(&der);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

static void test_sign_only_opaque(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s = mt_seal(a, plan_msg,
				      LL_SEAL_SIGN | LL_SEAL_OPAQUE);
	CMS_ContentInfo *cms;
	BIO *out = BIO_new(BIO_s_mem());
	char *ct, *content;
	long clen;
	size_t len;
	const char *p;

	(void)state;
	assert_crlf_only(s);
	p = ll_sealed_data(s, 0, &len);
	ct = outer_ctype(s, 0);
	assert_non_null(strstr(ct, "application/pkcs7-mime"));
	assert_non_null(strstr(ct, "smime-type=signed-data"));
	free(ct);
	assert_false(mt_has(p, len, "Meet at noon")); /* inside, base64 */
	cms = copy_cms(s, 0);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed);
	assert_int_equal(CMS_verify(cms, NULL, NULL, NULL, out,
				    CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY),
			 1);
	clen = BIO_get_mem_data(out, &content);
	assert_true(clen > 0);
	assert_true(mt_has(content, (size_t)clen,
			   "\r\n\r\nMeet at noon.\r\nBring the key.\r\n"));
	assert_true(mt_has_field(content, (size_t)clen, "Subject",
				 "secret plans"));
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

static void test_encrypt_only(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s = mt_seal(a, plan_msg, LL_SEAL_ENCRYPT);
	CMS_ContentInfo *cms;
	EVP_PKEY *pk = ll_identity_pkey(mt_bob.id);
	X509 *bx = ll_cert_x509(ll_identity_cert(mt_bob.id));
	BIO *out = BIO_new(BIO_s_mem());
	char *content;
	long clen;

	(void)state;
	assert_crlf_only(s);
	assert_string_equal(ll_sealed_cipher(s, 0), "aes-256-cbc");
	cms = copy_cms(s, 0);
	assert_int_equal(nrecipients(cms), 2);
	/* OpenSSL decrypts it with bob's key; inside: no signature */
	assert_int_equal(CMS_decrypt(cms, pk, bx, NULL, out, CMS_BINARY), 1);
	clen = BIO_get_mem_data(out, &content);
	assert_true(mt_has(content, (size_t)clen, "Meet at noon."));
	assert_false(mt_has(content, (size_t)clen, "pkcs7-signature"));
	assert_false(mt_has(content, (size_t)clen, "signed-data"));
	assert_true(mt_has_field(content, (size_t)clen, "Subject",
				 "secret plans"));
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

static void set_caps(struct ll_ctx *ctx, const char *addr, unsigned caps)
{
	struct ll_cert *c = ll_ctx_contact_for(ctx, addr);

	assert_non_null(c);
	ll_cert_set_caps(c, caps);
}

static const char two_msg[] =
	"From: alice@example.test\n"
	"To: bob@example.test, carol@example.test\n"
	"Subject: two\n"
	"\n"
	"hello both\n";

static void assert_cipher(struct ll_ctx *ctx, const char *msg,
			  unsigned flags, const char *want)
{
	struct ll_sealed *s = mt_seal(ctx, msg, flags);
	char *ct = outer_ctype(s, 0);

	assert_string_equal(ll_sealed_cipher(s, 0), want);
	assert_non_null(strstr(ct, strstr(want, "gcm") ?
					   "smime-type=authEnveloped-data" :
					   "smime-type=enveloped-data"));
	free(ct);
	ll_sealed_free(&s);
}

/* GCM only when every recipient is known to read AES-256-GCM. */
static void test_gcm_only_when_all_read_it(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	const unsigned both = LL_SEAL_SIGN | LL_SEAL_ENCRYPT;

	(void)state;
	assert_cipher(a, two_msg, both, "aes-256-cbc");
	set_caps(a, "bob@example.test", LL_CAP_AES256_GCM);
	assert_cipher(a, two_msg, both, "aes-256-cbc");
	set_caps(a, "carol@example.test", LL_CAP_AES128_GCM | LL_CAP_AES256_CBC);
	assert_cipher(a, two_msg, both, "aes-256-cbc");
	set_caps(a, "carol@example.test", LL_CAP_AES256_GCM | LL_CAP_RSA_OAEP);
	assert_cipher(a, two_msg, both, "aes-256-gcm");
	assert_cipher(a, two_msg, LL_SEAL_ENCRYPT, "aes-256-gcm");
	assert_cipher(a, two_msg, both | LL_SEAL_FORCE_CBC, "aes-256-cbc");
	/* and the opened message says so too */
	{
		struct ll_ctx *b = mt_ctx(&mt_bob);
		struct ll_sealed *s = mt_seal(a, two_msg, both);
		struct ll_opened *o = mt_open_copy(b, s, 0);

		assert_string_equal(ll_opened_status(o)->cipher,
				    "aes-256-gcm");
		ll_opened_free(&o);
		ll_sealed_free(&s);
		ll_ctx_free(&b);
	}
	ll_ctx_free(&a);
}

static const char bcc_msg[] =
	"From: alice@example.test\n"
	"To: bob@example.test\n"
	"Cc: dave@example.test\n"
	"Bcc: carol@example.test\n"
	"Subject: with a blind copy\n"
	"\n"
	"the list\n";

static void test_bcc_copies(void **state)
{
	static const char *const tocc[] = { "bob@example.test",
					    "dave@example.test" };
	static const char *const carol[] = { "carol@example.test" };
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s;
	CMS_ContentInfo *cms;

	(void)state;
	/* each copy chooses its cipher for its own recipients */
	set_caps(a, "bob@example.test", LL_CAP_AES256_GCM);
	set_caps(a, "dave@example.test", LL_CAP_AES256_GCM);
	s = mt_seal(a, bcc_msg, LL_SEAL_SIGN | LL_SEAL_ENCRYPT);
	assert_int_equal(ll_sealed_count(s), 2);
	assert_rcpts(s, 0, tocc, 2);
	assert_rcpts(s, 1, carol, 1);
	assert_string_equal(ll_sealed_cipher(s, 0), "aes-256-gcm");
	assert_string_equal(ll_sealed_cipher(s, 1), "aes-256-cbc");
	assert_crlf_only(s);
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		const char *p = ll_sealed_data(s, i, &len);

		assert_false(mt_has_field(p, len, "Bcc", NULL));
		assert_false(mt_has(p, len, "carol@"));
	}
	cms = copy_cms(s, 0);
	assert_int_equal(nrecipients(cms), 3);
	assert_true(encrypted_to(cms, &mt_bob));
	assert_true(encrypted_to(cms, &mt_dave));
	assert_true(encrypted_to(cms, &mt_alice));
	assert_false(encrypted_to(cms, &mt_carol));
	CMS_ContentInfo_free(cms);
	cms = copy_cms(s, 1);
	assert_int_equal(nrecipients(cms), 2);
	assert_true(encrypted_to(cms, &mt_carol));
	assert_true(encrypted_to(cms, &mt_alice));
	assert_false(encrypted_to(cms, &mt_bob));
	assert_false(encrypted_to(cms, &mt_dave));
	CMS_ContentInfo_free(cms);
	/* copy index out of range */
	{
		size_t n = 7, len = 7;

		assert_null(ll_sealed_data(s, 2, &len));
		assert_int_equal(len, 0);
		assert_null(ll_sealed_rcpts(s, 2, &n));
		assert_int_equal(n, 0);
		assert_null(ll_sealed_cipher(s, 2));
	}
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

static void test_bcc_several_and_only(void **state)
{
	static const char *const bob[] = { "bob@example.test" };
	static const char *const carol[] = { "carol@example.test" };
	static const char *const dave[] = { "dave@example.test" };
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s;

	(void)state;
	s = mt_seal(a,
		    "From: alice@example.test\nTo: bob@example.test\n"
		    "Bcc: carol@example.test, Dave <dave@EXAMPLE.test>\n"
		    "Subject: x\n\nx\n",
		    LL_SEAL_SIGN | LL_SEAL_ENCRYPT);
	assert_int_equal(ll_sealed_count(s), 3);
	assert_rcpts(s, 0, bob, 1);
	assert_rcpts(s, 1, carol, 1);
	assert_rcpts(s, 2, dave, 1); /* domain lower-cased */
	ll_sealed_free(&s);
	/* only Bcc recipients: no To/Cc copy at all */
	s = mt_seal(a,
		    "From: alice@example.test\nBcc: carol@example.test\n"
		    "Subject: x\n\nx\n",
		    LL_SEAL_SIGN | LL_SEAL_ENCRYPT);
	assert_int_equal(ll_sealed_count(s), 1);
	assert_rcpts(s, 0, carol, 1);
	ll_sealed_free(&s);
	/* signed only, with Bcc: still one copy per Bcc recipient */
	s = mt_seal(a,
		    "From: alice@example.test\nTo: bob@example.test\n"
		    "Bcc: dave@example.test\nSubject: x\n\nx\n",
		    LL_SEAL_SIGN);
	assert_int_equal(ll_sealed_count(s), 2);
	assert_rcpts(s, 0, bob, 1);
	assert_rcpts(s, 1, dave, 1);
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		const char *p = ll_sealed_data(s, i, &len);

		assert_false(mt_has(p, len, "dave@"));
	}
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

static void test_header_protection_outside(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s;
	size_t len;
	const char *p;

	(void)state;
	/* no header protection: the subject stays outside as it was */
	s = mt_seal(a, plan_msg,
		    LL_SEAL_SIGN | LL_SEAL_ENCRYPT | LL_SEAL_NO_HP);
	p = ll_sealed_data(s, 0, &len);
	assert_true(mt_has_field(p, len, "Subject", "secret plans"));
	assert_false(mt_has(p, len, "[...]"));
	ll_sealed_free(&s);
	/* encrypt-only protects too */
	s = mt_seal(a, plan_msg, LL_SEAL_ENCRYPT);
	p = ll_sealed_data(s, 0, &len);
	assert_true(mt_has_field(p, len, "Subject", "[...]"));
	assert_false(mt_has(p, len, "secret plans"));
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

static void assert_seal_fails(struct ll_ctx *ctx, const char *msg,
			      unsigned flags, unsigned version, int want,
			      const char *in_message)
{
	struct ll_seal_options o = LL_SEAL_OPTIONS_INIT;
	struct ll_error err;
	struct ll_sealed *s = (struct ll_sealed *)&o; /* must become NULL */
	int rc;

	ll_error_clear(&err);
	o.flags = flags;
	o.version = version;
	rc = ll_msg_seal(&s, ctx, msg, strlen(msg), &o, &err);
	assert_int_equal(rc, want);
	assert_null(s);
	assert_int_equal(err.code, want);
	assert_true(err.message[0] != '\0');
	if (in_message != NULL &&
	    strstr(err.message, in_message) == NULL)
		fail_msg("\"%s\" not in the error \"%s\"", in_message,
			 err.message);
}

static void test_missing_cert_named(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	const unsigned both = LL_SEAL_SIGN | LL_SEAL_ENCRYPT;
	static const char one[] = "From: alice@example.test\n"
				  "To: bob@example.test, zed@example.test\n"
				  "Subject: x\n\nx\n";
	static const char two[] = "From: alice@example.test\n"
				  "To: yan@example.test\n"
				  "Cc: bob@example.test, zed@example.test\n"
				  "Subject: x\n\nx\n";

	(void)state;
	assert_seal_fails(a, one, both, LL_SEAL_OPTIONS_VERSION, LL_ENOCERT,
			  "zed@example.test");
	assert_seal_fails(a, one, LL_SEAL_ENCRYPT, LL_SEAL_OPTIONS_VERSION,
			  LL_ENOCERT, "zed@example.test");
	assert_seal_fails(a, two, both, LL_SEAL_OPTIONS_VERSION, LL_ENOCERT,
			  "yan@example.test");
	assert_seal_fails(a, two, both, LL_SEAL_OPTIONS_VERSION, LL_ENOCERT,
			  "zed@example.test");
	/* signing alone needs no recipient certificate */
	ll_sealed_free(&(struct ll_sealed *){ mt_seal(a, two, LL_SEAL_SIGN) });
	ll_ctx_free(&a);
}

/* LL_SEAL_SELF_ONLY (the bridge's APPEND): one copy, to the sender's
 * key only, whatever To, Cc and Bcc say and whether they have
 * certificates; the message inside keeps its header. */
static void test_self_only(void **state)
{
	static const char msg[] = "From: alice@example.test\n"
				  "To: bob@example.test, zed@example.test\n"
				  "Bcc: carol@example.test\n"
				  "Subject: x\n\nsaved\n";
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s;
	CMS_ContentInfo *cms;
	size_t n = 7;

	(void)state;
	s = mt_seal(a, msg,
		    LL_SEAL_SIGN | LL_SEAL_ENCRYPT | LL_SEAL_SELF_ONLY);
	assert_int_equal(ll_sealed_count(s), 1);
	ll_sealed_rcpts(s, 0, &n);
	assert_int_equal(n, 0);
	cms = copy_cms(s, 0);
	assert_int_equal(nrecipients(cms), 1);
	assert_true(encrypted_to(cms, &mt_alice));
	assert_false(encrypted_to(cms, &mt_bob));
	CMS_ContentInfo_free(cms);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
}

/* msg.h: "LL_ENOCERT (message names every address lacking one)" - also
 * when one lacks it in To and another in Bcc. */
static void test_missing_cert_named_bcc(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	static const char msg[] = "From: alice@example.test\n"
				  "To: zed@example.test\n"
				  "Bcc: yan@example.test\n"
				  "Subject: x\n\nx\n";

	(void)state;
	assert_seal_fails(a, msg, LL_SEAL_SIGN | LL_SEAL_ENCRYPT,
			  LL_SEAL_OPTIONS_VERSION, LL_ENOCERT,
			  "zed@example.test");
	assert_seal_fails(a, msg, LL_SEAL_SIGN | LL_SEAL_ENCRYPT,
			  LL_SEAL_OPTIONS_VERSION, LL_ENOCERT,
			  "yan@example.test");
	ll_ctx_free(&a);
}

static void test_bad_input(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	const unsigned both = LL_SEAL_SIGN | LL_SEAL_ENCRYPT;
	const unsigned v = LL_SEAL_OPTIONS_VERSION;

	(void)state;
	assert_seal_fails(a, "To: bob@example.test\n\nx\n", both, v,
			  LL_EPARSE, NULL);
	assert_seal_fails(a,
			  "From: alice@example.test\nFrom: alice@example.test\n"
			  "To: bob@example.test\n\nx\n",
			  both, v, LL_EPARSE, NULL);
	assert_seal_fails(a,
			  "From: alice@example.test, bob@example.test\n"
			  "To: bob@example.test\n\nx\n",
			  both, v, LL_EPARSE, NULL);
	assert_seal_fails(a, "not a message at all\n", both, v, LL_EPARSE,
			  NULL);
	assert_seal_fails(a, "", both, v, LL_EPARSE, NULL);
	/* no identity for From */
	assert_seal_fails(a, "From: carol@example.test\nTo: bob@example.test\n"
			     "\nx\n",
			  both, v, LL_ENOKEY, "carol@example.test");
	/* options */
	assert_seal_fails(a, plan_msg, 0, v, LL_EINVAL, NULL);
	assert_seal_fails(a, plan_msg, LL_SEAL_OPAQUE, v, LL_EINVAL, NULL);
	assert_seal_fails(a, plan_msg, both, v + 1, LL_EINVAL, NULL);
	ll_ctx_free(&a);
}

/* NULL options mean sign and encrypt */
static void test_default_options(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_ctx *b = mt_ctx(&mt_bob);
	struct ll_error err = { 0 };
	struct ll_sealed *s = NULL;
	struct ll_opened *o;
	const struct ll_open_status *st;

	(void)state;
	assert_int_equal(ll_msg_seal(&s, a, plan_msg, strlen(plan_msg), NULL,
				     &err),
			 0);
	o = mt_open_copy(b, s, 0);
	st = ll_opened_status(o);
	assert_true(st->encrypted);
	assert_true(st->is_signed);
	assert_int_equal(st->signature, LL_SIG_VALID);
	ll_opened_free(&o);
	ll_sealed_free(&s);
	ll_ctx_free(&b);
	ll_ctx_free(&a);
}

/* An EC sender: ECDH to itself, RSA to the recipient; ECDSA signature. */
static void test_ec_sender(void **state)
{
	struct ll_ctx *b = mt_ctx(&mt_bob);
	struct ll_ctx *a = mt_ctx(&mt_alice);
	struct ll_sealed *s = mt_seal(b,
				      "From: bob@example.test\n"
				      "To: alice@example.test\n"
				      "Subject: from EC\n\nhi\n",
				      LL_SEAL_SIGN | LL_SEAL_ENCRYPT);
	CMS_ContentInfo *cms = copy_cms(s, 0);
	struct ll_opened *o;

	(void)state;
	assert_true(encrypted_to(cms, &mt_alice));
	assert_true(encrypted_to(cms, &mt_bob));
	CMS_ContentInfo_free(cms);
	o = mt_open_copy(a, s, 0);
	assert_int_equal(ll_opened_status(o)->signature, LL_SIG_VALID);
	assert_string_equal(ll_opened_status(o)->signer, "bob@example.test");
	ll_opened_free(&o);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/*
 * EC to EC: every recipient (and the sender) P-256, so the enveloped
 * data is letterlock's own (cms_env_ec.c): one KARI each, CBC and GCM,
 * opaque too, and a Bcc copy of its own; each opens for its readers.
 */
static void test_ec_to_ec(void **state)
{
	static const unsigned modes[] = {
		LL_SEAL_SIGN | LL_SEAL_ENCRYPT,
		LL_SEAL_SIGN | LL_SEAL_ENCRYPT | LL_SEAL_FORCE_CBC,
		LL_SEAL_SIGN | LL_SEAL_ENCRYPT | LL_SEAL_OPAQUE,
		LL_SEAL_ENCRYPT,
	};
	struct ll_ctx *b = mt_ctx(&mt_bob), *d = mt_ctx(&mt_dave);
	struct ll_ctx *a = mt_ctx(&mt_alice);

	(void)state;
	set_caps(b, "dave@example.test", LL_CAP_AES256_GCM);
	for (size_t m = 0; m < LL_ARRAY_SIZE(modes); m++) {
		struct ll_sealed *s = mt_seal(b,
					      "From: bob@example.test\n"
					      "To: dave@example.test\n"
					      "Subject: EC to EC\n\nhi\n",
					      modes[m]);
		CMS_ContentInfo *cms = copy_cms(s, 0);
		int cbc = (modes[m] & LL_SEAL_FORCE_CBC) != 0;
		struct ll_opened *o;
		const char *p;
		size_t len;

		assert_true(encrypted_to(cms, &mt_bob));
		assert_true(encrypted_to(cms, &mt_dave));
		assert_false(encrypted_to(cms, &mt_alice));
		assert_int_equal(nrecipients(cms), 2);
		assert_int_equal(
			sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms)),
			2);
		CMS_ContentInfo_free(cms);
		for (int who = 0; who < 2; who++) {
			o = mt_open_copy(who ? b : d, s, 0);
			assert_true(ll_opened_status(o)->decrypted);
			assert_string_equal(ll_opened_status(o)->cipher,
					    cbc ? "aes-256-cbc" :
						  "aes-256-gcm");
			if (modes[m] & LL_SEAL_SIGN)
				assert_int_equal(ll_opened_status(o)->signature,
						 LL_SIG_VALID);
			ll_opened_free(&o);
		}
		/* not a recipient: nothing opens */
		p = ll_sealed_data(s, 0, &len);
		o = NULL;
		assert_int_equal(mt_try_open(&o, a, p, len, NULL), LL_ENOKEY);
		ll_opened_free(&o);
		ll_sealed_free(&s);
	}
	ll_ctx_free(&a);
	ll_ctx_free(&d);
	ll_ctx_free(&b);
}

/* The sealed output uses CRLF whatever the input's line ends. */
static void test_crlf_output_every_mode(void **state)
{
	static const unsigned modes[] = {
		LL_SEAL_SIGN,
		LL_SEAL_SIGN | LL_SEAL_OPAQUE,
		LL_SEAL_ENCRYPT,
		LL_SEAL_SIGN | LL_SEAL_ENCRYPT,
		LL_SEAL_SIGN | LL_SEAL_ENCRYPT | LL_SEAL_OPAQUE,
		LL_SEAL_SIGN | LL_SEAL_NO_HP,
	};
	struct ll_ctx *a = mt_ctx(&mt_alice);

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(modes); i++) {
		struct ll_sealed *s = mt_seal(a, plan_msg, modes[i]);

		assert_crlf_only(s);
		ll_sealed_free(&s);
	}
	ll_sealed_free(&(struct ll_sealed *){ NULL });
	ll_sealed_free(NULL);
	ll_ctx_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_encrypt_default),
		cmocka_unit_test(test_sign_only_detached),
		cmocka_unit_test(test_sign_only_opaque),
		cmocka_unit_test(test_encrypt_only),
		cmocka_unit_test(test_gcm_only_when_all_read_it),
		cmocka_unit_test(test_bcc_copies),
		cmocka_unit_test(test_bcc_several_and_only),
		cmocka_unit_test(test_header_protection_outside),
		cmocka_unit_test(test_missing_cert_named),
		cmocka_unit_test(test_self_only),
		cmocka_unit_test(test_missing_cert_named_bcc),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_default_options),
		cmocka_unit_test(test_ec_sender),
		cmocka_unit_test(test_ec_to_ec),
		cmocka_unit_test(test_crlf_output_every_mode),
	};

	return cmocka_run_group_tests_name("msg_seal", tests, mt_setup,
					   mt_teardown);
}
