/*
 * store_pg.c - the PostgreSQL backend of the store (store.h,
 * store_db.h), through libpq: for many letterlockd fronts over one
 * database, where one machine's SQLite file is not enough.
 *
 * It runs the statement set of store_db.c as it is (?N becomes $N),
 * each statement prepared once per connection on its first use, the
 * parameters bound (integers and text as text, blobs in binary), the
 * rows read in binary.  The schema is made at the first opening, in
 * the same version as SQLite's (lld_meta holds it); a newer one is
 * refused.
 *
 * Writers, as in SQLite, go one at a time: a transaction begins by
 * locking the one row of lld_version (SELECT ... FOR UPDATE) and holds
 * it to its end, and a change made outside a transaction runs in one
 * of its own.  So a
 * read-then-write in a transaction (settling a challenge, recording a
 * certificate, numbering a vault version) sees nothing move under it
 * whichever front writes, and compare-and-set moves stay single
 * UPDATEs.  A commit is durable (synchronous_commit is on unless the
 * server's administrator turned it off): the durable operation has
 * nothing to add.
 *
 * lld_store_version: every table carries a statement trigger that
 * counts its changes in lld_version, in the writer's transaction, so a
 * count read elsewhere moves exactly when the change becomes visible;
 * anyone's change waits for the row, a hand-made one too.  A handle
 * reads the count at the start and the end of its own transactions
 * (under the row's lock: nobody else moves it meanwhile) and leaves
 * its own steps out of the count it reports as others' changes.
 *
 * A connection lost fails the call under way with LL_ESTORE (a
 * transaction in it is rolled back by the server); the next call
 * connects again.  The URI may hold a password: messages name the
 * store by the URI without it (lld_store_shown).
 */
#include <assert.h>
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "internal.h"
#include "store_db.h"

#define SCHEMA_VERSION 3 /* the numbers of store_sqlite.c */
#define SCHEMA_LOCK "7809911442130101" /* pg_advisory_xact_lock key */
#define MAX_PARAMS 12
#define CONNECT_TIMEOUT "10" /* seconds, unless the URI says */

struct pg_store {
	struct lld_store base; /* first */
	PGconn *conn;
	char shown[LLD_STORE_SHOWN_MAX]; /* the URI without password */
	PGresult *res[Q_COUNT]; /* of the statement run, until reset */
	int row[Q_COUNT]; /* the row it is at, -1 before the first */
	unsigned char prepared[Q_COUNT]; /* on this connection */
	int in_tx;
	int64_t changes, total;
	/* lld_version's count when this handle's transaction began; the
	 * steps of it this handle's own transactions made */
	int64_t count0, own;
};

static struct pg_store *pg(struct lld_store *s)
{
	return (struct pg_store *)s;
}

/* clang-format off */
static const char schema[] =
	"CREATE TABLE lld_meta (schema_version integer NOT NULL);"
	"CREATE TABLE lld_version (n bigint NOT NULL);"
	"INSERT INTO lld_version VALUES (0);"
	"CREATE TABLE accounts ("
	" id bigserial PRIMARY KEY,"
	" status text NOT NULL,"
	" thumbprint text COLLATE \"C\" NOT NULL UNIQUE,"
	" jwk text NOT NULL,"
	" contact text NOT NULL,"
	" created bigint NOT NULL);"
	"CREATE TABLE orders ("
	" id bigserial PRIMARY KEY,"
	" account bigint NOT NULL REFERENCES accounts (id),"
	" email text COLLATE \"C\" NOT NULL,"
	" status text NOT NULL,"
	" created bigint NOT NULL,"
	" expires bigint NOT NULL,"
	" csr bytea,"
	" serial text NOT NULL DEFAULT '',"
	" error text NOT NULL DEFAULT '');"
	"CREATE INDEX orders_status ON orders (status);"
	"CREATE INDEX orders_account ON orders (account, status);"
	"CREATE TABLE authzs ("
	" id bigserial PRIMARY KEY,"
	" order_id bigint NOT NULL UNIQUE REFERENCES orders (id),"
	" account bigint NOT NULL REFERENCES accounts (id),"
	" email text COLLATE \"C\" NOT NULL,"
	" status text NOT NULL,"
	" expires bigint NOT NULL);"
	"CREATE INDEX authzs_account ON authzs (account, status);"
	"CREATE INDEX authzs_email ON authzs (account, email);"
	"CREATE TABLE challenges ("
	" id bigserial PRIMARY KEY,"
	" authz bigint NOT NULL UNIQUE REFERENCES authzs (id),"
	" status text NOT NULL,"
	" token1 text COLLATE \"C\" NOT NULL UNIQUE,"
	" token2 text NOT NULL,"
	" created bigint NOT NULL,"
	" send_wanted bigint NOT NULL DEFAULT 0,"
	" sent bigint NOT NULL DEFAULT 0,"
	" validated bigint NOT NULL DEFAULT 0,"
	" msgid text NOT NULL DEFAULT '',"
	" error text NOT NULL DEFAULT '');"
	"CREATE INDEX challenges_send ON challenges (id)"
	" WHERE send_wanted = 1 AND sent = 0;"
	"CREATE TABLE certs ("
	" serial text COLLATE \"C\" PRIMARY KEY,"
	" order_id bigint NOT NULL UNIQUE REFERENCES orders (id),"
	" account bigint NOT NULL REFERENCES accounts (id),"
	" email text COLLATE \"C\" NOT NULL,"
	" der bytea NOT NULL,"
	" not_before bigint NOT NULL,"
	" not_after bigint NOT NULL,"
	" revoked bigint NOT NULL DEFAULT 0,"
	" reason bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX certs_revoked ON certs (not_after) WHERE revoked <> 0;"
	"CREATE TABLE blobs ("
	" name text COLLATE \"C\" PRIMARY KEY,"
	" data bytea NOT NULL,"
	" stamp bigint NOT NULL);"
	"CREATE TABLE pkx ("
	" fpr text COLLATE \"C\" PRIMARY KEY,"
	" email text COLLATE \"C\" NOT NULL,"
	" der bytea,"
	" not_before bigint NOT NULL,"
	" not_after bigint NOT NULL,"
	" account bigint NOT NULL REFERENCES accounts (id),"
	" order_id bigint NOT NULL UNIQUE REFERENCES orders (id),"
	" serial text COLLATE \"C\" UNIQUE REFERENCES certs (serial),"
	" caps text,"
	" published bigint NOT NULL,"
	" CHECK ((der IS NULL) <> (serial IS NULL)));"
	"CREATE INDEX pkx_email ON pkx (email, not_after);"
	"CREATE TABLE vault ("
	" email text COLLATE \"C\" NOT NULL,"
	" version bigint NOT NULL,"
	" account bigint NOT NULL REFERENCES accounts (id),"
	" blob bytea NOT NULL,"
	" stamp bigint NOT NULL,"
	" PRIMARY KEY (email, version));"
	"CREATE TABLE vault_reads ("
	" id bigserial PRIMARY KEY,"
	" email text COLLATE \"C\" NOT NULL,"
	" account bigint NOT NULL,"
	" stamp bigint NOT NULL);"
	"CREATE INDEX vault_reads_email ON vault_reads (email, stamp);"
	"CREATE INDEX vault_reads_account ON vault_reads (account, stamp);"
	"CREATE INDEX vault_reads_stamp ON vault_reads (stamp);"
	/* lld_store_version's count, moved by every change */
	"CREATE FUNCTION lld_bump() RETURNS trigger LANGUAGE plpgsql AS"
	" 'BEGIN UPDATE lld_version SET n = n + 1; RETURN NULL; END';"
	"DO 'DECLARE t text; BEGIN"
	" FOREACH t IN ARRAY ARRAY[''accounts'', ''orders'', ''authzs'',"
	" ''challenges'', ''certs'', ''blobs'', ''pkx'', ''vault'',"
	" ''vault_reads''] LOOP"
	" EXECUTE format(''CREATE TRIGGER lld_bump AFTER INSERT OR UPDATE"
	" OR DELETE ON %I FOR EACH STATEMENT EXECUTE FUNCTION lld_bump()'',"
	" t); END LOOP; END';"
	"INSERT INTO lld_meta VALUES (3);";
/* clang-format on */

/* ---- messages ---- */

/* The first line of a libpq message. */
static int first_line(const char *m)
{
	size_t n = strcspn(m != NULL ? m : "", "\n");

	return n > 300 ? 300 : (int)n;
}

/* The connection's trouble: LL_ESTORE. */
static int conn_err(struct pg_store *s, struct ll_error *err, const char *what)
{
	const char *m = PQerrorMessage(s->conn);

	return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
		      "%s: PostgreSQL %s: %.*s", what, s->shown, first_line(m),
		      m);
}

/* A statement's failure as an LL_E* code. */
static int res_err(struct pg_store *s, const PGresult *res,
		   struct ll_error *err, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *m = PQresultErrorMessage(res);

	if (PQstatus(s->conn) != CONNECTION_OK) {
		s->in_tx = 0; /* the server rolled it back */
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "%s: the connection to PostgreSQL %s is lost "
			      "(the next call connects again): %.*s",
			      what, s->shown, first_line(m), m);
	}
	if (state != NULL && strcmp(state, "23505") == 0)
		return ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
			      "%s: already present", what);
	if (state != NULL && strcmp(state, "23503") == 0)
		return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			      "%s: a row it refers to does not exist", what);
	if (state != NULL && strcmp(state, "53200") == 0)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_STORE,
			      "%s: PostgreSQL is out of memory", what);
	return ll_err(err, LL_ESTORE, LL_ECLASS_STORE, "%s: %.*s", what,
		      first_line(m), m);
}

/* ---- the connection ---- */

/* Connected, or connected again after a loss (the statements are
 * prepared anew then).  Not inside a transaction: the rest of one
 * must not run outside it. */
static int connected(struct pg_store *s, struct ll_error *err)
{
	if (PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->in_tx)
		return conn_err(s, err, "in a transaction");
	PQreset(s->conn);
	memset(s->prepared, 0, sizeof(s->prepared));
	if (PQstatus(s->conn) != CONNECTION_OK)
		return conn_err(s, err, "connecting");
	return 0;
}

/* SQL without parameters, its result in text (schema, transactions). */
static int run(struct pg_store *s, const char *sql, const char *what,
	       PGresult **out, struct ll_error *err)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = res != NULL ? res_err(s, res, err, what) :
				   conn_err(s, err, what);
	if (rc == 0 && out != NULL) {
		*out = res;
		return 0;
	}
	PQclear(res);
	return rc;
}

/* The count of lld_version in a result of one row. */
static int64_t count_of(const PGresult *res)
{
	if (PQntuples(res) != 1)
		return 0;
	return strtoll(PQgetvalue(res, 0, 0), NULL, 10);
}

static int pg_begin(struct lld_store *base, struct ll_error *err)
{
	struct pg_store *s = pg(base);
	PGresult *res = NULL;
	int rc;

	assert(!s->in_tx);
	rc = connected(s, err);
	/* the writers' lock, one round trip */
	if (rc == 0)
		rc = run(s, "BEGIN; SELECT n FROM lld_version FOR UPDATE",
			 "starting a transaction", &res, err);
	if (rc == 0) {
		s->count0 = count_of(res);
		s->in_tx = 1;
	} else if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
		PQclear(PQexec(s->conn, "ROLLBACK"));
	}
	PQclear(res);
	return rc;
}

static int pg_commit(struct lld_store *base, struct ll_error *err)
{
	struct pg_store *s = pg(base);
	PGresult *res;
	int64_t count = s->count0;
	int rc = 0, results = 0, committed = 0;

	/* the count this transaction leaves, and the commit: one round
	 * trip, two results */
	if (!PQsendQuery(s->conn, "SELECT n FROM lld_version; COMMIT")) {
		s->in_tx = 0;
		return conn_err(s, err, "committing");
	}
	/* every result read, an error's too */
	while ((res = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK && results == 0)
			count = count_of(res);
		else if (PQresultStatus(res) == PGRES_COMMAND_OK)
			/* a transaction that failed answers ROLLBACK */
			committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
		else if (rc == 0)
			rc = res_err(s, res, err, "committing");
		results++;
		PQclear(res);
	}
	if (rc == 0 && !committed)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "committing: the transaction was rolled back");
	if (rc == 0)
		s->own += count - s->count0;
	s->in_tx = 0;
	return rc;
}

static void pg_rollback(struct lld_store *base)
{
	struct pg_store *s = pg(base);

	if (s->in_tx && PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	s->in_tx = 0;
}

/* ---- statements ---- */

/* Statement Q's SQL with ?N written $N, into BUF. */
static int dollar_sql(char *buf, size_t size, const char *sql)
{
	size_t n = strlen(sql);

	if (n >= size)
		return -1;
	for (size_t i = 0; i <= n; i++)
		buf[i] = sql[i] == '?' ? '$' : sql[i];
	return 0;
}

static int prepare(struct pg_store *s, enum qid q, struct ll_error *err)
{
	char name[16], sql[2048];
	PGresult *res;
	int rc = 0;

	if (s->prepared[q])
		return 0;
	snprintf(name, sizeof(name), "q%d", (int)q);
	if (dollar_sql(sql, sizeof(sql), db_queries[q].sql) < 0)
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "%s: statement too long", db_queries[q].what);
	res = PQprepare(s->conn, name, sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = res != NULL ?
			     res_err(s, res, err, "preparing a statement") :
			     conn_err(s, err, "preparing a statement");
	else
		s->prepared[q] = 1;
	PQclear(res);
	return rc;
}

/* Whether Q changes rows (and must hold the write lock). */
static int writes(enum qid q)
{
	const char *sql = db_queries[q].sql;

	return strncmp(sql, "INSERT", 6) == 0 ||
	       strncmp(sql, "UPDATE", 6) == 0 || strncmp(sql, "DELETE", 6) == 0;
}

/* Rows an INSERT, UPDATE or DELETE changed; 0 for anything else. */
static int64_t changed(const PGresult *res)
{
	const char *st = PQcmdStatus((PGresult *)res);

	if (strncmp(st, "INSERT", 6) != 0 && strncmp(st, "UPDATE", 6) != 0 &&
	    strncmp(st, "DELETE", 6) != 0)
		return 0;
	return strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

static void pg_reset(struct lld_store *base, enum qid q)
{
	struct pg_store *s = pg(base);

	PQclear(s->res[q]);
	s->res[q] = NULL;
	s->row[q] = -1;
}

/* Run Q with A[0..N); its rows wait in s->res[q]. */
static int run_prepared(struct pg_store *s, enum qid q, const struct arg *a,
			size_t n, struct ll_error *err)
{
	const char *values[MAX_PARAMS];
	int lengths[MAX_PARAMS], formats[MAX_PARAMS];
	char ints[MAX_PARAMS][24], name[16];
	PGresult *res;
	ExecStatusType st;

	assert(n <= MAX_PARAMS);
	for (size_t i = 0; i < n; i++) {
		lengths[i] = 0;
		formats[i] = 0;
		switch (a[i].type) {
		case A_INT:
			snprintf(ints[i], sizeof(ints[i]), "%lld",
				 (long long)a[i].i);
			values[i] = ints[i];
			break;
		case A_TEXT:
			values[i] = a[i].s;
			break;
		case A_BLOB:
			if (a[i].n > INT32_MAX)
				return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
					      "%s: a blob of %zu octets",
					      db_queries[q].what, a[i].n);
			values[i] = a[i].p == NULL ? NULL :
				    a[i].n == 0	   ? "" :
						     (const char *)a[i].p;
			lengths[i] = (int)a[i].n;
			formats[i] = 1;
			break;
		}
	}
	snprintf(name, sizeof(name), "q%d", (int)q);
	res = PQexecPrepared(s->conn, name, (int)n, values, lengths, formats,
			     1);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = res != NULL ?
				 res_err(s, res, err, db_queries[q].what) :
				 conn_err(s, err, db_queries[q].what);

		PQclear(res);
		return rc;
	}
	s->changes = changed(res);
	s->total += s->changes;
	s->res[q] = res;
	s->row[q] = -1;
	return 0;
}

static int pg_prep(struct lld_store *base, enum qid q, const struct arg *a,
		   size_t n, struct ll_error *err)
{
	struct pg_store *s = pg(base);
	int alone = !s->in_tx && writes(q);
	int rc;

	pg_reset(base, q);
	rc = connected(s, err);
	if (rc == 0)
		rc = prepare(s, q, err);
	if (rc < 0)
		return rc;
	/* a change outside a transaction waits for the writer's lock too */
	if (alone) {
		rc = pg_begin(base, err);
		if (rc < 0)
			return rc;
	}
	rc = run_prepared(s, q, a, n, err);
	if (alone)
		rc = db_end(base, rc, err);
	if (rc < 0)
		pg_reset(base, q);
	return rc;
}

static int pg_step(struct lld_store *base, enum qid q, struct ll_error *err)
{
	struct pg_store *s = pg(base);

	(void)err;
	if (s->res[q] == NULL)
		return 0;
	if (++s->row[q] < PQntuples(s->res[q]))
		return 1;
	pg_reset(base, q);
	return 0;
}

static int64_t pg_changes(struct lld_store *base)
{
	return pg(base)->changes;
}

static int64_t pg_total_changes(struct lld_store *base)
{
	return pg(base)->total;
}

/* ---- columns, in binary ---- */

static int pg_col_null(struct lld_store *base, enum qid q, int i)
{
	struct pg_store *s = pg(base);

	return PQgetisnull(s->res[q], s->row[q], i);
}

static int64_t pg_col_int(struct lld_store *base, enum qid q, int i)
{
	struct pg_store *s = pg(base);
	const char *v = PQgetvalue(s->res[q], s->row[q], i);
	uint64_t u64;
	uint32_t u32;
	uint16_t u16;

	switch (PQgetlength(s->res[q], s->row[q], i)) {
	case 8:
		memcpy(&u64, v, 8);
		return (int64_t)be64toh(u64);
	case 4:
		memcpy(&u32, v, 4);
		return (int32_t)be32toh(u32);
	case 2:
		memcpy(&u16, v, 2);
		return (int16_t)be16toh(u16);
	case 1:
		return (unsigned char)v[0];
	default: /* NULL */
		return 0;
	}
}

static const char *pg_col_text(struct lld_store *base, enum qid q, int i)
{
	struct pg_store *s = pg(base);

	if (PQgetisnull(s->res[q], s->row[q], i))
		return NULL;
	return PQgetvalue(s->res[q], s->row[q], i);
}

static const void *pg_col_blob(struct lld_store *base, enum qid q, int i,
			       size_t *len)
{
	struct pg_store *s = pg(base);

	*len = (size_t)PQgetlength(s->res[q], s->row[q], i);
	return PQgetvalue(s->res[q], s->row[q], i);
}

/* ---- the rest of the engine ---- */

static int pg_durable(struct lld_store *base, int full, struct ll_error *err)
{
	(void)base;
	(void)full;
	(void)err;
	return 0; /* every commit is */
}

static int pg_data_version(struct lld_store *base, int64_t *out,
			   struct ll_error *err)
{
	struct pg_store *s = pg(base);
	PGresult *res = NULL;
	int rc;

	rc = connected(s, err);
	if (rc == 0)
		rc = run(s, "SELECT n FROM lld_version", "reading the version",
			 &res, err);
	if (rc == 0 && PQntuples(res) != 1)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "lld_version has %d rows", PQntuples(res));
	/* others' changes only */
	if (rc == 0)
		*out = count_of(res) - s->own;
	PQclear(res);
	return rc;
}

static void pg_close(struct lld_store *base)
{
	struct pg_store *s = pg(base);

	for (size_t i = 0; i < Q_COUNT; i++)
		PQclear(s->res[i]);
	PQfinish(s->conn);
	free(s);
}

static const struct store_ops pg_ops = {
	.name = "PostgreSQL",
	.prep = pg_prep,
	.step = pg_step,
	.reset = pg_reset,
	.changes = pg_changes,
	.col_null = pg_col_null,
	.col_int = pg_col_int,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.durable = pg_durable,
	.data_version = pg_data_version,
	.total_changes = pg_total_changes,
	.close = pg_close,
};

/* ---- opening ---- */

/* The schema made unless it is there; one of another version refused.
 * Under an advisory lock (lld_version may not be there yet): two
 * fronts starting together make it once. */
static int schema_init(struct pg_store *s, struct ll_error *err)
{
	PGresult *res = NULL;
	int rc, v = 0;

	rc = run(s, "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")",
		 "starting a transaction", NULL, err);
	if (rc < 0)
		return rc;
	s->in_tx = 1;
	rc = run(s,
		 "SELECT count(*) FROM pg_tables WHERE tablename = 'lld_meta'"
		 " AND schemaname = current_schema()",
		 "reading the schema", &res, err);
	if (rc == 0 && atoi(PQgetvalue(res, 0, 0)) == 0)
		rc = run(s, schema, "creating the schema", NULL, err);
	PQclear(res);
	res = NULL;
	if (rc == 0)
		rc = run(s, "SELECT schema_version FROM lld_meta",
			 "reading the schema version", &res, err);
	if (rc == 0 && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	if (rc == 0 && v != SCHEMA_VERSION)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "schema version %d is not %d (another program's "
			    "store, or a newer one)",
			    v, SCHEMA_VERSION);
	PQclear(res);
	res = NULL;
	/* the count as pg_begin() would have read it */
	if (rc == 0)
		rc = run(s, "SELECT n FROM lld_version FOR UPDATE",
			 "reading the version", &res, err);
	if (rc == 0)
		s->count0 = count_of(res);
	PQclear(res);
	return db_end(&s->base, rc, err);
}

int db_pg_open(struct lld_store **out, const char *uri, struct ll_error *err)
{
	/* the URI's own settings come last and win */
	static const char *const keys[] = { "connect_timeout",
					    "application_name", "dbname",
					    NULL };
	const char *values[] = { CONNECT_TIMEOUT, "letterlockd", uri, NULL };
	struct pg_store *s = NULL;
	struct lld_store *base = NULL;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return db_nomem(err);
	s->base.ops = &pg_ops;
	base = &s->base;
	for (size_t i = 0; i < Q_COUNT; i++)
		s->row[i] = -1;
	lld_store_shown(s->shown, sizeof(s->shown), uri);
	s->conn = PQconnectdbParams(keys, values, 1);
	if (s->conn == NULL) {
		rc = db_nomem(err);
		goto out;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		rc = conn_err(s, err, "connecting");
		goto out;
	}
	rc = schema_init(s, err);
	if (rc < 0)
		goto out;
	*out = base;
	base = NULL;
out:
	lld_store_close(&base);
	return rc;
}
