/*
 * test_store_pkx.c - the PKX rows of the store
 * (src/service/store_pkx.c), on SQLite or on the PostgreSQL database
 * of LLD_TEST_PG_URL (storetest.h): a certificate recorded is in the
 * directory at once; lookups see only current ones (validity, CRL) and
 * an absent address gets nothing by the same query; a fingerprint finds
 * any certificate for good; capabilities; publication of another CA's
 * certificate spends its order once, in one transaction; the NFC key of
 * a local part; the listing of export-smimea; a store of schema
 * version 1 gaining the table and its entries when opened; and what
 * the answer cache relies on: the store's version, which grows with
 * every change (of this handle, and with OTHERS of any other), and
 * the next notBefore of an address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "pkx.h"
#include "store.h"
#include "storetest.h"

#define NOW ((time_t)1700000000)
#define DAY ((time_t)86400)
#define YEAR (365 * DAY)
#define TP1 "J2P2ByKXb1YNO7pBXbLDMqzDiEhjnZAz3VAfdzJXyGs"
#define TP2 "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define JWK "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"a\",\"y\":\"b\"}"

struct fx {
	char dir[STORETEST_DIR];
	char path[STORETEST_PATH];
	struct lld_store *s;
	int64_t acct, other;
	int tokens; /* challenge tokens handed out */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ll_error err = { 0 };

	assert_non_null(f);
	storetest_dir(f->dir, f->path, "test_store_pkx");
	assert_int_equal(lld_store_open(&f->s, f->path, &err), 0);
	assert_int_equal(lld_store_account_add(f->s, TP1, JWK, NULL, NOW,
					       &f->acct, &err),
			 0);
	assert_int_equal(lld_store_account_add(f->s, TP2, JWK, NULL, NOW,
					       &f->other, &err),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	lld_store_close(&f->s);
	storetest_rm(f->dir, f->path);
	free(f);
	return 0;
}

/* SQL on a connection of its own. */
static void sql(const struct fx *f, const char *text)
{
	sqlite3 *db = NULL;

	if (storetest_pg() != NULL) {
		storetest_pg_sql(f->path, text);
		return;
	}
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static long long peek(const struct fx *f, const char *query)
{
	return storetest_peek(f->path, query);
}

/* A stand-in certificate: only its bytes matter to the store. */
static void der_of(unsigned char der[16], int n)
{
	memcpy(der, "\x30\x0e stand-in ", 12);
	der[12] = (unsigned char)(n >> 24);
	der[13] = (unsigned char)(n >> 16);
	der[14] = (unsigned char)(n >> 8);
	der[15] = (unsigned char)n;
}

/* A new order of ACCT for EMAIL, its mailbox proven at NOW: "ready". */
static void ready_order(struct fx *f, int64_t acct, const char *email,
			struct lld_order *o)
{
	struct ll_error err = { 0 };
	struct lld_authz a;
	char t1[32];

	snprintf(t1, sizeof(t1), "token-%d", ++f->tokens);
	assert_int_equal(lld_store_order_new(f->s, acct, email, t1, "t2", NOW,
					     NOW + 7 * DAY, o, &err),
			 0);
	assert_int_equal(lld_store_authz_get(f->s, o->authz, &a, &err), 0);
	assert_int_equal(
		lld_store_chall_settle(f->s, a.chall, 1, NULL, NOW, &err), 0);
}

/* A certificate of ours for EMAIL (stand-in N) valid FROM..TO, recorded
 * as ACME does; its fingerprint into FPR. */
static void issue(struct fx *f, const char *email, int n, time_t from,
		  time_t to, char fpr[LLD_FPR_HEX + 1])
{
	static const unsigned char csr[] = { 0x30, 0x00 };
	struct ll_error err = { 0 };
	unsigned char der[16];
	struct lld_order o;
	char serial[16];

	ready_order(f, f->acct, email, &o);
	assert_int_equal(lld_store_order_move(f->s, o.id, "ready", "processing",
					      csr, sizeof(csr), NULL, &err),
			 0);
	der_of(der, n);
	snprintf(serial, sizeof(serial), "%02x", n);
	assert_int_equal(lld_store_cert_add(f->s, o.id, serial, email, der,
					    sizeof(der), from, to, &err),
			 0);
	assert_int_equal(lld_sha256_hex(fpr, der, sizeof(der), &err), 0);
}

/* How many current certificates EMAIL has at WHEN. */
static size_t current(struct fx *f, const char *email, time_t when)
{
	struct lld_pkxrow rows[4];
	struct ll_error err = { 0 };
	size_t n = 99;

	assert_int_equal(
		lld_store_pkx_lookup(f->s, email, when, rows, 4, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		lld_pkxrow_clear(&rows[i]);
	return n;
}

static void test_issued(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_pkxrow r[4];
	unsigned char der[16];
	char fpr[LLD_FPR_HEX + 1];
	size_t n = 0;

	issue(f, "a@example.org", 1, NOW, NOW + YEAR, fpr);
	assert_int_equal(lld_store_pkx_lookup(f->s, "a@example.org", NOW + DAY,
					      r, 4, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].fpr, fpr);
	assert_string_equal(r[0].email, "a@example.org");
	assert_string_equal(r[0].serial, "01");
	assert_int_equal(r[0].account, f->acct);
	assert_int_equal(r[0].not_before, NOW);
	assert_int_equal(r[0].not_after, NOW + YEAR);
	assert_int_equal(r[0].revoked, 0);
	assert_string_equal(r[0].caps, "");
	der_of(der, 1);
	assert_int_equal(r[0].derlen, sizeof(der));
	assert_memory_equal(r[0].der, der, sizeof(der));
	lld_pkxrow_clear(&r[0]);
	assert_null(r[0].der);
	lld_pkxrow_clear(NULL);
	/* the DER stays in certs alone */
	assert_int_equal(peek(f, "SELECT count(*) FROM pkx WHERE der IS NULL"),
			 1);

	/* valid from notBefore to notAfter, both included */
	assert_int_equal(current(f, "a@example.org", NOW - 1), 0);
	assert_int_equal(current(f, "a@example.org", NOW), 1);
	assert_int_equal(current(f, "a@example.org", NOW + YEAR), 1);
	assert_int_equal(current(f, "a@example.org", NOW + YEAR + 1), 0);
	/* an address with nothing: the same query, no row */
	assert_int_equal(current(f, "b@example.org", NOW), 0);
	assert_int_equal(current(f, "A@example.org", NOW), 0);
}

static void test_revoked_stays_by_fingerprint(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_pkxrow r;
	char fpr[LLD_FPR_HEX + 1];

	issue(f, "a@example.org", 1, NOW, NOW + YEAR, fpr);
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW + DAY, 1, &err),
			 0);
	assert_int_equal(current(f, "a@example.org", NOW + 2 * DAY), 0);
	assert_int_equal(lld_store_pkx_get(f->s, fpr, &r, &err), 0);
	assert_int_equal(r.revoked, NOW + DAY);
	assert_int_equal(r.derlen, 16);
	lld_pkxrow_clear(&r);
	/* expired, still there */
	issue(f, "a@example.org", 2, NOW - 2 * YEAR, NOW - YEAR, fpr);
	assert_int_equal(current(f, "a@example.org", NOW), 0);
	assert_int_equal(lld_store_pkx_get(f->s, fpr, &r, &err), 0);
	lld_pkxrow_clear(&r);
	assert_int_equal(lld_store_pkx_get(f->s, "00", &r, &err), LL_ENOTFOUND);
}

static void test_order_and_limit(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_pkxrow r[2];
	char a[LLD_FPR_HEX + 1], b[LLD_FPR_HEX + 1], c[LLD_FPR_HEX + 1];
	size_t n = 0;

	issue(f, "a@example.org", 1, NOW, NOW + 10 * DAY, a);
	issue(f, "a@example.org", 2, NOW, NOW + 30 * DAY, b);
	issue(f, "a@example.org", 3, NOW, NOW + 20 * DAY, c);
	assert_int_equal(lld_store_pkx_lookup(f->s, "a@example.org", NOW, r, 2,
					      &n, &err),
			 0);
	/* the latest notAfter first, at most MAX */
	assert_int_equal(n, 2);
	assert_string_equal(r[0].fpr, b);
	assert_string_equal(r[1].fpr, c);
	lld_pkxrow_clear(&r[0]);
	lld_pkxrow_clear(&r[1]);
}

static void test_caps(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_pkxrow r;
	char fpr[LLD_FPR_HEX + 1];
	char big[LLD_CAPS_MAX + 2];

	issue(f, "a@example.org", 1, NOW, NOW + YEAR, fpr);
	assert_int_equal(
		lld_store_pkx_set_caps(f->s, fpr, "[\"aes256-gcm\"]", &err), 0);
	assert_int_equal(lld_store_pkx_get(f->s, fpr, &r, &err), 0);
	assert_string_equal(r.caps, "[\"aes256-gcm\"]");
	lld_pkxrow_clear(&r);
	/* "" is unknown again: NULL in the row */
	assert_int_equal(lld_store_pkx_set_caps(f->s, fpr, "", &err), 0);
	assert_int_equal(peek(f, "SELECT count(*) FROM pkx WHERE caps IS NULL"),
			 1);
	assert_int_equal(lld_store_pkx_set_caps(f->s, "00", "[]", &err),
			 LL_ENOTFOUND);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(lld_store_pkx_set_caps(f->s, fpr, big, &err),
			 LL_EINVAL);
}

/* Publish stand-in N for c@example.org on ORDER of ACCT with CAPS. */
static int publish(struct fx *f, int64_t order, int64_t acct, int n,
		   const char *caps)
{
	struct ll_error err = { 0 };
	unsigned char der[16];

	der_of(der, n);
	return lld_store_pkx_publish(f->s, order, acct, "c@example.org", der,
				     sizeof(der), NOW, NOW + YEAR, caps, NOW,
				     &err);
}

static void test_publish(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_pkxrow r;
	struct lld_order o, o2, mine;
	unsigned char der[16];
	char fpr[LLD_FPR_HEX + 1];

	der_of(der, 77);
	assert_int_equal(lld_sha256_hex(fpr, der, sizeof(der), &err), 0);
	/* not proven: pending */
	assert_int_equal(lld_store_order_new(f->s, f->acct, "c@example.org",
					     "tp", "t2", NOW, NOW + DAY, &o,
					     &err),
			 0);
	assert_int_equal(publish(f, o.id, f->acct, 77, NULL), LL_EEXIST);
	assert_int_equal(peek(f, "SELECT count(*) FROM pkx"), 0);

	ready_order(f, f->acct, "c@example.org", &o);
	/* another account's order is not found */
	assert_int_equal(publish(f, o.id, f->other, 77, NULL), LL_ENOTFOUND);
	assert_int_equal(publish(f, o.id, f->acct, 77, "[\"aes128-cbc\"]"), 0);
	assert_int_equal(lld_store_order_get(f->s, o.id, &o, &err), 0);
	assert_string_equal(o.status, "valid");
	assert_string_equal(o.serial, "");
	assert_int_equal(lld_store_pkx_get(f->s, fpr, &r, &err), 0);
	assert_string_equal(r.email, "c@example.org");
	assert_string_equal(r.serial, "");
	assert_string_equal(r.caps, "[\"aes128-cbc\"]");
	assert_int_equal(r.order, o.id);
	assert_int_equal(r.published, NOW);
	assert_memory_equal(r.der, der, sizeof(der));
	lld_pkxrow_clear(&r);
	assert_int_equal(current(f, "c@example.org", NOW + DAY), 1);

	/* the proof is spent */
	assert_int_equal(publish(f, o.id, f->acct, 78, NULL), LL_EEXIST);
	/* the same certificate again: refused, the new order not spent */
	ready_order(f, f->acct, "c@example.org", &o2);
	assert_int_equal(publish(f, o2.id, f->acct, 77, NULL), LL_EEXIST);
	assert_int_equal(lld_store_order_get(f->s, o2.id, &o2, &err), 0);
	assert_string_equal(o2.status, "ready");
	assert_int_equal(current(f, "c@example.org", NOW + DAY), 1);
	/* nor an order being finalized into a certificate of ours */
	ready_order(f, f->acct, "c@example.org", &mine);
	assert_int_equal(lld_store_order_move(f->s, mine.id, "ready",
					      "processing", der, sizeof(der),
					      NULL, &err),
			 0);
	assert_int_equal(publish(f, mine.id, f->acct, 79, NULL), LL_EEXIST);
	assert_int_equal(current(f, "c@example.org", NOW + DAY), 1);
}

static void test_nfc_key(void **state)
{
	struct fx *f = *state;
	char fpr[LLD_FPR_HEX + 1];

	/* ACME keeps the local part as it came; the directory keys NFC */
	issue(f, "e\xcc\x81@example.org", 1, NOW, NOW + YEAR, fpr);
	assert_int_equal(current(f, "\xc3\xa9@example.org", NOW), 1);
	assert_int_equal(current(f, "e\xcc\x81@example.org", NOW), 0);
}

struct seen {
	char emails[8][LLD_EMAIL_MAX + 1];
	size_t n;
	size_t stop_at;
};

static int collect(void *arg, const struct lld_pkxrow *r)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	assert_non_null(r->der);
	snprintf(s->emails[s->n++], LLD_EMAIL_MAX + 1, "%s", r->email);
	return s->n == s->stop_at ? 7 : 0;
}

static void test_foreach(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct seen s = { .stop_at = 99 };
	char fpr[LLD_FPR_HEX + 1];

	issue(f, "z@example.org", 1, NOW, NOW + YEAR, fpr);
	issue(f, "b@example.org", 2, NOW, NOW + YEAR, fpr);
	issue(f, "m@example.org", 3, NOW - 2 * YEAR, NOW - YEAR, fpr);
	issue(f, "k@example.org", 4, NOW, NOW + YEAR, fpr);
	assert_int_equal(lld_store_cert_revoke(f->s, "04", NOW, 0, &err), 0);
	assert_int_equal(lld_store_pkx_foreach(f->s, NOW, collect, &s, &err),
			 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.emails[0], "b@example.org");
	assert_string_equal(s.emails[1], "z@example.org");
	s.n = 0;
	s.stop_at = 1;
	assert_int_equal(lld_store_pkx_foreach(f->s, NOW, collect, &s, &err),
			 7);
	assert_int_equal(s.n, 1);
}

static uint64_t version(struct fx *f, int others)
{
	struct ll_error err = { 0 };
	uint64_t v = 0;

	assert_int_equal(lld_store_version(f->s, others, &v, &err), 0);
	return v;
}

static void test_version(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	char fpr[LLD_FPR_HEX + 1];
	uint64_t v, w;

	v = version(f, 1);
	assert_true(version(f, 1) == v);
	assert_true(version(f, 0) == v);
	/* reads change nothing */
	assert_int_equal(current(f, "a@example.org", NOW), 0);
	assert_true(version(f, 1) == v);
	/* this handle's changes, seen either way */
	issue(f, "a@example.org", 1, NOW, NOW + YEAR, fpr);
	w = version(f, 0);
	assert_true(w > v);
	assert_true(version(f, 1) == w);
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW, 1, &err), 0);
	assert_true((v = version(f, 0)) > w);
	assert_int_equal(lld_store_pkx_set_caps(f->s, fpr, "[]", &err), 0);
	assert_true((w = version(f, 0)) > v);
	/* another connection's: only when looked for */
	sql(f, "UPDATE pkx SET caps = NULL");
	assert_true(version(f, 0) == w);
	assert_true((v = version(f, 1)) > w);
	assert_true(version(f, 1) == v);
}

static void test_next(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	char fpr[LLD_FPR_HEX + 1];
	time_t when = 99;

	assert_int_equal(
		lld_store_pkx_next(f->s, "a@example.org", NOW, &when, &err), 0);
	assert_int_equal(when, 0);
	issue(f, "a@example.org", 1, NOW, NOW + YEAR, fpr);
	issue(f, "a@example.org", 2, NOW + 2 * DAY, NOW + YEAR, fpr);
	issue(f, "a@example.org", 3, NOW + DAY, NOW + YEAR, fpr);
	issue(f, "b@example.org", 4, NOW + 1, NOW + YEAR, fpr);
	assert_int_equal(
		lld_store_pkx_next(f->s, "a@example.org", NOW, &when, &err), 0);
	assert_int_equal(when, NOW + DAY);
	assert_int_equal(lld_store_pkx_next(f->s, "a@example.org", NOW + DAY,
					    &when, &err),
			 0);
	assert_int_equal(when, NOW + 2 * DAY);
	assert_int_equal(lld_store_pkx_next(f->s, "a@example.org",
					    NOW + 2 * DAY, &when, &err),
			 0);
	assert_int_equal(when, 0);
}

/* A version 1 store (before PKX) gains the table and an entry for each
 * certificate it recorded. */
static void test_migration(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	char fpr[LLD_FPR_HEX + 1], fpr2[LLD_FPR_HEX + 1];

	if (storetest_pg() != NULL)
		skip(); /* SQLite's versions: PostgreSQL started at 3 */
	issue(f, "a@example.org", 1, NOW, NOW + YEAR, fpr);
	issue(f, "b@example.org", 2, NOW, NOW + YEAR, fpr2);
	assert_int_equal(lld_store_pkx_set_caps(f->s, fpr2, "[]", &err), 0);
	lld_store_close(&f->s);
	sql(f, "DROP TABLE pkx; PRAGMA user_version = 1;");
	assert_int_equal(peek(f, "SELECT count(*) FROM sqlite_schema"
				 " WHERE name = 'pkx'"),
			 0);
	assert_int_equal(lld_store_open(&f->s, f->path, &err), 0);
	assert_int_equal(peek(f, "PRAGMA user_version"), 3);
	assert_int_equal(peek(f, "SELECT count(*) FROM pkx"), 2);
	assert_int_equal(current(f, "a@example.org", NOW), 1);
	assert_int_equal(current(f, "b@example.org", NOW), 1);
	/* opened again: nothing changes */
	lld_store_close(&f->s);
	assert_int_equal(lld_store_open(&f->s, f->path, &err), 0);
	assert_int_equal(peek(f, "SELECT count(*) FROM pkx"), 2);
	/* a version 1 that has the table already keeps its entries */
	assert_int_equal(lld_store_pkx_set_caps(f->s, fpr2, "[]", &err), 0);
	lld_store_close(&f->s);
	sql(f, "PRAGMA user_version = 1;");
	assert_int_equal(lld_store_open(&f->s, f->path, &err), 0);
	assert_int_equal(peek(f, "SELECT count(*) FROM pkx"
				 " WHERE caps = '[]'"),
			 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_issued, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_revoked_stays_by_fingerprint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nfc_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
