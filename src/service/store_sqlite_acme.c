/*
 * store_sqlite_acme.c - the ACME rows of the SQLite store (store.h):
 * accounts, orders, authorizations and challenges.  The statements and
 * the helpers that run them are in store_sqlite.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "internal.h"
#include "store_sqlite.h"

#define THUMBPRINT_MAX 43

/* ---- row readers, one per struct ---- */

static int account_read(sqlite3_stmt *st, void *out)
{
	struct lld_account *a = out;

	a->id = sqlite3_column_int64(st, 0);
	COL_COPY(a->status, st, 1);
	COL_COPY(a->thumbprint, st, 2);
	a->created = sq_col_time(st, 5);
	if (sq_col_strdup(&a->jwk, st, 3) < 0 ||
	    sq_col_strdup(&a->contact, st, 4) < 0) {
		lld_account_clear(a);
		return LL_ENOMEM;
	}
	return 0;
}

static int order_read(sqlite3_stmt *st, void *out)
{
	struct lld_order *o = out;

	o->id = sqlite3_column_int64(st, 0);
	o->account = sqlite3_column_int64(st, 1);
	o->authz = sqlite3_column_int64(st, 2);
	COL_COPY(o->email, st, 3);
	COL_COPY(o->status, st, 4);
	o->created = sq_col_time(st, 5);
	o->expires = sq_col_time(st, 6);
	COL_COPY(o->serial, st, 7);
	COL_COPY(o->error, st, 8);
	return 0;
}

static int authz_read(sqlite3_stmt *st, void *out)
{
	struct lld_authz *a = out;

	a->id = sqlite3_column_int64(st, 0);
	a->order = sqlite3_column_int64(st, 1);
	a->account = sqlite3_column_int64(st, 2);
	a->chall = sqlite3_column_int64(st, 3);
	COL_COPY(a->email, st, 4);
	COL_COPY(a->status, st, 5);
	a->expires = sq_col_time(st, 6);
	return 0;
}

static int chall_read(sqlite3_stmt *st, void *out)
{
	struct lld_chall *c = out;

	c->id = sqlite3_column_int64(st, 0);
	c->authz = sqlite3_column_int64(st, 1);
	COL_COPY(c->status, st, 2);
	COL_COPY(c->token1, st, 3);
	COL_COPY(c->token2, st, 4);
	COL_COPY(c->email, st, 5);
	COL_COPY(c->thumbprint, st, 6);
	c->created = sq_col_time(st, 7);
	c->send_wanted = sqlite3_column_int(st, 8) != 0;
	c->sent = sq_col_time(st, 9);
	c->validated = sq_col_time(st, 10);
	COL_COPY(c->msgid, st, 11);
	COL_COPY(c->error, st, 12);
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
	int rc;

	assert(thumbprint != NULL && jwk != NULL);
	rc = FITS(err, { thumbprint, THUMBPRINT_MAX, "thumbprint" });
	if (rc < 0)
		return rc;
	rc = EXEC(s, Q_ACCT_ADD, err, AT(thumbprint), AT(jwk),
		  AT(contact != NULL ? contact : "[]"), AI(now));
	if (rc == 0) {
		if (id != NULL)
			*id = sqlite3_last_insert_rowid(s->db);
		return 0;
	}
	if (rc != LL_EEXIST || id == NULL)
		return rc;
	/* rows are never deleted: the one holding the key is still there */
	rc = sq_fetch(s, Q_ACCT_ID, ARGS(AT(thumbprint)), err);
	if (rc == 0) {
		*id = sqlite3_column_int64(s->st[Q_ACCT_ID], 0);
		sq_reset(s, Q_ACCT_ID);
	}
	if (rc < 0 && rc != LL_ENOTFOUND)
		return rc;
	return ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
		      "an account with this key exists");
}

int lld_store_account_get(struct lld_store *s, int64_t id,
			  struct lld_account *out, struct ll_error *err)
{
	return sq_get(s, Q_ACCT_GET, ARGS(AI(id)), account_read, out,
		      sizeof(*out), err);
}

int lld_store_account_by_thumbprint(struct lld_store *s, const char *thumbprint,
				    struct lld_account *out,
				    struct ll_error *err)
{
	assert(thumbprint != NULL);
	return sq_get(s, Q_ACCT_BY_TP, ARGS(AT(thumbprint)), account_read, out,
		      sizeof(*out), err);
}

int lld_store_account_deactivate(struct lld_store *s, int64_t id,
				 struct ll_error *err)
{
	int rc;

	rc = sq_durable(s, 1, err);
	if (rc == 0)
		rc = sq_begin(s, err);
	if (rc == 0)
		rc = EXEC1(s, Q_ACCT_DEACT, err, AI(id));
	/* challenges first: they are found through pending authorizations */
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_CHALL, err, AI(id));
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_AUTHZ, err, AI(id));
	if (rc == 0)
		rc = EXEC(s, Q_ACCT_DEACT_ORDER, err, AI(id));
	rc = sq_end(s, rc, err);
	if (sq_durable(s, 0, rc < 0 ? NULL : err) < 0 && rc == 0)
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
		rc = sq_begin(s, err);
	if (rc == 0)
		rc = EXEC(s, Q_ORDER_ADD, err, AI(account), AT(email), AI(now),
			  AI(expires));
	if (rc == 0) {
		order = sqlite3_last_insert_rowid(s->db);
		rc = EXEC(s, Q_AUTHZ_ADD, err, AI(order), AI(account),
			  AT(email), AI(expires));
	}
	if (rc == 0) {
		authz = sqlite3_last_insert_rowid(s->db);
		rc = EXEC(s, Q_CHALL_ADD, err, AI(authz), AT(token1),
			  AT(token2), AI(now));
	}
	rc = sq_end(s, rc, err);
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
	return sq_get(s, Q_ORDER_GET, ARGS(AI(id)), order_read, out,
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
	sqlite3_stmt *st;
	int rc;

	*csr = NULL;
	*len = 0;
	rc = sq_fetch(s, Q_ORDER_CSR, ARGS(AI(id)), err);
	if (rc < 0)
		return rc;
	st = s->st[Q_ORDER_CSR];
	if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "order %lld has no CSR", (long long)id);
	else if (sq_col_blob(csr, len, st, 0) < 0)
		rc = sq_nomem(err);
	sq_reset(s, Q_ORDER_CSR);
	return rc;
}

/* Q's ids into IDS; ?1 of Q is the limit, ?2 (when Q has it) KEY. */
static int list_ids(struct lld_store *s, enum qid q, int64_t key, int64_t *ids,
		    size_t max, size_t *n, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t)max;
	int rc;

	*n = 0;
	if (q == Q_ORDERS_OF)
		rc = sq_prep(s, q, ARGS(AI(limit), AI(key)), &st, err);
	else
		rc = sq_prep(s, q, ARGS(AI(limit)), &st, err);
	if (rc < 0)
		return rc;
	while (*n < max && (rc = sq_step(s, q, err)) == 1)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sq_reset(s, q);
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

/* ---- authorizations and challenges ---- */

int lld_store_authz_get(struct lld_store *s, int64_t id, struct lld_authz *out,
			struct ll_error *err)
{
	return sq_get(s, Q_AUTHZ_GET, ARGS(AI(id)), authz_read, out,
		      sizeof(*out), err);
}

int lld_store_authz_fresh(struct lld_store *s, int64_t account,
			  const char *email, time_t since, time_t now,
			  struct ll_error *err)
{
	int rc = sq_fetch(s, Q_AUTHZ_FRESH,
			  ARGS(AI(account), AT(email), AI(now), AI(since)),
			  err);

	if (rc == 0)
		sq_reset(s, Q_AUTHZ_FRESH);
	return rc;
}

int lld_store_chall_get(struct lld_store *s, int64_t id, struct lld_chall *out,
			struct ll_error *err)
{
	return sq_get(s, Q_CHALL_GET, ARGS(AI(id)), chall_read, out,
		      sizeof(*out), err);
}

int lld_store_chall_by_token1(struct lld_store *s, const char *token1,
			      struct lld_chall *out, struct ll_error *err)
{
	assert(token1 != NULL);
	return sq_get(s, Q_CHALL_BY_T1, ARGS(AT(token1)), chall_read, out,
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
	return list_ids(s, Q_CHALL_TO_SEND, 0, ids, max, n, err);
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
	sqlite3_stmt *st;
	int64_t authz = 0, order = 0;
	int unsettled, rc;

	rc = FITS(err, { problem, LLD_PROBLEM_MAX, "problem" });
	if (rc == 0)
		rc = sq_begin(s, err);
	if (rc == 0)
		rc = sq_fetch(s, Q_SETTLE_STATE, ARGS(AI(id)), err);
	if (rc == 0) {
		st = s->st[Q_SETTLE_STATE];
		/* the write lock is held: nobody moves them meanwhile */
		unsettled = (sq_col_is(st, 0, "pending") ||
			     sq_col_is(st, 0, "processing")) &&
			    sq_col_is(st, 2, "pending") &&
			    sq_col_is(st, 4, "pending");
		if (!unsettled)
			rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
				    "challenge %lld is settled already",
				    (long long)id);
		authz = sqlite3_column_int64(st, 1);
		order = sqlite3_column_int64(st, 3);
		sq_reset(s, Q_SETTLE_STATE);
	}
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_CHALL, err, AI(id), AT(status),
			  AI(valid ? now : 0), AT(problem));
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_AUTHZ, err, AI(authz), AT(status));
	if (rc == 0)
		rc = EXEC(s, Q_SETTLE_ORDER, err, AI(order),
			  AT(valid ? "ready" : "invalid"), AT(problem));
	return sq_end(s, rc, err);
}
