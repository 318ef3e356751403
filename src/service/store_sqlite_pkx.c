/*
 * store_sqlite_pkx.c - the PKX directory's rows in the SQLite store
 * (store.h): one entry per certificate, named by the SHA-256 of its DER
 * and found by the directory's key of its address.
 *
 * Our own certificates keep their DER and their revocation in `certs`
 * (the entry refers to it by serial number, so a revocation needs no
 * second write and cannot disagree); certificates of other CAs carry
 * their DER in the entry.  The table came with schema version 2: an
 * older store gets it, and an entry for every certificate it recorded,
 * when it is opened (sq_pkx_schema).  The statements and the helpers
 * that run them are in store_sqlite.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "internal.h"
#include "pkx.h"
#include "store_sqlite.h"

/* der holds another CA's certificate; serial names one of ours */
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

/* ---- the row reader ---- */

static int pkxrow_read(sqlite3_stmt *st, void *out)
{
	struct lld_pkxrow *r = out;

	COL_COPY(r->fpr, st, 0);
	COL_COPY(r->email, st, 1);
	r->account = sqlite3_column_int64(st, 2);
	r->order = sqlite3_column_int64(st, 3);
	COL_COPY(r->serial, st, 4);
	r->not_before = sq_col_time(st, 6);
	r->not_after = sq_col_time(st, 7);
	r->published = sq_col_time(st, 8);
	r->revoked = sq_col_time(st, 9);
	COL_COPY(r->caps, st, 10);
	return sq_col_blob(&r->der, &r->derlen, st, 5);
}

void lld_pkxrow_clear(struct lld_pkxrow *r)
{
	if (r == NULL)
		return;
	free(r->der);
	memset(r, 0, sizeof(*r));
}

/* ---- entries of our certificates ---- */

int sq_pkx_add_ours(struct lld_store *s, const char *serial, int64_t order,
		    int64_t account, const char *email,
		    const unsigned char *der, size_t derlen, time_t not_before,
		    time_t not_after, time_t now, struct ll_error *err)
{
	char fpr[LLD_FPR_HEX + 1], key[LLD_EMAIL_MAX + 1];
	int rc;

	rc = lld_sha256_hex(fpr, der, derlen, err);
	if (rc < 0)
		return rc;
	/* the order's address is canonical already (ACME made it so); the
	 * key differs only by the NFC of a local part.  One that does not
	 * pass, which no order holds, stays as it is rather than stop a
	 * signed certificate from being recorded. */
	if (lld_pkx_addr_key(key, email, strlen(email), NULL) < 0)
		snprintf(key, sizeof(key), "%s", email);
	return EXEC(s, Q_PKX_ADD, err, AT(fpr), AT(key), AB(NULL, 0),
		    AI(not_before), AI(not_after), AI(account), AI(order),
		    AT(serial), AT(NULL), AI(now));
}

int sq_pkx_schema(struct lld_store *s, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_exec(s->db, pkx_schema, NULL, NULL, NULL) != SQLITE_OK)
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "creating the PKX table: %s",
			      sqlite3_errmsg(s->db));
	rc = sq_prep(s, Q_PKX_CERTS, NULL, 0, &st, err);
	if (rc < 0)
		return rc;
	while ((rc = sq_step(s, Q_PKX_CERTS, err)) == 1) {
		const char *serial = (const char *)sqlite3_column_text(st, 0);
		const char *email = (const char *)sqlite3_column_text(st, 3);
		const void *der = sqlite3_column_blob(st, 4);
		size_t derlen = (size_t)sqlite3_column_bytes(st, 4);

		if (serial == NULL || email == NULL || der == NULL) {
			rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
				    "a certificate row without its columns");
			break;
		}
		/* published: when it became valid, as near as is known */
		rc = sq_pkx_add_ours(s, serial, sqlite3_column_int64(st, 1),
				     sqlite3_column_int64(st, 2), email, der,
				     derlen, sq_col_time(st, 5),
				     sq_col_time(st, 6), sq_col_time(st, 5),
				     err);
		if (rc == LL_EEXIST) { /* there already */
			ll_error_clear(err);
			rc = 0;
		}
		if (rc < 0)
			break;
	}
	sq_reset(s, Q_PKX_CERTS);
	return rc < 0 ? rc : 0;
}

/* ---- lookups ---- */

int lld_store_pkx_lookup(struct lld_store *s, const char *email, time_t now,
			 struct lld_pkxrow *out, size_t max, size_t *n,
			 struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t)max;
	int rc;

	assert(email != NULL && (out != NULL || max == 0));
	*n = 0;
	rc = FITS(err, { email, LLD_EMAIL_MAX, "address" });
	if (rc == 0)
		rc = sq_prep(s, Q_PKX_LOOKUP,
			     ARGS(AT(email), AI(now), AI(limit)), &st, err);
	if (rc < 0)
		return rc;
	while (*n < max && (rc = sq_step(s, Q_PKX_LOOKUP, err)) == 1) {
		memset(&out[*n], 0, sizeof(out[*n]));
		if (pkxrow_read(st, &out[*n]) < 0) {
			rc = sq_nomem(err);
			break;
		}
		(*n)++;
	}
	sq_reset(s, Q_PKX_LOOKUP);
	if (rc < 0) {
		while (*n > 0)
			lld_pkxrow_clear(&out[--(*n)]);
		return rc;
	}
	return 0;
}

int lld_store_pkx_next(struct lld_store *s, const char *email, time_t now,
		       time_t *when, struct ll_error *err)
{
	int rc;

	assert(email != NULL);
	*when = 0;
	rc = sq_fetch(s, Q_PKX_NEXT, ARGS(AT(email), AI(now)), err);
	if (rc < 0)
		return rc;
	*when = sq_col_time(s->st[Q_PKX_NEXT], 0);
	sq_reset(s, Q_PKX_NEXT);
	return 0;
}

int lld_store_pkx_get(struct lld_store *s, const char *fpr,
		      struct lld_pkxrow *out, struct ll_error *err)
{
	assert(fpr != NULL);
	return sq_get(s, Q_PKX_GET, ARGS(AT(fpr)), pkxrow_read, out,
		      sizeof(*out), err);
}

int lld_store_pkx_foreach(struct lld_store *s, time_t now,
			  int (*fn)(void *arg, const struct lld_pkxrow *r),
			  void *arg, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	struct lld_pkxrow r;
	int rc;

	rc = sq_prep(s, Q_PKX_CURRENT, ARGS(AI(now)), &st, err);
	if (rc < 0)
		return rc;
	while ((rc = sq_step(s, Q_PKX_CURRENT, err)) == 1) {
		memset(&r, 0, sizeof(r));
		if (pkxrow_read(st, &r) < 0) {
			rc = sq_nomem(err);
			break;
		}
		rc = fn(arg, &r);
		lld_pkxrow_clear(&r);
		if (rc != 0)
			break;
	}
	sq_reset(s, Q_PKX_CURRENT);
	return rc == 1 ? 0 : rc;
}

/* ---- changes ---- */

int lld_store_pkx_set_caps(struct lld_store *s, const char *fpr,
			   const char *caps, struct ll_error *err)
{
	int rc;

	assert(fpr != NULL);
	rc = FITS(err, { caps, LLD_CAPS_MAX, "capabilities" });
	if (rc < 0)
		return rc;
	/* NULL, not "": unknown */
	return EXEC1(s, Q_PKX_CAPS, err, AT(fpr),
		     AT(caps != NULL && caps[0] != '\0' ? caps : NULL));
}

int lld_store_pkx_publish(struct lld_store *s, int64_t order, int64_t account,
			  const char *email, const unsigned char *der,
			  size_t derlen, time_t not_before, time_t not_after,
			  const char *caps, time_t now, struct ll_error *err)
{
	char fpr[LLD_FPR_HEX + 1];
	int rc;

	assert(email != NULL && der != NULL);
	rc = FITS(err, { email, LLD_EMAIL_MAX, "address" },
		  { caps, LLD_CAPS_MAX, "capabilities" });
	if (rc == 0)
		rc = lld_sha256_hex(fpr, der, derlen, err);
	if (rc == 0)
		rc = sq_begin(s, err);
	/* the proof is spent first: a second publication on it finds the
	 * order "valid" under the write lock */
	if (rc == 0)
		rc = EXEC(s, Q_PKX_ORDER_SPEND, err, AI(order), AI(account));
	if (rc == 0 && sqlite3_changes(s->db) != 1) {
		rc = sq_fetch(s, Q_CERT_ORDER, ARGS(AI(order)), err);
		if (rc == 0) {
			sqlite3_stmt *st = s->st[Q_CERT_ORDER];

			if (sqlite3_column_int64(st, 0) != account)
				rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
					    "no order %lld of this account",
					    (long long)order);
			else
				rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
					    "order %lld is %s",
					    (long long)order,
					    (const char *)sqlite3_column_text(
						    st, 1));
			sq_reset(s, Q_CERT_ORDER);
		}
	}
	if (rc == 0)
		rc = EXEC(s, Q_PKX_ADD, err, AT(fpr), AT(email),
			  AB(der, derlen), AI(not_before), AI(not_after),
			  AI(account), AI(order), AT(NULL),
			  AT(caps != NULL && caps[0] != '\0' ? caps : NULL),
			  AI(now));
	return sq_end(s, rc, err);
}
