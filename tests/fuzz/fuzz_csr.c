/*
 * fuzz_csr.c - certificate requests and mailbox addresses as the CA
 * takes them (src/lib/ca_csr.c, src/lib/ca_addr.c):
 *
 *  - ll_ca_csr_parse on the input (PEM or DER) for alice@example.test
 *    and for 马克@example.test;
 *  - when OpenSSL reads the input as a CSR, the same request re-signed
 *    with a fixed P-256 key of ours, so that mutated requests get past
 *    the self-signature and into the name, subject and extension
 *    checks: for both addresses above and for the address its first
 *    subjectAltName names;
 *  - ll_mailbox_parse on the raw input as an address;
 *  - ll_ca_csr_from_spki (the keyholder's side) on the raw input as a
 *    SubjectPublicKeyInfo, and on the key of a CSR OpenSSL reads.
 *
 * A CSR accepted for an address must carry that address, exactly it and
 * nothing else (checked here with OpenSSL, not with ca_csr.c), have a
 * self-signature that verifies and a key of a kind the profile allows;
 * a refused one leaves *out NULL with a message.  An address that
 * parses is NUL-terminated, valid UTF-8, one '@', the local part as
 * given and the domain lower-case LDH (A-labels), and parses again to
 * itself.  An SPKI the keyholder takes is one OpenSSL reads whole, and
 * the key taken is the key OpenSSL reads.
 *
 * Seeds (corpus/fuzz_csr/): `openssl req` requests, RSA-2048, EC
 * P-256/P-384 (and P-521, RSA-1024, Ed25519 to be refused), with and
 * without subjectAltName, extra names, otherName SmtpUTF8Mailbox,
 * keyUsage/EKU/basicConstraints requests, PEM and DER, damaged
 * copies, and address strings (addr-*).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca_internal.h"
#include "fuzz.h"

static const char *const addrs[] = {
	"alice@example.test",
	"\xe9\xa9\xac\xe5\x85\x8b@example.test", /* 马克@example.test */
};

/* A throw-away test key (P-256), to re-sign mutated requests. */
static const char fixed_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpPgMOg05mKKLAG72\n"
	"f3cHuxVodxsWnsdz4W0+4//pqfuhRANCAATwxXMAiA4BCmALP7cWs9euo0Chutwy\n"
	"dtzjqHt88lvMEIEt4/Jkp+PYeAatajk2+oDBp2yvjYs0SmFKjpPX5WbB\n"
	"-----END PRIVATE KEY-----\n";

static EVP_PKEY *fixed_key(void)
{
	static EVP_PKEY *k;
	BIO *b;

	if (k == NULL) {
		b = BIO_new_mem_buf(fixed_key_pem, -1);
		CHECK(b != NULL);
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		CHECK(k != NULL);
	}
	return k;
}

static int has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static int all_ascii(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 0;
	return 1;
}

/* The invariants of a mailbox that parsed from S[0..LEN). */
static void check_mailbox(const struct ll_mailbox *m, const char *s,
			  size_t len)
{
	struct ll_mailbox again;
	const char *at, *in_at, *dom, *p;
	size_t chars = 0, llen, labels = 0, lab = 0;
	GENERAL_NAME *g;
	char text[200];

	CHECK(m->len > 0 && m->len <= LL_MAILBOX_MAX);
	CHECK(memchr(m->addr, '\0', sizeof(m->addr)) == m->addr + m->len);
	CHECK(ll_utf8_valid((const unsigned char *)m->addr, m->len, &chars));
	CHECK(chars == m->chars && chars <= m->len);
	at = strchr(m->addr, '@');
	CHECK(at != NULL && strchr(at + 1, '@') == NULL);
	llen = (size_t)(at - m->addr);
	CHECK(llen >= 1 && llen <= LL_MAILBOX_LOCAL_MAX);
	/* the local part as given */
	in_at = memrchr(s, '@', len);
	CHECK(in_at != NULL && (size_t)(in_at - s) == llen);
	CHECK(memcmp(m->addr, s, llen) == 0);
	CHECK(m->utf8_local ==
	      !all_ascii((const unsigned char *)m->addr, llen));
	/* the domain: lower-case LDH labels, at least two, each 1..63 */
	dom = at + 1;
	for (p = dom; *p != '\0'; p++) {
		if (*p == '.') {
			CHECK(lab >= 1 && lab <= 63);
			labels++;
			lab = 0;
			continue;
		}
		CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-');
		lab++;
	}
	CHECK(lab >= 1 && lab <= 63);
	CHECK(labels + 1 >= 2);
	/* an ASCII domain is only lower-cased (xn-- labels included) */
	if (all_ascii((const unsigned char *)in_at + 1,
		      len - (size_t)(in_at - s) - 1)) {
		CHECK(strlen(dom) == len - (size_t)(in_at - s) - 1);
		CHECK(strncasecmp(dom, in_at + 1, strlen(dom)) == 0);
	}
	/* canonical is a fixed point */
	CHECK(ll_mailbox_parse(&again, m->addr, m->len, NULL) == 0);
	CHECK(again.len == m->len && strcmp(again.addr, m->addr) == 0);
	CHECK(again.utf8_local == m->utf8_local && again.chars == m->chars);
	/* and the GeneralName carries it */
	g = ll_mailbox_general_name(m);
	CHECK(g != NULL);
	if (m->utf8_local) {
		CHECK(g->type == GEN_OTHERNAME);
		CHECK(OBJ_obj2nid(g->d.otherName->type_id) ==
		      NID_id_on_SmtpUTF8Mailbox);
		CHECK(g->d.otherName->value->type == V_ASN1_UTF8STRING);
		CHECK(ASN1_STRING_length(g->d.otherName->value->value
						 .utf8string) == (int)m->len);
		CHECK(memcmp(ASN1_STRING_get0_data(
				     g->d.otherName->value->value.utf8string),
			     m->addr, m->len) == 0);
	} else {
		CHECK(g->type == GEN_EMAIL);
		CHECK(ASN1_STRING_length(g->d.rfc822Name) == (int)m->len);
		CHECK(memcmp(ASN1_STRING_get0_data(g->d.rfc822Name), m->addr,
			     m->len) == 0);
	}
	memset(text, 'x', sizeof(text));
	ll_general_name_text(text, sizeof(text), g);
	CHECK(memchr(text, '\0', sizeof(text)) != NULL);
	GENERAL_NAME_free(g);
}

static void mailbox(const uint8_t *data, size_t size)
{
	struct ll_error err = { 0 };
	struct ll_mailbox m;
	int rc = ll_mailbox_parse(&m, (const char *)data, size, &err);

	if (rc < 0) {
		CHECK(rc == LL_EINVAL && err.code == rc);
		CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
		CHECK(err.message[0] != '\0');
		CHECK(m.len == 0 && m.addr[0] == '\0');
		return;
	}
	check_mailbox(&m, (const char *)data, size);
}

/* The request as ll_ca_csr_parse reads it, for the independent checks
 * (PEM when it says so, else DER with nothing after it). */
static X509_REQ *read_req(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	X509_REQ *req = NULL;
	BIO *b;

	if (len >= 11 && p[0] != 0x30 &&
	    memmem(buf, len, "-----BEGIN ", 11) != NULL) {
		b = BIO_new_mem_buf(buf, (int)len);
		if (b != NULL)
			req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != (const unsigned char *)buf + len) {
			X509_REQ_free(req);
			req = NULL;
		}
	}
	ERR_clear_error();
	return req;
}

/* The string of a mailbox-form GeneralName, else NULL. */
static const ASN1_STRING *mailbox_string(const GENERAL_NAME *g)
{
	if (g->type == GEN_EMAIL)
		return g->d.rfc822Name;
	if (g->type == GEN_OTHERNAME &&
	    OBJ_obj2nid(g->d.otherName->type_id) == NID_id_on_SmtpUTF8Mailbox &&
	    g->d.otherName->value->type == V_ASN1_UTF8STRING)
		return g->d.otherName->value->value.utf8string;
	return NULL;
}

/* REQ was accepted for EMAIL (canonical CANON): check it carries that
 * address and no other, without ca_csr.c. */
static void check_accepted(X509_REQ *req, const struct ll_ca_csr *c,
			   const char *canon)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	const X509_NAME *nm = X509_REQ_get_subject_name(req);
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const ASN1_STRING *s;
	const unsigned char *p, *at;
	const char *cat = strrchr(canon, '@');
	EVP_PKEY *k;
	size_t n, llen;
	int crit = -1, bits;

	CHECK(strcmp(ll_ca_csr_email(c), canon) == 0);
	CHECK((ll_ca_csr_usage(c) & ~(unsigned)LL_CA_USAGE_BOTH) == 0);
	CHECK(X509_REQ_get_version(req) == X509_REQ_VERSION_1);

	/* self-signed by a key the profile allows */
	k = X509_REQ_get0_pubkey(req);
	CHECK(k != NULL);
	CHECK(X509_REQ_verify(req, k) == 1);
	bits = EVP_PKEY_get_bits(k);
	if (EVP_PKEY_is_a(k, "RSA")) {
		CHECK(bits >= 2048 && bits <= 8192 && bits % 8 == 0);
	} else {
		char group[64] = "";

		CHECK(EVP_PKEY_is_a(k, "EC"));
		CHECK(EVP_PKEY_get_group_name(k, group, sizeof(group), NULL));
		CHECK(strcmp(group, "prime256v1") == 0 ||
		      strcmp(group, "secp384r1") == 0);
	}

	/* exactly one subjectAltName, holding exactly the address */
	CHECK(exts != NULL);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	CHECK(gens != NULL);
	CHECK(sk_GENERAL_NAME_num(gens) == 1);
	g = sk_GENERAL_NAME_value(gens, 0);
	s = mailbox_string(g);
	CHECK(s != NULL);
	p = ASN1_STRING_get0_data(s);
	n = (size_t)ASN1_STRING_length(s);
	CHECK(!has_nul((const char *)p, n));
	if (g->type == GEN_EMAIL)
		CHECK(all_ascii(p, n)); /* IA5String */
	at = memrchr(p, '@', n);
	CHECK(at != NULL);
	llen = (size_t)(at - p);
	/* the local part byte for byte, the domain up to case (ASCII) or
	 * up to IDNA (U-labels) */
	CHECK(cat != NULL && (size_t)(cat - canon) == llen);
	CHECK(memcmp(p, canon, llen) == 0);
	if (all_ascii(at + 1, n - llen - 1)) {
		CHECK(strlen(cat + 1) == n - llen - 1);
		CHECK(strncasecmp(cat + 1, (const char *)at + 1,
				  n - llen - 1) == 0);
	}
	GENERAL_NAMES_free(gens);

	/* an emailAddress in the subject is the same address */
	for (int i = 0; i < X509_NAME_entry_count(nm); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
		unsigned char *u = NULL;
		struct ll_mailbox m;
		int un;

		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) !=
		    NID_pkcs9_emailAddress)
			continue;
		un = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
		CHECK(un >= 0); /* ca_csr.c refuses what does not decode */
		if (memchr(u, '@', (size_t)un) != NULL) {
			CHECK(ll_mailbox_parse(&m, (const char *)u, (size_t)un,
					       NULL) == 0);
			CHECK(strcmp(m.addr, canon) == 0);
		}
		OPENSSL_free(u);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
}

/* ll_ca_csr_parse(BUF, EMAIL) and its invariants. */
static void csr_for(const void *buf, size_t len, const char *email)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *c = NULL;
	struct ll_mailbox want;
	int want_rc, rc;
	X509_REQ *req;

	want_rc = ll_mailbox_parse(&want, email, strlen(email), NULL);
	rc = ll_ca_csr_parse(&c, buf, len, email, &err);
	if (rc < 0) {
		CHECK(c == NULL);
		CHECK(err.code == rc);
		CHECK(rc == LL_EINVAL || rc == LL_ETOOBIG || rc == LL_EPARSE ||
		      rc == LL_EPOLICY);
		CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
		CHECK(memchr(err.detail, '\0', sizeof(err.detail)) != NULL);
		CHECK(err.message[0] != '\0');
		/* an address that parses is never the reason */
		CHECK(want_rc == 0 || rc == LL_EINVAL || rc == LL_ETOOBIG);
		CHECK(want_rc < 0 || rc != LL_EINVAL);
		ERR_clear_error();
		return;
	}
	CHECK(rc == 0 && c != NULL);
	CHECK(want_rc == 0);
	CHECK(len <= LL_CA_CSR_MAX);
	req = read_req(buf, len);
	CHECK(req != NULL);
	check_accepted(req, c, want.addr);
	X509_REQ_free(req);
	ll_ca_csr_free(&c);
	CHECK(c == NULL);
	ERR_clear_error();
}

/* The first mailbox-form subjectAltName of REQ as a C string in BUF, or
 * NULL. */
static const char *first_san(X509_REQ *req, char *buf, size_t len)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *gens = NULL;
	const char *ret = NULL;

	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const ASN1_STRING *s =
			mailbox_string(sk_GENERAL_NAME_value(gens, i));
		size_t n;

		if (s == NULL)
			continue;
		n = (size_t)ASN1_STRING_length(s);
		if (n == 0 || n >= len ||
		    has_nul((const char *)ASN1_STRING_get0_data(s), n))
			break;
		memcpy(buf, ASN1_STRING_get0_data(s), n);
		buf[n] = '\0';
		ret = buf;
		break;
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	return ret;
}

/* The request re-signed with our key, so that the checks after the
 * self-signature see the fuzzer's names and extensions. */
static void resigned(const uint8_t *data, size_t size)
{
	X509_REQ *req;
	unsigned char *der = NULL;
	char email[1100];
	const char *san;
	int n;

	if (size > LL_CA_CSR_MAX)
		return;
	req = read_req(data, size);
	if (req == NULL)
		return;
	if (!X509_REQ_set_pubkey(req, fixed_key()) ||
	    X509_REQ_sign(req, fixed_key(), EVP_sha256()) <= 0)
		goto out;
	n = i2d_X509_REQ(req, &der);
	if (n <= 0)
		goto out;
	for (size_t i = 0; i < LL_ARRAY_SIZE(addrs); i++)
		csr_for(der, (size_t)n, addrs[i]);
	san = first_san(req, email, sizeof(email));
	if (san != NULL)
		csr_for(der, (size_t)n, san);
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	ERR_clear_error();
}

/* ll_ca_csr_from_spki(BUF) and its invariants. */
static void spki_for(const unsigned char *buf, size_t len)
{
	struct ll_error err = { 0 };
	struct ll_ca_csr *c = NULL;
	const unsigned char *p = buf;
	unsigned char *der = NULL;
	size_t derlen = 0;
	EVP_PKEY *want, *got;
	int rc;

	rc = ll_ca_csr_from_spki(&c, buf, len, "alice@example.test", 0, &err);
	if (rc < 0) {
		CHECK(c == NULL);
		CHECK(rc == LL_EPARSE || rc == LL_ETOOBIG || rc == LL_EPOLICY ||
		      rc == LL_ENOMEM);
		CHECK(err.message[0] != '\0');
		ERR_clear_error();
		return;
	}
	want = d2i_PUBKEY(NULL, &p, (long)len);
	CHECK(want != NULL && p == buf + len);
	CHECK(ll_ca_csr_spki(&der, &derlen, c, &err) == 0);
	p = der;
	got = d2i_PUBKEY(NULL, &p, (long)derlen);
	CHECK(got != NULL && EVP_PKEY_eq(want, got) == 1);
	EVP_PKEY_free(got);
	EVP_PKEY_free(want);
	free(der);
	ll_ca_csr_free(&c);
	ERR_clear_error();
}

/* The key of the CSR in BUF, if OpenSSL reads one, as the front would
 * hand it over (its SubjectPublicKeyInfo fields as they came). */
static void csr_spki(const void *buf, size_t len)
{
	X509_REQ *req = read_req(buf, len);
	unsigned char *spki = NULL;
	int n;

	if (req == NULL)
		return;
	n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
	if (n > 0)
		spki_for(spki, (size_t)n);
	OPENSSL_free(spki);
	X509_REQ_free(req);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < LL_ARRAY_SIZE(addrs); i++)
		csr_for(data, size, addrs[i]);
	resigned(data, size);
	mailbox(data, size);
	spki_for(data, size);
	csr_spki(data, size);
	return 0;
}
