/*
 * msg_open.c - peel every S/MIME layer of a whole message, decrypt,
 * verify, restore the protected headers.
 *
 * Only layers that cover the whole message are peeled: a signed or
 * encrypted part inside a multipart/mixed (a forwarded message, an
 * attachment, an EFAIL-style wrapper) is content, never "the message is
 * signed".
 */
#include <assert.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "internal.h"

struct ll_opened {
	struct ll_buf buf;	/* owns the bytes */
	const char *data;	/* the opened message, inside buf */
	size_t len;
	struct ll_open_status st;
	struct ll_cert *signer;	/* of a valid signature by From, or NULL */
	struct ll_cert *enc;	/* the one its signer asks to be encrypted
				   to, or NULL */
};

struct layer_sig {
	enum ll_sig_state state;
	char signer[320];
	char why[160];
	char when[32];
	int ts_trusted; /* WHEN is a verified token's time */
	char ts_why[160]; /* a token present but not taken */
	X509 *cert;
	unsigned caps; /* its signed SMIMECapabilities (LL_CAP_*) */
	struct ll_revocation rev;
	X509 *enc_cert; /* its encryption key preference, taken */
	char enc_why[160]; /* one named, not taken: why */
};

struct opener {
	struct ll_ctx *ctx;
	/* decoded and opened layers: at most two a layer */
	struct ll_buf bufs[2 * LL_MSG_MAX_DEPTH];
	size_t nbufs;
	struct layer_sig sigs[LL_MSG_MAX_DEPTH];
	size_t nsigs;
	struct ll_open_status *st;
	size_t headroom;	/* reserved before each layer's content */
	size_t sigs_outside;	/* signatures made over the ciphertext */
	size_t cbc_from;	/* signatures after a CBC decryption start
				   here; SIZE_MAX: no CBC layer */
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
	case LL_SIG_REVOKED: return "revoked";
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
	struct ll_buf *b;

	/* the depth check in ll_msg_open keeps us inside the array */
	assert(op->nbufs < LL_ARRAY_SIZE(op->bufs));
	b = &op->bufs[op->nbufs++];
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
	s->ts_trusted = r->ts_trusted;
	memcpy(s->ts_why, r->ts_why, sizeof(s->ts_why));
	s->cert = r->signer_cert;
	s->caps = r->caps;
	r->signer_cert = NULL;
	s->rev = r->rev;
	s->enc_cert = r->enc_cert;
	r->enc_cert = NULL;
	memcpy(s->enc_why, r->enc_why, sizeof(s->enc_why));
}

/* The CMS content type of DER, without parsing all of it. */
static int peek_type(const unsigned char *der, size_t len)
{
	struct ll_tlv ci, oid;
	const unsigned char *q;
	ASN1_OBJECT *obj;
	int nid;

	if (ll_tlv_head(&ci, der, der + len) < 0 ||
	    ll_tlv_read(&oid, ci.p, ci.inf ? der + len : ci.end, 1) < 0 ||
	    oid.tag != V_ASN1_OBJECT)
		return NID_undef;
	q = oid.start;
	obj = d2i_ASN1_OBJECT(NULL, &q, (long)(oid.next - oid.start));
	if (obj == NULL) {
		ERR_clear_error();
		return NID_undef;
	}
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	return nid;
}

/* A content cipher that open takes (doc/decisions.md). */
static int cipher_taken(const char *name)
{
	return name == NULL || (strncmp(name, "aes-", 4) == 0 ||
				strcmp(name, "des-ede3-cbc") == 0);
}

/* application/pkcs7-mime: decrypt or unwrap signed-data. */
static int open_pkcs7(struct opener *op, struct ll_entity *cur,
		      struct ll_error *err)
{
	struct ll_buf *b = new_buf(op);
	const unsigned char *der;
	size_t derlen, off, len;
	CMS_ContentInfo *cms = NULL;
	struct ll_verify_result r;
	struct ll_buf *content;
	STACK_OF(X509) *certs = NULL;
	int rc, nid;

	/* room in front, so that the opened message needs no copy */
	rc = ll_buf_reserve(b, op->headroom);
	if (rc < 0)
		return rc;
	memset(b->p, 0, op->headroom);
	b->len = op->headroom;
	rc = ll_mime_decode_body(b, cur, err);
	if (rc < 0)
		return rc;
	der = (const unsigned char *)b->p + op->headroom;
	derlen = b->len - op->headroom;
	nid = peek_type(der, derlen);
	if (nid == NID_pkcs7_enveloped ||
	    nid == NID_id_smime_ct_authEnvelopedData) {
		op->st->encrypted = 1;
		if (!op->st->decrypted)
			op->sigs_outside = op->nsigs;
		rc = ll_cms_decrypt_inplace(&off, &len, &op->st->cipher,
					    op->ctx, b, op->headroom, err);
		if ((rc == 0 || rc == LL_EDECRYPT) &&
		    !cipher_taken(op->st->cipher)) {
			/*
			 * Outlook Express's RC2-40, DES: said as such, not
			 * "tampered"; refused even where a legacy provider
			 * decrypted them
			 */
			if (rc == 0)
				OPENSSL_cleanse(b->p + off, len);
			return ll_err(err, LL_EDECRYPT, LL_ECLASS_CMS,
				      "content cipher %s refused (a key of "
				      "40 or 56 bits): only AES and 3DES open",
				      op->st->cipher);
		}
		if (rc < 0)
			return rc;
		op->st->decrypted = 1;
		if (op->cbc_from == SIZE_MAX &&
		    strstr(op->st->cipher, "-gcm") == NULL)
			op->cbc_from = op->nsigs;
		return ll_mime_split(cur, b->p + off, len, err);
	}
	if (nid != NID_pkcs7_signed)
		return ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
			      "unsupported or malformed CMS (content type %s)",
			      nid == NID_undef ? "unreadable" : OBJ_nid2sn(nid));
	rc = ll_cms_d2i_signed(&cms, &certs, op->ctx, der, derlen, err);
	if (rc < 0)
		return rc;
	content = new_buf(op);
	rc = ll_buf_reserve(content, op->headroom + derlen);
	if (rc < 0)
		goto out;
	memset(content->p, 0, op->headroom);
	content->len = op->headroom;
	rc = ll_cms_verify(&r, op->ctx, cms, certs, NULL, 0, content, err);
	if (rc < 0)
		goto out;
	if (r.state == LL_SIG_INVALID && content->len == op->headroom) {
		/* no content to go on with */
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_CMS, "signed-data: %s",
			    r.why);
		X509_free(r.signer_cert);
		X509_free(r.enc_cert);
		goto out;
	}
	record_sig(op, &r);
	rc = ll_mime_split(cur, content->p + op->headroom,
			   content->len - op->headroom, err);
out:
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	ll_buf_free(b); /* the DER is not needed any more */
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
	struct ll_buf der = { 0 };
	size_t n;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *certs = NULL;
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
	rc = ll_mime_decode_body(&der, &sigent, err);
	if (rc == 0)
		rc = ll_cms_d2i_signed(&cms, &certs, op->ctx,
				       (unsigned char *)der.p, der.len, err);
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
	rc = ll_cms_verify(&r, op->ctx, cms, certs, data, dlen, NULL, err);
	if (rc < 0)
		goto out;
	record_sig(op, &r);
	rc = ll_mime_split(cur, parts[0].p, parts[0].len, err);
out:
	ll_buf_free(&canon);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	ll_buf_free(&der);
	return rc;
}

static int cmp_name(const void *x, const void *y)
{
	const struct ll_slice *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = strncasecmp(a->p, b->p, n);

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* The names of HDR's fields, sorted: *out malloc'd, *n of them. */
static int field_names(struct ll_slice **out, size_t *n,
		       const struct ll_slice *hdr)
{
	struct ll_slice *v = NULL;
	struct ll_field f;
	size_t pos = 0, k = 0, cap = 0;

	while (ll_mime_next_field(hdr, &pos, &f)) {
		if (k == cap) {
			struct ll_slice *nv;

			cap = cap ? 2 * cap : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				free(v);
				return LL_ENOMEM;
			}
			v = nv;
		}
		v[k++] = f.name;
	}
	if (k > 0)
		qsort(v, k, sizeof(*v), cmp_name);
	*out = v;
	*n = k;
	return 0;
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

/* The outer fields that the inner entity does not replace. */
static int is_addressing(const struct ll_field *f)
{
	static const char *const names[] = {
		"From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject",
		"Date", "Message-ID", "In-Reply-To", "References",
		"Followup-To", "Mail-Followup-To", "Mail-Reply-To",
		"Disposition-Notification-To", "Return-Receipt-To", NULL,
	};

	for (size_t i = 0; names[i] != NULL; i++)
		if (ll_field_is(f, names[i]))
			return 1;
	return 0;
}

/*
 * The field in which a reader's program (the bridge) says what opening
 * found.  One the message carries, outside or in its protected header,
 * is the sender's forgery ("signature valid by ..."): never passed on.
 */
static int is_status(const struct ll_field *f)
{
	return ll_field_is(f, "X-Letterlock-Status");
}

static int outer_fields(struct ll_buf *o, const struct ll_entity *top,
			const struct ll_entity *in, int hp,
			struct ll_open_status *st)
{
	struct ll_slice *names = NULL;
	struct ll_field f;
	size_t pos = 0, n = 0;
	int rc = field_names(&names, &n, &in->hdr);

	while (rc == 0 && ll_mime_next_field(&top->hdr, &pos, &f)) {
		/* the inner entity's fields replace the outer ones */
		if ((f.name.len > 8 &&
		     strncasecmp(f.name.p, "Content-", 8) == 0) ||
		    ll_field_is(&f, "MIME-Version") || is_status(&f) ||
		    (n > 0 && bsearch(&f.name, names, n, sizeof(*names),
				      cmp_name) != NULL))
			continue;
		/*
		 * With header protection, a field that decides who the mail
		 * is from or where replies go is taken from the protected
		 * part only: one added outside is unauthenticated.
		 */
		if (hp && is_addressing(&f)) {
			add_error(st, "unprotected outer %.*s field dropped",
				  (int)(f.name.len > 40 ? 40 : f.name.len),
				  f.name.p);
			continue;
		}
		rc = put_nl(o, f.raw.p, f.raw.len, in->nl);
	}
	if (rc == 0 && ll_mime_count(&in->hdr, "MIME-Version") == 0) {
		rc = ll_buf_adds(o, "MIME-Version: 1.0");
		if (rc == 0)
			rc = ll_buf_adds(o, in->nl);
	}
	free(names);
	return rc;
}

/*
 * The opened message: outer fields, the inner entity's header fields,
 * then the rest of the inner entity (the blank line and the body).
 * When the inner entity lies in one of our layer buffers with room
 * before it, the header is written there and the body is not copied.
 */
static int assemble(struct ll_opened *o, struct opener *op,
		    const struct ll_entity *top, const struct ll_entity *in)
{
	struct ll_buf hdr = { 0 };
	struct ll_field f;
	size_t pos = 0;
	const char *tail = in->hdr.p + in->hdr.len;
	size_t tlen = (size_t)(in->all.p + in->all.len - tail);
	int rc;

	hdr.wipe = 1; /* the protected fields were encrypted */
	rc = outer_fields(&hdr, top, in, o->st.header_protection, &o->st);
	while (rc == 0 && ll_mime_next_field(&in->hdr, &pos, &f))
		if (!is_status(&f))
			rc = ll_buf_add(&hdr, f.raw.p, f.raw.len);
	if (rc < 0)
		goto out;
	for (size_t i = op->nbufs; i-- > 0;) {
		struct ll_buf *b = &op->bufs[i];

		if (b->p == NULL || tail < b->p || tail > b->p + b->len ||
		    (size_t)(tail - b->p) < hdr.len)
			continue;
		memcpy((char *)tail - hdr.len, hdr.p, hdr.len);
		o->data = tail - hdr.len;
		o->len = hdr.len + tlen;
		o->buf = *b;
		memset(b, 0, sizeof(*b));
		goto out;
	}
	o->buf.wipe = 1;
	rc = ll_buf_reserve(&o->buf, hdr.len + tlen);
	if (rc == 0)
		rc = ll_buf_add(&o->buf, hdr.p, hdr.len);
	if (rc == 0)
		rc = ll_buf_add(&o->buf, tail, tlen);
	o->data = o->buf.p;
	o->len = o->buf.len;
out:
	ll_buf_free(&hdr);
	return rc;
}

/* The revocation status of S's signer into ST, and a line when the
 * signer is revoked but a time-stamp keeps the signature standing. */
static void report_revocation(struct ll_open_status *st,
			      const struct layer_sig *s)
{
	const struct ll_revocation *rv = &s->rev;
	struct tm tm;

	st->revocation = rv->state;
	st->revocation_reason = rv->reason;
	st->revocation_time[0] = '\0';
	if (rv->state == LL_REV_REVOKED && gmtime_r(&rv->revoked, &tm))
		strftime(st->revocation_time, sizeof(st->revocation_time),
			 "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(st->revocation_source, sizeof(st->revocation_source), "%s",
		 rv->source);
	snprintf(st->revocation_why, sizeof(st->revocation_why), "%s",
		 rv->why);
	/* unknown is the status's to say (soft fail), not an error */
	if (rv->state == LL_REV_REVOKED && s->state == LL_SIG_VALID)
		add_error(st, "the signer's certificate was revoked at %s (%s), "
			      "after the time-stamped signature",
			  st->revocation_time,
			  ll_rev_reason_name(rv->reason));
}

/*
 * With header protection the reader sees the protected To and Cc.  An
 * outer one naming someone they do not is a message re-sent by another
 * than its author (surreptitious forwarding: alice signs to bob, bob
 * encrypts it to carol): said, so that carol does not take it as
 * written to her.
 */
/* The next To or Cc field of HDR from *POS: 1 and *F, or 0. */
static int next_to_cc(const struct ll_slice *hdr, size_t *pos,
		      struct ll_field *f)
{
	while (ll_mime_next_field(hdr, pos, f))
		if (ll_field_is(f, "To") || ll_field_is(f, "Cc"))
			return 1;
	return 0;
}

/*
 * 1 if the To and Cc fields of the header OUTER are those of INNER,
 * octet for octet and in the same order, as letterlock's header
 * protection copies them: every outer address is then an inner one, and
 * neither needs parsing.  The headers are split as ll_msg_addresses
 * splits them, so that both look at the same fields.
 */
static int same_to_cc(const struct ll_slice *outer,
		      const struct ll_slice *inner)
{
	struct ll_entity eo, ei;
	struct ll_field fo, fi;
	size_t po = 0, pi = 0;

	if (ll_mime_split(&eo, outer->p, outer->len, NULL) < 0 ||
	    ll_mime_split(&ei, inner->p, inner->len, NULL) < 0)
		return 0;
	for (;;) {
		int more = next_to_cc(&eo.hdr, &po, &fo);

		if (more != next_to_cc(&ei.hdr, &pi, &fi))
			return 0;
		if (!more)
			return 1;
		if (fo.raw.len != fi.raw.len ||
		    memcmp(fo.raw.p, fi.raw.p, fo.raw.len) != 0)
			return 0;
	}
}

static void check_recipients(struct ll_open_status *st,
			     const struct ll_entity *top,
			     const struct ll_entity *in)
{
	char **outer = NULL, **inner = NULL;
	struct ll_error e = { 0 };

	if (same_to_cc(&top->hdr, &in->hdr))
		return;
	if (ll_msg_addresses(&outer, top->hdr.p, top->hdr.len, LL_ADDR_TO_CC,
			     &e) < 0 ||
	    ll_msg_addresses(&inner, in->hdr.p, in->hdr.len, LL_ADDR_TO_CC,
			     &e) < 0)
		goto out;
	for (size_t i = 0; outer[i] != NULL; i++) {
		size_t k = 0;

		while (inner[k] != NULL && strcasecmp(inner[k], outer[i]) != 0)
			k++;
		if (inner[k] == NULL) {
			add_error(st, "outer To/Cc names %.80s, the protected "
				      "To/Cc does not: re-sent by another?",
				  outer[i]);
			break;
		}
	}
out:
	ll_strv_free(&outer);
	ll_strv_free(&inner);
}

static void judge(struct opener *op, const struct ll_entity *top,
		  const struct ll_entity *in)
{
	struct ll_open_status *st = op->st;
	/* the From a reader sees: the protected one when there is one */
	const struct ll_slice *fh =
		ll_mime_count(&in->hdr, "From") > 0 ? &in->hdr : &top->hdr;
	char *fromv = ll_mime_get(fh, "From");
	char *outer = ll_mime_get(&top->hdr, "From");
	char **from = NULL, **ofrom = NULL;
	struct ll_error e = { 0 };

	/* one From field naming one plain mailbox, or no signer matches */
	if (ll_mime_count(fh, "From") != 1) {
		add_error(st, "%zu From fields", ll_mime_count(fh, "From"));
	} else if (fromv != NULL && !ll_addr_single_mailbox(fromv)) {
		add_error(st, "From is not one mailbox: %.80s", fromv);
	} else if (fromv != NULL &&
		   ll_addr_parse_list(&from, fromv, &e) < 0) {
		from = NULL;
	} else if (from != NULL && from[0] != NULL &&
		   ll_addr_shows_other(fromv, from[0])) {
		/* "carol@example.test" <alice@...>: a reader sees carol */
		add_error(st, "the From display name shows another address "
			      "than %s", from[0]);
		ll_strv_free(&from);
	}
	if (outer != NULL && ll_addr_parse_list(&ofrom, outer, &e) < 0)
		ofrom = NULL;
	if (from && ofrom && from[0] && ofrom[0] &&
	    strcasecmp(from[0], ofrom[0]) != 0)
		add_error(st, "outer From (%s) differs from the protected From (%s)",
			  ofrom[0], from[0]);
	if (fh == &in->hdr && in->hdr.p != top->hdr.p)
		check_recipients(st, top, in);
	if (op->nsigs > 0) {
		st->is_signed = 1;
		st->signature = LL_SIG_VALID;
		st->signer_matches_from = 1;
	}
	for (size_t i = 0; i < op->nsigs; i++) {
		struct layer_sig *s = &op->sigs[i];
		int match = from != NULL && from[0] != NULL && from[1] == NULL &&
			    s->cert != NULL && ll_x509_has_email(s->cert, from[0]);

		/* a certificate may name several addresses: the signer is
		 * the one the reader sees in From */
		snprintf(st->signer, sizeof(st->signer), "%s",
			 match ? from[0] : s->signer);
		if (s->when[0] != '\0')
			memcpy(st->timestamp, s->when, sizeof(st->timestamp));
		st->timestamp_trusted = s->ts_trusted;
		if (s->ts_why[0] != '\0')
			add_error(st, "%s", s->ts_why);
		report_revocation(st, s);
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

/* The signer's fingerprint in FPR, from the certificate cache when it
 * came through it (no second SHA-256 of its re-encoding); NULL if it
 * cannot be had. */
static const unsigned char *signer_fpr(unsigned char fpr[32],
				       const struct ll_ctx *ctx, X509 *x)
{
	return ll_ctx_cert_fpr(ctx, x, fpr) == 0 ? fpr : NULL;
}

/*
 * The certificate the signer of S (validly signed by From) asks to be
 * encrypted to, when it is for the From address too: O->enc, with what
 * the signer reads (its SMIMECapabilities speak for its client, not for
 * one key).  One named and not taken is said in the errors: the sender
 * then stays without a certificate to encrypt to, or with the one known.
 */
static void take_enc_cert(struct ll_opened *o, const struct layer_sig *s,
			  struct ll_ctx *ctx)
{
	unsigned char fpr[32];

	if (s->enc_cert == NULL) {
		if (s->enc_why[0] != '\0')
			add_error(&o->st, "%s", s->enc_why);
		return;
	}
	if (!ll_x509_has_email(s->enc_cert, o->st.signer)) {
		add_error(&o->st, "the encryption key preference names a "
				  "certificate for another address than "
				  "%.80s: ignored",
			  o->st.signer);
		return;
	}
	if (!X509_up_ref(s->enc_cert))
		return;
	if (ll_cert_wrap_fpr(&o->enc, s->enc_cert,
			     signer_fpr(fpr, ctx, s->enc_cert), NULL) < 0) {
		X509_free(s->enc_cert); /* the reference taken */
		o->enc = NULL;
		return;
	}
	ll_cert_set_caps(o->enc, s->caps);
}

int ll_msg_open(struct ll_opened **out, struct ll_ctx *ctx, const char *msg,
		size_t len, struct ll_error *err)
{
	struct opener op = { 0 };
	struct ll_opened *o = NULL;
	struct ll_entity top, cur;
	struct ll_ctype ct;
	unsigned char fpr[32];
	size_t depth = 0;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return LL_ENOMEM;
	op.ctx = ctx;
	op.st = &o->st;
	op.cbc_from = SIZE_MAX;
	rc = ll_mime_split(&top, msg, len, err);
	if (rc < 0)
		goto out;
	/* enough for the outer fields, even with every LF made CRLF */
	op.headroom = 2 * top.hdr.len + 64;
	cur = top;
	for (;; depth++) {
		char proto[200];
		int smime, signed_mp;

		rc = ll_mime_ctype(&ct, &cur.hdr, err);
		if (rc < 0)
			goto cbc_check;
		snprintf(proto, sizeof(proto), "%s", ct.protocol);
		smime = is_pkcs7_mime(&ct);
		signed_mp = strcmp(ct.type, "multipart") == 0 &&
			    strcmp(ct.subtype, "signed") == 0 &&
			    is_pkcs7_sig(proto);
		if (!smime && !signed_mp)
			break;
		if (depth >= LL_MSG_MAX_DEPTH - 1) {
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "more than %d nested S/MIME layers",
				    LL_MSG_MAX_DEPTH - 1);
			goto out;
		}
		rc = smime ? open_pkcs7(&op, &cur, err) :
			     open_signed(&op, &cur, &ct, err);
		if (rc < 0)
			goto cbc_check;
	}
	/*
	 * CBC has no integrity of its own: a modified ciphertext decrypts
	 * to modified plaintext (the EFAIL gadgets).  Whatever is signed
	 * inside is the integrity check; if it fails, the ciphertext was
	 * tampered with and nothing of it is released.
	 */
	for (size_t i = op.cbc_from; op.cbc_from != SIZE_MAX && i < op.nsigs;
	     i++) {
		if (op.sigs[i].state == LL_SIG_INVALID) {
			rc = ll_err(err, LL_EDECRYPT, LL_ECLASS_CMS,
				    "decrypted content fails its signature "
				    "(%s): the ciphertext was modified",
				    op.sigs[i].why);
			goto out;
		}
	}
	judge(&op, &top, &cur);
	/* nothing signed covers the CBC ciphertext or what it decrypts to */
	if (op.cbc_from != SIZE_MAX && op.nsigs == 0)
		add_error(op.st, "%s without a signature: not "
				 "integrity-protected, the content may have "
				 "been modified (EFAIL)",
			  op.st->cipher);
	if (op.st->decrypted && op.sigs_outside > 0 &&
	    op.nsigs == op.sigs_outside)
		add_error(op.st, "the signature covers only the ciphertext: "
				 "the decrypted content may come from someone "
				 "else than the signer");
	o->st.header_protection =
		depth > 0 && (ct.hp[0] != '\0' ||
			      ll_mime_count(&cur.hdr, "From") > 0);
	if (depth == 0) {
		o->buf.wipe = 1;
		rc = ll_buf_add(&o->buf, msg, len);
		o->data = o->buf.p;
		o->len = o->buf.len;
	} else {
		rc = assemble(o, &op, &top, &cur);
	}
	if (rc < 0)
		goto out;
	/* the signer's certificate, when the whole message is validly
	 * signed by From: what a contact store may harvest */
	if (o->st.is_signed && o->st.signature == LL_SIG_VALID &&
	    o->st.signer_matches_from && op.nsigs == 1 &&
	    op.sigs[0].cert != NULL && X509_up_ref(op.sigs[0].cert) &&
	    ll_cert_wrap_fpr(&o->signer, op.sigs[0].cert,
			     signer_fpr(fpr, ctx, op.sigs[0].cert), NULL) < 0) {
		X509_free(op.sigs[0].cert); /* the reference taken */
		o->signer = NULL;
	}
	/* what the signer says it reads, under its signature: the contact
	 * store decides whether it may raise what it knows (contacts.c) */
	if (o->signer != NULL)
		ll_cert_set_caps(o->signer, op.sigs[0].caps);
	if (o->signer != NULL)
		take_enc_cert(o, &op.sigs[0], ctx);
	*out = o;
	o = NULL;
	goto out;
cbc_check:
	/* any failure after a CBC decryption is the same answer: no
	 * distinguishable error for a padding-oracle style attacker */
	if (rc < 0 && rc != LL_ENOMEM && op.cbc_from != SIZE_MAX) {
		char why[LL_ERROR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", err ? err->message : "");
		rc = ll_err(err, LL_EDECRYPT, LL_ECLASS_CMS,
			    "decrypted content is malformed (%s): the "
			    "ciphertext was modified", why);
	}
out:
	for (size_t i = 0; i < op.nsigs; i++) {
		X509_free(op.sigs[i].cert);
		X509_free(op.sigs[i].enc_cert);
	}
	for (size_t i = 0; i < op.nbufs; i++)
		ll_buf_free(&op.bufs[i]);
	ll_opened_free(&o);
	if (rc < 0 && err != NULL && err->code == 0)
		ll_err(err, rc, LL_ECLASS_NONE, "%s", ll_strerror(rc));
	return rc;
}

const char *ll_opened_data(const struct ll_opened *o, size_t *len)
{
	*len = o->len;
	return o->data ? o->data : "";
}

const struct ll_open_status *ll_opened_status(const struct ll_opened *o)
{
	return &o->st;
}

const struct ll_cert *ll_opened_signer(const struct ll_opened *o)
{
	return o->signer;
}

const struct ll_cert *ll_opened_encryption_cert(const struct ll_opened *o)
{
	return o->enc;
}

void ll_opened_free(struct ll_opened **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	ll_buf_free(&(*pp)->buf);
	ll_cert_free(&(*pp)->signer);
	ll_cert_free(&(*pp)->enc);
	free(*pp);
	*pp = NULL;
}
