/*
 * store_certs.c - the certificate rows of the store (store.h), on
 * either backend: certificates, their revocations, and named blobs
 * (the CRL).  A certificate recorded enters the PKX directory at once
 * (store_pkx.c).  The statements and the helpers that run them are in
 * store_db.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "store_db.h"

/* ---- row readers, one per struct ---- */

static int certrow_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_certrow *c = out;

	COL_COPY(c->serial, s, q, 0);
	c->order = db_col_int(s, q, 1);
	c->account = db_col_int(s, q, 2);
	COL_COPY(c->email, s, q, 3);
	c->not_before = db_col_time(s, q, 5);
	c->not_after = db_col_time(s, q, 6);
	c->revoked = db_col_time(s, q, 7);
	c->reason = (int)db_col_int(s, q, 8);
	return db_col_blob(&c->der, &c->derlen, s, q, 4);
}

static void revoked_read(struct lld_store *s, enum qid q, struct lld_revoked *r)
{
	COL_COPY(r->serial, s, q, 0);
	r->when = db_col_time(s, q, 1);
	r->reason = (int)db_col_int(s, q, 2);
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
	int64_t account = 0;
	int rc;

	assert(serial != NULL && email != NULL && der != NULL);
	rc = FITS(err, { serial, LLD_SERIAL_MAX, "serial number" },
		  { email, LLD_EMAIL_MAX, "address" });
	if (rc == 0)
		rc = db_begin(s, err);
	if (rc == 0)
		rc = db_fetch(s, Q_CERT_ORDER, ARGS(AI(order)), err);
	if (rc == 0) {
		account = db_col_int(s, Q_CERT_ORDER, 0);
		if (!db_col_is(s, Q_CERT_ORDER, 1, "processing"))
			rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
				    "order %lld is not processing",
				    (long long)order);
		db_reset(s, Q_CERT_ORDER);
	}
	if (rc == 0)
		rc = EXEC(s, Q_CERT_ADD, err, AT(serial), AI(order),
			  AI(account), AT(email), AB(der, derlen),
			  AI(not_before), AI(not_after));
	/* in the directory from the moment it is recorded */
	if (rc == 0)
		rc = db_pkx_add_ours(s, serial, order, account, email, der,
				     derlen, not_before, not_after, time(NULL),
				     err);
	if (rc == 0)
		rc = EXEC(s, Q_CERT_ORDER_DONE, err, AI(order), AT(serial));
	if (rc == 0 && db_changes(s) != 1)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "order %lld changed under a write lock",
			    (long long)order);
	return db_end(s, rc, err);
}

int lld_store_cert_get(struct lld_store *s, const char *serial,
		       struct lld_certrow *out, struct ll_error *err)
{
	assert(serial != NULL);
	return db_get(s, Q_CERT_GET, ARGS(AT(serial)), certrow_read, out,
		      sizeof(*out), err);
}

int lld_store_cert_revoke(struct lld_store *s, const char *serial, time_t when,
			  int reason, struct ll_error *err)
{
	int rc;

	assert(serial != NULL);
	if (when <= 0) /* 0 means "not revoked" */
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "revocation time before 1970");
	/* a revocation must not roll back on a power loss */
	rc = db_durable(s, 1, err);
	if (rc == 0)
		rc = CAS(s, Q_CERT_REVOKE, Q_CERT_EXISTS, err, AT(serial),
			 AI(when), AI(reason));
	if (db_durable(s, 0, rc < 0 ? NULL : err) < 0 && rc == 0)
		rc = LL_ESTORE;
	return rc;
}

int lld_store_revoked(struct lld_store *s, time_t now, struct lld_revoked **out,
		      size_t *n, struct ll_error *err)
{
	struct lld_revoked *v = NULL, *nv;
	size_t count = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = db_prep(s, Q_REVOKED, ARGS(AI(now)), err);
	if (rc < 0)
		return rc;
	while ((rc = db_step(s, Q_REVOKED, err)) == 1) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			nv = reallocarray(v, cap, sizeof(*v));
			if (nv == NULL) {
				rc = db_nomem(err);
				break;
			}
			v = nv;
		}
		revoked_read(s, Q_REVOKED, &v[count++]);
	}
	db_reset(s, Q_REVOKED);
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
	return EXEC(s, Q_BLOB_PUT, err, AT(name),
		    AB(data != NULL ? (const void *)data : "", len), AI(when));
}

int lld_store_blob_get(struct lld_store *s, const char *name,
		       unsigned char **data, size_t *len, time_t *when,
		       struct ll_error *err)
{
	int rc;

	assert(name != NULL);
	*data = NULL;
	*len = 0;
	rc = db_fetch(s, Q_BLOB_GET, ARGS(AT(name)), err);
	if (rc < 0)
		return rc;
	if (when != NULL)
		*when = db_col_time(s, Q_BLOB_GET, 1);
	if (db_col_blob(data, len, s, Q_BLOB_GET, 0) < 0)
		rc = db_nomem(err);
	db_reset(s, Q_BLOB_GET);
	return rc;
}
