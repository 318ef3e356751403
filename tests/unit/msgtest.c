/* msgtest.c - the shared cast of test_msg_seal.c and test_msg_open.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "msgtest.h"

struct mt_who mt_alice = { "alice@example.test", LL_KEY_RSA2048, NULL };
struct mt_who mt_bob = { "bob@example.test", LL_KEY_EC_P256, NULL };
struct mt_who mt_carol = { "carol@example.test", LL_KEY_RSA2048, NULL };
struct mt_who mt_dave = { "dave@example.test", LL_KEY_EC_P256, NULL };
struct mt_who mt_mallory = { "alice@example.test", LL_KEY_RSA2048, NULL };

static struct mt_who *const cast[] = { &mt_alice, &mt_bob, &mt_carol,
				       &mt_dave, &mt_mallory };
static struct mt_who *const honest[] = { &mt_alice, &mt_bob, &mt_carol,
					 &mt_dave };

int mt_setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(cast); i++) {
		struct ll_error err = { 0 };

		if (ll_identity_generate(&cast[i]->id, cast[i]->email,
					 cast[i]->type, 30, &err) != 0) {
			fprintf(stderr, "generating %s: %s\n", cast[i]->email,
				err.message);
			return -1;
		}
	}
	return 0;
}

int mt_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(cast); i++)
		ll_identity_free(&cast[i]->id);
	return 0;
}

static struct ll_cert *cert_copy(const struct ll_cert *c)
{
	struct ll_error err = { 0 };
	struct ll_cert *copy = NULL;
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(ll_cert_der(&der, &len, c, &err), 0);
	assert_int_equal(ll_cert_parse(&copy, der, len, &err), 0);
	free(der);
	return copy;
}

struct ll_ctx *mt_ctx(const struct mt_who *who)
{
	struct ll_error err = { 0 };
	struct ll_ctx *ctx = NULL;
	struct ll_identity *id = NULL;
	unsigned char *key = NULL;
	size_t keylen = 0;

	assert_non_null(who->id);
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_identity_key_der(&key, &keylen, who->id, &err), 0);
	assert_int_equal(ll_identity_from_key_der(&id, key, keylen,
						  ll_identity_cert(who->id),
						  NULL, 0, &err),
			 0);
	ll_wipe_free(key, keylen);
	assert_int_equal(ll_ctx_add_identity(ctx, &id, &err), 0);
	assert_null(id);
	for (size_t i = 0; i < LL_ARRAY_SIZE(honest); i++) {
		struct ll_cert *c = cert_copy(ll_identity_cert(honest[i]->id));

		assert_int_equal(ll_ctx_add_contact(ctx, c, &err), 0);
		assert_int_equal(ll_ctx_add_trust(ctx, c, &err), 0);
		ll_cert_free(&c); /* the context holds its references */
	}
	return ctx;
}

struct ll_sealed *mt_seal(struct ll_ctx *ctx, const char *msg,
			  unsigned flags)
{
	struct ll_seal_options o = LL_SEAL_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct ll_sealed *s = NULL;
	int rc;

	o.flags = flags;
	rc = ll_msg_seal(&s, ctx, msg, strlen(msg), &o, &err);
	if (rc != 0)
		fail_msg("ll_msg_seal: %d %s (%s)", rc, err.message, err.detail);
	assert_non_null(s);
	assert_true(ll_sealed_count(s) >= 1);
	return s;
}

int mt_try_open(struct ll_opened **out, struct ll_ctx *ctx, const char *p,
		size_t len, struct ll_error *err)
{
	ll_error_clear(err);
	return ll_msg_open(out, ctx, p, len, err);
}

struct ll_opened *mt_open_copy(struct ll_ctx *ctx, const struct ll_sealed *s,
			       size_t i)
{
	struct ll_error err;
	struct ll_opened *o = NULL;
	size_t len = 0;
	const char *p = ll_sealed_data(s, i, &len);
	int rc;

	assert_non_null(p);
	rc = mt_try_open(&o, ctx, p, len, &err);
	if (rc != 0)
		fail_msg("ll_msg_open: %d %s (%s)", rc, err.message, err.detail);
	assert_non_null(o);
	return o;
}

int mt_has(const char *p, size_t n, const char *needle)
{
	return memmem(p, n, needle, strlen(needle)) != NULL;
}

int mt_has_field(const char *p, size_t n, const char *name,
		 const char *value)
{
	struct ll_entity e;
	struct ll_field f;
	size_t pos = 0;

	if (ll_mime_split(&e, p, n, NULL) != 0)
		return 0;
	while (ll_mime_next_field(&e.hdr, &pos, &f)) {
		size_t vl;
		const char *v;

		if (!ll_field_is(&f, name))
			continue;
		if (value == NULL)
			return 1;
		v = f.value.p;
		vl = f.value.len;
		while (vl > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		if (vl == strlen(value) && memcmp(v, value, vl) == 0)
			return 1;
	}
	return 0;
}

void mt_body_der(struct ll_buf *der, const char *p, size_t n)
{
	struct ll_entity e;

	assert_int_equal(ll_mime_split(&e, p, n, NULL), 0);
	assert_int_equal(ll_mime_decode_body(der, &e, NULL), 0);
	assert_true(der->len > 0);
}

char *mt_replace(const char *p, size_t n, const char *from, const char *to,
		 size_t *outlen)
{
	const char *at = memmem(p, n, from, strlen(from));
	size_t fl = strlen(from), tl = strlen(to), off;
	char *r;

	assert_non_null(at);
	off = (size_t)(at - p);
	r = malloc(n - fl + tl + 1);
	assert_non_null(r);
	memcpy(r, p, off);
	memcpy(r + off, to, tl);
	memcpy(r + off + tl, at + fl, n - off - fl);
	*outlen = n - fl + tl;
	r[*outlen] = '\0';
	return r;
}
