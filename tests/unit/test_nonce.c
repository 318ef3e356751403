/*
 * test_nonce.c - src/service/nonce.c: ACME replay nonces are single
 * use, unforgeable, refused from another run (another key), after the
 * TTL and once the window has moved past them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/service/nonce.h"

#define NOW 1800000000

static void test_single_use(void **state)
{
	struct lld_nonces *ns = NULL;
	char a[LLD_NONCE_LEN + 1], b[LLD_NONCE_LEN + 1];

	assert_int_equal(lld_nonces_new(&ns, NULL), 0);
	lld_nonce_make(ns, a, NOW);
	lld_nonce_make(ns, b, NOW);
	assert_int_equal(strlen(a), LLD_NONCE_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(lld_nonce_use(ns, b, NOW), 0);
	assert_int_equal(lld_nonce_use(ns, b, NOW), -1);
	assert_int_equal(lld_nonce_use(ns, a, NOW + 1), 0);
	assert_int_equal(lld_nonce_use(ns, a, NOW + 1), -1);
	lld_nonces_free(&ns);
	assert_null(ns);
}

static void test_forged(void **state)
{
	struct lld_nonces *ns = NULL, *other = NULL;
	char a[LLD_NONCE_LEN + 1], f[LLD_NONCE_LEN + 1];

	assert_int_equal(lld_nonces_new(&ns, NULL), 0);
	assert_int_equal(lld_nonces_new(&other, NULL), 0);
	lld_nonce_make(ns, a, NOW);
	/* another run's nonce: same counter, other key */
	lld_nonce_make(other, f, NOW);
	assert_int_equal(lld_nonce_use(ns, f, NOW), -1);
	/* any change of one character */
	for (size_t i = 0; i < LLD_NONCE_LEN; i++) {
		memcpy(f, a, sizeof(f));
		f[i] = f[i] == 'A' ? 'B' : 'A';
		assert_int_equal(lld_nonce_use(ns, f, NOW), -1);
	}
	assert_int_equal(lld_nonce_use(ns, "", NOW), -1);
	assert_int_equal(lld_nonce_use(ns, "AAAAAAAAAAAAAAAAAAAAAA", NOW), -1);
	assert_int_equal(lld_nonce_use(ns, "AAAAAAAAAAAAAAAAAAAAAAAA", NOW),
			 -1);
	assert_int_equal(lld_nonce_use(ns, a, NOW), 0);
	lld_nonces_free(&other);
	lld_nonces_free(&ns);
}

static void test_expiry(void **state)
{
	struct lld_nonces *ns = NULL;
	char a[LLD_NONCE_LEN + 1], b[LLD_NONCE_LEN + 1];

	assert_int_equal(lld_nonces_new(&ns, NULL), 0);
	lld_nonce_make(ns, a, NOW);
	lld_nonce_make(ns, b, NOW);
	assert_int_equal(lld_nonce_use(ns, a, NOW + LLD_NONCE_TTL), 0);
	assert_int_equal(lld_nonce_use(ns, b, NOW + LLD_NONCE_TTL + 1), -1);
	lld_nonces_free(&ns);
}

static void test_window(void **state)
{
	struct lld_nonces *ns = NULL;
	char first[LLD_NONCE_LEN + 1], n[LLD_NONCE_LEN + 1];
	char last[LLD_NONCE_LEN + 1];

	assert_int_equal(lld_nonces_new(&ns, NULL), 0);
	lld_nonce_make(ns, first, NOW);
	lld_nonce_make(ns, last, NOW);
	/* up to a block short of the window, the oldest still counts */
	for (uint32_t i = 0; i < LLD_NONCE_WINDOW - 4096 - 2; i++)
		lld_nonce_make(ns, n, NOW);
	assert_int_equal(lld_nonce_use(ns, first, NOW), 0);
	/* the window moved past LAST: its slots belong to new ones */
	for (uint32_t i = 0; i < 4096 + 2; i++)
		lld_nonce_make(ns, n, NOW);
	assert_int_equal(lld_nonce_use(ns, last, NOW), -1);
	assert_int_equal(lld_nonce_use(ns, n, NOW), 0);
	lld_nonces_free(&ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_use),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
