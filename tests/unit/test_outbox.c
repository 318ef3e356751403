/*
 * test_outbox.c - src/cli/outbox.c, the outbox of `letterlock send`:
 * an entry is written whole and read back as it was; a locked entry is
 * left alone; the sent marks persist; remains of a removal and of a
 * writer that died are cleaned up, a live writer's are not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
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
	char id[OUTBOX_ID_MAX], *data = NULL;
	size_t len = 0;

	assert_int_equal(nids(), 0);
	assert_int_equal(outbox_add(&e, home, "alice@example.test", c, 2), 0);
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

	assert_int_equal(outbox_add(&e, home, "", &c, 1), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_remains),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
