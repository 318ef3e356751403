/*
 * cms_sign.c - CMS SignedData: make (detached or streamed) and verify.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* What letterlock reads, in order of preference (RFC 8551 2.5.2). */
static const int smimecaps[] = {
	NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc, NID_aes_128_cbc,
	NID_rsaesOaep,
};

static int add_caps(CMS_SignerInfo *si)
{
	STACK_OF(X509_ALGOR) *algs = sk_X509_ALGOR_new_null();
	int ok = algs != NULL;

	for (size_t i = 0; ok && i < LL_ARRAY_SIZE(smimecaps); i++)
		ok = PKCS7_simple_smimecap(algs, smimecaps[i], 0);
	ok = ok && CMS_add_smimecap(si, algs);
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	return ok;
}

/* The LL_CAP_* bits of the signed SMIMECapabilities of SI (RFC 8551
 * 2.5.2) that letterlock knows; 0 when there are none or they do not
 * parse.  Unsigned attributes are not looked at. */
static unsigned signed_caps(CMS_SignerInfo *si)
{
	static const struct {
		int nid;
		unsigned cap;
	} known[] = {
		{ NID_aes_256_gcm, LL_CAP_AES256_GCM },
		{ NID_aes_128_gcm, LL_CAP_AES128_GCM },
		{ NID_aes_256_cbc, LL_CAP_AES256_CBC },
		{ NID_aes_128_cbc, LL_CAP_AES128_CBC },
		{ NID_rsaesOaep, LL_CAP_RSA_OAEP },
	};
	const ASN1_STRING *seq;
	const unsigned char *p;
	X509_ALGORS *algs;
	unsigned caps = 0;

	seq = CMS_signed_get0_data_by_OBJ(
		si, OBJ_nid2obj(NID_SMIMECapabilities), -3, V_ASN1_SEQUENCE);
	if (seq == NULL)
		return 0;
	p = ASN1_STRING_get0_data(seq);
	algs = d2i_X509_ALGORS(NULL, &p, ASN1_STRING_length(seq));
	for (int i = 0; algs != NULL && i < sk_X509_ALGOR_num(algs); i++) {
		const ASN1_OBJECT *oid;
		int nid;

		X509_ALGOR_get0(&oid, NULL, NULL, sk_X509_ALGOR_value(algs, i));
		nid = OBJ_obj2nid(oid);
		for (size_t k = 0; k < LL_ARRAY_SIZE(known); k++)
			if (known[k].nid == nid)
				caps |= known[k].cap;
	}
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	ERR_clear_error(); /* a list that does not parse is no list */
	return caps;
}

static CMS_ContentInfo *sign_new(struct ll_ctx *ctx,
				 const struct ll_identity *id,
				 unsigned flags, struct ll_error *err)
{
	STACK_OF(X509) *chain = ll_identity_chain_stack(id);
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	unsigned fl = flags | CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP;

	ERR_clear_error();
	if (chain == NULL)
		goto fail;
	cms = CMS_sign_ex(NULL, NULL, chain, NULL, fl, ll_ctx_libctx(ctx),
			  NULL);
	if (cms == NULL)
		goto fail;
	si = CMS_add1_signer(cms, ll_cert_x509(ll_identity_cert(id)),
			     ll_identity_pkey(id), EVP_sha256(),
			     fl | CMS_CADES);
	if (si == NULL || !add_caps(si))
		goto fail;
	sk_X509_free(chain);
	return cms;
fail:
	ll_err_ossl(err, LL_ECRYPTO, "creating the signature");
	CMS_ContentInfo_free(cms);
	sk_X509_free(chain);
	return NULL;
}

/*
 * What came of asking for STAMP's time-stamp: RC, and WHY when it
 * failed.  Without a token the message is signed all the same unless
 * one is required.
 */
static int stamp_result(struct ll_stamp *stamp, int rc,
			const struct ll_error *why, struct ll_error *err)
{
	stamp->stamped = rc == 0;
	stamp->note[0] = '\0';
	if (rc == 0)
		return 0;
	if (stamp->required)
		return ll_err(err, rc, why->klass,
			      "a time-stamp is required: %s", why->message);
	/* signed all the same, and the caller says so */
	snprintf(stamp->note, sizeof(stamp->note),
		 "signed without a time-stamp: %.160s", why->message);
	return 0;
}

/* The time-stamp STAMP asks for, into the only signer of CMS. */
static int stamp_signer(CMS_ContentInfo *cms, struct ll_ctx *ctx,
			struct ll_stamp *stamp, struct ll_error *err)
{
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms),
						     0);
	struct ll_error why = { 0 };
	int rc;

	rc = si ? ll_tsp_stamp(si, ctx, stamp->url, stamp->ca_file, &why) :
		  ll_err(&why, LL_ECRYPTO, LL_ECLASS_CMS, "no signer");
	return stamp_result(stamp, rc, &why, err);
}

/*
 * Our own SignedData for SD: the token STAMP asks for, over the
 * signature value, then the encoding, DATA inside unless DETACHED.
 */
static int signed_finish(struct ll_buf *sig_der, struct ll_signed *sd,
			 struct ll_ctx *ctx, int detached, const char *data,
			 size_t len, struct ll_stamp *stamp,
			 struct ll_error *err)
{
	struct ll_buf tok = { 0 };
	int rc = 0;

	if (stamp != NULL && stamp->url != NULL) {
		struct ll_error why = { 0 };

		rc = ll_tsp_token(&tok, sd->sig, sd->siglen, ctx, stamp->url,
				  stamp->ca_file, &why);
		rc = stamp_result(stamp, rc, &why, err);
	}
	if (rc == 0)
		rc = ll_cms_signed_encode(
			sig_der, sd, detached ? NULL : data, len,
			tok.len > 0 ? (const unsigned char *)tok.p : NULL,
			tok.len, err);
	ll_buf_free(&tok);
	return rc;
}

static int digest_put(void *arg, const char *p, size_t n)
{
	return EVP_DigestUpdate(arg, p, n) == 1 ? 0 : LL_ECRYPTO;
}

/*
 * A detached signature by an identity cms_signed.c signs with takes
 * only the content's digest as it is written; anything else goes
 * through OpenSSL's CMS, which streams embedded content itself.
 */
/* S started on OpenSSL's CMS: its content goes to S->in. */
static int ossl_start(struct ll_cms_signing *s, struct ll_ctx *ctx,
		      const struct ll_identity *id, int detached,
		      struct ll_error *err)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->id = id;
	s->cms = sign_new(ctx, id, detached ? CMS_DETACHED : 0, err);
	if (s->cms == NULL)
		return LL_ECRYPTO;
	s->in = CMS_dataInit(s->cms, NULL);
	if (s->in == NULL) {
		ll_cms_sign_abort(s);
		return ll_err_ossl(err, LL_ECRYPTO, "signing");
	}
	return 0;
}

int ll_cms_sign_start(struct ll_cms_signing *s, struct ll_ctx *ctx,
		      const struct ll_identity *id, int detached,
		      struct ll_error *err)
{
	const struct ll_algs *algs = ll_ctx_algs(ctx);

	if (detached && algs != NULL && ll_cms_signed_ok(ctx, id)) {
		memset(s, 0, sizeof(*s));
		s->ctx = ctx;
		s->id = id;
		s->md = EVP_MD_CTX_new();
		if (s->md == NULL ||
		    EVP_DigestInit_ex(s->md, algs->sha256, NULL) != 1 ||
		    (s->in = ll_bio_sink_new(digest_put, s->md)) == NULL) {
			ll_cms_sign_abort(s);
			return ll_err_ossl(err, LL_ECRYPTO, "signing");
		}
		return 0;
	}
	return ossl_start(s, ctx, id, detached, err);
}

void ll_cms_sign_abort(struct ll_cms_signing *s)
{
	BIO_free_all(s->in);
	s->in = NULL;
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	CMS_ContentInfo_free(s->cms);
	s->cms = NULL;
}

static int own_finish(struct ll_buf *sig_der, struct ll_cms_signing *s,
		      struct ll_stamp *stamp, struct ll_error *err)
{
	struct ll_signed sd = { .siglen = 0 };
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int rc;

	if (EVP_DigestFinal_ex(s->md, digest, &n) != 1 || n != 32)
		rc = ll_err_ossl(err, LL_ECRYPTO, "signing");
	else
		rc = ll_cms_signed_sign_digest(&sd, s->ctx, s->id, digest,
					       err);
	if (rc == 0)
		rc = signed_finish(sig_der, &sd, s->ctx, 1, NULL, 0, stamp,
				   err);
	ll_signed_free(&sd);
	OPENSSL_cleanse(digest, sizeof(digest));
	ll_cms_sign_abort(s);
	return rc;
}

int ll_cms_sign_finish(struct ll_buf *sig_der, struct ll_cms_signing *s,
		       struct ll_stamp *stamp, struct ll_error *err)
{
	unsigned char *der = NULL;
	int n, rc = 0;

	if (s->md != NULL)
		return own_finish(sig_der, s, stamp, err);
	if (!CMS_dataFinal(s->cms, s->in)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "signing");
		goto out;
	}
	/* the token covers the signature value: added once it exists,
	 * as an unsigned attribute the signature does not cover */
	if (stamp != NULL && stamp->url != NULL) {
		rc = stamp_signer(s->cms, s->ctx, stamp, err);
		if (rc < 0)
			goto out;
	}
	n = i2d_CMS_ContentInfo(s->cms, &der);
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding the signature");
		goto out;
	}
	rc = ll_buf_add(sig_der, der, (size_t)n);
out:
	OPENSSL_free(der);
	ll_cms_sign_abort(s);
	return rc;
}

int ll_cms_sign_buffer_ossl(struct ll_buf *sig_der, struct ll_ctx *ctx,
			    const struct ll_identity *id, int detached,
			    const char *data, size_t len,
			    struct ll_stamp *stamp, struct ll_error *err)
{
	struct ll_cms_signing s;
	int rc = ossl_start(&s, ctx, id, detached, err);

	if (rc < 0)
		return rc;
	if (ll_bio_put(s.in, data, len) < 0) {
		ll_cms_sign_abort(&s);
		return ll_err_ossl(err, LL_ECRYPTO, "signing");
	}
	return ll_cms_sign_finish(sig_der, &s, stamp, err);
}

int ll_cms_sign_buffer(struct ll_buf *sig_der, struct ll_ctx *ctx,
		       const struct ll_identity *id, int detached,
		       const char *data, size_t len, struct ll_stamp *stamp,
		       struct ll_error *err)
{
	struct ll_signed sd = { .siglen = 0 };
	int rc;

	/* decided before anything is signed */
	if (!ll_cms_signed_ok(ctx, id))
		return ll_cms_sign_buffer_ossl(sig_der, ctx, id, detached, data,
					       len, stamp, err);
	rc = ll_cms_signed_sign(&sd, ctx, id, data, len, err);
	if (rc == 0)
		rc = signed_finish(sig_der, &sd, ctx, detached, data, len,
				   stamp, err);
	ll_signed_free(&sd);
	return rc;
}

CMS_ContentInfo *ll_cms_sign_stream_new(struct ll_ctx *ctx,
					const struct ll_identity *id,
					struct ll_error *err)
{
	return sign_new(ctx, id, CMS_STREAM, err);
}

/* ---- verification ---- */

static time_t signing_time(CMS_SignerInfo *si, int *have)
{
	int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	struct tm tm;

	*have = 0;
	if (idx < 0)
		return 0;
	a = CMS_signed_get_attr(si, idx);
	if (a == NULL || X509_ATTRIBUTE_count(a) != 1)
		return 0;
	t = X509_ATTRIBUTE_get0_type(a, 0);
	if (t == NULL || (t->type != V_ASN1_UTCTIME &&
			  t->type != V_ASN1_GENERALIZEDTIME))
		return 0;
	if (!ASN1_TIME_to_tm((ASN1_TIME *)t->value.ptr, &tm))
		return 0;
	*have = 1;
	return timegm(&tm);
}

/*
 * RFC 5652 11.1: with signed attributes, a contentType attribute MUST be
 * there, once, with one value equal to eContentType (OpenSSL does not
 * check it: "Johnny, you are fired" swaps the type).
 */
static int content_type_ok(CMS_SignerInfo *si, CMS_ContentInfo *cms)
{
	int idx, n = CMS_signed_get_attr_count(si);
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;

	if (n <= 0)
		return 1; /* no signed attributes: the signature is the digest */
	idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1);
	if (idx < 0 ||
	    CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, idx) >= 0)
		return 0;
	a = CMS_signed_get_attr(si, idx);
	if (a == NULL || X509_ATTRIBUTE_count(a) != 1)
		return 0;
	t = X509_ATTRIBUTE_get0_type(a, 0);
	return t != NULL && t->type == V_ASN1_OBJECT &&
	       OBJ_cmp(t->value.object, CMS_get0_eContentType(cms)) == 0;
}

static void set_why(struct ll_verify_result *r, enum ll_sig_state s,
		    const char *why)
{
	r->state = s;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

/* FPR: the signer's SHA-256 fingerprint, for the chain cache, or NULL.
 * *ISSUER: a reference to the signer's issuer in the chain built, when
 * it verified (else left NULL). */
static void chain_check(struct ll_verify_result *r, struct ll_ctx *ctx,
			X509 *signer, const unsigned char *fpr,
			STACK_OF(X509) *certs, time_t when, X509 **issuer)
{
	X509_STORE_CTX *sctx = X509_STORE_CTX_new_ex(ll_ctx_libctx(ctx),
						     NULL);
	int e;

	if (sctx == NULL ||
	    !X509_STORE_CTX_init(sctx, ll_ctx_store(ctx), signer, certs) ||
	    !X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SMIME_SIGN)) {
		set_why(r, LL_SIG_INVALID, "cannot set up chain verification");
		goto out;
	}
	X509_STORE_CTX_set_time(sctx, 0, when);
	if (X509_verify_cert(sctx) == 1) {
		STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(sctx);
		time_t from = 0, until = (time_t)INT64_MAX;

		r->state = LL_SIG_VALID;
		/* the window in which every certificate of the chain holds */
		for (int i = 0; i < sk_X509_num(chain); i++) {
			X509 *x = sk_X509_value(chain, i);
			time_t nb = ll_asn1_time(X509_get0_notBefore(x));
			time_t na = ll_asn1_time(X509_get0_notAfter(x));

			from = nb > from ? nb : from;
			until = na != 0 && na < until ? na : until;
		}
		if (sk_X509_num(chain) > 1 &&
		    X509_up_ref(sk_X509_value(chain, 1)))
			*issuer = sk_X509_value(chain, 1);
		if (fpr != NULL)
			ll_ctx_chain_remember(ctx, fpr, from, until, *issuer);
		goto out;
	}
	e = X509_STORE_CTX_get_error(sctx);
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		set_why(r, LL_SIG_EXPIRED, X509_verify_cert_error_string(e));
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		set_why(r, LL_SIG_UNTRUSTED, X509_verify_cert_error_string(e));
		break;
	default:
		set_why(r, LL_SIG_INVALID, X509_verify_cert_error_string(e));
		break;
	}
out:
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
}

/* X pushed on SK with a reference of its own; 0 out of memory */
static int push_ref(STACK_OF(X509) *sk, X509 *x)
{
	if (!sk_X509_push(sk, x))
		return 0;
	X509_up_ref(x);
	return 1;
}

static int has_signer(CMS_SignerInfo *si, STACK_OF(X509) *sk)
{
	for (int i = 0; i < sk_X509_num(sk); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(sk, i)) == 0)
			return 1;
	return 0;
}

/*
 * A signature that came without its signer's certificate (Outlook and
 * NSS can leave the certificates out): the contact's certificate that
 * the SignerIdentifier names, with EXTRA, in *OUT (a new stack; NULL
 * when the message has the signer's or no contact matches).  It is
 * judged as if the message carried it: chain, purpose, From.
 */
static int add_known_signer(STACK_OF(X509) **out, struct ll_ctx *ctx,
			    CMS_ContentInfo *cms, CMS_SignerInfo *si,
			    STACK_OF(X509) *extra)
{
	STACK_OF(X509) *sk = NULL, *carried;
	size_t n = ll_ctx_contact_count(ctx);
	int found, ok = 1;

	*out = NULL;
	if (n == 0 || has_signer(si, extra))
		return 0;
	carried = CMS_get1_certs(cms);
	found = has_signer(si, carried);
	sk_X509_pop_free(carried, X509_free);
	if (found)
		return 0;
	sk = sk_X509_new_null();
	for (int j = 0; sk != NULL && ok && j < sk_X509_num(extra); j++)
		ok = push_ref(sk, sk_X509_value(extra, j));
	for (size_t i = 0; sk != NULL && ok && i < n; i++) {
		X509 *x = ll_cert_x509(ll_ctx_contact_at(ctx, i));

		if (CMS_SignerInfo_cert_cmp(si, x) == 0) {
			ok = push_ref(sk, x);
			found = 1;
		}
	}
	if (sk == NULL || !ok) {
		sk_X509_pop_free(sk, X509_free);
		return LL_ENOMEM;
	}
	if (found)
		*out = sk;
	else
		sk_X509_pop_free(sk, X509_free);
	return 0;
}

int ll_cms_verify(struct ll_verify_result *r, struct ll_ctx *ctx,
		  CMS_ContentInfo *cms, STACK_OF(X509) *extra,
		  const char *data, size_t len, struct ll_buf *content_out,
		  struct ll_error *err)
{
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL, *signers = NULL, *known = NULL;
	ASN1_OCTET_STRING **pos;
	BIO *dcont = NULL, *out = NULL;
	CMS_SignerInfo *si;
	X509 *signer, *issuer = NULL;
	time_t when, ts_when = 0, now = ll_ctx_now(ctx);
	unsigned char fpr[32];
	int have_fpr = 0;
	int have_time, rc = 0;
	size_t content_base = content_out ? content_out->len : 0;

	memset(r, 0, sizeof(*r));
	r->state = LL_SIG_INVALID;
	ERR_clear_error();
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
		return ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
			      "expected CMS signed-data");
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		set_why(r, LL_SIG_INVALID,
			sk_CMS_SignerInfo_num(sis) == 0 ?
				"signed-data without a signer" :
				"more than one signer (refused)");
		return 0;
	}
	pos = CMS_get0_content(cms);
	if (data != NULL && pos != NULL && *pos != NULL) {
		set_why(r, LL_SIG_INVALID,
			"signature has both embedded and detached content (refused)");
		return 0;
	}
	if (data == NULL && (pos == NULL || *pos == NULL)) {
		set_why(r, LL_SIG_INVALID, "signed-data without content");
		return 0;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		set_why(r, LL_SIG_INVALID, "signed content is not id-data");
		return 0;
	}
	if (!content_type_ok(sk_CMS_SignerInfo_value(sis, 0), cms)) {
		set_why(r, LL_SIG_INVALID,
			"signed contentType attribute missing or not the "
			"content's type (RFC 5652 11.1)");
		return 0;
	}
	if (data != NULL) {
		BIO *mem = BIO_new_mem_buf(data, (int)len);

		/*
		 * Behind a buffer BIO: CMS_verify copies a memory BIO and
		 * OpenSSL 3.0 before 3.0.20 leaks that copy on some errors
		 * (an unknown digest algorithm).
		 */
		dcont = mem ? BIO_new(BIO_f_buffer()) : NULL;
		if (dcont == NULL) {
			BIO_free(mem);
			return LL_ENOMEM;
		}
		BIO_push(dcont, mem);
	}
	if (data == NULL) {
		out = content_out ? ll_bio_buf_new(content_out) :
				    BIO_new(BIO_s_null());
		if (out == NULL) {
			rc = LL_ENOMEM;
			goto out;
		}
	}
	rc = add_known_signer(&known, ctx, cms, sk_CMS_SignerInfo_value(sis, 0),
			      extra);
	if (rc < 0)
		goto out;
	if (known != NULL)
		extra = known;
	if (CMS_verify(cms, extra, NULL, dcont, out,
		       CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		unsigned long e = ERR_peek_last_error();

		set_why(r, LL_SIG_INVALID,
			ERR_GET_REASON(e) == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND ?
				"signer certificate not included" :
			ERR_GET_REASON(e) == CMS_R_CONTENT_VERIFY_ERROR ||
					ERR_GET_REASON(e) ==
						CMS_R_VERIFICATION_FAILURE ?
				"signature does not match the content" :
				"signature verification failed");
		ERR_clear_error();
		/* the content, for display as unverified */
		if (content_out != NULL && pos != NULL && *pos != NULL &&
		    content_out->len == content_base)
			rc = ll_buf_add(content_out,
					ASN1_STRING_get0_data(*pos),
					(size_t)ASN1_STRING_length(*pos));
		goto out;
	}
	signers = CMS_get0_signers(cms);
	signer = sk_X509_value(signers, 0);
	if (signer == NULL) {
		set_why(r, LL_SIG_INVALID, "no signer certificate");
		goto out;
	}
	X509_up_ref(signer);
	r->signer_cert = signer;
	ll_x509_first_email(signer, r->signer, sizeof(r->signer));
	/* RFC 8550 4.4.2: a key its certificate keeps from signing (an
	 * encryption-only certificate) made no valid signature */
	if (!(ll_x509_uses(signer) & LL_USE_SIGN)) {
		set_why(r, LL_SIG_INVALID,
			"the signer's certificate is not for signing (its "
			"keyUsage has neither digitalSignature nor "
			"nonRepudiation)");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	r->caps = signed_caps(si);
	when = signing_time(si, &have_time);
	/* an RFC 3161 token proves the signature existed at its time: the
	 * certificate is judged then (the signer's own signingTime is
	 * only a claim) */
	switch (ll_tsp_check(si, ctx, extra, &ts_when, r->ts_why,
			     sizeof(r->ts_why))) {
	case 1:
		r->ts_trusted = 1;
		when = ts_when;
		have_time = 1;
		break;
	case -1: /* the signature stands; the token is reported */
		break;
	default:
		break;
	}
	if (have_time) {
		struct tm tm;

		gmtime_r(&when, &tm);
		strftime(r->when, sizeof(r->when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (when > now + 300) {
			set_why(r, LL_SIG_INVALID, "signing time is in the future");
			goto out;
		}
	} else {
		when = now;
	}
	have_fpr = ll_ctx_cert_fpr(ctx, signer, fpr) == 0;
	if (have_fpr && ll_ctx_chain_cached(ctx, fpr, when, &issuer)) {
		r->state = LL_SIG_VALID;
	} else {
		certs = CMS_get1_certs(cms);
		if (certs == NULL)
			certs = sk_X509_new_null();
		for (int i = 0; certs != NULL && extra != NULL &&
				i < sk_X509_num(extra); i++)
			if (sk_X509_push(certs, sk_X509_value(extra, i)))
				X509_up_ref(sk_X509_value(extra, i));
		chain_check(r, ctx, signer, have_fpr ? fpr : NULL, certs, when,
			    &issuer);
	}
	if (r->state == LL_SIG_VALID && ll_ctx_rev_options(ctx) != NULL)
		ll_revocation_judge(r, ctx, signer, issuer, when);
	/* only a valid signature's word on where to encrypt counts */
	if (r->state == LL_SIG_VALID)
		rc = ll_cms_keypref(&r->enc_cert, r->enc_why,
				    sizeof(r->enc_why), ctx, cms, si, extra);
out:
	X509_free(issuer);
	sk_X509_free(signers);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(known, X509_free);
	BIO_free_all(dcont);
	BIO_free(out);
	return rc;
}
