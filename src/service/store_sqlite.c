/*
 * store_sqlite.c - the SQLite backend of the store (store.h,
 * store_db.h): one database file in WAL mode.  Every change survives a
 * crash of the process (kill -9) once its function returned 0.  Against
 * power loss: synchronous=NORMAL, so the last changes before it may
 * roll back - orders, challenges and certificate records, which
 * recover (the keyholder's journal, fsync'd, returns the certificate
 * already signed for an order) - but the changes that must never
 * silently undo, revocations and account deactivations, are written
 * with synchronous=FULL (the durable operation).  Statements are
 * prepared once per handle and take bound parameters only; a
 * transaction is BEGIN IMMEDIATE: SQLite has one writer at a time.
 *
 * This file: opening, the schema and its versions, and the engine
 * (struct store_ops) the shared statement set runs on.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "internal.h"
#include "store_db.h"

#define SCHEMA_VERSION \
	3 /* 2: the PKX table (store_pkx.c);
			    3: the vault (store_vault.c) */
#define BUSY_TIMEOUT_MS 10000

struct sq_store {
	struct lld_store base; /* first */
	sqlite3 *db;
	sqlite3_stmt *st[Q_COUNT]; /* prepared on first use */
};

static struct sq_store *sq(struct lld_store *s)
{
	return (struct sq_store *)s;
}

/* version 1 */
static const char schema[] =
	"CREATE TABLE accounts ("
	" id INTEGER PRIMARY KEY,"
	" status TEXT NOT NULL,"
	" thumbprint TEXT NOT NULL UNIQUE,"
	" jwk TEXT NOT NULL,"
	" contact TEXT NOT NULL,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE orders ("
	" id INTEGER PRIMARY KEY,"
	" account INTEGER NOT NULL REFERENCES accounts (id),"
	" email TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" csr BLOB,"
	" serial TEXT NOT NULL DEFAULT '',"
	" error TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX orders_status ON orders (status);"
	"CREATE INDEX orders_account ON orders (account, status);"
	"CREATE TABLE authzs ("
	" id INTEGER PRIMARY KEY,"
	" order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id),"
	" account INTEGER NOT NULL REFERENCES accounts (id),"
	" email TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" expires INTEGER NOT NULL);"
	"CREATE INDEX authzs_account ON authzs (account, status);"
	"CREATE TABLE challenges ("
	" id INTEGER PRIMARY KEY,"
	" authz INTEGER NOT NULL UNIQUE REFERENCES authzs (id),"
	" status TEXT NOT NULL,"
	" token1 TEXT NOT NULL UNIQUE,"
	" token2 TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" send_wanted INTEGER NOT NULL DEFAULT 0,"
	" sent INTEGER NOT NULL DEFAULT 0,"
	" validated INTEGER NOT NULL DEFAULT 0,"
	" msgid TEXT NOT NULL DEFAULT '',"
	" error TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX challenges_send ON challenges (id)"
	" WHERE send_wanted = 1 AND sent = 0;"
	"CREATE TABLE certs ("
	" serial TEXT PRIMARY KEY,"
	" order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id),"
	" account INTEGER NOT NULL REFERENCES accounts (id),"
	" email TEXT NOT NULL,"
	" der BLOB NOT NULL,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0,"
	" reason INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX certs_revoked ON certs (not_after) WHERE revoked <> 0;"
	"CREATE TABLE blobs ("
	" name TEXT PRIMARY KEY,"
	" data BLOB NOT NULL,"
	" stamp INTEGER NOT NULL);"
	"PRAGMA user_version = 1;";

/* version 2, the PKX table (store_pkx.c): der holds another CA's certificate; serial names one of ours */
static const char pkx_schema[] =
	"CREATE TABLE IF NOT EXISTS pkx ("
	" fpr TEXT PRIMARY KEY,"
	" email TEXT NOT NULL,"
	" der BLOB,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL,"
	" account INTEGER NOT NULL REFERENCES accounts (id),"
	" order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id),"
	" serial TEXT UNIQUE REFERENCES certs (serial),"
	" caps TEXT,"
	" published INTEGER NOT NULL,"
	" CHECK ((der IS NULL) <> (serial IS NULL)));"
	"CREATE INDEX IF NOT EXISTS pkx_email ON pkx (email, not_after);"
	"PRAGMA user_version = 2;";

/* version 3, the vault (store_vault.c) */
static const char vault_schema[] =
	"CREATE TABLE IF NOT EXISTS vault ("
	" email TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" account INTEGER NOT NULL REFERENCES accounts (id),"
	" blob BLOB NOT NULL,"
	" stamp INTEGER NOT NULL,"
	" PRIMARY KEY (email, version));"
	"CREATE TABLE IF NOT EXISTS vault_reads ("
	" id INTEGER PRIMARY KEY,"
	" email TEXT NOT NULL,"
	" account INTEGER NOT NULL,"
	" stamp INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS vault_reads_email"
	" ON vault_reads (email, stamp);"
	"CREATE INDEX IF NOT EXISTS vault_reads_account"
	" ON vault_reads (account, stamp);"
	"CREATE INDEX IF NOT EXISTS vault_reads_stamp ON vault_reads (stamp);"
	/* the proofs the vault asks for, by account and address */
	"CREATE INDEX IF NOT EXISTS authzs_email ON authzs (account, email);"
	"PRAGMA user_version = 3;";

static int db_err(struct sq_store *s, struct ll_error *err, const char *what)
{
	if (s->db != NULL && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_STORE,
			      "%s: out of memory", what);
	return ll_err(err, LL_ESTORE, LL_ECLASS_STORE, "%s: %s", what,
		      s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
}

/* ---- the engine ---- */

static int sq_prep(struct lld_store *base, enum qid q, const struct arg *a,
		   size_t n, struct ll_error *err)
{
	struct sq_store *s = sq(base);
	sqlite3_stmt *st = s->st[q];
	int rc = SQLITE_OK;

	if (st == NULL) {
		if (sqlite3_prepare_v3(s->db, db_queries[q].sql, -1,
				       SQLITE_PREPARE_PERSISTENT, &st,
				       NULL) != SQLITE_OK)
			return db_err(s, err, "preparing a statement");
		s->st[q] = st;
	}
	assert((size_t)sqlite3_bind_parameter_count(st) == n);
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		int k = (int)i + 1;

		switch (a[i].type) {
		case A_INT:
			rc = sqlite3_bind_int64(st, k, a[i].i);
			break;
		case A_TEXT:
			rc = a[i].s == NULL ?
				     sqlite3_bind_null(st, k) :
				     sqlite3_bind_text(st, k, a[i].s, -1,
						       SQLITE_STATIC);
			break;
		case A_BLOB:
			if (a[i].p == NULL)
				rc = sqlite3_bind_null(st, k);
			else if (a[i].n == 0)
				rc = sqlite3_bind_zeroblob(st, k, 0);
			else
				rc = sqlite3_bind_blob64(st, k, a[i].p, a[i].n,
							 SQLITE_STATIC);
			break;
		}
	}
	if (rc != SQLITE_OK) {
		rc = db_err(s, err, "binding a parameter");
		sqlite3_clear_bindings(st);
		return rc;
	}
	return 0;
}

static void sq_reset(struct lld_store *base, enum qid q)
{
	struct sq_store *s = sq(base);

	if (s->st[q] == NULL)
		return;
	sqlite3_reset(s->st[q]);
	sqlite3_clear_bindings(s->st[q]);
}

static int sq_step(struct lld_store *base, enum qid q, struct ll_error *err)
{
	struct sq_store *s = sq(base);
	const char *what = db_queries[q].what;
	int rc;

	switch (sqlite3_step(s->st[q])) {
	case SQLITE_ROW:
		return 1;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		switch (sqlite3_extended_errcode(s->db)) {
		case SQLITE_CONSTRAINT_UNIQUE:
		case SQLITE_CONSTRAINT_PRIMARYKEY:
			rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
				    "%s: already present", what);
			break;
		case SQLITE_CONSTRAINT_FOREIGNKEY:
			rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
				    "%s: a row it refers to does not exist",
				    what);
			break;
		default:
			rc = db_err(s, err, what);
			break;
		}
		break;
	}
	sq_reset(base, q);
	return rc;
}

static int64_t sq_changes(struct lld_store *base)
{
	return sqlite3_changes64(sq(base)->db);
}

static int64_t sq_total_changes(struct lld_store *base)
{
	return sqlite3_total_changes64(sq(base)->db);
}

static int sq_col_null(struct lld_store *base, enum qid q, int i)
{
	return sqlite3_column_type(sq(base)->st[q], i) == SQLITE_NULL;
}

static int64_t sq_col_int(struct lld_store *base, enum qid q, int i)
{
	return sqlite3_column_int64(sq(base)->st[q], i);
}

static const char *sq_col_text(struct lld_store *base, enum qid q, int i)
{
	return (const char *)sqlite3_column_text(sq(base)->st[q], i);
}

static const void *sq_col_blob(struct lld_store *base, enum qid q, int i,
			       size_t *len)
{
	sqlite3_stmt *st = sq(base)->st[q];
	const void *p = sqlite3_column_blob(st, i);

	*len = (size_t)sqlite3_column_bytes(st, i);
	return p;
}

/* SQL without parameters or rows: transactions, the schema. */
static int sq_run(struct sq_store *s, const char *sql, const char *what,
		  struct ll_error *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, err, what);
	return 0;
}

static int sq_begin(struct lld_store *base, struct ll_error *err)
{
	return sq_run(sq(base), "BEGIN IMMEDIATE", "starting a transaction",
		      err);
}

static int sq_commit(struct lld_store *base, struct ll_error *err)
{
	return sq_run(sq(base), "COMMIT", "committing", err);
}

static void sq_rollback(struct lld_store *base)
{
	struct sq_store *s = sq(base);

	if (!sqlite3_get_autocommit(s->db))
		sq_run(s, "ROLLBACK", "rolling back", NULL);
}

static int sq_durable(struct lld_store *base, int full, struct ll_error *err)
{
	return sq_run(sq(base),
		      full ? "PRAGMA synchronous = FULL" :
			     "PRAGMA synchronous = NORMAL",
		      "setting synchronous", err);
}

/* One text value of PRAGMA into BUF. */
static int pragma_text(struct sq_store *s, const char *pragma, char *buf,
		       size_t size, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	const char *t;
	int rc = 0;

	if (sqlite3_prepare_v2(s->db, pragma, -1, &st, NULL) != SQLITE_OK)
		return db_err(s, err, pragma);
	if (sqlite3_step(st) == SQLITE_ROW) {
		t = (const char *)sqlite3_column_text(st, 0);
		snprintf(buf, size, "%s", t != NULL ? t : "");
	} else {
		rc = db_err(s, err, pragma);
	}
	sqlite3_finalize(st);
	return rc;
}

/* PRAGMA data_version: a read of the WAL index under a lock, about
 * 2 us; it changes when another connection commits. */
static int sq_data_version(struct lld_store *base, int64_t *out,
			   struct ll_error *err)
{
	char v[24];
	int rc;

	rc = pragma_text(sq(base), "PRAGMA data_version", v, sizeof(v), err);
	if (rc == 0)
		*out = strtoll(v, NULL, 10);
	return rc;
}

static void sq_close(struct lld_store *base)
{
	struct sq_store *s = sq(base);

	for (size_t i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

static const struct store_ops sqlite_ops = {
	.name = "SQLite",
	.prep = sq_prep,
	.step = sq_step,
	.reset = sq_reset,
	.changes = sq_changes,
	.col_null = sq_col_null,
	.col_int = sq_col_int,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.durable = sq_durable,
	.data_version = sq_data_version,
	.total_changes = sq_total_changes,
	.close = sq_close,
};

/* ---- opening ---- */

/* Create the schema unless it is there, bring an older one up to date;
 * refuse a newer one. */
static int schema_init(struct sq_store *s, struct ll_error *err)
{
	char v[16];
	int rc;

	rc = pragma_text(s, "PRAGMA user_version", v, sizeof(v), err);
	if (rc < 0)
		return rc;
	if (atoi(v) == SCHEMA_VERSION)
		return 0;
	rc = sq_begin(&s->base, err);
	if (rc < 0)
		return rc;
	/* another process may have been first */
	rc = pragma_text(s, "PRAGMA user_version", v, sizeof(v), err);
	if (rc == 0 && atoi(v) == 0)
		rc = sq_run(s, schema, "creating the schema", err);
	else if (rc == 0 && (atoi(v) < 0 || atoi(v) > SCHEMA_VERSION))
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "schema version %s is not %d (another program's "
			    "store, or a newer one)",
			    v, SCHEMA_VERSION);
	/* version 1 (or the one just made) gains the PKX table, with an
	 * entry for every certificate recorded before */
	if (rc == 0 && atoi(v) < 2)
		rc = sq_run(s, pkx_schema, "creating the PKX table", err);
	if (rc == 0 && atoi(v) < 2)
		rc = db_pkx_backfill(&s->base, err);
	if (rc == 0 && atoi(v) < 3)
		rc = sq_run(s, vault_schema, "creating the vault tables", err);
	return db_end(&s->base, rc, err);
}

int db_sqlite_open(struct lld_store **out, const char *path,
		   struct ll_error *err)
{
	struct sq_store *s = NULL;
	struct lld_store *base = NULL;
	char v[16];
	int rc;

	assert(out != NULL && path != NULL);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return db_nomem(err);
	s->base.ops = &sqlite_ops;
	base = &s->base;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = db_err(s, err, path);
		goto out;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	rc = pragma_text(s, "PRAGMA journal_mode = WAL", v, sizeof(v), err);
	if (rc == 0 && strcasecmp(v, "wal") != 0)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "%s: journal mode %s instead of WAL", path, v);
	if (rc == 0)
		rc = sq_run(s,
			    "PRAGMA synchronous = NORMAL;"
			    "PRAGMA foreign_keys = ON;",
			    path, err);
	if (rc == 0)
		rc = pragma_text(s, "PRAGMA foreign_keys", v, sizeof(v), err);
	if (rc == 0 && strcmp(v, "1") != 0)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "SQLite without foreign key support");
	if (rc == 0)
		rc = schema_init(s, err);
	if (rc < 0)
		goto out;
	*out = base;
	base = NULL;
out:
	lld_store_close(&base);
	return rc;
}
