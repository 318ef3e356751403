/*
 * cms_inplace.c - decrypt an EnvelopedData / AuthEnvelopedData without
 * holding the ciphertext twice.
 *
 * OpenSSL's CMS_decrypt needs the whole structure parsed, which copies
 * the (possibly chunked, BER) encrypted content into the ASN.1 object.
 * Instead: gather the ciphertext chunks in place in our DER buffer,
 * parse only a "shell" (the same structure with the content left out,
 * which CMS allows), and decrypt the ciphertext as detached content,
 * writing the plaintext over the ciphertext it came from.  Plaintext
 * never runs ahead of ciphertext (CBC holds a block back, GCM is 1:1),
 * so no unread byte is overwritten.
 */
#include <string.h>

#include <openssl/err.h>

#include "internal.h"

/* A fixed region written from its start, no terminator. */
struct region {
	unsigned char *p;
	size_t cap, len;
};

static int region_write(void *arg, const char *data, size_t n)
{
	struct region *r = arg;

	if (n > r->cap - r->len)
		return -1;
	memmove(r->p + r->len, data, n);
	r->len += n;
	return 0;
}

/* ---- the shell ---- */

/*
 * Move the contents of the OCTET STRING chunks of T (a constructed
 * string, BER) together at *W; *AFTER is where T ends.  Chunks only
 * move backwards, and each is visited once.
 */
static int gather(unsigned char **w, const unsigned char **after,
		  const struct ll_tlv *t, const unsigned char *lim, int depth)
{
	const unsigned char *p = t->p, *end = t->inf ? lim : t->end;
	struct ll_tlv c;

	if (!t->cons) {
		size_t n = (size_t)(t->end - t->p);

		memmove(*w, t->p, n);
		*w += n;
		*after = t->end;
		return 0;
	}
	if (depth > 8)
		return -1;
	for (;;) {
		if (t->inf && end - p >= 2 && p[0] == 0 && p[1] == 0) {
			*after = p + 2;
			return 0;
		}
		if (!t->inf && p == end) {
			*after = end;
			return 0;
		}
		if (ll_tlv_head(&c, p, end) < 0 || c.cls != V_ASN1_UNIVERSAL ||
		    c.tag != V_ASN1_OCTET_STRING ||
		    gather(w, &p, &c, end, depth + 1) < 0)
			return -1;
	}
}

static int is_seq(const struct ll_tlv *t)
{
	return t->cls == V_ASN1_UNIVERSAL && t->tag == V_ASN1_SEQUENCE &&
	       t->cons;
}

/*
 * RFC 5084 GCMParameters after the algorithm OID O inside ALG:
 * SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }.
 */
static int gcm_icvlen(long *icvlen, const struct ll_tlv *o,
		      const struct ll_tlv *alg)
{
	struct ll_tlv prm, nonce, len;
	const unsigned char *q;
	ASN1_INTEGER *ai;

	*icvlen = 12;
	if (ll_tlv_read(&prm, o->next, alg->end, 6) < 0 ||
	    !is_seq(&prm) || ll_tlv_read(&nonce, prm.p, prm.end, 7) < 0 ||
	    nonce.cls != V_ASN1_UNIVERSAL || nonce.tag != V_ASN1_OCTET_STRING)
		return -1;
	if (nonce.next == prm.end)
		return 0;
	if (ll_tlv_read(&len, nonce.next, prm.end, 7) < 0 ||
	    len.cls != V_ASN1_UNIVERSAL || len.tag != V_ASN1_INTEGER ||
	    len.next != prm.end)
		return -1;
	q = len.start;
	ai = d2i_ASN1_INTEGER(NULL, &q, (long)(len.next - len.start));
	if (ai == NULL)
		return -1;
	*icvlen = ASN1_INTEGER_get(ai);
	ASN1_INTEGER_free(ai);
	return *icvlen >= 12 && *icvlen <= 16 ? 0 : -1;
}

/* Close an element opened with ll_tlv_head: its end-of-contents, or
 * check that *P reached its definite end. */
static int close_tlv(const unsigned char **p, const struct ll_tlv *t,
		     const unsigned char *lim)
{
	if (t->inf)
		return ll_tlv_eoc(p, lim);
	return *p == t->end ? 0 : -1;
}

/*
 * Build the shell of the (Auth)EnvelopedData in DER[0..LEN) into SHELL
 * and gather its ciphertext in place: *CT, *CTLEN.  One pass: the
 * ciphertext is walked once, by gather().  V: where the parts that
 * cms_open_ec.c reads are (inside DER, before the ciphertext).
 */
static int make_shell(struct ll_buf *shell, struct ll_env_view *v,
		      unsigned char **ct, size_t *ctlen, const char **cipher,
		      unsigned char *der, size_t len)
{
	static const unsigned char inf_seq[] = { 0x30, 0x80 };
	static const unsigned char inf_a0[] = { 0xa0, 0x80 };
	static const unsigned char eoc[] = { 0, 0 };
	const unsigned char *end = der + len, *p, *envend, *after;
	struct ll_tlv ci, oid, wrap, env, t, eci, ctype, alg, ec, o;
	ASN1_OBJECT *obj;
	const unsigned char *q;
	unsigned char *w;
	int rc = 0, nid, auth, have_mac = 0;
	long icvlen = 12;

	if (ll_tlv_head(&ci, der, end) < 0 || !is_seq(&ci) ||
	    ll_tlv_read(&oid, ci.p, ci.inf ? end : ci.end, 1) < 0 ||
	    oid.cls != V_ASN1_UNIVERSAL || oid.tag != V_ASN1_OBJECT ||
	    ll_tlv_head(&wrap, oid.next, ci.inf ? end : ci.end) < 0 ||
	    wrap.cls != V_ASN1_CONTEXT_SPECIFIC || wrap.tag != 0 ||
	    ll_tlv_head(&env, wrap.p, wrap.inf ? end : wrap.end) < 0 ||
	    !is_seq(&env))
		return -1;
	envend = env.inf ? end : env.end;
	q = oid.start;
	obj = d2i_ASN1_OBJECT(NULL, &q, (long)(oid.next - oid.start));
	if (obj == NULL)
		return -1;
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	if (nid != NID_pkcs7_enveloped &&
	    nid != NID_id_smime_ct_authEnvelopedData)
		return -1;
	auth = nid == NID_id_smime_ct_authEnvelopedData;
	rc |= ll_buf_add(shell, inf_seq, 2);
	rc |= ll_tlv_copy(shell, &oid);
	rc |= ll_buf_add(shell, inf_a0, 2);
	rc |= ll_buf_add(shell, inf_seq, 2);
	/* version, [0] originatorInfo, recipientInfos: small, copied */
	if (ll_tlv_read(&t, env.p, envend, 3) < 0)
		return -1;
	v->ver = t;
	rc |= ll_tlv_copy(shell, &t);
	if (ll_tlv_read(&t, t.next, envend, 3) < 0)
		return -1;
	if (t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 0) {
		v->extras = 1; /* originatorInfo */
		rc |= ll_tlv_copy(shell, &t);
		if (ll_tlv_read(&t, t.next, envend, 3) < 0)
			return -1;
	}
	if (t.cls != V_ASN1_UNIVERSAL || t.tag != V_ASN1_SET || !t.cons)
		return -1;
	v->ris = t;
	rc |= ll_tlv_copy(shell, &t);
	/* (auth)encryptedContentInfo without its encryptedContent */
	if (ll_tlv_head(&eci, t.next, envend) < 0 ||
	    !is_seq(&eci) ||
	    ll_tlv_read(&ctype, eci.p, eci.inf ? envend : eci.end, 4) < 0 ||
	    ll_tlv_read(&alg, ctype.next, eci.inf ? envend : eci.end, 4) < 0 ||
	    !is_seq(&alg) ||
	    ll_tlv_head(&ec, alg.next, eci.inf ? envend : eci.end) < 0 ||
	    ec.cls != V_ASN1_CONTEXT_SPECIFIC || ec.tag != 0)
		return -1;
	if (ll_tlv_read(&o, alg.p, alg.end, 5) < 0 ||
	    o.cls != V_ASN1_UNIVERSAL || o.tag != V_ASN1_OBJECT)
		return -1;
	q = alg.p;
	obj = d2i_ASN1_OBJECT(NULL, &q, (long)(o.next - alg.p));
	if (obj == NULL)
		return -1;
	*cipher = ll_cipher_name(OBJ_obj2nid(obj));
	ASN1_OBJECT_free(obj);
	if (auth && gcm_icvlen(&icvlen, &o, &alg) < 0)
		return -1;
	v->auth = auth;
	v->ctype = ctype;
	v->alg = alg;
	rc |= ll_buf_add(shell, inf_seq, 2);
	rc |= ll_tlv_copy(shell, &ctype);
	rc |= ll_tlv_copy(shell, &alg);
	rc |= ll_buf_add(shell, eoc, 2);
	if (rc != 0)
		return LL_ENOMEM;
	/* the ciphertext moves together, walked once */
	w = (unsigned char *)ec.p;
	if (gather(&w, &after, &ec, eci.inf ? envend : eci.end, 5) < 0)
		return -1;
	*ct = (unsigned char *)ec.p;
	*ctlen = (size_t)(w - ec.p);
	p = after;
	if (close_tlv(&p, &eci, envend) < 0)
		return -1;
	/* what follows: unprotectedAttrs, or authAttrs, mac, unauthAttrs */
	while (env.inf ? !(envend - p >= 2 && p[0] == 0 && p[1] == 0) :
			 p < env.end) {
		if (ll_tlv_read(&t, p, envend, 3) < 0)
			return -1;
		/*
		 * The GCM tag: OpenSSL takes whatever length it is given, so
		 * a tag cut to one byte is forged in 256 tries.  RFC 5084
		 * allows 12 to 16 octets; we insist on that.
		 */
		if (t.cls == V_ASN1_UNIVERSAL && t.tag == V_ASN1_OCTET_STRING &&
		    (t.cons || t.end - t.p < 12 || t.end - t.p > 16))
			return -1;
		if (t.cls == V_ASN1_UNIVERSAL && t.tag == V_ASN1_OCTET_STRING) {
			/* and as long as the GCM parameters say */
			if (t.end - t.p != icvlen)
				return -1;
			if (have_mac)
				v->extras = 1; /* two: OpenSSL refuses */
			memcpy(v->mac, t.p, (size_t)icvlen);
			v->maclen = (size_t)icvlen;
			have_mac = 1;
		} else {
			v->extras = 1; /* attributes */
		}
		rc |= ll_tlv_copy(shell, &t);
		p = t.next;
	}
	if (auth != have_mac)
		return -1;
	if (close_tlv(&p, &env, end) < 0 || close_tlv(&p, &wrap, end) < 0 ||
	    close_tlv(&p, &ci, end) < 0 || p != end)
		return -1;
	rc |= ll_buf_add(shell, eoc, 2);
	rc |= ll_buf_add(shell, eoc, 2);
	rc |= ll_buf_add(shell, eoc, 2);
	return rc != 0 ? LL_ENOMEM : 0;
}

int ll_cms_decrypt_inplace(size_t *pt_off, size_t *pt_len,
			   const char **cipher, struct ll_ctx *ctx,
			   struct ll_buf *b, size_t off, struct ll_error *err)
{
	enum ll_decrypt_path by = LL_DECRYPT_ANY;

	return ll_cms_decrypt_inplace_by(pt_off, pt_len, cipher, &by, ctx, b,
					 off, err);
}

int ll_cms_decrypt_inplace_by(size_t *pt_off, size_t *pt_len,
			      const char **cipher, enum ll_decrypt_path *by,
			      struct ll_ctx *ctx, struct ll_buf *b, size_t off,
			      struct ll_error *err)
{
	struct ll_buf shell = { 0 };
	struct ll_env_view v = { 0 };
	struct ll_identity *id = NULL;
	CMS_ContentInfo *cms = NULL;
	struct region r = { 0 };
	unsigned char *ct = NULL;
	const unsigned char *p;
	BIO *in = NULL, *out = NULL;
	size_t ctlen = 0;
	int rc;

	rc = make_shell(&shell, &v, &ct, &ctlen, cipher,
			(unsigned char *)b->p + off, b->len - off);
	if (rc == LL_ENOMEM)
		goto out;
	if (rc < 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
			    "malformed enveloped-data (corrupt or truncated)");
		goto out;
	}
	/* to an EC P-256 key of ours, as letterlock and OpenSSL write it:
	 * without OpenSSL's CMS layer (cms_open_ec.c) */
	rc = *by == LL_DECRYPT_OPENSSL ?
		     0 :
		     ll_cms_open_ec(&r.len, ctx, &v, ct, ctlen, err);
	*by = rc == 0 ? LL_DECRYPT_OPENSSL : LL_DECRYPT_OURS;
	if (rc < 0)
		goto out;
	if (rc == 1) {
		rc = 0;
		*pt_off = (size_t)((char *)ct - b->p);
		*pt_len = r.len;
		goto out;
	}
	ERR_clear_error();
	cms = CMS_ContentInfo_new_ex(ll_ctx_libctx(ctx), NULL);
	p = (const unsigned char *)shell.p;
	if (cms == NULL ||
	    d2i_CMS_ContentInfo(&cms, &p, (long)shell.len) == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE, "malformed enveloped-data");
		goto out;
	}
	rc = ll_cms_find_recipient(&id, ctx, cms, err);
	if (rc < 0)
		goto out;
	r.p = ct;
	r.cap = ctlen;
	in = BIO_new_mem_buf(ct, (int)ctlen);
	out = ll_bio_sink_new(region_write, &r);
	if (in == NULL || out == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	if (CMS_decrypt(cms, ll_identity_pkey(id),
			ll_cert_x509(ll_identity_cert(id)), in, out,
			CMS_BINARY) != 1) {
		rc = ll_err_ossl(err, LL_EDECRYPT,
				 "decryption failed (corrupt or tampered ciphertext)");
		goto out;
	}
	*pt_off = (size_t)((char *)ct - b->p);
	*pt_len = r.len;
out:
	if (rc < 0 && ct != NULL)
		OPENSSL_cleanse(ct, ctlen); /* nothing of a failure survives */
	BIO_free(in);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ll_buf_free(&shell);
	return rc;
}
