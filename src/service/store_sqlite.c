/*
 * store_sqlite.c - the state store (store.h) in one SQLite database in
 * WAL mode.  Every change survives a crash of the process (kill -9) once
 * its function returned 0.  Against power loss: synchronous=NORMAL, so
 * the last changes before it may roll back - orders, challenges and
 * certificate records, which recover (the keyholder's journal, fsync'd,
 * returns the certificate already signed for an order) - but the changes
 * that must never silently undo, revocations and account deactivations,
 * are written with synchronous=FULL (sq_durable).  Statements are prepared once per
 * handle and take bound parameters only; every change of more than one
 * row runs in one BEGIN IMMEDIATE transaction, rolled back on error.
 *
 * This file: opening, the schema, the statement set and the helpers
 * that run it (store_sqlite.h); the rows themselves are read and
 * written in store_sqlite_acme.c, store_sqlite_certs.c and
 * store_sqlite_pkx.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "internal.h"
#include "store_sqlite.h"

#define SCHEMA_VERSION 3 /* 2: the PKX table (store_sqlite_pkx.c);
			    3: the vault (store_sqlite_vault.c) */
#define BUSY_TIMEOUT_MS 10000

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

/* A PKX entry (struct lld_pkxrow): our certificates keep their DER and
 * revocation in certs. */
#define PKX_COLS                                                         \
	"SELECT p.fpr, p.email, p.account, p.order_id,"                  \
	" coalesce(p.serial, ''), coalesce(p.der, c.der), p.not_before," \
	" p.not_after, p.published, coalesce(c.revoked, 0),"             \
	" coalesce(p.caps, '') FROM pkx p"                               \
	" LEFT JOIN certs c ON c.serial = p.serial"
/* valid at NOW (notAfter is its last second, RFC 5280), not revoked */
#define PKX_CURRENT(now)                                   \
	"p.not_before <= " now " AND p.not_after >= " now \
	" AND coalesce(c.revoked, 0) = 0"

/* The statement set: SQL, what it does, the noun of the row ?1 names. */
struct query {
	const char *sql;
	const char *what;
	const char *noun;
};

static const struct query queries[Q_COUNT] = {
	[Q_BEGIN] = { "BEGIN IMMEDIATE", "starting a transaction", NULL },
	[Q_COMMIT] = { "COMMIT", "committing", NULL },
	[Q_ROLLBACK] = { "ROLLBACK", "rolling back", NULL },
	[Q_ACCT_ADD] = { "INSERT INTO accounts"
			 " (status, thumbprint, jwk, contact, created)"
			 " VALUES ('valid', ?1, ?2, ?3, ?4)",
			 "adding an account", NULL },
	[Q_ACCT_ID] = { "SELECT id FROM accounts WHERE thumbprint = ?1",
			"finding an account", "account with thumbprint" },
	[Q_ACCT_GET] = { ACCT_COLS " WHERE id = ?1", "reading an account",
			 "account" },
	[Q_ACCT_BY_TP] = { ACCT_COLS " WHERE thumbprint = ?1",
			   "reading an account", "account with thumbprint" },
	[Q_ACCT_DEACT] = { "UPDATE accounts SET status = 'deactivated'"
			   " WHERE id = ?1",
			   "deactivating an account", "account" },
	[Q_ACCT_DEACT_CHALL] = { "UPDATE challenges SET status = 'invalid'"
				 " WHERE status IN ('pending', 'processing')"
				 " AND authz IN (SELECT id FROM authzs"
				 " WHERE account = ?1 AND status = 'pending')",
				 "invalidating challenges", NULL },
	[Q_ACCT_DEACT_AUTHZ] = { "UPDATE authzs SET status = 'deactivated'"
				 " WHERE account = ?1 AND status = 'pending'",
				 "deactivating authorizations", NULL },
	[Q_ACCT_DEACT_ORDER] = { "UPDATE orders SET status = 'invalid'"
				 " WHERE account = ?1"
				 " AND status IN ('pending', 'ready')",
				 "invalidating orders", NULL },
	[Q_ACCT_CONTACT] = { "UPDATE accounts SET contact = ?2 WHERE id = ?1",
			     "updating contacts", "account" },
	[Q_ORDER_ADD] = { "INSERT INTO orders"
			  " (account, email, status, created, expires)"
			  " VALUES (?1, ?2, 'pending', ?3, ?4)",
			  "adding an order", NULL },
	[Q_AUTHZ_ADD] = { "INSERT INTO authzs"
			  " (order_id, account, email, status, expires)"
			  " VALUES (?1, ?2, ?3, 'pending', ?4)",
			  "adding an authorization", NULL },
	[Q_CHALL_ADD] = { "INSERT INTO challenges"
			  " (authz, status, token1, token2, created)"
			  " VALUES (?1, 'pending', ?2, ?3, ?4)",
			  "adding a challenge", NULL },
	[Q_ORDER_GET] = { "SELECT o.id, o.account, a.id, o.email, o.status,"
			  " o.created, o.expires, o.serial, o.error"
			  " FROM orders o"
			  " LEFT JOIN authzs a ON a.order_id = o.id"
			  " WHERE o.id = ?1",
			  "reading an order", "order" },
	[Q_ORDER_EXISTS] = { "SELECT status FROM orders WHERE id = ?1",
			     "reading an order", "order" },
	[Q_ORDER_MOVE] = { "UPDATE orders SET status = ?3,"
			   " csr = coalesce(?4, csr),"
			   " error = coalesce(?5, error)"
			   " WHERE id = ?1 AND status = ?2",
			   "moving an order", "order" },
	[Q_ORDER_CSR] = { "SELECT csr FROM orders WHERE id = ?1",
			  "reading a CSR", "order" },
	[Q_ORDERS_PROC] = { "SELECT id FROM orders"
			    " WHERE status = 'processing'"
			    " ORDER BY id LIMIT ?1",
			    "listing", NULL },
	[Q_ORDERS_OF] = { "SELECT id FROM orders WHERE account = ?2"
			  " ORDER BY id DESC LIMIT ?1",
			  "listing", NULL },
	[Q_AUTHZ_GET] = { "SELECT a.id, a.order_id, a.account, c.id,"
			  " a.email, a.status, a.expires FROM authzs a"
			  " LEFT JOIN challenges c ON c.authz = a.id"
			  " WHERE a.id = ?1",
			  "reading an authorization", "authorization" },
	[Q_AUTHZ_FRESH] = { "SELECT a.id FROM authzs a"
			    " JOIN challenges c ON c.authz = a.id"
			    " WHERE a.account = ?1 AND a.email = ?2"
			    " AND a.status = 'valid' AND a.expires > ?3"
			    " AND c.validated >= ?4 LIMIT 1",
			    "looking for a fresh authorization",
			    "fresh authorization of account" },
	[Q_CHALL_GET] = { CHALL_COLS " WHERE c.id = ?1", "reading a challenge",
			  "challenge" },
	[Q_CHALL_BY_T1] = { CHALL_COLS " WHERE c.token1 = ?1",
			    "reading a challenge", "challenge with token" },
	[Q_CHALL_EXISTS] = { "SELECT status FROM challenges WHERE id = ?1",
			     "reading a challenge", "challenge" },
	[Q_CHALL_WANT] = { "UPDATE challenges SET send_wanted = 1"
			   " WHERE id = ?1",
			   "asking for a challenge mail", "challenge" },
	[Q_CHALL_TO_SEND] = { "SELECT id FROM challenges"
			      " WHERE send_wanted = 1 AND sent = 0"
			      " AND status IN ('pending', 'processing')"
			      " ORDER BY id LIMIT ?1",
			      "listing", NULL },
	[Q_CHALL_SENT] = { "UPDATE challenges SET sent = ?2, msgid = ?3"
			   " WHERE id = ?1",
			   "recording a challenge mail", "challenge" },
	[Q_CHALL_RESPOND] = { "UPDATE challenges SET status = 'processing'"
			      " WHERE id = ?1 AND status = 'pending'",
			      "responding to a challenge", "challenge" },
	[Q_SETTLE_STATE] = { "SELECT c.status, a.id, a.status, o.id, o.status"
			     " FROM challenges c"
			     " JOIN authzs a ON a.id = c.authz"
			     " JOIN orders o ON o.id = a.order_id"
			     " WHERE c.id = ?1",
			     "reading a challenge", "challenge" },
	[Q_SETTLE_CHALL] = { "UPDATE challenges SET status = ?2,"
			     " validated = ?3, error = coalesce(?4, error)"
			     " WHERE id = ?1",
			     "settling a challenge", NULL },
	[Q_SETTLE_AUTHZ] = { "UPDATE authzs SET status = ?2 WHERE id = ?1",
			     "settling an authorization", NULL },
	[Q_SETTLE_ORDER] = { "UPDATE orders SET status = ?2,"
			     " error = coalesce(?3, error) WHERE id = ?1",
			     "settling an order", NULL },
	[Q_CERT_ORDER] = { "SELECT account, status FROM orders WHERE id = ?1",
			   "reading an order", "order" },
	[Q_CERT_ADD] = { "INSERT INTO certs (serial, order_id, account,"
			 " email, der, not_before, not_after)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			 "adding a certificate", NULL },
	[Q_CERT_ORDER_DONE] = { "UPDATE orders SET status = 'valid',"
				" serial = ?2"
				" WHERE id = ?1 AND status = 'processing'",
				"completing an order", NULL },
	[Q_CERT_GET] = { "SELECT serial, order_id, account, email, der,"
			 " not_before, not_after, revoked, reason"
			 " FROM certs WHERE serial = ?1",
			 "reading a certificate",
			 "certificate with serial number" },
	[Q_CERT_EXISTS] = { "SELECT CASE revoked WHEN 0 THEN 'not revoked'"
			    " ELSE 'revoked already' END"
			    " FROM certs WHERE serial = ?1",
			    "reading a certificate",
			    "certificate with serial number" },
	/* once revoked, only keyCompromise may change the reason of a
	 * revocation that was not for a compromise (the time stays) */
	[Q_CERT_REVOKE] = { "UPDATE certs SET reason = ?3,"
			    " revoked = CASE revoked WHEN 0 THEN ?2"
			    " ELSE revoked END"
			    " WHERE serial = ?1 AND (revoked = 0 OR"
			    " (?3 = 1 AND reason NOT IN (1, 2)))",
			    "revoking a certificate",
			    "certificate with serial number" },
	[Q_REVOKED] = { "SELECT serial, revoked, reason FROM certs"
			" WHERE revoked <> 0 AND not_after >= ?1"
			" ORDER BY revoked, serial",
			"listing revocations", NULL },
	[Q_BLOB_PUT] = { "INSERT INTO blobs (name, data, stamp)"
			 " VALUES (?1, ?2, ?3) ON CONFLICT (name)"
			 " DO UPDATE SET data = excluded.data,"
			 " stamp = excluded.stamp",
			 "storing a blob", NULL },
	[Q_BLOB_GET] = { "SELECT data, stamp FROM blobs WHERE name = ?1",
			 "reading a blob", "blob named" },
	[Q_PKX_ADD] = { "INSERT INTO pkx (fpr, email, der, not_before,"
			" not_after, account, order_id, serial, caps, published)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
			"adding a directory entry", NULL },
	[Q_PKX_LOOKUP] = { PKX_COLS " WHERE p.email = ?1 AND " PKX_CURRENT("?2")
				    " ORDER BY p.not_after DESC, p.fpr"
				    " LIMIT ?3",
			   "looking an address up", NULL },
	[Q_PKX_GET] = { PKX_COLS " WHERE p.fpr = ?1", "reading a directory entry",
			"certificate with fingerprint" },
	[Q_PKX_CAPS] = { "UPDATE pkx SET caps = ?2 WHERE fpr = ?1",
			 "setting capabilities",
			 "certificate with fingerprint" },
	[Q_PKX_CURRENT] = { PKX_COLS " WHERE " PKX_CURRENT("?1")
				     " ORDER BY p.email, p.fpr",
			    "listing the directory", NULL },
	[Q_PKX_ORDER_SPEND] = { "UPDATE orders SET status = 'valid'"
				" WHERE id = ?1 AND account = ?2"
				" AND status = 'ready'",
				"spending an order", NULL },
	[Q_PKX_CERTS] = { "SELECT serial, order_id, account, email, der,"
			  " not_before, not_after FROM certs ORDER BY serial",
			  "listing certificates", NULL },
	[Q_PKX_NEXT] = { "SELECT coalesce(min(not_before), 0) FROM pkx"
			 " WHERE email = ?1 AND not_before > ?2",
			 "reading a directory entry", NULL },
	[Q_DATA_VERSION] = { "PRAGMA data_version", "reading the data version",
			     NULL },
	[Q_VAULT_NEXT] = { "SELECT coalesce(max(version), 0) + 1 FROM vault"
			   " WHERE email = ?1",
			   "reading the vault", NULL },
	[Q_VAULT_ADD] = { "INSERT INTO vault (email, version, account, blob,"
			  " stamp) VALUES (?1, ?2, ?3, ?4, ?5)",
			  "storing a backup", NULL },
	[Q_VAULT_PRUNE] = { "DELETE FROM vault WHERE email = ?1"
			    " AND version <= ?2",
			    "pruning old backups", NULL },
	[Q_VAULT_GET] = { "SELECT version, account, stamp, blob FROM vault"
			  " WHERE email = ?1 AND version = ?2",
			  "reading a backup", "backup of" },
	[Q_VAULT_CURRENT] = { "SELECT version, account, stamp, blob FROM vault"
			      " WHERE email = ?1 ORDER BY version DESC LIMIT 1",
			      "reading a backup", "backup of" },
	[Q_VAULT_VERSIONS] = { "SELECT version FROM vault WHERE email = ?1"
			       " ORDER BY version DESC LIMIT ?2",
			       "listing backups", NULL },
	[Q_VAULT_DELETE] = { "DELETE FROM vault WHERE email = ?1",
			     "deleting backups", "backup of" },
	[Q_PROOF_LATEST] = { "SELECT coalesce(max(c.validated), 0)"
			     " FROM challenges c"
			     " JOIN authzs a ON a.id = c.authz"
			     " WHERE a.account = ?1 AND a.email = ?2"
			     " AND a.status = 'valid' AND c.status = 'valid'",
			     "reading mailbox proofs", NULL },
	[Q_VAULT_READ] = { "INSERT INTO vault_reads (email, account, stamp)"
			   " VALUES (?1, ?2, ?3)",
			   "recording a vault read", NULL },
	[Q_VAULT_FORGET] = { "DELETE FROM vault_reads WHERE stamp < ?1",
			     "forgetting vault reads", NULL },
	[Q_VAULT_READS] = { "SELECT (SELECT count(*) FROM vault_reads"
			    " WHERE email = ?1 AND stamp >= ?3),"
			    " (SELECT count(*) FROM vault_reads"
			    " WHERE account = ?2 AND stamp >= ?3)",
			    "counting vault reads", NULL },
};

static int db_err(struct lld_store *s, struct ll_error *err, const char *what)
{
	if (s->db != NULL && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_STORE,
			      "%s: out of memory", what);
	return ll_err(err, LL_ESTORE, LL_ECLASS_STORE, "%s: %s", what,
		      s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
}

int sq_fits(const struct fit *f, size_t n, struct ll_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].v != NULL && strlen(f[i].v) > f[i].max)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "%s longer than %zu octets", f[i].what,
				      f[i].max);
	return 0;
}

int sq_nomem(struct ll_error *err)
{
	return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
}

/* ---- statements ---- */

int sq_prep(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	    sqlite3_stmt **out, struct ll_error *err)
{
	sqlite3_stmt *st = s->st[q];
	int rc = SQLITE_OK;

	if (st == NULL) {
		if (sqlite3_prepare_v3(s->db, queries[q].sql, -1,
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

void sq_reset(struct lld_store *s, enum qid q)
{
	if (s->st[q] == NULL)
		return;
	sqlite3_reset(s->st[q]);
	sqlite3_clear_bindings(s->st[q]);
}

int sq_step(struct lld_store *s, enum qid q, struct ll_error *err)
{
	const char *what = queries[q].what;
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
	sq_reset(s, q);
	return rc;
}

int sq_exec(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	    struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, q, a, n, &st, err);
	if (rc < 0)
		return rc;
	do
		rc = sq_step(s, q, err);
	while (rc == 1);
	return rc;
}

/* ?1 as text, for messages. */
static const char *key_text(const struct arg *key, char *buf, size_t size)
{
	if (key->type != A_INT)
		return key->s != NULL ? key->s : "NULL";
	snprintf(buf, size, "%lld", (long long)key->i);
	return buf;
}

/* "no <noun of Q> <?1>": LL_ENOTFOUND. */
static int missing(enum qid q, const struct arg *key, struct ll_error *err)
{
	char buf[24];

	assert(queries[q].noun != NULL);
	return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE, "no %s %s",
		      queries[q].noun, key_text(key, buf, sizeof(buf)));
}

int sq_exec1(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err)
{
	int rc;

	rc = sq_exec(s, q, a, n, err);
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		rc = missing(q, &a[0], err);
	return rc;
}

int sq_fetch(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, q, a, n, &st, err);
	if (rc == 0)
		rc = sq_step(s, q, err);
	if (rc == 0)
		return missing(q, &a[0], err);
	return rc < 0 ? rc : 0;
}

int sq_cas(struct lld_store *s, enum qid q, enum qid check, const struct arg *a,
	   size_t n, struct ll_error *err)
{
	const char *t;
	char buf[24];
	int rc;

	rc = sq_exec(s, q, a, n, err);
	if (rc < 0 || sqlite3_changes(s->db) == 1)
		return rc;
	rc = sq_fetch(s, check, a, 1, err);
	if (rc < 0)
		return rc;
	t = (const char *)sqlite3_column_text(s->st[check], 0);
	rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE, "%s %s is %s",
		    queries[check].noun, key_text(&a[0], buf, sizeof(buf)),
		    t != NULL ? t : "changed");
	sq_reset(s, check);
	return rc;
}

int sq_get(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	   int (*read)(sqlite3_stmt *st, void *out), void *out, size_t size,
	   struct ll_error *err)
{
	int rc;

	memset(out, 0, size);
	rc = sq_fetch(s, q, a, n, err);
	if (rc < 0)
		return rc;
	rc = read(s->st[q], out) < 0 ? sq_nomem(err) : 0;
	sq_reset(s, q);
	return rc;
}

/* ---- columns ---- */

void sq_col_copy(char *buf, size_t size, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	size_t n = t != NULL ? strlen(t) : 0;

	if (n >= size)
		n = size - 1;
	if (n > 0)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

int sq_col_strdup(char **out, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	*out = strdup(t != NULL ? t : "");
	return *out != NULL ? 0 : LL_ENOMEM;
}

int sq_col_blob(unsigned char **out, size_t *len, sqlite3_stmt *st, int i)
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

time_t sq_col_time(sqlite3_stmt *st, int i)
{
	return (time_t)sqlite3_column_int64(st, i);
}

int sq_col_is(sqlite3_stmt *st, int i, const char *word)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return t != NULL && strcmp(t, word) == 0;
}

/* ---- transactions ---- */

int sq_begin(struct lld_store *s, struct ll_error *err)
{
	return sq_exec(s, Q_BEGIN, NULL, 0, err);
}

int sq_end(struct lld_store *s, int rc, struct ll_error *err)
{
	if (rc == 0)
		rc = sq_exec(s, Q_COMMIT, NULL, 0, err);
	if (rc < 0 && !sqlite3_get_autocommit(s->db))
		sq_exec(s, Q_ROLLBACK, NULL, 0, NULL);
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
		sq_col_copy(buf, size, st, 0);
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
	rc = sq_begin(s, err);
	if (rc < 0)
		return rc;
	/* another process may have been first */
	rc = pragma_text(s, "PRAGMA user_version", v, sizeof(v), err);
	if (rc == 0 && atoi(v) == 0 &&
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		rc = db_err(s, err, "creating the schema");
	else if (rc == 0 && (atoi(v) < 0 || atoi(v) > SCHEMA_VERSION))
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "schema version %s is not %d (another program's "
			    "store, or a newer one)",
			    v, SCHEMA_VERSION);
	/* version 1 (or the one just made) gains the PKX table */
	if (rc == 0 && atoi(v) < 2)
		rc = sq_pkx_schema(s, err);
	if (rc == 0 && atoi(v) < 3)
		rc = sq_vault_schema(s, err);
	return sq_end(s, rc, err);
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
		return sq_nomem(err);
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
			 "PRAGMA synchronous = NORMAL;"
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

int lld_store_version(struct lld_store *s, int others, uint64_t *out,
		      struct ll_error *err)
{
	int64_t changes = sqlite3_total_changes64(s->db);
	int64_t dv = s->data_version;
	int rc;

	if (others) {
		rc = sq_fetch(s, Q_DATA_VERSION, NULL, 0, err);
		if (rc < 0)
			return rc;
		dv = sqlite3_column_int64(s->st[Q_DATA_VERSION], 0);
		sq_reset(s, Q_DATA_VERSION);
	}
	if (dv != s->data_version || changes != s->changes) {
		s->version++;
		s->data_version = dv;
		s->changes = changes;
	}
	*out = s->version;
	return 0;
}

int sq_durable(struct lld_store *s, int full, struct ll_error *err)
{
	if (sqlite3_exec(s->db,
			 full ? "PRAGMA synchronous = FULL" :
				"PRAGMA synchronous = NORMAL",
			 NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, err, "setting synchronous");
	return 0;
}
