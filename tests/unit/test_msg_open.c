/*
 * test_msg_open.c - ll_msg_open on messages sealed in-process: round
 * trips in every mode, header protection restored, the signature
 * verdicts (tampered, wrong signer, untrusted, only a part signed), the
 * Bcc copy that a To recipient cannot open, and authenticated
 * decryption failing closed (no output at all).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/cms.h>

#include "msgtest.h"

static const char plan_msg[] =
	"From: Alice <alice@example.test>\n"
	"To: Bob <bob@example.test>\n"
	"Subject: secret plans\n"
	"Date: Tue, 24 Nov 2026 12:00:00 +0000\n"
	"Message-ID: <plans-1@example.test>\n"
	"\n"
	"Meet at noon.\n"
	"Bring the key.\n";

static const unsigned both = LL_SEAL_SIGN | LL_SEAL_ENCRYPT;

/* Seal PLAN_MSG as alice with FLAGS, open it as bob, check the body. */
static struct ll_opened *roundtrip(unsigned flags)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg, flags);
	struct ll_opened *o = mt_open_copy(b, s, 0);
	size_t len;
	const char *p = ll_opened_data(o, &len);

	assert_true(mt_has(p, len, "Meet at noon."));
	assert_true(mt_has(p, len, "Bring the key."));
	assert_true(mt_has_field(p, len, "From", "Alice <alice@example.test>"));
	assert_true(mt_has_field(p, len, "To", "Bob <bob@example.test>"));
	assert_true(mt_has_field(p, len, "Message-ID",
				 "<plans-1@example.test>"));
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
	return o;
}

static void assert_valid_from_alice(const struct ll_open_status *st)
{
	assert_int_equal(st->is_signed, 1);
	assert_int_equal(st->signature, LL_SIG_VALID);
	assert_string_equal(ll_sig_state_name(st->signature), "valid");
	assert_string_equal(st->signer, "alice@example.test");
	assert_int_equal(st->signer_matches_from, 1);
	assert_true(st->timestamp[0] != '\0'); /* the signing time */
	assert_int_equal(st->timestamp_trusted, 0);
	assert_int_equal(st->nerrors, 0);
}

static void test_sign_encrypt(void **state)
{
	struct ll_opened *o = roundtrip(both);
	const struct ll_open_status *st = ll_opened_status(o);

	(void)state;
	assert_int_equal(st->encrypted, 1);
	assert_int_equal(st->decrypted, 1);
	assert_string_equal(st->cipher, "aes-256-cbc");
	assert_valid_from_alice(st);
	assert_int_equal(st->header_protection, 1);
	ll_opened_free(&o);
	assert_null(o);
}

static void test_sign_only(void **state)
{
	struct ll_opened *o = roundtrip(LL_SEAL_SIGN);
	const struct ll_open_status *st = ll_opened_status(o);

	(void)state;
	assert_int_equal(st->encrypted, 0);
	assert_int_equal(st->decrypted, 0);
	assert_null(st->cipher);
	assert_valid_from_alice(st);
	ll_opened_free(&o);
}

static void test_sign_only_opaque(void **state)
{
	struct ll_opened *o = roundtrip(LL_SEAL_SIGN | LL_SEAL_OPAQUE);
	const struct ll_open_status *st = ll_opened_status(o);

	(void)state;
	assert_int_equal(st->encrypted, 0);
	assert_valid_from_alice(st);
	ll_opened_free(&o);
}

static void test_sign_encrypt_opaque(void **state)
{
	struct ll_opened *o = roundtrip(both | LL_SEAL_OPAQUE);
	const struct ll_open_status *st = ll_opened_status(o);

	(void)state;
	assert_int_equal(st->encrypted, 1);
	assert_int_equal(st->decrypted, 1);
	assert_valid_from_alice(st);
	ll_opened_free(&o);
}

static void test_encrypt_only(void **state)
{
	struct ll_opened *o = roundtrip(LL_SEAL_ENCRYPT);
	const struct ll_open_status *st = ll_opened_status(o);

	(void)state;
	assert_int_equal(st->encrypted, 1);
	assert_int_equal(st->decrypted, 1);
	assert_int_equal(st->is_signed, 0);
	assert_int_equal(st->signature, LL_SIG_NONE);
	assert_string_equal(st->signer, "");
	/* CBC and nothing signed: said to be open to modification */
	assert_int_equal(st->nerrors, 1);
	assert_non_null(strstr(st->errors[0], "not integrity-protected"));
	ll_opened_free(&o);
}

/* Subject comes back from "[...]"; one of each field. */
static void test_header_protection_restored(void **state)
{
	static const unsigned modes[] = { both, LL_SEAL_ENCRYPT,
					  both | LL_SEAL_OPAQUE };

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(modes); i++) {
		struct ll_opened *o = roundtrip(modes[i]);
		struct ll_entity e;
		size_t len;
		const char *p = ll_opened_data(o, &len);

		assert_int_equal(ll_opened_status(o)->header_protection, 1);
		assert_true(mt_has_field(p, len, "Subject", "secret plans"));
		assert_false(mt_has_field(p, len, "Subject", "[...]"));
		assert_int_equal(ll_mime_split(&e, p, len, NULL), 0);
		assert_int_equal(ll_mime_count(&e.hdr, "Subject"), 1);
		assert_int_equal(ll_mime_count(&e.hdr, "From"), 1);
		assert_int_equal(ll_mime_count(&e.hdr, "To"), 1);
		assert_int_equal(ll_mime_count(&e.hdr, "Date"), 1);
		assert_int_equal(ll_mime_count(&e.hdr, "MIME-Version"), 1);
		ll_opened_free(&o);
	}
	/* without header protection there is nothing to restore */
	{
		struct ll_opened *o = roundtrip(both | LL_SEAL_NO_HP);
		size_t len;
		const char *p = ll_opened_data(o, &len);

		assert_int_equal(ll_opened_status(o)->header_protection, 0);
		assert_true(mt_has_field(p, len, "Subject", "secret plans"));
		ll_opened_free(&o);
	}
}

static void test_ec_signer(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(b,
				      "From: bob@example.test\n"
				      "To: alice@example.test\n"
				      "Subject: ec\n\nfrom bob\n",
				      both);
	struct ll_opened *o = mt_open_copy(a, s, 0);
	const struct ll_open_status *st = ll_opened_status(o);

	(void)state;
	assert_int_equal(st->signature, LL_SIG_VALID);
	assert_string_equal(st->signer, "bob@example.test");
	assert_int_equal(st->signer_matches_from, 1);
	ll_opened_free(&o);
	/* and bob opens his own sent copy */
	o = mt_open_copy(b, s, 0);
	assert_int_equal(ll_opened_status(o)->signature, LL_SIG_VALID);
	ll_opened_free(&o);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

static void assert_open_fails(struct ll_ctx *ctx, const char *p, size_t len,
			      int want)
{
	struct ll_error err;
	struct ll_opened *o = (struct ll_opened *)&err; /* must become NULL */
	int rc = mt_try_open(&o, ctx, p, len, &err);

	if (rc != want)
		fail_msg("ll_msg_open: %d (%s), expected %d", rc, err.message,
			 want);
	assert_null(o);
	assert_int_equal(err.code, want);
	assert_true(err.message[0] != '\0');
}

/* A Bcc copy is for its Bcc recipient (and the sender) only. */
static void test_bcc_copy_not_for_to(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob),
		      *c = mt_ctx(&mt_carol);
	struct ll_sealed *s = mt_seal(a,
				      "From: alice@example.test\n"
				      "To: bob@example.test\n"
				      "Bcc: carol@example.test\n"
				      "Subject: blind\n\nthe list\n",
				      both);
	struct ll_opened *o;
	size_t len0, len1;
	const char *c0 = ll_sealed_data(s, 0, &len0);
	const char *c1 = ll_sealed_data(s, 1, &len1);
	const char *p;
	size_t len;

	(void)state;
	assert_int_equal(ll_sealed_count(s), 2);
	assert_open_fails(b, c1, len1, LL_ENOKEY);
	assert_open_fails(c, c0, len0, LL_ENOKEY);
	/* each opens its own; neither learns of the Bcc */
	o = mt_open_copy(b, s, 0);
	p = ll_opened_data(o, &len);
	assert_true(mt_has(p, len, "the list"));
	assert_false(mt_has(p, len, "carol"));
	assert_false(mt_has_field(p, len, "Bcc", NULL));
	assert_int_equal(ll_opened_status(o)->signature, LL_SIG_VALID);
	ll_opened_free(&o);
	o = mt_open_copy(c, s, 1);
	p = ll_opened_data(o, &len);
	assert_true(mt_has(p, len, "the list"));
	assert_int_equal(ll_opened_status(o)->signature, LL_SIG_VALID);
	ll_opened_free(&o);
	/* the sender reads both */
	o = mt_open_copy(a, s, 0);
	ll_opened_free(&o);
	o = mt_open_copy(a, s, 1);
	ll_opened_free(&o);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
	ll_ctx_free(&c);
}

static void test_not_for_us(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a,
				      "From: alice@example.test\n"
				      "To: carol@example.test\n"
				      "Subject: x\n\nx\n",
				      LL_SEAL_ENCRYPT);
	size_t len;
	const char *p = ll_sealed_data(s, 0, &len);

	(void)state;
	assert_open_fails(b, p, len, LL_ENOKEY);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* Open P[0..LEN) as bob, expecting success; the status. */
static struct ll_open_status open_status(struct ll_ctx *ctx, const char *p,
					 size_t len)
{
	struct ll_error err;
	struct ll_opened *o = NULL;
	struct ll_open_status st;
	int rc = mt_try_open(&o, ctx, p, len, &err);

	if (rc != 0)
		fail_msg("ll_msg_open: %d %s", rc, err.message);
	st = *ll_opened_status(o);
	ll_opened_free(&o);
	return st;
}

static void test_tampered_signed_body(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg, LL_SEAL_SIGN);
	struct ll_open_status st;
	size_t len, blen;
	const char *p = ll_sealed_data(s, 0, &len);
	char *bad;

	(void)state;
	st = open_status(b, p, len);
	assert_int_equal(st.signature, LL_SIG_VALID);
	/* the body */
	bad = mt_replace(p, len, "Meet at noon", "Meet at nine", &blen);
	st = open_status(b, bad, blen);
	assert_int_equal(st.is_signed, 1);
	assert_int_equal(st.signature, LL_SIG_INVALID);
	assert_true(st.nerrors > 0);
	free(bad);
	/* a protected header field inside the signed part (the first
	 * "Date:" is the outer, unsigned one) */
	{
		struct ll_entity e;
		char *copy = malloc(len), *d;

		memcpy(copy, p, len);
		assert_int_equal(ll_mime_split(&e, copy, len, NULL), 0);
		d = memmem(e.body.p, e.body.len, "Date: Tue, 24", 13);
		assert_non_null(d);
		memcpy(d, "Date: Wed, 25", 13);
		st = open_status(b, copy, len);
		assert_int_equal(st.signature, LL_SIG_INVALID);
		/* the outer Date is not signed: changing it changes nothing */
		memcpy(d, "Date: Tue, 24", 13);
		d = memmem(e.hdr.p, e.hdr.len, "Date: Tue, 24", 13);
		assert_non_null(d);
		memcpy(d, "Date: Wed, 25", 13);
		st = open_status(b, copy, len);
		assert_int_equal(st.signature, LL_SIG_VALID);
		free(copy);
	}
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* A good signature by alice on a message whose From is carol. */
static void test_wrong_signer(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg,
				      LL_SEAL_SIGN | LL_SEAL_NO_HP);
	struct ll_open_status st;
	size_t len, blen;
	const char *p = ll_sealed_data(s, 0, &len);
	char *bad;

	(void)state;
	bad = mt_replace(p, len, "From: Alice <alice@example.test>",
			 "From: Carol <carol@example.test>", &blen);
	st = open_status(b, bad, blen);
	assert_int_equal(st.is_signed, 1);
	assert_int_equal(st.signature, LL_SIG_WRONG_SIGNER);
	assert_string_equal(ll_sig_state_name(st.signature), "wrong-signer");
	assert_string_equal(st.signer, "alice@example.test");
	assert_int_equal(st.signer_matches_from, 0);
	assert_true(st.nerrors > 0);
	free(bad);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* Alice signs, but From's display name or comment shows another
 * address, or From names two mailboxes, or there are two From fields:
 * never "valid". */
static void test_from_ambiguous(void **state)
{
	static const char *const froms[] = {
		"From: \"carol@example.test\" <alice@example.test>\n",
		"From: =?utf-8?q?carol=40example.test?= <alice@example.test>\n",
		"From: alice@example.test (carol@example.test)\n",
		"From: Alice <alice@example.test>; Carol <carol@example.test>\n",
		"From: alice@example.test\nFrom: carol@example.test\n",
	};
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);

	(void)state;
	for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
		char msg[512];
		struct ll_seal_options o = LL_SEAL_OPTIONS_INIT;
		struct ll_sealed *s = NULL;
		struct ll_error err;
		struct ll_open_status st;
		const char *p;
		size_t len;

		/* sealed with a plain From, then the field is swapped */
		snprintf(msg, sizeof(msg),
			 "From: alice@example.test\nTo: bob@example.test\n"
			 "Subject: s\n\nbody\n");
		o.flags = LL_SEAL_SIGN | LL_SEAL_NO_HP;
		assert_int_equal(ll_msg_seal(&s, a, msg, strlen(msg), &o, &err),
				 0);
		p = ll_sealed_data(s, 0, &len);
		{
			size_t blen;
			char *bad = mt_replace(p, len,
					       "From: alice@example.test\r\n",
					       froms[i], &blen);

			st = open_status(b, bad, blen);
			free(bad);
		}
		assert_int_equal(st.is_signed, 1);
		assert_int_not_equal(st.signature, LL_SIG_VALID);
		assert_int_equal(st.signer_matches_from, 0);
		ll_sealed_free(&s);
	}
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* mallory's certificate says alice, but nobody trusts it. */
static void test_untrusted(void **state)
{
	struct ll_ctx *m = mt_ctx(&mt_mallory), *b = mt_ctx(&mt_bob);
	static const unsigned modes[] = { LL_SEAL_SIGN, both,
					  LL_SEAL_SIGN | LL_SEAL_OPAQUE };

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(modes); i++) {
		struct ll_sealed *s = mt_seal(m, plan_msg, modes[i]);
		size_t len;
		const char *p = ll_sealed_data(s, 0, &len);
		struct ll_open_status st = open_status(b, p, len);

		assert_int_equal(st.is_signed, 1);
		assert_int_equal(st.signature, LL_SIG_UNTRUSTED);
		assert_string_equal(st.signer, "alice@example.test");
		ll_sealed_free(&s);
	}
	ll_ctx_free(&m);
	ll_ctx_free(&b);
}

/* A signed message as a part of a multipart/mixed is content: the
 * message is not signed (DESIGN.md: the signed part is the whole
 * message). */
static void test_wrapped_signed_not_signed(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg, LL_SEAL_SIGN);
	struct ll_buf w = { 0 };
	struct ll_entity e;
	struct ll_open_status st;
	size_t len;
	const char *p = ll_sealed_data(s, 0, &len);

	(void)state;
	assert_int_equal(ll_mime_split(&e, p, len, NULL), 0);
	/* the signed entity (its Content-* header and body) as a part */
	assert_int_equal(
		ll_buf_adds(&w, "From: Alice <alice@example.test>\r\n"
				"To: Bob <bob@example.test>\r\n"
				"Subject: secret plans\r\n"
				"MIME-Version: 1.0\r\n"
				"Content-Type: multipart/mixed; boundary=\"wrap\"\r\n"
				"\r\n--wrap\r\n"
				"Content-Type: text/plain\r\n\r\n"
				"Bank details changed, see below.\r\n"
				"--wrap\r\n"
				"Content-Type: multipart/signed; "
				"protocol=\"application/pkcs7-signature\"; "
				"micalg=sha-256; boundary=\""),
		0);
	{
		struct ll_ctype ct;

		assert_int_equal(ll_mime_ctype(&ct, &e.hdr, NULL), 0);
		assert_int_equal(ll_buf_adds(&w, ct.boundary), 0);
	}
	assert_int_equal(ll_buf_adds(&w, "\"\r\n\r\n"), 0);
	assert_int_equal(ll_buf_add(&w, e.body.p, e.body.len), 0);
	assert_int_equal(ll_buf_adds(&w, "\r\n--wrap--\r\n"), 0);
	st = open_status(b, w.p, w.len);
	assert_int_equal(st.is_signed, 0);
	assert_int_equal(st.signature, LL_SIG_NONE);
	assert_string_equal(st.signer, "");
	ll_buf_free(&w);
	ll_sealed_free(&s);
	/* the same inside an encrypted layer: encrypted, not signed */
	{
		const char *inner;
		char *msg;
		size_t n;

		s = mt_seal(a, plan_msg, LL_SEAL_SIGN);
		inner = ll_sealed_data(s, 0, &n);
		msg = malloc(n + 400);
		assert_non_null(msg);
		assert_int_equal(ll_mime_split(&e, inner, n, NULL), 0);
		{
			struct ll_ctype ct;
			int k;

			assert_int_equal(ll_mime_ctype(&ct, &e.hdr, NULL), 0);
			k = snprintf(msg, n + 400,
				     "From: alice@example.test\r\n"
				     "To: bob@example.test\r\nSubject: fw\r\n"
				     "Content-Type: multipart/mixed; boundary=w2\r\n"
				     "\r\n--w2\r\nContent-Type: text/plain\r\n\r\n"
				     "fw\r\n--w2\r\n"
				     "Content-Type: multipart/signed; "
				     "protocol=\"application/pkcs7-signature\"; "
				     "boundary=\"%s\"\r\n\r\n%.*s\r\n--w2--\r\n",
				     ct.boundary, (int)e.body.len, e.body.p);
			assert_true(k > 0 && (size_t)k < n + 400);
		}
		ll_sealed_free(&s);
		s = mt_seal(a, msg, LL_SEAL_ENCRYPT);
		inner = ll_sealed_data(s, 0, &n);
		st = open_status(b, inner, n);
		assert_int_equal(st.encrypted, 1);
		assert_int_equal(st.is_signed, 0);
		assert_int_equal(st.signature, LL_SIG_NONE);
		free(msg);
		ll_sealed_free(&s);
	}
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/*
 * Locate, in the DER of an (Auth)EnvelopedData, the largest chunk of the
 * encrypted content (*ct, *ctlen) and the last OCTET STRING after the
 * encrypted content info (the GCM tag for AuthEnvelopedData: *mac).
 */
static void find_ciphertext(unsigned char *der, size_t len,
			    unsigned char **ct, size_t *ctlen,
			    unsigned char **mac, size_t *maclen)
{
	const unsigned char *end = der + len;
	struct ll_tlv ci, oid, wrap, env, t, eci, ctype, alg, ec, c;

	*ct = *mac = NULL;
	*ctlen = *maclen = 0;
	assert_int_equal(ll_tlv_read(&ci, der, end, 0), 0);
	assert_int_equal(ll_tlv_read(&oid, ci.p, ci.end, 1), 0);
	assert_int_equal(ll_tlv_read(&wrap, oid.next, ci.end, 1), 0);
	assert_int_equal(ll_tlv_read(&env, wrap.p, wrap.end, 2), 0);
	assert_int_equal(ll_tlv_read(&t, env.p, env.end, 3), 0); /* version */
	assert_int_equal(ll_tlv_read(&t, t.next, env.end, 3), 0);
	if (t.cls == V_ASN1_CONTEXT_SPECIFIC) /* originatorInfo */
		assert_int_equal(ll_tlv_read(&t, t.next, env.end, 3), 0);
	assert_int_equal(t.tag, V_ASN1_SET); /* recipientInfos */
	assert_int_equal(ll_tlv_read(&eci, t.next, env.end, 3), 0);
	assert_int_equal(ll_tlv_read(&ctype, eci.p, eci.end, 4), 0);
	assert_int_equal(ll_tlv_read(&alg, ctype.next, eci.end, 4), 0);
	assert_int_equal(ll_tlv_read(&ec, alg.next, eci.end, 4), 0);
	if (!ec.cons) {
		*ct = (unsigned char *)ec.p;
		*ctlen = (size_t)(ec.end - ec.p);
	} else {
		for (const unsigned char *q = ec.p; q < ec.end; q = c.next) {
			assert_int_equal(ll_tlv_read(&c, q, ec.end, 5), 0);
			if ((size_t)(c.end - c.p) > *ctlen) {
				*ct = (unsigned char *)c.p;
				*ctlen = (size_t)(c.end - c.p);
			}
		}
	}
	for (const unsigned char *q = eci.next; q < env.end; q = t.next) {
		assert_int_equal(ll_tlv_read(&t, q, env.end, 3), 0);
		if (t.cls == V_ASN1_UNIVERSAL && t.tag == V_ASN1_OCTET_STRING) {
			*mac = (unsigned char *)t.p;
			*maclen = (size_t)(t.end - t.p);
		}
	}
	assert_non_null(*ct);
	assert_true(*ctlen > 0);
}

/* MSG with its body replaced by the base64 of DER. */
static char *reencode(const char *msg, size_t len, const struct ll_buf *der,
		      size_t *outlen)
{
	struct ll_entity e;
	struct ll_buf b = { 0 };

	assert_int_equal(ll_mime_split(&e, msg, len, NULL), 0);
	assert_int_equal(ll_buf_add(&b, e.hdr.p, e.hdr.len), 0);
	assert_int_equal(ll_buf_adds(&b, "\r\n"), 0);
	assert_int_equal(ll_b64_encode(&b, (unsigned char *)der->p, der->len),
			 0);
	*outlen = b.len;
	return b.p;
}

static const char long_msg_head[] =
	"From: alice@example.test\n"
	"To: bob@example.test\n"
	"Subject: long\n"
	"\n";

static char *long_msg(void)
{
	struct ll_buf b = { 0 };

	assert_int_equal(ll_buf_adds(&b, long_msg_head), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(ll_buf_addf(&b, "line %03d of the text\n", i),
				 0);
	return b.p;
}

/* Authenticated decryption that fails releases nothing. */
static void test_gcm_flipped_byte(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	static const unsigned modes[] = { both, LL_SEAL_ENCRYPT };
	char *msg = long_msg();

	(void)state;
	ll_cert_set_caps(ll_ctx_contact_for(a, "bob@example.test"),
			 LL_CAP_AES256_GCM);
	for (size_t i = 0; i < LL_ARRAY_SIZE(modes); i++) {
		struct ll_sealed *s = mt_seal(a, msg, modes[i]);
		struct ll_buf der = { 0 };
		unsigned char *ct, *mac;
		size_t ctlen, maclen, len, blen;
		const char *p = ll_sealed_data(s, 0, &len);
		char *bad;

		assert_string_equal(ll_sealed_cipher(s, 0), "aes-256-gcm");
		mt_body_der(&der, p, len);
		find_ciphertext((unsigned char *)der.p, der.len, &ct, &ctlen,
				&mac, &maclen);
		assert_int_equal(maclen, 16);
		/* unmodified, re-encoded: opens (the test's own check) */
		bad = reencode(p, len, &der, &blen);
		{
			struct ll_open_status st = open_status(b, bad, blen);

			assert_string_equal(st.cipher, "aes-256-gcm");
		}
		free(bad);
		/* one ciphertext byte */
		ct[ctlen / 2] ^= 0x01;
		bad = reencode(p, len, &der, &blen);
		assert_open_fails(b, bad, blen, LL_EDECRYPT);
		free(bad);
		ct[ctlen / 2] ^= 0x01;
		/* one tag byte */
		mac[5] ^= 0x80;
		bad = reencode(p, len, &der, &blen);
		assert_open_fails(b, bad, blen, LL_EDECRYPT);
		free(bad);
		ll_buf_free(&der);
		ll_sealed_free(&s);
	}
	free(msg);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* Flip one bit of the byte at OFF of the encrypted content of the
 * (Auth)EnvelopedData DER, counting over its chunks. */
static void flip_content_byte(unsigned char *der, size_t len, size_t off)
{
	const unsigned char *end = der + len;
	struct ll_tlv ci, oid, wrap, env, t, eci, ctype, alg, ec, c;

	assert_int_equal(ll_tlv_read(&ci, der, end, 0), 0);
	assert_int_equal(ll_tlv_read(&oid, ci.p, ci.end, 1), 0);
	assert_int_equal(ll_tlv_read(&wrap, oid.next, ci.end, 1), 0);
	assert_int_equal(ll_tlv_read(&env, wrap.p, wrap.end, 2), 0);
	assert_int_equal(ll_tlv_read(&t, env.p, env.end, 3), 0);
	assert_int_equal(ll_tlv_read(&t, t.next, env.end, 3), 0);
	if (t.cls == V_ASN1_CONTEXT_SPECIFIC)
		assert_int_equal(ll_tlv_read(&t, t.next, env.end, 3), 0);
	assert_int_equal(ll_tlv_read(&eci, t.next, env.end, 3), 0);
	assert_int_equal(ll_tlv_read(&ctype, eci.p, eci.end, 4), 0);
	assert_int_equal(ll_tlv_read(&alg, ctype.next, eci.end, 4), 0);
	assert_int_equal(ll_tlv_read(&ec, alg.next, eci.end, 4), 0);
	if (!ec.cons) {
		assert_true(off < (size_t)(ec.end - ec.p));
		((unsigned char *)ec.p)[off] ^= 0x01;
		return;
	}
	for (const unsigned char *q = ec.p; q < ec.end; q = c.next) {
		size_t n;

		assert_int_equal(ll_tlv_read(&c, q, ec.end, 5), 0);
		n = (size_t)(c.end - c.p);
		if (off < n) {
			((unsigned char *)c.p)[off] ^= 0x01;
			return;
		}
		off -= n;
	}
	fail_msg("offset beyond the encrypted content");
}

/* CBC has no integrity: a modified ciphertext is caught by the signature
 * inside, and then nothing is released either (the EFAIL rule).  The
 * flipped byte is in the middle of the signed text, so the damaged
 * plaintext still parses as MIME: only the signature can tell. */
static void test_cbc_flipped_byte_signed(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	char *msg = long_msg();
	struct ll_sealed *s = mt_seal(a, msg, both);
	struct ll_buf der = { 0 };
	size_t len, blen, off;
	const char *p = ll_sealed_data(s, 0, &len), *at;
	const unsigned char *q;
	CMS_ContentInfo *cms;
	BIO *out = BIO_new(BIO_s_mem());
	char *plain, *bad;
	long plen;

	(void)state;
	assert_string_equal(ll_sealed_cipher(s, 0), "aes-256-cbc");
	mt_body_der(&der, p, len);
	/* where "line 100" is in the plaintext (OpenSSL decrypts) */
	q = (const unsigned char *)der.p;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)der.len);
	assert_non_null(cms);
	assert_int_equal(CMS_decrypt(cms, ll_identity_pkey(mt_bob.id),
				     ll_cert_x509(ll_identity_cert(mt_bob.id)),
				     NULL, out, CMS_BINARY),
			 1);
	CMS_ContentInfo_free(cms);
	plen = BIO_get_mem_data(out, &plain);
	at = memmem(plain, (size_t)plen, "line 100 of", 11);
	assert_non_null(at);
	off = (size_t)(at - plain);
	BIO_free(out);
	/* CBC: ciphertext block i is plaintext block i */
	flip_content_byte((unsigned char *)der.p, der.len, off);
	bad = reencode(p, len, &der, &blen);
	assert_open_fails(b, bad, blen, LL_EDECRYPT);
	free(bad);
	ll_buf_free(&der);
	ll_sealed_free(&s);
	free(msg);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* What a mailbox may store: the same message with LF line ends. */
static void test_signed_stored_with_lf(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg, LL_SEAL_SIGN);
	size_t len, k = 0;
	const char *p = ll_sealed_data(s, 0, &len);
	char *lf = malloc(len);
	struct ll_open_status st;

	(void)state;
	for (size_t i = 0; i < len; i++)
		if (!(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			lf[k++] = p[i];
	st = open_status(b, lf, k);
	assert_int_equal(st.signature, LL_SIG_VALID);
	free(lf);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* Peers label S/MIME loosely: application/octet-stream named only by
 * Content-Disposition (RFC 8551 3.2.1), a comment after "base64". */
static void test_loose_labels(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg, both | LL_SEAL_FORCE_CBC);
	struct ll_open_status st;
	size_t len, l1, l2;
	const char *p = ll_sealed_data(s, 0, &len);
	char *m1, *m2;

	(void)state;
	m1 = mt_replace(p, len,
			"Content-Type: application/pkcs7-mime; "
			"smime-type=enveloped-data; name=\"smime.p7m\"",
			"Content-Type: application/octet-stream", &l1);
	m2 = mt_replace(m1, l1, "Content-Transfer-Encoding: base64",
			"Content-Transfer-Encoding: base64 (as sent)", &l2);
	st = open_status(b, m2, l2);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.signature, LL_SIG_VALID);
	free(m1);
	free(m2);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/* Not S/MIME at all: handed back as it is, nothing claimed. */
static void test_plain_message(void **state)
{
	struct ll_ctx *b = mt_ctx(&mt_bob);
	struct ll_error err;
	struct ll_opened *o = NULL;
	const struct ll_open_status *st;
	size_t len;
	const char *p;

	(void)state;
	assert_int_equal(mt_try_open(&o, b, plan_msg, strlen(plan_msg), &err),
			 0);
	p = ll_opened_data(o, &len);
	assert_int_equal(len, strlen(plan_msg));
	assert_memory_equal(p, plan_msg, len);
	st = ll_opened_status(o);
	assert_int_equal(st->encrypted, 0);
	assert_int_equal(st->is_signed, 0);
	assert_int_equal(st->signature, LL_SIG_NONE);
	assert_int_equal(st->header_protection, 0);
	ll_opened_free(&o);
	assert_open_fails(b, "no header here\n", 15, LL_EPARSE);
	ll_opened_free(NULL);
	ll_ctx_free(&b);
}

/*
 * Regression (found by fuzz_open): opaque signed-data layers inside each
 * other.  Each such layer takes two of struct opener's LL_MSG_MAX_DEPTH
 * layer buffers, so five of them overran the array (stack corruption,
 * SIGSEGV).  Five layers must open (fewer than LL_MSG_MAX_DEPTH - 1),
 * eight must be refused with LL_EPOLICY; neither may crash.  Last in
 * the list, as it crashes the process while the bug is there.
 */
static void test_nested_opaque_layers(void **state)
{
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_buf cur = { 0 };

	(void)state;
	assert_int_equal(ll_buf_adds(&cur, plan_msg), 0);
	for (int layer = 1; layer <= 8; layer++) {
		struct ll_sealed *s = mt_seal(a, cur.p,
					      LL_SEAL_SIGN | LL_SEAL_OPAQUE);
		size_t len;
		const char *p = ll_sealed_data(s, 0, &len);

		cur.len = 0;
		assert_int_equal(ll_buf_add(&cur, p, len), 0);
		ll_sealed_free(&s);
		if (layer == 5) {
			struct ll_open_status st =
				open_status(b, cur.p, cur.len);

			assert_int_equal(st.signature, LL_SIG_VALID);
		}
	}
	assert_open_fails(b, cur.p, cur.len, LL_EPOLICY);
	ll_buf_free(&cur);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

/*
 * A signer the reader's home records as revoked: the signature is
 * "revoked" (the second open too, when the chain is cached), with the
 * reason and time; the reader no longer encrypts to that certificate;
 * the signer's own home no longer signs with it, and says why.
 */
static void test_revoked_signer(void **state)
{
	struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;
	struct ll_ctx *a = mt_ctx(&mt_alice), *b = mt_ctx(&mt_bob);
	struct ll_sealed *s = mt_seal(a, plan_msg, LL_SEAL_SIGN);
	struct ll_keystore *ks = NULL;
	struct ll_sealed *none = NULL;
	struct ll_error err = { 0 };
	char home[] = "/tmp/test_msg_open.XXXXXX", cmd[64];
	const struct ll_cert *cert = ll_identity_cert(mt_alice.id);

	(void)state;
	assert_non_null(mkdtemp(home));
	assert_int_equal(ll_keystore_open(&ks, home, NULL), 0);
	assert_int_equal(ll_revocation_mark(ks, cert, 1767225600, 4, NULL), 0);
	ro.cache = ks;
	assert_int_equal(ll_ctx_set_revocation(b, &ro, NULL), 0);
	assert_int_equal(ll_ctx_set_revocation(a, &ro, NULL), 0);
	for (int i = 0; i < 2; i++) {
		struct ll_opened *o = mt_open_copy(b, s, 0);
		const struct ll_open_status *st = ll_opened_status(o);

		assert_int_equal(st->signature, LL_SIG_REVOKED);
		assert_string_equal(ll_sig_state_name(st->signature),
				    "revoked");
		assert_int_equal(st->revocation, LL_REV_REVOKED);
		assert_int_equal(st->revocation_reason, 4);
		assert_string_equal(st->revocation_time,
				    "2026-01-01T00:00:00Z");
		assert_string_equal(st->revocation_source, "local");
		assert_null(ll_opened_signer(o));
		ll_opened_free(&o);
	}
	assert_null(ll_ctx_contact_for(b, "alice@example.test"));
	assert_null(ll_ctx_identity_for(a, "alice@example.test"));
	assert_int_equal(ll_msg_seal(&none, a, plan_msg, strlen(plan_msg),
				     NULL, &err),
			 LL_ENOKEY);
	assert_non_null(strstr(err.message, "revoked"));
	/* without the home's record, nothing is known: unknown, valid */
	ro.cache = NULL;
	assert_int_equal(ll_ctx_set_revocation(b, &ro, NULL), 0);
	{
		struct ll_opened *o = mt_open_copy(b, s, 0);

		assert_int_equal(ll_opened_status(o)->signature, LL_SIG_VALID);
		assert_int_equal(ll_opened_status(o)->revocation,
				 LL_REV_UNKNOWN);
		ll_opened_free(&o);
	}
	ll_keystore_close(&ks);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	assert_int_equal(system(cmd), 0);
	ll_sealed_free(&s);
	ll_ctx_free(&a);
	ll_ctx_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_encrypt),
		cmocka_unit_test(test_sign_only),
		cmocka_unit_test(test_sign_only_opaque),
		cmocka_unit_test(test_sign_encrypt_opaque),
		cmocka_unit_test(test_encrypt_only),
		cmocka_unit_test(test_header_protection_restored),
		cmocka_unit_test(test_ec_signer),
		cmocka_unit_test(test_bcc_copy_not_for_to),
		cmocka_unit_test(test_not_for_us),
		cmocka_unit_test(test_tampered_signed_body),
		cmocka_unit_test(test_wrong_signer),
		cmocka_unit_test(test_from_ambiguous),
		cmocka_unit_test(test_loose_labels),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_wrapped_signed_not_signed),
		cmocka_unit_test(test_gcm_flipped_byte),
		cmocka_unit_test(test_cbc_flipped_byte_signed),
		cmocka_unit_test(test_signed_stored_with_lf),
		cmocka_unit_test(test_plain_message),
		cmocka_unit_test(test_nested_opaque_layers),
		cmocka_unit_test(test_revoked_signer),
	};

	return cmocka_run_group_tests_name("msg_open", tests, mt_setup,
					   mt_teardown);
}
