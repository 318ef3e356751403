/*
 * test_store.c - the store (src/service/store_*.c): every function of
 * store.h on a database in a fresh temporary directory (SQLite), or on
 * the PostgreSQL database of LLD_TEST_PG_URL (storetest.h):
 * accounts and the deactivation cascade, orders with their
 * authorization and challenge, the compare-and-set moves, the challenge
 * mail queue, certificates and revocations, blobs; reopening the file,
 * a writer waiting for another one, two handles racing to move the
 * same orders, a process killed with SIGKILL, and (PostgreSQL) a
 * connection the server ends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../src/service/store.h"
#include "storetest.h"

#define NOW ((time_t)1700000000)
#define DAY ((time_t)86400)
#define TP1 "J2P2ByKXb1YNO7pBXbLDMqzDiEhjnZAz3VAfdzJXyGs"
#define TP2 "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define JWK1 "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"a\",\"y\":\"b\"}"
#define JWK2 "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"c\"}"
#define PROBLEM "{\"type\":\"urn:ietf:params:acme:error:incorrectResponse\"}"

struct fx {
	char dir[STORETEST_DIR];
	char path[STORETEST_PATH];
	struct lld_store *s;
	int64_t acct;
};

/* ------------------------------------------------------------ helpers */

static void store_open(struct fx *f)
{
	struct ll_error err = { 0 };

	assert_int_equal(lld_store_open(&f->s, f->path, &err), 0);
	assert_non_null(f->s);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ll_error err = { 0 };

	assert_non_null(f);
	storetest_dir(f->dir, f->path, "test_store");
	store_open(f);
	assert_int_equal(lld_store_account_add(f->s, TP1, JWK1,
					       "[\"mailto:a@example.org\"]",
					       NOW, &f->acct, &err),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	lld_store_close(&f->s);
	assert_null(f->s);
	storetest_rm(f->dir, f->path);
	free(f);
	return 0;
}

/* One integer from SQL run on a separate connection to the file. */
static long long peek(const struct fx *f, const char *query)
{
	return storetest_peek(f->path, query);
}

static void new_order(struct fx *f, int64_t acct, const char *email,
		      const char *token1, struct lld_order *o)
{
	struct ll_error err = { 0 };

	assert_int_equal(lld_store_order_new(f->s, acct, email, token1,
					     "token2-of-the-challenge", NOW,
					     NOW + 7 * DAY, o, &err),
			 0);
}

static int64_t chall_of(struct fx *f, const struct lld_order *o)
{
	struct lld_authz a;

	assert_int_equal(lld_store_authz_get(f->s, o->authz, &a, NULL), 0);
	return a.chall;
}

/* Order O (pending) to "processing": its challenge valid, finalized. */
static void to_processing(struct fx *f, const struct lld_order *o)
{
	static const unsigned char csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	struct ll_error err = { 0 };

	assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, o), 1, NULL,
						NOW, &err),
			 0);
	assert_int_equal(lld_store_order_move(f->s, o->id, "ready",
					      "processing", csr, sizeof(csr),
					      NULL, &err),
			 0);
}

static void assert_order_status(struct fx *f, int64_t id, const char *want)
{
	struct lld_order o;

	assert_int_equal(lld_store_order_get(f->s, id, &o, NULL), 0);
	assert_string_equal(o.status, want);
}

static void assert_authz_status(struct fx *f, int64_t id, const char *want)
{
	struct lld_authz a;

	assert_int_equal(lld_store_authz_get(f->s, id, &a, NULL), 0);
	assert_string_equal(a.status, want);
}

static void assert_chall_status(struct fx *f, int64_t id, const char *want)
{
	struct lld_chall c;

	assert_int_equal(lld_store_chall_get(f->s, id, &c, NULL), 0);
	assert_string_equal(c.status, want);
}

/* A new order of the fixture's account into *O; returns the id of its
 * challenge. */
static int64_t new_chall(struct fx *f, const char *email, const char *token1,
			 struct lld_order *o)
{
	new_order(f, f->acct, email, token1, o);
	return chall_of(f, o);
}

/* The statuses of order O, of its authorization and of its challenge. */
static void assert_statuses(struct fx *f, const struct lld_order *o,
			    const char *order, const char *authz,
			    const char *chall)
{
	assert_order_status(f, o->id, order);
	assert_authz_status(f, o->authz, authz);
	assert_chall_status(f, chall_of(f, o), chall);
}

static const unsigned char cert_der[] = { 0x30, 0x82, 0x02, 0x00,
					  0x01, 0x00, 0xff };

/* The stand-in certificate of SERIAL: cert_der with two octets of the
 * serial's hash, since no two certificates share their DER (the PKX
 * directory names each by the SHA-256 of it). */
static const unsigned char *der_of(const char *serial,
				   unsigned char der[sizeof(cert_der)])
{
	unsigned h = 0;

	for (const char *p = serial; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	memcpy(der, cert_der, sizeof(cert_der));
	der[4] = (unsigned char)(h >> 8);
	der[5] = (unsigned char)h;
	return der;
}

/* lld_store_cert_add of SERIAL's stand-in, valid from NOW. */
static int cert_add(struct fx *f, int64_t order, const char *serial,
		    const char *email, time_t not_after, struct ll_error *err)
{
	unsigned char der[sizeof(cert_der)];

	return lld_store_cert_add(f->s, order, serial, email,
				  der_of(serial, der), sizeof(der), NOW,
				  not_after, err);
}

static void add_cert(struct fx *f, const char *email, const char *token1,
		     const char *serial, time_t not_after)
{
	struct ll_error err = { 0 };
	struct lld_order o;

	new_order(f, f->acct, email, token1, &o);
	to_processing(f, &o);
	assert_int_equal(cert_add(f, o.id, serial, email, not_after, &err), 0);
}

/* ------------------------------------------------------------ opening */

static void test_open_schema(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_store *s = NULL;
	sqlite3 *db = NULL;

	if (storetest_pg() != NULL) {
		/* a store written by something else is refused */
		lld_store_close(&f->s);
		storetest_pg_sql(f->path, "UPDATE lld_meta"
					  " SET schema_version = 9");
		assert_int_equal(lld_store_open(&s, f->path, &err), LL_ESTORE);
		assert_null(s);
		assert_non_null(strstr(err.message, "schema version 9"));
		storetest_pg_sql(f->path, "UPDATE lld_meta"
					  " SET schema_version = 3");
		store_open(f);
		return;
	}
	assert_int_equal(peek(f, "PRAGMA user_version"), 3);
	assert_int_equal(peek(f, "SELECT count(*) FROM pragma_journal_mode"
				 " WHERE journal_mode = 'wal'"),
			 1);
	assert_int_equal(peek(f, "SELECT count(*) FROM sqlite_schema"
				 " WHERE type = 'index' AND name IN"
				 " ('challenges_send', 'orders_status',"
				 " 'certs_revoked')"),
			 3);
	/* a store written by something else is refused */
	lld_store_close(&f->s);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(lld_store_open(&s, f->path, &err), LL_ESTORE);
	assert_null(s);
	assert_int_equal(err.code, LL_ESTORE);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	store_open(f);
	lld_store_close(NULL);
}

static void test_open_bad_path(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_store *s = NULL;
	char p[128];

	snprintf(p, sizeof(p), "%s/no/such/dir/x.db", f->dir);
	assert_int_equal(lld_store_open(&s, p, &err), LL_ESTORE);
	assert_null(s);
	assert_true(strlen(err.message) > 0);
}

/* A PostgreSQL server that is not there: LL_ESTORE, and the message
 * names the store without the URI's password. */
static void test_open_pg_unreachable(void **state)
{
	struct ll_error err = { 0 };
	struct lld_store *s = NULL;
	char shown[LLD_STORE_SHOWN_MAX];

	(void)state;
	assert_int_equal(lld_store_open(&s,
					"postgresql://lld:s3cret@127.0.0.1:1/x"
					"?connect_timeout=2",
					&err),
			 LL_ESTORE);
	assert_null(s);
	assert_non_null(
		strstr(err.message, "postgresql://lld:***@127.0.0.1:1/x"));
	assert_null(strstr(err.message, "s3cret"));
	lld_store_shown(shown, sizeof(shown),
			"postgres://u:pw@h/db?password=pw2&sslmode=require");
	assert_string_equal(shown, "postgres://u:***@h/db?...");
	lld_store_shown(shown, sizeof(shown), "postgresql://h/db?password=pw");
	assert_string_equal(shown, "postgresql://h/db?...");
	lld_store_shown(shown, sizeof(shown), "postgresql://u@h:5432/db");
	assert_string_equal(shown, "postgresql://u@h:5432/db");
	lld_store_shown(shown, sizeof(shown), "/var/lib/x:y@z.db");
	assert_string_equal(shown, "/var/lib/x:y@z.db");
}

static void test_account(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_account a;
	int64_t id = 0, id2 = 0;
	char longtp[64];

	/* the same key again */
	assert_int_equal(lld_store_account_add(f->s, TP1, JWK1, NULL, NOW + 9,
					       &id, &err),
			 LL_EEXIST);
	assert_int_equal(err.code, LL_EEXIST);
	assert_int_equal(id, f->acct);
	assert_int_equal(lld_store_account_add(f->s, TP1, JWK1, NULL, NOW, NULL,
					       &err),
			 LL_EEXIST);

	assert_int_equal(lld_store_account_get(f->s, f->acct, &a, &err), 0);
	assert_int_equal(a.id, f->acct);
	assert_string_equal(a.status, "valid");
	assert_string_equal(a.thumbprint, TP1);
	assert_string_equal(a.jwk, JWK1);
	assert_string_equal(a.contact, "[\"mailto:a@example.org\"]");
	assert_int_equal(a.created, NOW);
	lld_account_clear(&a);
	assert_null(a.jwk);
	lld_account_clear(&a);
	lld_account_clear(NULL);

	/* no contact: "[]" */
	assert_int_equal(lld_store_account_add(f->s, TP2, JWK2, NULL, NOW + 1,
					       &id2, &err),
			 0);
	assert_int_not_equal(id2, f->acct);
	assert_int_equal(lld_store_account_by_thumbprint(f->s, TP2, &a, &err),
			 0);
	assert_int_equal(a.id, id2);
	assert_string_equal(a.jwk, JWK2);
	assert_string_equal(a.contact, "[]");
	assert_int_equal(a.created, NOW + 1);
	lld_account_clear(&a);

	assert_int_equal(lld_store_account_set_contact(
				 f->s, id2, "[\"mailto:b@example.org\"]", &err),
			 0);
	assert_int_equal(lld_store_account_get(f->s, id2, &a, &err), 0);
	assert_string_equal(a.contact, "[\"mailto:b@example.org\"]");
	lld_account_clear(&a);
	assert_int_equal(lld_store_account_set_contact(f->s, id2, NULL, &err),
			 0);
	assert_int_equal(lld_store_account_get(f->s, id2, &a, &err), 0);
	assert_string_equal(a.contact, "[]");
	lld_account_clear(&a);

	/* unknown */
	assert_int_equal(lld_store_account_get(f->s, 999, &a, &err),
			 LL_ENOTFOUND);
	assert_int_equal(err.code, LL_ENOTFOUND);
	assert_null(a.jwk);
	assert_int_equal(lld_store_account_by_thumbprint(f->s, "nope", &a,
							 &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_account_set_contact(f->s, 999, "[]", &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_account_deactivate(f->s, 999, &err),
			 LL_ENOTFOUND);

	/* a thumbprint that would not fit struct lld_account */
	memset(longtp, 'A', 44);
	longtp[44] = '\0';
	assert_int_equal(lld_store_account_add(f->s, longtp, JWK2, NULL, NOW,
					       &id, &err),
			 LL_EINVAL);
	assert_int_equal(peek(f, "SELECT count(*) FROM accounts"), 2);
}

static void test_account_deactivate(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order pend, ready, proc, other;
	struct lld_account a;
	int64_t acct2 = 0, ids[8];
	size_t n = 0;

	new_order(f, f->acct, "a@example.org", "t-pend", &pend);
	new_order(f, f->acct, "b@example.org", "t-ready", &ready);
	new_order(f, f->acct, "c@example.org", "t-proc", &proc);
	assert_int_equal(lld_store_account_add(f->s, TP2, JWK2, NULL, NOW,
					       &acct2, &err),
			 0);
	new_order(f, acct2, "d@example.org", "t-other", &other);
	assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, &ready), 1,
						NULL, NOW, &err),
			 0);
	to_processing(f, &proc);
	assert_int_equal(
		lld_store_chall_want_send(f->s, chall_of(f, &pend), &err), 0);
	assert_int_equal(
		lld_store_chall_respond(f->s, chall_of(f, &pend), &err), 0);
	assert_int_equal(
		lld_store_chall_want_send(f->s, chall_of(f, &other), &err), 0);

	assert_int_equal(lld_store_account_deactivate(f->s, f->acct, &err), 0);
	assert_int_equal(lld_store_account_get(f->s, f->acct, &a, &err), 0);
	assert_string_equal(a.status, "deactivated");
	lld_account_clear(&a);

	assert_statuses(f, &pend, "invalid", "deactivated", "invalid");
	assert_statuses(f, &ready, "invalid", "valid", "valid");
	assert_order_status(f, proc.id, "processing");
	/* the other account is untouched */
	assert_statuses(f, &other, "pending", "pending", "pending");

	/* no mail for the dead challenge, and no late reply settles it */
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 8, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], chall_of(f, &other));
	assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, &pend), 1,
						NULL, NOW, &err),
			 LL_EEXIST);
	assert_order_status(f, pend.id, "invalid");

	/* again: nothing left to cascade */
	assert_int_equal(lld_store_account_deactivate(f->s, f->acct, &err), 0);
	assert_order_status(f, proc.id, "processing");
}

/* ------------------------------------------------------------ orders */

static void test_order_new(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o, g;
	struct lld_authz a;
	struct lld_chall c;
	char longmail[LLD_EMAIL_MAX + 2];

	new_order(f, f->acct, "alice@example.org", "tok1-alice", &o);
	assert_true(o.id > 0);
	assert_int_equal(o.account, f->acct);
	assert_true(o.authz > 0);
	assert_string_equal(o.email, "alice@example.org");
	assert_string_equal(o.status, "pending");
	assert_int_equal(o.created, NOW);
	assert_int_equal(o.expires, NOW + 7 * DAY);
	assert_string_equal(o.serial, "");
	assert_string_equal(o.error, "");

	assert_int_equal(lld_store_order_get(f->s, o.id, &g, &err), 0);
	assert_memory_equal(&g, &o, sizeof(g));

	assert_int_equal(lld_store_authz_get(f->s, o.authz, &a, &err), 0);
	assert_int_equal(a.id, o.authz);
	assert_int_equal(a.order, o.id);
	assert_int_equal(a.account, f->acct);
	assert_true(a.chall > 0);
	assert_string_equal(a.email, "alice@example.org");
	assert_string_equal(a.status, "pending");
	assert_int_equal(a.expires, NOW + 7 * DAY);

	assert_int_equal(lld_store_chall_get(f->s, a.chall, &c, &err), 0);
	assert_int_equal(c.id, a.chall);
	assert_int_equal(c.authz, a.id);
	assert_string_equal(c.status, "pending");
	assert_string_equal(c.token1, "tok1-alice");
	assert_string_equal(c.token2, "token2-of-the-challenge");
	assert_string_equal(c.email, "alice@example.org");
	assert_string_equal(c.thumbprint, TP1);
	assert_int_equal(c.created, NOW);
	assert_int_equal(c.send_wanted, 0);
	assert_int_equal(c.sent, 0);
	assert_int_equal(c.validated, 0);
	assert_string_equal(c.msgid, "");
	assert_string_equal(c.error, "");

	/* nothing half made: a taken token1, an unknown account, too long */
	assert_int_equal(lld_store_order_new(f->s, f->acct, "bob@example.org",
					     "tok1-alice", "x", NOW, NOW, &g,
					     &err),
			 LL_EEXIST);
	assert_int_equal(lld_store_order_new(f->s, 4242, "bob@example.org",
					     "tok1-bob", "x", NOW, NOW, &g,
					     &err),
			 LL_ENOTFOUND);
	memset(longmail, 'm', sizeof(longmail) - 1);
	longmail[sizeof(longmail) - 1] = '\0';
	assert_int_equal(lld_store_order_new(f->s, f->acct, longmail,
					     "tok1-long", "x", NOW, NOW, &g,
					     &err),
			 LL_EINVAL);
	assert_int_equal(peek(f, "SELECT count(*) FROM orders"), 1);
	assert_int_equal(peek(f, "SELECT count(*) FROM authzs"), 1);
	assert_int_equal(peek(f, "SELECT count(*) FROM challenges"), 1);

	/* the longest address fits */
	longmail[LLD_EMAIL_MAX] = '\0';
	new_order(f, f->acct, longmail, "tok1-long", &g);
	assert_int_equal(lld_store_order_get(f->s, g.id, &o, &err), 0);
	assert_string_equal(o.email, longmail);
	assert_int_equal(lld_store_order_new(f->s, f->acct, "c@example.org",
					     "tok1-c", "x", NOW, NOW, NULL,
					     &err),
			 0);

	assert_int_equal(lld_store_order_get(f->s, 999, &g, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_authz_get(f->s, 999, &a, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_chall_get(f->s, 999, &c, &err),
			 LL_ENOTFOUND);
}

static void test_order_move(void **state)
{
	static const unsigned char csr[] = { 0x30, 0x82, 0x00, 0x01, 0x05 };
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o, o2;
	unsigned char *got = NULL;
	size_t len = 0;

	new_order(f, f->acct, "a@example.org", "t1", &o);
	new_order(f, f->acct, "b@example.org", "t2", &o2);
	assert_int_equal(lld_store_order_csr(f->s, o.id, &got, &len, &err),
			 LL_ENOTFOUND);
	assert_null(got);

	assert_int_equal(lld_store_order_move(f->s, o.id, "pending", "ready",
					      NULL, 0, NULL, &err),
			 0);
	/* compare-and-set: not "pending" any more */
	assert_int_equal(lld_store_order_move(f->s, o.id, "pending", "invalid",
					      NULL, 0, PROBLEM, &err),
			 LL_EEXIST);
	assert_int_equal(err.code, LL_EEXIST);
	assert_order_status(f, o.id, "ready");
	assert_int_equal(lld_store_order_get(f->s, o.id, &o, &err), 0);
	assert_string_equal(o.error, "");

	/* finalize keeps the CSR */
	assert_int_equal(lld_store_order_move(f->s, o.id, "ready", "processing",
					      csr, sizeof(csr), NULL, &err),
			 0);
	assert_int_equal(lld_store_order_csr(f->s, o.id, &got, &len, &err), 0);
	assert_int_equal(len, sizeof(csr));
	assert_memory_equal(got, csr, sizeof(csr));
	free(got);
	got = NULL;
	assert_int_equal(lld_store_order_move(f->s, o.id, "ready", "processing",
					      (const unsigned char *)"x", 1,
					      NULL, &err),
			 LL_EEXIST);
	/* a later move without a CSR keeps it */
	assert_int_equal(lld_store_order_move(f->s, o.id, "processing",
					      "invalid", NULL, 0, PROBLEM,
					      &err),
			 0);
	assert_int_equal(lld_store_order_get(f->s, o.id, &o, &err), 0);
	assert_string_equal(o.status, "invalid");
	assert_string_equal(o.error, PROBLEM);
	assert_int_equal(lld_store_order_csr(f->s, o.id, &got, &len, &err), 0);
	assert_memory_equal(got, csr, sizeof(csr));
	free(got);

	assert_order_status(f, o2.id, "pending");
	assert_int_equal(lld_store_order_move(f->s, 999, "pending", "ready",
					      NULL, 0, NULL, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_order_csr(f->s, 999, &got, &len, &err),
			 LL_ENOTFOUND);
}

static void test_orders_processing(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o[4];
	int64_t ids[4];
	size_t n = 99;

	assert_int_equal(lld_store_orders_processing(f->s, ids, 4, &n, &err),
			 0);
	assert_int_equal(n, 0);
	new_order(f, f->acct, "a@example.org", "t0", &o[0]);
	new_order(f, f->acct, "b@example.org", "t1", &o[1]);
	new_order(f, f->acct, "c@example.org", "t2", &o[2]);
	new_order(f, f->acct, "d@example.org", "t3", &o[3]);
	to_processing(f, &o[1]);
	to_processing(f, &o[3]);
	to_processing(f, &o[2]);
	assert_int_equal(lld_store_orders_processing(f->s, ids, 4, &n, &err),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], o[1].id);
	assert_int_equal(ids[1], o[2].id);
	assert_int_equal(ids[2], o[3].id);
	assert_int_equal(lld_store_orders_processing(f->s, ids, 2, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(lld_store_orders_processing(f->s, ids, 0, &n, &err),
			 0);
	assert_int_equal(n, 0);
}

/* ------------------------------------------------------------ challenges */

static void test_chall_mail(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o1, o2;
	struct lld_chall c;
	int64_t ids[4], c1, c2;
	size_t n = 99;

	c1 = new_chall(f, "a@example.org", "t1", &o1);
	c2 = new_chall(f, "b@example.org", "t2", &o2);
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 4, &n, &err), 0);
	assert_int_equal(n, 0);

	assert_int_equal(lld_store_chall_want_send(f->s, c2, &err), 0);
	assert_int_equal(lld_store_chall_want_send(f->s, c1, &err), 0);
	assert_int_equal(lld_store_chall_want_send(f->s, c1, &err), 0);
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 4, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], c1);
	assert_int_equal(ids[1], c2);
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 1, &n, &err), 0);
	assert_int_equal(n, 1);

	assert_int_equal(lld_store_chall_sent(f->s, c1, "<c1@ca.example>",
					      NOW + 5, &err),
			 0);
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 4, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], c2);
	/* wanted again after it went out: still sent once */
	assert_int_equal(lld_store_chall_want_send(f->s, c1, &err), 0);
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 4, &n, &err), 0);
	assert_int_equal(n, 1);

	assert_int_equal(lld_store_chall_get(f->s, c1, &c, &err), 0);
	assert_int_equal(c.send_wanted, 1);
	assert_int_equal(c.sent, NOW + 5);
	assert_string_equal(c.msgid, "<c1@ca.example>");

	assert_int_equal(lld_store_chall_want_send(f->s, 999, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_chall_sent(f->s, 999, "<x@y>", NOW, &err),
			 LL_ENOTFOUND);
}

static void test_chall_respond(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o;
	int64_t c;

	c = new_chall(f, "a@example.org", "t1", &o);
	assert_int_equal(lld_store_chall_respond(f->s, c, &err), 0);
	assert_chall_status(f, c, "processing");
	assert_int_equal(lld_store_chall_respond(f->s, c, &err), 0);
	assert_chall_status(f, c, "processing");
	assert_int_equal(lld_store_chall_settle(f->s, c, 1, NULL, NOW, &err),
			 0);
	assert_int_equal(lld_store_chall_respond(f->s, c, &err), 0);
	assert_chall_status(f, c, "valid");
	assert_int_equal(lld_store_chall_respond(f->s, 999, &err),
			 LL_ENOTFOUND);
}

static void test_chall_settle_valid(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o;
	struct lld_chall c;
	int64_t id;

	id = new_chall(f, "a@example.org", "t1", &o);
	assert_int_equal(lld_store_chall_respond(f->s, id, &err), 0);
	assert_int_equal(
		lld_store_chall_settle(f->s, id, 1, NULL, NOW + 60, &err), 0);
	assert_statuses(f, &o, "ready", "valid", "valid");
	assert_int_equal(lld_store_chall_get(f->s, id, &c, &err), 0);
	assert_int_equal(c.validated, NOW + 60);
	assert_string_equal(c.error, "");

	/* a replayed reply changes nothing */
	assert_int_equal(lld_store_chall_settle(f->s, id, 0, PROBLEM, NOW + 61,
						&err),
			 LL_EEXIST);
	assert_int_equal(err.code, LL_EEXIST);
	assert_int_equal(lld_store_chall_settle(f->s, id, 1, NULL, NOW + 61,
						&err),
			 LL_EEXIST);
	assert_statuses(f, &o, "ready", "valid", "valid");
	assert_int_equal(lld_store_chall_get(f->s, id, &c, &err), 0);
	assert_int_equal(c.validated, NOW + 60);
	assert_int_equal(lld_store_chall_settle(f->s, 999, 1, NULL, NOW, &err),
			 LL_ENOTFOUND);
}

/* revokeCert by authorization: a valid one of this account for this
 * address, not expired, validated since the time asked. */
static void test_authz_fresh(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o, p;
	int64_t other = 0;

	assert_int_equal(lld_store_account_add(f->s, TP2, JWK2, NULL, NOW,
					       &other, &err),
			 0);
	/* pending: not yet */
	new_chall(f, "a@example.org", "t1", &o);
	assert_int_equal(lld_store_authz_fresh(f->s, f->acct, "a@example.org",
					       NOW - 3600, NOW, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, &o), 1, NULL,
						NOW + 60, &err),
			 0);
	assert_int_equal(lld_store_authz_fresh(f->s, f->acct, "a@example.org",
					       NOW, NOW + 120, &err),
			 0);
	/* validated before SINCE, another address, another account,
	 * expired */
	assert_int_equal(lld_store_authz_fresh(f->s, f->acct, "a@example.org",
					       NOW + 61, NOW + 120, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_authz_fresh(f->s, f->acct, "b@example.org",
					       NOW, NOW + 120, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_authz_fresh(f->s, other, "a@example.org",
					       NOW, NOW + 120, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_authz_fresh(f->s, f->acct, "a@example.org",
					       NOW, NOW + 8 * DAY, &err),
			 LL_ENOTFOUND);
	/* an invalid one does not count either */
	new_order(f, other, "a@example.org", "t2", &p);
	assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, &p), 0,
						PROBLEM, NOW + 60, &err),
			 0);
	assert_int_equal(lld_store_authz_fresh(f->s, other, "a@example.org",
					       NOW, NOW + 120, &err),
			 LL_ENOTFOUND);
}

static void test_chall_settle_invalid(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o;
	struct lld_chall c;
	int64_t id;

	id = new_chall(f, "a@example.org", "t1", &o);
	assert_int_equal(
		lld_store_chall_settle(f->s, id, 0, PROBLEM, NOW, &err), 0);
	assert_statuses(f, &o, "invalid", "invalid", "invalid");
	assert_int_equal(lld_store_chall_get(f->s, id, &c, &err), 0);
	assert_string_equal(c.error, PROBLEM);
	assert_int_equal(c.validated, 0);
	assert_int_equal(lld_store_order_get(f->s, o.id, &o, &err), 0);
	assert_string_equal(o.error, PROBLEM);

	assert_int_equal(lld_store_chall_settle(f->s, id, 1, NULL, NOW, &err),
			 LL_EEXIST);
	assert_statuses(f, &o, "invalid", "invalid", "invalid");
}

static void test_chall_settle_order_moved(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o;
	int64_t id;

	/* the order was given up (expired) before the reply came */
	id = new_chall(f, "a@example.org", "t1", &o);
	assert_int_equal(lld_store_order_move(f->s, o.id, "pending", "invalid",
					      NULL, 0, PROBLEM, &err),
			 0);
	assert_int_equal(lld_store_chall_settle(f->s, id, 1, NULL, NOW, &err),
			 LL_EEXIST);
	assert_statuses(f, &o, "invalid", "pending", "pending");
}

static void test_chall_by_token1(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_order o1, o2;
	struct lld_chall c;

	new_order(f, f->acct, "a@example.org", "subject-token-a", &o1);
	new_order(f, f->acct, "b@example.org", "subject-token-b", &o2);
	assert_int_equal(lld_store_chall_by_token1(f->s, "subject-token-b", &c,
						   &err),
			 0);
	assert_int_equal(c.id, chall_of(f, &o2));
	assert_string_equal(c.email, "b@example.org");
	assert_string_equal(c.thumbprint, TP1);
	assert_string_equal(c.token2, "token2-of-the-challenge");
	assert_int_equal(lld_store_chall_by_token1(f->s, "subject-token-c", &c,
						   &err),
			 LL_ENOTFOUND);
	assert_int_equal(err.code, LL_ENOTFOUND);
}

/* ------------------------------------------------------------ certs */

static void test_cert(void **state)
{
	const time_t year = NOW + 365 * DAY;
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_certrow r;
	struct lld_order o;
	unsigned char der[sizeof(cert_der)];

	new_order(f, f->acct, "a@example.org", "t1", &o);
	/* not "processing" yet: nothing recorded */
	assert_int_equal(cert_add(f, o.id, "0a1b", "a@example.org", year, &err),
			 LL_EEXIST);
	assert_int_equal(err.code, LL_EEXIST);
	assert_int_equal(lld_store_cert_get(f->s, "0a1b", &r, &err),
			 LL_ENOTFOUND);
	assert_int_equal(cert_add(f, 999, "0a1b", "a@example.org", year, &err),
			 LL_ENOTFOUND);

	to_processing(f, &o);
	assert_int_equal(cert_add(f, o.id, "0a1b", "a@example.org", year, &err),
			 0);
	assert_int_equal(lld_store_order_get(f->s, o.id, &o, &err), 0);
	assert_string_equal(o.status, "valid");
	assert_string_equal(o.serial, "0a1b");
	assert_int_equal(cert_add(f, o.id, "0a1c", "a@example.org", year, &err),
			 LL_EEXIST);

	assert_int_equal(lld_store_cert_get(f->s, "0a1b", &r, &err), 0);
	assert_string_equal(r.serial, "0a1b");
	assert_int_equal(r.order, o.id);
	assert_int_equal(r.account, f->acct);
	assert_string_equal(r.email, "a@example.org");
	assert_int_equal(r.derlen, sizeof(cert_der));
	assert_memory_equal(r.der, der_of("0a1b", der), sizeof(cert_der));
	assert_int_equal(r.not_before, NOW);
	assert_int_equal(r.not_after, year);
	assert_int_equal(r.revoked, 0);
	assert_int_equal(r.reason, 0);
	lld_certrow_clear(&r);
	assert_null(r.der);
	lld_certrow_clear(NULL);

	/* a serial number taken already: the order stays "processing" */
	new_order(f, f->acct, "b@example.org", "t2", &o);
	to_processing(f, &o);
	assert_int_equal(cert_add(f, o.id, "0a1b", "b@example.org", year, &err),
			 LL_EEXIST);
	assert_order_status(f, o.id, "processing");
	assert_int_equal(peek(f, "SELECT count(*) FROM certs"), 1);
}

static void test_revoke(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_revoked *v = NULL;
	struct lld_certrow r;
	size_t n = 99;

	add_cert(f, "a@example.org", "t1", "01", NOW + 365 * DAY);
	add_cert(f, "b@example.org", "t2", "02", NOW + 10 * DAY);
	add_cert(f, "c@example.org", "t3", "03", NOW + 365 * DAY);

	assert_int_equal(lld_store_revoked(f->s, NOW, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	assert_int_equal(lld_store_cert_revoke(f->s, "02", NOW + 5, 1, &err),
			 0);
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW + 6, 4, &err),
			 0);
	/* revoked again: only keyCompromise (1) after another reason
	 * changes it, and the time stays */
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW + 7, 0, &err),
			 LL_EEXIST);
	assert_int_equal(err.code, LL_EEXIST);
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW + 7, 1, &err),
			 0);
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW + 8, 1, &err),
			 LL_EEXIST);
	assert_int_equal(lld_store_cert_revoke(f->s, "01", NOW + 8, 4, &err),
			 LL_EEXIST);
	assert_int_equal(lld_store_cert_revoke(f->s, "ff", NOW + 7, 1, &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_cert_revoke(f->s, "03", 0, 1, &err),
			 LL_EINVAL);

	assert_int_equal(lld_store_cert_get(f->s, "01", &r, &err), 0);
	assert_int_equal(r.revoked, NOW + 6);
	assert_int_equal(r.reason, 1);
	lld_certrow_clear(&r);

	assert_int_equal(lld_store_revoked(f->s, NOW + 8, &v, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].serial, "02");
	assert_int_equal(v[0].when, NOW + 5);
	assert_int_equal(v[0].reason, 1);
	assert_string_equal(v[1].serial, "01");
	assert_int_equal(v[1].when, NOW + 6);
	assert_int_equal(v[1].reason, 1);
	free(v);

	/* "02" expired: no longer listed */
	assert_int_equal(lld_store_revoked(f->s, NOW + 11 * DAY, &v, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].serial, "01");
	free(v);
}

/* ------------------------------------------------------------ blobs */

static void test_blobs(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	unsigned char *d = NULL;
	size_t len = 99;
	time_t when = 0;

	assert_int_equal(lld_store_blob_get(f->s, "crl", &d, &len, &when, &err),
			 LL_ENOTFOUND);
	assert_null(d);
	assert_int_equal(lld_store_blob_put(f->s, "crl",
					    (const unsigned char *)"v1\0x", 4,
					    NOW, &err),
			 0);
	assert_int_equal(lld_store_blob_get(f->s, "crl", &d, &len, &when, &err),
			 0);
	assert_int_equal(len, 4);
	assert_memory_equal(d, "v1\0x", 4);
	assert_int_equal(when, NOW);
	free(d);
	assert_int_equal(lld_store_blob_put(f->s, "crl",
					    (const unsigned char *)"second", 6,
					    NOW + 1, &err),
			 0);
	assert_int_equal(lld_store_blob_get(f->s, "crl", &d, &len, NULL, &err),
			 0);
	assert_int_equal(len, 6);
	assert_memory_equal(d, "second", 6);
	free(d);
	assert_int_equal(lld_store_blob_put(f->s, "empty", NULL, 0, NOW, &err),
			 0);
	assert_int_equal(
		lld_store_blob_get(f->s, "empty", &d, &len, &when, &err), 0);
	assert_int_equal(len, 0);
	assert_non_null(d);
	free(d);
	assert_int_equal(peek(f, "SELECT count(*) FROM blobs"), 2);
}

/* ------------------------------------------------------------ durability */

static void test_reopen(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_revoked *v = NULL;
	struct lld_certrow r;
	struct lld_account a;
	struct lld_order o;
	struct lld_chall c;
	unsigned char *d = NULL;
	size_t len = 0, n = 0;
	int64_t ids[2];

	add_cert(f, "a@example.org", "t1", "0abc", NOW + DAY);
	assert_int_equal(lld_store_cert_revoke(f->s, "0abc", NOW + 1, 1, &err),
			 0);
	new_order(f, f->acct, "b@example.org", "t2", &o);
	assert_int_equal(lld_store_chall_want_send(f->s, chall_of(f, &o), &err),
			 0);
	assert_int_equal(lld_store_blob_put(f->s, "crl",
					    (const unsigned char *)"crl", 3,
					    NOW, &err),
			 0);
	lld_store_close(&f->s);
	store_open(f);

	assert_int_equal(lld_store_account_by_thumbprint(f->s, TP1, &a, &err),
			 0);
	assert_int_equal(a.id, f->acct);
	lld_account_clear(&a);
	assert_int_equal(lld_store_cert_get(f->s, "0abc", &r, &err), 0);
	assert_int_equal(r.revoked, NOW + 1);
	lld_certrow_clear(&r);
	assert_int_equal(lld_store_revoked(f->s, NOW, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	free(v);
	assert_int_equal(lld_store_chall_to_send(f->s, ids, 2, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(lld_store_chall_get(f->s, ids[0], &c, &err), 0);
	assert_string_equal(c.token1, "t2");
	assert_int_equal(lld_store_blob_get(f->s, "crl", &d, &len, NULL, &err),
			 0);
	assert_int_equal(len, 3);
	free(d);
}

static void test_killed(void **state)
{
	struct fx *f = *state;
	struct lld_order o;
	pid_t pid;
	int status = 0;

	lld_store_close(&f->s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lld_store *s = NULL;
		struct lld_order co;

		if (lld_store_open(&s, f->path, NULL) != 0 ||
		    lld_store_order_new(s, f->acct, "k@example.org", "tk", "x",
					NOW, NOW + DAY, &co, NULL) != 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	store_open(f);
	assert_int_equal(lld_store_order_get(f->s, 1, &o, NULL), 0);
	assert_string_equal(o.email, "k@example.org");
	assert_int_equal(peek(f, "SELECT count(*) FROM challenges"
				 " WHERE token1 = 'tk'"),
			 1);
}

/* ------------------------------------------------------------ concurrency */

/* Another writer, on a connection of its own, holding the store's
 * write lock (SQLite's; in PostgreSQL the row of lld_version that
 * store_pg.c locks). */
struct holder {
	sqlite3 *db;
	PGconn *pg;
	int ms;
};

static void hold(struct holder *h, const char *path)
{
	PGresult *r;

	if (storetest_pg() == NULL) {
		assert_int_equal(sqlite3_open(path, &h->db), SQLITE_OK);
		assert_int_equal(
			sqlite3_exec(h->db,
				     "BEGIN IMMEDIATE;"
				     "INSERT OR REPLACE INTO blobs VALUES"
				     " ('x', x'00', 1)",
				     NULL, NULL, NULL),
			SQLITE_OK);
		return;
	}
	h->pg = PQconnectdb(path);
	assert_int_equal(PQstatus(h->pg), CONNECTION_OK);
	r = PQexec(h->pg, "BEGIN; SELECT n FROM lld_version FOR UPDATE");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
}

static void unhold(struct holder *h)
{
	sqlite3_close(h->db);
	PQfinish(h->pg);
	h->db = NULL;
	h->pg = NULL;
}

static void *release_later(void *arg)
{
	struct holder *h = arg;
	struct timespec ts = { h->ms / 1000, (h->ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	if (h->pg != NULL)
		PQclear(PQexec(h->pg, "COMMIT"));
	else
		sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_writer_waits(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct holder h = { NULL, NULL, 400 };
	struct lld_store *s2 = NULL;
	struct lld_order o, g;
	struct timespec t0;
	pthread_t th;
	unsigned char *d = NULL;
	size_t len = 0;

	assert_int_equal(lld_store_open(&s2, f->path, &err), 0);

	/* what one handle writes the other reads */
	new_order(f, f->acct, "a@example.org", "t1", &o);
	assert_int_equal(lld_store_order_get(s2, o.id, &g, &err), 0);
	assert_string_equal(g.status, "pending");

	/* another writer holds the lock for a while: we wait, not fail */
	hold(&h, f->path);
	assert_int_equal(pthread_create(&th, NULL, release_later, &h), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lld_store_chall_settle(s2, chall_of(f, &o), 1, NULL,
						NOW, &err),
			 0);
	assert_true(elapsed(&t0) > 0.2);
	assert_int_equal(pthread_join(th, NULL), 0);
	unhold(&h);
	assert_order_status(f, o.id, "ready");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	hold(&h, f->path);
	assert_int_equal(pthread_create(&th, NULL, release_later, &h), 0);
	assert_int_equal(lld_store_blob_put(s2, "b", (const unsigned char *)"v",
					    1, NOW, &err),
			 0);
	assert_true(elapsed(&t0) > 0.2);
	assert_int_equal(pthread_join(th, NULL), 0);
	unhold(&h);
	assert_int_equal(lld_store_blob_get(f->s, "b", &d, &len, NULL, &err),
			 0);
	assert_int_equal(len, 1);
	free(d);
	lld_store_close(&s2);
}

struct worker {
	const char *path;
	int64_t acct;
	int which;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct lld_store *s = NULL;
	struct lld_order o;
	struct lld_authz a;
	char tok[32];

	if (lld_store_open(&s, w->path, NULL) != 0) {
		w->failures++;
		return NULL;
	}
	for (int i = 0; i < 50; i++) {
		snprintf(tok, sizeof(tok), "w%d-%d", w->which, i);
		if (lld_store_order_new(s, w->acct, "w@example.org", tok, "x",
					NOW, NOW + DAY, &o, NULL) != 0 ||
		    lld_store_authz_get(s, o.authz, &a, NULL) != 0 ||
		    lld_store_chall_settle(s, a.chall, 1, NULL, NOW, NULL) != 0)
			w->failures++;
	}
	lld_store_close(&s);
	return NULL;
}

static void test_two_writers(void **state)
{
	struct fx *f = *state;
	struct worker w[3];
	pthread_t th[3];

	for (int i = 0; i < 3; i++) {
		w[i] = (struct worker){ f->path, f->acct, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(peek(f, "SELECT count(*) FROM orders"
				 " WHERE status = 'ready'"),
			 150);
}

/* Two fronts (handles of their own) race to move the same orders and
 * settle the same challenges: each move and each settlement happens
 * once, the loser gets LL_EEXIST. */
#define RACE_N 40

struct racer {
	const char *path;
	const int64_t *orders, *challs;
	pthread_barrier_t *start;
	int moved, settled, other;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct lld_store *s = NULL;
	int rc;

	if (lld_store_open(&s, r->path, NULL) != 0) {
		r->other++;
		pthread_barrier_wait(r->start);
		return NULL;
	}
	pthread_barrier_wait(r->start);
	for (int i = 0; i < RACE_N; i++) {
		rc = lld_store_order_move(s, r->orders[i], "ready",
					  "processing", NULL, 0, NULL, NULL);
		r->moved += rc == 0;
		r->other += rc != 0 && rc != LL_EEXIST;
		rc = lld_store_chall_settle(s, r->challs[i], 1, NULL, NOW,
					    NULL);
		r->settled += rc == 0;
		r->other += rc != 0 && rc != LL_EEXIST;
	}
	lld_store_close(&s);
	return NULL;
}

static void test_race(void **state)
{
	struct fx *f = *state;
	struct lld_order o;
	int64_t orders[RACE_N], challs[RACE_N];
	struct racer r[2];
	pthread_barrier_t start;
	pthread_t th[2];
	char tok[16];

	for (int i = 0; i < RACE_N; i++) {
		snprintf(tok, sizeof(tok), "ra%d", i);
		new_order(f, f->acct, "r@example.org", tok, &o);
		assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, &o),
							1, NULL, NOW, NULL),
				 0);
		orders[i] = o.id;
		snprintf(tok, sizeof(tok), "rb%d", i);
		new_order(f, f->acct, "r@example.org", tok, &o);
		challs[i] = chall_of(f, &o);
	}
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){
			f->path, orders, challs, &start, 0, 0, 0
		};
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].other, 0);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(r[0].moved + r[1].moved, RACE_N);
	assert_int_equal(r[0].settled + r[1].settled, RACE_N);
	assert_int_equal(peek(f, "SELECT count(*) FROM orders"
				 " WHERE status = 'processing'"),
			 RACE_N);
	assert_int_equal(peek(f, "SELECT count(*) FROM challenges"
				 " WHERE status = 'valid'"),
			 2 * RACE_N);
}

/* Whether TEXT holds the password of the URI URL (user:password@). */
static int secret_in(const char *text, const char *url)
{
	const char *auth = strstr(url, "://");
	const char *colon, *at;
	char pw[128];

	if (auth == NULL)
		return 0;
	colon = strchr(auth + 3, ':');
	at = strchr(auth + 3, '@');
	if (colon == NULL || at == NULL || colon > at ||
	    (size_t)(at - colon) > sizeof(pw) || at - colon < 2)
		return 0;
	snprintf(pw, sizeof(pw), "%.*s", (int)(at - colon - 1), colon + 1);
	return strstr(text, pw) != NULL;
}

/* PostgreSQL only: the server ends the store's connection; the call
 * under way fails with LL_ESTORE, the next one connects again. */
static void test_pg_reconnect(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_account a;
	struct lld_order o;
	uint64_t v;

	if (storetest_pg() == NULL)
		skip();
	assert_int_equal(lld_store_account_get(f->s, f->acct, &a, &err), 0);
	lld_account_clear(&a);
	assert_int_equal(
		storetest_pg_sql(f->path,
				 "SELECT count(pg_terminate_backend(pid))"
				 " FROM pg_stat_activity WHERE"
				 " application_name = 'letterlockd'"),
		1);
	assert_int_equal(lld_store_account_get(f->s, f->acct, &a, &err),
			 LL_ESTORE);
	assert_non_null(strstr(err.message, "connects again"));
	assert_false(secret_in(err.message, f->path));
	/* reads, writes, transactions and the version work again */
	assert_int_equal(lld_store_account_get(f->s, f->acct, &a, &err), 0);
	lld_account_clear(&a);
	new_order(f, f->acct, "a@example.org", "t1", &o);
	assert_int_equal(lld_store_version(f->s, 1, &v, &err), 0);
	assert_order_status(f, o.id, "pending");
}

/* ------------------------------------------------------------ vault */

static void test_vault(void **state)
{
	struct fx *f = *state;
	struct ll_error err = { 0 };
	struct lld_vaultrow row = { 0 };
	struct lld_order o;
	int64_t v = 0, ids[8], by_email = 0, by_account = 0;
	size_t n = 0;
	time_t when = 1;

	/* four puts, two kept before the current one */
	for (int i = 1; i <= 4; i++) {
		unsigned char blob[3] = { 'b', 'k', (unsigned char)i };

		assert_int_equal(lld_store_vault_put(
					 f->s, "a@example.org", f->acct, blob,
					 sizeof(blob), NOW + i, 2, &v, &err),
				 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(lld_store_vault_versions(f->s, "a@example.org", ids, 8,
						  &n, &err),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[2], 2);
	assert_int_equal(
		lld_store_vault_get(f->s, "a@example.org", 0, &row, &err), 0);
	assert_int_equal(row.version, 4);
	assert_int_equal(row.len, 3);
	assert_int_equal(row.blob[2], 4);
	assert_int_equal(row.stamp, NOW + 4);
	lld_vaultrow_clear(&row);
	assert_int_equal(
		lld_store_vault_get(f->s, "a@example.org", 2, &row, &err), 0);
	assert_int_equal(row.blob[2], 2);
	lld_vaultrow_clear(&row);
	assert_int_equal(lld_store_vault_get(f->s, "a@example.org", 1, &row,
					     &err),
			 LL_ENOTFOUND);
	assert_int_equal(lld_store_vault_get(f->s, "b@example.org", 0, &row,
					     &err),
			 LL_ENOTFOUND);
	/* the proof: none, then when the challenge was validated */
	assert_int_equal(lld_store_proof_latest(f->s, f->acct, "a@example.org",
						&when, &err),
			 0);
	assert_int_equal(when, 0);
	new_order(f, f->acct, "a@example.org", "token1-vault", &o);
	assert_int_equal(lld_store_chall_settle(f->s, chall_of(f, &o), 1, NULL,
						NOW + 50, &err),
			 0);
	assert_int_equal(lld_store_proof_latest(f->s, f->acct, "a@example.org",
						&when, &err),
			 0);
	assert_int_equal(when, NOW + 50);
	assert_int_equal(lld_store_proof_latest(f->s, f->acct + 1,
						"a@example.org", &when, &err),
			 0);
	assert_int_equal(when, 0);
	/* reads counted, old ones forgotten */
	for (int i = 0; i < 3; i++)
		assert_int_equal(lld_store_vault_read(f->s, "a@example.org",
						      f->acct, NOW + i,
						      NOW - 100, &err),
				 0);
	assert_int_equal(lld_store_vault_read(f->s, "", f->acct, NOW + 3,
					      NOW - 100, &err),
			 0);
	assert_int_equal(lld_store_vault_reads(f->s, "a@example.org", f->acct,
					       NOW + 1, &by_email, &by_account,
					       &err),
			 0);
	assert_int_equal(by_email, 2);
	assert_int_equal(by_account, 3);
	assert_int_equal(lld_store_vault_read(f->s, "a@example.org", f->acct,
					      NOW + 10, NOW + 2, &err),
			 0);
	assert_int_equal(peek(f, "SELECT count(*) FROM vault_reads"), 3);
	assert_int_equal(lld_store_vault_delete(f->s, "a@example.org", &err),
			 0);
	assert_int_equal(lld_store_vault_delete(f->s, "a@example.org", &err),
			 LL_ENOTFOUND);
	assert_int_equal(peek(f, "SELECT count(*) FROM vault"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_open_schema),
		T(test_open_bad_path),
		T(test_open_pg_unreachable),
		T(test_account),
		T(test_account_deactivate),
		T(test_order_new),
		T(test_order_move),
		T(test_orders_processing),
		T(test_chall_mail),
		T(test_chall_respond),
		T(test_chall_settle_valid),
		T(test_chall_settle_invalid),
		T(test_authz_fresh),
		T(test_chall_settle_order_moved),
		T(test_chall_by_token1),
		T(test_cert),
		T(test_revoke),
		T(test_blobs),
		T(test_vault),
		T(test_reopen),
		T(test_killed),
		T(test_writer_waits),
		T(test_two_writers),
		T(test_race),
		T(test_pg_reconnect),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
