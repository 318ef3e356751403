/*
 * cms_signed.c - CMS SignedData written by us instead of OpenSSL's CMS
 * layer, for RSA (PKCS #1 v1.5) and ECDSA identities with SHA-256.
 *
 * Why: of a 4 KiB seal, OpenSSL's SignedData layer around the one
 * signature cost about three times the signature itself (the signer's
 * certificates, names and ESS hash re-encoded, the algorithms and the
 * signing context looked up again, the attributes built as objects and
 * encoded twice), on every message.  Here what belongs to the identity
 * is encoded once per context (struct ll_signer) and a message costs
 * its two digests, its signature and the copying.
 *
 * What goes out is what OpenSSL's CMS wrote for us (ll_cms_sign_buffer
 * with CMS_CADES and our SMIMECapabilities; tests/unit/test_cms_signed.c
 * holds the two side by side): ContentInfo { id-signedData, SignedData
 * v1 { digestAlgorithms { sha256 }, encapContentInfo { id-data, the
 * content or none (detached) }, certificates (the chain and the signer,
 * a DER SET), one SignerInfo v1 { issuerAndSerialNumber, sha256, the
 * signed attributes contentType, signingTime, messageDigest,
 * SMIMECapabilities and signingCertificateV2 (RFC 5035) as a DER SET,
 * rsaEncryption or ecdsa-with-SHA256, the signature over that SET,
 * [1] id-aa-timeStampToken when a TSA gave one } } }, all definite
 * lengths.
 */
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"

#define NATTRS 5 /* the signed attributes */
#define TIME_MAX 18 /* GeneralizedTime YYYYMMDDHHMMSSZ, its head, a NUL */

/* An identity as its signatures need it, encoded once. */
struct ll_signer {
	const struct ll_identity *id;
	struct ll_buf certs; /* certificates [0]: the whole TLV */
	struct ll_buf sid; /* issuerAndSerialNumber */
	struct ll_buf fixed[3]; /* contentType, SMIMECapabilities,
				   signingCertificateV2 attributes */
	const unsigned char *sigalg; /* signatureAlgorithm TLV */
	size_t sigalg_len;
	EVP_PKEY_CTX *sign; /* sign_init done, SHA-256 */
};

/* signatureAlgorithm as OpenSSL's CMS writes it: rsaEncryption with
 * NULL parameters (RFC 3370 3.2), ecdsa-with-SHA256 without (RFC 5754
 * 3.3) */
static const unsigned char alg_rsa[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a,
					 0x86, 0x48, 0x86, 0xf7, 0x0d,
					 0x01, 0x01, 0x01, 0x05, 0x00 };
static const unsigned char alg_ecdsa[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
/* sha256, parameters absent (RFC 5754 2) */
static const unsigned char alg_sha256[] = { 0x30, 0x0b, 0x06, 0x09, 0x60,
					    0x86, 0x48, 0x01, 0x65, 0x03,
					    0x04, 0x02, 0x01 };
/* attribute types and id-signedData (OID TLVs) */
static const unsigned char oid_signed[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					    0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const unsigned char oid_content_type[] = { 0x06, 0x09, 0x2a, 0x86,
						  0x48, 0x86, 0xf7, 0x0d,
						  0x01, 0x09, 0x03 };
static const unsigned char oid_message_digest[] = { 0x06, 0x09, 0x2a, 0x86,
						    0x48, 0x86, 0xf7, 0x0d,
						    0x01, 0x09, 0x04 };
static const unsigned char oid_signing_time[] = { 0x06, 0x09, 0x2a, 0x86,
						  0x48, 0x86, 0xf7, 0x0d,
						  0x01, 0x09, 0x05 };
static const unsigned char oid_smimecaps[] = { 0x06, 0x09, 0x2a, 0x86,
					       0x48, 0x86, 0xf7, 0x0d,
					       0x01, 0x09, 0x0f };
static const unsigned char oid_signing_cert_v2[] = { 0x06, 0x0b, 0x2a, 0x86,
						     0x48, 0x86, 0xf7, 0x0d,
						     0x01, 0x09, 0x10, 0x02,
						     0x2f };
static const unsigned char oid_timestamp_token[] = { 0x06, 0x0b, 0x2a, 0x86,
						     0x48, 0x86, 0xf7, 0x0d,
						     0x01, 0x09, 0x10, 0x02,
						     0x0e };
/* What letterlock reads, in order of preference (RFC 8551 2.5.2), the
 * same list as cms_sign.c's smimecaps[]: AES-256-GCM, AES-128-GCM,
 * AES-256-CBC, AES-128-CBC (2.16.840.1.101.3.4.1.x), RSAES-OAEP
 * (1.2.840.113549.1.1.7); no parameters. */
static const unsigned char caps_oids[][LL_OID_LEN] = {
	{ 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e },
	{ 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x06 },
	{ 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a },
	{ 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02 },
	{ 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07 },
};

int ll_cms_signed_ok(const struct ll_ctx *ctx, const struct ll_identity *id)
{
	EVP_PKEY *pk = ll_identity_pkey(id);

	/* RSA-PSS keys, EdDSA and the rest: OpenSSL's CMS; an identity
	 * not the context's: the context keeps its signer by address */
	return pk != NULL && ll_ctx_has_identity(ctx, id) &&
	       (EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "EC")) &&
	       EVP_PKEY_get_size(pk) > 0 && EVP_PKEY_get_size(pk) <= LL_SIG_MAX;
}

/* Attribute ::= SEQUENCE { type, SET { VALUE (a whole TLV, LEN) } } */
static int put_attr(struct ll_buf *b, const unsigned char *oid, size_t oidlen,
		    const void *value, size_t len)
{
	int rc = ll_der_head(b, 0x30, oidlen + ll_der_tlv_size(len));

	if (rc == 0)
		rc = ll_buf_add(b, oid, oidlen);
	if (rc == 0)
		rc = ll_der_head(b, 0x31, len);
	if (rc == 0)
		rc = ll_buf_add(b, value, len);
	return rc;
}

static int caps_attr(struct ll_buf *b)
{
	struct ll_buf v = { 0 };
	size_t n = LL_ARRAY_SIZE(caps_oids);
	int rc = ll_der_head(&v, 0x30, n * ll_der_tlv_size(LL_OID_LEN));

	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = ll_der_head(&v, 0x30, LL_OID_LEN);
		if (rc == 0)
			rc = ll_buf_add(&v, caps_oids[i], LL_OID_LEN);
	}
	if (rc == 0)
		rc = put_attr(b, oid_smimecaps, sizeof(oid_smimecaps), v.p,
			      v.len);
	ll_buf_free(&v);
	return rc;
}

/*
 * SigningCertificateV2 { certs { ESSCertIDv2 { certHash (SHA-256, the
 * default hashAlgorithm left out), issuerSerial { issuer { [4] Name },
 * serialNumber } } } } for the signer X alone (RFC 5035 3), whose
 * issuer's Name and serialNumber are NAME and SERIAL (DER).
 */
static int ess_attr(struct ll_buf *b, X509 *x, const struct ll_buf *name,
		    const struct ll_buf *serial, const EVP_MD *sha256)
{
	struct ll_buf v = { 0 };
	unsigned char hash[32];
	unsigned int hlen = 0;
	size_t gns, is, id;
	int rc;

	if (X509_digest(x, sha256, hash, &hlen) != 1 || hlen != sizeof(hash))
		return LL_ECRYPTO;
	gns = ll_der_tlv_size(name->len); /* GeneralNames { [4] Name } */
	is = ll_der_tlv_size(gns) + serial->len;
	id = ll_der_tlv_size(sizeof(hash)) + ll_der_tlv_size(is);
	rc = ll_der_head(&v, 0x30, ll_der_tlv_size(ll_der_tlv_size(id)));
	if (rc == 0) /* certs, SEQUENCE OF */
		rc = ll_der_head(&v, 0x30, ll_der_tlv_size(id));
	if (rc == 0)
		rc = ll_der_head(&v, 0x30, id);
	if (rc == 0)
		rc = ll_der_head(&v, 0x04, sizeof(hash));
	if (rc == 0)
		rc = ll_buf_add(&v, hash, sizeof(hash));
	if (rc == 0)
		rc = ll_der_head(&v, 0x30, is);
	if (rc == 0)
		rc = ll_der_head(&v, 0x30, gns);
	if (rc == 0)
		rc = ll_der_head(&v, 0xa4, name->len);
	if (rc == 0)
		rc = ll_buf_add(&v, name->p, name->len);
	if (rc == 0)
		rc = ll_buf_add(&v, serial->p, serial->len);
	if (rc == 0)
		rc = put_attr(b, oid_signing_cert_v2,
			      sizeof(oid_signing_cert_v2), v.p, v.len);
	ll_buf_free(&v);
	return rc;
}

/* N octets of DER at DER (an i2d result, freed here) appended to B */
static int add_i2d(struct ll_buf *b, int n, unsigned char *der)
{
	int rc = n > 0 ? ll_buf_add(b, der, (size_t)n) : LL_ECRYPTO;

	OPENSSL_free(der);
	return rc;
}

/* certificates [0] IMPLICIT SET OF: the chain and the signer, once
 * each, in DER order */
static int certs_encode(struct ll_buf *b, const struct ll_identity *id)
{
	size_t n = ll_identity_chain_count(id) + 1, used = 0, total = 0;
	struct ll_buf *c = calloc(n, sizeof(*c));
	int rc = c != NULL ? 0 : LL_ENOMEM;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct ll_cert *cert = i == 0 ? ll_identity_cert(id) :
						ll_identity_chain(id, i - 1);
		unsigned char *der = NULL;
		int dup = 0, len;

		len = i2d_X509(ll_cert_x509(cert), &der);
		rc = add_i2d(&c[used], len, der);
		for (size_t k = 0; rc == 0 && k < used; k++)
			dup |= ll_der_cmp(&c[k], &c[used]) == 0;
		if (rc == 0 && dup) {
			ll_buf_free(&c[used]);
		} else if (rc == 0) {
			total += c[used].len;
			used++;
		}
	}
	if (rc == 0) {
		qsort(c, used, sizeof(*c), ll_der_cmp);
		rc = ll_der_head(b, 0xa0, total);
	}
	for (size_t i = 0; rc == 0 && i < used; i++)
		rc = ll_buf_add(b, c[i].p, c[i].len);
	for (size_t i = 0; c != NULL && i < n; i++)
		ll_buf_free(&c[i]);
	free(c);
	return rc;
}

void ll_signer_free(struct ll_signer **pp)
{
	struct ll_signer *s;

	if (pp == NULL || *pp == NULL)
		return;
	s = *pp;
	*pp = NULL;
	ll_buf_free(&s->certs);
	ll_buf_free(&s->sid);
	for (size_t i = 0; i < LL_ARRAY_SIZE(s->fixed); i++)
		ll_buf_free(&s->fixed[i]);
	EVP_PKEY_CTX_free(s->sign);
	free(s);
}

static int signer_new(struct ll_signer **out, struct ll_ctx *ctx,
		      const struct ll_identity *id, const struct ll_algs *algs)
{
	struct ll_signer *s = calloc(1, sizeof(*s));
	X509 *x = ll_cert_x509(ll_identity_cert(id));
	EVP_PKEY *pk = ll_identity_pkey(id);
	struct ll_buf name = { 0 }, serial = { 0 };
	unsigned char *der = NULL;
	int n, rc;

	if (s == NULL)
		return LL_ENOMEM;
	s->id = id;
	if (EVP_PKEY_is_a(pk, "RSA")) {
		s->sigalg = alg_rsa;
		s->sigalg_len = sizeof(alg_rsa);
	} else {
		s->sigalg = alg_ecdsa;
		s->sigalg_len = sizeof(alg_ecdsa);
	}
	s->sign = EVP_PKEY_CTX_new_from_pkey(ll_ctx_libctx(ctx), pk, NULL);
	rc = s->sign != NULL && EVP_PKEY_sign_init(s->sign) == 1 &&
			     EVP_PKEY_CTX_set_signature_md(s->sign,
							   algs->sha256) == 1 ?
		     0 :
		     LL_ECRYPTO;
	if (rc == 0) {
		n = i2d_X509_NAME(X509_get_issuer_name(x), &der);
		rc = add_i2d(&name, n, der);
		der = NULL;
	}
	if (rc == 0) {
		n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
		rc = add_i2d(&serial, n, der);
	}
	if (rc == 0)
		rc = ll_der_head(&s->sid, 0x30, name.len + serial.len);
	if (rc == 0)
		rc = ll_buf_add(&s->sid, name.p, name.len);
	if (rc == 0)
		rc = ll_buf_add(&s->sid, serial.p, serial.len);
	if (rc == 0)
		rc = certs_encode(&s->certs, id);
	if (rc == 0)
		rc = put_attr(&s->fixed[0], oid_content_type,
			      sizeof(oid_content_type), ll_oid_data,
			      LL_OID_LEN);
	if (rc == 0)
		rc = caps_attr(&s->fixed[1]);
	if (rc == 0)
		rc = ess_attr(&s->fixed[2], x, &name, &serial, algs->sha256);
	ll_buf_free(&name);
	ll_buf_free(&serial);
	if (rc < 0) {
		ll_signer_free(&s);
		return rc;
	}
	*out = s;
	return 0;
}

/* T as a UTCTime from 1950 to 2049, else a GeneralizedTime (RFC 5652
 * 11.3), whole TLV into OUT; its length, 0 if it has none */
static size_t signing_time(unsigned char out[TIME_MAX], time_t t)
{
	char s[32];
	struct tm tm;
	int utc;
	size_t n;

	gmtime_r(&t, &tm);
	utc = tm.tm_year >= 50 && tm.tm_year < 150;
	if (strftime(s, sizeof(s), "%Y%m%d%H%M%SZ", &tm) != 15)
		return 0; /* a year of five digits */
	n = utc ? 13 : 15; /* YYMMDDHHMMSSZ, YYYYMMDDHHMMSSZ */
	out[0] = utc ? 0x17 : 0x18;
	out[1] = (unsigned char)n;
	memcpy(out + 2, s + (utc ? 2 : 0), n);
	return n + 2;
}

/* The context's signer for ID: made on first use, kept while ID is the
 * one that signs (identities live as long as the context). */
static int signer_get(struct ll_signer **out, struct ll_ctx *ctx,
		      const struct ll_identity *id, const struct ll_algs *algs)
{
	struct ll_signer *s = ll_ctx_signer(ctx);
	int rc;

	if (s != NULL && s->id == id) {
		*out = s;
		return 0;
	}
	rc = signer_new(&s, ctx, id, algs);
	if (rc < 0)
		return rc;
	ll_ctx_set_signer(ctx, s);
	*out = s;
	return 0;
}

/* Attribute { TYPE (an OID TLV of OIDLEN octets), SET { VALUE (a whole
 * TLV of LEN octets) } } into OUT, short enough for one-octet lengths:
 * its length. */
static size_t short_attr(unsigned char *out, const unsigned char *oid,
			 size_t oidlen, const unsigned char *value, size_t len)
{
	out[0] = 0x30;
	out[1] = (unsigned char)(oidlen + 2 + len);
	memcpy(out + 2, oid, oidlen);
	out[2 + oidlen] = 0x31;
	out[3 + oidlen] = (unsigned char)len;
	memcpy(out + 4 + oidlen, value, len);
	return 4 + oidlen + len;
}

int ll_cms_signed_sign(struct ll_signed *sd, struct ll_ctx *ctx,
		       const struct ll_identity *id, const char *data,
		       size_t len, struct ll_error *err)
{
	const struct ll_algs *algs = ll_ctx_algs(ctx);
	unsigned char digest[32];
	unsigned int n = 0;

	if (algs != NULL && EVP_Digest(data, len, digest, &n, algs->sha256,
				       NULL) != 1) {
		sd->siglen = 0;
		sd->signer = NULL;
		return ll_err_ossl(err, LL_ECRYPTO, "creating the signature");
	}
	return ll_cms_signed_sign_digest(sd, ctx, id, digest, err);
}

int ll_cms_signed_sign_digest(struct ll_signed *sd, struct ll_ctx *ctx,
			      const struct ll_identity *id,
			      const unsigned char digest_in[32],
			      struct ll_error *err)
{
	const struct ll_algs *algs = ll_ctx_algs(ctx);
	/* the message's own two attributes; the others are the signer's */
	unsigned char md[2 + 32] = { 0x04, 0x20 }, st[TIME_MAX];
	unsigned char md_attr[4 + LL_OID_LEN + sizeof(md)];
	unsigned char st_attr[4 + LL_OID_LEN + TIME_MAX];
	struct ll_buf attr[NATTRS]; /* views, sorted */
	unsigned char digest[32];
	unsigned int n = 0;
	size_t total = 0, stlen;
	struct ll_signer *s = NULL;
	int rc;

	sd->siglen = 0;
	sd->signer = NULL;
	ERR_clear_error();
	rc = algs != NULL && ll_cms_signed_ok(ctx, id) ? 0 : LL_EINVAL;
	if (rc == 0)
		rc = signer_get(&s, ctx, id, algs);
	/* the real clock, as OpenSSL's CMS took it (not ll_ctx_now) */
	stlen = signing_time(st, time(NULL));
	if (rc == 0 && stlen == 0)
		rc = LL_ECRYPTO;
	memcpy(md + 2, digest_in, 32);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < LL_ARRAY_SIZE(s->fixed); i++)
		attr[i] = s->fixed[i];
	attr[3] = (struct ll_buf){ .p = (char *)md_attr };
	attr[3].len = short_attr(md_attr, oid_message_digest,
				 sizeof(oid_message_digest), md, sizeof(md));
	attr[4] = (struct ll_buf){ .p = (char *)st_attr };
	attr[4].len = short_attr(st_attr, oid_signing_time,
				 sizeof(oid_signing_time), st, stlen);
	qsort(attr, NATTRS, sizeof(attr[0]), ll_der_cmp);
	for (size_t i = 0; i < NATTRS; i++)
		total += attr[i].len;
	sd->attrs.len = 0;
	/* the signature covers the attributes as a SET (RFC 5652 5.4) */
	sd->head = ll_der_tlv_size(total) - total;
	rc = ll_buf_reserve(&sd->attrs, sd->head + total);
	if (rc == 0)
		rc = ll_der_head(&sd->attrs, 0x31, total);
	for (size_t i = 0; rc == 0 && i < NATTRS; i++)
		rc = ll_buf_add(&sd->attrs, attr[i].p, attr[i].len);
	if (rc < 0)
		goto out;
	sd->siglen = sizeof(sd->sig);
	if (EVP_Digest(sd->attrs.p, sd->attrs.len, digest, &n, algs->sha256,
		       NULL) != 1 ||
	    EVP_PKEY_sign(s->sign, sd->sig, &sd->siglen, digest,
			  sizeof(digest)) != 1) {
		sd->siglen = 0;
		rc = LL_ECRYPTO;
		goto out;
	}
	sd->signer = s;
out:
	if (rc == LL_EINVAL)
		return ll_err(err, rc, LL_ECLASS_CMS,
			      "not a signer of this context");
	if (rc == LL_ECRYPTO)
		return ll_err_ossl(err, rc, "creating the signature");
	if (rc < 0)
		return ll_err(err, rc, LL_ECLASS_OS, "out of memory");
	return 0;
}

int ll_cms_signed_encode(struct ll_buf *out, const struct ll_signed *sd,
			 const char *data, size_t len,
			 const unsigned char *token, size_t toklen,
			 struct ll_error *err)
{
	const struct ll_signer *s = sd->signer;
	size_t attrs = sd->attrs.len - sd->head;
	size_t ua = 0, ts = 0, si, sis, eci, sdl;
	int rc;

	if (s == NULL || sd->siglen == 0)
		return ll_err(err, LL_EINVAL, LL_ECLASS_CMS,
			      "nothing signed to encode");
	if (token != NULL) {
		/* unsignedAttrs [1] { id-aa-timeStampToken { the token } } */
		ts = sizeof(oid_timestamp_token) + ll_der_tlv_size(toklen);
		ua = ll_der_tlv_size(ll_der_tlv_size(ts));
	}
	si = 3 + s->sid.len + sizeof(alg_sha256) + ll_der_tlv_size(attrs) +
	     s->sigalg_len + ll_der_tlv_size(sd->siglen) + ua;
	sis = ll_der_tlv_size(si);
	eci = LL_OID_LEN;
	if (data != NULL)
		eci += ll_der_tlv_size(ll_der_tlv_size(len));
	sdl = 3 + ll_der_tlv_size(sizeof(alg_sha256)) + ll_der_tlv_size(eci) +
	      s->certs.len + ll_der_tlv_size(sis);
	rc = ll_buf_reserve(
		out, ll_der_tlv_size(sizeof(oid_signed) +
				     ll_der_tlv_size(ll_der_tlv_size(sdl))));
	if (rc == 0)
		rc = ll_der_head(out, 0x30,
				 sizeof(oid_signed) +
					 ll_der_tlv_size(ll_der_tlv_size(sdl)));
	if (rc == 0)
		rc = ll_buf_add(out, oid_signed, sizeof(oid_signed));
	if (rc == 0)
		rc = ll_der_head(out, 0xa0, ll_der_tlv_size(sdl));
	if (rc == 0)
		rc = ll_der_head(out, 0x30, sdl);
	if (rc == 0)
		rc = ll_buf_add(out, "\x02\x01\x01", 3);
	if (rc == 0)
		rc = ll_der_head(out, 0x31, sizeof(alg_sha256));
	if (rc == 0)
		rc = ll_buf_add(out, alg_sha256, sizeof(alg_sha256));
	if (rc == 0)
		rc = ll_der_head(out, 0x30, eci);
	if (rc == 0)
		rc = ll_buf_add(out, ll_oid_data, LL_OID_LEN);
	if (rc == 0 && data != NULL) {
		rc = ll_der_head(out, 0xa0, ll_der_tlv_size(len));
		if (rc == 0)
			rc = ll_der_head(out, 0x04, len);
		if (rc == 0)
			rc = ll_buf_add(out, data, len);
	}
	if (rc == 0)
		rc = ll_buf_add(out, s->certs.p, s->certs.len);
	if (rc == 0)
		rc = ll_der_head(out, 0x31, sis);
	if (rc == 0)
		rc = ll_der_head(out, 0x30, si);
	if (rc == 0)
		rc = ll_buf_add(out, "\x02\x01\x01", 3);
	if (rc == 0)
		rc = ll_buf_add(out, s->sid.p, s->sid.len);
	if (rc == 0)
		rc = ll_buf_add(out, alg_sha256, sizeof(alg_sha256));
	/* the same SET, under [0] IMPLICIT */
	if (rc == 0)
		rc = ll_der_head(out, 0xa0, attrs);
	if (rc == 0)
		rc = ll_buf_add(out, sd->attrs.p + sd->attrs.len - attrs,
				attrs);
	if (rc == 0)
		rc = ll_buf_add(out, s->sigalg, s->sigalg_len);
	if (rc == 0)
		rc = ll_der_head(out, 0x04, sd->siglen);
	if (rc == 0)
		rc = ll_buf_add(out, sd->sig, sd->siglen);
	if (rc == 0 && token != NULL) {
		rc = ll_der_head(out, 0xa1, ll_der_tlv_size(ts));
		if (rc == 0)
			rc = put_attr(out, oid_timestamp_token,
				      sizeof(oid_timestamp_token), token,
				      toklen);
	}
	if (rc < 0)
		return ll_err(err, rc, LL_ECLASS_OS, "out of memory");
	return 0;
}

void ll_signed_free(struct ll_signed *sd)
{
	ll_buf_free(&sd->attrs);
	sd->siglen = 0;
	sd->signer = NULL;
}
