/*
 * store_db.h - inside the store (store.h), shared by its files and its
 * two backends.  The rows are read and written once, in SQL both
 * engines run alike: store_acme.c (accounts, orders, authorizations,
 * challenges), store_certs.c (certificates, revocations, blobs),
 * store_pkx.c (the PKX directory) and store_vault.c (the key vault);
 * store_db.c holds the statement set and the helpers that run it, and
 * picks the backend.  A backend (store_sqlite.c, store_pg.c) provides
 * the engine underneath: struct store_ops.  Not for other code: use
 * store.h.
 *
 * Every statement is named by a Q_* id and carries, in one table in
 * store_db.c, its SQL, what it does (for messages) and the noun of
 * the row its ?1 names ("order" makes "no order 7").  The helpers take
 * the bound parameters as ARGS(AI(id), AT(text), ...), ?1 first.
 */
#ifndef LLD_STORE_DB_H
#define LLD_STORE_DB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

enum qid {
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
	Q_AUTHZ_FRESH,
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
	Q_PKX_ADD,
	Q_PKX_LOOKUP,
	Q_PKX_GET,
	Q_PKX_CAPS,
	Q_PKX_CURRENT,
	Q_PKX_ORDER_SPEND,
	Q_PKX_CERTS,
	Q_PKX_NEXT,
	Q_VAULT_NEXT,
	Q_VAULT_ADD,
	Q_VAULT_PRUNE,
	Q_VAULT_GET,
	Q_VAULT_CURRENT,
	Q_VAULT_VERSIONS,
	Q_VAULT_DELETE,
	Q_PROOF_LATEST,
	Q_VAULT_READ,
	Q_VAULT_FORGET,
	Q_VAULT_READS,
	Q_COUNT
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

/* A statement of the set: its SQL (parameters ?1, ?2, ...), what it
 * does and the noun of the row ?1 names (NULL if it names none). */
struct query {
	const char *sql;
	const char *what;
	const char *noun;
};
extern const struct query db_queries[Q_COUNT];

/*
 * The engine under the store.  A statement runs in three steps: prep
 * binds the parameters (PostgreSQL also runs it there), step moves to
 * its next row, reset makes it ready again.  Errors come back as
 * LL_E* codes with ERR filled: a unique key taken is LL_EEXIST, a row
 * referred to and missing LL_ENOTFOUND, anything else LL_ESTORE.
 */
struct store_ops {
	const char *name;
	int (*prep)(struct lld_store *s, enum qid q, const struct arg *a,
		    size_t n, struct ll_error *err);
	/* 1 at a row, 0 at the end (Q then reset), or an error */
	int (*step)(struct lld_store *s, enum qid q, struct ll_error *err);
	void (*reset)(struct lld_store *s, enum qid q);
	/* rows the last statement run to its end inserted, changed or
	 * deleted */
	int64_t (*changes)(struct lld_store *s);
	/* column I of the row Q is at; text and blobs are borrowed until
	 * Q moves; NULL text is NULL, a NULL blob length 0 */
	int (*col_null)(struct lld_store *s, enum qid q, int i);
	int64_t (*col_int)(struct lld_store *s, enum qid q, int i);
	const char *(*col_text)(struct lld_store *s, enum qid q, int i);
	const void *(*col_blob)(struct lld_store *s, enum qid q, int i,
				size_t *len);
	/* a transaction that excludes every other writer, as long as
	 * it lasts; rollback only when one is open */
	int (*begin)(struct lld_store *s, struct ll_error *err);
	int (*commit)(struct lld_store *s, struct ll_error *err);
	void (*rollback)(struct lld_store *s);
	/* the next changes must survive a power loss too (FULL 1), or
	 * back to the usual; outside a transaction only */
	int (*durable)(struct lld_store *s, int full, struct ll_error *err);
	/* a count that changes when anybody commits a change */
	int (*data_version)(struct lld_store *s, int64_t *out,
			    struct ll_error *err);
	/* rows this handle changed, all statements together */
	int64_t (*total_changes)(struct lld_store *s);
	void (*close)(struct lld_store *s);
};

/* The part of a handle every backend shares; a backend's own handle
 * starts with it. */
struct lld_store {
	const struct store_ops *ops;
	/* lld_store_version: the count, and what it was last counted at */
	uint64_t version;
	int64_t data_version, changes;
};

/* The backends: open a file, or a postgresql:// URI, into *out. */
int db_sqlite_open(struct lld_store **out, const char *path,
		   struct ll_error *err);
int db_pg_open(struct lld_store **out, const char *uri, struct ll_error *err);

/* ---- statements ---- */

/* Statement Q with the parameters A[0..N) bound. */
static inline int db_prep(struct lld_store *s, enum qid q, const struct arg *a,
			  size_t n, struct ll_error *err)
{
	return s->ops->prep(s, q, a, n, err);
}

/* The next row of Q: 1 with a row, 0 at the end, or an error; Q is
 * reset but at a row. */
static inline int db_step(struct lld_store *s, enum qid q, struct ll_error *err)
{
	return s->ops->step(s, q, err);
}

/* Make Q ready for its next use. */
static inline void db_reset(struct lld_store *s, enum qid q)
{
	s->ops->reset(s, q);
}

static inline int64_t db_changes(struct lld_store *s)
{
	return s->ops->changes(s);
}

/* Q with its parameters, run to its end. */
int db_exec(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	    struct ll_error *err);
#define EXEC(s, q, err, ...) db_exec((s), (q), ARGS(__VA_ARGS__), (err))

/* Like EXEC, and LL_ENOTFOUND ("no <noun> <?1>") unless it changed
 * exactly one row. */
int db_exec1(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err);
#define EXEC1(s, q, err, ...) db_exec1((s), (q), ARGS(__VA_ARGS__), (err))

/* Compare-and-set: run Q; when it changed no row, look ?1 up with
 * CHECK (one column, a word on the row's state): LL_ENOTFOUND if the
 * row is missing, else LL_EEXIST ("<noun> <?1> is <word>"). */
int db_cas(struct lld_store *s, enum qid q, enum qid check, const struct arg *a,
	   size_t n, struct ll_error *err);
#define CAS(s, q, check, err, ...) \
	db_cas((s), (q), (check), ARGS(__VA_ARGS__), (err))

/* The first row of Q: 0 with Q on it (db_reset() after reading it),
 * LL_ENOTFOUND ("no <noun> <?1>") if there is none, or an error. */
int db_fetch(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err);

/* The first row of Q, one integer column, into *out; errors as
 * db_fetch.  An INSERT ... RETURNING id gives the new row's id so. */
int db_fetch_int(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
		 int64_t *out, struct ll_error *err);

/* OUT (SIZE bytes) zeroed, then the first row of Q read into it by
 * READ, one struct's row reader (0, or LL_ENOMEM with nothing left
 * allocated in OUT); errors as db_fetch, and LL_ENOMEM. */
int db_get(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	   int (*read)(struct lld_store *s, enum qid q, void *out), void *out,
	   size_t size, struct ll_error *err);

/* The ids in column 0 of Q's rows into IDS, at most MAX, *n of them. */
int db_list_ids(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
		int64_t *ids, size_t max, size_t *count, struct ll_error *err);

/* ---- columns of the row Q is at ---- */

static inline int64_t db_col_int(struct lld_store *s, enum qid q, int i)
{
	return s->ops->col_int(s, q, i);
}
static inline time_t db_col_time(struct lld_store *s, enum qid q, int i)
{
	return (time_t)s->ops->col_int(s, q, i);
}
static inline int db_col_null(struct lld_store *s, enum qid q, int i)
{
	return s->ops->col_null(s, q, i);
}
/* Column I into BUF of SIZE bytes, NUL-terminated, cut to fit. */
void db_col_copy(char *buf, size_t size, struct lld_store *s, enum qid q,
		 int i);
#define COL_COPY(field, s, q, i) \
	db_col_copy((field), sizeof(field), (s), (q), (i))
/* Column I as a string ("" for NULL), malloc'd; 0 or LL_ENOMEM. */
int db_col_strdup(char **out, struct lld_store *s, enum qid q, int i);
/* Column I as a blob, malloc'd (one byte at least); 0 or LL_ENOMEM. */
int db_col_blob(unsigned char **out, size_t *len, struct lld_store *s,
		enum qid q, int i);
/* Whether column I is the text WORD. */
int db_col_is(struct lld_store *s, enum qid q, int i, const char *word);

/* ---- transactions and checks ---- */

int db_begin(struct lld_store *s, struct ll_error *err);
/* Commit if RC is 0, else roll back the transaction if one is open
 * (none is after a failure before db_begin); returns RC or the commit's
 * error. */
int db_end(struct lld_store *s, int rc, struct ll_error *err);

/* The next changes must survive a power loss too (FULL 1: SQLite's
 * synchronous=FULL; every PostgreSQL commit does), or back to the
 * usual (SQLite's NORMAL).  For the few changes that must never roll
 * back; outside a transaction only. */
static inline int db_durable(struct lld_store *s, int full,
			     struct ll_error *err)
{
	return s->ops->durable(s, full, err);
}

/* A string to be stored and read back into a field of MAX octets. */
struct fit {
	const char *v; /* may be NULL */
	size_t max;
	const char *what;
};

/* LL_EINVAL if one of F[0..N) is longer than its field. */
int db_fits(const struct fit *f, size_t n, struct ll_error *err);
#define FITS(err, ...)                                        \
	db_fits((const struct fit[]){ __VA_ARGS__ },          \
		sizeof((const struct fit[]){ __VA_ARGS__ }) / \
			sizeof(struct fit),                   \
		(err))
int db_nomem(struct ll_error *err);

/* "no <noun of Q> <?1>": LL_ENOTFOUND. */
int db_missing(enum qid q, const struct arg *key, struct ll_error *err);

/* store_pkx.c: an entry for every certificate recorded before the PKX
 * table came (schema version 2 of a SQLite store), within the caller's
 * transaction. */
int db_pkx_backfill(struct lld_store *s, struct ll_error *err);

/* store_pkx.c: the PKX entry of certificate DER of ours (serial
 * SERIAL, order ORDER of ACCOUNT), inside the caller's transaction. */
int db_pkx_add_ours(struct lld_store *s, const char *serial, int64_t order,
		    int64_t account, const char *email,
		    const unsigned char *der, size_t derlen, time_t not_before,
		    time_t not_after, time_t now, struct ll_error *err);

#endif
