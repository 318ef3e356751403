/*
 * test_contacts.c - the contact store's rules (src/lib/contacts.c): a
 * known address's key is never silently replaced; harvested keys wait
 * for the user; accepted ones replace; only current keys reach a
 * context; a store made before contacts had a state still opens; a
 * directory that does not answer leaves the store's answer; SMIMEA keys
 * follow the harvested rule; options of version 1 still read.
 * (The directory itself, letterlockd's PKX, is exercised end to end in
 * tests/integration.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include <letterlock/letterlock.h>

#include "msgtest.h"

#define NOW ((time_t)1800000000)

static char home[64];

static struct ll_keystore *open_home(void)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	assert_int_equal(system(cmd), 0);
	if (ll_keystore_open(&ks, home, &err) < 0)
		fail_msg("keystore: %s", err.message);
	return ks;
}

static struct ll_cert *cert_of(const struct mt_who *w)
{
	return ll_identity_cert(w->id);
}

/* The state of FPR in KS, -1 if not stored. */
struct find {
	const char *fpr;
	int state, source, count;
	unsigned caps;
};

static int find_one(void *arg, const struct ll_contact_info *c)
{
	struct find *f = arg;

	f->count++;
	if (strcmp(ll_cert_fingerprint(c->cert), f->fpr) == 0) {
		f->state = (int)c->state;
		f->source = (int)c->source;
		f->caps = ll_cert_caps(c->cert);
	}
	return 0;
}

static int state_of(struct ll_keystore *ks, const struct ll_cert *c)
{
	struct find f = { ll_cert_fingerprint(c), -1, -1, 0, 0 };

	assert_int_equal(ll_contacts_foreach(ks, find_one, &f, NULL), 0);
	return f.state;
}

/* The capabilities stored with C in KS. */
static unsigned caps_of(struct ll_keystore *ks, const struct ll_cert *c)
{
	struct find f = { ll_cert_fingerprint(c), -1, -1, 0, 0 };

	assert_int_equal(ll_contacts_foreach(ks, find_one, &f, NULL), 0);
	assert_int_not_equal(f.state, -1);
	return f.caps;
}

/* How many contact certificates for ADDR a fresh context of KS holds
 * (what seal would encrypt to). */
static int in_ctx(struct ll_keystore *ks, const char *addr,
		  const struct ll_cert *want)
{
	struct ll_ctx *ctx = NULL;
	struct ll_cert *got;
	int rc;

	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, NULL), 0);
	got = ll_ctx_contact_for(ctx, addr);
	rc = got == NULL ? 0 :
	     want != NULL && strcmp(ll_cert_fingerprint(got),
				    ll_cert_fingerprint(want)) == 0 ?
			   1 :
			   -1;
	ll_ctx_free(&ctx);
	return rc;
}

static void test_rules(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_cert *alice = cert_of(&mt_alice),
		       *other = cert_of(&mt_mallory);
	enum ll_contact_state st;
	struct ll_error err = { 0 };

	(void)state;
	/* a new address, from a harvest: current */
	assert_int_equal(ll_contacts_add(ks, alice, LL_SRC_HARVESTED, NOW, &st,
					 &err),
			 0);
	assert_int_equal(st, LL_CONTACT_CURRENT);
	assert_int_equal(ll_contacts_known(ks, "alice@example.test",
					   ll_cert_fingerprint(alice)),
			 1);
	/* another key for it in signed mail: pending, not used */
	assert_int_equal(ll_contacts_add(ks, other, LL_SRC_HARVESTED, NOW + 1,
					 &st, &err),
			 0);
	assert_int_equal(st, LL_CONTACT_PENDING);
	assert_int_equal(ll_contacts_known(ks, "alice@example.test",
					   ll_cert_fingerprint(other)),
			 -1);
	assert_int_equal(in_ctx(ks, "alice@example.test", alice), 1);
	/* seen again in mail: still pending */
	assert_int_equal(ll_contacts_add(ks, other, LL_SRC_HARVESTED, NOW + 2,
					 &st, &err),
			 0);
	assert_int_equal(st, LL_CONTACT_PENDING);
	/* the user accepts it: current, the old one replaced and kept */
	assert_int_equal(ll_contacts_accept(ks, "alice@EXAMPLE.test",
					    ll_cert_fingerprint(other), NOW + 3,
					    &err),
			 0);
	assert_int_equal(state_of(ks, other), LL_CONTACT_CURRENT);
	assert_int_equal(state_of(ks, alice), LL_CONTACT_REPLACED);
	assert_int_equal(in_ctx(ks, "alice@example.test", other), 1);
	/* the old key in mail again: pending, the accepted one stays */
	assert_int_equal(ll_contacts_add(ks, alice, LL_SRC_HARVESTED, NOW + 4,
					 &st, &err),
			 0);
	assert_int_equal(st, LL_CONTACT_REPLACED);
	assert_int_equal(in_ctx(ks, "alice@example.test", other), 1);
	/* accepting what is not stored */
	assert_int_equal(ll_contacts_accept(ks, "bob@example.test",
					    ll_cert_fingerprint(other), NOW,
					    &err),
			 LL_ENOTFOUND);
	ll_keystore_close(&ks);
}

/* The user's word and the directory's: current beside what is there. */
static void test_manual_and_directory(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_cert *alice = cert_of(&mt_alice),
		       *other = cert_of(&mt_mallory);
	enum ll_contact_state st;

	(void)state;
	assert_int_equal(
		ll_contacts_add(ks, alice, LL_SRC_MANUAL, NOW, &st, NULL), 0);
	assert_int_equal(st, LL_CONTACT_CURRENT);
	assert_int_equal(ll_contacts_add(ks, other, LL_SRC_PKX, NOW, &st, NULL),
			 0);
	assert_int_equal(st, LL_CONTACT_CURRENT);
	assert_int_equal(state_of(ks, alice), LL_CONTACT_CURRENT);
	/* a pending key seen in the directory becomes current */
	ll_keystore_close(&ks);
	ks = open_home();
	assert_int_equal(ll_contacts_add(ks, alice, LL_SRC_HARVESTED, NOW, &st,
					 NULL),
			 0);
	assert_int_equal(ll_contacts_add(ks, other, LL_SRC_HARVESTED, NOW, &st,
					 NULL),
			 0);
	assert_int_equal(st, LL_CONTACT_PENDING);
	assert_int_equal(ll_contacts_add(ks, other, LL_SRC_PKX, NOW, &st, NULL),
			 0);
	assert_int_equal(st, LL_CONTACT_CURRENT);
	ll_keystore_close(&ks);
}

/* A store of the schema before contacts had a source and a state: it
 * opens, its contacts are manual and current. */
static void test_old_store(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_cert *bob = cert_of(&mt_bob);
	unsigned char *der = NULL;
	size_t len = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char path[128];
	struct find f = { ll_cert_fingerprint(bob), -1, -1, 0, 0 };

	(void)state;
	ll_keystore_close(&ks);
	snprintf(path, sizeof(path), "%s/letterlock.db", home);
	unlink(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE contacts (id INTEGER "
				      "PRIMARY KEY, fpr TEXT UNIQUE NOT NULL,"
				      " email TEXT NOT NULL, cert BLOB NOT "
				      "NULL, caps INTEGER NOT NULL, added "
				      "INTEGER NOT NULL);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(ll_cert_der(&der, &len, bob, NULL), 0);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO contacts (fpr, email,"
					    " cert, caps, added) VALUES (?, ?,"
					    " ?, 0, 1)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, ll_cert_fingerprint(bob), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "bob@example.test", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, der, (int)len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(der);
	assert_int_equal(ll_keystore_open(&ks, home, NULL), 0);
	assert_int_equal(ll_contacts_foreach(ks, find_one, &f, NULL), 0);
	assert_int_equal(f.state, LL_CONTACT_CURRENT);
	assert_int_equal(f.source, LL_SRC_MANUAL);
	assert_int_equal(in_ctx(ks, "bob@example.test", bob), 1);
	ll_keystore_close(&ks);
}

#define NOTE_MAX 512

/* ll_contacts_resolve of the N ADDRS into RES, its note into NOTE. */
static int resolve(struct ll_keystore *ks, struct ll_ctx *ctx,
		   const char **addrs, size_t n,
		   const struct ll_contacts_options *o,
		   struct ll_contact_result *res, char note[NOTE_MAX])
{
	return ll_contacts_resolve(ks, ctx, addrs, n, o, res, note, NOTE_MAX,
				   NULL);
}

/* No directory, or one that does not answer: the store's answer, and a
 * note; the context holds the current keys of the addresses asked. */
/* (add CERT with CAPS from SOURCE): what a signed message says it reads
 * never takes away what the directory or the user said; it adds to
 * it only for the contact's current key. */
static void add_caps(struct ll_keystore *ks, struct ll_cert *c, unsigned caps,
		     enum ll_contact_source source, time_t when)
{
	unsigned was = ll_cert_caps(c);

	ll_cert_set_caps(c, caps);
	assert_int_equal(ll_contacts_add(ks, c, source, when, NULL, NULL), 0);
	ll_cert_set_caps(c, was); /* the fixture is shared */
}

static void test_caps_never_lowered(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_cert *alice = cert_of(&mt_alice),
		       *other = cert_of(&mt_mallory);
	const unsigned strong = LL_CAP_AES256_GCM | LL_CAP_RSA_OAEP;

	(void)state;
	add_caps(ks, alice, strong, LL_SRC_PKX, NOW);
	assert_int_equal(caps_of(ks, alice), strong);
	/* signed mail without SMIMECapabilities, or CBC only */
	add_caps(ks, alice, 0, LL_SRC_HARVESTED, NOW + 1);
	assert_int_equal(caps_of(ks, alice), strong);
	add_caps(ks, alice, LL_CAP_AES256_CBC, LL_SRC_HARVESTED, NOW + 2);
	assert_int_equal(caps_of(ks, alice), strong | LL_CAP_AES256_CBC);
	/* SMIMEA is no word of the recipient's */
	add_caps(ks, alice, LL_CAP_AES128_GCM, LL_SRC_SMIMEA, NOW + 3);
	assert_false(caps_of(ks, alice) & LL_CAP_AES128_GCM);
	/* the directory itself may say less */
	add_caps(ks, alice, LL_CAP_AES128_CBC, LL_SRC_PKX, NOW + 4);
	assert_int_equal(caps_of(ks, alice), LL_CAP_AES128_CBC);
	/* stronger, signed by the current key: raised */
	add_caps(ks, alice, LL_CAP_AES256_GCM, LL_SRC_HARVESTED, NOW + 5);
	assert_int_equal(caps_of(ks, alice),
			 LL_CAP_AES128_CBC | LL_CAP_AES256_GCM);
	/* by a key that is not the current one (pending): not raised */
	add_caps(ks, other, 0, LL_SRC_HARVESTED, NOW + 6);
	assert_int_equal(state_of(ks, other), LL_CONTACT_PENDING);
	add_caps(ks, other, strong, LL_SRC_HARVESTED, NOW + 7);
	assert_int_equal(caps_of(ks, other), 0);
	assert_int_equal(caps_of(ks, alice),
			 LL_CAP_AES128_CBC | LL_CAP_AES256_GCM);
	ll_keystore_close(&ks);
}

static void test_resolve_offline(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_contacts_options o = LL_CONTACTS_OPTIONS_INIT;
	struct ll_contact_result res[3];
	const char *addrs[] = { "alice@Example.TEST", "carol@example.test",
				"alice@example.test" };
	struct ll_ctx *ctx = NULL;
	char note[NOTE_MAX];
	enum ll_contact_state st;

	(void)state;
	assert_int_equal(ll_contacts_add(ks, cert_of(&mt_alice), LL_SRC_MANUAL,
					 time(NULL), &st, NULL),
			 0);
	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	o.pkx_url = "http://127.0.0.1:1/pkx/";
	o.timeout = 5;
	assert_int_equal(resolve(ks, ctx, addrs, 3, &o, res, note), 0);
	assert_non_null(strstr(note, "the directory at http://127.0.0.1:1"));
	assert_string_equal(res[0].address, "alice@example.test");
	assert_true(res[0].found);
	assert_int_equal(res[0].source, LL_SRC_MANUAL);
	assert_false(res[1].found);
	assert_true(res[2].found);
	assert_non_null(ll_ctx_contact_for(ctx, "alice@example.test"));
	assert_null(ll_ctx_contact_for(ctx, "carol@example.test"));
	/* an address we cannot look up */
	addrs[1] = "not an address";
	assert_int_equal(resolve(ks, ctx, addrs, 2, &o, res, note), LL_EINVAL);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
}

/* SMIMEA proves the domain's word, not the recipient's: held to the
 * rule of harvested mail. */
static void test_smimea_rule(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_cert *alice = cert_of(&mt_alice),
		       *other = cert_of(&mt_mallory), *bob = cert_of(&mt_bob);
	enum ll_contact_state st;
	struct find f = { ll_cert_fingerprint(bob), -1, -1, 0, 0 };

	(void)state;
	assert_string_equal(ll_contact_source_name(LL_SRC_SMIMEA), "smimea");
	/* a new address: current */
	assert_int_equal(
		ll_contacts_add(ks, bob, LL_SRC_SMIMEA, NOW, &st, NULL), 0);
	assert_int_equal(st, LL_CONTACT_CURRENT);
	assert_int_equal(ll_contacts_foreach(ks, find_one, &f, NULL), 0);
	assert_int_equal(f.source, LL_SRC_SMIMEA);
	assert_int_equal(in_ctx(ks, "bob@example.test", bob), 1);
	/* another key for a known address: pending, again and again */
	assert_int_equal(
		ll_contacts_add(ks, alice, LL_SRC_MANUAL, NOW, &st, NULL), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ll_contacts_add(ks, other, LL_SRC_SMIMEA,
						 NOW + 1 + i, &st, NULL),
				 0);
		assert_int_equal(st, LL_CONTACT_PENDING);
		assert_int_equal(in_ctx(ks, "alice@example.test", alice), 1);
	}
	/* the user accepts it; the old key from SMIMEA stays replaced */
	assert_int_equal(ll_contacts_accept(ks, "alice@example.test",
					    ll_cert_fingerprint(other), NOW + 3,
					    NULL),
			 0);
	assert_int_equal(ll_contacts_add(ks, alice, LL_SRC_SMIMEA, NOW + 4, &st,
					 NULL),
			 0);
	assert_int_equal(st, LL_CONTACT_REPLACED);
	assert_int_equal(in_ctx(ks, "alice@example.test", other), 1);
	ll_keystore_close(&ks);
}

/* Options of version 1 end before the SMIMEA fields: read without
 * them.  Version 2 with SMIMEA on and a resolver that cannot start: a
 * note, no error; an address with a current key is not asked. */
static void test_options_versions(void **state)
{
	struct ll_keystore *ks = open_home();
	struct ll_contacts_options o = LL_CONTACTS_OPTIONS_INIT;
	struct ll_contact_result res[2];
	const char *addrs[] = { "carol@example.test", "alice@example.test" };
	struct ll_ctx *ctx = NULL;
	char note[NOTE_MAX];

	(void)state;
	assert_int_equal(o.version, 2);
	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	o.smimea = 1;
	o.resolver_conf = "/nonexistent/unbound.conf";
	o.version = 1;
	assert_int_equal(resolve(ks, ctx, addrs, 2, &o, res, note), 0);
	assert_string_equal(note, "");
	assert_false(res[0].found);
	o.version = 2;
	assert_int_equal(resolve(ks, ctx, addrs, 2, &o, res, note), 0);
	assert_non_null(strstr(note, "SMIMEA: DNS: /nonexistent/unbound.conf"));
	assert_false(res[0].found);
	assert_false(res[1].found);
	/* with alice known, only carol is asked: her note alone */
	assert_int_equal(ll_contacts_add(ks, cert_of(&mt_alice), LL_SRC_MANUAL,
					 time(NULL), NULL, NULL),
			 0);
	o.resolver_conf = NULL;
	o.trust_anchor_file = "/nonexistent/anchors";
	o.timeout = 2;
	assert_int_equal(resolve(ks, ctx, addrs, 2, &o, res, note), 0);
	assert_non_null(strstr(note, "SMIMEA: DNS: the resolver does not"));
	assert_true(res[1].found);
	o.version = 3;
	assert_int_equal(resolve(ks, ctx, addrs, 2, &o, res, note), LL_EINVAL);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(home, sizeof(home), "%s/test_contacts.XXXXXX",
		 tmp != NULL && strlen(tmp) < 30 ? tmp : "/tmp");
	if (mkdtemp(home) == NULL)
		return -1;
	return mt_setup(state);
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	if (system(cmd) != 0)
		return -1;
	return mt_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_manual_and_directory),
		cmocka_unit_test(test_caps_never_lowered),
		cmocka_unit_test(test_old_store),
		cmocka_unit_test(test_resolve_offline),
		cmocka_unit_test(test_smimea_rule),
		cmocka_unit_test(test_options_versions),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
