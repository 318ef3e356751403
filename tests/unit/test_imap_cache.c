/*
 * test_imap_cache.c - src/bridge/imap_cache.c, the bridge's cache of
 * opened messages: an entry read back as it was put; never served for
 * another identity (its bytes copied into another message's row), nor
 * under another key; a damaged or cut entry is a miss; the bound kept
 * with the least recently used entries removed first; two processes
 * writing and reading the same database at once; a database that is
 * not one is made again; the entry files of the cache before it was a
 * database removed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "../../src/bridge/imap_cache.h"

static const unsigned char key1[32] = { 1 };
static const unsigned char key2[32] = { 2 };

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_imap_cache.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/bob@example.test.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* The identity of UID in a mailbox of bob's. */
static const char *ident(char *buf, size_t size, const char *box,
			 unsigned long uid)
{
	snprintf(buf, size, "bob@example.test\n%s\n1700000000\n%lu", box, uid);
	return buf;
}

/* A message of N bytes that says which one it is. */
static char *message(unsigned long uid, size_t n)
{
	char *m = malloc(n + 1);

	assert_non_null(m);
	for (size_t i = 0; i < n; i++)
		m[i] = (char)('a' + (uid + i) % 26);
	snprintf(m, n, "message %lu\r\n", uid);
	m[n] = '\0';
	return m;
}

/* Is the entry of ID there and the message of UID (N bytes)? */
static int holds(struct imap_cache *c, const char *id, unsigned long uid,
		 size_t n)
{
	char *got = NULL, *want = message(uid, n);
	size_t len = 0;
	int ok = imap_cache_get(c, id, &got, &len) == 1 && len == n &&
		 memcmp(got, want, n) == 0;

	free(got);
	free(want);
	return ok;
}

static void put(struct imap_cache *c, const char *box, unsigned long uid,
		size_t n)
{
	char id[128], *m = message(uid, n);

	imap_cache_put(c, ident(id, sizeof(id), box, uid), m, n);
	free(m);
}

/* SQL on the database from outside, as an attacker or a disk would. */
static void sql(const struct fixture *f, const char *q)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static long long sql_number(const struct fixture *f, const char *q)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The row id of an identity, as the SQL literal X'...'. */
static void row_id(char out[70], const char *id)
{
	unsigned char md[32];

	assert_int_equal(
		EVP_Digest(id, strlen(id), md, NULL, EVP_sha256(), NULL), 1);
	out[0] = 'X';
	out[1] = '\'';
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 + 2 * i, 3, "%02x", md[i]);
	out[66] = '\'';
	out[67] = '\0';
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	char id[128];

	assert_int_equal(imap_cache_open(&c, f->path, key1, 1 << 20), 0);
	put(c, "INBOX", 7, 4096);
	put(c, "INBOX", 8, 0);
	/* queued, not written before the flush */
	assert_int_equal(sql_number(f, "SELECT count(*) FROM entry"), 0);
	imap_cache_flush(c);
	assert_int_equal(sql_number(f, "SELECT count(*) FROM entry"), 2);
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 7), 7, 4096));
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 8), 8, 0));
	/* not there: another UID, mailbox, UIDVALIDITY */
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 9), 9, 4096));
	assert_false(holds(c, ident(id, sizeof(id), "Sent", 7), 7, 4096));
	assert_false(
		holds(c, "bob@example.test\nINBOX\n1700000001\n7", 7, 4096));
	/* encrypted at rest: the message's words are not in the file */
	assert_int_equal(sql_number(f, "SELECT count(*) FROM sealed WHERE "
				       "instr(data, 'message 7') > 0"),
			 0);
	/* put again: replaced, counted once */
	put(c, "INBOX", 7, 4096);
	imap_cache_flush(c);
	assert_int_equal(sql_number(f, "SELECT count(*) FROM entry"), 2);
	assert_int_equal(sql_number(f, "SELECT bytes FROM total"),
			 sql_number(f, "SELECT sum(size) FROM entry"));
	assert_int_equal(sql_number(f, "SELECT bytes FROM total"),
			 sql_number(f, "SELECT sum(length(data)) FROM sealed"));
	imap_cache_close(&c);
	assert_null(c);

	/* another process (session) reads what this one wrote */
	assert_int_equal(imap_cache_open(&c, f->path, key1, 1 << 20), 0);
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 7), 7, 4096));
	imap_cache_close(&c);
	/* ... but not under another key */
	assert_int_equal(imap_cache_open(&c, f->path, key2, 1 << 20), 0);
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 7), 7, 4096));
	imap_cache_close(&c);
}

static void test_wrong_identity(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	char id[128], a[70], b[70], q[512];

	assert_int_equal(imap_cache_open(&c, f->path, key1, 1 << 20), 0);
	put(c, "INBOX", 1, 2000);
	put(c, "INBOX", 2, 2000);
	imap_cache_flush(c);
	row_id(a, ident(id, sizeof(id), "INBOX", 1));
	row_id(b, ident(id, sizeof(id), "INBOX", 2));
	/* UID 1's sealed bytes copied into UID 2's row */
	snprintf(q, sizeof(q),
		 "UPDATE sealed SET data = (SELECT data FROM sealed WHERE n = "
		 "(SELECT n FROM entry WHERE id = %s)) WHERE n = (SELECT n "
		 "FROM entry WHERE id = %s)",
		 a, b);
	sql(f, q);
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 1), 1, 2000));
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 2), 2, 2000));
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 2), 1, 2000));
	/* ... and UID 1's row renamed to UID 3's identity */
	row_id(b, ident(id, sizeof(id), "INBOX", 3));
	snprintf(q, sizeof(q), "UPDATE entry SET id = %s WHERE id = %s", b, a);
	sql(f, q);
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 3), 1, 2000));
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 1), 1, 2000));
	imap_cache_close(&c);
}

static void test_tampered(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	char id[128], r[70], q[512];
	/* a byte of the nonce, of the ciphertext, of the tag changed; the
	 * entry cut short, cut below the nonce and tag, emptied */
	static const char *const edits[] = {
		"substr(data, 1, 3) || X'00' || substr(data, 5)",
		"substr(data, 1, 99) || (CASE WHEN substr(data, 100, 1) = X'41'"
		" THEN X'42' ELSE X'41' END) || substr(data, 101)",
		"substr(data, 1, length(data) - 1) || (CASE WHEN substr(data, "
		"-1) = X'41' THEN X'42' ELSE X'41' END)",
		"substr(data, 1, length(data) - 1)",
		"substr(data, 1, 20)",
		"X''",
	};

	assert_int_equal(imap_cache_open(&c, f->path, key1, 1 << 20), 0);
	for (unsigned long uid = 1; uid <= 6; uid++)
		put(c, "INBOX", uid, 3000);
	imap_cache_flush(c);
	for (unsigned long uid = 1; uid <= 6; uid++) {
		row_id(r, ident(id, sizeof(id), "INBOX", uid));
		snprintf(q, sizeof(q),
			 "UPDATE sealed SET data = %s WHERE n = (SELECT n FROM "
			 "entry WHERE id = %s)",
			 edits[uid - 1], r);
		sql(f, q);
		assert_false(holds(c, ident(id, sizeof(id), "INBOX", uid), uid,
				   3000));
		/* a miss: the message opened again replaces the entry */
		put(c, "INBOX", uid, 3000);
		imap_cache_flush(c);
		assert_true(holds(c, ident(id, sizeof(id), "INBOX", uid), uid,
				  3000));
	}
	imap_cache_close(&c);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000 };

	nanosleep(&ts, NULL);
}

static void test_eviction(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	const unsigned long long max = 64 * 1024;
	char id[128];

	assert_int_equal(imap_cache_open(&c, f->path, key1, max), 0);
	/* one over a quarter of the bound is not kept */
	put(c, "INBOX", 100, max / 4);
	imap_cache_flush(c);
	assert_int_equal(sql_number(f, "SELECT count(*) FROM entry"), 0);
	/* 4 KiB entries, each flushed at its own time */
	for (unsigned long uid = 1; uid <= 12; uid++) {
		put(c, "INBOX", uid, 4096);
		imap_cache_flush(c);
		sleep_ms(3);
	}
	/* the first one used again: it is now the most recent */
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 1), 1, 4096));
	imap_cache_flush(c);
	sleep_ms(3);
	/* 15 entries of 4124 bytes fit in 64 KiB: 8 more remove the 5
	 * least recently used, 2 to 6, and not 1 */
	for (unsigned long uid = 13; uid <= 20; uid++) {
		put(c, "INBOX", uid, 4096);
		imap_cache_flush(c);
		sleep_ms(3);
	}
	assert_int_equal(sql_number(f, "SELECT count(*) FROM entry"), 15);
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 2), 2, 4096));
	assert_false(holds(c, ident(id, sizeof(id), "INBOX", 6), 6, 4096));
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 7), 7, 4096));
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 1), 1, 4096));
	imap_cache_flush(c);
	/* many more, in batches: the bound holds after every flush */
	for (unsigned long uid = 21; uid <= 100; uid++) {
		put(c, "INBOX", uid, 4096);
		if (uid % 10 == 0) {
			imap_cache_flush(c);
			assert_true(sql_number(f, "SELECT bytes FROM total") <=
				    (long long)max);
		}
	}
	assert_int_equal(sql_number(f, "SELECT bytes FROM total"),
			 sql_number(f, "SELECT sum(size) FROM entry"));
	assert_int_equal(sql_number(f, "SELECT bytes FROM total"),
			 sql_number(f, "SELECT sum(length(data)) FROM sealed"));
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 100), 100, 4096));
	imap_cache_close(&c);
	/* a smaller bound applies at the next write */
	assert_int_equal(imap_cache_open(&c, f->path, key1, 20000), 0);
	put(c, "INBOX", 41, 1000);
	imap_cache_flush(c);
	assert_true(sql_number(f, "SELECT bytes FROM total") <= 20000);
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 41), 41, 1000));
	imap_cache_close(&c);
}

/* One session of CONCURRENT: puts its own UIDs (ONE's mailbox) in
 * batches and reads the other's as they come.  Exit 0 when every own
 * entry reads back and nothing read was wrong. */
static int session(const char *path, const char *one, const char *other)
{
	struct imap_cache *c = NULL;
	char id[128], *got;
	size_t len;
	int bad = 0;

	if (imap_cache_open(&c, path, key1, 64u << 20) < 0)
		return 2;
	for (unsigned long uid = 1; uid <= 400; uid++) {
		put(c, one, uid, 3000 + uid);
		if (uid % 50 == 0)
			imap_cache_flush(c);
		/* the other's entries: absent or right, never wrong */
		if (imap_cache_get(c, ident(id, sizeof(id), other, uid), &got,
				   &len) == 1) {
			char *want = message(uid, 3000 + uid);

			bad |= len != 3000 + uid || memcmp(got, want, len) != 0;
			free(want);
			free(got);
		}
	}
	imap_cache_flush(c);
	for (unsigned long uid = 1; uid <= 400; uid++)
		bad |= !holds(c, ident(id, sizeof(id), one, uid), uid,
			      3000 + uid);
	imap_cache_close(&c);
	return bad;
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	pid_t pid[2];
	char id[128];
	int st;

	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(session(f->path, i ? "A" : "B", i ? "B" : "A"));
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* both sessions' entries, all of them, and the total right */
	assert_int_equal(sql_number(f, "SELECT count(*) FROM entry"), 800);
	assert_int_equal(sql_number(f, "SELECT count(*) FROM sealed"), 800);
	assert_int_equal(sql_number(f, "SELECT bytes FROM total"),
			 sql_number(f, "SELECT sum(size) FROM entry"));
	assert_int_equal(sql_number(f, "SELECT bytes FROM total"),
			 sql_number(f, "SELECT sum(length(data)) FROM sealed"));
	assert_int_equal(imap_cache_open(&c, f->path, key1, 64u << 20), 0);
	assert_true(holds(c, ident(id, sizeof(id), "A", 400), 400, 3400));
	assert_true(holds(c, ident(id, sizeof(id), "B", 1), 1, 3001));
	imap_cache_close(&c);
}

static void test_damaged_database(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	char id[128];
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 1000; i++)
		fputs("not a database ", fp);
	fclose(fp);
	assert_int_equal(imap_cache_open(&c, f->path, key1, 1 << 20), 0);
	put(c, "INBOX", 5, 100);
	imap_cache_flush(c);
	assert_true(holds(c, ident(id, sizeof(id), "INBOX", 5), 5, 100));
	imap_cache_close(&c);
}

static void test_old_entries_removed(void **state)
{
	struct fixture *f = *state;
	struct imap_cache *c = NULL;
	static const char *const names[] = {
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.1234",
		"keep.txt",
	};
	char p[256];
	struct stat st;

	for (int i = 0; i < 3; i++) {
		FILE *fp;

		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		fp = fopen(p, "w");
		assert_non_null(fp);
		fclose(fp);
	}
	assert_int_equal(imap_cache_open(&c, f->path, key1, 1 << 20), 0);
	imap_cache_close(&c);
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		assert_int_equal(stat(p, &st) == 0, i == 2);
	}
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_null(void **state)
{
	char *out = (char *)state;
	size_t len = 0;

	imap_cache_put(NULL, "x", "y", 1);
	imap_cache_flush(NULL);
	assert_int_equal(imap_cache_get(NULL, "x", &out, &len), 0);
	assert_null(out);
	imap_cache_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_identity, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_database, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_entries_removed, setup,
						teardown),
		cmocka_unit_test(test_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
