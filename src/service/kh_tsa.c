/*
 * kh_tsa.c - the TSA keyholder's TSA request: an RFC 3161 time-stamp
 * token over the imprint the front parsed, at the keyholder's own
 * clock, signed with the time-stamping unit's key.
 *
 * The token is written straight as DER around the parts that change
 * (TSTInfo, the messageDigest attribute, the signature); everything
 * else - the policy, the signer's identifier, the signingCertificateV2
 * attribute (RFC 5816 ESSCertIDv2), the certificates - is encoded once
 * at start, with OpenSSL's encoders.  Building each token through
 * OpenSSL's TS_RESP_CTX would parse a request again, hash the
 * certificate again and allocate a tree of objects per reply, several
 * times the cost of the ECDSA signature that must be paid anyway.  What
 * this writes is checked by OpenSSL's own verifier (TS_RESP_verify_
 * response) in the unit tests and by `openssl ts -verify` in the
 * integration tests.
 *
 * The token (RFC 3161 2.4.2, RFC 5652 5):
 *   TimeStampResp { status { granted }, ContentInfo { signedData,
 *     SignedData { v3, { sha256 }, { id-ct-TSTInfo, TSTInfo },
 *       [certificates: the unit's and its CA's when certReq],
 *       { SignerInfo { v1, issuerAndSerialNumber, sha256,
 *         [contentType, messageDigest, signingCertificateV2],
 *         ecdsa-with-SHA256, signature } } } } }
 *   TSTInfo { v1, policy, messageImprint as asked, serialNumber,
 *     genTime (milliseconds), accuracy 1 s, nonce as asked }
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "kh_internal.h"
#include "tsa.h"

#define TSA_SERIAL_LEN 16 /* 126 random bits, positive, 16 octets */
#define TSA_OID_MAX 64 /* one OID, DER */
#define TSA_TST_MAX 512 /* a TSTInfo, DER */
#define TSA_ATTRS 3

struct kh_tsa {
	EVP_PKEY *key;
	EVP_PKEY_CTX *sign; /* ECDSA over a SHA-256 digest, kept inited */
	size_t sigmax;
	/* encoded once (full TLVs) */
	unsigned char *policy, *sid, *certs, *sigalg;
	size_t policy_len, sid_len, certs_len, sigalg_len;
	unsigned char *attr[TSA_ATTRS]; /* sorted; NULL: messageDigest */
	size_t attr_len[TSA_ATTRS];
	unsigned char hash_oid[LLD_TSA_SHA512 + 1][TSA_OID_MAX];
	size_t hash_oid_len[LLD_TSA_SHA512 + 1];
	/* the messageDigest attribute, id-ct-TSTInfo, id-signedData */
	unsigned char oid_md[TSA_OID_MAX], oid_tst[TSA_OID_MAX],
		oid_sd[TSA_OID_MAX];
	size_t oid_md_len, oid_tst_len, oid_sd_len;
};

/* ------------------------------------------------------ at start */

/* The OID of TEXT (dotted or a name), DER, into OUT. */
static int oid_der(unsigned char out[TSA_OID_MAX], size_t *len,
		   const char *text)
{
	ASN1_OBJECT *o = OBJ_txt2obj(text, 1);
	unsigned char *p = out;
	int n = o ? i2d_ASN1_OBJECT(o, NULL) : -1;

	if (n <= 0 || n > TSA_OID_MAX) {
		ASN1_OBJECT_free(o);
		return -1;
	}
	n = i2d_ASN1_OBJECT(o, &p);
	ASN1_OBJECT_free(o);
	*len = (size_t)n;
	return n > 0 ? 0 : -1;
}

/* A copy of N octets at P into *out. */
static int dup_bytes(unsigned char **out, size_t *len, const void *p, size_t n)
{
	*out = malloc(n ? n : 1);
	if (*out == NULL)
		return -1;
	memcpy(*out, p, n);
	*len = n;
	return 0;
}

/* Take an encoder's output (N octets at *B, from i2d_*(obj, B); freed
 * here) into *out as plain malloc'd memory.  B is read only here, after
 * the encoder, whichever order the arguments are evaluated in. */
static int take(unsigned char **out, size_t *len, unsigned char **b, int n)
{
	int rc = n > 0 && *b != NULL ? dup_bytes(out, len, *b, (size_t)n) : -1;

	OPENSSL_free(*b);
	*b = NULL;
	return rc;
}

/* Attribute { TYPE, SET { VALUE } } into *out. */
static int attribute(unsigned char **out, size_t *len, const char *type,
		     const unsigned char *value, size_t vlen)
{
	unsigned char oid[TSA_OID_MAX];
	size_t olen = 0;
	struct lld_der d = { 0 };

	if (oid_der(oid, &olen, type) < 0)
		return -1;
	d.cap = lld_der_tl(olen + lld_der_tl(vlen));
	d.p = malloc(d.cap);
	if (d.p == NULL)
		return -1;
	lld_der_hdr(&d, 0x30, olen + lld_der_tl(vlen));
	lld_der_put(&d, oid, olen);
	lld_der_tlv(&d, 0x31, value, vlen);
	*out = d.p;
	*len = d.len;
	return d.bad ? -1 : 0;
}

static int cmp_der(const unsigned char *a, size_t alen, const unsigned char *b,
		   size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* A TLV of TAG around A then B (ALEN, BLEN octets) into *out. */
static int wrap2(unsigned char **out, size_t *len, unsigned tag,
		 const unsigned char *a, size_t alen, const unsigned char *b,
		 size_t blen)
{
	struct lld_der d = { 0 };

	d.cap = lld_der_tl(alen + blen);
	d.p = malloc(d.cap);
	if (d.p == NULL)
		return -1;
	lld_der_hdr(&d, tag, alen + blen);
	lld_der_put(&d, a, alen);
	lld_der_put(&d, b, blen);
	if (d.bad) {
		free(d.p);
		return -1;
	}
	*out = d.p;
	*len = d.len;
	return 0;
}

/* certificates [0] IMPLICIT SET OF: the unit's and its CA's, in DER
 * order. */
static int encode_certs(struct kh_tsa *t, X509 *cert, X509 *ca)
{
	unsigned char *a = NULL, *b = NULL, *ea = NULL, *eb = NULL;
	size_t alen = 0, blen = 0;
	int rc = -1;

	if (take(&a, &alen, &ea, i2d_X509(cert, &ea)) < 0 ||
	    take(&b, &blen, &eb, i2d_X509(ca, &eb)) < 0)
		goto out;
	if (cmp_der(a, alen, b, blen) > 0)
		rc = wrap2(&t->certs, &t->certs_len, 0xa0, b, blen, a, alen);
	else
		rc = wrap2(&t->certs, &t->certs_len, 0xa0, a, alen, b, blen);
out:
	free(a);
	free(b);
	return rc;
}

/* issuerAndSerialNumber of CERT. */
static int encode_sid(struct kh_tsa *t, X509 *cert)
{
	unsigned char *name = NULL, *serial = NULL, *en = NULL, *es = NULL;
	size_t nlen = 0, slen = 0;
	int rc = -1;

	if (take(&name, &nlen, &en,
		 i2d_X509_NAME(X509_get_issuer_name(cert), &en)) < 0 ||
	    take(&serial, &slen, &es,
		 i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &es)) < 0)
		goto out;
	rc = wrap2(&t->sid, &t->sid_len, 0x30, name, nlen, serial, slen);
out:
	free(name);
	free(serial);
	return rc;
}

/* The signed attributes but messageDigest, in their DER order (RFC
 * 5652 5.4: a SET OF, sorted), sorted with a messageDigest of the
 * length it always has: the order is settled before the digest's
 * octets, by the attributes' lengths and types. */
static int encode_attrs(struct kh_tsa *t, X509 *cert)
{
	ESS_SIGNING_CERT_V2 *sc = NULL;
	unsigned char *sc_der = NULL, *enc = NULL,
		      octets[2 + 32] = { 0x04, 32 };
	unsigned char *attr[TSA_ATTRS] = { NULL };
	size_t sc_len = 0, len[TSA_ATTRS] = { 0 };
	int rc = -1, pos[TSA_ATTRS] = { 0 };

	/* ESSCertIDv2 with SHA-256 (hashAlgorithm left at its default)
	 * and issuerSerial, RFC 5816 */
	sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 1);
	if (sc == NULL ||
	    take(&sc_der, &sc_len, &enc, i2d_ESS_SIGNING_CERT_V2(sc, &enc)) < 0)
		goto out;
	/* attr[0] stands for messageDigest */
	if (attribute(&attr[0], &len[0], "1.2.840.113549.1.9.4", octets,
		      sizeof(octets)) < 0 ||
	    attribute(&attr[1], &len[1], "1.2.840.113549.1.9.3", t->oid_tst,
		      t->oid_tst_len) < 0 ||
	    attribute(&attr[2], &len[2], "1.2.840.113549.1.9.16.2.47", sc_der,
		      sc_len) < 0)
		goto out;
	for (int i = 0; i < TSA_ATTRS; i++) /* how many sort before */
		for (int j = 0; j < TSA_ATTRS; j++)
			pos[i] += j != i &&
				  cmp_der(attr[j], len[j], attr[i], len[i]) < 0;
	for (int i = 0; i < TSA_ATTRS; i++) {
		t->attr[pos[i]] = i == 0 ? NULL : attr[i];
		t->attr_len[pos[i]] = len[i];
	}
	for (int i = 1; i < TSA_ATTRS; i++)
		attr[i] = NULL; /* t's now */
	rc = 0;
out:
	for (int i = 0; i < TSA_ATTRS; i++)
		free(attr[i]);
	free(sc_der);
	ESS_SIGNING_CERT_V2_free(sc);
	return rc;
}

static int encode_sigalg(struct kh_tsa *t)
{
	unsigned char oid[TSA_OID_MAX];
	size_t olen = 0;
	struct lld_der d = { 0 };

	/* RFC 5758 3.2: ecdsa-with-SHA256, parameters absent */
	if (oid_der(oid, &olen, "1.2.840.10045.4.3.2") < 0)
		return -1;
	d.cap = lld_der_tl(olen);
	d.p = malloc(d.cap);
	if (d.p == NULL)
		return -1;
	lld_der_hdr(&d, 0x30, olen);
	lld_der_put(&d, oid, olen);
	t->sigalg = d.p;
	t->sigalg_len = d.len;
	return d.bad ? -1 : 0;
}

void kh_tsa_free(struct kh_tsa **pp)
{
	struct kh_tsa *t;

	if (pp == NULL || *pp == NULL)
		return;
	t = *pp;
	*pp = NULL;
	EVP_PKEY_CTX_free(t->sign);
	EVP_PKEY_free(t->key);
	free(t->policy);
	free(t->sid);
	free(t->certs);
	free(t->sigalg);
	for (int i = 0; i < TSA_ATTRS; i++)
		free(t->attr[i]);
	free(t);
}

int kh_tsa_new(struct kh_tsa **out, X509 *cert, X509 *ca, EVP_PKEY *key,
	       const char *policy, struct ll_error *err)
{
	static const char *const hashes[] = {
		[LLD_TSA_SHA256] = "2.16.840.1.101.3.4.2.1",
		[LLD_TSA_SHA384] = "2.16.840.1.101.3.4.2.2",
		[LLD_TSA_SHA512] = "2.16.840.1.101.3.4.2.3",
	};
	struct kh_tsa *t = calloc(1, sizeof(*t));
	unsigned char oid[TSA_OID_MAX];
	size_t olen = 0;
	int rc = 0;

	if (t == NULL)
		return kh_err(err, LL_ENOMEM, "out of memory");
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		rc = kh_err(err, LL_EPOLICY,
			    "the time-stamping unit's key is not EC");
		goto out;
	}
	if (oid_der(oid, &olen, policy) < 0 ||
	    dup_bytes(&t->policy, &t->policy_len, oid, olen) < 0) {
		rc = kh_err(err, LL_EINVAL, "[tsa] policy %s is not an OID",
			    policy);
		goto out;
	}
	for (int h = LLD_TSA_SHA256; h <= LLD_TSA_SHA512; h++)
		if (oid_der(t->hash_oid[h], &t->hash_oid_len[h], hashes[h]) < 0)
			goto fail;
	if (oid_der(t->oid_md, &t->oid_md_len, "1.2.840.113549.1.9.4") < 0 ||
	    oid_der(t->oid_tst, &t->oid_tst_len, "1.2.840.113549.1.9.16.1.4") <
		    0 ||
	    oid_der(t->oid_sd, &t->oid_sd_len, "1.2.840.113549.1.7.2") < 0 ||
	    encode_sid(t, cert) < 0 || encode_certs(t, cert, ca) < 0 ||
	    encode_attrs(t, cert) < 0 || encode_sigalg(t) < 0)
		goto fail;
	if (!EVP_PKEY_up_ref(key))
		goto fail;
	t->key = key;
	t->sigmax = (size_t)EVP_PKEY_get_size(key);
	t->sign = EVP_PKEY_CTX_new(key, NULL);
	if (t->sign == NULL || EVP_PKEY_sign_init(t->sign) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(t->sign, EVP_sha256()) <= 0)
		goto fail;
	*out = t;
	return 0;
fail:
	rc = kh_err_ossl(err, LL_ECRYPTO, "preparing the time-stamp tokens");
out:
	kh_tsa_free(&t);
	return rc;
}

/* ------------------------------------------------------ per token */

/* GeneralizedTime of TS (RFC 3161 2.4.2: UTC, "Z", no trailing zeros
 * in the fraction, no fraction when it is zero) into OUT. */
static size_t gen_time(char out[32], const struct timespec *ts)
{
	struct tm tm;
	time_t s = ts->tv_sec;
	long ms = ts->tv_nsec / 1000000;
	size_t n;

	if (gmtime_r(&s, &tm) == NULL)
		return 0;
	n = strftime(out, 32, "%Y%m%d%H%M%S", &tm);
	if (n != 14)
		return 0;
	if (ms != 0) {
		n += (size_t)snprintf(out + n, 32 - n, ".%03ld", ms);
		while (out[n - 1] == '0')
			n--;
	}
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}

/* The TSTInfo of REQ at TS into D. */
static void tst_info(struct lld_der *d, const struct kh_tsa *t,
		     const struct lld_tsa_req *req, const unsigned char *serial,
		     const char *when, size_t whenlen)
{
	static const unsigned char v1[] = { 0x02, 0x01, 0x01 };
	static const unsigned char null[] = { 0x05, 0x00 };
	/* Accuracy { seconds 1 }: the clock is the host's, kept by NTP */
	static const unsigned char accuracy[] = { 0x30, 0x03, 0x02, 0x01,
						  0x01 };
	size_t hlen = t->hash_oid_len[req->hash];
	size_t alg = hlen + (req->null_params ? sizeof(null) : 0);
	size_t mi = lld_der_tl(alg) + lld_der_tl(req->imprint_len);
	size_t body = sizeof(v1) + t->policy_len + lld_der_tl(mi) +
		      lld_der_tl(TSA_SERIAL_LEN) + lld_der_tl(whenlen) +
		      sizeof(accuracy) +
		      (req->nonce_len ? lld_der_tl(req->nonce_len) : 0);

	lld_der_hdr(d, 0x30, body);
	lld_der_put(d, v1, sizeof(v1));
	lld_der_put(d, t->policy, t->policy_len);
	lld_der_hdr(d, 0x30, mi);
	lld_der_hdr(d, 0x30, alg);
	lld_der_put(d, t->hash_oid[req->hash], hlen);
	if (req->null_params)
		lld_der_put(d, null, sizeof(null));
	lld_der_tlv(d, 0x04, req->imprint, req->imprint_len);
	lld_der_tlv(d, 0x02, serial, TSA_SERIAL_LEN);
	lld_der_tlv(d, 0x18, when, whenlen);
	lld_der_put(d, accuracy, sizeof(accuracy));
	if (req->nonce_len)
		lld_der_tlv(d, 0x02, req->nonce, req->nonce_len);
}

/* The signed attributes' content, the messageDigest DIGEST in its
 * place. */
static void signed_attrs(struct lld_der *d, const struct kh_tsa *t,
			 const unsigned char digest[32])
{
	for (int i = 0; i < TSA_ATTRS; i++) {
		if (t->attr[i] != NULL) {
			lld_der_put(d, t->attr[i], t->attr_len[i]);
			continue;
		}
		lld_der_hdr(d, 0x30,
			    t->oid_md_len + lld_der_tl(lld_der_tl(32)));
		lld_der_put(d, t->oid_md, t->oid_md_len);
		lld_der_hdr(d, 0x31, lld_der_tl(32));
		lld_der_tlv(d, 0x04, digest, 32);
	}
}

static size_t attrs_len(const struct kh_tsa *t)
{
	size_t n = 0;

	for (int i = 0; i < TSA_ATTRS; i++)
		n += t->attr_len[i];
	return n;
}

/* A token for REQ at TS into OUT (CAP octets); its length, 0 on
 * failure (ERR says why). */
static size_t token(unsigned char *out, size_t cap, const struct kh_tsa *t,
		    const struct lld_tsa_req *req, const struct timespec *ts,
		    struct ll_error *err)
{
	static const unsigned char granted[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	static const unsigned char v1[] = { 0x02, 0x01, 0x01 };
	static const unsigned char v3[] = { 0x02, 0x01, 0x03 };
	unsigned char tst_buf[TSA_TST_MAX], serial[TSA_SERIAL_LEN];
	unsigned char digest[32], sig[256], set_buf[1024];
	struct lld_der tst = { tst_buf, 0, sizeof(tst_buf), 0 };
	struct lld_der set = { set_buf, 0, sizeof(set_buf), 0 };
	struct lld_der d = { out, 0, cap, 0 };
	size_t siglen = sizeof(sig), whenlen, alen, si, eci, sd, ci, algid;
	char when[32];

	whenlen = gen_time(when, ts);
	if (whenlen == 0) {
		kh_err(err, LL_EIO, "the clock is out of range");
		return 0;
	}
	/* unique and unpredictable (RFC 3161 2.4.2) */
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		kh_err_ossl(err, LL_ECRYPTO, "the token's serial number");
		return 0;
	}
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	tst_info(&tst, t, req, serial, when, whenlen);
	alen = attrs_len(t);
	if (tst.bad ||
	    !EVP_Digest(tst.p, tst.len, digest, NULL, EVP_sha256(), NULL))
		goto crypto;
	/* the signature is over the attributes as a SET (RFC 5652 5.4) */
	lld_der_hdr(&set, 0x31, alen);
	signed_attrs(&set, t, digest);
	if (set.bad || t->sigmax > sizeof(sig) ||
	    !EVP_Digest(set.p, set.len, digest, NULL, EVP_sha256(), NULL) ||
	    EVP_PKEY_sign(t->sign, sig, &siglen, digest, sizeof(digest)) <= 0)
		goto crypto;

	algid = 2 + t->hash_oid_len[LLD_TSA_SHA256]; /* 30 len oid */
	si = sizeof(v1) + t->sid_len + algid + lld_der_tl(alen) +
	     t->sigalg_len + lld_der_tl(siglen);
	eci = t->oid_tst_len + lld_der_tl(lld_der_tl(tst.len));
	sd = sizeof(v3) + lld_der_tl(algid) + lld_der_tl(eci) +
	     (req->cert_req ? t->certs_len : 0) + lld_der_tl(lld_der_tl(si));
	ci = t->oid_sd_len + lld_der_tl(lld_der_tl(sd));

	lld_der_hdr(&d, 0x30, sizeof(granted) + lld_der_tl(ci));
	lld_der_put(&d, granted, sizeof(granted));
	lld_der_hdr(&d, 0x30, ci);
	lld_der_put(&d, t->oid_sd, t->oid_sd_len);
	lld_der_hdr(&d, 0xa0, lld_der_tl(sd));
	lld_der_hdr(&d, 0x30, sd);
	lld_der_put(&d, v3, sizeof(v3));
	lld_der_hdr(&d, 0x31, algid);
	lld_der_tlv(&d, 0x30, t->hash_oid[LLD_TSA_SHA256],
		    t->hash_oid_len[LLD_TSA_SHA256]);
	lld_der_hdr(&d, 0x30, eci);
	lld_der_put(&d, t->oid_tst, t->oid_tst_len);
	lld_der_hdr(&d, 0xa0, lld_der_tl(tst.len));
	lld_der_tlv(&d, 0x04, tst.p, tst.len);
	if (req->cert_req)
		lld_der_put(&d, t->certs, t->certs_len);
	lld_der_hdr(&d, 0x31, lld_der_tl(si));
	lld_der_hdr(&d, 0x30, si);
	lld_der_put(&d, v1, sizeof(v1));
	lld_der_put(&d, t->sid, t->sid_len);
	lld_der_tlv(&d, 0x30, t->hash_oid[LLD_TSA_SHA256],
		    t->hash_oid_len[LLD_TSA_SHA256]);
	lld_der_hdr(&d, 0xa0, alen);
	lld_der_put(&d, set.p + lld_der_hdr_len(alen), alen);
	lld_der_put(&d, t->sigalg, t->sigalg_len);
	lld_der_tlv(&d, 0x04, sig, siglen);
	if (d.bad) {
		kh_err(err, LL_ECRYPTO, "a token over %zu octets", cap);
		return 0;
	}
	return d.len;
crypto:
	kh_err_ossl(err, LL_ECRYPTO, "signing the time-stamp token");
	return 0;
}

int kh_op_tsa(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	      struct ll_error *err)
{
	struct lld_tsa_req req = { 0 };
	unsigned char out[LLD_TSA_REPLY_MAX];
	const unsigned char *p;
	struct timespec ts;
	size_t n = 0, len;

	req.hash = (enum lld_tsa_hash)kh_r_u8(r);
	req.null_params = (int)kh_r_u8(r);
	p = kh_r_bytes(r, LLD_TSA_IMPRINT_MAX, &n);
	if (p != NULL && n <= sizeof(req.imprint)) {
		memcpy(req.imprint, p, n);
		req.imprint_len = n;
	}
	p = kh_r_bytes(r, LLD_TSA_NONCE_MAX, &n);
	if (p != NULL && n <= sizeof(req.nonce)) {
		memcpy(req.nonce, p, n);
		req.nonce_len = n;
	}
	req.cert_req = (int)kh_r_u8(r);
	if (!kh_r_done(r) || k->tsa == NULL ||
	    lld_tsa_hash_len(req.hash) == 0 ||
	    req.imprint_len != lld_tsa_hash_len(req.hash) ||
	    req.null_params > 1 || req.cert_req > 1 ||
	    (req.nonce_len && !lld_tsa_nonce_ok(req.nonce, req.nonce_len)))
		return KH_MALFORMED;
	/* the time is the keyholder's: the front is not trusted with it */
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return kh_err(err, LL_EIO, "the clock: unreadable");
	len = token(out, sizeof(out), k->tsa, &req, &ts, err);
	if (len == 0)
		return err && err->code ? err->code : LL_ECRYPTO;
	kh_w_bytes(w, out, len);
	return 0;
}
