/*
 * tsa_req.c - the TSA's request parser and its refusals (tsa.h): what
 * the front makes of the untrusted octets of a TimeStampReq, with no
 * HTTP around it, so that unit tests and the fuzz target call it as
 * the server does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "front.h" /* LLD_BODY_MAX */
#include "tsa.h"

static int refuse(enum lld_tsa_fail *fail, char *why, size_t cap,
		  enum lld_tsa_fail bit, const char *text)
{
	*fail = bit;
	snprintf(why, cap, "%s", text);
	return -1;
}

/* The imprint's hash and its parameters (absent or NULL, RFC 5754 2). */
static int imprint_alg(struct lld_tsa_req *out, const X509_ALGOR *alg)
{
	const ASN1_OBJECT *obj = NULL;
	const void *val = NULL;
	int ptype = 0;

	X509_ALGOR_get0(&obj, &ptype, &val, alg);
	switch (OBJ_obj2nid(obj)) {
	case NID_sha256:
		out->hash = LLD_TSA_SHA256;
		break;
	case NID_sha384:
		out->hash = LLD_TSA_SHA384;
		break;
	case NID_sha512:
		out->hash = LLD_TSA_SHA512;
		break;
	default:
		return -1;
	}
	if (ptype == V_ASN1_UNDEF)
		out->null_params = 0;
	else if (ptype == V_ASN1_NULL)
		out->null_params = 1;
	else
		return -1;
	return 0;
}

/* The content octets of the nonce N (minimal: OpenSSL's decoder
 * refuses padded INTEGERs, and re-encoding keeps what was sent). */
static int nonce_octets(struct lld_tsa_req *out, const ASN1_INTEGER *n)
{
	unsigned char buf[2 + LLD_TSA_NONCE_MAX + 8], *p = buf;
	int len = i2d_ASN1_INTEGER(n, NULL);

	if (len < 3 || (size_t)len > sizeof(buf))
		return -1;
	len = i2d_ASN1_INTEGER(n, &p);
	/* a short-form header: 02 LEN */
	if (len < 3 || buf[0] != 0x02 || buf[1] != (unsigned)len - 2 ||
	    (size_t)len - 2 > LLD_TSA_NONCE_MAX ||
	    !lld_tsa_nonce_ok(buf + 2, (size_t)len - 2))
		return -1;
	memcpy(out->nonce, buf + 2, (size_t)len - 2);
	out->nonce_len = (size_t)len - 2;
	return 0;
}

int lld_tsa_parse(struct lld_tsa_req *out, const unsigned char *body,
		  size_t len, const char *policy, enum lld_tsa_fail *fail,
		  char *why, size_t cap)
{
	const unsigned char *p = body;
	TS_REQ *r = NULL;
	TS_MSG_IMPRINT *mi;
	ASN1_OCTET_STRING *h;
	const ASN1_INTEGER *nonce;
	ASN1_OBJECT *want = NULL, *asked;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0 || len > LLD_BODY_MAX)
		return refuse(fail, why, cap, LLD_TSA_BAD_DATA_FORMAT,
			      "no TimeStampReq, or one too large");
	r = d2i_TS_REQ(NULL, &p, (long)len);
	if (r == NULL || p != body + len) {
		refuse(fail, why, cap, LLD_TSA_BAD_DATA_FORMAT,
		       "not a DER TimeStampReq");
		goto out;
	}
	if (TS_REQ_get_version(r) != 1) {
		refuse(fail, why, cap, LLD_TSA_BAD_REQUEST,
		       "TimeStampReq version is not 1");
		goto out;
	}
	mi = TS_REQ_get_msg_imprint(r);
	if (imprint_alg(out, TS_MSG_IMPRINT_get_algo(mi)) < 0) {
		refuse(fail, why, cap, LLD_TSA_BAD_ALG,
		       "the imprint's hash must be SHA-256, SHA-384 or "
		       "SHA-512");
		goto out;
	}
	h = TS_MSG_IMPRINT_get_msg(mi);
	if ((size_t)ASN1_STRING_length(h) != lld_tsa_hash_len(out->hash)) {
		refuse(fail, why, cap, LLD_TSA_BAD_DATA_FORMAT,
		       "the imprint's length is not its hash's");
		goto out;
	}
	memcpy(out->imprint, ASN1_STRING_get0_data(h),
	       lld_tsa_hash_len(out->hash));
	out->imprint_len = lld_tsa_hash_len(out->hash);
	asked = TS_REQ_get_policy_id(r);
	want = OBJ_txt2obj(policy, 1);
	if (want == NULL) {
		refuse(fail, why, cap, LLD_TSA_SYSTEM_FAILURE,
		       "the TSA's policy is not configured");
		goto out;
	}
	if (asked != NULL && OBJ_cmp(asked, want) != 0) {
		refuse(fail, why, cap, LLD_TSA_UNACCEPTED_POLICY,
		       "this TSA issues under one policy only");
		goto out;
	}
	nonce = TS_REQ_get_nonce(r);
	if (nonce != NULL && nonce_octets(out, nonce) < 0) {
		refuse(fail, why, cap, LLD_TSA_BAD_REQUEST,
		       "the nonce is longer than 64 octets");
		goto out;
	}
	/* RFC 3161 2.4.1: an extension not recognised, critical or
	 * not, is refused; this TSA knows none */
	if (sk_X509_EXTENSION_num(TS_REQ_get_exts(r)) > 0) {
		refuse(fail, why, cap, LLD_TSA_UNACCEPTED_EXTENSION,
		       "this TSA takes no request extensions");
		goto out;
	}
	out->cert_req = TS_REQ_get_cert_req(r) ? 1 : 0;
	rc = 0;
out:
	ASN1_OBJECT_free(want);
	TS_REQ_free(r);
	return rc;
}

int lld_tsa_rejection(unsigned char **der, size_t *len, enum lld_tsa_fail fail,
		      const char *why)
{
	static const unsigned char rejection[] = { 0x02, 0x01, 0x02 };
	unsigned char buf[64 + LLD_TSA_WHY_MAX], bits[1 + 4] = { 0 };
	struct lld_der d = { buf, 0, sizeof(buf), 0 };
	size_t wlen = strnlen(why, LLD_TSA_WHY_MAX), nbits, info;

	/* failInfo: a named BIT STRING, trailing zero bits dropped */
	nbits = (size_t)fail / 8 + 1;
	bits[0] = (unsigned char)(7 - (unsigned)fail % 8);
	bits[nbits] = (unsigned char)(0x80u >> ((unsigned)fail % 8));
	info = sizeof(rejection) + lld_der_tl(lld_der_tl(wlen)) +
	       lld_der_tl(1 + nbits);
	lld_der_hdr(&d, 0x30, lld_der_tl(info));
	lld_der_hdr(&d, 0x30, info);
	lld_der_put(&d, rejection, sizeof(rejection));
	lld_der_hdr(&d, 0x30, lld_der_tl(wlen)); /* PKIFreeText */
	lld_der_tlv(&d, 0x0c, why, wlen);
	lld_der_tlv(&d, 0x03, bits, 1 + nbits);
	if (d.bad)
		return -1;
	*der = malloc(d.len);
	if (*der == NULL)
		return -1;
	memcpy(*der, d.p, d.len);
	*len = d.len;
	return 0;
}
