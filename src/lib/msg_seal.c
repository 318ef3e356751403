/*
 * msg_seal.c - whole message in, S/MIME message(s) out.
 *
 * The plaintext is not copied: the inner entity (RFC 9788 protected
 * headers + the original body, in canonical CRLF form) is generated
 * once for the signature's digest and the streaming encryption (or the
 * output) together, and again only for further (Bcc) copies, so peak
 * memory is the input plus the output.  (A time-stamped signature is
 * needed before the first copy: its digest is taken from a copy of the
 * inner entity made first, and wiped.)
 */
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include <gmime/gmime.h>

#include "internal.h"

/* RFC 9788 header protection: the fields that travel inside. */
static const char *const protected_fields[] = {
	"Subject", "From", "To", "Cc", "Date", "Message-ID", "References",
	"In-Reply-To", "Reply-To", "Followup-To", NULL,
};

struct copy {
	struct ll_buf data;
	char **rcpts;
	size_t nrcpts;
	const char *cipher;
};

struct ll_sealed {
	struct copy *c;
	size_t n;
	int stamped; /* the signature carries an RFC 3161 token */
	char note[200]; /* why it does not though one was asked, "" */
};

struct plan {
	struct ll_ctx *ctx;
	struct ll_entity e;
	unsigned flags;
	struct ll_identity *id;
	char boundary[40];
	struct ll_buf sig;	/* the signature made once, DER: detached,
				   or signed-data when opaque and stamped */
	struct ll_stamp stamp;	/* the TSA asked, and what came of it */
};

static int is_protected(const struct ll_field *f)
{
	for (size_t i = 0; protected_fields[i] != NULL; i++)
		if (ll_field_is(f, protected_fields[i]))
			return 1;
	return 0;
}

static int is_content_field(const struct ll_field *f)
{
	return f->name.len > 8 && strncasecmp(f->name.p, "Content-", 8) == 0;
}

static int puts_(BIO *b, const char *s)
{
	return ll_bio_put(b, s, strlen(s));
}

/* A raw field with its line end made CRLF (adds one if missing). */
static int put_field(BIO *b, const struct ll_field *f)
{
	int rc = ll_bio_put_crlf(b, f->raw.p, f->raw.len);

	if (rc == 0 && (f->raw.len == 0 || f->raw.p[f->raw.len - 1] != '\n'))
		rc = ll_bio_put(b, "\r\n", 2);
	return rc;
}

static int encrypting(const struct plan *pl)
{
	return (pl->flags & LL_SEAL_ENCRYPT) != 0;
}

static int hp(const struct plan *pl)
{
	return !(pl->flags & LL_SEAL_NO_HP);
}

/* The inner entity: Content-* fields, protected fields, body. */
static int write_inner(BIO *b, const struct plan *pl)
{
	const char *hpv = encrypting(pl) ? "cipher" : "clear";
	struct ll_field f;
	size_t pos = 0;
	int rc = 0, have_ct = 0;

	while (rc == 0 && ll_mime_next_field(&pl->e.hdr, &pos, &f)) {
		if (ll_field_is(&f, "Content-Type") && hp(pl)) {
			have_ct = 1;
			rc = puts_(b, "Content-Type:");
			if (rc == 0)
				rc = ll_bio_put_crlf(b, f.value.p, f.value.len);
			if (rc == 0 && BIO_printf(b, "; hp=\"%s\"\r\n", hpv) <= 0)
				rc = LL_ECRYPTO;
		} else if (is_content_field(&f)) {
			have_ct |= ll_field_is(&f, "Content-Type");
			rc = put_field(b, &f);
		} else if (hp(pl) && is_protected(&f)) {
			rc = put_field(b, &f);
		}
	}
	if (rc == 0 && !have_ct) {
		rc = puts_(b, "Content-Type: text/plain; charset=us-ascii");
		if (rc == 0 && hp(pl))
			rc = BIO_printf(b, "; hp=\"%s\"", hpv) > 0 ? 0 :
								    LL_ECRYPTO;
		if (rc == 0)
			rc = puts_(b, "\r\n");
	}
	/* RFC 9788 2.2: what the outside shows, for the recipient */
	pos = 0;
	while (rc == 0 && hp(pl) && encrypting(pl) &&
	       ll_mime_next_field(&pl->e.hdr, &pos, &f)) {
		if (!is_protected(&f))
			continue;
		if (ll_field_is(&f, "Subject")) {
			rc = puts_(b, "HP-Outer: Subject: [...]\r\n");
			continue;
		}
		rc = puts_(b, "HP-Outer: ");
		if (rc == 0)
			rc = put_field(b, &f);
	}
	if (rc == 0)
		rc = puts_(b, "\r\n");
	if (rc == 0)
		rc = ll_bio_put_crlf(b, pl->e.body.p, pl->e.body.len);
	return rc;
}

/* Outer header fields (no Content-*, MIME-Version, Bcc). */
static int write_outer(BIO *b, const struct plan *pl)
{
	struct ll_field f;
	size_t pos = 0;
	int rc = 0;

	while (rc == 0 && ll_mime_next_field(&pl->e.hdr, &pos, &f)) {
		if (is_content_field(&f) || ll_field_is(&f, "MIME-Version") ||
		    ll_field_is(&f, "Bcc"))
			continue;
		if (encrypting(pl) && hp(pl) && ll_field_is(&f, "Subject"))
			rc = puts_(b, "Subject: [...]\r\n");
		else
			rc = put_field(b, &f);
	}
	if (rc == 0)
		rc = puts_(b, "MIME-Version: 1.0\r\n");
	return rc;
}

/* The signature made once (pl->sig), base64 with CRLF lines, to B. */
static int put_sig_b64(BIO *b, const struct plan *pl)
{
	struct ll_buf s64 = { 0 };
	int rc = ll_b64_encode(&s64, (const unsigned char *)pl->sig.p,
			       pl->sig.len);

	if (rc == 0)
		rc = ll_bio_put(b, s64.p, s64.len);
	ll_buf_free(&s64);
	return rc;
}

static int put_both(void *arg, const char *p, size_t n)
{
	BIO **both = arg;
	int rc = ll_bio_put(both[0], p, n);

	if (rc == 0)
		rc = ll_bio_put(both[1], p, n);
	return rc;
}

/*
 * The inner entity to B and, as it goes, into the detached signature's
 * digest: canonicalised once for both.  The signature is pl->sig after
 * this, for the signature part and every further copy.
 */
static int write_inner_signed(BIO *b, struct plan *pl, struct ll_error *err)
{
	struct ll_cms_signing s;
	BIO *both[2] = { b, NULL }, *tee;
	int rc = ll_cms_sign_start(&s, pl->ctx, pl->id, 1, err);

	if (rc < 0)
		return rc;
	both[1] = s.in;
	tee = ll_bio_sink_new(put_both, both);
	rc = tee != NULL ? write_inner(tee, pl) : LL_ENOMEM;
	BIO_free(tee);
	if (rc < 0) {
		ll_cms_sign_abort(&s);
		return rc;
	}
	return ll_cms_sign_finish(&pl->sig, &s, NULL, err);
}

static int write_signed_entity(BIO *b, struct plan *pl, struct ll_error *err)
{
	int rc;

	if (pl->flags & LL_SEAL_OPAQUE) {
		CMS_ContentInfo *cms;
		BIO *b64 = NULL, *cbio = NULL;

		rc = puts_(b, "Content-Type: application/pkcs7-mime; "
			      "smime-type=signed-data; name=\"smime.p7m\"\r\n"
			      "Content-Transfer-Encoding: base64\r\n"
			      "Content-Disposition: attachment; "
			      "filename=\"smime.p7m\"\r\n\r\n");
		if (rc < 0)
			return rc;
		/* made once already when time-stamped (ll_msg_seal) */
		if (pl->sig.len > 0)
			return put_sig_b64(b, pl);
		cms = ll_cms_sign_stream_new(pl->ctx, pl->id, err);
		if (cms == NULL)
			return LL_ECRYPTO;
		b64 = ll_bio_b64_new();
		if (b64 != NULL) {
			BIO_push(b64, b);
			cbio = BIO_new_CMS(b64, cms);
		}
		if (cbio != NULL) {
			BIO *buf = BIO_new(BIO_f_buffer());

			if (buf != NULL &&
			    BIO_set_write_buffer_size(buf, 65536) > 0)
				cbio = BIO_push(buf, cbio);
			else
				BIO_free(buf);
		}
		rc = cbio == NULL ? LL_ECRYPTO : write_inner(cbio, pl);
		if (rc == 0 && BIO_flush(cbio) <= 0)
			rc = LL_ECRYPTO;
		while (cbio != NULL && cbio != b64) {
			BIO *next = BIO_pop(cbio);

			BIO_free(cbio);
			cbio = next;
		}
		if (rc == 0 && BIO_flush(b64) <= 0)
			rc = LL_ECRYPTO;
		if (b64 != NULL) {
			BIO_pop(b64);
			BIO_free(b64);
		}
		CMS_ContentInfo_free(cms);
		if (rc < 0)
			return ll_err_ossl(err, rc, "signing (signed-data)");
		return 0;
	}

	rc = BIO_printf(b, "Content-Type: multipart/signed; "
			   "protocol=\"application/pkcs7-signature\"; "
			   "micalg=sha-256;\r\n boundary=\"%s\"\r\n\r\n"
			   "This is a cryptographically signed message in MIME "
			   "format.\r\n\r\n--%s\r\n",
			pl->boundary, pl->boundary) > 0 ? 0 : LL_ECRYPTO;
	if (rc == 0 && pl->sig.len > 0)
		rc = write_inner(b, pl);
	else if (rc == 0)
		rc = write_inner_signed(b, pl, err);
	if (rc == 0)
		rc = BIO_printf(b, "\r\n--%s\r\n"
				   "Content-Type: application/pkcs7-signature; "
				   "name=\"smime.p7s\"\r\n"
				   "Content-Transfer-Encoding: base64\r\n"
				   "Content-Disposition: attachment; "
				   "filename=\"smime.p7s\"\r\n"
				   "Content-Description: S/MIME Cryptographic "
				   "Signature\r\n\r\n",
				pl->boundary) > 0 ? 0 : LL_ECRYPTO;
	if (rc == 0)
		rc = put_sig_b64(b, pl);
	if (rc == 0)
		rc = BIO_printf(b, "--%s--\r\n", pl->boundary) > 0 ? 0 :
								    LL_ECRYPTO;
	return rc;
}

static int write_payload(BIO *b, struct plan *pl, struct ll_error *err)
{
	if (pl->flags & LL_SEAL_SIGN)
		return write_signed_entity(b, pl, err);
	return write_inner(b, pl);
}

static int seal_copy(struct copy *c, struct plan *pl, struct ll_cert **certs,
		     size_t ncerts, struct ll_error *err)
{
	BIO *mem = NULL, *b64 = NULL, *cbio = NULL, *buf = NULL;
	CMS_ContentInfo *cms = NULL;
	int rc, gcm = !(pl->flags & LL_SEAL_FORCE_CBC);
	size_t est = pl->e.all.len + pl->e.all.len / 32 + 16384 + pl->sig.len;

	/* sized once: the output never has to be copied to grow */
	if (encrypting(pl))
		est = ll_b64_encoded_len(est);
	rc = ll_buf_reserve(&c->data, pl->e.hdr.len * 2 + est);
	if (rc < 0)
		return rc;
	mem = ll_bio_buf_new(&c->data);
	if (mem == NULL)
		return LL_ENOMEM;
	rc = write_outer(mem, pl);
	if (rc < 0)
		goto out;
	if (!encrypting(pl)) {
		rc = write_payload(mem, pl, err);
		goto done;
	}
	/* certs[0] is our own: letterlock reads GCM */
	for (size_t i = 1; i < ncerts; i++)
		if (!(ll_cert_caps(certs[i]) & LL_CAP_AES256_GCM))
			gcm = 0;
	c->cipher = gcm ? "aes-256-gcm" : "aes-256-cbc";
	rc = BIO_printf(mem, "Content-Type: application/pkcs7-mime; "
			     "smime-type=%s; name=\"smime.p7m\"\r\n"
			     "Content-Transfer-Encoding: base64\r\n"
			     "Content-Disposition: attachment; "
			     "filename=\"smime.p7m\"\r\n"
			     "Content-Description: S/MIME Encrypted Message\r\n"
			     "\r\n",
			gcm ? "authEnveloped-data" : "enveloped-data") > 0 ?
		     0 : LL_ECRYPTO;
	if (rc < 0)
		goto out;
	/* the base64 lines straight into the output, not through mem */
	b64 = ll_bio_b64_buf_new(&c->data);
	if (b64 == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	if (ll_cms_env_ec_ok(certs, ncerts)) {
		/* our own KARIs: each key checked once, not per message */
		cbio = ll_cms_env_ec_new(pl->ctx, certs, ncerts, gcm, err);
		if (cbio == NULL) {
			rc = err && err->code ? err->code : LL_ECRYPTO;
			goto out;
		}
		BIO_push(cbio, b64);
	} else {
		/* the compatible profile is CBC and PKCS#1 v1.5 for all */
		cms = ll_cms_env_new(pl->ctx, certs, ncerts, gcm,
				     !(pl->flags & LL_SEAL_FORCE_CBC), err);
		if (cms == NULL) {
			rc = err && err->code ? err->code : LL_ECRYPTO;
			goto out;
		}
		cbio = BIO_new_CMS(b64, cms);
		if (cbio == NULL) {
			rc = ll_err_ossl(err, LL_ECRYPTO,
					 "starting encryption");
			goto out;
		}
	}
	/* 64 KiB writes: fewer, larger BER chunks for every reader */
	buf = BIO_new(BIO_f_buffer());
	if (buf == NULL || BIO_set_write_buffer_size(buf, 65536) <= 0) {
		rc = LL_ENOMEM;
		goto out;
	}
	cbio = BIO_push(buf, cbio);
	buf = NULL;
	rc = write_payload(cbio, pl, err);
	if (rc == 0 && BIO_flush(cbio) <= 0)
		rc = ll_err_ossl(err, LL_ECRYPTO, "encrypting");
	while (cbio != b64) {
		BIO *next = BIO_pop(cbio);

		BIO_free(cbio);
		cbio = next;
	}
	cbio = NULL;
	if (rc == 0 && BIO_flush(b64) <= 0)
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding");
done:
out:
	while (cbio != NULL && cbio != b64) {
		BIO *next = BIO_pop(cbio);

		BIO_free(cbio);
		cbio = next;
	}
	BIO_free(buf);
	if (b64 != NULL) {
		BIO_pop(b64);
		BIO_free(b64);
	}
	BIO_free(mem);
	CMS_ContentInfo_free(cms);
	return rc;
}

static int strv_dup(char ***out, size_t *n, char **src, size_t from,
		    size_t count)
{
	char **v = calloc(count + 1, sizeof(*v));

	if (v == NULL)
		return LL_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		v[i] = strdup(src[from + i]);
		if (v[i] == NULL) {
			ll_strv_free(&v);
			return LL_ENOMEM;
		}
	}
	*out = v;
	*n = count;
	return 0;
}

static size_t strv_len(char **v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* The certificate of each of the N addresses ADDRS (looked up once per
 * message); LL_ENOCERT names every address lacking one. */
static int lookup_certs(struct ll_cert ***out, struct plan *pl,
			char *const *addrs, size_t n, struct ll_error *err)
{
	struct ll_cert **v = calloc(n + 1, sizeof(*v));
	struct ll_buf missing = { 0 };
	int rc = 0;

	if (v == NULL)
		return LL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = ll_ctx_contact_for(pl->ctx, addrs[i]);
		if (v[i] == NULL)
			ll_buf_addf(&missing, "%s%s%s",
				    missing.len ? ", " : "", addrs[i],
				    ll_ctx_contact_sign_only(pl->ctx, addrs[i]) ?
					    " (a signing certificate only: "
					    "its keyUsage allows no "
					    "encryption)" :
					    "");
	}
	if (missing.len > 0) {
		rc = ll_err(err, LL_ENOCERT, LL_ECLASS_POLICY,
			    "no certificate for: %s", missing.p);
		free(v);
	} else {
		*out = v;
	}
	ll_buf_free(&missing);
	return rc;
}

/* The sender's certificate and SEL's, each once. */
static int copy_certs(struct ll_cert ***out, size_t *n, struct plan *pl,
		      struct ll_cert *const *sel, size_t nsel)
{
	struct ll_cert **v = calloc(nsel + 1, sizeof(*v));
	size_t k = 0;

	if (v == NULL)
		return LL_ENOMEM;
	v[k++] = ll_identity_cert(pl->id);
	for (size_t i = 0; i < nsel; i++) {
		int dup = 0;

		for (size_t j = 0; j < k; j++)
			dup |= strcmp(ll_cert_fingerprint(v[j]),
				      ll_cert_fingerprint(sel[i])) == 0;
		if (!dup)
			v[k++] = sel[i];
	}
	*out = v;
	*n = k;
	return 0;
}

/*
 * RFC 8551 3.1.3: a multipart/signed travels in clear, and a relay may
 * re-encode 8-bit text or wrap lines over 998 octets, which breaks the
 * signature.  Such a body is given a 7-bit transfer encoding (GMime
 * picks quoted-printable or base64 per part) before it is signed.
 */
static int needs_7bit(const struct ll_entity *e)
{
	const unsigned char *p = (const unsigned char *)e->body.p;
	size_t line = 0;

	for (size_t i = 0; i < e->body.len; i++) {
		if (p[i] >= 0x80 || p[i] == 0)
			return 1;
		line = p[i] == '\n' ? 0 : line + 1;
		if (line > 998)
			return 1;
	}
	return 0;
}

static int to_7bit(struct ll_buf *out, const char *msg, size_t len,
		   struct ll_error *err)
{
	GMimeStream *in = NULL, *o = NULL;
	GMimeParser *parser = NULL;
	GMimeMessage *m = NULL;
	GMimeObject *body;
	GByteArray *ba;
	int rc = 0;

	ll_gmime_init();
	in = g_mime_stream_mem_new_with_buffer(msg, len);
	parser = in ? g_mime_parser_new_with_stream(in) : NULL;
	m = parser ? g_mime_parser_construct_message(parser, NULL) : NULL;
	body = m ? g_mime_message_get_mime_part(m) : NULL;
	if (body == NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "cannot re-encode the message body to 7 bits");
		goto out;
	}
	g_mime_object_encode(body, GMIME_ENCODING_CONSTRAINT_7BIT);
	o = g_mime_stream_mem_new();
	if (o == NULL ||
	    g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, o) < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_MIME,
			    "cannot write the re-encoded message");
		goto out;
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(o));
	rc = ll_buf_add(out, ba->data, ba->len);
out:
	if (o != NULL)
		g_object_unref(o);
	if (m != NULL)
		g_object_unref(m);
	if (parser != NULL)
		g_object_unref(parser);
	if (in != NULL)
		g_object_unref(in);
	return rc;
}

/* 1 if CTX holds an identity for ADDR whose certificate is revoked. */
static int revoked_identity(const struct ll_ctx *ctx, const char *addr)
{
	for (size_t i = 0; i < ll_ctx_identity_count(ctx); i++) {
		const struct ll_cert *c =
			ll_identity_cert(ll_ctx_identity_at(ctx, i));

		if (ll_cert_matches_email(c, addr) && ll_ctx_is_revoked(ctx, c))
			return 1;
	}
	return 0;
}

int ll_msg_seal(struct ll_sealed **out, struct ll_ctx *ctx, const char *msg,
		size_t len, const struct ll_seal_options *opts,
		struct ll_error *err)
{
	struct ll_seal_options dflt = LL_SEAL_OPTIONS_INIT;
	struct plan pl = { 0 };
	struct ll_sealed *s = NULL;
	char **from = NULL, **tocc = NULL, **bcc = NULL, *fromv = NULL;
	struct ll_cert **certs = NULL, **bycert = NULL;
	struct ll_buf conv = { 0 };
	size_t ntocc, nbcc, ncerts = 0;
	int rc;

	*out = NULL;
	if (opts == NULL)
		opts = &dflt;
	if (opts->version != LL_SEAL_OPTIONS_VERSION && opts->version != 1)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "unknown ll_seal_options version");
	pl.ctx = ctx;
	pl.flags = opts->flags;
	if (opts->version >= 2 && opts->tsa_url != NULL &&
	    (pl.flags & LL_SEAL_SIGN)) {
		pl.stamp.url = opts->tsa_url;
		pl.stamp.ca_file = opts->tsa_ca_file;
		pl.stamp.required = (pl.flags & LL_SEAL_REQUIRE_TIMESTAMP) != 0;
	}
	pl.sig.wipe = 0;
	if (!(pl.flags & (LL_SEAL_SIGN | LL_SEAL_ENCRYPT)))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "nothing to do: neither sign nor encrypt");
	rc = ll_mime_split(&pl.e, msg, len, err);
	if (rc < 0)
		goto out;
	if ((pl.flags & LL_SEAL_SIGN) &&
	    !(pl.flags & (LL_SEAL_OPAQUE | LL_SEAL_ENCRYPT)) &&
	    needs_7bit(&pl.e)) {
		rc = to_7bit(&conv, msg, len, err);
		if (rc < 0)
			goto out;
		msg = conv.p;
		len = conv.len;
		rc = ll_mime_split(&pl.e, msg, len, err);
		if (rc < 0)
			goto out;
	}
	if (ll_mime_count(&pl.e.hdr, "From") != 1) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "the message needs exactly one From field");
		goto out;
	}
	fromv = ll_mime_get(&pl.e.hdr, "From");
	rc = fromv ? ll_addr_parse_list(&from, fromv, err) : LL_ENOMEM;
	if (rc < 0)
		goto out;
	if (strv_len(from) != 1) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			    "From must name exactly one mailbox");
		goto out;
	}
	pl.id = ll_ctx_identity_for(ctx, from[0]);
	if (pl.id == NULL) {
		rc = ll_err(err, LL_ENOKEY, LL_ECLASS_POLICY,
			    revoked_identity(ctx, from[0]) ?
				    "the certificate of %s is revoked: it "
				    "signs no more (enrol again)" :
				    "no current identity for %s",
			    from[0]);
		goto out;
	}
	rc = ll_msg_addresses(&tocc, msg, len, LL_ADDR_TO_CC, err);
	if (rc == 0)
		rc = ll_msg_addresses(&bcc, msg, len, LL_ADDR_BCC, err);
	if (rc < 0)
		goto out;
	ntocc = strv_len(tocc);
	nbcc = strv_len(bcc);
	if (pl.flags & LL_SEAL_SELF_ONLY)
		ntocc = nbcc = 0; /* one copy, to the sender's key only */

	/* a boundary that does not occur in the message */
	for (int tries = 0;; tries++) {
		unsigned char r[12];

		if (RAND_bytes(r, sizeof(r)) != 1) {
			rc = ll_err_ossl(err, LL_ECRYPTO, "random");
			goto out;
		}
		strcpy(pl.boundary, "----LL");
		for (size_t i = 0; i < sizeof(r); i++)
			snprintf(pl.boundary + 6 + 2 * i, 3, "%02X", r[i]);
		if (memmem(msg, len, pl.boundary + 4, strlen(pl.boundary) - 4) ==
		    NULL)
			break;
		if (tries > 8) {
			rc = ll_err(err, LL_ECRYPTO, LL_ECLASS_MIME,
				    "cannot choose a MIME boundary");
			goto out;
		}
	}
	/* signed once for every copy, here when a token must be put in
	 * (a streamed signed-data is signed as its last octets go out,
	 * too late to add one; the token goes in before the first copy);
	 * otherwise as the first copy goes out: detached while its inner
	 * entity is written (write_inner_signed), opaque streamed */
	if ((pl.flags & LL_SEAL_SIGN) && pl.stamp.url != NULL) {
		struct ll_buf inner = { .wipe = 1 }; /* plaintext */
		BIO *mem;

		/* the inner entity, for the digest; freed at once */
		rc = ll_buf_reserve(&inner, 2 * len + 4096);
		mem = rc == 0 ? ll_bio_buf_new(&inner) : NULL;
		rc = mem ? write_inner(mem, &pl) : LL_ENOMEM;
		if (rc == 0)
			rc = ll_cms_sign_buffer(
				&pl.sig, ctx, pl.id,
				!(pl.flags & LL_SEAL_OPAQUE), inner.p,
				inner.len, pl.stamp.url ? &pl.stamp : NULL,
				err);
		BIO_free(mem);
		/* only what was written holds plaintext: wiping the whole
		 * reservation (2x the message) would touch pages never
		 * used, 10 MiB seal peak 2.4x -> 4.2x the size */
		if (inner.p != NULL)
			OPENSSL_cleanse(inner.p, inner.len);
		inner.wipe = 0;
		ll_buf_free(&inner);
		if (rc < 0)
			goto out;
	}

	if (encrypting(&pl)) {
		/* To/Cc then Bcc: every address lacking one named at once */
		char **all = calloc(ntocc + nbcc + 1, sizeof(*all));

		if (all == NULL) {
			rc = LL_ENOMEM;
			goto out;
		}
		memcpy(all, tocc, ntocc * sizeof(*all));
		memcpy(all + ntocc, bcc, nbcc * sizeof(*all));
		rc = lookup_certs(&bycert, &pl, all, ntocc + nbcc, err);
		free(all);
		if (rc < 0)
			goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	s->stamped = pl.stamp.stamped;
	memcpy(s->note, pl.stamp.note, sizeof(s->note));
	s->c = calloc(nbcc + 1, sizeof(*s->c));
	if (s->c == NULL) {
		rc = LL_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i <= nbcc; i++) {
		struct copy *c = &s->c[s->n];

		if (i == 0 && ntocc == 0 && nbcc > 0)
			continue; /* only Bcc recipients: no To/Cc copy */
		rc = i == 0 ? strv_dup(&c->rcpts, &c->nrcpts, tocc, 0, ntocc) :
			      strv_dup(&c->rcpts, &c->nrcpts, bcc, i - 1, 1);
		if (rc < 0)
			goto out;
		s->n++;
		if (encrypting(&pl)) {
			rc = i == 0 ? copy_certs(&certs, &ncerts, &pl, bycert,
						 ntocc) :
				      copy_certs(&certs, &ncerts, &pl,
						 bycert + ntocc + i - 1, 1);
			if (rc < 0)
				goto out;
		}
		rc = seal_copy(c, &pl, certs, encrypting(&pl) ? ncerts : 0,
			       err);
		free(certs);
		certs = NULL;
		if (rc < 0)
			goto out;
	}
	*out = s;
	s = NULL;
out:
	if (rc < 0 && err != NULL && err->code == 0)
		ll_err_ossl(err, rc, "sealing failed: %s", ll_strerror(rc));
	ll_sealed_free(&s);
	ll_buf_free(&pl.sig);
	ll_buf_free(&conv);
	free(bycert);
	free(fromv);
	ll_strv_free(&from);
	ll_strv_free(&tocc);
	ll_strv_free(&bcc);
	return rc;
}

size_t ll_sealed_count(const struct ll_sealed *s)
{
	return s->n;
}

const char *ll_sealed_data(const struct ll_sealed *s, size_t i, size_t *len)
{
	if (i >= s->n) {
		*len = 0;
		return NULL;
	}
	*len = s->c[i].data.len;
	return s->c[i].data.p;
}

const char *const *ll_sealed_rcpts(const struct ll_sealed *s, size_t i,
				   size_t *n)
{
	if (i >= s->n) {
		*n = 0;
		return NULL;
	}
	*n = s->c[i].nrcpts;
	return (const char *const *)s->c[i].rcpts;
}

const char *ll_sealed_cipher(const struct ll_sealed *s, size_t i)
{
	return i < s->n ? s->c[i].cipher : NULL;
}

int ll_sealed_timestamped(const struct ll_sealed *s)
{
	return s->stamped;
}

const char *ll_sealed_note(const struct ll_sealed *s)
{
	return s->note;
}

void ll_sealed_free(struct ll_sealed **pp)
{
	struct ll_sealed *s;

	if (pp == NULL || *pp == NULL)
		return;
	s = *pp;
	*pp = NULL;
	for (size_t i = 0; i < s->n; i++) {
		ll_buf_free(&s->c[i].data);
		ll_strv_free(&s->c[i].rcpts);
	}
	free(s->c);
	free(s);
}
