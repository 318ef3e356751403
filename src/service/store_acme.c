/*
 * store_acme.c - the ACME rows of the store (store.h): accounts,
 * orders, authorizations and challenges, on either backend.  The
 * statements and the helpers that run them are in store_db.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "store_db.h"

#define THUMBPRINT_MAX 43

/* ---- row readers, one per struct ---- */

static int account_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_account *a = out;

	a->id = db_col_int(s, q, 0);
	COL_COPY(a->status, s, q, 1);
	COL_COPY(a->thumbprint, s, q, 2);
	a->created = db_col_time(s, q, 5);
	if (db_col_strdup(&a->jwk, s, q, 3) < 0 ||
	    db_col_strdup(&a->contact, s, q, 4) < 0) {
		lld_account_clear(a);
		return LL_ENOMEM;
	}
	return 0;
}

static int order_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_order *o = out;

	o->id = db_col_int(s, q, 0);
	o->account = db_col_int(s, q, 1);
	o->authz = db_col_int(s, q, 2);
	COL_COPY(o->email, s, q, 3);
	COL_COPY(o->status, s, q, 4);
	o->created = db_col_time(s, q, 5);
	o->expires = db_col_time(s, q, 6);
	COL_COPY(o->serial, s, q, 7);
	COL_COPY(o->error, s, q, 8);
	return 0;
}

static int authz_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_authz *a = out;

	a->id = db_col_int(s, q, 0);
	a->order = db_col_int(s, q, 1);
	a->account = db_col_int(s, q, 2);
	a->chall = db_col_int(s, q, 3);
	COL_COPY(a->email, s, q, 4);
	COL_COPY(a->status, s, q, 5);
	a->expires = db_col_time(s, q, 6);
	return 0;
}

static int chall_read(struct lld_store *s, enum qid q, void *out)
{
	struct lld_chall *c = out;

	c->id = db_col_int(s, q, 0);
	c->authz = db_col_int(s, q, 1);
	COL_COPY(c->status, s, q, 2);
	COL_COPY(c->token1, s, q, 3);
	COL_COPY(c->token2, s, q, 4);
	COL_COPY(c->email, s, q, 5);
	COL_COPY(c->thumbprint, s, q, 6);
	c->created = db_col_time(s, q, 7);
	c->send_wanted = (int)db_col_int(s, q, 8) != 0;
	c->sent = db_col_time(s, q, 9);
	c->validated = db_col_time(s, q, 10);
	COL_COPY(c->msgid, s, q, 11);
	COL_COPY(c->error, s, q, 12);
	return 0;
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
	int64_t new_id = 0;
	int rc;

	assert(thumbprint != NULL && jwk != NULL);
	rc = FITS(err, { thumbprint, THUMBPRINT_MAX, "thumbprint" });
	if (rc < 0)
		return rc;
	rc = db_fetch_int(s, Q_ACCT_ADD,
			  ARGS(AT(thumbprint), AT(jwk),
			       AT(contact != NULL ? contact : "[]"), AI(now)),
			  &new_id, err);
	if (rc == 0) {
		if (id != NULL)
			*id = new_id;
		return 0;
	}
	if (rc != LL_EEXIST || id == NULL)
		return rc;
	/* rows are never deleted: the one holding the key is still there */
	rc = db_fetch_int(s, Q_ACCT_ID, ARGS(AT(thumbprint)), id, err);
	if (rc < 0 && rc != LL_ENOTFOUND)
		return rc;
	return ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
		      "an account with this key exists");
}

int lld_store_account_get(struct lld_store *s, int64_t id,
			  struct lld_account *out, struct ll_error *err)
{
	return db_get(s, Q_ACCT_GET, ARGS(AI(id)), account_read, out,
		      sizeof(*out), err);
}

int lld_store_account_by_thumbprint(struct lld_store *s, const char *thumbprint,
				    struct lld_account *out,
				    struct ll_error *err)
{
	assert(thumbprint != NULL);
	return db_get(s, Q_ACCT_BY_TP, ARGS(AT(thumbprint)), account_read, out,
		      sizeof(*out), err);
}

int lld_store_account_deactivate(struct lld_store *s, int64_t id,
				 struct ll_error *err)
{
	int rc;

	rc = db_durable(s, 1, err);
	if (rc == 0)
		rc = db_begin(s, err);
	if (rc == 0)
		rc = EXEC1(s, Q_ACCT_DEACT, err, AI(id));
	/* challenges first: they are found through pending authorizations */
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_CHALL, err, AI(id));
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_AUTHZ, err, AI(id));
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_ORDER, err, AI(id));
	rc = db_end(s, rc, err);
	if (db_durable(s, 0, rc < 0 ? NULL : err) < 0 && rc == 0)
		rc = LL_ESTORE;
	return rc;
}

int lld_store_account_set_contact(struct lld_store *s, int64_t id,
				  const char *contact, struct ll_error *err)
{
	return EXEC1(s, Q_ACCT_CONTACT, err, AI(id),
		     AT(contact != NULL ? contact : "[]"));
}

/* ---- orders ---- */

int lld_store_order_new(struct lld_store *s, int64_t account, const char *email,
			const char *token1, const char *token2, time_t now,
			time_t expires, struct lld_order *out,
			struct ll_error *err)
{
	int64_t order = 0, authz = 0;
	int rc;

	assert(email != NULL && token1 != NULL && token2 != NULL);
	rc = FITS(err, { email, LLD_EMAIL_MAX, "address" },
		  { token1, LLD_TOKEN_MAX, "token part 1" },
		  { token2, LLD_TOKEN_MAX, "token part 2" });
	if (rc == 0)
		rc = db_begin(s, err);
	if (rc == 0)
		rc = db_fetch_int(s, Q_ORDER_ADD,
				  ARGS(AI(account), AT(email), AI(now),
				       AI(expires)),
				  &order, err);
	if (rc == 0)
		rc = db_fetch_int(s, Q_AUTHZ_ADD,
				  ARGS(AI(order), AI(account), AT(email),
				       AI(expires)),
				  &authz, err);
	if (rc == 0)
		rc = EXEC(s, Q_CHALL_ADD, err, AI(authz), AT(token1),
			  AT(token2), AI(now));
	rc = db_end(s, rc, err);
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
	return db_get(s, Q_ORDER_GET, ARGS(AI(id)), order_read, out,
		      sizeof(*out), err);
}

int lld_store_order_move(struct lld_store *s, int64_t id, const char *from,
			 const char *to, const unsigned char *csr,
			 size_t csrlen, const char *error, struct ll_error *err)
{
	int rc;

	assert(from != NULL && to != NULL);
	rc = FITS(err, { to, LLD_STATUS_MAX, "status" },
		  { error, LLD_PROBLEM_MAX, "problem" });
	if (rc < 0)
		return rc;
	return CAS(s, Q_ORDER_MOVE, Q_ORDER_EXISTS, err, AI(id), AT(from),
		   AT(to), AB(csr, csrlen), AT(error));
}

int lld_store_order_csr(struct lld_store *s, int64_t id, unsigned char **csr,
			size_t *len, struct ll_error *err)
{
	const enum qid q = Q_ORDER_CSR;
	int rc;

	*csr = NULL;
	*len = 0;
	rc = db_fetch(s, q, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	if (db_col_null(s, q, 0))
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "order %lld has no CSR", (long long)id);
	else if (db_col_blob(csr, len, s, q, 0) < 0)
		rc = db_nomem(err);
	db_reset(s, Q_ORDER_CSR);
	return rc;
}

/* ?1 of a list is its limit, at most MAX rows. */
static int64_t limit_of(size_t max)
{
	return max > INT64_MAX ? INT64_MAX : (int64_t)max;
}

int lld_store_orders_processing(struct lld_store *s, int64_t *ids, size_t max,
				size_t *n, struct ll_error *err)
{
	return db_list_ids(s, Q_ORDERS_PROC, ARGS(AI(limit_of(max))), ids, max,
			   n, err);
}

int lld_store_orders_of(struct lld_store *s, int64_t account, int64_t *ids,
			size_t max, size_t *n, struct ll_error *err)
{
	return db_list_ids(s, Q_ORDERS_OF, ARGS(AI(limit_of(max)), AI(account)),
			   ids, max, n, err);
}

/* ---- authorizations and challenges ---- */

int lld_store_authz_get(struct lld_store *s, int64_t id, struct lld_authz *out,
			struct ll_error *err)
{
	return db_get(s, Q_AUTHZ_GET, ARGS(AI(id)), authz_read, out,
		      sizeof(*out), err);
}

int lld_store_authz_fresh(struct lld_store *s, int64_t account,
			  const char *email, time_t since, time_t now,
			  struct ll_error *err)
{
	int rc = db_fetch(s, Q_AUTHZ_FRESH,
			  ARGS(AI(account), AT(email), AI(now), AI(since)),
			  err);

	if (rc == 0)
		db_reset(s, Q_AUTHZ_FRESH);
	return rc;
}

int lld_store_chall_get(struct lld_store *s, int64_t id, struct lld_chall *out,
			struct ll_error *err)
{
	return db_get(s, Q_CHALL_GET, ARGS(AI(id)), chall_read, out,
		      sizeof(*out), err);
}

int lld_store_chall_by_token1(struct lld_store *s, const char *token1,
			      struct lld_chall *out, struct ll_error *err)
{
	assert(token1 != NULL);
	return db_get(s, Q_CHALL_BY_T1, ARGS(AT(token1)), chall_read, out,
		      sizeof(*out), err);
}

int lld_store_chall_want_send(struct lld_store *s, int64_t id,
			      struct ll_error *err)
{
	return EXEC1(s, Q_CHALL_WANT, err, AI(id));
}

int lld_store_chall_to_send(struct lld_store *s, int64_t *ids, size_t max,
			    size_t *n, struct ll_error *err)
{
	return db_list_ids(s, Q_CHALL_TO_SEND, ARGS(AI(limit_of(max))), ids,
			   max, n, err);
}

int lld_store_chall_sent(struct lld_store *s, int64_t id, const char *msgid,
			 time_t when, struct ll_error *err)
{
	int rc;

	assert(msgid != NULL);
	rc = FITS(err, { msgid, LLD_MSGID_MAX, "Message-ID" });
	if (rc < 0)
		return rc;
	return EXEC1(s, Q_CHALL_SENT, err, AI(id), AI(when), AT(msgid));
}

int lld_store_chall_respond(struct lld_store *s, int64_t id,
			    struct ll_error *err)
{
	int rc;

	rc = CAS(s, Q_CHALL_RESPOND, Q_CHALL_EXISTS, err, AI(id));
	if (rc == LL_EEXIST) {
		/* in another status: left as it is */
		ll_error_clear(err);
		rc = 0;
	}
	return rc;
}

int lld_store_chall_settle(struct lld_store *s, int64_t id, int valid,
			   const char *error, time_t now, struct ll_error *err)
{
	const char *status = valid ? "valid" : "invalid";
	const char *problem = valid ? NULL : error;
	const enum qid q = Q_SETTLE_STATE;
	int64_t authz = 0, order = 0;
	int unsettled, rc;

	rc = FITS(err, { problem, LLD_PROBLEM_MAX, "problem" });
	if (rc == 0)
		rc = db_begin(s, err);
	if (rc == 0)
		rc = db_fetch(s, Q_SETTLE_STATE, ARGS(AI(id)), err);
	if (rc == 0) {
		/* the write lock is held: nobody moves them meanwhile */
		unsettled = (db_col_is(s, q, 0, "pending") ||
			     db_col_is(s, q, 0, "processing")) &&
			    db_col_is(s, q, 2, "pending") &&
			    db_col_is(s, q, 4, "pending");
		if (!unsettled)
			rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
				    "challenge %lld is settled already",
				    (long long)id);
		authz = db_col_int(s, q, 1);
		order = db_col_int(s, q, 3);
		db_reset(s, Q_SETTLE_STATE);
	}
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_CHALL, err, AI(id), AT(status),
			  AI(valid ? now : 0), AT(problem));
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_AUTHZ, err, AI(authz), AT(status));
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_ORDER, err, AI(order),
			  AT(valid ? "ready" : "invalid"), AT(problem));
	return db_end(s, rc, err);
}
