/*
 * cms_certs.c - parse a signature's SignedData without re-decoding the
 * certificates we have seen before.
 *
 * OpenSSL 3.0 decodes every certificate's public key through its
 * provider decoders, about 100 us each: more than verifying an RSA
 * signature.  The same few signers and CAs come back in every message,
 * so the certificates are cut out of the structure, looked up by the
 * SHA-256 of their encoding in the context's cache (parsed only on a
 * miss), and the rest is parsed as a small "shell".
 */
#include <string.h>

#include <openssl/err.h>

#include "internal.h"

#define SHELL_MAX (256 * 1024) /* larger: embedded content, plain d2i */
#define CERTS_MAX 32

/* SignedData without its [0] certificates; their TLVs in CERTS. */
static int cut_certs(struct ll_buf *shell, struct ll_tlv *certs, size_t *ncerts,
		     const unsigned char *der, size_t len)
{
	static const unsigned char head[] = { 0x30, 0x80 };
	static const unsigned char wrap[] = { 0xa0, 0x80, 0x30, 0x80 };
	static const unsigned char eoc3[] = { 0, 0, 0, 0, 0, 0 };
	const unsigned char *end = der + len, *p;
	struct ll_tlv ci, oid, w, sd, t, c;
	int rc = 0;

	*ncerts = 0;
	if (ll_tlv_read(&ci, der, end, 0) < 0 || ci.next != end ||
	    ci.tag != V_ASN1_SEQUENCE ||
	    ll_tlv_read(&oid, ci.p, ci.end, 1) < 0 ||
	    ll_tlv_read(&w, oid.next, ci.end, 1) < 0 ||
	    w.cls != V_ASN1_CONTEXT_SPECIFIC || w.tag != 0 ||
	    ll_tlv_read(&sd, w.p, w.end, 2) < 0 || sd.tag != V_ASN1_SEQUENCE)
		return -1;
	rc |= ll_buf_add(shell, head, 2);
	rc |= ll_tlv_copy(shell, &oid);
	rc |= ll_buf_add(shell, wrap, 4);
	for (p = sd.p; p < sd.end; p = t.next) {
		if (ll_tlv_read(&t, p, sd.end, 3) < 0)
			return -1;
		if (t.cls != V_ASN1_CONTEXT_SPECIFIC || t.tag != 0) {
			rc |= ll_tlv_copy(shell, &t);
			continue;
		}
		for (const unsigned char *q = t.p; q < t.end; q = c.next) {
			if (ll_tlv_read(&c, q, t.end, 4) < 0)
				return -1;
			/* only plain certificates; anything else: no shortcut */
			if (c.tag != V_ASN1_SEQUENCE || c.cls != V_ASN1_UNIVERSAL ||
			    *ncerts == CERTS_MAX)
				return -1;
			certs[(*ncerts)++] = c;
		}
	}
	rc |= ll_buf_add(shell, eoc3, 6);
	return rc != 0 ? LL_ENOMEM : 0;
}

int ll_cms_d2i_signed(CMS_ContentInfo **out, STACK_OF(X509) **certs,
		      struct ll_ctx *ctx, const unsigned char *der, size_t len,
		      struct ll_error *err)
{
	struct ll_tlv tl[CERTS_MAX];
	struct ll_buf shell = { 0 };
	STACK_OF(X509) *sk = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*certs = NULL;
	if (len > SHELL_MAX || cut_certs(&shell, tl, &n, der, len) != 0 ||
	    n == 0) {
		/* the ordinary way */
		ll_buf_free(&shell);
		return ll_cms_d2i(out, ctx, der, len, err);
	}
	sk = sk_X509_new_null();
	if (sk == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		X509 *x = ll_ctx_cert_get(ctx, tl[i].start,
					  (size_t)(tl[i].next - tl[i].start));

		if (x == NULL || !sk_X509_push(sk, x)) {
			X509_free(x);
			ll_buf_free(&shell);
			sk_X509_pop_free(sk, X509_free);
			/* an unparsable certificate: let OpenSSL say so */
			return ll_cms_d2i(out, ctx, der, len, err);
		}
	}
	rc = ll_cms_d2i(out, ctx, (unsigned char *)shell.p, shell.len, err);
	if (rc < 0)
		goto out;
	*certs = sk;
	sk = NULL;
out:
	sk_X509_pop_free(sk, X509_free);
	ll_buf_free(&shell);
	return rc;
}
