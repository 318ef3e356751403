/*
 * keystore.c - the client's home directory: SQLite database of
 * identities (keys sealed with AES-256-GCM under the master key),
 * contacts and trust anchors; the master key unlocked when first needed
 * (its file: keystore_master.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "internal.h"
#include "keystore_master.h"

#define MASTER_LEN LL_MASTER_LEN
#define NONCE_LEN 12
#define TAG_LEN 16
#define BLOB_MAGIC "LLK1"

/* statements kept prepared per keystore, at most */
#define KEPT_STMTS 4

struct ll_keystore {
	sqlite3 *db;
	char *home;
	enum ll_keystore_protection protection;
	int locked; /* master not known yet: wrapped holds it */
	unsigned char master[MASTER_LEN];
	unsigned char wrapped[LL_MASTER_WRAPPED_LEN];
	ll_keystore_passphrase_fn pass_cb;
	void *pass_arg;
	/* statements asked for per message (ll_keystore_stmt), prepared
	 * once: keyed by their SQL's address */
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} stmts[KEPT_STMTS];
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS identities ("
	" id INTEGER PRIMARY KEY, fpr TEXT UNIQUE NOT NULL,"
	" email TEXT NOT NULL, cert BLOB NOT NULL, chain BLOB,"
	" key BLOB NOT NULL, added INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS contacts ("
	" id INTEGER PRIMARY KEY, fpr TEXT UNIQUE NOT NULL,"
	" email TEXT NOT NULL, cert BLOB NOT NULL, caps INTEGER NOT NULL,"
	" added INTEGER NOT NULL);"
	/* contacts.c: the directory's answers, by address */
	"CREATE TABLE IF NOT EXISTS lookups ("
	" address TEXT PRIMARY KEY, checked INTEGER NOT NULL,"
	" found INTEGER NOT NULL);"
	/* contacts.c: secure SMIMEA answers, fresh until expires */
	"CREATE TABLE IF NOT EXISTS smimea_lookups ("
	" address TEXT PRIMARY KEY, checked INTEGER NOT NULL,"
	" expires INTEGER NOT NULL, found INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS trust ("
	" id INTEGER PRIMARY KEY, fpr TEXT UNIQUE NOT NULL,"
	" cert BLOB NOT NULL, added INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS secrets ("
	" name TEXT PRIMARY KEY, blob BLOB NOT NULL,"
	" added INTEGER NOT NULL);";

/* The contacts' source, state and last confirmation (contacts.h), added
 * to a store made before they existed: a contact is then a manual,
 * current one. */
static int contacts_columns(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int have = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA table_info(contacts)", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (strcmp((const char *)sqlite3_column_text(st, 1), "state") ==
		    0)
			have = 1;
	sqlite3_finalize(st);
	if (have)
		return 0;
	return sqlite3_exec(db,
			    "BEGIN;"
			    "ALTER TABLE contacts ADD COLUMN source INTEGER"
			    " NOT NULL DEFAULT 0;"
			    "ALTER TABLE contacts ADD COLUMN state INTEGER"
			    " NOT NULL DEFAULT 0;"
			    "ALTER TABLE contacts ADD COLUMN seen INTEGER"
			    " NOT NULL DEFAULT 0;"
			    "CREATE INDEX IF NOT EXISTS contacts_email"
			    " ON contacts (email);"
			    "COMMIT;",
			    NULL, NULL, NULL) == SQLITE_OK ?
		       0 :
		       -1;
}

sqlite3 *ll_keystore_db(struct ll_keystore *ks)
{
	return ks->db;
}

int ll_keystore_stmt(sqlite3_stmt **out, struct ll_keystore *ks,
		     const char *sql, const char *setup, struct ll_error *err)
{
	size_t i;

	*out = NULL;
	for (i = 0; i < KEPT_STMTS && ks->stmts[i].sql != NULL; i++)
		if (ks->stmts[i].sql == sql) {
			*out = ks->stmts[i].st;
			return 0;
		}
	if (i == KEPT_STMTS) /* a new caller needs another slot */
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "no room for another prepared statement");
	if ((setup != NULL &&
	     sqlite3_exec(ks->db, setup, NULL, NULL, NULL) != SQLITE_OK) ||
	    sqlite3_prepare_v3(ks->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &ks->stmts[i].st, NULL) != SQLITE_OK) {
		sqlite3_finalize(ks->stmts[i].st);
		ks->stmts[i].st = NULL;
		return ll_keystore_db_err(err, ks->db, "a prepared statement");
	}
	ks->stmts[i].sql = sql;
	*out = ks->stmts[i].st;
	return 0;
}

void ll_keystore_stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int ll_keystore_row_cert(struct ll_cert **out, sqlite3_stmt *st,
			 struct ll_error *err)
{
	int rc = ll_cert_parse(out, sqlite3_column_blob(st, 0),
			       (size_t)sqlite3_column_bytes(st, 0), err);

	if (rc == 0)
		ll_cert_set_caps(*out, (unsigned)sqlite3_column_int64(st, 1));
	return rc;
}

/* The AAD of a named secret; identity keys use their fingerprint. */
#define SECRET_AAD "secret:"

int ll_keystore_db_err(struct ll_error *err, sqlite3 *db, const char *what)
{
	return ll_err(err, LL_ESTORE, LL_ECLASS_STORE, "%s: %s", what,
		      db ? sqlite3_errmsg(db) : "cannot open");
}

/*
 * Read HOME/master.key: the raw key (unlocked) or the wrapped one
 * (checked, kept for ll_keystore_unlock).  A home without one gets a
 * new raw key; when another process makes it at the same moment, its
 * file wins and is read.
 */
static int read_master(struct ll_keystore *ks, const char *home,
		       struct ll_error *err)
{
	unsigned char buf[LL_MASTER_FILE_MAX];
	char path[PATH_MAX];
	size_t n = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/master.key", home);
	rc = ll_master_read_file(buf, &n, path, err);
	if (rc == LL_ENOTFOUND) {
		if (RAND_priv_bytes(buf, MASTER_LEN) != 1) {
			rc = ll_err_ossl(err, LL_ECRYPTO, "random");
			goto out;
		}
		rc = ll_master_write_file(home, buf, MASTER_LEN, 0, err);
		/* made: the next open reads it, synced or not */
		if (rc == LL_ENOTSYNCED) {
			ll_error_clear(err);
			rc = 0;
		}
		if (rc == LL_EEXIST)
			rc = ll_master_read_file(buf, &n, path, err);
		else
			n = MASTER_LEN;
	}
	if (rc < 0)
		goto out;
	if (n == MASTER_LEN) {
		memcpy(ks->master, buf, MASTER_LEN);
		ks->protection = LL_KS_KEY_FILE;
		ks->locked = 0;
	} else {
		rc = ll_master_check(buf, n, NULL, err);
		if (rc < 0)
			goto out;
		memcpy(ks->wrapped, buf, LL_MASTER_WRAPPED_LEN);
		ks->protection = LL_KS_PASSPHRASE;
		ks->locked = 1;
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Create HOME and its missing parents, mode 0700. */
static int mkdir_p(const char *home, struct ll_error *err)
{
	char path[PATH_MAX];
	size_t n = strlen(home);

	if (n == 0 || n >= sizeof(path))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "bad home directory name");
	memcpy(path, home, n + 1);
	for (char *s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
				      strerror(errno));
		*s = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
			      strerror(errno));
	return 0;
}

int ll_keystore_open(struct ll_keystore **out, const char *home,
		     struct ll_error *err)
{
	struct ll_keystore *ks = calloc(1, sizeof(*ks));
	char path[PATH_MAX];
	int rc, fd;

	if (ks == NULL)
		return LL_ENOMEM;
	rc = mkdir_p(home, err);
	if (rc < 0)
		goto fail;
	ks->home = strdup(home);
	if (ks->home == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto fail;
	}
	/* a crash inside ll_master_write_file may have left a copy of a
	 * raw master key under a temporary name */
	ll_master_sweep(home);
	rc = read_master(ks, home, err);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/letterlock.db", home);
	/* the store is the owner's alone, like master.key (SQLite gives
	 * its -wal and -shm files the database file's mode) */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(path, &ks->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		rc = ll_keystore_db_err(err, ks->db, path);
		goto fail;
	}
	sqlite3_busy_timeout(ks->db, 5000);
	if (sqlite3_exec(ks->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    contacts_columns(ks->db) < 0) {
		rc = ll_keystore_db_err(err, ks->db, "creating the schema");
		goto fail;
	}
	*out = ks;
	return 0;
fail:
	ll_keystore_close(&ks);
	return rc;
}

void ll_keystore_close(struct ll_keystore **pp)
{
	struct ll_keystore *ks;

	if (pp == NULL || *pp == NULL)
		return;
	ks = *pp;
	*pp = NULL;
	/* sqlite3_close refuses a connection with statements left */
	for (size_t i = 0; i < KEPT_STMTS; i++)
		sqlite3_finalize(ks->stmts[i].st);
	sqlite3_close(ks->db);
	OPENSSL_cleanse(ks->master, sizeof(ks->master));
	free(ks->home);
	free(ks);
}

/* ---- the master key's protection ---- */

enum ll_keystore_protection ll_keystore_protection(const struct ll_keystore *ks)
{
	return ks->protection;
}

int ll_keystore_is_locked(const struct ll_keystore *ks)
{
	return ks->locked;
}

void ll_keystore_set_passphrase_cb(struct ll_keystore *ks,
				   ll_keystore_passphrase_fn fn, void *arg)
{
	ks->pass_cb = fn;
	ks->pass_arg = fn != NULL ? arg : NULL;
}

static int unlock_with(struct ll_keystore *ks, const char *pass,
		       struct ll_error *err)
{
	int rc = ll_master_unwrap(ks->master, ks->wrapped, sizeof(ks->wrapped),
				  pass, err);

	if (rc == 0)
		ks->locked = 0;
	return rc;
}

/* Ask the callback, again after a wrong passphrase, a few times. */
static int unlock_by_cb(struct ll_keystore *ks, struct ll_error *err)
{
	char *pass = OPENSSL_secure_zalloc(LL_KEYSTORE_PASS_MAX + 1);
	int rc = LL_EPASSPHRASE;

	if (pass == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	for (unsigned i = 0; i < LL_KEYSTORE_PASS_TRIES; i++) {
		rc = ks->pass_cb(ks->pass_arg, pass, LL_KEYSTORE_PASS_MAX + 1,
				 i, err);
		/* giving up after a wrong one: say what was wrong */
		if (rc == LL_EPASSPHRASE && i > 0)
			rc = ll_err(err, LL_EPASSPHRASE, LL_ECLASS_USAGE,
				    "wrong passphrase");
		if (rc < 0)
			break;
		pass[LL_KEYSTORE_PASS_MAX] = '\0';
		rc = unlock_with(ks, pass, err);
		OPENSSL_cleanse(pass, LL_KEYSTORE_PASS_MAX + 1);
		if (rc != LL_EPASSPHRASE)
			break;
	}
	OPENSSL_secure_clear_free(pass, LL_KEYSTORE_PASS_MAX + 1);
	return rc;
}

int ll_keystore_unlock(struct ll_keystore *ks, const char *pass,
		       struct ll_error *err)
{
	if (!ks->locked)
		return 0;
	if (pass != NULL)
		return unlock_with(ks, pass, err);
	if (ks->pass_cb == NULL)
		return ll_err(err, LL_ELOCKED, LL_ECLASS_USAGE,
			      "the keys are locked by a passphrase and none "
			      "was given");
	return unlock_by_cb(ks, err);
}

int ll_keystore_set_passphrase(struct ll_keystore *ks, const char *pass,
			       const struct ll_keystore_kdf *kdf,
			       struct ll_error *err)
{
	unsigned char out[LL_MASTER_WRAPPED_LEN];
	int rc = ll_keystore_unlock(ks, NULL, err);

	if (rc == 0)
		rc = ll_master_wrap(out, ks->master, pass, kdf, err);
	if (rc == 0)
		rc = ll_master_write_file(ks->home, out, sizeof(out), 1, err);
	if (rc == 0 || rc == LL_ENOTSYNCED) {
		memcpy(ks->wrapped, out, sizeof(out));
		ks->protection = LL_KS_PASSPHRASE;
	}
	return rc;
}

int ll_keystore_set_key_file(struct ll_keystore *ks, struct ll_error *err)
{
	int rc = ll_keystore_unlock(ks, NULL, err);

	if (rc == 0)
		rc = ll_master_write_file(ks->home, ks->master, MASTER_LEN, 1,
					  err);
	if (rc == 0 || rc == LL_ENOTSYNCED)
		ks->protection = LL_KS_KEY_FILE;
	return rc;
}

/* AES-256-GCM under the master key; AAD binds the blob to its cert.
 * The blob: BLOB_MAGIC, nonce, tag, ciphertext. */
static int seal_key(struct ll_buf *out, const struct ll_keystore *ks,
		    const unsigned char *key, size_t keylen, const char *aad)
{
	unsigned char *p;
	int rc;

	if (ll_buf_reserve(out, 4 + NONCE_LEN + TAG_LEN + keylen) < 0)
		return LL_ENOMEM;
	p = (unsigned char *)out->p;
	memcpy(p, BLOB_MAGIC, 4);
	if (RAND_bytes(p + 4, NONCE_LEN) != 1)
		return LL_ECRYPTO;
	rc = ll_gcm_seal(p + 4 + NONCE_LEN + TAG_LEN, p + 4 + NONCE_LEN,
			 ks->master, p + 4, aad, strlen(aad), key, keylen);
	if (rc == 0)
		out->len = 4 + NONCE_LEN + TAG_LEN + keylen;
	return rc;
}

static int open_key(unsigned char **out, size_t *outlen,
		    const struct ll_keystore *ks, const unsigned char *blob,
		    size_t len, const char *aad)
{
	unsigned char *k;
	size_t klen;

	if (len < 4 + NONCE_LEN + TAG_LEN || memcmp(blob, BLOB_MAGIC, 4) != 0)
		return LL_ESTORE;
	klen = len - 4 - NONCE_LEN - TAG_LEN;
	/* one byte more: malloc(0) of an empty secret may be NULL */
	k = malloc(klen + 1);
	if (k == NULL)
		return LL_ENOMEM;
	if (ll_gcm_open(k, ks->master, blob + 4, aad, strlen(aad),
			blob + 4 + NONCE_LEN + TAG_LEN, klen,
			blob + 4 + NONCE_LEN) < 0) {
		ll_wipe_free(k, klen + 1);
		return LL_ESTORE;
	}
	*out = k;
	*outlen = klen;
	return 0;
}

static int insert(struct ll_keystore *ks, const char *sql,
		  const struct ll_cert *c, const void *b1, size_t l1,
		  const void *b2, size_t l2, long long num,
		  struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	unsigned char *der = NULL;
	size_t derlen;
	int rc, i = 1;

	rc = ll_cert_der(&der, &derlen, c, err);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(ks->db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = ll_keystore_db_err(err, ks->db, "prepare");
		goto out;
	}
	sqlite3_bind_text(st, i++, ll_cert_fingerprint(c), -1, SQLITE_STATIC);
	if (strstr(sql, "email") != NULL)
		sqlite3_bind_text(st, i++, ll_cert_email(c), -1,
				  SQLITE_STATIC);
	sqlite3_bind_blob(st, i++, der, (int)derlen, SQLITE_STATIC);
	if (b1 != NULL)
		sqlite3_bind_blob(st, i++, b1, (int)l1, SQLITE_STATIC);
	if (b2 != NULL)
		sqlite3_bind_blob(st, i++, b2, (int)l2, SQLITE_STATIC);
	if (num >= 0)
		sqlite3_bind_int64(st, i++, num);
	sqlite3_bind_int64(st, i++, (long long)time(NULL));
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		break;
	case SQLITE_CONSTRAINT:
		rc = ll_err(err, LL_EEXIST, LL_ECLASS_STORE,
			    "%s is already stored", ll_cert_fingerprint(c));
		break;
	default:
		rc = ll_keystore_db_err(err, ks->db, "insert");
		break;
	}
out:
	sqlite3_finalize(st);
	free(der);
	return rc;
}

int ll_keystore_add_identity(struct ll_keystore *ks,
			     const struct ll_identity *id,
			     struct ll_error *err)
{
	struct ll_cert *c = ll_identity_cert(id);
	struct ll_buf blob = { 0 }, chain = { 0 };
	unsigned char *key = NULL;
	size_t keylen = 0;
	int rc;

	rc = ll_keystore_unlock(ks, NULL, err);
	if (rc < 0)
		goto out;
	rc = ll_identity_key_der(&key, &keylen, id, err);
	if (rc < 0)
		goto out;
	rc = seal_key(&blob, ks, key, keylen, ll_cert_fingerprint(c));
	if (rc < 0) {
		rc = ll_err_ossl(err, rc, "sealing the private key");
		goto out;
	}
	for (size_t i = 0; i < ll_identity_chain_count(id); i++) {
		char *pem = NULL;

		rc = ll_cert_pem(&pem, ll_identity_chain(id, i), err);
		if (rc == 0)
			rc = ll_buf_adds(&chain, pem);
		free(pem);
		if (rc < 0)
			goto out;
	}
	rc = insert(ks,
		    "INSERT INTO identities (fpr, email, cert, key, chain, added)"
		    " VALUES (?, ?, ?, ?, ?, ?)",
		    c, blob.p, blob.len, chain.len ? chain.p : "", chain.len,
		    -1, err);
out:
	ll_wipe_free(key, keylen);
	ll_buf_free(&blob);
	ll_buf_free(&chain);
	return rc;
}

int ll_keystore_add_contact(struct ll_keystore *ks, const struct ll_cert *c,
			    struct ll_error *err)
{
	int rc = insert(ks,
			"INSERT INTO contacts (fpr, email, cert, caps, added)"
			" VALUES (?, ?, ?, ?, ?)",
			c, NULL, 0, NULL, 0, (long long)ll_cert_caps(c), err);

	if (rc == LL_EEXIST) {
		/* the same certificate: refresh what its owner reads */
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(ks->db,
				       "UPDATE contacts SET caps = ? WHERE fpr = ?",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, (long long)ll_cert_caps(c));
			sqlite3_bind_text(st, 2, ll_cert_fingerprint(c), -1,
					  SQLITE_STATIC);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
	}
	return rc;
}

int ll_keystore_add_trust(struct ll_keystore *ks, const struct ll_cert *c,
			  struct ll_error *err)
{
	return insert(ks, "INSERT INTO trust (fpr, cert, added) VALUES (?, ?, ?)",
		      c, NULL, 0, NULL, 0, -1, err);
}

static int load_identity(struct ll_keystore *ks, struct ll_ctx *ctx,
			 sqlite3_stmt *st, struct ll_error *err)
{
	struct ll_cert *cert = NULL, **chain = NULL;
	struct ll_identity *id = NULL;
	unsigned char *key = NULL;
	size_t keylen = 0, nchain = 0;
	const char *fpr;
	int rc;

	rc = ll_cert_parse(&cert, sqlite3_column_blob(st, 1),
			   (size_t)sqlite3_column_bytes(st, 1), err);
	if (rc < 0)
		goto out;
	if (sqlite3_column_bytes(st, 3) > 0) {
		rc = ll_cert_parse_all(&chain, &nchain,
				       sqlite3_column_blob(st, 3),
				       (size_t)sqlite3_column_bytes(st, 3),
				       err);
		if (rc < 0)
			goto out;
	}
	fpr = (const char *)sqlite3_column_text(st, 0);
	if (fpr == NULL || strcmp(fpr, ll_cert_fingerprint(cert)) != 0 ||
	    open_key(&key, &keylen, ks, sqlite3_column_blob(st, 2),
		     (size_t)sqlite3_column_bytes(st, 2), fpr) < 0) {
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "the stored key of %s cannot be opened "
			    "(wrong master.key or damaged store)",
			    ll_cert_email(cert));
		goto out;
	}
	rc = ll_identity_from_key_der(&id, key, keylen, cert, chain, nchain,
				      err);
	if (rc == 0)
		rc = ll_ctx_add_identity(ctx, &id, err);
out:
	ll_identity_free(&id);
	ll_wipe_free(key, keylen);
	ll_cert_free(&cert);
	for (size_t i = 0; i < nchain; i++)
		ll_cert_free(&chain[i]);
	free(chain);
	return rc;
}

int ll_keystore_load_identities(struct ll_keystore *ks, struct ll_ctx *ctx,
				struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(ks->db,
			       "SELECT fpr, cert, key, chain FROM identities"
			       " ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, ks->db, "reading identities");
	/* every key ever held: mail sealed to an old one still opens;
	 * the passphrase only once there is a key to open */
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		rc = ll_keystore_unlock(ks, NULL, err);
		if (rc == 0)
			rc = load_identity(ks, ctx, st, err);
	}
	sqlite3_finalize(st);
	return rc;
}

int ll_keystore_load_certs(struct ll_keystore *ks, struct ll_ctx *ctx,
			   struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	for (int kind = LL_KS_CONTACT; rc == 0 && kind <= LL_KS_TRUST; kind++) {
		/* pending and replaced keys are listed, never used */
		const char *sql = kind == LL_KS_CONTACT ?
			"SELECT cert, caps FROM contacts WHERE state = 0"
			" ORDER BY id" :
			"SELECT cert, 0 FROM trust ORDER BY id";

		if (sqlite3_prepare_v2(ks->db, sql, -1, &st, NULL) != SQLITE_OK)
			return ll_keystore_db_err(err, ks->db,
						  "reading certificates");
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
			struct ll_cert *c = NULL;

			rc = ll_keystore_row_cert(&c, st, err);
			if (rc < 0)
				break;
			rc = kind == LL_KS_CONTACT ?
				     ll_ctx_add_contact(ctx, c, err) :
				     ll_ctx_add_trust(ctx, c, err);
			ll_cert_free(&c);
		}
		sqlite3_finalize(st);
	}
	return rc;
}

int ll_keystore_load(struct ll_keystore *ks, struct ll_ctx *ctx,
		     struct ll_error *err)
{
	int rc = ll_keystore_load_identities(ks, ctx, err);

	return rc < 0 ? rc : ll_keystore_load_certs(ks, ctx, err);
}

int ll_keystore_foreach(struct ll_keystore *ks, enum ll_keystore_kind kind,
			int (*fn)(void *arg, const struct ll_cert *c),
			void *arg, struct ll_error *err)
{
	const char *sql = kind == LL_KS_IDENTITY ?
		"SELECT cert, 0 FROM identities ORDER BY id" :
		kind == LL_KS_CONTACT ?
		"SELECT cert, caps FROM contacts ORDER BY id" :
		"SELECT cert, 0 FROM trust ORDER BY id";
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(ks->db, sql, -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, ks->db, "listing");
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct ll_cert *c = NULL;

		rc = ll_keystore_row_cert(&c, st, err);
		if (rc < 0)
			break;
		rc = fn(arg, c);
		ll_cert_free(&c);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- key history ---- */

struct key_row {
	struct ll_cert *cert;
	struct ll_keystore_key k;
	size_t order; /* as stored */
	int revoked; /* the home knows it revoked */
};

static void free_rows(struct key_row *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ll_cert_free(&v[i].cert);
	free(v);
}

/* Every identity's certificate, as stored (oldest first). */
static int read_rows(struct key_row **out, size_t *n, struct ll_keystore *ks,
		     struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	struct key_row *v = NULL, *nv;
	size_t cap = 0, used = 0;
	int rc = 0, step;

	if (sqlite3_prepare_v2(ks->db,
			       "SELECT cert, 0, added FROM identities"
			       " ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, ks->db, "reading identities");
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (used == cap) {
			cap = cap ? 2 * cap : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
					    "out of memory");
				break;
			}
			v = nv;
		}
		memset(&v[used], 0, sizeof(v[used]));
		rc = ll_keystore_row_cert(&v[used].cert, st, err);
		if (rc < 0)
			break;
		v[used].k.cert = v[used].cert;
		v[used].k.added = (time_t)sqlite3_column_int64(st, 2);
		v[used].revoked = ll_revocation_marked(
			ks, ll_cert_fingerprint(v[used].cert));
		v[used].order = used;
		used++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ll_keystore_db_err(err, ks->db, "reading identities");
	sqlite3_finalize(st);
	if (rc < 0) {
		free_rows(v, used);
		return rc;
	}
	*out = v;
	*n = used;
	return 0;
}

/* The current certificate for ADDR, as ll_ctx_identity_for picks it
 * from the same identities in the same order (passing over the ones the
 * home knows revoked, as a context with the home's revocation options
 * does); borrowed from V. */
static struct ll_cert *pick(const struct key_row *v, size_t n, const char *addr,
			    time_t now)
{
	struct ll_cert *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (!v[i].revoked && ll_cert_matches_email(v[i].cert, addr) &&
		    ll_cert_better(v[i].cert, best, now))
			best = v[i].cert;
	return best;
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct key_row *a = pa, *b = pb;
	time_t na = ll_cert_not_before(a->cert);
	time_t nb = ll_cert_not_before(b->cert);
	int c = strcmp(ll_cert_email(a->cert), ll_cert_email(b->cert));

	if (c != 0)
		return c;
	if ((a->k.state == LL_KEY_CURRENT) != (b->k.state == LL_KEY_CURRENT))
		return a->k.state == LL_KEY_CURRENT ? -1 : 1;
	if (na != nb)
		return na > nb ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

const char *ll_key_state_name(enum ll_key_state state)
{
	switch (state) {
	case LL_KEY_CURRENT:
		return "current";
	case LL_KEY_SUPERSEDED:
		return "superseded";
	case LL_KEY_EXPIRED:
		return "expired";
	case LL_KEY_NOT_YET_VALID:
		return "not-yet-valid";
	case LL_KEY_REVOKED:
		return "revoked";
	}
	return "unknown";
}

int ll_keystore_foreach_key(struct ll_keystore *ks, time_t now,
			    int (*fn)(void *arg,
				      const struct ll_keystore_key *k),
			    void *arg, struct ll_error *err)
{
	struct key_row *v = NULL;
	size_t n = 0;
	int rc;

	if (now == 0)
		now = time(NULL);
	rc = read_rows(&v, &n, ks, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct ll_cert *c = v[i].cert;

		if (v[i].revoked)
			v[i].k.state = LL_KEY_REVOKED;
		else if (c == pick(v, n, ll_cert_email(c), now))
			v[i].k.state = LL_KEY_CURRENT;
		else if (ll_cert_not_after(c) < now)
			v[i].k.state = LL_KEY_EXPIRED;
		else if (ll_cert_not_before(c) > now)
			v[i].k.state = LL_KEY_NOT_YET_VALID;
		else
			v[i].k.state = LL_KEY_SUPERSEDED;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_rows);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = fn(arg, &v[i].k);
	free_rows(v, n);
	return rc;
}

int ll_keystore_current_cert(struct ll_cert **out, struct ll_keystore *ks,
			     const char *addr, time_t now, struct ll_error *err)
{
	struct key_row *v = NULL;
	struct ll_cert *best;
	size_t n = 0;
	int rc;

	*out = NULL;
	rc = read_rows(&v, &n, ks, err);
	if (rc < 0)
		return rc;
	best = pick(v, n, addr, now != 0 ? now : time(NULL));
	if (best != NULL)
		*out = ll_cert_ref(best);
	else
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no current identity for %s", addr);
	free_rows(v, n);
	return rc;
}

/* ---- named secrets ---- */

static int secret_aad(struct ll_buf *aad, const char *name,
		      struct ll_error *err)
{
	if (strlen(name) > LL_KEYSTORE_NAME_MAX)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "secret name longer than %d bytes",
			      LL_KEYSTORE_NAME_MAX);
	if (ll_buf_adds(aad, SECRET_AAD) < 0 || ll_buf_adds(aad, name) < 0)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	return 0;
}

int ll_keystore_delete_secret(struct ll_keystore *ks, const char *name,
			      struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(ks->db, "DELETE FROM secrets WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, ks->db, "deleting a secret");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ll_keystore_db_err(err, ks->db, "deleting a secret");
	sqlite3_finalize(st);
	return rc;
}

int ll_keystore_put_secret(struct ll_keystore *ks, const char *name,
			   const void *data, size_t len,
			   struct ll_error *err)
{
	struct ll_buf aad = { 0 }, blob = { 0 };
	sqlite3_stmt *st = NULL;
	int rc;

	if (len > LL_KEYSTORE_SECRET_MAX)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "secret larger than %d bytes",
			      LL_KEYSTORE_SECRET_MAX);
	rc = secret_aad(&aad, name, err);
	if (rc == 0)
		rc = ll_keystore_unlock(ks, NULL, err);
	if (rc < 0)
		goto out;
	rc = seal_key(&blob, ks, data, len, aad.p);
	if (rc < 0) {
		rc = ll_err_ossl(err, rc, "sealing the secret");
		goto out;
	}
	if (sqlite3_prepare_v2(ks->db,
			       "INSERT INTO secrets (name, blob, added)"
			       " VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE"
			       " SET blob = excluded.blob,"
			       " added = excluded.added",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = ll_keystore_db_err(err, ks->db, "storing a secret");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, blob.p, (int)blob.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (long long)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ll_keystore_db_err(err, ks->db, "storing a secret");
out:
	sqlite3_finalize(st);
	ll_buf_free(&aad);
	ll_buf_free(&blob);
	return rc;
}

int ll_keystore_get_secret(unsigned char **out, size_t *len,
			   struct ll_keystore *ks, const char *name,
			   struct ll_error *err)
{
	struct ll_buf aad = { 0 };
	sqlite3_stmt *st = NULL;
	int rc, step;

	*out = NULL;
	*len = 0;
	rc = secret_aad(&aad, name, err);
	if (rc < 0)
		goto out;
	if (sqlite3_prepare_v2(ks->db, "SELECT blob FROM secrets WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = ll_keystore_db_err(err, ks->db, "reading a secret");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_STORE,
			    "no secret of that name");
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = ll_keystore_db_err(err, ks->db, "reading a secret");
		goto out;
	}
	/* the passphrase only for a secret that is there */
	rc = ll_keystore_unlock(ks, NULL, err);
	if (rc < 0)
		goto out;
	if (open_key(out, len, ks, sqlite3_column_blob(st, 0),
		     (size_t)sqlite3_column_bytes(st, 0), aad.p) < 0)
		rc = ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			    "a stored secret cannot be opened (wrong "
			    "master.key or damaged store)");
out:
	sqlite3_finalize(st);
	ll_buf_free(&aad);
	return rc;
}
