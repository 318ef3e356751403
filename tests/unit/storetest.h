/*
 * storetest.h - what the unit tests of the store (test_store.c,
 * test_store_pkx.c) share: a database file in a fresh temporary
 * directory, removed afterwards with its WAL files, and one integer
 * read from it on a connection of its own.  Include it after cmocka.h
 * and sqlite3.h.
 *
 * With LLD_TEST_PG_URL set (a postgresql:// URI of an empty database
 * the tests may wipe; tests/integration/test_store_pg.sh sets it) the
 * store is that database instead, its schema dropped before each
 * test: the same cases run against PostgreSQL.  storetest_pg() says
 * which; the cases that are about SQLite itself skip under it.
 */
#ifndef LL_STORETEST_H
#define LL_STORETEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#define STORETEST_DIR 64
#define STORETEST_PATH 256

/* The PostgreSQL URI the tests run against, or NULL: SQLite. */
static inline const char *storetest_pg(void)
{
	const char *url = getenv("LLD_TEST_PG_URL");

	return url != NULL && url[0] != '\0' ? url : NULL;
}

/* SQL on a connection of its own to the PostgreSQL database URL; the
 * first column of its first row as an integer (0 without rows). */
static inline long long storetest_pg_sql(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r;
	long long v = 0;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

/* A fresh directory /tmp/NAME.XXXXXX into DIR and the database file in
 * it into PATH. */
static inline void storetest_dir(char dir[STORETEST_DIR],
				 char path[STORETEST_PATH], const char *name)
{
	const char *pg = storetest_pg();

	snprintf(dir, STORETEST_DIR, "/tmp/%.40s.XXXXXX", name);
	assert_non_null(mkdtemp(dir));
	snprintf(path, STORETEST_PATH, "%s/state.db", dir);
	if (pg == NULL)
		return;
	assert_true(strlen(pg) < STORETEST_PATH);
	snprintf(path, STORETEST_PATH, "%s", pg);
	storetest_pg_sql(pg,
			 "SET client_min_messages = warning;"
			 "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

/* PATH, its journal and WAL files, and DIR, gone. */
static inline void storetest_rm(const char *dir, const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[STORETEST_PATH + 16];

	for (size_t i = 0;
	     storetest_pg() == NULL && i < sizeof(sfx) / sizeof(sfx[0]); i++) {
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

	if (storetest_pg() != NULL)
		return storetest_pg_sql(path, query);
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
