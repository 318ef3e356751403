/*
 * cert.c - certificates (struct ll_cert) and identities (private key,
 * certificate, chain).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "ca_internal.h"

struct ll_cert {
	int refs;
	X509 *x;
	unsigned caps;
	char email[320];
	char subject[256];
	char fpr[65];
	int key_checked; /* 1: the public key passed ll_cert_key_check */
};

struct ll_identity {
	EVP_PKEY *key;
	struct ll_cert *cert;
	struct ll_cert **chain;
	size_t nchain;
};

/* ---- certificates ---- */

/* The address of an rfc822Name or an otherName SmtpUTF8Mailbox
 * (RFC 9598), or NULL for any other kind of name. */
static const ASN1_STRING *san_mailbox(const GENERAL_NAME *g)
{
	const ASN1_TYPE *v;

	if (g->type == GEN_EMAIL)
		return g->d.rfc822Name;
	if (g->type != GEN_OTHERNAME ||
	    OBJ_obj2nid(g->d.otherName->type_id) != NID_id_on_SmtpUTF8Mailbox)
		return NULL;
	v = g->d.otherName->value;
	return v != NULL && v->type == V_ASN1_UTF8STRING ? v->value.utf8string :
							   NULL;
}

int ll_x509_first_email(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens;
	int found = 0;

	buf[0] = '\0';
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !found; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		const ASN1_STRING *as = san_mailbox(g);

		if (as != NULL) {
			const unsigned char *s = ASN1_STRING_get0_data(as);
			int n = ASN1_STRING_length(as);

			if (n > 0 && (size_t)n < len &&
			    memchr(s, '\0', (size_t)n) == NULL) {
				memcpy(buf, s, (size_t)n);
				buf[n] = '\0';
				found = 1;
			}
		}
	}
	GENERAL_NAMES_free(gens);
	if (!found) {
		X509_NAME *nm = X509_get_subject_name(x);
		int idx = X509_NAME_get_index_by_NID(nm, NID_pkcs9_emailAddress,
						     -1);

		if (idx >= 0) {
			ASN1_STRING *d = X509_NAME_ENTRY_get_data(
				X509_NAME_get_entry(nm, idx));
			int n = ASN1_STRING_length(d);

			if (n > 0 && (size_t)n < len &&
			    memchr(ASN1_STRING_get0_data(d), '\0',
				   (size_t)n) == NULL) {
				memcpy(buf, ASN1_STRING_get0_data(d), (size_t)n);
				buf[n] = '\0';
				found = 1;
			}
		}
	}
	if (found)
		ll_addr_normalise(buf);
	return found;
}

/* The canonical form of the address S (N octets) into OUT, as the CA
 * writes it and PKX keys it (ll_mailbox_parse: local part as given,
 * domain in lower-case A-labels): 1, or 0 when S is not a mailbox we
 * accept (malformed IDNA included), which then matches nothing. */
static int canonical_of(char out[LL_MAILBOX_MAX + 1], const unsigned char *s,
			size_t n)
{
	struct ll_mailbox m;

	if (ll_mailbox_parse(&m, (const char *)s, n, NULL) < 0)
		return 0;
	memcpy(out, m.addr, m.len + 1);
	return 1;
}

/* Whether the address S (N octets, from a certificate) names the
 * mailbox whose canonical form is CANON: both in canonical form, the
 * local parts compared octet for octet (RFC 5280 7.5, RFC 9598), the
 * domains as A-labels, whichever form each side was written in. */
static int addr_eq(const unsigned char *s, size_t n, const char *canon)
{
	char other[LL_MAILBOX_MAX + 1];

	return canonical_of(other, s, n) && strcmp(other, canon) == 0;
}

int ll_x509_has_email(X509 *x, const char *addr)
{
	GENERAL_NAMES *gens;
	int found = 0, had_san_email = 0;
	char canon[LL_MAILBOX_MAX + 1];

	if (!canonical_of(canon, (const unsigned char *)addr, strlen(addr)))
		return 0;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		const ASN1_STRING *as = san_mailbox(g);

		if (as == NULL)
			continue;
		had_san_email = 1;
		if (addr_eq(ASN1_STRING_get0_data(as),
			    (size_t)ASN1_STRING_length(as), canon))
			found = 1;
	}
	GENERAL_NAMES_free(gens);
	/* RFC 8550 4.4.3: subject emailAddress only without SAN emails */
	if (!found && !had_san_email) {
		X509_NAME *nm = X509_get_subject_name(x);
		int idx = -1;

		while ((idx = X509_NAME_get_index_by_NID(
				nm, NID_pkcs9_emailAddress, idx)) >= 0) {
			ASN1_STRING *d = X509_NAME_ENTRY_get_data(
				X509_NAME_get_entry(nm, idx));

			if (addr_eq(ASN1_STRING_get0_data(d),
				    (size_t)ASN1_STRING_length(d), canon))
				found = 1;
		}
	}
	return found;
}

/* The subject as one line, UTF-8 left readable (not \\xE9...). */
static void subject_line(char *buf, size_t len, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
			       XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0 && p != NULL)
			snprintf(buf, len, "%.*s", (int)n, p);
	}
	BIO_free(b);
}

int ll_cert_wrap_fpr(struct ll_cert **out, X509 *x, const unsigned char *fpr,
		     struct ll_error *err)
{
	static const char hex[] = "0123456789abcdef";
	struct ll_cert *c = calloc(1, sizeof(*c));
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (c == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	c->refs = 1;
	c->x = x;
	ll_x509_first_email(x, c->email, sizeof(c->email));
	subject_line(c->subject, sizeof(c->subject), x);
	if (fpr == NULL) {
		if (!X509_digest(x, EVP_sha256(), md, &mdlen) || mdlen != 32) {
			c->x = NULL;
			free(c);
			return ll_err_ossl(err, LL_ECRYPTO,
					   "certificate digest");
		}
		fpr = md;
	}
	for (unsigned i = 0; i < 32; i++) {
		c->fpr[2 * i] = hex[fpr[i] >> 4];
		c->fpr[2 * i + 1] = hex[fpr[i] & 15];
	}
	c->fpr[64] = '\0';
	*out = c;
	return 0;
}

int ll_cert_wrap(struct ll_cert **out, X509 *x, struct ll_error *err)
{
	return ll_cert_wrap_fpr(out, x, NULL, err);
}

/* DER starts with a SEQUENCE; PEM may have text before its BEGIN line. */
static int is_pem(const void *buf, size_t len)
{
	return len >= 11 && ((const unsigned char *)buf)[0] != 0x30 &&
	       memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

/* No passphrase prompt, ever: an encrypted PEM key is an error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *ll_pkey_read(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	EVP_PKEY *k = NULL;
	BIO *b;

	if (len > INT_MAX)
		return NULL;
	if (is_pem(buf, len)) {
		b = BIO_new_mem_buf(buf, (int)len);
		if (b != NULL)
			k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase,
						    NULL);
		BIO_free(b);
		return k;
	}
	return d2i_AutoPrivateKey(NULL, &p, (long)len);
}

X509 *ll_x509_read(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	X509 *x = NULL;
	BIO *b;

	if (len > INT_MAX)
		return NULL;
	if (is_pem(buf, len)) {
		b = BIO_new_mem_buf(buf, (int)len);
		if (b != NULL)
			x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		return x;
	}
	return d2i_X509(NULL, &p, (long)len);
}

#define P12_MAX_ITER 2000000 /* PBKDF2 / MAC rounds we are willing to run */

/* The iteration count of a PBES1 or PBES2 AlgorithmIdentifier, 0 when
 * it cannot be read, -1 when it is not a password-based scheme. */
static long pbe_iter(const X509_ALGOR *alg)
{
	const ASN1_OBJECT *oid;
	const void *pval;
	int ptype;
	long it = 0;

	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	if (ptype != V_ASN1_SEQUENCE)
		return -1;
	if (OBJ_obj2nid(oid) == NID_pbes2) {
		PBE2PARAM *p2 = ASN1_item_unpack(pval,
						 ASN1_ITEM_rptr(PBE2PARAM));
		PBKDF2PARAM *kdf = NULL;

		if (p2 != NULL && OBJ_obj2nid(p2->keyfunc->algorithm) ==
					  NID_id_pbkdf2)
			kdf = ASN1_TYPE_unpack_sequence(
				ASN1_ITEM_rptr(PBKDF2PARAM),
				p2->keyfunc->parameter);
		if (kdf != NULL)
			it = ASN1_INTEGER_get(kdf->iter);
		PBKDF2PARAM_free(kdf);
		PBE2PARAM_free(p2);
	} else {
		PBEPARAM *p1 = ASN1_item_unpack(pval, ASN1_ITEM_rptr(PBEPARAM));

		if (p1 != NULL)
			it = ASN1_INTEGER_get(p1->iter);
		PBEPARAM_free(p1);
	}
	return it;
}

static int iter_ok(long it)
{
	return it >= 0 && it <= P12_MAX_ITER;
}

/* Refuse a PKCS#12 that would make us run billions of rounds. */
static int p12_bounded(PKCS12 *p12)
{
	const ASN1_INTEGER *miter = NULL;
	STACK_OF(PKCS7) *safes;
	int ok = 1;

	PKCS12_get0_mac(NULL, NULL, NULL, &miter, p12);
	if (miter != NULL && !iter_ok(ASN1_INTEGER_get(miter)))
		return 0;
	safes = PKCS12_unpack_authsafes(p12);
	if (safes == NULL)
		return 1; /* PKCS12_parse will say what is wrong */
	for (int i = 0; ok && i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

		if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
			long it = pbe_iter(p7->d.encrypted->enc_data->algorithm);

			ok = it == -1 || iter_ok(it);
			continue; /* its bags are encrypted: not read here */
		}
		if (OBJ_obj2nid(p7->type) == NID_pkcs7_data)
			bags = PKCS12_unpack_p7data(p7);
		for (int j = 0; ok && j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
			const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
			const X509_ALGOR *alg = NULL;

			if (sig == NULL)
				continue;
			X509_SIG_get0(sig, &alg, NULL);
			ok = iter_ok(pbe_iter(alg)) || pbe_iter(alg) == -1;
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	ERR_clear_error();
	return ok;
}

int ll_cert_parse_all(struct ll_cert ***out, size_t *n, const void *buf,
		      size_t len, struct ll_error *err)
{
	struct ll_cert **v = NULL;
	size_t cnt = 0;
	BIO *b = NULL;
	X509 *x = NULL;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (len > INT_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "certificate file too large");
	ERR_clear_error();
	b = BIO_new_mem_buf(buf, (int)len);
	if (b == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	for (;;) {
		struct ll_cert **nv;

		if (is_pem(buf, len))
			x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		else
			x = cnt == 0 ? d2i_X509_bio(b, NULL) : NULL;
		if (x == NULL)
			break;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (nv == NULL) {
			rc = LL_ENOMEM;
			goto out;
		}
		v = nv;
		rc = ll_cert_wrap(&v[cnt], x, err);
		if (rc < 0)
			goto out;
		x = NULL;
		cnt++;
		if (cnt > 64) {
			rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
				    "more than 64 certificates in one file");
			goto out;
		}
	}
	ERR_clear_error();
	if (cnt == 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_OPENSSL,
			    "no certificate found (expected PEM or DER X.509)");
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	X509_free(x);
	for (size_t i = 0; i < cnt; i++)
		ll_cert_free(&v[i]);
	free(v);
	BIO_free(b);
	return rc;
}

int ll_cert_parse(struct ll_cert **out, const void *buf, size_t len,
		  struct ll_error *err)
{
	struct ll_cert **v;
	size_t n;
	int rc = ll_cert_parse_all(&v, &n, buf, len, err);

	if (rc < 0)
		return rc;
	*out = v[0];
	for (size_t i = 1; i < n; i++)
		ll_cert_free(&v[i]);
	free(v);
	return 0;
}

void ll_cert_free(struct ll_cert **pp)
{
	struct ll_cert *c;

	if (pp == NULL || *pp == NULL)
		return;
	c = *pp;
	*pp = NULL;
	if (--c->refs > 0)
		return;
	X509_free(c->x);
	free(c);
}

struct ll_cert *ll_cert_ref(struct ll_cert *c)
{
	c->refs++;
	return c;
}

X509 *ll_cert_x509(const struct ll_cert *c) { return c->x; }
const char *ll_cert_email(const struct ll_cert *c) { return c->email; }
const char *ll_cert_subject(const struct ll_cert *c) { return c->subject; }
const char *ll_cert_fingerprint(const struct ll_cert *c) { return c->fpr; }
unsigned ll_cert_caps(const struct ll_cert *c) { return c->caps; }
void ll_cert_set_caps(struct ll_cert *c, unsigned caps) { c->caps = caps; }

unsigned ll_x509_uses(X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	uint32_t ku = X509_get_key_usage(x); /* UINT32_MAX: no extension */
	uint32_t enc;
	unsigned uses = 0;

	/*
	 * RFC 8550 4.4.2: a keyUsage extension that is there limits the
	 * key to what it lists; none, any use.  To encrypt to a key is
	 * RSA key transport (keyEncipherment) or ECDH (keyAgreement),
	 * whichever the key type does; any other key is never encrypted
	 * to, whatever its keyUsage says.
	 */
	if (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))
		uses |= LL_USE_SIGN;
	switch (pk != NULL ? EVP_PKEY_get_base_id(pk) : EVP_PKEY_NONE) {
	case EVP_PKEY_RSA:
		enc = KU_KEY_ENCIPHERMENT;
		break;
	case EVP_PKEY_EC:
		enc = KU_KEY_AGREEMENT;
		break;
	default:
		enc = 0;
		break;
	}
	if (ku & enc)
		uses |= LL_USE_ENCRYPT;
	return uses;
}

unsigned ll_cert_uses(const struct ll_cert *c) { return ll_x509_uses(c->x); }

const char *ll_cert_use_name(unsigned uses)
{
	switch (uses & (LL_USE_SIGN | LL_USE_ENCRYPT)) {
	case LL_USE_SIGN | LL_USE_ENCRYPT:
		return "both";
	case LL_USE_SIGN:
		return "sign";
	case LL_USE_ENCRYPT:
		return "encrypt";
	}
	return "none";
}

int ll_cert_key_check(struct ll_cert *c, OSSL_LIB_CTX *libctx)
{
	EVP_PKEY *pk = X509_get0_pubkey(c->x);
	EVP_PKEY_CTX *pctx;
	int ok;

	/* set once, never cleared: another thread at worst checks again */
	if (__atomic_load_n(&c->key_checked, __ATOMIC_ACQUIRE))
		return 1;
	pctx = pk ? EVP_PKEY_CTX_new_from_pkey(libctx, pk, NULL) : NULL;
	ok = pctx != NULL && EVP_PKEY_public_check(pctx) == 1;
	EVP_PKEY_CTX_free(pctx);
	if (ok)
		__atomic_store_n(&c->key_checked, 1, __ATOMIC_RELEASE);
	return ok;
}

int ll_cert_matches_email(const struct ll_cert *c, const char *addr)
{
	return ll_x509_has_email(c->x, addr);
}

time_t ll_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

time_t ll_cert_not_before(const struct ll_cert *c)
{
	return ll_asn1_time(X509_get0_notBefore(c->x));
}

time_t ll_cert_not_after(const struct ll_cert *c)
{
	return ll_asn1_time(X509_get0_notAfter(c->x));
}

int ll_cert_self_issued(const struct ll_cert *c)
{
	return X509_NAME_cmp(X509_get_subject_name(c->x),
			     X509_get_issuer_name(c->x)) == 0;
}

const char *ll_cert_key_name(const struct ll_cert *c, char *buf, size_t size)
{
	static const struct {
		const char *group, *name;
	} curves[] = {
		{ "prime256v1", "ec-p256" },
		{ "secp384r1", "ec-p384" },
		{ "secp521r1", "ec-p521" },
	};
	EVP_PKEY *k = X509_get0_pubkey(c->x);
	char group[64];

	if (k == NULL) {
		snprintf(buf, size, "unknown");
	} else if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS")) {
		snprintf(buf, size, "rsa-%d", EVP_PKEY_get_bits(k));
	} else if (EVP_PKEY_is_a(k, "EC") &&
		   EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
						  group, sizeof(group),
						  NULL) == 1) {
		snprintf(buf, size, "ec-%s", group);
		for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
			if (strcmp(group, curves[i].group) == 0)
				snprintf(buf, size, "%s", curves[i].name);
	} else {
		snprintf(buf, size, "unknown");
	}
	ERR_clear_error();
	return buf;
}

int ll_cert_der(unsigned char **out, size_t *len, const struct ll_cert *c,
		struct ll_error *err)
{
	unsigned char *p = NULL;
	int n = i2d_X509(c->x, &p);

	if (n <= 0)
		return ll_err_ossl(err, LL_ECRYPTO, "encoding certificate");
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_free(p);
		return LL_ENOMEM;
	}
	memcpy(*out, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return 0;
}

int ll_cert_pem(char **out, const struct ll_cert *c, struct ll_error *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	int rc = 0;

	if (b == NULL || !PEM_write_bio_X509(b, c->x)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding certificate");
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	*out = malloc(m->length + 1);
	if (*out == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	memcpy(*out, m->data, m->length);
	(*out)[m->length] = '\0';
out:
	BIO_free(b);
	return rc;
}

/* ---- identities ---- */

static int identity_new(struct ll_identity **out, EVP_PKEY *key, X509 *x,
			STACK_OF(X509) *ca, struct ll_error *err)
{
	struct ll_identity *id = calloc(1, sizeof(*id));
	int rc;

	if (id == NULL)
		return LL_ENOMEM;
	if (X509_check_private_key(x, key) != 1) {
		free(id);
		return ll_err_ossl(err, LL_EINVAL,
				   "the private key does not match the certificate");
	}
	rc = ll_cert_wrap(&id->cert, x, err);
	if (rc < 0) {
		free(id);
		return rc;
	}
	X509_up_ref(x);
	id->key = key;
	EVP_PKEY_up_ref(key);
	for (int i = 0; ca != NULL && i < sk_X509_num(ca); i++) {
		X509 *cx = sk_X509_value(ca, i);
		struct ll_cert **nv;

		if (X509_cmp(cx, x) == 0)
			continue;
		nv = realloc(id->chain, (id->nchain + 1) * sizeof(*nv));
		if (nv == NULL) {
			ll_identity_free(&id);
			return LL_ENOMEM;
		}
		id->chain = nv;
		rc = ll_cert_wrap(&id->chain[id->nchain], cx, err);
		if (rc < 0) {
			ll_identity_free(&id);
			return rc;
		}
		X509_up_ref(cx);
		id->nchain++;
	}
	*out = id;
	return 0;
}

int ll_identity_parse_pkcs12(struct ll_identity **out, const void *buf,
			     size_t len, const char *pass,
			     struct ll_error *err)
{
	const unsigned char *p = buf;
	PKCS12 *p12 = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *ca = NULL;
	int rc = 0;

	ERR_clear_error();
	if (len > 1024 * 1024)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "PKCS#12 file larger than 1 MiB");
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	if (p12 == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE, "not a PKCS#12 file");
		goto out;
	}
	if (!p12_bounded(p12)) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "PKCS#12 asks for more than %d key derivation rounds",
			    P12_MAX_ITER);
		goto out;
	}
	if (!PKCS12_parse(p12, pass ? pass : "", &key, &x, &ca)) {
		rc = ll_err_ossl(err, LL_EINVAL,
				 "cannot read PKCS#12 (wrong passphrase?)");
		goto out;
	}
	if (key == NULL || x == NULL) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "PKCS#12 file lacks a key or its certificate");
		goto out;
	}
	rc = identity_new(out, key, x, ca, err);
out:
	EVP_PKEY_free(key);
	X509_free(x);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

int ll_identity_parse_pem(struct ll_identity **out, const void *keypem,
			  size_t keylen, const void *certs, size_t certslen,
			  struct ll_error *err)
{
	BIO *b = NULL;
	EVP_PKEY *key = NULL;
	struct ll_cert **v = NULL;
	size_t n = 0;
	STACK_OF(X509) *ca = NULL;
	int rc;

	ERR_clear_error();
	b = BIO_new_mem_buf(keypem, (int)keylen);
	if (b == NULL)
		return LL_ENOMEM;
	key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	if (key == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "no unencrypted PEM private key found (for an "
				 "encrypted key use a PKCS#12 file)");
		goto out;
	}
	rc = ll_cert_parse_all(&v, &n, certs, certslen, err);
	if (rc < 0)
		goto out;
	ca = sk_X509_new_null();
	for (size_t i = 1; ca != NULL && i < n; i++)
		sk_X509_push(ca, v[i]->x);
	rc = identity_new(out, key, v[0]->x, ca, err);
out:
	sk_X509_free(ca);
	for (size_t i = 0; i < n; i++)
		ll_cert_free(&v[i]);
	free(v);
	EVP_PKEY_free(key);
	BIO_free(b);
	return rc;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

int ll_identity_generate(struct ll_identity **out, const char *email,
			 enum ll_keytype type, int days,
			 struct ll_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *nm;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[400];
	int rc = 0;

	ERR_clear_error();
	if (strchr(email, '@') == NULL || strlen(email) > 254 ||
	    strpbrk(email, ",\r\n") != NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "not an email address: %.80s", email);
	if (days <= 0 || days > 3650)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "validity must be 1..3650 days");
	switch (type) {
	case LL_KEY_RSA2048:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case LL_KEY_EC_P256:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	default:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	}
	if (key == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "key generation");
		goto out;
	}
	x = X509_new();
	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "certificate");
		goto out;
	}
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	nm = X509_get_subject_name(x);
	snprintf(san, sizeof(san), "email:%s", email);
	if (bn == NULL || !X509_set_version(x, 2) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
					(const unsigned char *)email, -1, -1,
					0) ||
	    !X509_set_issuer_name(x, nm) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ||
	    !X509_set_pubkey(x, key) ||
	    !add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, NID_key_usage,
		     type == LL_KEY_EC_P256 ?
			     "critical,digitalSignature,keyAgreement" :
			     "critical,digitalSignature,keyEncipherment") ||
	    !add_ext(x, NID_ext_key_usage, "emailProtection") ||
	    !add_ext(x, NID_subject_alt_name, san) ||
	    !add_ext(x, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, key, EVP_sha256())) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "building certificate");
		goto out;
	}
	rc = identity_new(out, key, x, NULL, err);
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

void ll_identity_free(struct ll_identity **pp)
{
	struct ll_identity *id;

	if (pp == NULL || *pp == NULL)
		return;
	id = *pp;
	*pp = NULL;
	EVP_PKEY_free(id->key); /* OpenSSL clears key material on free */
	ll_cert_free(&id->cert);
	for (size_t i = 0; i < id->nchain; i++)
		ll_cert_free(&id->chain[i]);
	free(id->chain);
	free(id);
}

struct ll_cert *ll_identity_cert(const struct ll_identity *id)
{
	return id->cert;
}

size_t ll_identity_chain_count(const struct ll_identity *id)
{
	return id->nchain;
}

struct ll_cert *ll_identity_chain(const struct ll_identity *id, size_t i)
{
	return i < id->nchain ? id->chain[i] : NULL;
}

EVP_PKEY *ll_identity_pkey(const struct ll_identity *id)
{
	return id->key;
}

STACK_OF(X509) *ll_identity_chain_stack(const struct ll_identity *id)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	for (size_t i = 0; sk != NULL && i < id->nchain; i++)
		if (!sk_X509_push(sk, id->chain[i]->x)) {
			sk_X509_free(sk);
			return NULL;
		}
	return sk;
}

int ll_identity_key_der(unsigned char **out, size_t *len,
			const struct ll_identity *id, struct ll_error *err)
{
	unsigned char *p = NULL;
	int n = i2d_PrivateKey(id->key, &p);

	if (n <= 0)
		return ll_err_ossl(err, LL_ECRYPTO, "encoding private key");
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_clear_free(p, (size_t)n);
		return LL_ENOMEM;
	}
	memcpy(*out, p, (size_t)n);
	OPENSSL_clear_free(p, (size_t)n);
	*len = (size_t)n;
	return 0;
}

int ll_identity_from_key_der(struct ll_identity **out,
			     const unsigned char *key, size_t keylen,
			     struct ll_cert *cert, struct ll_cert **chain,
			     size_t nchain, struct ll_error *err)
{
	const unsigned char *p = key;
	EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)keylen);
	STACK_OF(X509) *ca = sk_X509_new_null();
	int rc;

	if (k == NULL || ca == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE, "stored private key");
		goto out;
	}
	for (size_t i = 0; i < nchain; i++)
		sk_X509_push(ca, chain[i]->x);
	rc = identity_new(out, k, cert->x, ca, err);
out:
	sk_X509_free(ca);
	EVP_PKEY_free(k);
	return rc;
}

unsigned ll_cap_by_name(const char *name)
{
	static const struct {
		const char *name;
		unsigned cap;
	} names[] = {
		{ "aes256-gcm", LL_CAP_AES256_GCM },
		{ "aes128-gcm", LL_CAP_AES128_GCM },
		{ "aes256-cbc", LL_CAP_AES256_CBC },
		{ "aes128-cbc", LL_CAP_AES128_CBC },
		{ "rsaes-oaep", LL_CAP_RSA_OAEP }, /* the directory's name */
		{ "rsa-oaep", LL_CAP_RSA_OAEP },
	};

	for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]);
	     i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].cap;
	return 0;
}
