/*
 * test_backup.c - the encrypted backup (src/lib/backup.c): recovery
 * codes and their typos, the round trip through a second home, a wrong
 * code, every octet of a blob altered, hostile KDF parameters, the key
 * kept in the home.  The KDF runs at its lowest accepted cost here.
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

#include <letterlock/letterlock.h>
#include <letterlock/revocation.h>

static const struct ll_backup_kdf cheap = { 10, 1, 1 };
static char home_a[64], home_b[64];

static struct ll_keystore *fresh_home(const char *home)
{
	struct ll_keystore *ks = NULL;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ll_keystore_open(&ks, home, NULL), 0);
	return ks;
}

/* A home with two identities (an old and a new key), a trust anchor and
 * an account key; a blob of it under CODE into *blob. */
static void make_blob(unsigned char **blob, size_t *len, const char *code,
		      struct ll_backup_key **keep)
{
	static const char *const names[] = { "acme-account-key http://ca",
					     "not-there" };
	struct ll_keystore *ks = fresh_home(home_a);
	struct ll_identity *id = NULL;
	struct ll_backup_key *k = NULL;
	struct ll_error err = { 0 };

	for (int i = 0; i < 2; i++) {
		assert_int_equal(ll_identity_generate(&id, "alice@example.test",
						      LL_KEY_EC_P256, 30 + i,
						      &err),
				 0);
		assert_int_equal(ll_keystore_add_identity(ks, id, &err), 0);
		if (i == 1)
			assert_int_equal(
				ll_keystore_add_trust(ks, ll_identity_cert(id),
						      &err),
				0);
		ll_identity_free(&id);
	}
	assert_int_equal(
		ll_keystore_put_secret(ks, names[0], "account", 7, &err), 0);
	assert_int_equal(ll_backup_key_derive(&k, code, &cheap, &err), 0);
	assert_int_equal(ll_backup_seal(blob, len, k, ks, names, 2, &err), 0);
	if (keep != NULL)
		*keep = k;
	else
		ll_backup_key_free(&k);
	ll_keystore_close(&ks);
}

static void test_code(void **state)
{
	char code[LL_BACKUP_CODE_LEN + 1], canon[LL_BACKUP_CODE_LEN + 1];
	char typed[80];
	struct ll_error err = { 0 };

	(void)state;
	assert_int_equal(ll_backup_code_new(code, &err), 0);
	assert_int_equal(strlen(code), LL_BACKUP_CODE_LEN);
	for (int i = 5; i < LL_BACKUP_CODE_LEN; i += 6)
		assert_int_equal(code[i], '-');
	assert_int_equal(ll_backup_code_normalize(canon, code, &err), 0);
	assert_string_equal(canon, code);
	/* lower case, spaces for dashes, O for 0 and L for 1 */
	for (size_t i = 0; i <= strlen(code); i++) {
		char c = code[i];

		typed[i] = c == '-'		  ? ' ' :
			   c == '0'		  ? 'o' :
			   c == '1'		  ? 'l' :
			   (c >= 'A' && c <= 'Z') ? (char)(c + 32) :
						    c;
	}
	assert_int_equal(ll_backup_code_normalize(canon, typed, &err), 0);
	assert_string_equal(canon, code);
	/* every single-symbol typo is caught (20 check bits: the odd one
	 * slipping through would show as a rare failure of this test) */
	for (size_t i = 0; i < strlen(code); i++) {
		if (code[i] == '-')
			continue;
		strcpy(typed, code);
		typed[i] = typed[i] == 'X' ? 'Y' : 'X';
		assert_int_equal(ll_backup_code_normalize(canon, typed, &err),
				 LL_EINVAL);
		assert_non_null(strstr(err.message, "typo"));
	}
	strcpy(typed, code);
	typed[3] = 'U';
	assert_int_equal(ll_backup_code_normalize(canon, typed, &err),
			 LL_EINVAL);
	typed[strlen(typed) - 1] = '\0';
	assert_int_equal(ll_backup_code_normalize(canon, code + 1, &err),
			 LL_EINVAL);
	assert_int_equal(ll_backup_code_normalize(canon, "", &err), LL_EINVAL);
}

static void test_round_trip(void **state)
{
	char code[LL_BACKUP_CODE_LEN + 1];
	unsigned char *blob = NULL, *sec = NULL;
	size_t len = 0, seclen = 0, added = 0;
	struct ll_backup *b = NULL;
	struct ll_backup_key *k = NULL;
	struct ll_keystore *ks;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };

	(void)state;
	assert_int_equal(ll_backup_code_new(code, &err), 0);
	make_blob(&blob, &len, code, NULL);
	assert_int_equal(ll_backup_open(&b, &k, blob, len, code, &err), 0);
	assert_int_equal(ll_backup_identity_count(b), 2);
	assert_int_equal(ll_backup_trust_count(b), 1);
	assert_int_equal(ll_backup_secret_count(b), 1);
	assert_string_equal(ll_backup_secret_name(b, 0),
			    "acme-account-key http://ca");
	ks = fresh_home(home_b);
	assert_int_equal(ll_backup_install(b, ks, &added, &err), 0);
	assert_int_equal(added, 2);
	/* twice: nothing new, no error */
	assert_int_equal(ll_backup_install(b, ks, &added, &err), 0);
	assert_int_equal(added, 0);
	assert_int_equal(ll_keystore_get_secret(&sec, &seclen, ks,
						"acme-account-key http://ca",
						&err),
			 0);
	assert_memory_equal(sec, "account", 7);
	ll_wipe_free(sec, seclen);
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, &err), 0);
	assert_non_null(ll_ctx_identity_for(ctx, "alice@example.test"));
	/* the key kept, without the code */
	assert_int_equal(
		ll_backup_key_store(ks, k, "vault", "alice@example.test",
				    (const char *const[]){ "x" }, 1, &err),
		0);
	ll_backup_key_free(&k);
	assert_int_equal(ll_backup_key_load(&k, ks, &err), 0);
	assert_string_equal(ll_backup_key_where(k), "vault");
	assert_string_equal(ll_backup_key_address(k), "alice@example.test");
	assert_int_equal(ll_backup_key_secret_count(k), 1);
	assert_string_equal(ll_backup_key_secret(k, 0), "x");
	free(blob);
	/* sealed again with the kept key: the same code opens it */
	assert_int_equal(ll_backup_seal(&blob, &len, k, ks, NULL, 0, &err), 0);
	ll_backup_free(&b);
	assert_int_equal(ll_backup_open(&b, NULL, blob, len, code, &err), 0);
	assert_int_equal(ll_backup_identity_count(b), 2);
	ll_backup_free(&b);
	ll_backup_key_free(&k);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	free(blob);
}

/* A certificate the home revoked (letterlock revoke) is marked so in a
 * home restored from its backup: it never signs there, even when its
 * OCSP responder cannot be asked at restore. */
static void test_revocation_marks(void **state)
{
	struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;
	char code[LL_BACKUP_CODE_LEN + 1];
	unsigned char *blob = NULL;
	size_t len = 0;
	struct ll_identity *gone = NULL, *kept = NULL;
	struct ll_backup *b = NULL;
	struct ll_backup_key *k = NULL;
	struct ll_keystore *ks;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };

	(void)state;
	assert_int_equal(ll_backup_code_new(code, &err), 0);
	ks = fresh_home(home_a);
	assert_int_equal(ll_identity_generate(&gone, "alice@example.test",
					      LL_KEY_EC_P256, 30, &err),
			 0);
	assert_int_equal(ll_identity_generate(&kept, "alice@example.test",
					      LL_KEY_EC_P256, 31, &err),
			 0);
	assert_int_equal(ll_keystore_add_identity(ks, gone, &err), 0);
	assert_int_equal(ll_keystore_add_identity(ks, kept, &err), 0);
	assert_int_equal(ll_revocation_mark(ks, ll_identity_cert(gone),
					    1700000000, 1, &err),
			 0);
	assert_int_equal(ll_backup_key_derive(&k, code, &cheap, &err), 0);
	assert_int_equal(ll_backup_seal(&blob, &len, k, ks, NULL, 0, &err), 0);
	ll_keystore_close(&ks);
	assert_int_equal(ll_backup_open(&b, NULL, blob, len, code, &err), 0);
	assert_int_equal(ll_backup_revocation_count(b), 1);
	ks = fresh_home(home_b);
	assert_int_equal(ll_backup_install(b, ks, NULL, &err), 0);
	ro.cache = ks;
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_ctx_set_revocation(ctx, &ro, &err), 0);
	assert_int_equal(ll_ctx_is_revoked(ctx, ll_identity_cert(gone)), 1);
	assert_int_equal(ll_ctx_is_revoked(ctx, ll_identity_cert(kept)), 0);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	ll_backup_free(&b);
	ll_backup_key_free(&k);
	ll_identity_free(&gone);
	ll_identity_free(&kept);
	free(blob);
}

static void test_wrong_code(void **state)
{
	char code[LL_BACKUP_CODE_LEN + 1], other[LL_BACKUP_CODE_LEN + 1];
	unsigned char *blob = NULL;
	size_t len = 0;
	struct ll_backup *b = NULL;
	struct ll_error err = { 0 };

	(void)state;
	assert_int_equal(ll_backup_code_new(code, &err), 0);
	assert_int_equal(ll_backup_code_new(other, &err), 0);
	make_blob(&blob, &len, code, NULL);
	assert_int_equal(ll_backup_open(&b, NULL, blob, len, other, &err),
			 LL_EDECRYPT);
	assert_null(b);
	assert_non_null(strstr(err.message, "wrong recovery code"));
	free(blob);
}

static void test_tampered(void **state)
{
	char code[LL_BACKUP_CODE_LEN + 1];
	unsigned char *blob = NULL;
	size_t len = 0;
	struct ll_backup *b = NULL;
	struct ll_error err = { 0 };

	(void)state;
	assert_int_equal(ll_backup_code_new(code, &err), 0);
	make_blob(&blob, &len, code, NULL);
	for (size_t i = 0; i < len; i++) {
		int rc;

		blob[i] ^= 0x01;
		rc = ll_backup_open(&b, NULL, blob, len, code, &err);
		blob[i] ^= 0x01;
		if (rc == 0)
			fail_msg("octet %zu altered and still opened", i);
		assert_null(b);
	}
	/* cut short, padded */
	assert_int_not_equal(
		ll_backup_open(&b, NULL, blob, len - 1, code, &err), 0);
	blob = realloc(blob, len + 1);
	blob[len] = 0;
	assert_int_equal(ll_backup_open(&b, NULL, blob, len + 1, code, &err),
			 LL_EPARSE);
	assert_int_equal(ll_backup_open(&b, NULL, blob, len, code, &err), 0);
	ll_backup_free(&b);
	free(blob);
}

static void test_hostile_kdf(void **state)
{
	char code[LL_BACKUP_CODE_LEN + 1];
	unsigned char *blob = NULL;
	size_t len = 0;
	struct ll_backup *b = NULL;
	struct ll_error err = { 0 };
	struct ll_backup_kdf kdf;
	static const struct {
		unsigned char log2_n;
		unsigned r, p;
	} bad[] = {
		{ 9, 1, 1 },   { 21, 1, 1 },
		{ 63, 1, 1 },  { 20, 16, 1 },
		{ 18, 8, 4 },  { 10, 0, 1 },
		{ 10, 17, 1 }, { 10, 1, 0 },
		{ 10, 1, 5 },  { 10, 0xffffffffu, 0xffffffffu },
	};

	(void)state;
	assert_int_equal(ll_backup_code_new(code, &err), 0);
	make_blob(&blob, &len, code, NULL);
	assert_int_equal(ll_backup_peek(&kdf, blob, len, &err), 0);
	assert_int_equal(kdf.log2_n, 10);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		blob[7] = bad[i].log2_n;
		for (int j = 0; j < 4; j++) {
			blob[8 + j] = (unsigned char)(bad[i].r >> (24 - 8 * j));
			blob[12 + j] =
				(unsigned char)(bad[i].p >> (24 - 8 * j));
		}
		assert_int_equal(ll_backup_open(&b, NULL, blob, len, code,
						&err),
				 LL_EPOLICY);
	}
	/* the default is within the limits, and so is the derivation of
	 * a key with them refused up front */
	kdf = (struct ll_backup_kdf)LL_BACKUP_KDF_INIT;
	assert_int_equal(ll_backup_kdf_check(&kdf, &err), 0);
	kdf.log2_n = 21;
	assert_int_equal(ll_backup_kdf_check(&kdf, &err), LL_EPOLICY);
	free(blob);
	/* not a backup, too big */
	assert_int_equal(ll_backup_open(&b, NULL, "LLB1", 4, code, &err),
			 LL_EPARSE);
	assert_int_equal(ll_backup_peek(NULL, "x", LL_BACKUP_MAX + 1, &err),
			 LL_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_revocation_marks),
		cmocka_unit_test(test_wrong_code),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_hostile_kdf),
	};
	int rc;

	snprintf(home_a, sizeof(home_a), "/tmp/ll-backup-a.%d", (int)getpid());
	snprintf(home_b, sizeof(home_b), "/tmp/ll-backup-b.%d", (int)getpid());
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s %s", home_a, home_b);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
