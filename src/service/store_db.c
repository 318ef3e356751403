/*
 * store_db.c - the store (store.h) above its backends: the statement
 * set, written once in the SQL that SQLite and PostgreSQL both run
 * (parameters ?1, ?2, ...; the PostgreSQL backend renames them $1,
 * $2), the helpers that run it through the backend's engine (struct
 * store_ops, store_db.h), and the choice of backend when a store is
 * opened: a postgresql:// URI is PostgreSQL (store_pg.c), anything else
 * a SQLite file (store_sqlite.c).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "store_db.h"

#define ACCT_COLS                                              \
	"SELECT id, status, thumbprint, jwk, contact, created" \
	" FROM accounts"
#define CHALL_COLS                                                    \
	"SELECT c.id, c.authz, c.status, c.token1, c.token2,"         \
	" o.email, acc.thumbprint, c.created, c.send_wanted, c.sent," \
	" c.validated, c.msgid, c.error FROM challenges c"            \
	" JOIN authzs a ON a.id = c.authz"                            \
	" JOIN orders o ON o.id = a.order_id"                         \
	" JOIN accounts acc ON acc.id = o.account"

/* A PKX entry (struct lld_pkxrow): our certificates keep their DER and
 * revocation in certs. */
#define PKX_COLS                                                         \
	"SELECT p.fpr, p.email, p.account, p.order_id,"                  \
	" coalesce(p.serial, ''), coalesce(p.der, c.der), p.not_before," \
	" p.not_after, p.published, coalesce(c.revoked, 0),"             \
	" coalesce(p.caps, '') FROM pkx p"                               \
	" LEFT JOIN certs c ON c.serial = p.serial"
/* valid at NOW (notAfter is its last second, RFC 5280), not revoked */
#define PKX_CURRENT(now)                                  \
	"p.not_before <= " now " AND p.not_after >= " now \
	" AND coalesce(c.revoked, 0) = 0"

/* The statement set (struct query). */
const struct query db_queries[Q_COUNT] = {
	[Q_ACCT_ADD] = { "INSERT INTO accounts"
			 " (status, thumbprint, jwk, contact, created)"
			 " VALUES ('valid', ?1, ?2, ?3, ?4)"
			 " RETURNING id",
			 "adding an account", NULL },
	[Q_ACCT_ID] = { "SELECT id FROM accounts WHERE thumbprint = ?1",
			"finding an account", "account with thumbprint" },
	[Q_ACCT_GET] = { ACCT_COLS " WHERE id = ?1", "reading an account",
			 "account" },
	[Q_ACCT_BY_TP] = { ACCT_COLS " WHERE thumbprint = ?1",
			   "reading an account", "account with thumbprint" },
	[Q_ACCT_DEACT] = { "UPDATE accounts SET status = 'deactivated'"
			   " WHERE id = ?1",
			   "deactivating an account", "account" },
	[Q_ACCT_DEACT_CHALL] = { "UPDATE challenges SET status = 'invalid'"
				 " WHERE status IN ('pending', 'processing')"
				 " AND authz IN (SELECT id FROM authzs"
				 " WHERE account = ?1 AND status = 'pending')",
				 "invalidating challenges", NULL },
	[Q_ACCT_DEACT_AUTHZ] = { "UPDATE authzs SET status = 'deactivated'"
				 " WHERE account = ?1 AND status = 'pending'",
				 "deactivating authorizations", NULL },
	[Q_ACCT_DEACT_ORDER] = { "UPDATE orders SET status = 'invalid'"
				 " WHERE account = ?1"
				 " AND status IN ('pending', 'ready')",
				 "invalidating orders", NULL },
	[Q_ACCT_CONTACT] = { "UPDATE accounts SET contact = ?2 WHERE id = ?1",
			     "updating contacts", "account" },
	[Q_ORDER_ADD] = { "INSERT INTO orders"
			  " (account, email, status, created, expires)"
			  " VALUES (?1, ?2, 'pending', ?3, ?4)"
			  " RETURNING id",
			  "adding an order", NULL },
	[Q_AUTHZ_ADD] = { "INSERT INTO authzs"
			  " (order_id, account, email, status, expires)"
			  " VALUES (?1, ?2, ?3, 'pending', ?4)"
			  " RETURNING id",
			  "adding an authorization", NULL },
	[Q_CHALL_ADD] = { "INSERT INTO challenges"
			  " (authz, status, token1, token2, created)"
			  " VALUES (?1, 'pending', ?2, ?3, ?4)",
			  "adding a challenge", NULL },
	[Q_ORDER_GET] = { "SELECT o.id, o.account, a.id, o.email, o.status,"
			  " o.created, o.expires, o.serial, o.error"
			  " FROM orders o"
			  " LEFT JOIN authzs a ON a.order_id = o.id"
			  " WHERE o.id = ?1",
			  "reading an order", "order" },
	[Q_ORDER_EXISTS] = { "SELECT status FROM orders WHERE id = ?1",
			     "reading an order", "order" },
	[Q_ORDER_MOVE] = { "UPDATE orders SET status = ?3,"
			   " csr = coalesce(?4, csr),"
			   " error = coalesce(?5, error)"
			   " WHERE id = ?1 AND status = ?2",
			   "moving an order", "order" },
	[Q_ORDER_CSR] = { "SELECT csr FROM orders WHERE id = ?1",
			  "reading a CSR", "order" },
	[Q_ORDERS_PROC] = { "SELECT id FROM orders"
			    " WHERE status = 'processing'"
			    " ORDER BY id LIMIT ?1",
			    "listing", NULL },
	[Q_ORDERS_OF] = { "SELECT id FROM orders WHERE account = ?2"
			  " ORDER BY id DESC LIMIT ?1",
			  "listing", NULL },
	[Q_AUTHZ_GET] = { "SELECT a.id, a.order_id, a.account, c.id,"
			  " a.email, a.status, a.expires FROM authzs a"
			  " LEFT JOIN challenges c ON c.authz = a.id"
			  " WHERE a.id = ?1",
			  "reading an authorization", "authorization" },
	[Q_AUTHZ_FRESH] = { "SELECT a.id FROM authzs a"
			    " JOIN challenges c ON c.authz = a.id"
			    " WHERE a.account = ?1 AND a.email = ?2"
			    " AND a.status = 'valid' AND a.expires > ?3"
			    " AND c.validated >= ?4 LIMIT 1",
			    "looking for a fresh authorization",
			    "fresh authorization of account" },
	[Q_CHALL_GET] = { CHALL_COLS " WHERE c.id = ?1", "reading a challenge",
			  "challenge" },
	[Q_CHALL_BY_T1] = { CHALL_COLS " WHERE c.token1 = ?1",
			    "reading a challenge", "challenge with token" },
	[Q_CHALL_EXISTS] = { "SELECT status FROM challenges WHERE id = ?1",
			     "reading a challenge", "challenge" },
	[Q_CHALL_WANT] = { "UPDATE challenges SET send_wanted = 1"
			   " WHERE id = ?1",
			   "asking for a challenge mail", "challenge" },
	[Q_CHALL_TO_SEND] = { "SELECT id FROM challenges"
			      " WHERE send_wanted = 1 AND sent = 0"
			      " AND status IN ('pending', 'processing')"
			      " ORDER BY id LIMIT ?1",
			      "listing", NULL },
	[Q_CHALL_SENT] = { "UPDATE challenges SET sent = ?2, msgid = ?3"
			   " WHERE id = ?1",
			   "recording a challenge mail", "challenge" },
	[Q_CHALL_RESPOND] = { "UPDATE challenges SET status = 'processing'"
			      " WHERE id = ?1 AND status = 'pending'",
			      "responding to a challenge", "challenge" },
	[Q_SETTLE_STATE] = { "SELECT c.status, a.id, a.status, o.id, o.status"
			     " FROM challenges c"
			     " JOIN authzs a ON a.id = c.authz"
			     " JOIN orders o ON o.id = a.order_id"
			     " WHERE c.id = ?1",
			     "reading a challenge", "challenge" },
	[Q_SETTLE_CHALL] = { "UPDATE challenges SET status = ?2,"
			     " validated = ?3, error = coalesce(?4, error)"
			     " WHERE id = ?1",
			     "settling a challenge", NULL },
	[Q_SETTLE_AUTHZ] = { "UPDATE authzs SET status = ?2 WHERE id = ?1",
			     "settling an authorization", NULL },
	[Q_SETTLE_ORDER] = { "UPDATE orders SET status = ?2,"
			     " error = coalesce(?3, error) WHERE id = ?1",
			     "settling an order", NULL },
	[Q_CERT_ORDER] = { "SELECT account, status FROM orders WHERE id = ?1",
			   "reading an order", "order" },
	[Q_CERT_ADD] = { "INSERT INTO certs (serial, order_id, account,"
			 " email, der, not_before, not_after)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			 "adding a certificate", NULL },
	[Q_CERT_ORDER_DONE] = { "UPDATE orders SET status = 'valid',"
				" serial = ?2"
				" WHERE id = ?1 AND status = 'processing'",
				"completing an order", NULL },
	[Q_CERT_GET] = { "SELECT serial, order_id, account, email, der,"
			 " not_before, not_after, revoked, reason"
			 " FROM certs WHERE serial = ?1",
			 "reading a certificate",
			 "certificate with serial number" },
	[Q_CERT_EXISTS] = { "SELECT CASE revoked WHEN 0 THEN 'not revoked'"
			    " ELSE 'revoked already' END"
			    " FROM certs WHERE serial = ?1",
			    "reading a certificate",
			    "certificate with serial number" },
	/* once revoked, only keyCompromise may change the reason of a
	 * revocation that was not for a compromise (the time stays) */
	[Q_CERT_REVOKE] = { "UPDATE certs SET reason = ?3,"
			    " revoked = CASE revoked WHEN 0 THEN ?2"
			    " ELSE revoked END"
			    " WHERE serial = ?1 AND (revoked = 0 OR"
			    " (?3 = 1 AND reason NOT IN (1, 2)))",
			    "revoking a certificate",
			    "certificate with serial number" },
	[Q_REVOKED] = { "SELECT serial, revoked, reason FROM certs"
			" WHERE revoked <> 0 AND not_after >= ?1"
			" ORDER BY revoked, serial",
			"listing revocations", NULL },
	[Q_BLOB_PUT] = { "INSERT INTO blobs (name, data, stamp)"
			 " VALUES (?1, ?2, ?3) ON CONFLICT (name)"
			 " DO UPDATE SET data = excluded.data,"
			 " stamp = excluded.stamp",
			 "storing a blob", NULL },
	[Q_BLOB_GET] = { "SELECT data, stamp FROM blobs WHERE name = ?1",
			 "reading a blob", "blob named" },
	[Q_PKX_ADD] = { "INSERT INTO pkx (fpr, email, der, not_before,"
			" not_after, account, order_id, serial, caps, published)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
			"adding a directory entry", NULL },
	[Q_PKX_LOOKUP] = { PKX_COLS " WHERE p.email = ?1 AND " PKX_CURRENT(
				   "?2") " ORDER BY p.not_after DESC, p.fpr"
					 " LIMIT ?3",
			   "looking an address up", NULL },
	[Q_PKX_GET] = { PKX_COLS " WHERE p.fpr = ?1",
			"reading a directory entry",
			"certificate with fingerprint" },
	[Q_PKX_CAPS] = { "UPDATE pkx SET caps = ?2 WHERE fpr = ?1",
			 "setting capabilities",
			 "certificate with fingerprint" },
	[Q_PKX_CURRENT] = { PKX_COLS " WHERE " PKX_CURRENT(
				    "?1") " ORDER BY p.email, p.fpr",
			    "listing the directory", NULL },
	[Q_PKX_ORDER_SPEND] = { "UPDATE orders SET status = 'valid'"
				" WHERE id = ?1 AND account = ?2"
				" AND status = 'ready'",
				"spending an order", NULL },
	[Q_PKX_CERTS] = { "SELECT serial, order_id, account, email, der,"
			  " not_before, not_after FROM certs ORDER BY serial",
			  "listing certificates", NULL },
	[Q_PKX_NEXT] = { "SELECT coalesce(min(not_before), 0) FROM pkx"
			 " WHERE email = ?1 AND not_before > ?2",
			 "reading a directory entry", NULL },
	[Q_VAULT_NEXT] = { "SELECT coalesce(max(version), 0) + 1 FROM vault"
			   " WHERE email = ?1",
			   "reading the vault", NULL },
	[Q_VAULT_ADD] = { "INSERT INTO vault (email, version, account, blob,"
			  " stamp) VALUES (?1, ?2, ?3, ?4, ?5)",
			  "storing a backup", NULL },
	[Q_VAULT_PRUNE] = { "DELETE FROM vault WHERE email = ?1"
			    " AND version <= ?2",
			    "pruning old backups", NULL },
	[Q_VAULT_GET] = { "SELECT version, account, stamp, blob FROM vault"
			  " WHERE email = ?1 AND version = ?2",
			  "reading a backup", "backup of" },
	[Q_VAULT_CURRENT] = { "SELECT version, account, stamp, blob FROM vault"
			      " WHERE email = ?1 ORDER BY version DESC LIMIT 1",
			      "reading a backup", "backup of" },
	[Q_VAULT_VERSIONS] = { "SELECT version FROM vault WHERE email = ?1"
			       " ORDER BY version DESC LIMIT ?2",
			       "listing backups", NULL },
	[Q_VAULT_DELETE] = { "DELETE FROM vault WHERE email = ?1",
			     "deleting backups", "backup of" },
	[Q_PROOF_LATEST] = { "SELECT coalesce(max(c.validated), 0)"
			     " FROM challenges c"
			     " JOIN authzs a ON a.id = c.authz"
			     " WHERE a.account = ?1 AND a.email = ?2"
			     " AND a.status = 'valid' AND c.status = 'valid'",
			     "reading mailbox proofs", NULL },
	[Q_VAULT_READ] = { "INSERT INTO vault_reads (email, account, stamp)"
			   " VALUES (?1, ?2, ?3)",
			   "recording a vault read", NULL },
	[Q_VAULT_FORGET] = { "DELETE FROM vault_reads WHERE stamp < ?1",
			     "forgetting vault reads", NULL },
	[Q_VAULT_READS] = { "SELECT (SELECT count(*) FROM vault_reads"
			    " WHERE email = ?1 AND stamp >= ?3),"
			    " (SELECT count(*) FROM vault_reads"
			    " WHERE account = ?2 AND stamp >= ?3)",
			    "counting vault reads", NULL },
};

/* ---- checks ---- */

int db_fits(const struct fit *f, size_t n, struct ll_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].v != NULL && strlen(f[i].v) > f[i].max)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "%s longer than %zu octets", f[i].what,
				      f[i].max);
	return 0;
}

int db_nomem(struct ll_error *err)
{
	return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
}

/* ---- statements ---- */

int db_exec(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	    struct ll_error *err)
{
	int rc;

	rc = db_prep(s, q, a, n, err);
	if (rc < 0)
		return rc;
	do
		rc = db_step(s, q, err);
	while (rc == 1);
	return rc;
}

/* ?1 as text, for messages. */
static const char *key_text(const struct arg *key, char *buf, size_t size)
{
	if (key->type != A_INT)
		return key->s != NULL ? key->s : "NULL";
	snprintf(buf, size, "%lld", (long long)key->i);
	return buf;
}

int db_missing(enum qid q, const struct arg *key, struct ll_error *err)
{
	char buf[24];

	assert(db_queries[q].noun != NULL);
	return ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE, "no %s %s",
		      db_queries[q].noun, key_text(key, buf, sizeof(buf)));
}

int db_exec1(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err)
{
	int rc;

	rc = db_exec(s, q, a, n, err);
	if (rc == 0 && db_changes(s) != 1)
		rc = db_missing(q, &a[0], err);
	return rc;
}

int db_fetch(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	     struct ll_error *err)
{
	int rc;

	rc = db_prep(s, q, a, n, err);
	if (rc == 0)
		rc = db_step(s, q, err);
	if (rc == 0)
		return db_missing(q, &a[0], err);
	return rc < 0 ? rc : 0;
}

int db_fetch_int(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
		 int64_t *out, struct ll_error *err)
{
	int rc = db_fetch(s, q, a, n, err);

	if (rc < 0)
		return rc;
	*out = db_col_int(s, q, 0);
	db_reset(s, q);
	return 0;
}

int db_cas(struct lld_store *s, enum qid q, enum qid check, const struct arg *a,
	   size_t n, struct ll_error *err)
{
	const char *t;
	char buf[24];
	int rc;

	rc = db_exec(s, q, a, n, err);
	if (rc < 0 || db_changes(s) == 1)
		return rc;
	rc = db_fetch(s, check, a, 1, err);
	if (rc < 0)
		return rc;
	t = s->ops->col_text(s, check, 0);
	rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE, "%s %s is %s",
		    db_queries[check].noun, key_text(&a[0], buf, sizeof(buf)),
		    t != NULL ? t : "changed");
	db_reset(s, check);
	return rc;
}

int db_get(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
	   int (*read)(struct lld_store *s, enum qid q, void *out), void *out,
	   size_t size, struct ll_error *err)
{
	int rc;

	memset(out, 0, size);
	rc = db_fetch(s, q, a, n, err);
	if (rc < 0)
		return rc;
	rc = read(s, q, out) < 0 ? db_nomem(err) : 0;
	db_reset(s, q);
	return rc;
}

int db_list_ids(struct lld_store *s, enum qid q, const struct arg *a, size_t n,
		int64_t *ids, size_t max, size_t *count, struct ll_error *err)
{
	int rc;

	*count = 0;
	rc = db_prep(s, q, a, n, err);
	if (rc < 0)
		return rc;
	while (*count < max && (rc = db_step(s, q, err)) == 1)
		ids[(*count)++] = db_col_int(s, q, 0);
	db_reset(s, q);
	return rc < 0 ? rc : 0;
}

/* ---- columns ---- */

void db_col_copy(char *buf, size_t size, struct lld_store *s, enum qid q, int i)
{
	const char *t = s->ops->col_text(s, q, i);
	size_t n = t != NULL ? strlen(t) : 0;

	if (n >= size)
		n = size - 1;
	if (n > 0)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

int db_col_strdup(char **out, struct lld_store *s, enum qid q, int i)
{
	const char *t = s->ops->col_text(s, q, i);

	*out = strdup(t != NULL ? t : "");
	return *out != NULL ? 0 : LL_ENOMEM;
}

int db_col_blob(unsigned char **out, size_t *len, struct lld_store *s,
		enum qid q, int i)
{
	size_t n = 0;
	const void *p = s->ops->col_blob(s, q, i, &n);

	*out = malloc(n > 0 ? n : 1);
	if (*out == NULL)
		return LL_ENOMEM;
	if (n > 0)
		memcpy(*out, p, n);
	*len = n;
	return 0;
}

int db_col_is(struct lld_store *s, enum qid q, int i, const char *word)
{
	const char *t = s->ops->col_text(s, q, i);

	return t != NULL && strcmp(t, word) == 0;
}

/* ---- transactions ---- */

int db_begin(struct lld_store *s, struct ll_error *err)
{
	return s->ops->begin(s, err);
}

int db_end(struct lld_store *s, int rc, struct ll_error *err)
{
	if (rc == 0)
		rc = s->ops->commit(s, err);
	if (rc < 0)
		s->ops->rollback(s);
	return rc;
}

/* ---- the handle ---- */

/* Whether WHERE names a PostgreSQL database rather than a file. */
static int is_pg_uri(const char *where)
{
	return strncmp(where, "postgresql://", 13) == 0 ||
	       strncmp(where, "postgres://", 11) == 0;
}

void lld_store_shown(char *buf, size_t size, const char *where)
{
	const char *auth = strstr(where, "://");
	const char *at, *colon, *q;
	size_t n;

	if (auth == NULL) {
		snprintf(buf, size, "%s", where);
		return;
	}
	auth += 3;
	/* user:password@ - the password goes; so does a query string,
	 * which may carry password= */
	at = strchr(auth, '@');
	q = strchr(auth, '?');
	if (at != NULL && q != NULL && q < at)
		at = NULL;
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	n = q != NULL ? (size_t)(q - where) : strlen(where);
	if (colon != NULL)
		snprintf(buf, size, "%.*s:***%.*s%s", (int)(colon - where),
			 where, (int)(n - (size_t)(at - where)), at,
			 q != NULL ? "?..." : "");
	else
		snprintf(buf, size, "%.*s%s", (int)n, where,
			 q != NULL ? "?..." : "");
}

int lld_store_open(struct lld_store **out, const char *path,
		   struct ll_error *err)
{
	assert(out != NULL && path != NULL);
	*out = NULL;
	if (is_pg_uri(path))
		return db_pg_open(out, path, err);
	return db_sqlite_open(out, path, err);
}

void lld_store_close(struct lld_store **pp)
{
	struct lld_store *s;

	if (pp == NULL || *pp == NULL)
		return;
	s = *pp;
	*pp = NULL;
	s->ops->close(s);
}

int lld_store_version(struct lld_store *s, int others, uint64_t *out,
		      struct ll_error *err)
{
	int64_t changes = s->ops->total_changes(s);
	int64_t dv = s->data_version;
	int rc;

	if (others) {
		rc = s->ops->data_version(s, &dv, err);
		if (rc < 0)
			return rc;
	}
	if (dv != s->data_version || changes != s->changes) {
		s->version++;
		s->data_version = dv;
		s->changes = changes;
	}
	*out = s->version;
	return 0;
}
