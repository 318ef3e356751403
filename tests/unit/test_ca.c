/*
 * test_ca.c - src/lib/ca_*.c: the CA hierarchy, CSR checks, the
 * Mailbox-validated Strict certificate builder, and the pre-issuance
 * lint fed deliberately wrong certificates built here with OpenSSL's
 * own APIs (configuration strings, not the builder's code), one rule
 * broken per case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca_internal.h"

#define BASE "http://ca.test:8080"
#define CRL_URL BASE "/crl/smime-ca.crl"
#define OCSP_URL BASE "/ocsp"
#define ISSUERS_URL BASE "/ca/smime-ca.crt"
#define MAKE "\xe9\xa9\xac\xe5\x85\x8b" /* 马克 */
#define REITAI "\xe4\xbe\x8b\xe3\x81\x88" /* 例え */

struct fixture {
	struct ll_ca_hierarchy *h;
	struct ll_ca *ca;
	X509 *root, *issuer; /* borrowed from h */
	EVP_PKEY *issuer_key, *root_key;
	EVP_PKEY *rsa2048, *rsa1024, *p256, *p384, *p521, *ed25519;
};

static struct fixture *F;

/* ------------------------------------------------------------ helpers */

static char *role_key_pem(enum ll_ca_role role, size_t *len)
{
	char *pem = NULL;

	assert_int_equal(ll_ca_hierarchy_key_pem(&pem, len, F->h, role, NULL),
			 0);
	return pem;
}

static struct ll_ca *new_ca(const char *crl, int default_days)
{
	struct ll_ca_options opt = LL_CA_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct ll_ca *ca = NULL;
	char *cert = NULL, *key;
	size_t keylen = 0;

	key = role_key_pem(LL_CA_SMIME, &keylen);
	assert_int_equal(ll_cert_pem(&cert,
				     ll_ca_hierarchy_cert(F->h, LL_CA_SMIME),
				     NULL),
			 0);
	opt.crl_url = crl;
	opt.ocsp_url = OCSP_URL;
	opt.ca_issuers_url = ISSUERS_URL;
	opt.default_days = default_days;
	if (ll_ca_new(&ca, cert, strlen(cert), key, keylen, &opt, &err) < 0)
		fail_msg("ll_ca_new: %s [%s]", err.message, err.detail);
	free(cert);
	ll_wipe_free(key, keylen);
	return ca;
}

static int group_setup(void **state)
{
	struct ll_ca_hierarchy_options ho = LL_CA_HIERARCHY_OPTIONS_INIT;
	struct ll_error err = { 0 };
	char *pem;
	size_t len = 0;

	(void)state;
	F = calloc(1, sizeof(*F));
	if (F == NULL)
		return -1;
	ho.name = "Test CA";
	ho.country = "CN";
	ho.base_url = BASE;
	if (ll_ca_hierarchy_create(&F->h, &ho, &err) < 0) {
		fprintf(stderr, "hierarchy: %s [%s]\n", err.message,
			err.detail);
		return -1;
	}
	F->root = ll_cert_x509(ll_ca_hierarchy_cert(F->h, LL_CA_ROOT));
	F->issuer = ll_cert_x509(ll_ca_hierarchy_cert(F->h, LL_CA_SMIME));
	if (ll_ca_hierarchy_key_pem(&pem, &len, F->h, LL_CA_SMIME, NULL) < 0)
		return -1;
	F->issuer_key = ll_pkey_read(pem, len);
	ll_wipe_free(pem, len);
	if (ll_ca_hierarchy_key_pem(&pem, &len, F->h, LL_CA_ROOT, NULL) < 0)
		return -1;
	F->root_key = ll_pkey_read(pem, len);
	ll_wipe_free(pem, len);
	F->ca = new_ca(CRL_URL, 0);
	F->rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	F->rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	F->p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	F->p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	F->p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	F->ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (F->issuer_key == NULL || F->root_key == NULL || F->ca == NULL ||
	    F->rsa2048 == NULL || F->rsa1024 == NULL || F->p256 == NULL ||
	    F->p384 == NULL || F->p521 == NULL || F->ed25519 == NULL)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ll_ca_free(&F->ca);
	ll_ca_hierarchy_free(&F->h);
	EVP_PKEY_free(F->issuer_key);
	EVP_PKEY_free(F->root_key);
	EVP_PKEY_free(F->rsa2048);
	EVP_PKEY_free(F->rsa1024);
	EVP_PKEY_free(F->p256);
	EVP_PKEY_free(F->p384);
	EVP_PKEY_free(F->p521);
	EVP_PKEY_free(F->ed25519);
	free(F);
	F = NULL;
	return 0;
}

/* What a CSR made here holds. */
struct csr_opt {
	EVP_PKEY *key;
	const char *cn; /* subject CN (UTF-8), NULL for none */
	const char *san; /* subjectAltName, OpenSSL config syntax */
	const char *utf8; /* an otherName SmtpUTF8Mailbox to add */
	const char *ku; /* keyUsage to request, config syntax */
	const char *eku;
	const char *bc;
	int corrupt; /* flip a bit of the signature */
	int der;
};

static X509_EXTENSION *conf_ext(int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

	assert_non_null(e);
	return e;
}

static GENERAL_NAME *smtputf8_name(const char *addr)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_TYPE *t = ASN1_TYPE_new();
	ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();

	assert_true(g && t && s);
	assert_true(ASN1_STRING_set(s, addr, (int)strlen(addr)));
	ASN1_TYPE_set(t, V_ASN1_UTF8STRING, s);
	assert_true(GENERAL_NAME_set0_othername(
		g, OBJ_txt2obj("1.3.6.1.5.5.7.8.9", 1), t));
	return g;
}

/* A PKCS#10 request per O, PEM (or DER), malloc'd. */
static char *make_csr(size_t *len, const struct csr_opt *o)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_NAME *nm = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_is_a(o->key, "ED25519") ? NULL :
							      EVP_sha256();
	unsigned char *der = NULL;
	char *out;
	int n;

	assert_true(req && exts && nm);
	if (o->cn != NULL)
		assert_true(X509_NAME_add_entry_by_NID(
			nm, NID_commonName, MBSTRING_UTF8,
			(const unsigned char *)o->cn, -1, -1, 0));
	assert_true(X509_REQ_set_subject_name(req, nm));
	assert_true(X509_REQ_set_pubkey(req, o->key));
	if (o->san != NULL || o->utf8 != NULL) {
		GENERAL_NAMES *gens = NULL;

		if (o->san != NULL) {
			X509_EXTENSION *e =
				conf_ext(NID_subject_alt_name, o->san);

			gens = X509V3_EXT_d2i(e);
			X509_EXTENSION_free(e);
		} else {
			gens = GENERAL_NAMES_new();
		}
		assert_non_null(gens);
		if (o->utf8 != NULL)
			sk_GENERAL_NAME_push(gens, smtputf8_name(o->utf8));
		sk_X509_EXTENSION_push(
			exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
		GENERAL_NAMES_free(gens);
	}
	if (o->ku != NULL)
		sk_X509_EXTENSION_push(exts, conf_ext(NID_key_usage, o->ku));
	if (o->eku != NULL)
		sk_X509_EXTENSION_push(exts,
				       conf_ext(NID_ext_key_usage, o->eku));
	if (o->bc != NULL)
		sk_X509_EXTENSION_push(exts,
				       conf_ext(NID_basic_constraints, o->bc));
	if (sk_X509_EXTENSION_num(exts) > 0)
		assert_true(X509_REQ_add_extensions(req, exts));
	assert_true(X509_REQ_sign(req, o->key, md) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	if (o->corrupt)
		der[n - 1] ^= 0x01; /* last octet of the signature */
	if (o->der || o->corrupt) {
		out = malloc((size_t)n);
		assert_non_null(out);
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	} else {
		BIO *b = BIO_new(BIO_s_mem());
		BUF_MEM *m;

		assert_true(PEM_write_bio_X509_REQ(b, req));
		BIO_get_mem_ptr(b, &m);
		out = malloc(m->length);
		assert_non_null(out);
		memcpy(out, m->data, m->length);
		*len = m->length;
		BIO_free(b);
	}
	OPENSSL_free(der);
	X509_NAME_free(nm);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return out;
}

/* Parse a CSR made per O for EMAIL; returns the code, *out on success. */
static int parse_csr(struct ll_ca_csr **out, const struct csr_opt *o,
		     const char *email, struct ll_error *err)
{
	size_t len = 0;
	char *csr = make_csr(&len, o);
	int rc = ll_ca_csr_parse(out, csr, len, email, err);

	free(csr);
	return rc;
}

/* Issue for a CSR per O; fails the test unless it works. */
static struct ll_cert *issue(const struct csr_opt *o, const char *email,
			     const struct ll_ca_issue_options *io)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *csr = NULL;
	struct ll_cert *c = NULL;

	if (parse_csr(&csr, o, email, &err) < 0)
		fail_msg("CSR for %s refused: %s", email, err.message);
	if (ll_ca_issue(&c, F->ca, csr, io, &err) < 0)
		fail_msg("issue for %s: %s [%s]", email, err.message,
			 err.detail);
	ll_ca_csr_free(&csr);
	return c;
}

/* RC is CODE, and ERR's message names NEEDLE (if not NULL). */
static void assert_code(int rc, const struct ll_error *err, int code,
			const char *needle)
{
	if (rc != code)
		fail_msg("expected %s, got %d (%s)", ll_strerror(code), rc,
			 err->message);
	if (needle != NULL && strstr(err->message, needle) == NULL)
		fail_msg("message \"%s\" does not name \"%s\"", err->message,
			 needle);
}

static void assert_refused(const struct csr_opt *o, const char *email, int code,
			   const char *needle)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *csr = NULL;
	int rc = parse_csr(&csr, o, email, &err);

	ll_ca_csr_free(&csr);
	assert_code(rc, &err, code, needle);
}

static void assert_lint_clean(X509 *x, const char *email)
{
	struct ll_ca_lint_report *r = NULL;

	assert_int_equal(ll_ca_lint_x509(&r, x, F->issuer, email, NULL), 0);
	for (size_t i = 0; i < ll_ca_lint_count(r); i++)
		print_message("# %s\n", ll_ca_lint_violation(r, i));
	assert_int_equal(ll_ca_lint_count(r), 0);
	ll_ca_lint_free(&r);
}

static int chain_ok(X509 *leaf, X509 *inter, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *c = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;

	assert_true(st && c && untrusted);
	assert_true(X509_STORE_add_cert(st, F->root));
	if (inter != NULL)
		sk_X509_push(untrusted, inter);
	assert_true(X509_STORE_CTX_init(c, st, leaf, untrusted));
	if (purpose > 0)
		X509_STORE_CTX_set_purpose(c, purpose);
	ok = X509_verify_cert(c) == 1;
	if (!ok)
		print_message("# verify: %s\n",
			      X509_verify_cert_error_string(
				      X509_STORE_CTX_get_error(c)));
	X509_STORE_CTX_free(c);
	sk_X509_free(untrusted);
	X509_STORE_free(st);
	ERR_clear_error();
	return ok;
}

static unsigned ku_of(X509 *x, int *critical)
{
	ASN1_BIT_STRING *ku =
		X509_get_ext_d2i(x, NID_key_usage, critical, NULL);
	unsigned bits = 0;

	assert_non_null(ku);
	for (int i = 0; i < 9; i++)
		if (ASN1_BIT_STRING_get_bit(ku, i))
			bits |= 1u << i;
	ASN1_BIT_STRING_free(ku);
	return bits;
}

/* The only subjectAltName entry; its criticality in *critical. */
static GENERAL_NAME *only_san(X509 *x, int *critical)
{
	GENERAL_NAMES *gens =
		X509_get_ext_d2i(x, NID_subject_alt_name, critical, NULL);
	GENERAL_NAME *g;

	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	g = sk_GENERAL_NAME_shift(gens);
	GENERAL_NAMES_free(gens);
	return g;
}

static void assert_cn(X509 *x, const char *want)
{
	X509_NAME *nm = X509_get_subject_name(x);
	const ASN1_STRING *d;

	if (want == NULL) {
		assert_int_equal(X509_NAME_entry_count(nm), 0);
		return;
	}
	assert_int_equal(X509_NAME_entry_count(nm), 1);
	assert_int_equal(X509_NAME_get_index_by_NID(nm, NID_commonName, -1), 0);
	d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, 0));
	assert_int_equal(ASN1_STRING_type(d), V_ASN1_UTF8STRING);
	assert_int_equal(ASN1_STRING_length(d), (int)strlen(want));
	assert_memory_equal(ASN1_STRING_get0_data(d), want, strlen(want));
}

static long long validity_secs(X509 *x)
{
	int days = 0, secs = 0;

	assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
				   X509_get0_notAfter(x)));
	return (long long)days * 86400 + secs + 1;
}

/* ---------------------------------------------------------- hierarchy */

static void test_hierarchy(void **state)
{
	X509 *tsa = ll_cert_x509(ll_ca_hierarchy_cert(F->h, LL_CA_TSA));
	X509 *ocsp = ll_cert_x509(ll_ca_hierarchy_cert(F->h, LL_CA_OCSP));
	EVP_PKEY *rk = X509_get0_pubkey(F->root);
	char group[32];

	(void)state;
	/* root: self-signed, P-384, pathLen 1, no EKU (BR 7.1.2.1) */
	assert_int_equal(X509_verify(F->root, rk), 1);
	assert_true(EVP_PKEY_get_group_name(rk, group, sizeof(group), NULL));
	assert_string_equal(group, "secp384r1");
	assert_int_equal(X509_get_pathlen(F->root), 1);
	assert_true(X509_get_extension_flags(F->root) & EXFLAG_CA);
	assert_false(X509_get_extension_flags(F->root) & EXFLAG_XKUSAGE);
	assert_int_equal(X509_get_key_usage(F->root),
			 KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	/* S/MIME CA: pathLen 0, emailProtection, no timeStamping */
	assert_int_equal(X509_get_pathlen(F->issuer), 0);
	assert_int_equal(X509_get_extended_key_usage(F->issuer), XKU_SMIME);
	assert_true(chain_ok(F->issuer, NULL, 0));
	/* TSA CA: timeStamping only */
	assert_int_equal(X509_get_pathlen(tsa), 0);
	assert_int_equal(X509_get_extended_key_usage(tsa), XKU_TIMESTAMP);
	assert_true(chain_ok(tsa, NULL, 0));
	/* OCSP responder under the S/MIME CA, with ocsp-nocheck */
	assert_int_equal(X509_get_extended_key_usage(ocsp), XKU_OCSP_SIGN);
	assert_true(X509_get_ext_by_NID(ocsp, NID_id_pkix_OCSP_noCheck, -1) >=
		    0);
	assert_false(X509_get_extension_flags(ocsp) & EXFLAG_CA);
	assert_true(chain_ok(ocsp, F->issuer, X509_PURPOSE_OCSP_HELPER));
	/* the time-stamping unit under the TSA CA: EKU timeStamping
	 * alone and critical (RFC 3161 2.3), which OpenSSL's purpose
	 * check for time-stamp signers demands */
	{
		X509 *tsu = ll_cert_x509(ll_ca_hierarchy_cert(F->h, LL_CA_TSU));
		int i = X509_get_ext_by_NID(tsu, NID_ext_key_usage, -1);

		assert_int_equal(X509_get_extended_key_usage(tsu),
				 XKU_TIMESTAMP);
		assert_true(i >= 0);
		assert_true(X509_EXTENSION_get_critical(X509_get_ext(tsu, i)));
		assert_false(X509_get_extension_flags(tsu) & EXFLAG_CA);
		assert_int_equal(X509_get_key_usage(tsu), KU_DIGITAL_SIGNATURE);
		assert_int_equal(X509_check_issued(tsa, tsu), X509_V_OK);
		assert_int_equal(
			X509_check_purpose(tsu, X509_PURPOSE_TIMESTAMP_SIGN, 0),
			1);
		assert_string_equal(ll_ca_role_name(LL_CA_TSU), "tsa");
	}
	/* distinct keys */
	assert_int_not_equal(EVP_PKEY_eq(X509_get0_pubkey(F->issuer),
					 X509_get0_pubkey(tsa)),
			     1);
	assert_string_equal(ll_ca_role_name(LL_CA_TSA), "tsa-ca");
}

/* The root's CRL: signed by the root, no entries, AKI, a CRL number;
 * another CA's key or a bad validity refused. */
static void test_empty_crl(void **state)
{
	struct ll_error err = { 0 };
	char *key = NULL, *other = NULL, *cert = NULL;
	size_t keylen = 0, otherlen = 0, len = 0;
	unsigned char *der = NULL;
	const unsigned char *p;
	X509_CRL *crl;

	(void)state;
	assert_int_equal(ll_ca_hierarchy_key_pem(&key, &keylen, F->h,
						 LL_CA_ROOT, &err),
			 0);
	assert_int_equal(ll_ca_hierarchy_key_pem(&other, &otherlen, F->h,
						 LL_CA_SMIME, &err),
			 0);
	assert_int_equal(ll_cert_pem(&cert,
				     ll_ca_hierarchy_cert(F->h, LL_CA_ROOT),
				     &err),
			 0);
	assert_int_equal(ll_ca_empty_crl(&der, &len, cert, strlen(cert), key,
					 keylen, time(NULL), 365, &err),
			 0);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(F->root)), 1);
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0);
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) >= 0);
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier,
					    -1) >= 0);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl),
				       X509_get_subject_name(F->root)),
			 0);
	X509_CRL_free(crl);
	free(der);
	der = NULL;
	assert_int_equal(ll_ca_empty_crl(&der, &len, cert, strlen(cert), other,
					 otherlen, time(NULL), 365, NULL),
			 LL_EINVAL);
	assert_int_equal(ll_ca_empty_crl(&der, &len, cert, strlen(cert), key,
					 keylen, time(NULL), 0, NULL),
			 LL_EINVAL);
	assert_int_equal(ll_ca_empty_crl(&der, &len, cert, strlen(cert), key,
					 keylen, time(NULL), 367, NULL),
			 LL_EINVAL);
	assert_null(der);
	free(cert);
	ll_wipe_free(other, otherlen);
	ll_wipe_free(key, keylen);
}

static void test_hierarchy_options(void **state)
{
	struct ll_ca_hierarchy_options ho = LL_CA_HIERARCHY_OPTIONS_INIT;
	struct ll_ca_hierarchy *h = NULL;

	(void)state;
	ho.name = "X";
	ho.base_url = "https://ca.test"; /* CRL/AIA must be http */
	assert_int_equal(ll_ca_hierarchy_create(&h, &ho, NULL), LL_EINVAL);
	ho.base_url = "http://ca.test/";
	assert_int_equal(ll_ca_hierarchy_create(&h, &ho, NULL), LL_EINVAL);
	ho.base_url = BASE;
	ho.country = "china";
	assert_int_equal(ll_ca_hierarchy_create(&h, &ho, NULL), LL_EINVAL);
	ho.country = NULL;
	ho.name = "a name that is much too long for a sixty-four character CN";
	assert_int_equal(ll_ca_hierarchy_create(&h, &ho, NULL), LL_EINVAL);
	assert_null(h);
}

/* ------------------------------------------------------------ builder */

static void test_issue_rsa(void **state)
{
	struct csr_opt o = { .key = F->rsa2048,
			     .cn = "alice@example.test",
			     .san = "email:alice@example.test" };
	struct ll_cert *c = issue(&o, "alice@example.test", NULL);
	X509 *x = ll_cert_x509(c);
	GENERAL_NAME *g;
	CERTIFICATEPOLICIES *cp;
	BASIC_CONSTRAINTS *bc;
	AUTHORITY_INFO_ACCESS *aia;
	CRL_DIST_POINTS *dps;
	GENERAL_NAME *uri;
	const ASN1_OCTET_STRING *akid;
	BIGNUM *serial;
	char oid[64];
	int crit = -1;

	(void)state;
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_false(BN_is_negative(serial));
	assert_true(BN_num_bits(serial) >= 64 && BN_num_bits(serial) <= 127);
	BN_free(serial);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
				       X509_get_subject_name(F->issuer)),
			 0);
	assert_int_equal(validity_secs(x), 365LL * 86400);
	assert_cn(x, "alice@example.test");
	/* keyUsage: both, critical */
	assert_int_equal(ku_of(x, &crit),
			 (1u << LL_KU_DIGITAL_SIGNATURE) |
				 (1u << LL_KU_KEY_ENCIPHERMENT));
	assert_int_equal(crit, 1);
	/* EKU emailProtection only */
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SMIME);
	/* basicConstraints critical CA:FALSE */
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	/* policy */
	cp = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
	assert_int_equal(sk_POLICYINFO_num(cp), 1);
	OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(cp, 0)->policyid, 1);
	assert_string_equal(oid, "2.23.140.1.5.1.3");
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
	/* SAN rfc822Name, not critical */
	g = only_san(x, &crit);
	assert_int_equal(g->type, GEN_EMAIL);
	assert_int_equal(crit, 0);
	assert_string_equal(ASN1_STRING_get0_data(g->d.rfc822Name),
			    "alice@example.test");
	GENERAL_NAME_free(g);
	/* CRL DP and AIA */
	dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	uri = sk_GENERAL_NAME_value(
		sk_DIST_POINT_value(dps, 0)->distpoint->name.fullname, 0);
	assert_string_equal(
		ASN1_STRING_get0_data(uri->d.uniformResourceIdentifier),
		CRL_URL);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
	assert_int_equal(
		OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, 0)->method),
		NID_ad_OCSP);
	assert_string_equal(
		ASN1_STRING_get0_data(
			sk_ACCESS_DESCRIPTION_value(aia, 0)->location->d.ia5),
		OCSP_URL);
	assert_string_equal(
		ASN1_STRING_get0_data(
			sk_ACCESS_DESCRIPTION_value(aia, 1)->location->d.ia5),
		ISSUERS_URL);
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	/* AKI = the issuer's SKI; an SKI of its own */
	akid = X509_get0_authority_key_id(x);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(
				 akid, X509_get0_subject_key_id(F->issuer)),
			 0);
	assert_non_null(X509_get0_subject_key_id(x));
	/* signed by the CA: ecdsa-with-SHA256 for its P-256 key */
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(F->issuer)), 1);
	assert_true(chain_ok(x, F->issuer, X509_PURPOSE_SMIME_SIGN));
	assert_true(chain_ok(x, F->issuer, X509_PURPOSE_SMIME_ENCRYPT));
	assert_lint_clean(x, "alice@example.test");
	assert_int_equal(ll_cert_matches_email(c, "alice@example.test"), 1);
	ll_cert_free(&c);
}

static void test_issue_ec_usages(void **state)
{
	struct csr_opt o = { .key = F->p256,
			     .san = "email:ec@example.test",
			     .ku = "critical,digitalSignature",
			     .der = 1 };
	struct ll_ca_issue_options io = LL_CA_ISSUE_OPTIONS_INIT;
	struct ll_cert *c;
	int crit = 0;

	(void)state;
	/* the CSR asks for signing only */
	c = issue(&o, "ec@example.test", NULL);
	assert_int_equal(ku_of(ll_cert_x509(c), &crit),
			 1u << LL_KU_DIGITAL_SIGNATURE);
	assert_lint_clean(ll_cert_x509(c), "ec@example.test");
	ll_cert_free(&c);
	/* P-384, key agreement only */
	o.key = F->p384;
	o.ku = "keyAgreement";
	c = issue(&o, "ec@example.test", NULL);
	assert_int_equal(ku_of(ll_cert_x509(c), &crit),
			 1u << LL_KU_KEY_AGREEMENT);
	assert_lint_clean(ll_cert_x509(c), "ec@example.test");
	ll_cert_free(&c);
	/* nothing asked: both */
	o.ku = NULL;
	c = issue(&o, "ec@example.test", NULL);
	assert_int_equal(ku_of(ll_cert_x509(c), &crit),
			 (1u << LL_KU_DIGITAL_SIGNATURE) |
				 (1u << LL_KU_KEY_AGREEMENT));
	assert_true(
		chain_ok(ll_cert_x509(c), F->issuer, X509_PURPOSE_SMIME_SIGN));
	ll_cert_free(&c);
	/* the administrator's choice wins over the CSR's */
	o.ku = "digitalSignature,keyAgreement";
	io.usage = LL_CA_USAGE_ENCRYPT;
	c = issue(&o, "ec@example.test", &io);
	assert_int_equal(ku_of(ll_cert_x509(c), &crit),
			 1u << LL_KU_KEY_AGREEMENT);
	ll_cert_free(&c);
	/* RSA, nonRepudiation counts as signing */
	o.key = F->rsa2048;
	o.ku = "nonRepudiation,digitalSignature";
	c = issue(&o, "ec@example.test", NULL);
	assert_int_equal(ku_of(ll_cert_x509(c), &crit),
			 1u << LL_KU_DIGITAL_SIGNATURE);
	ll_cert_free(&c);
}

static void test_issue_unicode(void **state)
{
	const char *addr = MAKE "@example.test";
	struct csr_opt o = { .key = F->p256, .cn = addr, .utf8 = addr };
	struct ll_cert *c = issue(&o, addr, NULL);
	X509 *x = ll_cert_x509(c);
	GENERAL_NAME *g = only_san(x, NULL);
	const ASN1_STRING *v;

	(void)state;
	/* otherName SmtpUTF8Mailbox, UTF8String, the octets of the
	 * address (RFC 9598 3) */
	assert_int_equal(g->type, GEN_OTHERNAME);
	assert_int_equal(OBJ_obj2nid(g->d.otherName->type_id),
			 NID_id_on_SmtpUTF8Mailbox);
	assert_int_equal(g->d.otherName->value->type, V_ASN1_UTF8STRING);
	v = g->d.otherName->value->value.utf8string;
	assert_int_equal(ASN1_STRING_length(v), (int)strlen(addr));
	assert_memory_equal(ASN1_STRING_get0_data(v), addr, strlen(addr));
	GENERAL_NAME_free(g);
	assert_cn(x, addr);
	assert_lint_clean(x, addr);
	assert_true(chain_ok(x, F->issuer, X509_PURPOSE_SMIME_SIGN));
	/* letterlock reads the SmtpUTF8Mailbox as the certificate's address */
	assert_string_equal(ll_cert_email(c), addr);
	assert_true(ll_cert_matches_email(c, addr));
	ll_cert_free(&c);

	/* the CSR may carry it as rfc822Name too?  No: IA5String is
	 * ASCII; an address in U-labels in the CSR is canonicalised */
	o.key = F->p384;
	o.cn = NULL;
	o.utf8 = MAKE "@" REITAI ".test";
	c = issue(&o, MAKE "@" REITAI ".test", NULL);
	g = only_san(ll_cert_x509(c), NULL);
	v = g->d.otherName->value->value.utf8string;
	assert_int_equal(ASN1_STRING_length(v),
			 (int)strlen(MAKE "@xn--r8jz45g.test"));
	assert_memory_equal(ASN1_STRING_get0_data(v), MAKE "@xn--r8jz45g.test",
			    strlen(MAKE "@xn--r8jz45g.test"));
	GENERAL_NAME_free(g);
	assert_cn(ll_cert_x509(c), MAKE "@xn--r8jz45g.test");
	assert_lint_clean(ll_cert_x509(c), MAKE "@" REITAI ".test");
	ll_cert_free(&c);
}

static void test_issue_idn_domain(void **state)
{
	/* ASCII local part, IDN domain: rfc822Name with A-labels */
	struct csr_opt o = { .key = F->p256,
			     .san = "email:bob@xn--mnchen-3ya.example" };
	struct ll_cert *c = issue(&o, "bob@m\xc3\xbcnchen.example", NULL);
	GENERAL_NAME *g = only_san(ll_cert_x509(c), NULL);

	(void)state;
	assert_int_equal(g->type, GEN_EMAIL);
	assert_string_equal(ASN1_STRING_get0_data(g->d.rfc822Name),
			    "bob@xn--mnchen-3ya.example");
	GENERAL_NAME_free(g);
	assert_lint_clean(ll_cert_x509(c), "bob@xn--mnchen-3ya.example");
	ll_cert_free(&c);
	/* an upper-case domain in the request is the same address */
	o.san = "email:bob@Example.TEST";
	c = issue(&o, "bob@example.test", NULL);
	g = only_san(ll_cert_x509(c), NULL);
	assert_string_equal(ASN1_STRING_get0_data(g->d.rfc822Name),
			    "bob@example.test");
	GENERAL_NAME_free(g);
	ll_cert_free(&c);
}

/* A certificate (unsigned: only its names are read) whose
 * subjectAltName holds the rfc822Name RFC822 and the SmtpUTF8Mailbox
 * UTF8, each when not NULL. */
static X509 *naming(const char *rfc822, const char *utf8)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	X509 *x = X509_new();

	assert_non_null(gens);
	assert_non_null(x);
	if (rfc822 != NULL) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		assert_true(g && s && ASN1_STRING_set(s, rfc822, -1));
		GENERAL_NAME_set0_value(g, GEN_EMAIL, s);
		assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	}
	if (utf8 != NULL) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_TYPE *t = ASN1_TYPE_new();
		ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();

		assert_true(g && t && s && ASN1_STRING_set(s, utf8, -1));
		ASN1_TYPE_set(t, V_ASN1_UTF8STRING, s);
		assert_true(GENERAL_NAME_set0_othername(
			g, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), t));
		assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0),
			 1);
	GENERAL_NAMES_free(gens);
	return x;
}

#define BUECHER     \
	"b\xc3\xbc" \
	"cher.example" /* bücher.example */

static void test_match_idn_domain(void **state)
{
	X509 *x;

	(void)state;
	/* the A-label in the certificate (as RFC 5280 and the CA write
	 * it), U-labels or A-labels in From */
	x = naming("alice@xn--bcher-kva.example", NULL);
	assert_true(ll_x509_has_email(x, "alice@" BUECHER));
	assert_true(ll_x509_has_email(x, "alice@xn--bcher-kva.example"));
	assert_true(ll_x509_has_email(x, "alice@XN--Bcher-KVA.Example"));
	/* bőcher: another domain, another A-label */
	assert_false(ll_x509_has_email(x, "alice@b\xc5\x91"
					  "cher.example"));
	assert_false(ll_x509_has_email(x, "alice@xn--bcher-49a.example"));
	/* U-labels must be in canonical form (no TR46 mapping) */
	assert_false(ll_x509_has_email(x, "alice@B\xc3\x9c"
					  "CHER.example"));
	X509_free(x);

	/* U-labels in a SmtpUTF8Mailbox: the same domain */
	x = naming(NULL, MAKE "@" BUECHER);
	assert_true(ll_x509_has_email(x, MAKE "@xn--bcher-kva.example"));
	assert_true(ll_x509_has_email(x, MAKE "@" BUECHER));
	assert_false(ll_x509_has_email(x, MAKE "@xn--bcher-49a.example"));
	X509_free(x);
	x = naming(NULL, MAKE "@xn--bcher-kva.example");
	assert_true(ll_x509_has_email(x, MAKE "@" BUECHER));
	X509_free(x);

	/* malformed IDNA on either side matches nothing, not even itself */
	x = naming("alice@xn--zz.example", NULL);
	assert_false(ll_x509_has_email(x, "alice@xn--zz.example"));
	X509_free(x);
	x = naming("alice@xn--bcher-kva.example", NULL);
	assert_false(ll_x509_has_email(x, "alice@xn--bcher-kva-.example"));
	X509_free(x);
	/* UTF-8 that is not UTF-8 */
	x = naming(NULL, "alice@b\xfc"
			 "cher.example");
	assert_false(ll_x509_has_email(x, "alice@b\xfc"
					  "cher.example"));
	assert_false(ll_x509_has_email(x, "alice@" BUECHER));
	X509_free(x);
}

static void test_match_local_part(void **state)
{
	X509 *x;

	(void)state;
	/* rfc822Name: the local part exactly, the domain in any case */
	x = naming("alice@example.test", NULL);
	assert_true(ll_x509_has_email(x, "alice@EXAMPLE.test"));
	assert_false(ll_x509_has_email(x, "Alice@example.test"));
	assert_false(ll_x509_has_email(x, "ALICE@example.test"));
	X509_free(x);
	x = naming("Alice@example.test", NULL);
	assert_true(ll_x509_has_email(x, "Alice@example.test"));
	assert_false(ll_x509_has_email(x, "alice@example.test"));
	X509_free(x);
	/* SmtpUTF8Mailbox: the octets of the local part, no case folding
	 * (É, é) and no normalisation (é, e + U+0301) */
	x = naming(NULL, "\xc3\xa9mile@" BUECHER);
	assert_true(ll_x509_has_email(x, "\xc3\xa9mile@xn--bcher-kva.example"));
	assert_false(ll_x509_has_email(x, "\xc3\x89mile@" BUECHER));
	assert_false(ll_x509_has_email(x, "e\xcc\x81mile@" BUECHER));
	X509_free(x);
}

static void test_issue_long_address(void **state)
{
	/* 70 characters: more than a CN holds -> empty subject, critical
	 * subjectAltName (BR 7.1.2.3 h, RFC 5280 4.2.1.6) */
	const char *addr = "a-rather-long-local-part-for-a-mailbox-"
			   "of-more-than-sixty@example.test";
	char san[128];
	struct csr_opt o = { .key = F->p256, .san = san };
	struct ll_cert *c;
	GENERAL_NAME *g;
	int crit = 0;

	(void)state;
	snprintf(san, sizeof(san), "email:%s", addr);
	assert_true(strlen(addr) > 64);
	c = issue(&o, addr, NULL);
	assert_cn(ll_cert_x509(c), NULL);
	g = only_san(ll_cert_x509(c), &crit);
	assert_int_equal(crit, 1);
	GENERAL_NAME_free(g);
	assert_lint_clean(ll_cert_x509(c), addr);
	assert_true(
		chain_ok(ll_cert_x509(c), F->issuer, X509_PURPOSE_SMIME_SIGN));
	ll_cert_free(&c);
}

static void test_issue_validity(void **state)
{
	struct csr_opt o = { .key = F->p256, .san = "email:v@example.test" };
	struct ll_ca_issue_options io = LL_CA_ISSUE_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct ll_ca_csr *csr = NULL;
	struct ll_cert *c = NULL;
	struct ll_ca *ca30;

	(void)state;
	io.days = 825;
	io.now = 2000000000; /* 2033 */
	c = issue(&o, "v@example.test", &io);
	assert_int_equal(validity_secs(ll_cert_x509(c)), 825LL * 86400);
	assert_int_equal(ll_cert_not_before(c), 2000000000 - LL_CA_BACKDATE);
	assert_lint_clean(ll_cert_x509(c), "v@example.test");
	ll_cert_free(&c);
	/* notAfter in 2050 or later: GeneralizedTime */
	io.now = 2524608000 - 100 * 86400; /* 100 days before 2050 */
	c = issue(&o, "v@example.test", &io);
	assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(ll_cert_x509(c))),
			 V_ASN1_GENERALIZEDTIME);
	assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(ll_cert_x509(c))),
			 V_ASN1_UTCTIME);
	assert_lint_clean(ll_cert_x509(c), "v@example.test");
	ll_cert_free(&c);
	/* over 825 days: refused before anything is built */
	io.days = 826;
	io.now = 0;
	assert_int_equal(parse_csr(&csr, &o, "v@example.test", NULL), 0);
	assert_int_equal(ll_ca_issue(&c, F->ca, csr, &io, &err), LL_EPOLICY);
	assert_non_null(strstr(err.message, "825"));
	assert_null(c);
	/* the CA's default */
	ca30 = new_ca(CRL_URL, 30);
	io.days = 0;
	assert_int_equal(ll_ca_issue(&c, ca30, csr, &io, &err), 0);
	assert_int_equal(validity_secs(ll_cert_x509(c)), 30LL * 86400);
	ll_cert_free(&c);
	ll_ca_free(&ca30);
	ll_ca_csr_free(&csr);
}

/* The issuing path refuses to sign what the lint refuses: an https
 * CRL URL (Strict wants http) gets past ll_ca_new, not past the lint. */
static void test_issue_refused_by_lint(void **state)
{
	struct csr_opt o = { .key = F->p256, .san = "email:l@example.test" };
	struct ll_ca *bad = new_ca("https://ca.test/crl", 0);
	struct ll_error err = { 0 };
	struct ll_ca_csr *csr = NULL;
	struct ll_cert *c = NULL;

	(void)state;
	assert_int_equal(parse_csr(&csr, &o, "l@example.test", NULL), 0);
	assert_int_equal(ll_ca_issue(&c, bad, csr, NULL, &err), LL_EPOLICY);
	assert_null(c);
	assert_non_null(strstr(err.message, "pre-issuance lint"));
	assert_non_null(strstr(err.message, "crldp.scheme"));
	ll_ca_csr_free(&csr);
	ll_ca_free(&bad);
}

/* ----------------------------------------------------- CSR rejections */

static void test_csr_wrong_address(void **state)
{
	struct csr_opt o = { .key = F->p256,
			     .san = "email:mallory@example.test" };

	(void)state;
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "email:mallory@example.test");
	/* the same local part at another domain */
	o.san = "email:alice@example.org";
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "alice@example.org");
	/* the local part is case-sensitive (RFC 5321 2.4) */
	o.san = "email:Alice@example.test";
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "Alice");
	/* a subject naming another address */
	o.san = "email:alice@example.test";
	o.cn = "mallory@example.test";
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "mallory@example.test");
}

static void test_csr_extra_names(void **state)
{
	struct csr_opt o = { .key = F->p256,
			     .san = "email:alice@example.test,"
				    "DNS:alice.example.test" };

	(void)state;
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "DNS:alice.example.test");
	o.san = "email:alice@example.test,email:bob@example.test";
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "bob@example.test");
	o.san = "email:alice@example.test,email:alice@example.test";
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "2 entries");
	o.san = "email:alice@example.test,URI:http://evil.test/";
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "URI:");
	o.san = NULL;
	o.utf8 = "alice@example.test";
	o.cn = NULL;
	/* SmtpUTF8Mailbox for an ASCII address still names it: accepted,
	 * and the certificate gets the rfc822Name form */
	{
		struct ll_cert *c = issue(&o, "alice@example.test", NULL);
		GENERAL_NAME *g = only_san(ll_cert_x509(c), NULL);

		assert_int_equal(g->type, GEN_EMAIL);
		GENERAL_NAME_free(g);
		ll_cert_free(&c);
	}
	o.utf8 = NULL;
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "no subjectAltName");
}

static void test_csr_weak_keys(void **state)
{
	struct csr_opt o = { .key = F->rsa1024,
			     .san = "email:alice@example.test" };

	(void)state;
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "1024 bits");
	o.key = F->p521;
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "P-521");
	o.key = F->ed25519;
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "ED25519");
}

static void test_csr_bad_signature(void **state)
{
	struct csr_opt o = { .key = F->p256,
			     .san = "email:alice@example.test",
			     .corrupt = 1 };

	(void)state;
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "self-signature");
	o.key = F->rsa2048;
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "self-signature");
}

static void test_csr_requests(void **state)
{
	struct csr_opt o = { .key = F->p256,
			     .san = "email:alice@example.test",
			     .ku = "keyCertSign" };

	(void)state;
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "keyCertSign");
	o.ku = "digitalSignature,keyEncipherment"; /* not for EC */
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "keyEncipherment");
	o.key = F->rsa2048;
	o.ku = "keyAgreement"; /* not for RSA */
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "keyAgreement");
	o.ku = "dataEncipherment";
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "dataEncipherment");
	o.ku = NULL;
	o.eku = "emailProtection,clientAuth";
	assert_refused(&o, "alice@example.test", LL_EPOLICY,
		       "extendedKeyUsage");
	o.eku = NULL;
	o.bc = "critical,CA:TRUE";
	assert_refused(&o, "alice@example.test", LL_EPOLICY, "CA");
}

static void test_csr_garbage(void **state)
{
	static const char junk[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
				   "bm90IGEgcmVxdWVzdA==\n"
				   "-----END CERTIFICATE REQUEST-----\n";
	struct ll_ca_csr *csr = NULL;
	char *big;

	(void)state;
	assert_int_equal(ll_ca_csr_parse(&csr, junk, sizeof(junk) - 1,
					 "a@example.test", NULL),
			 LL_EPARSE);
	assert_int_equal(ll_ca_csr_parse(&csr, "\x30\x03\x02\x01\x00", 5,
					 "a@example.test", NULL),
			 LL_EPARSE);
	big = calloc(1, LL_CA_CSR_MAX + 1);
	assert_non_null(big);
	assert_int_equal(ll_ca_csr_parse(&csr, big, LL_CA_CSR_MAX + 1,
					 "a@example.test", NULL),
			 LL_ETOOBIG);
	free(big);
	assert_null(csr);
}

static void test_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"alice",
		"@example.test",
		"alice@",
		"a..b@example.test",
		".a@example.test",
		"a.@example.test",
		"\"quoted\"@example.test",
		"a b@example.test",
		"alice@localhost",
		"alice@-x.example",
		"alice@x-.example",
		"alice@ab--cd.example",
		"alice@example.123",
		"alice@exa_mple.test",
		"alice@example.test.",
		"alice@M\xc3\x9cNCHEN.example", /* upper-case U-label */
		"alice@xn--abc.example", /* not a valid A-label */
		"al\xc3ice@example.test", /* not UTF-8 */
		/* a local part of 65 octets */
		("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaa@example.test"),
	};
	struct ll_mailbox m;

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(bad); i++)
		if (ll_mailbox_parse(&m, bad[i], strlen(bad[i]), NULL) !=
		    LL_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(
		ll_mailbox_parse(&m, "x+tag@Sub.Example.TEST", 22, NULL), 0);
	assert_string_equal(m.addr, "x+tag@sub.example.test");
	assert_false(m.utf8_local);
}

/* An RSA public key from N and E. */
static EVP_PKEY *rsa_pub(const BIGNUM *n, unsigned long e)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *be = BN_new();
	OSSL_PARAM *p;
	EVP_PKEY *k = NULL;

	assert_true(b && c && be && BN_set_word(be, e));
	assert_true(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n));
	assert_true(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be));
	p = OSSL_PARAM_BLD_to_param(b);
	assert_true(EVP_PKEY_fromdata_init(c) == 1 &&
		    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) == 1);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(be);
	return k;
}

/* BR 6.1.6: exponent odd in 2^16+1..2^256-1, modulus odd, no factor
 * below 752 */
static void test_rsa_key_quality(void **state)
{
	BIGNUM *n = NULL, *m = BN_new();
	EVP_PKEY *k;

	(void)state;
	assert_true(
		EVP_PKEY_get_bn_param(F->rsa2048, OSSL_PKEY_PARAM_RSA_N, &n));
	assert_null(ll_rsa_key_problem(F->rsa2048));
	k = rsa_pub(n, 3);
	assert_non_null(strstr(ll_rsa_key_problem(k), "exponent"));
	EVP_PKEY_free(k);
	assert_true(BN_copy(m, n) && BN_add_word(m, 1)); /* even */
	k = rsa_pub(m, 65537);
	assert_non_null(strstr(ll_rsa_key_problem(k), "even"));
	EVP_PKEY_free(k);
	for (BN_ULONG f = 3; f < 752; f += 374) { /* 3, 377 = 13*29, 751 */
		assert_true(BN_copy(m, n) && BN_mul_word(m, f));
		k = rsa_pub(m, 65537);
		assert_non_null(strstr(ll_rsa_key_problem(k), "752"));
		EVP_PKEY_free(k);
	}
	assert_true(BN_copy(m, n) && BN_mul_word(m, 757)); /* a prime > 751 */
	k = rsa_pub(m, 65537);
	assert_null(ll_rsa_key_problem(k));
	EVP_PKEY_free(k);
	BN_free(n);
	BN_free(m);
}

/* ------------------------------------ requests rebuilt from an SPKI */

/* KEY's SubjectPublicKeyInfo, DER, malloc'd. */
static unsigned char *key_spki(EVP_PKEY *key, size_t *len)
{
	unsigned char *der = NULL, *out;
	int n = i2d_PUBKEY(key, &der);

	assert_true(n > 0);
	out = malloc((size_t)n + 1); /* room for a trailing octet */
	assert_non_null(out);
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return out;
}

/* A's and B's to-be-signed parts are the same but for the serial. */
static void assert_same_but_serial(X509 *a, X509 *b)
{
	ASN1_INTEGER *sn = ASN1_INTEGER_dup(X509_get0_serialNumber(a));
	unsigned char *ta = NULL, *tb = NULL;
	int na, nb;

	assert_non_null(sn);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
					      X509_get0_serialNumber(b)),
			     0);
	assert_true(X509_set_serialNumber(b, sn));
	na = i2d_re_X509_tbs(a, &ta);
	nb = i2d_re_X509_tbs(b, &tb);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(ta, tb, (size_t)na);
	OPENSSL_free(ta);
	OPENSSL_free(tb);
	ASN1_INTEGER_free(sn);
}

/* A CSR and the request rebuilt from its SPKI, address and usage give
 * the same certificate (to the serial), keyUsage and all. */
static void test_spki_round_trip(void **state)
{
	static const struct {
		const char *email, *san, *utf8, *ku;
		unsigned usage;
		int key; /* 0 RSA-2048, 1 P-256, 2 P-384 */
	} cases[] = {
		{ "alice@example.test", "email:alice@example.test", NULL, NULL,
		  0, 0 },
		{ "alice@Example.TEST", "email:alice@example.test", NULL,
		  "digitalSignature", LL_CA_USAGE_SIGN, 1 },
		{ "alice@example.test", "email:alice@example.test", NULL,
		  "keyAgreement", LL_CA_USAGE_ENCRYPT, 2 },
		{ "alice@example.test", "email:alice@example.test", NULL,
		  "keyEncipherment", LL_CA_USAGE_ENCRYPT, 0 },
		{ MAKE "@example.test", NULL, MAKE "@example.test", NULL, 0,
		  1 },
	};
	struct ll_ca_issue_options io = LL_CA_ISSUE_OPTIONS_INIT;
	EVP_PKEY *keys[3] = { F->rsa2048, F->p256, F->p384 };

	(void)state;
	io.now = time(NULL); /* one moment for both: the same validity */
	for (size_t i = 0; i < LL_ARRAY_SIZE(cases); i++) {
		struct csr_opt o = { .key = keys[cases[i].key],
				     .san = cases[i].san,
				     .utf8 = cases[i].utf8,
				     .ku = cases[i].ku };
		struct ll_error err = { 0 };
		struct ll_ca_csr *csr = NULL, *re = NULL;
		struct ll_cert *a = NULL, *b = NULL;
		unsigned char *spki = NULL, *spki2 = NULL, *want;
		unsigned char *rawder = NULL, *spki3 = NULL;
		const unsigned char *p;
		X509 *raw = NULL, *parsed;
		size_t len = 0, len2 = 0, wantlen = 0;
		int rawlen;

		assert_int_equal(parse_csr(&csr, &o, cases[i].email, &err), 0);
		assert_int_equal(ll_ca_csr_usage(csr), cases[i].usage);
		assert_int_equal(ll_ca_csr_spki(&spki, &len, csr, &err), 0);
		want = key_spki(o.key, &wantlen);
		assert_int_equal(len, wantlen);
		assert_memory_equal(spki, want, len);
		if (ll_ca_csr_from_spki(&re, spki, len, cases[i].email,
					ll_ca_csr_usage(csr), &err) < 0)
			fail_msg("case %zu: %s", i, err.message);
		assert_string_equal(ll_ca_csr_email(re), ll_ca_csr_email(csr));
		assert_int_equal(ll_ca_csr_usage(re), cases[i].usage);
		assert_int_equal(ll_ca_csr_spki(&spki2, &len2, re, &err), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(spki2, spki, len);
		assert_int_equal(ll_ca_issue(&a, F->ca, csr, &io, &err), 0);
		assert_int_equal(ll_ca_issue(&b, F->ca, re, &io, &err), 0);
		assert_lint_clean(ll_cert_x509(b), ll_ca_csr_email(re));
		assert_true(chain_ok(ll_cert_x509(b), F->issuer, 0));
		assert_same_but_serial(ll_cert_x509(a), ll_cert_x509(b));
		/* the keyholder's way: the key's octets put in as they came;
		 * parsed again, the same certificate but for the serial */
		assert_int_equal(ll_ca_issue_x509(&raw, F->ca, re, &io, &err),
				 0);
		assert_null(X509_get0_pubkey(raw));
		rawlen = i2d_X509(raw, &rawder);
		assert_true(rawlen > 0);
		p = rawder;
		parsed = d2i_X509(NULL, &p, rawlen);
		assert_non_null(parsed);
		assert_ptr_equal(p, rawder + rawlen);
		assert_int_equal(i2d_X509_PUBKEY(X509_get_X509_PUBKEY(parsed),
						 &spki3),
				 (int)len);
		assert_memory_equal(spki3, spki, len);
		assert_lint_clean(parsed, ll_ca_csr_email(re));
		assert_true(chain_ok(parsed, F->issuer, 0));
		assert_same_but_serial(ll_cert_x509(a), parsed);
		OPENSSL_free(spki3);
		spki3 = NULL;
		OPENSSL_free(rawder);
		rawder = NULL;
		X509_free(parsed);
		X509_free(raw);
		ll_cert_free(&a);
		ll_cert_free(&b);
		ll_ca_csr_free(&re);
		ll_ca_csr_free(&csr);
		free(want);
		free(spki);
		free(spki2);
	}
}

static void assert_spki_refused(const unsigned char *spki, size_t len,
				const char *email, unsigned usage, int code,
				const char *needle)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *re = NULL;
	int rc = ll_ca_csr_from_spki(&re, spki, len, email, usage, &err);

	assert_null(re);
	assert_code(rc, &err, code, needle);
}

static void test_spki_refused(void **state)
{
	static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	const char *a = "alice@example.test";
	unsigned char *spki, *big, *longform;
	size_t len = 0;
	BIGNUM *n = NULL;
	EVP_PKEY *k;

	(void)state;
	/* not an SPKI; cut short; an octet after it */
	assert_spki_refused(junk, sizeof(junk), a, 0, LL_EPARSE, NULL);
	spki = key_spki(F->p256, &len);
	assert_spki_refused(spki, 0, a, 0, LL_EPARSE, NULL);
	assert_spki_refused(spki, len - 1, a, 0, LL_EPARSE, NULL);
	spki[len] = 0x00;
	assert_spki_refused(spki, len + 1, a, 0, LL_EPARSE, NULL);
	/* the same key, the outer length in a long form: not DER */
	assert_true(spki[0] == 0x30 && spki[1] < 0x80);
	longform = malloc(len + 1);
	assert_non_null(longform);
	longform[0] = 0x30;
	longform[1] = 0x81;
	memcpy(longform + 2, spki + 1, len - 1);
	assert_spki_refused(longform, len + 1, a, 0, LL_EPARSE, "encoding");
	free(longform);
	/* a point off the curve: the last octet of y changed */
	spki[len - 1] ^= 0x01;
	assert_spki_refused(spki, len, a, 0, LL_EPARSE, NULL);
	spki[len - 1] ^= 0x01;
	/* usage bits and addresses */
	assert_spki_refused(spki, len, a, 4, LL_EINVAL, "usage");
	assert_spki_refused(spki, len, a, 0x80000001u, LL_EINVAL, "usage");
	assert_spki_refused(spki, len, "alice", 0, LL_EINVAL, NULL);
	assert_spki_refused(spki, len, "a b@example.test", 0, LL_EINVAL, NULL);
	assert_spki_refused(spki, len, "", 0, LL_EINVAL, NULL);
	free(spki);
	big = calloc(1, LL_CA_SPKI_MAX + 1);
	assert_non_null(big);
	assert_spki_refused(big, LL_CA_SPKI_MAX + 1, a, 0, LL_ETOOBIG, NULL);
	free(big);
	/* the keys a CSR may not have (check_key, as for CSRs) */
	spki = key_spki(F->rsa1024, &len);
	assert_spki_refused(spki, len, a, 0, LL_EPOLICY, "1024 bits");
	free(spki);
	spki = key_spki(F->p521, &len);
	assert_spki_refused(spki, len, a, 0, LL_EPOLICY, "P-521");
	free(spki);
	spki = key_spki(F->ed25519, &len);
	assert_spki_refused(spki, len, a, 0, LL_EPOLICY, "ED25519");
	free(spki);
	assert_true(
		EVP_PKEY_get_bn_param(F->rsa2048, OSSL_PKEY_PARAM_RSA_N, &n));
	k = rsa_pub(n, 3);
	spki = key_spki(k, &len);
	assert_spki_refused(spki, len, a, 0, LL_EPOLICY, "exponent");
	free(spki);
	EVP_PKEY_free(k);
	BN_free(n);
}

/* --------------------------------------------------------------- lint */

enum mut {
	M_NONE,
	M_VERSION1,
	M_SERIAL_SHORT,
	M_SERIAL_NEG,
	M_VALIDITY_826,
	M_VALIDITY_GENTIME,
	M_ISSUER_NAME,
	M_KEY_RSA1024,
	M_KEY_P521,
	M_SIG_SHA384,
	M_BC_MISSING,
	M_BC_CA,
	M_BC_NONCRIT,
	M_KU_MISSING,
	M_KU_NONCRIT,
	M_KU_EC_KEYENC,
	M_KU_RSA_DATAENC,
	M_KU_NO_PURPOSE,
	M_EKU_MISSING,
	M_EKU_CLIENTAUTH,
	M_POLICY_MISSING,
	M_POLICY_LEGACY,
	M_POLICY_TWO,
	M_POLICY_ANY,
	M_CRLDP_MISSING,
	M_CRLDP_LDAP,
	M_AIA_MISSING,
	M_AIA_NO_OCSP,
	M_AIA_HTTPS,
	M_AIA_CRITICAL,
	M_AKI_MISSING,
	M_AKI_OTHER,
	M_AKI_ISSUER_SERIAL,
	M_SKI_MISSING,
	M_SKI_WRONG,
	M_SAN_MISSING,
	M_SAN_EXTRA_DNS,
	M_SAN_OTHER_ADDR,
	M_SAN_UPPER_DOMAIN,
	M_SAN_UTF8_ASCII,
	M_SAN_CRIT,
	M_EMPTY_SUBJECT,
	M_SUBJECT_ORG,
	M_SUBJECT_CN_OTHER,
	M_EXT_UNKNOWN,
	M_EXT_DUPLICATE,
};

struct lint_case {
	enum mut m;
	const char *rule;
};

static void add_conf_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	CONF *db = NCONF_new(NULL); /* certificatePolicies wants one */
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	assert_non_null(db);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509V3_set_nconf(&ctx, db);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	if (e == NULL)
		fail_msg("extension %d = %s", nid, v);
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
	NCONF_free(db);
}

/* A certificate for alice@example.test under the S/MIME CA, built
 * without the builder, wrong in exactly the way M says. */
static X509 *lint_cert(enum mut m)
{
	static const unsigned char serial[16] = {
		0x5a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	};
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	EVP_PKEY *key = F->p256;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	time_t nb = 1800000000;
	long days = m == M_VALIDITY_826 ? 826 : 365;
	const char *ku = "critical,digitalSignature,keyAgreement";
	const char *san = "email:alice@example.test";
	const char *aia = "OCSP;URI:" OCSP_URL ",caIssuers;URI:" ISSUERS_URL;

	assert_true(x && nm && bn);
	if (m == M_KEY_RSA1024 || m == M_KU_RSA_DATAENC) {
		key = m == M_KEY_RSA1024 ? F->rsa1024 : F->rsa2048;
		ku = "critical,digitalSignature,keyEncipherment";
	}
	if (m == M_KEY_P521)
		key = F->p521;
	assert_true(X509_set_version(x, m == M_VERSION1 ? X509_VERSION_1 :
							  X509_VERSION_3));
	if (m == M_SERIAL_SHORT)
		BN_set_word(bn, 0x1234);
	if (m == M_SERIAL_NEG)
		BN_set_negative(bn, 1);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	BN_free(bn);
	if (m == M_ISSUER_NAME) {
		X509_NAME *other = X509_NAME_new();

		X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_ASC,
					   (const unsigned char *)"Other CA",
					   -1, -1, 0);
		X509_set_issuer_name(x, other);
		X509_NAME_free(other);
	} else {
		X509_set_issuer_name(x, X509_get_subject_name(F->issuer));
	}
	ASN1_TIME_set(X509_getm_notBefore(x), nb);
	ASN1_TIME_set(X509_getm_notAfter(x), nb + days * 86400 - 1);
	if (m == M_VALIDITY_GENTIME)
		ASN1_GENERALIZEDTIME_set(X509_getm_notAfter(x),
					 nb + days * 86400 - 1);
	if (m != M_EMPTY_SUBJECT)
		X509_NAME_add_entry_by_NID(
			nm, NID_commonName, MBSTRING_UTF8,
			(const unsigned char *)(m == M_SUBJECT_CN_OTHER ?
							"bob@example.test" :
							"alice@example.test"),
			-1, -1, 0);
	if (m == M_SUBJECT_ORG)
		X509_NAME_add_entry_by_NID(nm, NID_organizationName,
					   MBSTRING_UTF8,
					   (const unsigned char *)"Evil Inc",
					   -1, -1, 0);
	X509_set_subject_name(x, nm);
	X509_NAME_free(nm);
	X509_set_pubkey(x, key);

	if (m == M_BC_CA)
		add_conf_ext(x, F->issuer, NID_basic_constraints,
			     "critical,CA:TRUE");
	else if (m == M_BC_NONCRIT)
		add_conf_ext(x, F->issuer, NID_basic_constraints, "CA:FALSE");
	else if (m != M_BC_MISSING)
		add_conf_ext(x, F->issuer, NID_basic_constraints,
			     "critical,CA:FALSE");
	if (m == M_KU_NONCRIT)
		ku = "digitalSignature,keyAgreement";
	if (m == M_KU_EC_KEYENC)
		ku = "critical,digitalSignature,keyEncipherment";
	if (m == M_KU_RSA_DATAENC)
		ku = "critical,digitalSignature,keyEncipherment,"
		     "dataEncipherment";
	if (m == M_KU_NO_PURPOSE)
		ku = "critical,nonRepudiation";
	if (m != M_KU_MISSING)
		add_conf_ext(x, F->issuer, NID_key_usage, ku);
	if (m == M_EKU_CLIENTAUTH)
		add_conf_ext(x, F->issuer, NID_ext_key_usage,
			     "emailProtection,clientAuth");
	else if (m != M_EKU_MISSING)
		add_conf_ext(x, F->issuer, NID_ext_key_usage,
			     "emailProtection");
	if (m == M_EXT_DUPLICATE)
		add_conf_ext(x, F->issuer, NID_ext_key_usage,
			     "emailProtection");
	if (m == M_POLICY_LEGACY)
		add_conf_ext(x, F->issuer, NID_certificate_policies,
			     "2.23.140.1.5.1.1");
	else if (m == M_POLICY_TWO)
		add_conf_ext(x, F->issuer, NID_certificate_policies,
			     "2.23.140.1.5.1.3,2.23.140.1.5.1.2");
	else if (m == M_POLICY_ANY)
		add_conf_ext(x, F->issuer, NID_certificate_policies,
			     "2.23.140.1.5.1.3,2.5.29.32.0");
	else if (m != M_POLICY_MISSING)
		add_conf_ext(x, F->issuer, NID_certificate_policies,
			     "2.23.140.1.5.1.3");
	if (m == M_SKI_WRONG)
		add_conf_ext(x, F->issuer, NID_subject_key_identifier,
			     "0102030405060708090a0b0c0d0e0f1011121314");
	else if (m != M_SKI_MISSING)
		add_conf_ext(x, F->issuer, NID_subject_key_identifier, "hash");
	if (m == M_AKI_OTHER)
		add_conf_ext(x, F->root, NID_authority_key_identifier,
			     "keyid:always");
	else if (m == M_AKI_ISSUER_SERIAL)
		add_conf_ext(x, F->issuer, NID_authority_key_identifier,
			     "keyid:always,issuer:always");
	else if (m != M_AKI_MISSING)
		add_conf_ext(x, F->issuer, NID_authority_key_identifier,
			     "keyid:always");
	if (m == M_CRLDP_LDAP)
		add_conf_ext(x, F->issuer, NID_crl_distribution_points,
			     "URI:ldap://ca.test/cn=crl");
	else if (m != M_CRLDP_MISSING)
		add_conf_ext(x, F->issuer, NID_crl_distribution_points,
			     "URI:" CRL_URL);
	if (m == M_AIA_NO_OCSP)
		aia = "caIssuers;URI:" ISSUERS_URL;
	if (m == M_AIA_HTTPS)
		aia = "OCSP;URI:https://ca.test/ocsp,caIssuers;URI:" ISSUERS_URL;
	if (m == M_AIA_CRITICAL)
		aia = "critical,OCSP;URI:" OCSP_URL
		      ",caIssuers;URI:" ISSUERS_URL;
	if (m != M_AIA_MISSING)
		add_conf_ext(x, F->issuer, NID_info_access, aia);
	if (m == M_SAN_EXTRA_DNS)
		san = "email:alice@example.test,DNS:example.test";
	if (m == M_SAN_OTHER_ADDR)
		san = "email:bob@example.test";
	if (m == M_SAN_UPPER_DOMAIN)
		san = "email:alice@EXAMPLE.test";
	if (m == M_SAN_UTF8_ASCII)
		san = "otherName:1.3.6.1.5.5.7.8.9;UTF8:alice@example.test";
	if (m == M_SAN_CRIT || m == M_EMPTY_SUBJECT)
		san = m == M_SAN_CRIT ? "critical,email:alice@example.test" :
					"email:alice@example.test";
	if (m != M_SAN_MISSING)
		add_conf_ext(x, F->issuer, NID_subject_alt_name, san);
	if (m == M_EXT_UNKNOWN)
		add_conf_ext(x, F->issuer, NID_netscape_comment, "hello");
	assert_true(X509_sign(x, F->issuer_key,
			      m == M_SIG_SHA384 ? EVP_sha384() : EVP_sha256()));
	return x;
}

static void test_lint_good(void **state)
{
	X509 *x = lint_cert(M_NONE);
	struct ll_ca_lint_report *r = NULL;
	struct ll_cert *c = NULL, *issuer;
	unsigned char *der = NULL;
	int n;

	(void)state;
	assert_lint_clean(x, "alice@example.test");
	assert_lint_clean(x, NULL);
	/* the public entry point, on the DER */
	n = i2d_X509(x, &der);
	assert_int_equal(ll_cert_parse(&c, der, (size_t)n, NULL), 0);
	issuer = ll_ca_hierarchy_cert(F->h, LL_CA_SMIME);
	assert_int_equal(ll_ca_lint(&r, c, issuer, "alice@example.test", NULL),
			 0);
	assert_int_equal(ll_ca_lint_count(r), 0);
	assert_null(ll_ca_lint_violation(r, 0));
	ll_ca_lint_free(&r);
	/* another validated address: the lint names it */
	assert_int_equal(ll_ca_lint(&r, c, issuer, "bob@example.test", NULL),
			 0);
	assert_true(ll_ca_lint_has(r, "san.address"));
	ll_ca_lint_free(&r);
	/* issued by another CA: issuer name and AKI differ */
	assert_int_equal(ll_ca_lint(&r, c,
				    ll_ca_hierarchy_cert(F->h, LL_CA_TSA), NULL,
				    NULL),
			 0);
	assert_true(ll_ca_lint_has(r, "issuer.name"));
	assert_true(ll_ca_lint_has(r, "aki.match"));
	ll_ca_lint_free(&r);
	assert_int_equal(ll_ca_lint(&r, c, NULL, NULL, NULL), LL_EINVAL);
	OPENSSL_free(der);
	ll_cert_free(&c);
	X509_free(x);
}

static void test_lint_case(void **state)
{
	const struct lint_case *lc = *state;
	X509 *x = lint_cert(lc->m);
	struct ll_ca_lint_report *r = NULL;

	assert_int_equal(ll_ca_lint_x509(&r, x, F->issuer, "alice@example.test",
					 NULL),
			 0);
	if (!ll_ca_lint_has(r, lc->rule)) {
		for (size_t i = 0; i < ll_ca_lint_count(r); i++)
			print_message("# got %s\n", ll_ca_lint_violation(r, i));
		fail_msg("no %s violation", lc->rule);
	}
	ll_ca_lint_free(&r);
	X509_free(x);
}

#define LINT(mut, rule)                                                 \
	{                                                               \
		"lint " rule " (" #mut ")", test_lint_case, NULL, NULL, \
			&(struct lint_case)                             \
		{                                                       \
			mut, rule                                       \
		}                                                       \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hierarchy),
		cmocka_unit_test(test_hierarchy_options),
		cmocka_unit_test(test_empty_crl),
		cmocka_unit_test(test_issue_rsa),
		cmocka_unit_test(test_issue_ec_usages),
		cmocka_unit_test(test_issue_unicode),
		cmocka_unit_test(test_issue_idn_domain),
		cmocka_unit_test(test_issue_long_address),
		cmocka_unit_test(test_issue_validity),
		cmocka_unit_test(test_issue_refused_by_lint),
		cmocka_unit_test(test_csr_wrong_address),
		cmocka_unit_test(test_csr_extra_names),
		cmocka_unit_test(test_csr_weak_keys),
		cmocka_unit_test(test_csr_bad_signature),
		cmocka_unit_test(test_csr_requests),
		cmocka_unit_test(test_csr_garbage),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_match_idn_domain),
		cmocka_unit_test(test_match_local_part),
		cmocka_unit_test(test_rsa_key_quality),
		cmocka_unit_test(test_spki_round_trip),
		cmocka_unit_test(test_spki_refused),
		cmocka_unit_test(test_lint_good),
		LINT(M_VERSION1, "version"),
		LINT(M_SERIAL_SHORT, "serial.entropy"),
		LINT(M_SERIAL_NEG, "serial.positive"),
		LINT(M_VALIDITY_826, "validity.max"),
		LINT(M_VALIDITY_GENTIME, "validity.encoding"),
		LINT(M_ISSUER_NAME, "issuer.name"),
		LINT(M_KEY_RSA1024, "key.rsa-size"),
		LINT(M_KEY_P521, "key.type"),
		LINT(M_SIG_SHA384, "sigalg"),
		LINT(M_BC_MISSING, "bc.missing"),
		LINT(M_BC_CA, "bc.ca"),
		LINT(M_BC_NONCRIT, "bc.critical"),
		LINT(M_KU_MISSING, "ku.missing"),
		LINT(M_KU_NONCRIT, "ku.critical"),
		LINT(M_KU_EC_KEYENC, "ku.bits"),
		LINT(M_KU_RSA_DATAENC, "ku.bits"),
		LINT(M_KU_NO_PURPOSE, "ku.purpose"),
		LINT(M_EKU_MISSING, "eku.missing"),
		LINT(M_EKU_CLIENTAUTH, "eku.strict"),
		LINT(M_POLICY_MISSING, "policy.missing"),
		LINT(M_POLICY_LEGACY, "policy.reserved"),
		LINT(M_POLICY_TWO, "policy.reserved"),
		LINT(M_POLICY_ANY, "policy.any"),
		LINT(M_CRLDP_MISSING, "crldp.missing"),
		LINT(M_CRLDP_LDAP, "crldp.scheme"),
		LINT(M_AIA_MISSING, "aia.missing"),
		LINT(M_AIA_NO_OCSP, "aia.ocsp"),
		LINT(M_AIA_HTTPS, "aia.scheme"),
		LINT(M_AIA_CRITICAL, "aia.critical"),
		LINT(M_AKI_MISSING, "aki.missing"),
		LINT(M_AKI_OTHER, "aki.match"),
		LINT(M_AKI_ISSUER_SERIAL, "aki.fields"),
		LINT(M_SKI_MISSING, "ski.missing"),
		LINT(M_SKI_WRONG, "ski.value"),
		LINT(M_SAN_MISSING, "san.missing"),
		LINT(M_SAN_EXTRA_DNS, "san.count"),
		LINT(M_SAN_EXTRA_DNS, "san.type"),
		LINT(M_SAN_OTHER_ADDR, "san.address"),
		LINT(M_SAN_OTHER_ADDR, "subject.cn"),
		LINT(M_SAN_UPPER_DOMAIN, "san.domain"),
		LINT(M_SAN_UTF8_ASCII, "san.utf8-ascii"),
		LINT(M_SAN_CRIT, "san.critical"),
		LINT(M_EMPTY_SUBJECT, "san.critical"),
		LINT(M_SUBJECT_ORG, "subject.attribute"),
		LINT(M_SUBJECT_CN_OTHER, "subject.cn"),
		LINT(M_EXT_UNKNOWN, "ext.unknown"),
		LINT(M_EXT_DUPLICATE, "ext.duplicate"),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
