/*
 * store_vault.c - the key vault's rows in the store (store.h), on
 * either backend: encrypted backups by address, a few versions each, and the
 * log of reads the rate limit counts.  Opaque blobs: nothing here reads
 * them.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "store_db.h"

void lld_vaultrow_clear(struct lld_vaultrow *r)
{
	if (r == NULL)
		return;
	free(r->blob);
	memset(r, 0, sizeof(*r));
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
		rc = db_begin(s, err);
	if (rc < 0)
		return rc;
	rc = db_fetch_int(s, Q_VAULT_NEXT, ARGS(AT(email)), &v, err);
	if (rc == 0)
		rc = EXEC(s, Q_VAULT_ADD, err, AT(email), AI(v), AI(account),
			  AB(blob, len), AI(now));
	if (rc == 0)
		rc = EXEC(s, Q_VAULT_PRUNE, err, AT(email), AI(v - 1 - keep));
	rc = db_end(s, rc, err);
	if (rc == 0 && version != NULL)
		*version = v;
	return rc;
}

static int vaultrow_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_vaultrow *r = out;

	r->version = db_col_int(s, q, 0);
	r->account = db_col_int(s, q, 1);
	r->stamp = db_col_time(s, q, 2);
	return db_col_blob(&r->blob, &r->len, s, q, 3);
}

int lld_store_vault_get(struct lld_store *s, const char *email, int64_t version,
			struct lld_vaultrow *out, struct ll_error *err)
{
	assert(email != NULL);
	if (version == 0)
		return db_get(s, Q_VAULT_CURRENT, ARGS(AT(email)),
			      vaultrow_read, out, sizeof(*out), err);
	return db_get(s, Q_VAULT_GET, ARGS(AT(email), AI(version)),
		      vaultrow_read, out, sizeof(*out), err);
}

int lld_store_vault_versions(struct lld_store *s, const char *email, int64_t *v,
			     size_t max, size_t *n, struct ll_error *err)
{
	return db_list_ids(s, Q_VAULT_VERSIONS,
			   ARGS(AT(email), AI(max > 1000 ? 1000 : max)), v, max,
			   n, err);
}

int lld_store_vault_delete(struct lld_store *s, const char *email,
			   struct ll_error *err)
{
	int rc;

	assert(email != NULL);
	rc = EXEC(s, Q_VAULT_DELETE, err, AT(email));
	if (rc == 0 && db_changes(s) == 0)
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
	rc = db_fetch_int(s, Q_PROOF_LATEST, ARGS(AI(account), AT(email)), &t,
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
	rc = db_fetch(s, Q_VAULT_READS, ARGS(AT(email), AI(account), AI(since)),
		      err);
	if (rc < 0)
		return rc;
	*by_email = db_col_int(s, Q_VAULT_READS, 0);
	*by_account = db_col_int(s, Q_VAULT_READS, 1);
	db_reset(s, Q_VAULT_READS);
	return 0;
}
