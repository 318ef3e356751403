/*
 * msg_open.c - peel every S/MIME layer of a whole message, decrypt,
 * verify, restore the protected headers.
 *
 * Only layers that cover the whole message are peeled: a signed or
 * encrypted part inside a multipart/mixed (a forwarded message, an
 * attachment, an EFAIL-style wrapper) is content, never "the message is
 * signed".
 */
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "internal.h"

struct ll_opened {
	struct ll_buf out;
	struct ll_open_status st;
};

struct layer_sig {
	enum ll_sig_state state;
	char signer[320];
	char why[160];
	char when[32];
	X509 *cert;
};

struct opener {
	struct ll_ctx *ctx;
	struct ll_buf bufs[LL_MSG_MAX_DEPTH]; /* decrypted / decoded layers */
	size_t nbufs;
	struct layer_sig sigs[LL_MSG_MAX_DEPTH];
	size_t nsigs;
	struct ll_open_status *st;
};

const char *ll_sig_state_name(enum ll_sig_state s)
{
	switch (s) {
	case LL_SIG_NONE: return "none";
	case LL_SIG_VALID: return "valid";
	case LL_SIG_INVALID: return "invalid";
	case LL_SIG_UNTRUSTED: return "untrusted";
	case LL_SIG_EXPIRED: return "expired";
	case LL_SIG_WRONG_SIGNER: return "wrong-signer";
	}
	return "invalid";
}

static void add_error(struct ll_open_status *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_error(struct ll_open_status *st, const char *fmt, ...)
{
	va_list ap;

	if (st->nerrors >= LL_OPEN_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(st->errors[st->nerrors], sizeof(st->errors[0]), fmt, ap);
	va_end(ap);
	st->nerrors++;
}

static int is_pkcs7_mime(const struct ll_ctype *ct)
{
	size_t n = strlen(ct->name);

	if (strcmp(ct->type, "application") != 0)
		return 0;
	if (strcmp(ct->subtype, "pkcs7-mime") == 0 ||
	    strcmp(ct->subtype, "x-pkcs7-mime") == 0)
		return 1;
	return strcmp(ct->subtype, "octet-stream") == 0 && n > 4 &&
	       strcasecmp(ct->name + n - 4, ".p7m") == 0;
}

static int is_pkcs7_sig(const char *s)
{
	return strcmp(s, "application/pkcs7-signature") == 0 ||
	       strcmp(s, "application/x-pkcs7-signature") == 0;
}

static struct ll_buf *new_buf(struct opener *op)
{
	struct ll_buf *b = &op->bufs[op->nbufs++];

	memset(b, 0, sizeof(*b));
	b->wipe = 1;
	return b;
}

static void record_sig(struct opener *op, struct ll_verify_result *r)
{
	struct layer_sig *s = &op->sigs[op->nsigs++];

	s->state = r->state;
	memcpy(s->signer, r->signer, sizeof(s->signer));
	memcpy(s->why, r->why, sizeof(s->why));
	memcpy(s->when, r->when, sizeof(s->when));
	s->cert = r->signer_cert;
	r->signer_cert = NULL;
}

/* application/pkcs7-mime: decrypt or unwrap signed-data. */
static int open_pkcs7(struct opener *op, struct ll_entity *cur,
		      struct ll_error *err)
{
	unsigned char *der = NULL;
	size_t derlen;
	CMS_ContentInfo *cms = NULL;
	struct ll_buf *b;
	int rc, nid;

	rc = ll_mime_decode_body(&der, &derlen, cur, err);
	if (rc < 0)
		return rc;
	rc = ll_cms_d2i(&cms, op->ctx, der, derlen, err);
	if (rc < 0)
		goto out;
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	b = new_buf(op);
	if (nid == NID_pkcs7_enveloped ||
	    nid == NID_id_smime_ct_authEnvelopedData) {
		op->st->encrypted = 1;
		op->st->cipher = ll_cms_peek_cipher(der, derlen);
		/* the ciphertext now lives in CMS: drop the DER first */
		ll_wipe_free(der, derlen);
		der = NULL;
		rc = ll_cms_decrypt(b, op->ctx, cms, err);
		if (rc < 0)
			goto out;
		op->st->decrypted = 1;
	} else if (nid == NID_pkcs7_signed) {
		struct ll_verify_result r;

		rc = ll_cms_verify(&r, op->ctx, cms, NULL, 0, b, err);
		if (rc < 0)
			goto out;
		if (r.state == LL_SIG_INVALID && b->len == 0) {
			/* no verified content to go on with */
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
				    "signed-data: %s", r.why);
			X509_free(r.signer_cert);
			goto out;
		}
		record_sig(op, &r);
	} else {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
			    "unsupported CMS content type %s",
			    OBJ_nid2sn(nid));
		goto out;
	}
	rc = ll_mime_split(cur, b->p, b->len, err);
out:
	CMS_ContentInfo_free(cms);
	ll_wipe_free(der, der ? derlen : 0);
	return rc;
}

/* multipart/signed: verify part 1 with the signature in part 2. */
static int open_signed(struct opener *op, struct ll_entity *cur,
		       const struct ll_ctype *ct, struct ll_error *err)
{
	struct ll_slice parts[3];
	struct ll_entity sigent;
	struct ll_ctype sct;
	struct ll_verify_result r;
	unsigned char *der = NULL;
	size_t n, derlen = 0;
	CMS_ContentInfo *cms = NULL;
	struct ll_buf canon = { 0 };
	const char *data;
	size_t dlen;
	char sigtype[200];
	int rc;

	rc = ll_mime_parts(parts, LL_ARRAY_SIZE(parts), &n, &cur->body,
			   ct->boundary, err);
	if (rc < 0)
		return rc;
	if (n != 2)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "multipart/signed with %zu parts (need 2)", n);
	rc = ll_mime_split(&sigent, parts[1].p, parts[1].len, err);
	if (rc == 0)
		rc = ll_mime_ctype(&sct, &sigent.hdr, err);
	if (rc < 0)
		return rc;
	snprintf(sigtype, sizeof(sigtype), "%s/%s", sct.type, sct.subtype);
	if (!is_pkcs7_sig(sigtype))
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "signature part is %s", sigtype);
	rc = ll_mime_decode_body(&der, &derlen, &sigent, err);
	if (rc == 0)
		rc = ll_cms_d2i(&cms, op->ctx, der, derlen, err);
	if (rc < 0)
		goto out;
	data = parts[0].p;
	dlen = parts[0].len;
	if (ll_has_bare_lf(data, dlen)) {
		/* stored with LF: the signature is over CRLF */
		rc = ll_crlf_add(&canon, data, dlen);
		if (rc < 0)
			goto out;
		data = canon.p;
		dlen = canon.len;
	}
	rc = ll_cms_verify(&r, op->ctx, cms, data, dlen, NULL, err);
	if (rc < 0)
		goto out;
	record_sig(op, &r);
	rc = ll_mime_split(cur, parts[0].p, parts[0].len, err);
out:
	ll_buf_free(&canon);
	CMS_ContentInfo_free(cms);
	free(der);
	return rc;
}

/* Does the header block contain a field named like F? */
static int hdr_has(const struct ll_slice *hdr, const struct ll_field *f)
{
	char name[80];

	if (f->name.len >= sizeof(name))
		return 0;
	memcpy(name, f->name.p, f->name.len);
	name[f->name.len] = '\0';
	return ll_mime_count(hdr, name) > 0;
}

static int put_nl(struct ll_buf *o, const char *p, size_t n, const char *nl)
{
	const char *end = p + n;
	int rc = 0;

	while (rc == 0 && p < end) {
		const char *q = memchr(p, '\n', (size_t)(end - p));
		size_t seg = q ? (size_t)(q - p) : (size_t)(end - p);

		if (q != NULL && seg > 0 && q[-1] == '\r')
			seg--;
		rc = ll_buf_add(o, p, seg);
		if (rc == 0)
			rc = ll_buf_adds(o, nl);
		p = q ? q + 1 : end;
	}
	return rc;
}

/* Outer fields the inner entity does not replace, then the inner. */
static int assemble(struct ll_buf *o, const struct ll_entity *top,
		    const struct ll_entity *in)
{
	struct ll_field f;
	size_t pos = 0;
	int rc = 0;

	while (rc == 0 && ll_mime_next_field(&top->hdr, &pos, &f)) {
		if ((f.name.len > 8 &&
		     strncasecmp(f.name.p, "Content-", 8) == 0) ||
		    ll_field_is(&f, "MIME-Version") || hdr_has(&in->hdr, &f))
			continue;
		rc = put_nl(o, f.raw.p, f.raw.len, in->nl);
	}
	if (rc == 0 && ll_mime_count(&in->hdr, "MIME-Version") == 0) {
		rc = ll_buf_adds(o, "MIME-Version: 1.0");
		if (rc == 0)
			rc = ll_buf_adds(o, in->nl);
	}
	if (rc == 0)
		rc = ll_buf_add(o, in->all.p, in->all.len);
	return rc;
}

static void judge(struct opener *op, const struct ll_entity *top,
		  const struct ll_entity *in)
{
	struct ll_open_status *st = op->st;
	char *fromv = ll_mime_get(&in->hdr, "From");
	char *outer = ll_mime_get(&top->hdr, "From");
	char **from = NULL, **ofrom = NULL;
	struct ll_error e = { 0 };

	if (fromv == NULL && outer != NULL)
		fromv = strdup(outer);
	if (fromv != NULL && ll_addr_parse_list(&from, fromv, &e) < 0)
		from = NULL;
	if (outer != NULL && ll_addr_parse_list(&ofrom, outer, &e) < 0)
		ofrom = NULL;
	if (from && ofrom && from[0] && ofrom[0] &&
	    strcasecmp(from[0], ofrom[0]) != 0)
		add_error(st, "outer From (%s) differs from the protected From (%s)",
			  ofrom[0], from[0]);
	if (op->nsigs > 0) {
		st->is_signed = 1;
		st->signature = LL_SIG_VALID;
		st->signer_matches_from = 1;
	}
	for (size_t i = 0; i < op->nsigs; i++) {
		struct layer_sig *s = &op->sigs[i];
		int match = from != NULL && from[0] != NULL && from[1] == NULL &&
			    s->cert != NULL && ll_x509_has_email(s->cert, from[0]);

		snprintf(st->signer, sizeof(st->signer), "%s", s->signer);
		if (s->when[0] != '\0')
			memcpy(st->timestamp, s->when, sizeof(st->timestamp));
		if (!match) {
			st->signer_matches_from = 0;
			if (s->state == LL_SIG_VALID) {
				s->state = LL_SIG_WRONG_SIGNER;
				snprintf(s->why, sizeof(s->why),
					 "signer %s is not the From address %s",
					 s->signer[0] ? s->signer : "(none)",
					 from && from[0] ? from[0] : "(none)");
			}
		}
		if (s->state != LL_SIG_VALID) {
			if (st->signature == LL_SIG_VALID)
				st->signature = s->state;
			add_error(st, "signature: %s", s->why);
		}
	}
	ll_strv_free(&from);
	ll_strv_free(&ofrom);
	free(fromv);
	free(outer);
}

int ll_msg_open(struct ll_opened **out, struct ll_ctx *ctx, const char *msg,
		size_t len, struct ll_error *err)
{
	struct opener op = { 0 };
	struct ll_opened *o = NULL;
	struct ll_entity top, cur;
	struct ll_ctype ct;
	size_t depth = 0;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return LL_ENOMEM;
	o->out.wipe = 1;
	op.ctx = ctx;
	op.st = &o->st;
	rc = ll_mime_split(&top, msg, len, err);
	if (rc < 0)
		goto out;
	cur = top;
	for (;; depth++) {
		char proto[200];

		rc = ll_mime_ctype(&ct, &cur.hdr, err);
		if (rc < 0)
			goto out;
		if (depth >= LL_MSG_MAX_DEPTH - 1) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "more than %d nested S/MIME layers",
				    LL_MSG_MAX_DEPTH - 1);
			goto out;
		}
		snprintf(proto, sizeof(proto), "%s", ct.protocol);
		if (is_pkcs7_mime(&ct))
			rc = open_pkcs7(&op, &cur, err);
		else if (strcmp(ct.type, "multipart") == 0 &&
			 strcmp(ct.subtype, "signed") == 0 &&
			 is_pkcs7_sig(proto))
			rc = open_signed(&op, &cur, &ct, err);
		else
			break;
		if (rc < 0)
			goto out;
	}
	judge(&op, &top, &cur);
	o->st.header_protection =
		depth > 0 && (ct.hp[0] != '\0' ||
			      ll_mime_count(&cur.hdr, "From") > 0);
	if (depth == 0)
		rc = ll_buf_add(&o->out, msg, len);
	else
		rc = assemble(&o->out, &top, &cur);
	if (rc < 0)
		goto out;
	*out = o;
	o = NULL;
out:
	for (size_t i = 0; i < op.nsigs; i++)
		X509_free(op.sigs[i].cert);
	for (size_t i = 0; i < op.nbufs; i++)
		ll_buf_free(&op.bufs[i]);
	ll_opened_free(&o);
	if (rc < 0 && err != NULL && err->code == 0)
		ll_err(err, rc, LL_ECLASS_NONE, "%s", ll_strerror(rc));
	return rc;
}

const char *ll_opened_data(const struct ll_opened *o, size_t *len)
{
	*len = o->out.len;
	return o->out.p ? o->out.p : "";
}

const struct ll_open_status *ll_opened_status(const struct ll_opened *o)
{
	return &o->st;
}

void ll_opened_free(struct ll_opened **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	ll_buf_free(&(*pp)->out);
	free(*pp);
	*pp = NULL;
}
