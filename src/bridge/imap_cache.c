/*
 * imap_cache.c - opened messages kept encrypted at rest, one SQLite
 * database per account (imap_cache.h).
 *
 * A row is keyed by the SHA-256 of the identity "ACCOUNT\nMAILBOX\n
 * UIDVALIDITY\nUID" and holds nonce (12) | AES-256-GCM ciphertext | tag
 * (16), the identity as associated data: bytes copied into another
 * message's row, damaged, or sealed under another key do not open, so
 * an entry is only ever served for the message it was made from, and a
 * mailbox whose UIDVALIDITY changed names other rows.
 *
 * Why SQLite and not a file per message (as before): making and
 * removing thousands of small files is the kernel's inode allocation
 * for each, about a third of a first FETCH's CPU; one database takes a
 * batch of entries in one transaction.  WAL lets the sessions of an
 * account read while one of them writes; synchronous=NORMAL, since a
 * commit lost to a power cut only costs its entries being opened again.
 * The total of the entries' sizes is kept by triggers in the same
 * transaction as the rows, so the bound is checked without a scan.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <letterlock/letterlock.h>

#include "imap_cache.h"

#define NONCE 12
#define TAG 16
#define HASH 32
/* the queue written by one flush: what a batch of a FETCH adds */
#define QUEUE_MAX 512
#define QUEUE_BYTES (16u * 1024 * 1024)
/* rows removed per statement while the total passes the bound */
#define EVICT_STEP 64

/*
 * An entry's bookkeeping and its sealed bytes are two tables: a hit's
 * use rewrites a narrow row of the first (dozens to a page), not the
 * page and overflow pages of a 4 KiB blob.
 */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS entry ("
	" n INTEGER PRIMARY KEY,"
	" id BLOB NOT NULL UNIQUE," /* SHA-256 of the identity */
	" used INTEGER NOT NULL," /* last use, ms since the epoch */
	" size INTEGER NOT NULL);" /* length(sealed.data) */
	"CREATE INDEX IF NOT EXISTS entry_used ON entry(used);"
	"CREATE TABLE IF NOT EXISTS sealed ("
	" n INTEGER PRIMARY KEY," /* entry.n */
	" data BLOB NOT NULL);" /* nonce | ciphertext | tag */
	"CREATE TABLE IF NOT EXISTS total (bytes INTEGER NOT NULL);"
	"INSERT INTO total SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM total);"
	"CREATE TRIGGER IF NOT EXISTS entry_ins AFTER INSERT ON entry BEGIN"
	" UPDATE total SET bytes = bytes + new.size; END;"
	"CREATE TRIGGER IF NOT EXISTS entry_del AFTER DELETE ON entry BEGIN"
	" UPDATE total SET bytes = bytes - old.size;"
	" DELETE FROM sealed WHERE n = old.n; END;"
	"CREATE TRIGGER IF NOT EXISTS entry_upd AFTER UPDATE OF size ON entry"
	" BEGIN UPDATE total SET bytes = bytes - old.size + new.size; END;";

enum stmt {
	S_GET,
	S_PUT,
	S_PUTDATA,
	S_TOUCH,
	S_TOTAL,
	S_OLDEST,
	S_EVICT,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_GET] = "SELECT s.data FROM entry e JOIN sealed s ON s.n = e.n "
		  "WHERE e.id = ?1",
	[S_PUT] = "INSERT INTO entry (id, used, size) VALUES (?1, ?2, ?3) "
		  "ON CONFLICT (id) DO UPDATE SET used = excluded.used, "
		  "size = excluded.size RETURNING n",
	[S_PUTDATA] = "INSERT OR REPLACE INTO sealed (n, data) VALUES (?1, ?2)",
	[S_TOUCH] = "UPDATE entry SET used = ?2 WHERE id = ?1",
	[S_TOTAL] = "SELECT bytes FROM total",
	[S_OLDEST] = "SELECT n, size FROM entry ORDER BY used LIMIT ?1",
	[S_EVICT] = "DELETE FROM entry WHERE n = ?1",
};

/* A write waiting for the flush: an entry (blob) or a use (blob NULL). */
struct queued {
	unsigned char id[HASH];
	unsigned char *blob;
	size_t n;
};

struct imap_cache {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
	unsigned char key[32];
	unsigned long long max;
	struct queued q[QUEUE_MAX];
	size_t nq, qbytes;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int id_hash(unsigned char md[HASH], const char *id)
{
	return EVP_Digest(id, strlen(id), md, NULL, EVP_sha256(), NULL) == 1 ?
		       0 :
		       -1;
}

/* AES-256-GCM of IN (N) with ID as associated data; ENC 1 seals (OUT
 * gets N bytes and TAGP the tag), 0 opens (TAGP checked).  0, or -1. */
static int gcm(const struct imap_cache *c, int enc, const unsigned char *iv,
	       const char *id, const unsigned char *in, size_t n,
	       unsigned char *out, unsigned char *tagp)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int len, ok;

	ok = x != NULL && n <= INT_MAX &&
	     EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, c->key, iv, enc) ==
		     1 &&
	     EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)id,
			      (int)strlen(id)) == 1 &&
	     EVP_CipherUpdate(x, out, &len, in, (int)n) == 1 &&
	     (enc ||
	      EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG, tagp) == 1) &&
	     EVP_CipherFinal_ex(x, out + len, &len) == 1 &&
	     (!enc ||
	      EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG, tagp) == 1);
	EVP_CIPHER_CTX_free(x);
	return ok ? 0 : -1;
}

/* Is NAME an entry file of the cache before it was a database (64 hex
 * digits, perhaps ".PID" of one being written)? */
static int old_entry_name(const char *name)
{
	size_t i = 0;

	while (i < 64 && ((name[i] >= '0' && name[i] <= '9') ||
			  (name[i] >= 'a' && name[i] <= 'f')))
		i++;
	return i == 64 && (name[i] == '\0' || name[i] == '.');
}

/* The entry files of the cache before it was a database, in the
 * directory of PATH, removed: their key is the same, but nothing reads
 * them any more. */
static void remove_old_entries(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct dirent *e;
	DIR *d;

	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (old_entry_name(e->d_name))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static void db_close(struct imap_cache *c)
{
	for (int i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

/* PATH opened and its schema made: SQLITE_OK, or SQLite's code. */
static int db_open(struct imap_cache *c, const char *path)
{
	int fd, rc;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return SQLITE_CANTOPEN;
	close(fd);
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_timeout(c->db, 5000);
	rc = sqlite3_exec(c->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			  "PRAGMA journal_size_limit=16777216;",
			  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_exec(c->db, schema, NULL, NULL, NULL);
		rc = sqlite3_exec(c->db,
				  rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL,
				  NULL, NULL) == SQLITE_OK ?
			     rc :
			     SQLITE_ERROR;
	}
	for (int i = 0; i < S_COUNT && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(c->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &c->st[i],
					NULL);
	return rc;
}

/*
 * db_open, again while another process holds the lock: two sessions
 * that open a new database at once meet in its first transactions
 * (the switch to WAL, the schema), where SQLite answers SQLITE_BUSY at
 * once instead of calling the busy handler when waiting could
 * deadlock.  Bounded: 25 tries 20 ms apart.
 */
static int db_open_retry(struct imap_cache *c, const char *path)
{
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	int rc = db_open(c, path);

	for (int i = 0; i < 25 && ((rc & 0xff) == SQLITE_BUSY ||
				   (rc & 0xff) == SQLITE_LOCKED);
	     i++) {
		db_close(c);
		nanosleep(&pause, NULL);
		rc = db_open(c, path);
	}
	return rc;
}

int imap_cache_open(struct imap_cache **out, const char *path,
		    const unsigned char key[32], unsigned long long max)
{
	struct imap_cache *c;
	struct stat st;
	int rc, fresh = stat(path, &st) != 0;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	memcpy(c->key, key, sizeof(c->key));
	c->max = max;
	rc = db_open_retry(c, path);
	if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
		/* a damaged database (a disk error, a truncated copy):
		 * started again, as a cache may be */
		char side[PATH_MAX + 8];

		fprintf(stderr,
			"letterlock: bridge: imap: %s: %s; made again\n", path,
			sqlite3_errstr(rc));
		db_close(c);
		unlink(path);
		snprintf(side, sizeof(side), "%s-wal", path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", path);
		unlink(side);
		rc = db_open_retry(c, path);
	}
	if (rc != SQLITE_OK) {
		fprintf(stderr, "letterlock: bridge: imap: %s: %s; no cache\n",
			path,
			c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		imap_cache_close(&c);
		return -1;
	}
	if (fresh)
		remove_old_entries(path);
	*out = c;
	return 0;
}

/* One write queued; the queue flushed when full. */
static void enqueue(struct imap_cache *c, const unsigned char id[HASH],
		    unsigned char *blob, size_t n)
{
	struct queued *q = &c->q[c->nq++];

	memcpy(q->id, id, HASH);
	q->blob = blob;
	q->n = n;
	c->qbytes += n;
	if (c->nq == QUEUE_MAX || c->qbytes >= QUEUE_BYTES)
		imap_cache_flush(c);
}

int imap_cache_get(struct imap_cache *c, const char *id, char **out,
		   size_t *outlen)
{
	unsigned char md[HASH];
	const unsigned char *blob;
	char *plain = NULL;
	size_t n = 0;
	int hit = 0;

	*out = NULL;
	if (c == NULL || id_hash(md, id) < 0)
		return 0;
	sqlite3_bind_blob(c->st[S_GET], 1, md, HASH, SQLITE_STATIC);
	if (sqlite3_step(c->st[S_GET]) != SQLITE_ROW)
		goto out;
	blob = sqlite3_column_blob(c->st[S_GET], 0);
	n = (size_t)sqlite3_column_bytes(c->st[S_GET], 0);
	if (blob == NULL || n < NONCE + TAG || n > c->max / 4)
		goto out;
	plain = malloc(n - NONCE - TAG + 1);
	if (plain == NULL)
		goto out;
	if (gcm(c, 0, blob, id, blob + NONCE, n - NONCE - TAG,
		(unsigned char *)plain, (unsigned char *)blob + n - TAG) < 0)
		goto out; /* another key, damaged, not this message's */
	plain[n - NONCE - TAG] = '\0';
	*outlen = n - NONCE - TAG;
	*out = plain;
	plain = NULL;
	hit = 1;
out:
	sqlite3_reset(c->st[S_GET]);
	sqlite3_clear_bindings(c->st[S_GET]);
	if (plain != NULL)
		ll_wipe_free(plain, n - NONCE - TAG + 1);
	if (hit)
		enqueue(c, md, NULL, 0); /* recently used */
	return hit;
}

void imap_cache_put(struct imap_cache *c, const char *id, const char *data,
		    size_t len)
{
	unsigned char md[HASH], *blob;
	size_t n = NONCE + len + TAG;

	if (c == NULL || len > c->max || n > c->max / 4 || id_hash(md, id) < 0)
		return;
	blob = malloc(n);
	if (blob == NULL)
		return;
	if (RAND_bytes(blob, NONCE) != 1 ||
	    gcm(c, 1, blob, id, (const unsigned char *)data, len, blob + NONCE,
		blob + NONCE + len) < 0) {
		free(blob);
		return;
	}
	enqueue(c, md, blob, n);
}

/* One statement of the flush run: 0, or -1. */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* The total of the entries' sizes into *TOTAL: 0, or -1. */
static int total(struct imap_cache *c, sqlite3_int64 *total)
{
	int rc = sqlite3_step(c->st[S_TOTAL]);

	*total = sqlite3_column_int64(c->st[S_TOTAL], 0);
	sqlite3_reset(c->st[S_TOTAL]);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* The least recently used rows removed while the total passes the
 * bound, EVICT_STEP looked at a time: 0, or -1. */
static int evict(struct imap_cache *c)
{
	sqlite3_int64 bytes, rowid[EVICT_STEP], size[EVICT_STEP];
	int n;

	if (total(c, &bytes) < 0)
		return -1;
	while (bytes > (sqlite3_int64)c->max) {
		sqlite3_bind_int(c->st[S_OLDEST], 1, EVICT_STEP);
		for (n = 0; n < EVICT_STEP &&
			    sqlite3_step(c->st[S_OLDEST]) == SQLITE_ROW;
		     n++) {
			rowid[n] = sqlite3_column_int64(c->st[S_OLDEST], 0);
			size[n] = sqlite3_column_int64(c->st[S_OLDEST], 1);
		}
		sqlite3_reset(c->st[S_OLDEST]);
		if (n == 0)
			return 0; /* nothing left to remove */
		for (int i = 0; i < n && bytes > (sqlite3_int64)c->max; i++) {
			sqlite3_bind_int64(c->st[S_EVICT], 1, rowid[i]);
			if (run(c->st[S_EVICT]) < 0)
				return -1;
			bytes -= size[i];
		}
	}
	return 0;
}

/* One queued write: the entry's row and its sealed bytes, or its use.
 * 0, or -1. */
static int write_one(struct imap_cache *c, const struct queued *q,
		     long long used)
{
	sqlite3_stmt *st = c->st[q->blob ? S_PUT : S_TOUCH];
	sqlite3_int64 n;
	int rc;

	sqlite3_bind_blob(st, 1, q->id, HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, used);
	if (q->blob == NULL)
		return run(st);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)q->n);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return -1;
	}
	n = sqlite3_column_int64(st, 0); /* the entry's row, old or new */
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return -1;
	sqlite3_bind_int64(c->st[S_PUTDATA], 1, n);
	sqlite3_bind_blob(c->st[S_PUTDATA], 2, q->blob, (int)q->n,
			  SQLITE_STATIC);
	return run(c->st[S_PUTDATA]);
}

void imap_cache_flush(struct imap_cache *c)
{
	long long used = now_ms();
	int rc = 0;

	if (c == NULL || c->nq == 0)
		return;
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		rc = -1;
	for (size_t i = 0; i < c->nq && rc == 0; i++)
		rc = write_one(c, &c->q[i], used);
	if (rc == 0)
		rc = evict(c);
	if (rc == 0 &&
	    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = -1;
	if (rc < 0) {
		fprintf(stderr,
			"letterlock: bridge: imap: the cache: %s; %zu entries "
			"not kept\n",
			sqlite3_errmsg(c->db), c->nq);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	for (size_t i = 0; i < c->nq; i++)
		free(c->q[i].blob);
	c->nq = 0;
	c->qbytes = 0;
}

void imap_cache_close(struct imap_cache **pc)
{
	struct imap_cache *c;

	if (pc == NULL || *pc == NULL)
		return;
	c = *pc;
	*pc = NULL;
	if (c->db != NULL)
		imap_cache_flush(c);
	db_close(c);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}
