/*
 * test_acme_csr.c - the offline parts of the ACME client (acme_csr.c,
 * acme_mail.c): the certificate request checked by the CA's own CSR checks
 * (ll_ca_csr_parse) and read back field by field, the identity made of
 * the key and an issued chain, and the RFC 8823 challenge mail check and
 * reply.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/x509v3.h>

#include <letterlock/acme.h>

#include "ca_internal.h"

#define BASE "http://127.0.0.1:8080"
#define MAKE "\xe9\xa9\xac\xe5\x85\x8b" /* 马克 */
#define BUECHER     \
	"b\xc3\xbc" \
	"cher" /* bücher */

struct fixture {
	struct ll_acme_certkey *rsa, *ec;
	struct ll_ca_hierarchy *h;
	struct ll_ca *ca;
};

static struct fixture *F;

static int group_setup(void **state)
{
	struct ll_ca_hierarchy_options ho = LL_CA_HIERARCHY_OPTIONS_INIT;
	struct ll_ca_options co = LL_CA_OPTIONS_INIT;
	char *cert = NULL, *key = NULL;
	size_t keylen = 0;
	int rc;

	(void)state;
	F = calloc(1, sizeof(*F));
	if (F == NULL)
		return -1;
	ho.name = "Test CA";
	ho.base_url = BASE;
	co.crl_url = BASE "/crl/smime-ca.crl";
	co.ocsp_url = BASE "/ocsp";
	co.ca_issuers_url = BASE "/ca/smime-ca.crt";
	rc = ll_acme_certkey_generate(&F->rsa, LL_KEY_RSA2048, NULL);
	if (rc == 0)
		rc = ll_acme_certkey_generate(&F->ec, LL_KEY_EC_P256, NULL);
	if (rc == 0)
		rc = ll_ca_hierarchy_create(&F->h, &ho, NULL);
	if (rc == 0)
		rc = ll_cert_pem(&cert, ll_ca_hierarchy_cert(F->h, LL_CA_SMIME),
				 NULL);
	if (rc == 0)
		rc = ll_ca_hierarchy_key_pem(&key, &keylen, F->h, LL_CA_SMIME,
					     NULL);
	if (rc == 0)
		rc = ll_ca_new(&F->ca, cert, strlen(cert), key, keylen, &co,
			       NULL);
	free(cert);
	ll_wipe_free(key, keylen);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	ll_acme_certkey_free(&F->rsa);
	ll_acme_certkey_free(&F->ec);
	ll_ca_free(&F->ca);
	ll_ca_hierarchy_free(&F->h);
	free(F);
	return 0;
}

/* ------------------------------------------------------- the request */

static X509_REQ *make_csr(const struct ll_acme_certkey *k, const char *addr,
			  unsigned char **der, size_t *len)
{
	struct ll_error err = { 0 };
	const unsigned char *p;
	X509_REQ *req;

	if (ll_acme_csr_new(der, len, k, addr, &err) < 0)
		fail_msg("ll_acme_csr_new(%s): %s", addr, err.message);
	p = *der;
	req = d2i_X509_REQ(NULL, &p, (long)*len);
	assert_non_null(req);
	assert_ptr_equal(p, *der + *len);
	return req;
}

/* The CA's checks accept it for ADDR, canonical CANON, usage BOTH. */
static void ca_accepts(const unsigned char *der, size_t len, const char *addr,
		       const char *canon)
{
	struct ll_ca_csr *csr = NULL;
	struct ll_error err = { 0 };

	if (ll_ca_csr_parse(&csr, der, len, addr, &err) < 0)
		fail_msg("ll_ca_csr_parse(%s): %s", addr, err.message);
	assert_string_equal(ll_ca_csr_email(csr), canon);
	assert_int_equal(ll_ca_csr_usage(csr), LL_CA_USAGE_BOTH);
	ll_ca_csr_free(&csr);
}

static X509_EXTENSION *req_ext(STACK_OF(X509_EXTENSION) * exts, int nid)
{
	int i = X509v3_get_ext_by_NID(exts, nid, -1);

	assert_true(i >= 0);
	assert_int_equal(X509v3_get_ext_by_NID(exts, nid, i), -1);
	return X509v3_get_ext(exts, i);
}

/* Subject, SAN, keyUsage and EKU as the header promises. */
static void check_fields(X509_REQ *req, const char *canon, int utf8_local,
			 int has_cn, int enc_bit)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	const X509_NAME *nm = X509_REQ_get_subject_name(req);
	X509_EXTENSION *san = req_ext(exts, NID_subject_alt_name);
	GENERAL_NAMES *gens = X509V3_EXT_d2i(san);
	ASN1_BIT_STRING *ku;
	EXTENDED_KEY_USAGE *eku;
	GENERAL_NAME *g;
	const ASN1_STRING *s;
	EVP_PKEY *pk = X509_REQ_get0_pubkey(req);

	assert_int_equal(X509_REQ_verify(req, pk), 1);
	assert_int_equal(X509_REQ_get_version(req), X509_REQ_VERSION_1);
	if (has_cn) {
		assert_int_equal(X509_NAME_entry_count(nm), 1);
		s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, 0));
		assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(
					 X509_NAME_get_entry(nm, 0))),
				 NID_commonName);
		assert_int_equal(ASN1_STRING_length(s), (int)strlen(canon));
		assert_memory_equal(ASN1_STRING_get0_data(s), canon,
				    strlen(canon));
		assert_int_equal(X509_EXTENSION_get_critical(san), 0);
	} else {
		assert_int_equal(X509_NAME_entry_count(nm), 0);
		assert_int_equal(X509_EXTENSION_get_critical(san), 1);
	}

	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	g = sk_GENERAL_NAME_value(gens, 0);
	if (utf8_local) {
		assert_int_equal(g->type, GEN_OTHERNAME);
		assert_string_equal(
			OBJ_nid2sn(OBJ_obj2nid(g->d.otherName->type_id)),
			OBJ_nid2sn(NID_id_on_SmtpUTF8Mailbox));
		assert_int_equal(g->d.otherName->value->type,
				 V_ASN1_UTF8STRING);
		s = g->d.otherName->value->value.utf8string;
	} else {
		assert_int_equal(g->type, GEN_EMAIL);
		s = g->d.rfc822Name;
	}
	assert_int_equal(ASN1_STRING_length(s), (int)strlen(canon));
	assert_memory_equal(ASN1_STRING_get0_data(s), canon, strlen(canon));

	assert_int_equal(
		X509_EXTENSION_get_critical(req_ext(exts, NID_key_usage)), 1);
	ku = X509V3_EXT_d2i(req_ext(exts, NID_key_usage));
	assert_non_null(ku);
	for (int bit = 0; bit <= LL_KU_DECIPHER_ONLY; bit++)
		assert_int_equal(ASN1_BIT_STRING_get_bit(ku, bit),
				 bit == LL_KU_DIGITAL_SIGNATURE ||
					 bit == enc_bit);
	eku = X509V3_EXT_d2i(req_ext(exts, NID_ext_key_usage));
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)),
			 NID_email_protect);

	ASN1_BIT_STRING_free(ku);
	EXTENDED_KEY_USAGE_free(eku);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void one(const struct ll_acme_certkey *k, const char *addr,
		const char *canon, int utf8_local, int has_cn, int enc_bit)
{
	unsigned char *der = NULL;
	size_t len = 0;
	X509_REQ *req = make_csr(k, addr, &der, &len);

	ca_accepts(der, len, addr, canon);
	ca_accepts(der, len, canon, canon);
	check_fields(req, canon, utf8_local, has_cn, enc_bit);
	X509_REQ_free(req);
	free(der);
}

static void test_csr_ascii(void **state)
{
	(void)state;
	one(F->rsa, "alice@example.test", "alice@example.test", 0, 1,
	    LL_KU_KEY_ENCIPHERMENT);
	one(F->ec, "alice@example.test", "alice@example.test", 0, 1,
	    LL_KU_KEY_AGREEMENT);
	/* the domain is lower-cased, the local part kept */
	one(F->ec, "Bob.Smith@Example.TEST", "Bob.Smith@example.test", 0, 1,
	    LL_KU_KEY_AGREEMENT);
}

static void test_csr_smtputf8(void **state)
{
	(void)state;
	one(F->rsa, MAKE "@example.test", MAKE "@example.test", 1, 1,
	    LL_KU_KEY_ENCIPHERMENT);
	one(F->ec, MAKE "@example.test", MAKE "@example.test", 1, 1,
	    LL_KU_KEY_AGREEMENT);
}

static void test_csr_idn_domain(void **state)
{
	(void)state;
	/* U-labels become A-labels; an ASCII local part stays rfc822Name */
	one(F->ec, "alice@" BUECHER ".example", "alice@xn--bcher-kva.example",
	    0, 1, LL_KU_KEY_AGREEMENT);
	one(F->ec, MAKE "@" BUECHER ".example", MAKE "@xn--bcher-kva.example",
	    1, 1, LL_KU_KEY_AGREEMENT);
}

static void test_csr_long_address(void **state)
{
	char addr[128];

	(void)state;
	/* 64 characters fit a CN, 65 do not: then the subject is empty
	 * and the subjectAltName critical */
	snprintf(addr, sizeof(addr), "%.*s@example.test", 64 - 13,
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(strlen(addr), 64);
	one(F->ec, addr, addr, 0, 1, LL_KU_KEY_AGREEMENT);
	snprintf(addr, sizeof(addr), "%.*s@example.test", 65 - 13,
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	one(F->ec, addr, addr, 0, 0, LL_KU_KEY_AGREEMENT);
}

static void test_csr_not_for_another(void **state)
{
	struct ll_ca_csr *csr = NULL;
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	X509_REQ *req = make_csr(F->ec, "alice@example.test", &der, &len);

	(void)state;
	assert_int_equal(ll_ca_csr_parse(&csr, der, len, "bob@example.test",
					 &err),
			 LL_EPOLICY);
	assert_null(csr);
	/* one flipped bit in the signed part breaks the self-signature */
	der[len / 2] ^= 0x01;
	assert_int_not_equal(
		ll_ca_csr_parse(&csr, der, len, "alice@example.test", NULL), 0);
	X509_REQ_free(req);
	free(der);
}

static void test_csr_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"alice",
		"alice@",
		"@example.test",
		"a..b@example.test",
		".a@example.test",
		"\"q\"@example.test",
		"a b@example.test",
		"alice@example",
		"alice@-x.test",
		"alice@example.test\r\nBcc: x@y.test",
	};
	struct ll_error err = { 0 };
	unsigned char *der = (unsigned char *)"x";
	size_t len = 1;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ll_acme_csr_new(&der, &len, F->ec, bad[i],
						 &err),
				 LL_EINVAL);
		assert_null(der);
		assert_int_equal(len, 0);
		assert_true(err.message[0] != '\0');
		der = (unsigned char *)"x";
	}
}

/* ------------------------------------------------------ the identity */

/* Issue a certificate to KEY for ADDR; the chain PEM: leaf, CA, root. */
static char *issue_chain(const struct ll_acme_certkey *key, const char *addr)
{
	struct ll_ca_csr *csr = NULL;
	struct ll_cert *leaf = NULL;
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	char *a = NULL, *b = NULL, *c = NULL, *all;
	X509_REQ *req = make_csr(key, addr, &der, &len);

	X509_REQ_free(req);
	assert_int_equal(ll_ca_csr_parse(&csr, der, len, addr, &err), 0);
	if (ll_ca_issue(&leaf, F->ca, csr, NULL, &err) < 0)
		fail_msg("ll_ca_issue: %s [%s]", err.message, err.detail);
	assert_int_equal(ll_cert_pem(&a, leaf, NULL), 0);
	assert_int_equal(
		ll_cert_pem(&b, ll_ca_hierarchy_cert(F->h, LL_CA_SMIME), NULL),
		0);
	assert_int_equal(ll_cert_pem(&c, ll_ca_hierarchy_cert(F->h, LL_CA_ROOT),
				     NULL),
			 0);
	all = malloc(strlen(a) + strlen(b) + strlen(c) + 1);
	assert_non_null(all);
	sprintf(all, "%s%s%s", a, b, c);
	free(a);
	free(b);
	free(c);
	free(der);
	ll_cert_free(&leaf);
	ll_ca_csr_free(&csr);
	return all;
}

static void test_identity(void **state)
{
	struct ll_cert *root = ll_ca_hierarchy_cert(F->h, LL_CA_ROOT);
	struct ll_cert *tsa = ll_ca_hierarchy_cert(F->h, LL_CA_TSA);
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	char *chain = issue_chain(F->ec, MAKE "@example.test"), serial[80];

	(void)state;
	if (ll_acme_identity(&id, F->ec, chain, strlen(chain), root,
			     MAKE "@example.test", &err) < 0)
		fail_msg("ll_acme_identity: %s", err.message);
	assert_true(ll_cert_matches_email(ll_identity_cert(id),
					  MAKE "@example.test"));
	/* the issuing CA is kept, the root left out */
	assert_int_equal(ll_identity_chain_count(id), 1);
	assert_string_equal(
		ll_cert_fingerprint(ll_identity_chain(id, 0)),
		ll_cert_fingerprint(ll_ca_hierarchy_cert(F->h, LL_CA_SMIME)));
	ll_acme_cert_serial(serial, sizeof(serial), ll_identity_cert(id));
	assert_int_equal(strspn(serial, "0123456789ABCDEF"), strlen(serial));
	assert_true(strlen(serial) >= 30);
	ll_identity_free(&id);

	/* not our key, not our address, not our root */
	assert_int_equal(ll_acme_identity(&id, F->rsa, chain, strlen(chain),
					  root, MAKE "@example.test", &err),
			 LL_EPOLICY);
	assert_int_equal(ll_acme_identity(&id, F->ec, chain, strlen(chain),
					  root, "alice@example.test", &err),
			 LL_EPOLICY);
	assert_int_equal(ll_acme_identity(&id, F->ec, chain, strlen(chain), tsa,
					  MAKE "@example.test", &err),
			 LL_EPOLICY);
	assert_non_null(strstr(err.message, "root"));
	/* no certificate at all */
	assert_int_not_equal(ll_acme_identity(&id, F->ec, "junk", 4, root,
					      MAKE "@example.test", &err),
			     0);
	assert_null(id);
	free(chain);
}

/* ------------------------------------------------ the challenge mail */

static const char challenge[] =
	"From: ACME CA <acme@ca.test>\r\n"
	"To: alice@example.test\r\n"
	"Subject: ACME: dG9rZW4tcGFydC1vbmU\r\n"
	"Message-ID: <c1.42@ca.test>\r\n"
	"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
	"Auto-Submitted: auto-generated; type=acme\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Please answer to prove you control this mailbox.\r\n";

/* MSG signed by a fresh self-signed identity for SIGNER; its
 * certificate in *cert (the caller frees it). */
static char *signed_by(const char *signer, const char *msg, size_t *len,
		       struct ll_cert **cert, unsigned flags)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_identity *id = NULL;
	struct ll_sealed *s = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };
	const char *data;
	char *out;

	assert_int_equal(
		ll_identity_generate(&id, signer, LL_KEY_EC_P256, 30, &err), 0);
	*cert = ll_cert_ref(ll_identity_cert(id));
	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	assert_int_equal(ll_ctx_add_identity(ctx, &id, NULL), 0);
	so.flags = LL_SEAL_SIGN | flags;
	if (ll_msg_seal(&s, ctx, msg, strlen(msg), &so, &err) < 0)
		fail_msg("seal: %s", err.message);
	data = ll_sealed_data(s, 0, len);
	out = malloc(*len + 1);
	assert_non_null(out);
	memcpy(out, data, *len);
	out[*len] = '\0';
	ll_sealed_free(&s);
	ll_ctx_free(&ctx);
	return out;
}

static struct ll_ctx *trusting(struct ll_cert *c)
{
	struct ll_ctx *ctx = NULL;

	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	if (c != NULL)
		assert_int_equal(ll_ctx_add_trust(ctx, c, NULL), 0);
	return ctx;
}

static void test_mail_genuine(void **state)
{
	struct ll_cert *ca = NULL;
	size_t len;
	char *mail = signed_by("acme@ca.test", challenge, &len, &ca, 0);
	struct ll_ctx *ctx = trusting(ca);
	char *tok = NULL, *mid = NULL;
	struct ll_error err = { 0 };

	(void)state;
	if (ll_acme_mail_check(&tok, &mid, ctx, mail, len, "acme@ca.test",
			       &err) < 0)
		fail_msg("mail check: %s", err.message);
	assert_string_equal(tok, "dG9rZW4tcGFydC1vbmU");
	assert_string_equal(mid, "<c1.42@ca.test>");
	free(tok);
	free(mid);
	/* the domain in another case is the same address */
	assert_int_equal(ll_acme_mail_check(&tok, &mid, ctx, mail, len,
					    "acme@CA.test", &err),
			 0);
	free(tok);
	free(mid);
	ll_ctx_free(&ctx);
	ll_cert_free(&ca);
	free(mail);
}

static void expect_refused(struct ll_ctx *ctx, const char *mail, size_t len,
			   const char *from, const char *why)
{
	char *tok = (char *)"x", *mid = (char *)"x";
	struct ll_error err = { 0 };
	int rc = ll_acme_mail_check(&tok, &mid, ctx, mail, len, from, &err);

	assert_true(rc < 0);
	assert_null(tok);
	assert_null(mid);
	if (strstr(err.message, why) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", why, err.message);
}

static void test_mail_refused(void **state)
{
	struct ll_cert *ca = NULL, *evil = NULL, *other = NULL;
	size_t len, elen, olen;
	char *mail = signed_by("acme@ca.test", challenge, &len, &ca, 0);
	char *evil_mail = strdup(challenge), *by_evil, *no_token, *other_mail;
	struct ll_ctx *ctx = trusting(ca), *nobody = trusting(NULL);
	struct ll_ctx *both = trusting(ca);
	char *p;

	(void)state;
	/* evil@ signs a mail from itself without header protection, then
	 * the unsigned outer From is changed to the CA's */
	assert_non_null(evil_mail);
	memcpy(strstr(evil_mail, "acme@"), "evil@", 5);
	by_evil = signed_by("evil@ca.test", evil_mail, &elen, &evil,
			    LL_SEAL_NO_HP);
	p = strstr(by_evil, "<evil@ca.test>");
	assert_non_null(p);
	memcpy(p + 1, "acme", 4);
	assert_null(strstr(by_evil, "evil@"));
	assert_int_equal(ll_ctx_add_trust(both, evil, NULL), 0);
	/* the CA's root is not trusted */
	expect_refused(nobody, mail, len, "acme@ca.test", "untrusted");
	/* the challenge names another sender */
	expect_refused(ctx, mail, len, "other@ca.test", "From is not");
	/* a trusted signer, but not the From address */
	expect_refused(both, by_evil, elen, "acme@ca.test", "wrong-signer");
	/* not signed at all */
	expect_refused(ctx, challenge, strlen(challenge), "acme@ca.test",
		       "not signed");
	/* a changed body */
	p = strstr(mail, "Please answer");
	assert_non_null(p);
	p[0] = 'p';
	expect_refused(ctx, mail, len, "acme@ca.test", "signature");
	p[0] = 'P';
	/* a signed mail whose Subject is no challenge */
	no_token = strdup(challenge);
	assert_non_null(no_token);
	memcpy(strstr(no_token, "ACME:"), "ACNE:", 5);
	other_mail = signed_by("acme@ca.test", no_token, &olen, &other, 0);
	ll_ctx_free(&ctx);
	ctx = trusting(other);
	expect_refused(ctx, other_mail, olen, "acme@ca.test", "Subject");

	ll_ctx_free(&ctx);
	ll_ctx_free(&nobody);
	ll_ctx_free(&both);
	ll_cert_free(&ca);
	ll_cert_free(&evil);
	ll_cert_free(&other);
	free(mail);
	free(by_evil);
	free(evil_mail);
	free(no_token);
	free(other_mail);
}

static void test_mail_response(void **state)
{
	static const char digest[] =
		"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
	struct ll_error err = { 0 };
	char *m = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(strlen(digest), LL_JWK_THUMBPRINT_LEN);
	if (ll_acme_mail_response(&m, &len, MAKE "@example.test",
				  "acme@ca.test", "dG9rZW4tcGFydC1vbmU",
				  "<c1.42@ca.test>", digest, &err) < 0)
		fail_msg("response: %s", err.message);
	assert_int_equal(strlen(m), len);
	assert_non_null(strstr(m, "\r\nFrom: " MAKE "@example.test\r\n"));
	assert_non_null(strstr(m, "\r\nTo: acme@ca.test\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: RE: ACME: "
				  "dG9rZW4tcGFydC1vbmU\r\n"));
	assert_non_null(strstr(m, "\r\nIn-Reply-To: <c1.42@ca.test>\r\n"));
	assert_non_null(strstr(m, "\r\nReferences: <c1.42@ca.test>\r\n"));
	assert_non_null(strstr(m, "\r\nMessage-ID: <"));
	assert_non_null(strstr(m, "@example.test>\r\n"));
	assert_non_null(strstr(m, "\r\n\r\n-----BEGIN ACME RESPONSE-----\r\n"));
	assert_non_null(strstr(m, "\r\n-----BEGIN ACME RESPONSE-----\r\n"
				  "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
				  "\r\n-----END ACME RESPONSE-----\r\n"));
	assert_int_equal(strncmp(m, "Date: ", 6), 0);
	for (size_t i = 0; i < len; i++)
		if (m[i] == '\n')
			assert_int_equal(m[i - 1], '\r');
	free(m);
	/* without a Message-ID: no In-Reply-To */
	assert_int_equal(ll_acme_mail_response(&m, &len, "alice@example.test",
					       "acme@ca.test", "dG9r", NULL,
					       digest, &err),
			 0);
	assert_null(strstr(m, "In-Reply-To"));
	free(m);
	/* nothing that would inject a header field */
	assert_int_equal(ll_acme_mail_response(&m, &len, "alice@example.test",
					       "acme@ca.test", "dG9r",
					       "<a@b>\r\nBcc: x@y.test", digest,
					       &err),
			 LL_EINVAL);
	assert_int_equal(ll_acme_mail_response(&m, &len, "alice@example.test",
					       "acme@ca.test", "dG9r\r\nX: y",
					       NULL, digest, &err),
			 LL_EINVAL);
	assert_int_equal(ll_acme_mail_response(&m, &len, "alice@example.test",
					       "acme@ca.test\r\nBcc: x@y.test",
					       "dG9r", NULL, digest, &err),
			 LL_EINVAL);
	assert_int_equal(ll_acme_mail_response(&m, &len, "alice@example.test",
					       "acme@ca.test", "dG9r", NULL,
					       "short", &err),
			 LL_EINVAL);
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_ascii),
		cmocka_unit_test(test_csr_smtputf8),
		cmocka_unit_test(test_csr_idn_domain),
		cmocka_unit_test(test_csr_long_address),
		cmocka_unit_test(test_csr_not_for_another),
		cmocka_unit_test(test_csr_bad_addresses),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_mail_genuine),
		cmocka_unit_test(test_mail_refused),
		cmocka_unit_test(test_mail_response),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
