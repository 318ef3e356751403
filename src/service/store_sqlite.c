/*
 * store_sqlite.c - the state store (store.h) in one SQLite database in
 * WAL mode with synchronous=FULL: once a function returned 0 its change
 * survives a crash or a power loss.  Statements are prepared once per
 * handle and take bound parameters only; every change of more than one
 * row runs in one BEGIN IMMEDIATE transaction, rolled back on error.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>


#include "internal.h"
#include "store.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 10000
#define THUMBPRINT_MAX 43

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

enum qid {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_ACCT_ADD,
	Q_ACCT_ID,
	Q_ACCT_GET,
	Q_ACCT_BY_TP,
	Q_ACCT_DEACT,
	Q_ACCT_DEACT_CHALL,
	Q_ACCT_DEACT_AUTHZ,
	Q_ACCT_DEACT_ORDER,
	Q_ACCT_CONTACT,
	Q_ORDER_ADD,
	Q_AUTHZ_ADD,
	Q_CHALL_ADD,
	Q_ORDER_GET,
	Q_ORDER_EXISTS,
	Q_ORDER_MOVE,
	Q_ORDER_CSR,
	Q_ORDERS_PROC,
	Q_ORDERS_OF,
	Q_AUTHZ_GET,
	Q_CHALL_GET,
	Q_CHALL_BY_T1,
	Q_CHALL_EXISTS,
	Q_CHALL_WANT,
	Q_CHALL_TO_SEND,
	Q_CHALL_SENT,
	Q_CHALL_RESPOND,
	Q_SETTLE_STATE,
	Q_SETTLE_CHALL,
	Q_SETTLE_AUTHZ,
	Q_SETTLE_ORDER,
	Q_CERT_ORDER,
	Q_CERT_ADD,
	Q_CERT_ORDER_DONE,
	Q_CERT_GET,
	Q_CERT_EXISTS,
	Q_CERT_REVOKE,
	Q_REVOKED,
	Q_BLOB_PUT,
	Q_BLOB_GET,
	Q_COUNT
};

#define ACCT_COLS                                              \
	"SELECT id, status, thumbprint, jwk, contact, created" \
	" FROM accounts"
#define CHALL_COLS                                                    \
	"SELECT c.id, c.authz, c.status, c.token1, c.token2,"         \
	" o.email, acc.thumbprint, c.created, c.send_wanted, c.sent," \
	" c.validated, c.msgid, c.error FROM challenges c"            \
	" JOIN authzs a ON a.id = c.authz"                            \
	" JOIN orders o ON o.id = a.order_id"                         \
	" JOIN accounts acc ON acc.id = o.account"

static const char *const sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_ACCT_ADD] = "INSERT INTO accounts"
		       " (status, thumbprint, jwk, contact, created)"
		       " VALUES ('valid', ?1, ?2, ?3, ?4)",
	[Q_ACCT_ID] = "SELECT id FROM accounts WHERE thumbprint = ?1",
	[Q_ACCT_GET] = ACCT_COLS " WHERE id = ?1",
	[Q_ACCT_BY_TP] = ACCT_COLS " WHERE thumbprint = ?1",
	[Q_ACCT_DEACT] = "UPDATE accounts SET status = 'deactivated'"
			 " WHERE id = ?1",
	[Q_ACCT_DEACT_CHALL] = "UPDATE challenges SET status = 'invalid'"
			       " WHERE status IN ('pending', 'processing')"
			       " AND authz IN (SELECT id FROM authzs"
			       " WHERE account = ?1 AND status = 'pending')",
	[Q_ACCT_DEACT_AUTHZ] = "UPDATE authzs SET status = 'deactivated'"
			       " WHERE account = ?1 AND status = 'pending'",
	[Q_ACCT_DEACT_ORDER] = "UPDATE orders SET status = 'invalid'"
			       " WHERE account = ?1"
			       " AND status IN ('pending', 'ready')",
	[Q_ACCT_CONTACT] = "UPDATE accounts SET contact = ?2 WHERE id = ?1",
	[Q_ORDER_ADD] = "INSERT INTO orders"
			" (account, email, status, created, expires)"
			" VALUES (?1, ?2, 'pending', ?3, ?4)",
	[Q_AUTHZ_ADD] = "INSERT INTO authzs"
			" (order_id, account, email, status, expires)"
			" VALUES (?1, ?2, ?3, 'pending', ?4)",
	[Q_CHALL_ADD] = "INSERT INTO challenges"
			" (authz, status, token1, token2, created)"
			" VALUES (?1, 'pending', ?2, ?3, ?4)",
	[Q_ORDER_GET] = "SELECT o.id, o.account, a.id, o.email, o.status,"
			" o.created, o.expires, o.serial, o.error"
			" FROM orders o LEFT JOIN authzs a ON a.order_id = o.id"
			" WHERE o.id = ?1",
	[Q_ORDER_EXISTS] = "SELECT status FROM orders WHERE id = ?1",
	[Q_ORDER_MOVE] = "UPDATE orders SET status = ?3,"
			 " csr = coalesce(?4, csr), error = coalesce(?5, error)"
			 " WHERE id = ?1 AND status = ?2",
	[Q_ORDER_CSR] = "SELECT csr FROM orders WHERE id = ?1",
	[Q_ORDERS_PROC] = "SELECT id FROM orders WHERE status = 'processing'"
			  " ORDER BY id LIMIT ?1",
	[Q_ORDERS_OF] = "SELECT id FROM orders WHERE account = ?2"
			" ORDER BY id DESC LIMIT ?1",
	[Q_AUTHZ_GET] = "SELECT a.id, a.order_id, a.account, c.id, a.email,"
			" a.status, a.expires FROM authzs a"
			" LEFT JOIN challenges c ON c.authz = a.id"
			" WHERE a.id = ?1",
	[Q_CHALL_GET] = CHALL_COLS " WHERE c.id = ?1",
	[Q_CHALL_BY_T1] = CHALL_COLS " WHERE c.token1 = ?1",
	[Q_CHALL_EXISTS] = "SELECT status FROM challenges WHERE id = ?1",
	[Q_CHALL_WANT] = "UPDATE challenges SET send_wanted = 1 WHERE id = ?1",
	[Q_CHALL_TO_SEND] = "SELECT id FROM challenges"
			    " WHERE send_wanted = 1 AND sent = 0"
			    " AND status IN ('pending', 'processing')"
			    " ORDER BY id LIMIT ?1",
	[Q_CHALL_SENT] = "UPDATE challenges SET sent = ?2, msgid = ?3"
			 " WHERE id = ?1",
	[Q_CHALL_RESPOND] = "UPDATE challenges SET status = 'processing'"
			    " WHERE id = ?1 AND status = 'pending'",
	[Q_SETTLE_STATE] = "SELECT c.status, a.id, a.status, o.id, o.status"
			   " FROM challenges c"
			   " JOIN authzs a ON a.id = c.authz"
			   " JOIN orders o ON o.id = a.order_id"
			   " WHERE c.id = ?1",
	[Q_SETTLE_CHALL] = "UPDATE challenges SET status = ?2,"
			   " validated = ?3, error = coalesce(?4, error)"
			   " WHERE id = ?1",
	[Q_SETTLE_AUTHZ] = "UPDATE authzs SET status = ?2 WHERE id = ?1",
	[Q_SETTLE_ORDER] = "UPDATE orders SET status = ?2,"
			   " error = coalesce(?3, error) WHERE id = ?1",
	[Q_CERT_ORDER] = "SELECT account, status FROM orders WHERE id = ?1",
	[Q_CERT_ADD] = "INSERT INTO certs (serial, order_id, account, email,"
		       " der, not_before, not_after)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_CERT_ORDER_DONE] = "UPDATE orders SET status = 'valid', serial = ?2"
			      " WHERE id = ?1 AND status = 'processing'",
	[Q_CERT_GET] = "SELECT serial, order_id, account, email, der,"
		       " not_before, not_after, revoked, reason"
		       " FROM certs WHERE serial = ?1",
	[Q_CERT_EXISTS] = "SELECT revoked FROM certs WHERE serial = ?1",
	[Q_CERT_REVOKE] = "UPDATE certs SET revoked = ?2, reason = ?3"
			  " WHERE serial = ?1 AND revoked = 0",
	[Q_REVOKED] = "SELECT serial, revoked, reason FROM certs"
		      " WHERE revoked <> 0 AND not_after >= ?1"
		      " ORDER BY revoked, serial",
	[Q_BLOB_PUT] = "INSERT INTO blobs (name, data, stamp)"
		       " VALUES (?1, ?2, ?3) ON CONFLICT (name)"
		       " DO UPDATE SET data = excluded.data,"
		       " stamp = excluded.stamp",
	[Q_BLOB_GET] = "SELECT data, stamp FROM blobs WHERE name = ?1",
};

struct lld_store {
	sqlite3 *db;
	sqlite3_stmt *st[Q_COUNT]; /* prepared on first use */
};

/* One bound parameter. */
enum argtype {
	A_INT,
	A_TEXT,
	A_BLOB
};
struct arg {
	enum argtype type;
	int64_t i;
	const char *s; /* NULL binds NULL */
	const void *p; /* NULL binds NULL */
	size_t n;
};

/* clang-format off */
#define AI(v) { .type = A_INT, .i = (int64_t)(v) }
#define AT(v) { .type = A_TEXT, .s = (v) }
#define AB(v, len) { .type = A_BLOB, .p = (v), .n = (len) }
#define ARGS(...)                                             \
	(const struct arg[]){ __VA_ARGS__ },                  \
		sizeof((const struct arg[]){ __VA_ARGS__ }) / \
			sizeof(struct arg)
/* clang-format on */

static int db_err(struct lld_store *s, struct ll_error *err, const char *what)
{
	if (s->db != NULL && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_STORE,
			      "%s: out of memory", what);
	return ll_err(err, LL_ESTORE, LL_ECLASS_STORE, "%s: %s", what,
		      s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
}

static int too_long(const char *v, size_t max, const char *what,
		    struct ll_error *err)
{
	if (v != NULL && strlen(v) > max)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "%s longer than %zu octets", what, max);
	return 0;
}

/* Statement Q with the parameters A[0..N) bound, into *out. */
static int prep(struct lld_store *s, enum qid q, sqlite3_stmt **out,
		const struct arg *a, size_t n, struct ll_error *err)
{
	sqlite3_stmt *st = s->st[q];
	int rc = SQLITE_OK;

	if (st == NULL) {
		if (sqlite3_prepare_v3(s->db, sql[q], -1,
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
	*out = st;
	return 0;
}

/* Make ST ready for its next use; NULL-safe. */
static void done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run ST to its end.  A unique key taken is LL_EEXIST, a missing row
 * referred to LL_ENOTFOUND. */
static int run(struct lld_store *s, sqlite3_stmt *st, const char *what,
	       struct ll_error *err)
{
	int rc = 0;

	if (sqlite3_step(st) != SQLITE_DONE) {
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
	}
	done(st);
	return rc;
}

/* Statement Q with its parameters, run to its end. */
#define EXEC(s, q, what, err, ...) \
	exec_q((s), (q), ARGS(__VA_ARGS__), (what), (err))

static int exec_q(struct lld_store *s, enum qid q, const struct arg *a,
		  size_t n, const char *what, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prep(s, q, &st, a, n, err);
	if (rc < 0)
		return rc;
	return run(s, st, what, err);
}

/* The next row of ST: 1 with a row, 0 at the end (ST reset), or an
 * error (ST reset). */
static int row(struct lld_store *s, sqlite3_stmt *st, const char *what,
	       struct ll_error *err)
{
	int rc;

	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		return 1;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		rc = db_err(s, err, what);
		break;
	}
	done(st);
	return rc;
}

/* Column I of ST into BUF of SIZE bytes, NUL-terminated, cut to fit. */
static void col_copy(char *buf, size_t size, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	size_t n = t != NULL ? strlen(t) : 0;

	if (n >= size)
		n = size - 1;
	if (n > 0)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

static int col_strdup(char **out, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	*out = strdup(t != NULL ? t : "");
	return *out != NULL ? 0 : LL_ENOMEM;
}

/* Column I of ST as a blob, malloc'd (one byte at least). */
static int col_blob(unsigned char **out, size_t *len, sqlite3_stmt *st, int i)
{
	const void *p = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	*out = malloc(n > 0 ? n : 1);
	if (*out == NULL)
		return LL_ENOMEM;
	if (n > 0)
		memcpy(*out, p, n);
	*len = n;
	return 0;
}

static time_t col_time(sqlite3_stmt *st, int i)
{
	return (time_t)sqlite3_column_int64(st, i);
}

static int nomem(struct ll_error *err)
{
	return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
}

/* ---- transactions ---- */

static int tx_begin(struct lld_store *s, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prep(s, Q_BEGIN, &st, NULL, 0, err);
	if (rc < 0)
		return rc;
	return run(s, st, "starting a transaction", err);
}

/* Commit if RC is 0, else roll back; returns RC or the commit's error. */
static int tx_end(struct lld_store *s, int rc, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;

	if (rc == 0) {
		rc = prep(s, Q_COMMIT, &st, NULL, 0, err);
		if (rc == 0)
			rc = run(s, st, "committing", err);
	}
	if (rc < 0 && !sqlite3_get_autocommit(s->db) &&
	    prep(s, Q_ROLLBACK, &st, NULL, 0, NULL) == 0)
		run(s, st, "rolling back", NULL);
	return rc;
}

/* ---- opening ---- */

static int pragma_text(struct lld_store *s, const char *pragma, char *buf,
		       size_t size, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(s->db, pragma, -1, &st, NULL) != SQLITE_OK)
		return db_err(s, err, pragma);
	if (sqlite3_step(st) == SQLITE_ROW)
		col_copy(buf, size, st, 0);
	else
		rc = db_err(s, err, pragma);
	sqlite3_finalize(st);
	return rc;
}

/* Create the schema unless it is there; refuse a newer one. */
static int schema_init(struct lld_store *s, struct ll_error *err)
{
	char v[16];
	int rc;

	rc = pragma_text(s, "PRAGMA user_version", v, sizeof(v), err);
	if (rc < 0)
		return rc;
	if (atoi(v) == SCHEMA_VERSION)
		return 0;
	rc = tx_begin(s, err);
	if (rc < 0)
		return rc;
	/* another process may have been first */
	rc = pragma_text(s, "PRAGMA user_version", v, sizeof(v), err);
	if (rc == 0 && atoi(v) == 0 &&
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		rc = db_err(s, err, "creating the schema");
	else if (rc == 0 && atoi(v) != 0 && atoi(v) != SCHEMA_VERSION)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "schema version %s is not %d (another program's "
			    "store, or a newer one)",
			    v, SCHEMA_VERSION);
	return tx_end(s, rc, err);
}

int lld_store_open(struct lld_store **out, const char *path,
		   struct ll_error *err)
{
	struct lld_store *s = NULL;
	char v[16];
	int rc;

	assert(out != NULL && path != NULL);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return nomem(err);
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
	if (rc < 0)
		goto out;
	if (sqlite3_exec(s->db,
			 "PRAGMA synchronous = FULL;"
			 "PRAGMA foreign_keys = ON;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_err(s, err, path);
		goto out;
	}
	rc = pragma_text(s, "PRAGMA foreign_keys", v, sizeof(v), err);
	if (rc == 0 && strcmp(v, "1") != 0)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "SQLite without foreign key support");
	if (rc < 0)
		goto out;
	rc = schema_init(s, err);
	if (rc < 0)
		goto out;
	*out = s;
	s = NULL;
out:
	lld_store_close(&s);
	return rc;
}

void lld_store_close(struct lld_store **pp)
{
	struct lld_store *s;

	if (pp == NULL || *pp == NULL)
		return;
	s = *pp;
	*pp = NULL;
	for (size_t i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

/* ---- accounts ---- */

void lld_account_clear(struct lld_account *a)
{
	if (a == NULL)
		return;
	free(a->jwk);
	free(a->contact);
	memset(a, 0, sizeof(*a));
}

int lld_store_account_add(struct lld_store *s, const char *thumbprint,
			  const char *jwk, const char *contact, time_t now,
			  int64_t *id, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(thumbprint != NULL && jwk != NULL);
	rc = too_long(thumbprint, THUMBPRINT_MAX, "thumbprint", err);
	if (rc < 0)
		return rc;
	rc = EXEC(s, Q_ACCT_ADD, "adding an account", err, AT(thumbprint),
		  AT(jwk), AT(contact != NULL ? contact : "[]"), AI(now));
	if (rc == 0) {
		if (id != NULL)
			*id = sqlite3_last_insert_rowid(s->db);
		return 0;
	}
	if (rc != LL_EEXIST || id == NULL)
		return rc;
	/* rows are never deleted: the one holding the key is still there */
	rc = prep(s, Q_ACCT_ID, &st, ARGS(AT(thumbprint)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, "finding an account", err);
	if (rc == 1)
		*id = sqlite3_column_int64(st, 0);
	done(st);
	if (rc < 0)
		return rc;
	return ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
		      "an account with this key exists");
}

static int account_read(struct lld_store *s, sqlite3_stmt *st,
			struct lld_account *out, struct ll_error *err)
{
	int rc;

	rc = row(s, st, "reading an account", err);
	if (rc == 0)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no such account");
	if (rc < 0)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	col_copy(out->status, sizeof(out->status), st, 1);
	col_copy(out->thumbprint, sizeof(out->thumbprint), st, 2);
	out->created = col_time(st, 5);
	if (col_strdup(&out->jwk, st, 3) < 0 ||
	    col_strdup(&out->contact, st, 4) < 0) {
		lld_account_clear(out);
		rc = nomem(err);
	} else {
		rc = 0;
	}
	done(st);
	return rc;
}

int lld_store_account_get(struct lld_store *s, int64_t id,
			  struct lld_account *out, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_ACCT_GET, &st, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	return account_read(s, st, out, err);
}

int lld_store_account_by_thumbprint(struct lld_store *s, const char *thumbprint,
				    struct lld_account *out,
				    struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(thumbprint != NULL);
	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_ACCT_BY_TP, &st, ARGS(AT(thumbprint)), err);
	if (rc < 0)
		return rc;
	return account_read(s, st, out, err);
}

int lld_store_account_deactivate(struct lld_store *s, int64_t id,
				 struct ll_error *err)
{
	int rc;

	rc = tx_begin(s, err);
	if (rc < 0)
		return rc;
	rc = EXEC(s, Q_ACCT_DEACT, "deactivating an account", err, AI(id));
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no account %lld", (long long)id);
	/* challenges first: they are found through pending authorizations */
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_CHALL, "invalidating challenges", err,
			  AI(id));
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_AUTHZ, "deactivating authorizations",
			  err, AI(id));
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_ORDER, "invalidating orders", err,
			  AI(id));
	return tx_end(s, rc, err);
}

int lld_store_account_set_contact(struct lld_store *s, int64_t id,
				  const char *contact, struct ll_error *err)
{
	int rc;

	rc = EXEC(s, Q_ACCT_CONTACT, "updating contacts", err, AI(id),
		  AT(contact != NULL ? contact : "[]"));
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no account %lld", (long long)id);
	return rc;
}

/* ---- orders, authorizations, challenges ---- */

int lld_store_order_new(struct lld_store *s, int64_t account, const char *email,
			const char *token1, const char *token2, time_t now,
			time_t expires, struct lld_order *out,
			struct ll_error *err)
{
	int64_t order = 0, authz = 0;
	int rc;

	assert(email != NULL && token1 != NULL && token2 != NULL);
	rc = too_long(email, LLD_EMAIL_MAX, "address", err);
	if (rc == 0)
		rc = too_long(token1, LLD_TOKEN_MAX, "token part 1", err);
	if (rc == 0)
		rc = too_long(token2, LLD_TOKEN_MAX, "token part 2", err);
	if (rc < 0)
		return rc;
	rc = tx_begin(s, err);
	if (rc < 0)
		return rc;
	rc = EXEC(s, Q_ORDER_ADD, "adding an order", err, AI(account),
		  AT(email), AI(now), AI(expires));
	if (rc == 0) {
		order = sqlite3_last_insert_rowid(s->db);
		rc = EXEC(s, Q_AUTHZ_ADD, "adding an authorization", err,
			  AI(order), AI(account), AT(email), AI(expires));
	}
	if (rc == 0) {
		authz = sqlite3_last_insert_rowid(s->db);
		rc = EXEC(s, Q_CHALL_ADD, "adding a challenge", err, AI(authz),
			  AT(token1), AT(token2), AI(now));
	}
	rc = tx_end(s, rc, err);
	if (rc < 0 || out == NULL)
		return rc;
	memset(out, 0, sizeof(*out));
	out->id = order;
	out->account = account;
	out->authz = authz;
	memcpy(out->email, email, strlen(email) + 1);
	memcpy(out->status, "pending", sizeof("pending"));
	out->created = now;
	out->expires = expires;
	return 0;
}

int lld_store_order_get(struct lld_store *s, int64_t id, struct lld_order *out,
			struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_ORDER_GET, &st, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, "reading an order", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no order %lld", (long long)id);
	if (rc < 0)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	out->account = sqlite3_column_int64(st, 1);
	out->authz = sqlite3_column_int64(st, 2);
	col_copy(out->email, sizeof(out->email), st, 3);
	col_copy(out->status, sizeof(out->status), st, 4);
	out->created = col_time(st, 5);
	out->expires = col_time(st, 6);
	col_copy(out->serial, sizeof(out->serial), st, 7);
	col_copy(out->error, sizeof(out->error), st, 8);
	done(st);
	return 0;
}

/* After a compare-and-set changed nothing: LL_ENOTFOUND if row ID of
 * the EXISTS query Q is missing, else LL_EEXIST. */
static int cas_failed(struct lld_store *s, enum qid q, int64_t id,
		      const char *what, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prep(s, q, &st, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, what, err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE, "no %s %lld",
			      what, (long long)id);
	if (rc == 1) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE, "%s %lld is %s",
			    what, (long long)id, t != NULL ? t : "changed");
	}
	done(st);
	return rc;
}

int lld_store_order_move(struct lld_store *s, int64_t id, const char *from,
			 const char *to, const unsigned char *csr,
			 size_t csrlen, const char *error, struct ll_error *err)
{
	int rc;

	assert(from != NULL && to != NULL);
	rc = too_long(to, LLD_STATUS_MAX, "status", err);
	if (rc == 0)
		rc = too_long(error, LLD_PROBLEM_MAX, "problem", err);
	if (rc < 0)
		return rc;
	rc = EXEC(s, Q_ORDER_MOVE, "moving an order", err, AI(id), AT(from),
		  AT(to), AB(csr, csrlen), AT(error));
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = cas_failed(s, Q_ORDER_EXISTS, id, "order", err);
	return rc;
}

int lld_store_order_csr(struct lld_store *s, int64_t id, unsigned char **csr,
			size_t *len, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*csr = NULL;
	*len = 0;
	rc = prep(s, Q_ORDER_CSR, &st, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, "reading a CSR", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no order %lld", (long long)id);
	if (rc < 0)
		return rc;
	if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "order %lld has no CSR", (long long)id);
	else if (col_blob(csr, len, st, 0) < 0)
		rc = nomem(err);
	else
		rc = 0;
	done(st);
	return rc;
}

/* The first column of Q's rows, at most MAX, into IDS. */
/* Q's ids into IDS; ?1 of Q is the limit, ?2 (when Q has it) KEY. */
static int list_ids(struct lld_store *s, enum qid q, int64_t key,
		    int64_t *ids, size_t max, size_t *n, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t)max;
	int rc;

	*n = 0;
	if (q == Q_ORDERS_OF)
		rc = prep(s, q, &st, ARGS(AI(limit), AI(key)), err);
	else
		rc = prep(s, q, &st, ARGS(AI(limit)), err);
	if (rc < 0)
		return rc;
	while (*n < max && (rc = row(s, st, "listing", err)) == 1)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	done(st);
	return rc < 0 ? rc : 0;
}

int lld_store_orders_processing(struct lld_store *s, int64_t *ids, size_t max,
				size_t *n, struct ll_error *err)
{
	return list_ids(s, Q_ORDERS_PROC, 0, ids, max, n, err);
}

int lld_store_orders_of(struct lld_store *s, int64_t account, int64_t *ids,
			size_t max, size_t *n, struct ll_error *err)
{
	return list_ids(s, Q_ORDERS_OF, account, ids, max, n, err);
}

int lld_store_authz_get(struct lld_store *s, int64_t id, struct lld_authz *out,
			struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_AUTHZ_GET, &st, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, "reading an authorization", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no authorization %lld", (long long)id);
	if (rc < 0)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	out->order = sqlite3_column_int64(st, 1);
	out->account = sqlite3_column_int64(st, 2);
	out->chall = sqlite3_column_int64(st, 3);
	col_copy(out->email, sizeof(out->email), st, 4);
	col_copy(out->status, sizeof(out->status), st, 5);
	out->expires = col_time(st, 6);
	done(st);
	return 0;
}

static int chall_read(struct lld_store *s, sqlite3_stmt *st,
		      struct lld_chall *out, struct ll_error *err)
{
	int rc;

	rc = row(s, st, "reading a challenge", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no such challenge");
	if (rc < 0)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	out->authz = sqlite3_column_int64(st, 1);
	col_copy(out->status, sizeof(out->status), st, 2);
	col_copy(out->token1, sizeof(out->token1), st, 3);
	col_copy(out->token2, sizeof(out->token2), st, 4);
	col_copy(out->email, sizeof(out->email), st, 5);
	col_copy(out->thumbprint, sizeof(out->thumbprint), st, 6);
	out->created = col_time(st, 7);
	out->send_wanted = sqlite3_column_int(st, 8) != 0;
	out->sent = col_time(st, 9);
	out->validated = col_time(st, 10);
	col_copy(out->msgid, sizeof(out->msgid), st, 11);
	col_copy(out->error, sizeof(out->error), st, 12);
	done(st);
	return 0;
}

int lld_store_chall_get(struct lld_store *s, int64_t id, struct lld_chall *out,
			struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_CHALL_GET, &st, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	return chall_read(s, st, out, err);
}

int lld_store_chall_by_token1(struct lld_store *s, const char *token1,
			      struct lld_chall *out, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(token1 != NULL);
	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_CHALL_BY_T1, &st, ARGS(AT(token1)), err);
	if (rc < 0)
		return rc;
	return chall_read(s, st, out, err);
}

int lld_store_chall_want_send(struct lld_store *s, int64_t id,
			      struct ll_error *err)
{
	int rc;

	rc = EXEC(s, Q_CHALL_WANT, "asking for a challenge mail", err, AI(id));
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no challenge %lld", (long long)id);
	return rc;
}

int lld_store_chall_to_send(struct lld_store *s, int64_t *ids, size_t max,
			    size_t *n, struct ll_error *err)
{
	return list_ids(s, Q_CHALL_TO_SEND, 0, ids, max, n, err);
}

int lld_store_chall_sent(struct lld_store *s, int64_t id, const char *msgid,
			 time_t when, struct ll_error *err)
{
	int rc;

	assert(msgid != NULL);
	rc = too_long(msgid, LLD_MSGID_MAX, "Message-ID", err);
	if (rc < 0)
		return rc;
	rc = EXEC(s, Q_CHALL_SENT, "recording a challenge mail", err, AI(id),
		  AI(when), AT(msgid));
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no challenge %lld", (long long)id);
	return rc;
}

int lld_store_chall_respond(struct lld_store *s, int64_t id,
			    struct ll_error *err)
{
	int rc;

	rc = EXEC(s, Q_CHALL_RESPOND, "responding to a challenge", err, AI(id));
	if (rc == 0 && sqlite3_changes(s->db) != 1) {
		rc = cas_failed(s, Q_CHALL_EXISTS, id, "challenge", err);
		if (rc == LL_EEXIST) {
			/* in another status: left as it is */
			ll_error_clear(err);
			rc = 0;
		}
	}
	return rc;
}

static int is(sqlite3_stmt *st, int i, const char *status)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return t != NULL && strcmp(t, status) == 0;
}

int lld_store_chall_settle(struct lld_store *s, int64_t id, int valid,
			   const char *error, time_t now, struct ll_error *err)
{
	const char *status = valid ? "valid" : "invalid";
	const char *problem = valid ? NULL : error;
	sqlite3_stmt *st = NULL;
	int64_t authz = 0, order = 0;
	int rc;

	rc = too_long(problem, LLD_PROBLEM_MAX, "problem", err);
	if (rc < 0)
		return rc;
	rc = tx_begin(s, err);
	if (rc < 0)
		return rc;
	rc = prep(s, Q_SETTLE_STATE, &st, ARGS(AI(id)), err);
	if (rc == 0)
		rc = row(s, st, "reading a challenge", err);
	if (rc == 0)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no challenge %lld", (long long)id);
	if (rc == 1) {
		/* the write lock is held: nobody moves them meanwhile */
		if ((is(st, 0, "pending") || is(st, 0, "processing")) &&
		    is(st, 2, "pending") && is(st, 4, "pending"))
			rc = 0;
		else
			rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
				    "challenge %lld is settled already",
				    (long long)id);
		authz = sqlite3_column_int64(st, 1);
		order = sqlite3_column_int64(st, 3);
		done(st);
	}
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_CHALL, "settling a challenge", err,
			  AI(id), AT(status), AI(valid ? now : 0), AT(problem));
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_AUTHZ, "settling an authorization", err,
			  AI(authz), AT(status));
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_ORDER, "settling an order", err,
			  AI(order), AT(valid ? "ready" : "invalid"),
			  AT(problem));
	return tx_end(s, rc, err);
}

/* ---- certificates ---- */

void lld_certrow_clear(struct lld_certrow *c)
{
	if (c == NULL)
		return;
	free(c->der);
	memset(c, 0, sizeof(*c));
}

int lld_store_cert_add(struct lld_store *s, int64_t order, const char *serial,
		       const char *email, const unsigned char *der,
		       size_t derlen, time_t not_before, time_t not_after,
		       struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t account = 0;
	int rc;

	assert(serial != NULL && email != NULL && der != NULL);
	rc = too_long(serial, LLD_SERIAL_MAX, "serial number", err);
	if (rc == 0)
		rc = too_long(email, LLD_EMAIL_MAX, "address", err);
	if (rc < 0)
		return rc;
	rc = tx_begin(s, err);
	if (rc < 0)
		return rc;
	rc = prep(s, Q_CERT_ORDER, &st, ARGS(AI(order)), err);
	if (rc == 0)
		rc = row(s, st, "reading an order", err);
	if (rc == 0)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE, "no order %lld",
			    (long long)order);
	if (rc == 1) {
		account = sqlite3_column_int64(st, 0);
		rc = is(st, 1, "processing") ?
			     0 :
			     ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
				    "order %lld is not processing",
				    (long long)order);
		done(st);
	}
	if (rc == 0)
		rc = EXEC(s, Q_CERT_ADD, "adding a certificate", err,
			  AT(serial), AI(order), AI(account), AT(email),
			  AB(der, derlen), AI(not_before), AI(not_after));
	if (rc == 0)
		rc = EXEC(s, Q_CERT_ORDER_DONE, "completing an order", err,
			  AI(order), AT(serial));
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "order %lld changed under a write lock",
			    (long long)order);
	return tx_end(s, rc, err);
}

int lld_store_cert_get(struct lld_store *s, const char *serial,
		       struct lld_certrow *out, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(serial != NULL);
	memset(out, 0, sizeof(*out));
	rc = prep(s, Q_CERT_GET, &st, ARGS(AT(serial)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, "reading a certificate", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no certificate with serial number %s", serial);
	if (rc < 0)
		return rc;
	col_copy(out->serial, sizeof(out->serial), st, 0);
	out->order = sqlite3_column_int64(st, 1);
	out->account = sqlite3_column_int64(st, 2);
	col_copy(out->email, sizeof(out->email), st, 3);
	out->not_before = col_time(st, 5);
	out->not_after = col_time(st, 6);
	out->revoked = col_time(st, 7);
	out->reason = sqlite3_column_int(st, 8);
	rc = col_blob(&out->der, &out->derlen, st, 4) < 0 ? nomem(err) : 0;
	done(st);
	return rc;
}

int lld_store_cert_revoke(struct lld_store *s, const char *serial, time_t when,
			  int reason, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(serial != NULL);
	if (when <= 0) /* 0 means "not revoked" */
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "revocation time before 1970");
	rc = EXEC(s, Q_CERT_REVOKE, "revoking a certificate", err, AT(serial),
		  AI(when), AI(reason));
	if (rc < 0 || sqlite3_changes(s->db) == 1)
		return rc;
	rc = prep(s, Q_CERT_EXISTS, &st, ARGS(AT(serial)), err);
	if (rc == 0)
		rc = row(s, st, "reading a certificate", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no certificate with serial number %s", serial);
	if (rc == 1) {
		done(st);
		rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
			    "certificate %s is revoked already", serial);
	}
	return rc;
}

int lld_store_revoked(struct lld_store *s, time_t now, struct lld_revoked **out,
		      size_t *n, struct ll_error *err)
{
	struct lld_revoked *v = NULL, *nv;
	sqlite3_stmt *st = NULL;
	size_t count = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = prep(s, Q_REVOKED, &st, ARGS(AI(now)), err);
	if (rc < 0)
		return rc;
	while ((rc = row(s, st, "listing revocations", err)) == 1) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			nv = reallocarray(v, cap, sizeof(*v));
			if (nv == NULL) {
				rc = nomem(err);
				break;
			}
			v = nv;
		}
		col_copy(v[count].serial, sizeof(v[count].serial), st, 0);
		v[count].when = col_time(st, 1);
		v[count].reason = sqlite3_column_int(st, 2);
		count++;
	}
	done(st);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*n = count;
	return 0;
}

/* ---- named blobs ---- */

int lld_store_blob_put(struct lld_store *s, const char *name,
		       const unsigned char *data, size_t len, time_t when,
		       struct ll_error *err)
{
	assert(name != NULL && (data != NULL || len == 0));
	return EXEC(s, Q_BLOB_PUT, "storing a blob", err, AT(name),
		    AB(data != NULL ? (const void *)data : "", len), AI(when));
}

int lld_store_blob_get(struct lld_store *s, const char *name,
		       unsigned char **data, size_t *len, time_t *when,
		       struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(name != NULL);
	*data = NULL;
	*len = 0;
	rc = prep(s, Q_BLOB_GET, &st, ARGS(AT(name)), err);
	if (rc < 0)
		return rc;
	rc = row(s, st, "reading a blob", err);
	if (rc == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "no blob named %s", name);
	if (rc < 0)
		return rc;
	if (when != NULL)
		*when = col_time(st, 1);
	rc = col_blob(data, len, st, 0) < 0 ? nomem(err) : 0;
	done(st);
	return rc;
}
