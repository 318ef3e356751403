/*
 * storetest.h - what the unit tests of the store (test_store.c,
 * test_store_pkx.c) share: a database file in a fresh temporary
 * directory, removed afterwards with its WAL files, and one integer
 * read from it on a connection of its own.  Include it after cmocka.h
 * and sqlite3.h.
 */
#ifndef LL_STORETEST_H
#define LL_STORETEST_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STORETEST_DIR 64
#define STORETEST_PATH 96

/* A fresh directory /tmp/NAME.XXXXXX into DIR and the database file in
 * it into PATH. */
static inline void storetest_dir(char dir[STORETEST_DIR],
				 char path[STORETEST_PATH], const char *name)
{
	snprintf(dir, STORETEST_DIR, "/tmp/%.40s.XXXXXX", name);
	assert_non_null(mkdtemp(dir));
	snprintf(path, STORETEST_PATH, "%s/state.db", dir);
}

/* PATH, its journal and WAL files, and DIR, gone. */
static inline void storetest_rm(const char *dir, const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[STORETEST_PATH + 16];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* One integer from QUERY run on a separate connection to PATH. */
static inline long long storetest_peek(const char *path, const char *query)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, query, -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

#endif
