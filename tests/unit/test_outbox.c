/*
 * test_outbox.c - src/cli/outbox.c, the outbox of `letterlock send`
 * and of the bridge: an entry is one file, written whole and read back
 * as it was; a locked entry is left alone; the sent marks persist;
 * remains of a removal, of a writer that died before naming its file
 * and of an entry whose removal was lost are cleaned up, a live
 * writer's are not; a damaged entry is refused; the resubmission key's
 * link (queued, then gone); entries and markers of the earlier format
 * (a directory of files, made here by hand) are read, sent and removed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <letterlock/msg.h>

#include "../../src/cli/outbox.h"

static char home[] = "/tmp/ll-outbox.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(home) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t nids(void)
{
	char **ids = NULL;
	size_t n = 0;

	assert_int_equal(outbox_ids(&ids, home), 0);
	while (ids[n] != NULL)
		n++;
	ll_strv_free(&ids);
	return n;
}

static void test_round_trip(void **state)
{
	const char *r1[] = { "bob@example.test", "carol@example.test" };
	const char *r2[] = { "dave@example.test" };
	struct outbox_copy c[] = {
		{ "copy one\r\n", 10, r1, 2 },
		{ "copy two\r\n", 10, r2, 1 },
	};
	struct outbox_entry *e = NULL, *again = NULL;
	char id[OUTBOX_ID_MAX], *data = NULL, path[256];
	size_t len = 0;
	struct stat st;

	assert_int_equal(nids(), 0);
	assert_int_equal(outbox_add(&e, home, "alice@example.test", NULL, c, 2),
			 0);
	memcpy(id, e->id, sizeof(id));
	assert_int_equal(nids(), 1);
	/* held by its writer: nobody else gets it */
	assert_int_equal(outbox_open(&again, home, id), 1);
	assert_null(again);
	outbox_close(&e);

	assert_int_equal(outbox_open(&e, home, id), 0);
	assert_string_equal(e->from, "alice@example.test");
	assert_int_equal(e->ncopies, 2);
	assert_string_equal(e->rcpts[0][1], "carol@example.test");
	assert_null(e->rcpts[0][2]);
	assert_string_equal(e->rcpts[1][0], "dave@example.test");
	assert_false(e->sent[0] || e->sent[1]);
	assert_int_equal(outbox_load(e, 1, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "copy two\r\n", 10);
	free(data);
	assert_int_equal(outbox_mark_sent(e, 0), 0);
	assert_int_equal(outbox_set_error(e, "451 later"), 0);
	outbox_close(&e);

	/* one regular file, nothing else */
	snprintf(path, sizeof(path), "%s/outbox/%s", home, id);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(outbox_open(&e, home, id), 0);
	assert_true(e->sent[0]);
	assert_false(e->sent[1]);
	assert_string_equal(e->error, "451 later");
	assert_int_equal(outbox_remove(&e, home), 0);
	assert_null(e);
	assert_int_equal(nids(), 0);
	assert_int_equal(outbox_open(&e, home, id), 2);
}

static void test_null_sender(void **state)
{
	const char *r[] = { "bob@example.test" };
	struct outbox_copy c = { "x", 1, r, 1 };
	struct outbox_entry *e = NULL;
	char id[OUTBOX_ID_MAX];

	assert_int_equal(outbox_add(&e, home, "", NULL, &c, 1), 0);
	memcpy(id, e->id, sizeof(id));
	outbox_close(&e);
	assert_int_equal(outbox_open(&e, home, id), 0);
	assert_string_equal(e->from, "");
	assert_string_equal(e->rcpts[0][0], "bob@example.test");
	assert_int_equal(outbox_remove(&e, home), 0);
}

static void test_remains(void **state)
{
	struct outbox_entry *e = NULL;
	struct timespec old[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
	char path[256];
	int fd;

	/* a removal cut short: the files without meta */
	snprintf(path, sizeof(path), "%s/outbox/20260101T000000Z-00", home);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/outbox/20260101T000000Z-00/1.eml",
		 home);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(outbox_open(&e, home, "20260101T000000Z-00"), 2);
	assert_int_equal(nids(), 0);

	/* unfinished entries: a dead writer's (old) goes, a fresh one stays */
	snprintf(path, sizeof(path), "%s/outbox/.new-dead", home);
	assert_int_equal(mkdir(path, 0700), 0);
	old[1].tv_sec = time(NULL) - 3600;
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	snprintf(path, sizeof(path), "%s/outbox/.new-live", home);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(nids(), 0);
	snprintf(path, sizeof(path), "%s/outbox/.new-dead", home);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/outbox/.new-live", home);
	assert_int_equal(access(path, F_OK), 0);

	/* not an entry's name */
	assert_int_equal(outbox_open(&e, home, "../outbox"), -1);
	assert_int_equal(outbox_open(&e, home, ".new-live"), -1);
}

/* PATH (HOME/REL) made with TEXT. */
static void put(const char *rel, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void age(const char *rel)
{
	struct timespec old[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	old[1].tv_sec = time(NULL) - 3600;
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
}

static int exists(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	return access(path, F_OK) == 0;
}

static off_t size_of(const char *rel)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void mkdir_in(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
}

static void test_crash_points(void **state)
{
	const char *r[] = { "bob@example.test" };
	struct outbox_copy c = { "one copy\r\n", 10, r, 1 };
	struct outbox_entry *e = NULL;
	char id[OUTBOX_ID_MAX], from[128], to[128];

	/* killed between the write and the rename: the file, whole,
	 * under its temporary name, nobody holding it */
	assert_int_equal(
		outbox_add(&e, home, "alice@example.test", NULL, &c, 1), 0);
	memcpy(id, e->id, sizeof(id));
	outbox_close(&e);
	snprintf(from, sizeof(from), "outbox/%s", id);
	snprintf(to, sizeof(to), "outbox/.new-%s", id);
	{
		char a[256], b[256];

		snprintf(a, sizeof(a), "%s/%s", home, from);
		snprintf(b, sizeof(b), "%s/%s", home, to);
		assert_int_equal(rename(a, b), 0);
	}
	/* young: perhaps a writer at work; left alone, not listed */
	assert_int_equal(nids(), 0);
	assert_true(exists(to));
	/* old: its writer died; removed, never sent */
	age(to);
	assert_int_equal(nids(), 0);
	assert_false(exists(to));

	/* killed after every copy was marked sent, before the removal:
	 * recognised as finished and removed, not sent again */
	assert_int_equal(
		outbox_add(&e, home, "alice@example.test", NULL, &c, 1), 0);
	memcpy(id, e->id, sizeof(id));
	assert_int_equal(outbox_mark_sent(e, 0), 0);
	outbox_close(&e);
	assert_int_equal(nids(), 1);
	assert_int_equal(outbox_open(&e, home, id), 2);
	assert_null(e);
	assert_int_equal(nids(), 0);

	/* a file cut short (not ours, or the disk lost it): refused,
	 * kept for the user to look at */
	assert_int_equal(
		outbox_add(&e, home, "alice@example.test", NULL, &c, 1), 0);
	memcpy(id, e->id, sizeof(id));
	outbox_close(&e);
	snprintf(from, sizeof(from), "%s/outbox/%s", home, id);
	assert_int_equal(truncate(from, size_of(from + strlen(home) + 1) - 1),
			 0);
	assert_int_equal(outbox_open(&e, home, id), -1);
	assert_int_equal(truncate(from, 40), 0);
	assert_int_equal(outbox_open(&e, home, id), -1);
	put(from + strlen(home) + 1, "queued 1\nfrom a\ncopies 1\n");
	assert_int_equal(outbox_open(&e, home, id), -1);
	assert_int_equal(unlink(from), 0);
}

static void test_key(void **state)
{
	const char *r[] = { "bob@example.test" };
	struct outbox_copy c = { "sealed\r\n", 8, r, 1 };
	struct outbox_entry *e = NULL;
	char id[OUTBOX_ID_MAX], seen[OUTBOX_ID_MAX], key[OUTBOX_KEY_MAX];
	char rel[128];
	off_t whole;

	mkdir_in("ids");
	memset(key, 'a', 64);
	key[64] = '\0';
	assert_int_equal(outbox_seen(home, key, seen), 0);
	assert_int_equal(outbox_add(&e, home, "alice@example.test", key, &c, 1),
			 0);
	memcpy(id, e->id, sizeof(id));
	assert_string_equal(e->key, key);
	/* queued: the key names it */
	assert_int_equal(outbox_seen(home, key, seen), 1);
	assert_string_equal(seen, id);
	snprintf(rel, sizeof(rel), "ids/%s", key);
	whole = size_of(rel);
	/* sent and removed: the key says so, and keeps no copy */
	assert_int_equal(outbox_mark_sent(e, 0), 0);
	assert_int_equal(outbox_remove(&e, home), 0);
	assert_int_equal(nids(), 0);
	assert_int_equal(outbox_seen(home, key, seen), 2);
	assert_string_equal(seen, id);
	assert_int_equal(size_of(rel), whole - 8);
	outbox_forget_key(home, key);
	assert_int_equal(outbox_seen(home, key, seen), 0);

	/* given up (refused for good): forgotten with its entry */
	key[0] = 'b';
	assert_int_equal(outbox_add(&e, home, "alice@example.test", key, &c, 1),
			 0);
	outbox_forget(home, e);
	assert_int_equal(outbox_remove(&e, home), 0);
	assert_int_equal(outbox_seen(home, key, seen), 0);
	assert_int_equal(nids(), 0);

	/* given up with its copy not sent (outbox drop): the key counts
	 * for nothing, sending it again is a new try */
	key[0] = 'd';
	assert_int_equal(outbox_add(&e, home, "alice@example.test", key, &c, 1),
			 0);
	assert_int_equal(outbox_remove(&e, home), 0);
	assert_int_equal(outbox_seen(home, key, seen), 0);

	/* killed between the key's link and the rename: the key names an
	 * entry never named, which is neither queued nor sent; the
	 * unnamed file goes with its key once its writer is surely dead */
	key[0] = 'e';
	assert_int_equal(outbox_add(&e, home, "alice@example.test", key, &c, 1),
			 0);
	memcpy(id, e->id, sizeof(id));
	outbox_close(&e);
	{
		char a[256], b[256];

		snprintf(a, sizeof(a), "%s/outbox/%s", home, id);
		snprintf(b, sizeof(b), "%s/outbox/.new-%s", home, id);
		assert_int_equal(rename(a, b), 0);
		snprintf(rel, sizeof(rel), "outbox/.new-%s", id);
	}
	assert_int_equal(outbox_seen(home, key, seen), 0);
	assert_int_equal(nids(), 0);
	age(rel);
	assert_int_equal(nids(), 0);
	assert_false(exists(rel));
	snprintf(rel, sizeof(rel), "ids/%s", key);
	assert_false(exists(rel));

	/* not a key */
	assert_int_equal(outbox_seen(home, "../outbox", seen), 0);
	assert_int_equal(outbox_seen(home, "", seen), 0);
}

/* An entry of the earlier format, made by hand as letterlock wrote
 * them: two copies, the first sent, a marker naming it. */
static void test_old_format(void **state)
{
	static const char id[] = "20260101T101010Z-0011223344";
	struct outbox_entry *e = NULL;
	char seen[OUTBOX_ID_MAX], *data = NULL, key[OUTBOX_KEY_MAX], rel[80];
	size_t len = 0;

	mkdir_in("outbox");
	mkdir_in("ids");
	mkdir_in("outbox/20260101T101010Z-0011223344");
	put("outbox/20260101T101010Z-0011223344/1.rcpt",
	    "bob@example.test\ncarol@example.test\n");
	put("outbox/20260101T101010Z-0011223344/1.eml", "first\r\n");
	put("outbox/20260101T101010Z-0011223344/2.rcpt", "dave@example.test\n");
	put("outbox/20260101T101010Z-0011223344/2.eml", "second copy\r\n");
	put("outbox/20260101T101010Z-0011223344/1.sent", "");
	put("outbox/20260101T101010Z-0011223344/error",
	    "2026-01-01 10:10 UTC, copy 2 (to dave@example.test): 451 later");
	put("outbox/20260101T101010Z-0011223344/meta",
	    "queued 1767262210\nfrom alice@example.test\ncopies 2\n");
	memset(key, 'c', 64);
	key[64] = '\0';
	snprintf(rel, sizeof(rel), "ids/%s", key);
	put(rel, id);

	assert_int_equal(nids(), 1);
	assert_int_equal(outbox_seen(home, key, seen), 1);
	assert_string_equal(seen, id);
	assert_int_equal(outbox_open(&e, home, id), 0);
	assert_int_equal(e->queued, 1767262210);
	assert_string_equal(e->from, "alice@example.test");
	assert_int_equal(e->ncopies, 2);
	assert_string_equal(e->rcpts[0][1], "carol@example.test");
	assert_string_equal(e->rcpts[1][0], "dave@example.test");
	assert_true(e->sent[0]);
	assert_false(e->sent[1]);
	assert_true(strstr(e->error, "451 later") != NULL);
	assert_int_equal(outbox_load(e, 1, &data, &len), 0);
	assert_int_equal(len, 13);
	assert_memory_equal(data, "second copy\r\n", 13);
	free(data);
	assert_int_equal(outbox_set_error(e, "421 busy"), 0);
	outbox_close(&e);

	assert_int_equal(outbox_open(&e, home, id), 0);
	assert_string_equal(e->error, "421 busy");
	assert_int_equal(outbox_mark_sent(e, 1), 0);
	outbox_close(&e);
	assert_int_equal(outbox_open(&e, home, id), 0);
	assert_true(e->sent[0] && e->sent[1]);
	assert_int_equal(outbox_remove(&e, home), 0);
	assert_int_equal(nids(), 0);
	assert_false(exists("outbox/20260101T101010Z-0011223344"));
	/* its marker: "sent already", until forgotten */
	assert_int_equal(outbox_seen(home, key, seen), 2);
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->fd = -1;
	e->is_dir = 1;
	memcpy(e->id, id, sizeof(id));
	outbox_forget(home, e);
	outbox_close(&e);
	assert_int_equal(outbox_seen(home, key, seen), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_remains),
		cmocka_unit_test(test_crash_points),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_old_format),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
