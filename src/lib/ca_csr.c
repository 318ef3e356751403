/*
 * ca_csr.c - PKCS#10 requests as the CA accepts them: signed by their
 * key, a key the BR allow (and we support), exactly the validated
 * address, nothing asked for that the profile cannot give.  And the
 * same request rebuilt from its checked parts (address, key, usage)
 * for a process that must not parse a CSR.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca_internal.h"

static const char *const ku_names[] = {
	"digitalSignature", "nonRepudiation", "keyEncipherment",
	"dataEncipherment", "keyAgreement",   "keyCertSign",
	"cRLSign",	    "encipherOnly",   "decipherOnly",
};

/* The key rules of BR 6.1.5 and 6.1.6, narrowed to what letterlock
 * supports: RSA 2048..8192 and EC P-256/P-384. */
static int check_key(EVP_PKEY *k, int *is_ec, struct ll_error *err)
{
	EVP_PKEY_CTX *pc = NULL;
	const char *why;
	char group[64] = "", enc[32] = "";
	int rc = 0, bits = EVP_PKEY_get_bits(k);

	*is_ec = 0;
	if (EVP_PKEY_is_a(k, "RSA")) {
		if (bits < 2048 || bits > 8192) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "RSA key of %d bits: 2048 to 8192 bits "
				    "required (S/MIME BR 6.1.5)",
				    bits);
			goto out;
		}
		if (bits % 8 != 0) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "RSA modulus of %d bits is not a multiple "
				    "of 8 (S/MIME BR 6.1.5)",
				    bits);
			goto out;
		}
		why = ll_rsa_key_problem(k);
		if (why != NULL) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "%s (S/MIME BR 6.1.6)", why);
			goto out;
		}
	} else if (EVP_PKEY_is_a(k, "EC")) {
		*is_ec = 1;
		if (!EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) ||
		    !EVP_PKEY_get_utf8_string_param(k,
						    OSSL_PKEY_PARAM_EC_ENCODING,
						    enc, sizeof(enc), NULL) ||
		    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "EC key without a named curve (S/MIME BR "
				    "7.1.3.1.2)");
			goto out;
		}
		if (strcmp(group, "prime256v1") != 0 &&
		    strcmp(group, "secp384r1") != 0) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "EC key on %s: letterlock certifies EC "
				    "P-256 or P-384 and RSA 2048 to 8192 bits",
				    strcmp(group, "secp521r1") == 0 ? "P-521" :
								      group);
			goto out;
		}
		/*
		 * the point is on the curve (BR 6.1.6): the ECC partial
		 * public-key validation of SP 800-56A 5.6.2.3.4 - not at
		 * infinity, coordinates in range, on the curve.  P-256
		 * and P-384 have cofactor 1, so every such point has the
		 * group's order and the full check's n * Q (an EC point
		 * multiplication per request) adds nothing.
		 */
		pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (pc == NULL || EVP_PKEY_public_check_quick(pc) != 1) {
			rc = ll_err_ossl(err, LL_EPOLICY,
					 "the EC public key is not a valid "
					 "point (S/MIME BR 6.1.6)");
			goto out;
		}
	} else {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "%s key: letterlock certifies RSA 2048 to 8192 "
			    "bits and EC P-256/P-384",
			    EVP_PKEY_get0_type_name(k) ?
				    EVP_PKEY_get0_type_name(k) :
				    "unknown");
		goto out;
	}
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	return rc;
}

/* The address a GeneralName holds, if it is a mailbox name form. */
static int name_mailbox(struct ll_mailbox *m, const GENERAL_NAME *g)
{
	const ASN1_STRING *s = NULL;
	const unsigned char *p;
	int n;

	if (g->type == GEN_EMAIL)
		s = g->d.rfc822Name;
	else if (g->type == GEN_OTHERNAME &&
		 OBJ_obj2nid(g->d.otherName->type_id) ==
			 NID_id_on_SmtpUTF8Mailbox &&
		 g->d.otherName->value->type == V_ASN1_UTF8STRING)
		s = g->d.otherName->value->value.utf8string;
	if (s == NULL)
		return 0;
	p = ASN1_STRING_get0_data(s);
	n = ASN1_STRING_length(s);
	if (g->type == GEN_EMAIL)
		for (int i = 0; i < n; i++)
			if (p[i] >= 0x80)
				return 0; /* IA5String is ASCII */
	return ll_mailbox_parse(m, (const char *)p, (size_t)n, NULL) == 0;
}

static int check_names(const struct ll_ca_csr *c,
		       const STACK_OF(X509_EXTENSION) * exts,
		       struct ll_error *err)
{
	GENERAL_NAMES *gens = NULL;
	char text[200];
	int crit = -1, rc = 0, n;

	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		if (crit == -2)
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "the CSR has two subjectAltName "
				    "extensions");
		else if (crit >= 0)
			rc = ll_err_ossl(err, LL_EPARSE,
					 "the CSR's subjectAltName does not "
					 "parse");
		else
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "the CSR has no subjectAltName: it must "
				    "request %s there",
				    c->mbox.addr);
		goto out;
	}
	n = sk_GENERAL_NAME_num(gens);
	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		struct ll_mailbox m;

		if (name_mailbox(&m, g) && strcmp(m.addr, c->mbox.addr) == 0)
			continue;
		ll_general_name_text(text, sizeof(text), g);
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the CSR requests %s: only the validated address "
			    "%s may be requested",
			    text, c->mbox.addr);
		goto out;
	}
	if (n != 1) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the CSR's subjectAltName has %d entries: it must "
			    "hold exactly %s",
			    n, c->mbox.addr);
		goto out;
	}
out:
	ERR_clear_error();
	GENERAL_NAMES_free(gens);
	return rc;
}

/* No subject attribute may name another address.  Attributes without
 * an address are not copied into the certificate, so they do no harm. */
static int check_subject(const struct ll_ca_csr *c, struct ll_error *err)
{
	const X509_NAME *nm = X509_REQ_get_subject_name(c->req);
	int rc = 0;

	for (int i = 0; i < X509_NAME_entry_count(nm); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
		struct ll_mailbox m;

		if (n < 0) {
			rc = ll_err_ossl(err, LL_EPARSE,
					 "a CSR subject attribute does not "
					 "decode");
			goto out;
		}
		if (memchr(u, '@', (size_t)n) != NULL &&
		    (ll_mailbox_parse(&m, (const char *)u, (size_t)n, NULL) <
			     0 ||
		     strcmp(m.addr, c->mbox.addr) != 0)) {
			char oid[64];

			OBJ_obj2txt(oid, sizeof(oid),
				    X509_NAME_ENTRY_get_object(e), 0);
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "the CSR subject %s names %.*s, not the "
				    "validated address %s",
				    oid, n > 100 ? 100 : n, (const char *)u,
				    c->mbox.addr);
			OPENSSL_free(u);
			goto out;
		}
		OPENSSL_free(u);
	}
out:
	return rc;
}

/* What the CSR asks of keyUsage, extendedKeyUsage, basicConstraints. */
static int check_requests(struct ll_ca_csr *c,
			  const STACK_OF(X509_EXTENSION) * exts,
			  struct ll_error *err)
{
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	int crit = -1, rc = 0;
	unsigned enc_bit = c->is_ec ? LL_KU_KEY_AGREEMENT :
				      LL_KU_KEY_ENCIPHERMENT;

	if (exts == NULL)
		return 0;
	ku = X509V3_get_d2i(exts, NID_key_usage, &crit, NULL);
	if (ku == NULL && crit != -1) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the CSR's keyUsage does not parse or repeats");
		goto out;
	}
	for (int bit = 0; ku != NULL && bit < ku->length * 8; bit++) {
		if (!ASN1_BIT_STRING_get_bit(ku, bit))
			continue;
		if (bit == LL_KU_DIGITAL_SIGNATURE ||
		    bit == LL_KU_NON_REPUDIATION) {
			c->usage |= LL_CA_USAGE_SIGN;
		} else if ((unsigned)bit == enc_bit) {
			c->usage |= LL_CA_USAGE_ENCRYPT;
		} else {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "the CSR requests keyUsage %s, which an "
				    "S/MIME certificate for an %s key may not "
				    "have (S/MIME BR 7.1.2.3 e)",
				    bit <= LL_KU_DECIPHER_ONLY ?
					    ku_names[bit] :
					    "(unknown bit)",
				    c->is_ec ? "EC" : "RSA");
			goto out;
		}
	}
	crit = -1;
	eku = X509V3_get_d2i(exts, NID_ext_key_usage, &crit, NULL);
	if (eku == NULL && crit != -1) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "the CSR's extendedKeyUsage does not parse or "
			    "repeats");
		goto out;
	}
	for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
		char oid[64];

		if (OBJ_obj2nid(o) == NID_email_protect)
			continue;
		OBJ_obj2txt(oid, sizeof(oid), o, 0);
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the CSR requests extendedKeyUsage %s: the "
			    "Strict profile has emailProtection only "
			    "(S/MIME BR 7.1.2.3 f)",
			    oid);
		goto out;
	}
	crit = -1;
	bc = X509V3_get_d2i(exts, NID_basic_constraints, &crit, NULL);
	if ((bc == NULL && crit != -1) || (bc != NULL && bc->ca)) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the CSR asks for a CA certificate (or its "
			    "basicConstraints does not parse)");
		goto out;
	}
out:
	ERR_clear_error();
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

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
		return req;
	}
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req != NULL && p != (const unsigned char *)buf + len) {
		X509_REQ_free(req); /* trailing bytes */
		req = NULL;
	}
	return req;
}

/* A request for the mailbox EMAIL (canonicalised), nothing else yet. */
static int csr_new(struct ll_ca_csr **out, const char *email,
		   struct ll_error *err)
{
	struct ll_ca_csr *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	rc = ll_mailbox_parse(&c->mbox, email, strlen(email), err);
	if (rc < 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int ll_ca_csr_parse(struct ll_ca_csr **out, const void *buf, size_t len,
		    const char *email, struct ll_error *err)
{
	struct ll_ca_csr *c = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int rc;

	ERR_clear_error();
	if (len > LL_CA_CSR_MAX) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			    "CSR larger than %d bytes", LL_CA_CSR_MAX);
		goto out;
	}
	rc = csr_new(&c, email, err);
	if (rc < 0)
		goto out;
	c->req = read_req(buf, len);
	if (c->req == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "not a PKCS#10 certificate request (PEM or "
				 "DER)");
		goto out;
	}
	if (X509_REQ_get_version(c->req) != X509_REQ_VERSION_1) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "CSR of unknown version %ld",
			    X509_REQ_get_version(c->req) + 1);
		goto out;
	}
	c->pkey = X509_REQ_get_pubkey(c->req);
	if (c->pkey == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the CSR's public key does not decode");
		goto out;
	}
	rc = check_key(c->pkey, &c->is_ec, err);
	if (rc < 0)
		goto out;
	if (X509_REQ_verify_ex(c->req, c->pkey, NULL, NULL) != 1) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "the CSR's self-signature does not verify: it "
				 "was altered or not signed by its key");
		goto out;
	}
	exts = X509_REQ_get_extensions(c->req);
	ERR_clear_error();
	rc = check_names(c, exts, err);
	if (rc < 0)
		goto out;
	rc = check_subject(c, err);
	if (rc < 0)
		goto out;
	rc = check_requests(c, exts, err);
	if (rc < 0)
		goto out;
	*out = c;
	c = NULL;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ll_ca_csr_free(&c);
	return rc;
}

void ll_ca_csr_free(struct ll_ca_csr **pp)
{
	struct ll_ca_csr *c;

	if (pp == NULL || *pp == NULL)
		return;
	c = *pp;
	*pp = NULL;
	EVP_PKEY_free(c->pkey);
	X509_REQ_free(c->req);
	free(c->keybits);
	free(c);
}

int ll_ca_csr_spki(unsigned char **der, size_t *len,
		   const struct ll_ca_csr *csr, struct ll_error *err)
{
	unsigned char *p = NULL;
	int n;

	ERR_clear_error();
	/* the request's own SubjectPublicKeyInfo, re-serialised from its
	 * parsed form (i2d_PUBKEY would go through OpenSSL 3.0's encoder
	 * machinery, several times dearer) */
	if (csr->req != NULL)
		n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr->req), &p);
	else
		n = i2d_PUBKEY(csr->pkey, &p);
	if (n <= 0)
		return ll_err_ossl(err, LL_ECRYPTO,
				   "encoding the request's public key");
	*der = malloc((size_t)n);
	if (*der == NULL) {
		OPENSSL_free(p);
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	}
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(p);
	return 0;
}

/* The SPKI with OpenSSL's d2i: one SubjectPublicKeyInfo, nothing after
 * it, in DER as OpenSSL serialises it (so one key has one encoding). */
static int read_spki_d2i(EVP_PKEY **out, const unsigned char *spki,
			 size_t len, struct ll_error *err)
{
	const unsigned char *p = spki;
	unsigned char *again = NULL;
	X509_PUBKEY *xk = NULL;
	EVP_PKEY *k = NULL;
	int rc = 0, n;

	xk = d2i_X509_PUBKEY(NULL, &p, (long)len);
	if (xk == NULL || p != spki + len) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "not one DER SubjectPublicKeyInfo");
		goto out;
	}
	n = i2d_X509_PUBKEY(xk, &again);
	if (n <= 0 || (size_t)n != len || memcmp(again, spki, len) != 0) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the SubjectPublicKeyInfo is not in OpenSSL's "
				 "encoding");
		goto out;
	}
	k = X509_PUBKEY_get(xk);
	if (k == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the SubjectPublicKeyInfo's key does not "
				 "decode");
		goto out;
	}
	*out = k;
out:
	OPENSSL_free(again);
	X509_PUBKEY_free(xk);
	return rc;
}

/*
 * The common keys without OpenSSL 3.0's decoders, which cost the
 * keyholder a tenth of its time per certificate: an SPKI exactly as
 * OpenSSL writes an RSA key (rsaEncryption, NULL parameters, minimal
 * INTEGERs) or an EC P-256/P-384 key (named curve, uncompressed point)
 * is taken apart here and the key made from its parts
 * (EVP_PKEY_fromdata checks the point is on the curve).  0 with
 * csr->pkey and the key's octets set; 1 for anything else (not these keys, or not in that form: then
 * read_spki_d2i judges it); < 0 for a key that does not import.
 */
static const unsigned char der_rsa[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a,
					 0x86, 0x48, 0x86, 0xf7, 0x0d,
					 0x01, 0x01, 0x01, 0x05, 0x00 };
static const unsigned char der_p256[] = { 0x30, 0x13, 0x06, 0x07, 0x2a,
					  0x86, 0x48, 0xce, 0x3d, 0x02,
					  0x01, 0x06, 0x08, 0x2a, 0x86,
					  0x48, 0xce, 0x3d, 0x03, 0x01,
					  0x07 };
static const unsigned char der_p384[] = { 0x30, 0x10, 0x06, 0x07, 0x2a,
					  0x86, 0x48, 0xce, 0x3d, 0x02,
					  0x01, 0x06, 0x05, 0x2b, 0x81,
					  0x04, 0x00, 0x22 };

/* A DER element at P (before END) with a minimal length: its contents
 * in *c, *clen; the element's end in *next.  -1 if not. */
static int der_elem(const unsigned char *p, const unsigned char *end, int tag,
		    const unsigned char **c, size_t *clen,
		    const unsigned char **next)
{
	size_t len = 0, n;

	if (end - p < 2 || p[0] != tag)
		return -1;
	if (p[1] < 0x80) {
		len = p[1];
		p += 2;
	} else {
		n = p[1] & 0x7f;
		if (n == 0 || n > 2 || (size_t)(end - p) < 2 + n || p[2] == 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return -1;
		p += 2 + n;
	}
	if ((size_t)(end - p) < len)
		return -1;
	*c = p;
	*clen = len;
	*next = p + len;
	return 0;
}

/* A positive INTEGER in its minimal form. */
static int der_uint(const unsigned char *p, const unsigned char *end,
		    BIGNUM **bn, const unsigned char **next)
{
	const unsigned char *c;
	size_t n;

	if (der_elem(p, end, V_ASN1_INTEGER, &c, &n, next) < 0 || n == 0 ||
	    (c[0] & 0x80) || (n > 1 && c[0] == 0 && !(c[1] & 0x80)))
		return -1;
	*bn = BN_bin2bn(c, (int)n, NULL);
	return *bn == NULL ? -1 : 0;
}

static int spki_fromdata(EVP_PKEY **out, const char *type,
			 OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	int ok = params != NULL && pc != NULL &&
		 EVP_PKEY_fromdata_init(pc) == 1 &&
		 EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, params) == 1;

	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(params);
	return ok ? 0 : -1;
}

static int read_spki_fast(struct ll_ca_csr *csr, const unsigned char *spki,
			  size_t len, struct ll_error *err)
{
	const unsigned char *end = spki + len, *c, *next, *key;
	size_t clen, keylen;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	const char *group = NULL, *type;
	size_t point = 0; /* an EC point's length, uncompressed */
	int rc = 1;

	if (der_elem(spki, end, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, &c,
		     &clen, &next) < 0 ||
	    next != end)
		return 1;
	end = c + clen;
	if (clen > sizeof(der_rsa) &&
	    memcmp(c, der_rsa, sizeof(der_rsa)) == 0) {
		type = "RSA";
		c += sizeof(der_rsa);
	} else if (clen > sizeof(der_p256) &&
		   memcmp(c, der_p256, sizeof(der_p256)) == 0) {
		type = "EC";
		group = SN_X9_62_prime256v1;
		csr->curve = NID_X9_62_prime256v1;
		point = 65;
		c += sizeof(der_p256);
	} else if (clen > sizeof(der_p384) &&
		   memcmp(c, der_p384, sizeof(der_p384)) == 0) {
		type = "EC";
		group = SN_secp384r1;
		csr->curve = NID_secp384r1;
		point = 97;
		c += sizeof(der_p384);
	} else {
		return 1;
	}
	/* the BIT STRING, no unused bits */
	if (der_elem(c, end, V_ASN1_BIT_STRING, &key, &keylen, &next) < 0 ||
	    next != end || keylen < 2 || key[0] != 0)
		return 1;
	key++;
	keylen--;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		goto out;
	if (group == NULL) {
		/* RSAPublicKey ::= SEQUENCE { modulus, publicExponent } */
		if (der_elem(key, key + keylen,
			     V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, &c, &clen,
			     &next) < 0 ||
		    next != key + keylen || der_uint(c, c + clen, &n, &c) < 0 ||
		    der_uint(c, next, &e, &c) < 0 || c != next)
			goto out;
		if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
	} else {
		/* an uncompressed point: 04 || x || y */
		if (keylen != point || key[0] != 0x04)
			goto out;
		if (!OSSL_PARAM_BLD_push_utf8_string(
			    bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(
			    bld, OSSL_PKEY_PARAM_PUB_KEY, key, keylen))
			goto out;
	}
	if (spki_fromdata(&csr->pkey, type, bld) < 0) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the SubjectPublicKeyInfo's key does not "
				 "decode");
		goto out;
	}
	csr->keybits = malloc(keylen);
	if (csr->keybits == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	memcpy(csr->keybits, key, keylen);
	csr->keylen = keylen;
	rc = 0;
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

static int read_spki(struct ll_ca_csr *csr, const unsigned char *spki,
		     size_t len, struct ll_error *err)
{
	int rc = read_spki_fast(csr, spki, len, err);

	return rc == 1 ? read_spki_d2i(&csr->pkey, spki, len, err) : rc;
}

int ll_ca_csr_from_spki(struct ll_ca_csr **out, const void *spki, size_t len,
			const char *email, unsigned usage, struct ll_error *err)
{
	struct ll_ca_csr *c = NULL;
	int rc;

	ERR_clear_error();
	if ((usage & ~(unsigned)LL_CA_USAGE_BOTH) != 0) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "unknown key usage 0x%x", usage);
		goto out;
	}
	if (len > LL_CA_SPKI_MAX) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			    "SubjectPublicKeyInfo larger than %d bytes",
			    LL_CA_SPKI_MAX);
		goto out;
	}
	rc = csr_new(&c, email, err);
	if (rc < 0)
		goto out;
	rc = read_spki(c, spki, len, err);
	if (rc < 0)
		goto out;

	rc = check_key(c->pkey, &c->is_ec, err);
	if (rc < 0)
		goto out;
	c->usage = usage;
	*out = c;
	c = NULL;
out:
	ll_ca_csr_free(&c);
	return rc;
}

const char *ll_ca_csr_email(const struct ll_ca_csr *csr)
{
	return csr->mbox.addr;
}

unsigned ll_ca_csr_usage(const struct ll_ca_csr *csr)
{
	return csr->usage;
}
