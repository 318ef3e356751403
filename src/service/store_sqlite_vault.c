/*
 * store_sqlite_vault.c - the key vault's rows in the SQLite store
 * (store.h): encrypted backups by address, a few versions each, and the
 * log of reads the rate limit counts.  Opaque blobs: nothing here reads
 * them.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "store_sqlite.h"

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

int sq_vault_schema(struct lld_store *s, struct ll_error *err)
{
	if (sqlite3_exec(s->db, vault_schema, NULL, NULL, NULL) != SQLITE_OK)
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "creating the vault tables: %s",
			      sqlite3_errmsg(s->db));
	return 0;
}

void lld_vaultrow_clear(struct lld_vaultrow *r)
{
	if (r == NULL)
		return;
	free(r->blob);
	memset(r, 0, sizeof(*r));
}

/* The first row of Q: one int64 column into *out. */
static int fetch_int(struct lld_store *s, enum qid q, const struct arg *a,
		     size_t n, int64_t *out, struct ll_error *err)
{
	int rc = sq_fetch(s, q, a, n, err);

	if (rc < 0)
		return rc;
	*out = sqlite3_column_int64(s->st[q], 0);
	sq_reset(s, q);
	return 0;
}

int lld_store_vault_put(struct lld_store *s, const char *email, int64_t account,
			const unsigned char *blob, size_t len, time_t now,
			int keep, int64_t *version, struct ll_error *err)
{
	int64_t v = 0;
	int rc;

	assert(email != NULL && blob != NULL && keep >= 0);
	rc = FITS(err, { email, LLD_EMAIL_MAX, "address" });
	if (rc == 0)
		rc = sq_begin(s, err);
	if (rc < 0)
		return rc;
	rc = fetch_int(s, Q_VAULT_NEXT, ARGS(AT(email)), &v, err);
	if (rc == 0)
		rc = EXEC(s, Q_VAULT_ADD, err, AT(email), AI(v), AI(account),
			  AB(blob, len), AI(now));
	if (rc == 0)
		rc = EXEC(s, Q_VAULT_PRUNE, err, AT(email), AI(v - 1 - keep));
	rc = sq_end(s, rc, err);
	if (rc == 0 && version != NULL)
		*version = v;
	return rc;
}

static int vaultrow_read(sqlite3_stmt *st, void *out)
{
	struct lld_vaultrow *r = out;

	r->version = sqlite3_column_int64(st, 0);
	r->account = sqlite3_column_int64(st, 1);
	r->stamp = sq_col_time(st, 2);
	return sq_col_blob(&r->blob, &r->len, st, 3);
}

int lld_store_vault_get(struct lld_store *s, const char *email, int64_t version,
			struct lld_vaultrow *out, struct ll_error *err)
{
	assert(email != NULL);
	if (version == 0)
		return sq_get(s, Q_VAULT_CURRENT, ARGS(AT(email)),
			      vaultrow_read, out, sizeof(*out), err);
	return sq_get(s, Q_VAULT_GET, ARGS(AT(email), AI(version)),
		      vaultrow_read, out, sizeof(*out), err);
}

int lld_store_vault_versions(struct lld_store *s, const char *email, int64_t *v,
			     size_t max, size_t *n, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	rc = sq_prep(s, Q_VAULT_VERSIONS,
		     ARGS(AT(email), AI(max > 1000 ? 1000 : max)), &st, err);
	if (rc < 0)
		return rc;
	while (*n < max && (rc = sq_step(s, Q_VAULT_VERSIONS, err)) == 1)
		v[(*n)++] = sqlite3_column_int64(st, 0);
	sq_reset(s, Q_VAULT_VERSIONS);
	return rc < 0 ? rc : 0;
}

int lld_store_vault_delete(struct lld_store *s, const char *email,
			   struct ll_error *err)
{
	int rc;

	assert(email != NULL);
	rc = EXEC(s, Q_VAULT_DELETE, err, AT(email));
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no backup of %s", email);
	return rc;
}

int lld_store_proof_latest(struct lld_store *s, int64_t account,
			   const char *email, time_t *when,
			   struct ll_error *err)
{
	int64_t t = 0;
	int rc;

	assert(email != NULL);
	rc = fetch_int(s, Q_PROOF_LATEST, ARGS(AI(account), AT(email)), &t,
		       err);
	*when = rc == 0 ? (time_t)t : 0;
	return rc;
}

int lld_store_vault_read(struct lld_store *s, const char *email,
			 int64_t account, time_t now, time_t forget,
			 struct ll_error *err)
{
	int rc;

	assert(email != NULL);
	rc = EXEC(s, Q_VAULT_FORGET, err, AI(forget));
	if (rc == 0)
		rc = EXEC(s, Q_VAULT_READ, err, AT(email), AI(account),
			  AI(now));
	return rc;
}

int lld_store_vault_reads(struct lld_store *s, const char *email,
			  int64_t account, time_t since, int64_t *by_email,
			  int64_t *by_account, struct ll_error *err)
{
	int rc;

	assert(email != NULL);
	rc = sq_fetch(s, Q_VAULT_READS, ARGS(AT(email), AI(account), AI(since)),
		      err);
	if (rc < 0)
		return rc;
	*by_email = sqlite3_column_int64(s->st[Q_VAULT_READS], 0);
	*by_account = sqlite3_column_int64(s->st[Q_VAULT_READS], 1);
	sq_reset(s, Q_VAULT_READS);
	return 0;
}
