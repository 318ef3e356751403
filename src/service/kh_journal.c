/*
 * kh_journal.c - the keyholder's journal, DIR/keyholder.db (SQLite,
 * WAL, synchronous=FULL): every certificate it signed, under its order
 * id and the digest of what was asked, and the CRL number.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "kh_internal.h"

static const char journal_schema[] =
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS issued("
	" order_id INTEGER PRIMARY KEY,"
	" serial TEXT NOT NULL UNIQUE,"
	" request_sha256 BLOB NOT NULL," /* kh_issue.c, request_digest() */
	" der BLOB NOT NULL,"
	" issued_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS counter("
	" name TEXT PRIMARY KEY,"
	" value INTEGER NOT NULL);";

static int db_err(struct keyholder *k, struct ll_error *err, const char *what)
{
	return kh_err(err, LL_ESTORE, "keyholder journal: %s: %s", what,
		      k->db ? sqlite3_errmsg(k->db) : "cannot open");
}

int kh_journal_open(struct keyholder *k, const char *dir, struct ll_error *err)
{
	char path[LLD_PATH_MAX];
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/keyholder.db", dir) >=
	    sizeof(path))
		return kh_err(err, LL_EINVAL, "%s: path too long", dir);
	if (sqlite3_open_v2(path, &k->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return kh_about(err, db_err(k, err, "open"), dir,
				"keyholder.db");
	sqlite3_busy_timeout(k->db, 5000);
	rc = sqlite3_prepare_v2(k->db, "PRAGMA journal_mode=WAL", -1, &st,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		rc = db_err(k, err, "WAL mode");
		goto out;
	}
	if (sqlite3_exec(k->db, journal_schema, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		rc = db_err(k, err, "schema");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * The certificate already journaled for ORDER into the reply W (*found
 * 1), or nothing (*found 0).  LL_EEXIST if ORDER was issued for another
 * request.
 */
int kh_journal_find(struct keyholder *k, int64_t order,
		    const unsigned char digest[32], struct kh_wbuf *w,
		    int *found, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *serial, *der, *dg;
	int rc, n;

	*found = 0;
	if (sqlite3_prepare_v2(k->db,
			       "SELECT serial, der, request_sha256 FROM issued "
			       "WHERE order_id = ?",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, order) != SQLITE_OK) {
		rc = db_err(k, err, "lookup");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = db_err(k, err, "lookup");
		goto out;
	}
	serial = sqlite3_column_text(st, 0);
	der = sqlite3_column_blob(st, 1);
	n = sqlite3_column_bytes(st, 1);
	dg = sqlite3_column_blob(st, 2);
	if (serial == NULL || der == NULL || n <= 0 || n > KH_CERT_MAX ||
	    !kh_text_ok((const char *)serial, 1, LLD_SERIAL_MAX, kh_c_hex) ||
	    dg == NULL || sqlite3_column_bytes(st, 2) != 32) {
		rc = kh_err(err, LL_ESTORE,
			    "keyholder journal: the row of order %" PRId64
			    " is damaged",
			    order);
		goto out;
	}
	if (memcmp(dg, digest, 32) != 0) {
		rc = kh_err(err, LL_EEXIST,
			    "order %" PRId64 " was issued for another "
			    "request",
			    order);
		goto out;
	}
	kh_w_str(w, (const char *)serial);
	kh_w_bytes(w, der, (size_t)n);
	*found = 1;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Journal the certificate of ORDER; committed (and synced, by
 * synchronous=FULL) when this returns 0. */
int kh_journal_add(struct keyholder *k, int64_t order, const char *serial,
		   const unsigned char digest[32], const unsigned char *der,
		   size_t derlen, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(k->db,
			       "INSERT INTO issued(order_id, serial, "
			       "request_sha256, der, issued_at) "
			       "VALUES(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, order) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 3, digest, 32, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 4, der, (int)derlen, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL)) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_err(k, err, "recording the certificate");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The next CRL number, journaled before it is used. */
int kh_journal_crl_number(struct keyholder *k, int64_t *out,
			  struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(k->db,
			       "INSERT INTO counter(name, value) "
			       "VALUES('crl_number', 1) ON CONFLICT(name) "
			       "DO UPDATE SET value = value + 1 "
			       "RETURNING value",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_err(k, err, "CRL number");
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_err(k, err, "CRL number");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}
