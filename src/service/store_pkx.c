/*
 * store_pkx.c - the PKX directory's rows in the store (store.h), on
 * either backend: one entry per certificate, named by the SHA-256 of its DER
 * and found by the directory's key of its address.
 *
 * Our own certificates keep their DER and their revocation in `certs`
 * (the entry refers to it by serial number, so a revocation needs no
 * second write and cannot disagree); certificates of other CAs carry
 * their DER in the entry.  The table came with schema version 2: an
 * older store gets it, and an entry for every certificate it recorded,
 * when it is opened (db_pkx_backfill).  The statements and the
 * helpers that run them are in store_db.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pkx.h"
#include "store_db.h"

/* ---- the row reader ---- */

static int pkxrow_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_pkxrow *r = out;

	COL_COPY(r->fpr, s, q, 0);
	COL_COPY(r->email, s, q, 1);
	r->account = db_col_int(s, q, 2);
	r->order = db_col_int(s, q, 3);
	COL_COPY(r->serial, s, q, 4);
	r->not_before = db_col_time(s, q, 6);
	r->not_after = db_col_time(s, q, 7);
	r->published = db_col_time(s, q, 8);
	r->revoked = db_col_time(s, q, 9);
	COL_COPY(r->caps, s, q, 10);
	return db_col_blob(&r->der, &r->derlen, s, q, 5);
}

void lld_pkxrow_clear(struct lld_pkxrow *r)
{
	if (r == NULL)
		return;
	free(r->der);
	memset(r, 0, sizeof(*r));
}

/* ---- entries of our certificates ---- */

int db_pkx_add_ours(struct lld_store *s, const char *serial, int64_t order,
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

int db_pkx_backfill(struct lld_store *s, struct ll_error *err)
{
	const enum qid q = Q_PKX_CERTS;
	int rc;

	rc = db_prep(s, q, NULL, 0, err);
	if (rc < 0)
		return rc;
	while ((rc = db_step(s, q, err)) == 1) {
		const char *serial = s->ops->col_text(s, q, 0);
		const char *email = s->ops->col_text(s, q, 3);
		size_t derlen = 0;
		const void *der = s->ops->col_blob(s, q, 4, &derlen);

		if (serial == NULL || email == NULL || der == NULL) {
			rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
				    "a certificate row without its columns");
			break;
		}
		/* published: when it became valid, as near as is known */
		rc = db_pkx_add_ours(s, serial, db_col_int(s, q, 1),
				     db_col_int(s, q, 2), email, der, derlen,
				     db_col_time(s, q, 5), db_col_time(s, q, 6),
				     db_col_time(s, q, 5), err);
		if (rc == LL_EEXIST) { /* there already */
			ll_error_clear(err);
			rc = 0;
		}
		if (rc < 0)
			break;
	}
	db_reset(s, q);
	return rc < 0 ? rc : 0;
}

/* ---- lookups ---- */

int lld_store_pkx_lookup(struct lld_store *s, const char *email, time_t now,
			 struct lld_pkxrow *out, size_t max, size_t *n,
			 struct ll_error *err)
{
	int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t)max;
	int rc;

	assert(email != NULL && (out != NULL || max == 0));
	*n = 0;
	rc = FITS(err, { email, LLD_EMAIL_MAX, "address" });
	if (rc == 0)
		rc = db_prep(s, Q_PKX_LOOKUP,
			     ARGS(AT(email), AI(now), AI(limit)), err);
	if (rc < 0)
		return rc;
	while (*n < max && (rc = db_step(s, Q_PKX_LOOKUP, err)) == 1) {
		memset(&out[*n], 0, sizeof(out[*n]));
		if (pkxrow_read(s, Q_PKX_LOOKUP, &out[*n]) < 0) {
			rc = db_nomem(err);
			break;
		}
		(*n)++;
	}
	db_reset(s, Q_PKX_LOOKUP);
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
	rc = db_fetch(s, Q_PKX_NEXT, ARGS(AT(email), AI(now)), err);
	if (rc < 0)
		return rc;
	*when = db_col_time(s, Q_PKX_NEXT, 0);
	db_reset(s, Q_PKX_NEXT);
	return 0;
}

int lld_store_pkx_get(struct lld_store *s, const char *fpr,
		      struct lld_pkxrow *out, struct ll_error *err)
{
	assert(fpr != NULL);
	return db_get(s, Q_PKX_GET, ARGS(AT(fpr)), pkxrow_read, out,
		      sizeof(*out), err);
}

int lld_store_pkx_foreach(struct lld_store *s, time_t now,
			  int (*fn)(void *arg, const struct lld_pkxrow *r),
			  void *arg, struct ll_error *err)
{
	struct lld_pkxrow r;
	int rc;

	rc = db_prep(s, Q_PKX_CURRENT, ARGS(AI(now)), err);
	if (rc < 0)
		return rc;
	while ((rc = db_step(s, Q_PKX_CURRENT, err)) == 1) {
		memset(&r, 0, sizeof(r));
		if (pkxrow_read(s, Q_PKX_CURRENT, &r) < 0) {
			rc = db_nomem(err);
			break;
		}
		rc = fn(arg, &r);
		lld_pkxrow_clear(&r);
		if (rc != 0)
			break;
	}
	db_reset(s, Q_PKX_CURRENT);
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
		rc = db_begin(s, err);
	/* the proof is spent first: a second publication on it finds the
	 * order "valid" under the write lock */
	if (rc == 0)
		rc = EXEC(s, Q_PKX_ORDER_SPEND, err, AI(order), AI(account));
	if (rc == 0 && db_changes(s) != 1) {
		rc = db_fetch(s, Q_CERT_ORDER, ARGS(AI(order)), err);
		if (rc == 0) {
			if (db_col_int(s, Q_CERT_ORDER, 0) != account)
				rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
					    "no order %lld of this account",
					    (long long)order);
			else
				rc = ll_err(
					err, LL_EEXIST, LL_ECLASS_STORE,
					"order %lld is %s", (long long)order,
					s->ops->col_text(s, Q_CERT_ORDER, 1));
			db_reset(s, Q_CERT_ORDER);
		}
	}
	if (rc == 0)
		rc = EXEC(s, Q_PKX_ADD, err, AT(fpr), AT(email),
			  AB(der, derlen), AI(not_before), AI(not_after),
			  AI(account), AI(order), AT(NULL),
			  AT(caps != NULL && caps[0] != '\0' ? caps : NULL),
			  AI(now));
	return db_end(s, rc, err);
}
