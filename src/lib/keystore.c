/*
 * keystore.c - the client's home directory: SQLite database of
 * identities (keys sealed with AES-256-GCM), contacts and trust anchors.
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

#define MASTER_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define BLOB_MAGIC "LLK1"

struct ll_keystore {
	sqlite3 *db;
	unsigned char master[MASTER_LEN];
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

static int read_master(struct ll_keystore *ks, const char *home,
		       struct ll_error *err)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/master.key", home);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (RAND_priv_bytes(ks->master, MASTER_LEN) != 1)
			return ll_err_ossl(err, LL_ECRYPTO, "random");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s",
				      path, strerror(errno));
		n = write(fd, ks->master, MASTER_LEN);
		if (n != MASTER_LEN || fsync(fd) != 0) {
			close(fd);
			unlink(path);
			return ll_err(err, LL_EIO, LL_ECLASS_OS,
				      "writing %s failed", path);
		}
		close(fd);
		return 0;
	}
	if (fd < 0)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s: %s", path,
			      strerror(errno));
	n = read(fd, ks->master, MASTER_LEN);
	close(fd);
	if (n != MASTER_LEN)
		return ll_err(err, LL_ESTORE, LL_ECLASS_STORE,
			      "%s is damaged (expected %d bytes)", path,
			      MASTER_LEN);
	return 0;
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
	int rc;

	if (ks == NULL)
		return LL_ENOMEM;
	rc = mkdir_p(home, err);
	if (rc < 0)
		goto fail;
	rc = read_master(ks, home, err);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/letterlock.db", home);
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
	sqlite3_close(ks->db);
	OPENSSL_cleanse(ks->master, sizeof(ks->master));
	free(ks);
}

/* AES-256-GCM under the master key; AAD binds the blob to its cert. */
static int seal_key(struct ll_buf *out, const struct ll_keystore *ks,
		    const unsigned char *key, size_t keylen, const char *aad)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char nonce[NONCE_LEN], tag[TAG_LEN];
	int n, ok;

	ok = c != NULL && RAND_bytes(nonce, NONCE_LEN) == 1 &&
	     ll_buf_reserve(out, 4 + NONCE_LEN + TAG_LEN + keylen + 16) == 0;
	ok = ok && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, ks->master,
				      nonce) == 1 &&
	     EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad,
			       (int)strlen(aad)) == 1;
	if (ok) {
		unsigned char *p;

		memcpy(out->p, BLOB_MAGIC, 4);
		memcpy(out->p + 4, nonce, NONCE_LEN);
		p = (unsigned char *)out->p + 4 + NONCE_LEN + TAG_LEN;
		ok = EVP_EncryptUpdate(c, p, &n, key, (int)keylen) == 1 &&
		     EVP_EncryptFinal_ex(c, p + n, &n) == 1 &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
					 tag) == 1;
		memcpy(out->p + 4 + NONCE_LEN, tag, TAG_LEN);
		out->len = 4 + NONCE_LEN + TAG_LEN + keylen;
	}
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : LL_ECRYPTO;
}

static int open_key(unsigned char **out, size_t *outlen,
		    const struct ll_keystore *ks, const unsigned char *blob,
		    size_t len, const char *aad)
{
	EVP_CIPHER_CTX *c;
	unsigned char *k;
	size_t klen;
	int n, ok;

	if (len < 4 + NONCE_LEN + TAG_LEN || memcmp(blob, BLOB_MAGIC, 4) != 0)
		return LL_ESTORE;
	klen = len - 4 - NONCE_LEN - TAG_LEN;
	k = malloc(klen + 16);
	c = EVP_CIPHER_CTX_new();
	ok = k != NULL && c != NULL &&
	     EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, ks->master,
				blob + 4) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad,
			       (int)strlen(aad)) == 1 &&
	     EVP_DecryptUpdate(c, k, &n, blob + 4 + NONCE_LEN + TAG_LEN,
			       (int)klen) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				 (void *)(blob + 4 + NONCE_LEN)) == 1 &&
	     EVP_DecryptFinal_ex(c, k + n, &n) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		ll_wipe_free(k, k ? klen + 16 : 0);
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

int ll_keystore_load(struct ll_keystore *ks, struct ll_ctx *ctx,
		     struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(ks->db,
			       "SELECT fpr, cert, key, chain FROM identities"
			       " ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, ks->db, "reading identities");
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = load_identity(ks, ctx, st, err);
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	for (int kind = LL_KS_CONTACT; kind <= LL_KS_TRUST; kind++) {
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
