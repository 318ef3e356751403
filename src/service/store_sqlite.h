/*
 * store_sqlite.h - inside the SQLite store (store.h), shared by its
 * files: store_sqlite.c (opening, the schema, the statement set
 * and the helpers that run it), store_sqlite_acme.c (accounts, orders,
 * authorizations, challenges), store_sqlite_certs.c (certificates,
 * revocations, blobs), store_sqlite_pkx.c (the PKX directory) and
 * store_sqlite_vault.c (the key vault).  Not
 * for other code: use store.h.
 *
 * Every statement is named by a Q_* id and carries, in one table in
 * store_sqlite.c, its SQL, what it does (for messages) and the noun of
 * the row its ?1 names ("order" makes "no order 7").  The helpers take
 * the bound parameters as ARGS(AI(id), AT(text), ...), ?1 first.
 */
#ifndef LLD_STORE_SQLITE_H
#define LLD_STORE_SQLITE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "store.h"

enum qid {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
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
	Q_DATA_VERSION,
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

struct lld_store {
	sqlite3 *db;
	sqlite3_stmt *st[Q_COUNT]; /* prepared on first use */
	/* lld_store_version: the count, and what it was last counted at */
	uint64_t version;
	int64_t data_version, changes;
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

/* ---- statements ---- */

/* Statement Q with the parameters A[0..N) bound, into *out (borrowed
 * from S). */
int sq_prep(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	    sqlite3_stmt **out, struct ll_error *err);

/* The next row of Q: 1 with a row, 0 at the end, or an error; Q is
 * reset but at a row.  A unique key taken is LL_EEXIST, a missing row
 * referred to LL_ENOTFOUND. */
int sq_step(struct lld_store *s, enum qid q, struct ll_error *err);

/* Make Q ready for its next use. */
void sq_reset(struct lld_store *s, enum qid q);

/* Q with its parameters, run to its end. */
int sq_exec(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	    struct ll_error *err);
#define EXEC(s, q, err, ...) sq_exec((s), (q), ARGS(__VA_ARGS__), (err))

/* Like EXEC, and LL_ENOTFOUND ("no <noun> <?1>") unless it changed
 * exactly one row. */
int sq_exec1(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err);
#define EXEC1(s, q, err, ...) sq_exec1((s), (q), ARGS(__VA_ARGS__), (err))

/* Compare-and-set: run Q; when it changed no row, look ?1 up with
 * CHECK (one column, a word on the row's state): LL_ENOTFOUND if the
 * row is missing, else LL_EEXIST ("<noun> <?1> is <word>"). */
int sq_cas(struct lld_store *s, enum qid q, enum qid check, const struct arg *a,
	   size_t n, struct ll_error *err);
#define CAS(s, q, check, err, ...) \
	sq_cas((s), (q), (check), ARGS(__VA_ARGS__), (err))

/* The first row of Q: 0 with s->st[Q] on it (sq_reset() after reading
 * it), LL_ENOTFOUND ("no <noun> <?1>") if there is none, or an error. */
int sq_fetch(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err);

/* OUT (SIZE bytes) zeroed, then the first row of Q read into it by
 * READ, one struct's row reader (0, or LL_ENOMEM with nothing left
 * allocated in OUT); errors as sq_fetch, and LL_ENOMEM. */
int sq_get(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	   int (*read)(sqlite3_stmt *st, void *out), void *out, size_t size,
	   struct ll_error *err);

/* ---- columns of a row ---- */

/* Column I of ST into BUF of SIZE bytes, NUL-terminated, cut to fit. */
void sq_col_copy(char *buf, size_t size, sqlite3_stmt *st, int i);
#define COL_COPY(field, st, i) sq_col_copy((field), sizeof(field), (st), (i))
/* Column I of ST as a string ("" for NULL), malloc'd; 0 or LL_ENOMEM. */
int sq_col_strdup(char **out, sqlite3_stmt *st, int i);
/* Column I of ST as a blob, malloc'd (one byte at least); 0 or
 * LL_ENOMEM. */
int sq_col_blob(unsigned char **out, size_t *len, sqlite3_stmt *st, int i);
time_t sq_col_time(sqlite3_stmt *st, int i);
/* Whether column I of ST is the text WORD. */
int sq_col_is(sqlite3_stmt *st, int i, const char *word);

/* ---- transactions and checks ---- */

int sq_begin(struct lld_store *s, struct ll_error *err);
/* Commit if RC is 0, else roll back the transaction if one is open
 * (none is after a failure before sq_begin); returns RC or the commit's
 * error. */
int sq_end(struct lld_store *s, int rc, struct ll_error *err);

/* A string to be stored and read back into a field of MAX octets. */
struct fit {
	const char *v; /* may be NULL */
	size_t max;
	const char *what;
};

/* LL_EINVAL if one of F[0..N) is longer than its field. */
int sq_fits(const struct fit *f, size_t n, struct ll_error *err);
#define FITS(err, ...)                                        \
	sq_fits((const struct fit[]){ __VA_ARGS__ },          \
		sizeof((const struct fit[]){ __VA_ARGS__ }) / \
			sizeof(struct fit),                   \
		(err))
int sq_nomem(struct ll_error *err);

/* store_sqlite_pkx.c: schema version 2, the PKX table, made in an
 * older store (within the caller's transaction) with an entry for every
 * certificate recorded before. */
int sq_pkx_schema(struct lld_store *s, struct ll_error *err);

/* store_sqlite_pkx.c: the PKX entry of certificate DER of ours (serial
 * SERIAL, order ORDER of ACCOUNT), inside the caller's transaction. */
int sq_pkx_add_ours(struct lld_store *s, const char *serial, int64_t order,
		    int64_t account, const char *email,
		    const unsigned char *der, size_t derlen, time_t not_before,
		    time_t not_after, time_t now, struct ll_error *err);

/* store_sqlite_vault.c: schema version 3, the vault's tables, within
 * the caller's transaction. */
int sq_vault_schema(struct lld_store *s, struct ll_error *err);

/* synchronous=FULL (FULL 1) for the next changes, or back to NORMAL:
 * for the few that must survive a power loss too.  Outside a
 * transaction only. */
int sq_durable(struct lld_store *s, int full, struct ll_error *err);

#endif
