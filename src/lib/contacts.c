/*
 * contacts.c - recipients' certificates: the contact store's rules
 * (contacts.h), the PKX directory client (doc/pkx-api.md) and the
 * SMIMEA source (smimea.c).
 *
 * The store is the home's SQLite (keystore.c): the contacts table with
 * each certificate's source, state and last confirmation, the lookups
 * table with the directory's last answer for an address (found or
 * not), and smimea_lookups with the last secure DNS answer and until
 * when it holds, so that a message's recipients are asked once in a
 * while, not at every message.  A directory answer is untrusted input:
 * at most LL_PKX_REPLY_MAX octets, parsed by jansson, every certificate
 * parsed and checked to name the address it was given for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include <letterlock/ca.h>
#include <letterlock/contacts.h>
#include <letterlock/jose.h>

#include "internal.h"
#include "smimea.h"

#define LL_PKX_BATCH 100 /* addresses a request, doc/pkx-api.md */
#define LL_PKX_REPLY_MAX (4u * 1024 * 1024)
#define LL_PKX_CERTS_MAX 8 /* certificates an entry holds at most */
#define DEFAULT_MAX_AGE 86400
#define DEFAULT_TIMEOUT 20
#define ADDR_MAX 320

const char *ll_contact_source_name(enum ll_contact_source s)
{
	switch (s) {
	case LL_SRC_MANUAL:
		return "manual";
	case LL_SRC_PKX:
		return "pkx";
	case LL_SRC_HARVESTED:
		return "harvested";
	case LL_SRC_SMIMEA:
		return "smimea";
	}
	return "?";
}

const char *ll_contact_state_name(enum ll_contact_state s)
{
	switch (s) {
	case LL_CONTACT_CURRENT:
		return "current";
	case LL_CONTACT_PENDING:
		return "pending";
	case LL_CONTACT_REPLACED:
		return "replaced";
	}
	return "?";
}

/* Sources that do not prove the recipient holds the mailbox: a new key
 * from them for an address with a current one waits for the user. */
static int unproven(enum ll_contact_source s)
{
	return s == LL_SRC_HARVESTED || s == LL_SRC_SMIMEA;
}

/* Append a note (NOTE may be NULL), "; " after the one before. */
static void note_add(char *note, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note_add(char *note, size_t len, const char *fmt, ...)
{
	size_t at;
	va_list ap;

	if (note == NULL || len == 0)
		return;
	at = strlen(note);
	if (at > 0 && at + 2 < len) {
		memcpy(note + at, "; ", 3);
		at += 2;
	}
	if (at + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(note + at, len - at, fmt, ap);
	va_end(ap);
}

/* Run SQL with the text parameters A (and B, C when not NULL) and the
 * integer N (when >= 0, after them); the first column of the first row
 * into *out when OUT is not NULL (0 when there is none). */
static int exec(sqlite3 *db, const char *sql, const char *a, const char *b,
		long long n, long long *out, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int i = 1, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "contacts");
	if (a != NULL)
		sqlite3_bind_text(st, i++, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, i++, b, -1, SQLITE_STATIC);
	if (n >= 0)
		sqlite3_bind_int64(st, i++, n);
	rc = sqlite3_step(st);
	if (out != NULL)
		*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ?
		       0 :
		       ll_keystore_db_err(err, db, "contacts");
}

/* The address a contact is filed under: the certificate's, domain as
 * lower-case A-labels (ll_ca_mailbox_canonical). */
static int canonical(char out[ADDR_MAX], const char *addr, struct ll_error *err)
{
	if (addr == NULL || *addr == '\0')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "no mailbox address");
	return ll_ca_mailbox_canonical(out, ADDR_MAX, NULL, addr, err);
}

/* How a stored certificate's capabilities take CAPS from SOURCE, the
 * row in state WAS: 0 kept, 1 raised (CAPS added), 2 replaced.  The
 * directory and the user state them; a signed message (harvest) only
 * adds what it signs for, and only for the contact's current key, so a
 * message without SMIMECapabilities or with weaker ones never takes GCM
 * or OAEP away from a contact. */
static int caps_update(enum ll_contact_source source, long long was,
		       unsigned caps)
{
	if (caps == 0)
		return 0;
	if (!unproven(source))
		return 2;
	return was == LL_CONTACT_CURRENT && source == LL_SRC_HARVESTED ? 1 : 0;
}

/*
 * Call FN for each current certificate of ADDR other than SKIP (may be
 * NULL) with its fingerprint and uses (LL_USE_*; one that does not
 * parse counts as of every use), until FN returns non-zero.
 */
static int each_current(sqlite3 *db, const char *addr, const char *skip,
			int (*fn)(void *arg, const char *fpr, unsigned uses),
			void *arg, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db,
			       "SELECT fpr, cert FROM contacts WHERE email = ?"
			       " AND state = 0 AND fpr != ? ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "contacts");
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, skip != NULL ? skip : "", -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *fpr = (const char *)sqlite3_column_text(st, 0);
		struct ll_cert *c = NULL;
		unsigned uses = LL_USE_SIGN | LL_USE_ENCRYPT;

		if (ll_cert_parse(&c, sqlite3_column_blob(st, 1),
				  (size_t)sqlite3_column_bytes(st, 1),
				  NULL) == 0)
			uses = ll_cert_uses(c);
		ll_cert_free(&c);
		rc = fn(arg, fpr != NULL ? fpr : "", uses);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ll_keystore_db_err(err, db, "contacts");
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

/*
 * The current keys of an address that a new one would stand beside:
 * those sharing a use with it.  A key to sign with and another to
 * encrypt to (what many CAs issue) are the two halves of one
 * correspondent, not a change of key; two keys to encrypt to are.
 */
struct same_use {
	unsigned uses;
	long long n;
	char (*fprs)[65]; /* with RETIRE: the ones found */
	size_t cap;
	int retire;
};

static int same_use_one(void *arg, const char *fpr, unsigned uses)
{
	struct same_use *u = arg;

	/* a key of no use of ours shares nothing, and is never a change */
	if ((u->uses & uses) == 0)
		return 0;
	if (u->retire && (size_t)u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 8;
		char(*nv)[65] = realloc(u->fprs, cap * sizeof(*nv));

		if (nv == NULL)
			return LL_ENOMEM;
		u->fprs = nv;
		u->cap = cap;
	}
	if (u->retire)
		snprintf(u->fprs[u->n], sizeof(u->fprs[0]), "%s", fpr);
	u->n++;
	return 0;
}

/* How many current keys of ADDR other than FPR share a use with USES;
 * with RETIRE, they are made replaced. */
static int same_use(sqlite3 *db, const char *addr, const char *fpr,
		    unsigned uses, int retire, long long *n,
		    struct ll_error *err)
{
	struct same_use u = { .uses = uses, .retire = retire };
	int rc = each_current(db, addr, fpr, same_use_one, &u, err);

	if (rc == LL_ENOMEM)
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	for (long long i = 0; rc == 0 && retire && i < u.n; i++)
		rc = exec(db, "UPDATE contacts SET state = 2 WHERE fpr = ?",
			  u.fprs[i], NULL, -1, NULL, err);
	free(u.fprs);
	*n = u.n;
	return rc;
}

int ll_contacts_add(struct ll_keystore *ks, const struct ll_cert *cert,
		    enum ll_contact_source source, time_t now,
		    enum ll_contact_state *state, struct ll_error *err)
{
	sqlite3 *db = ll_keystore_db(ks);
	const char *fpr = ll_cert_fingerprint(cert);
	char addr[ADDR_MAX];
	long long have = 0, others = 0;
	enum ll_contact_state to = LL_CONTACT_CURRENT;
	unsigned char *der = NULL;
	size_t derlen = 0;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = canonical(addr, ll_cert_email(cert), err);
	if (rc < 0)
		return rc;
	rc = exec(db, "BEGIN IMMEDIATE", NULL, NULL, -1, NULL, err);
	if (rc < 0)
		return rc;
	/* state + 1, so that 0 says "not stored" */
	rc = exec(db, "SELECT state + 1 FROM contacts WHERE fpr = ?", fpr, NULL,
		  -1, &have, err);
	if (rc == 0)
		rc = same_use(db, addr, fpr, ll_cert_uses(cert), 0, &others,
			      err);
	if (rc < 0)
		goto out;
	if (have != 0) {
		to = (enum ll_contact_state)(have - 1);
		/* a key waiting for the user, now from the directory or
		 * the user: current; a harvest or SMIMEA changes nothing */
		if (to == LL_CONTACT_PENDING && !unproven(source))
			to = LL_CONTACT_CURRENT;
		if (to == LL_CONTACT_REPLACED && source == LL_SRC_PKX)
			to = LL_CONTACT_CURRENT;
		if (sqlite3_prepare_v2(db,
				       "UPDATE contacts SET state = ?,"
				       " seen = max(seen, ?), caps = CASE ?"
				       " WHEN 0 THEN caps WHEN 1 THEN caps | ?"
				       " ELSE ? END WHERE fpr = ?",
				       -1, &st, NULL) != SQLITE_OK) {
			rc = ll_keystore_db_err(err, db, "contacts");
			goto out;
		}
		sqlite3_bind_int(st, 1, (int)to);
		sqlite3_bind_int64(st, 2, (long long)now);
		sqlite3_bind_int(st, 3,
				 caps_update(source, have - 1,
					     ll_cert_caps(cert)));
		sqlite3_bind_int64(st, 4, (long long)ll_cert_caps(cert));
		sqlite3_bind_int64(st, 5, (long long)ll_cert_caps(cert));
		sqlite3_bind_text(st, 6, fpr, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ?
			     0 :
			     ll_keystore_db_err(err, db, "updating a contact");
		goto out;
	}
	if (others > 0 && unproven(source))
		to = LL_CONTACT_PENDING;
	rc = ll_cert_der(&der, &derlen, cert, err);
	if (rc < 0)
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO contacts (fpr, email, cert, caps,"
			       " added, source, state, seen)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = ll_keystore_db_err(err, db, "contacts");
		goto out;
	}
	sqlite3_bind_text(st, 1, fpr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, der, (int)derlen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (long long)ll_cert_caps(cert));
	sqlite3_bind_int64(st, 5, (long long)now);
	sqlite3_bind_int(st, 6, (int)source);
	sqlite3_bind_int(st, 7, (int)to);
	sqlite3_bind_int64(st, 8, (long long)now);
	rc = sqlite3_step(st) == SQLITE_DONE ?
		     0 :
		     ll_keystore_db_err(err, db, "adding a contact");
out:
	sqlite3_finalize(st);
	free(der);
	if (exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, -1, NULL,
		 rc == 0 ? err : NULL) < 0 &&
	    rc == 0)
		rc = LL_ESTORE;
	if (rc == 0 && state != NULL)
		*state = to;
	return rc;
}

/* Whether ADDR has the certificate FPR stored (*have 1 or 0), and its
 * uses. */
static int stored_uses(sqlite3 *db, const char *addr, const char *fpr,
		       long long *have, unsigned *uses, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	struct ll_cert *c = NULL;
	int step;

	*have = 0;
	*uses = LL_USE_SIGN | LL_USE_ENCRYPT;
	if (sqlite3_prepare_v2(db,
			       "SELECT cert FROM contacts WHERE email = ? AND"
			       " fpr = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "contacts");
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, fpr, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*have = 1;
		if (ll_cert_parse(&c, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0),
				  NULL) == 0)
			*uses = ll_cert_uses(c);
		ll_cert_free(&c);
	}
	sqlite3_finalize(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ?
		       0 :
		       ll_keystore_db_err(err, db, "contacts");
}

int ll_contacts_accept(struct ll_keystore *ks, const char *addr,
		       const char *fpr, time_t now, struct ll_error *err)
{
	sqlite3 *db = ll_keystore_db(ks);
	char key[ADDR_MAX];
	long long have = 0;
	unsigned uses = 0;
	int rc = canonical(key, addr, err);

	if (rc < 0)
		return rc;
	rc = exec(db, "BEGIN IMMEDIATE", NULL, NULL, -1, NULL, err);
	if (rc == 0)
		rc = stored_uses(db, key, fpr, &have, &uses, err);
	if (rc == 0 && have == 0)
		rc = ll_err(err, LL_ENOTFOUND, LL_ECLASS_USAGE,
			    "no certificate %s stored for %s", fpr, key);
	/* the keys it takes over from: those of the same use */
	if (rc == 0)
		rc = same_use(db, key, fpr, uses, 1, &have, err);
	if (rc == 0) {
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(db,
				       "UPDATE contacts SET state = 0, seen = ?"
				       " WHERE fpr = ?",
				       -1, &st, NULL) != SQLITE_OK) {
			rc = ll_keystore_db_err(err, db, "contacts");
		} else {
			sqlite3_bind_int64(st, 1, (long long)now);
			sqlite3_bind_text(st, 2, fpr, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = ll_keystore_db_err(err, db,
							"accepting a contact");
		}
		sqlite3_finalize(st);
	}
	exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, -1, NULL, NULL);
	return rc;
}

int ll_contacts_foreach(struct ll_keystore *ks,
			int (*fn)(void *arg, const struct ll_contact_info *c),
			void *arg, struct ll_error *err)
{
	sqlite3 *db = ll_keystore_db(ks);
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db,
			       "SELECT cert, caps, email, source, state, added,"
			       " seen FROM contacts ORDER BY email, id",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "listing contacts");
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct ll_contact_info ci;
		struct ll_cert *c = NULL;

		rc = ll_keystore_row_cert(&c, st, err);
		if (rc < 0)
			break;
		ci.cert = c;
		ci.address = (const char *)sqlite3_column_text(st, 2);
		ci.source = (enum ll_contact_source)sqlite3_column_int(st, 3);
		ci.state = (enum ll_contact_state)sqlite3_column_int(st, 4);
		ci.added = (time_t)sqlite3_column_int64(st, 5);
		ci.seen = (time_t)sqlite3_column_int64(st, 6);
		rc = fn(arg, &ci);
		ll_cert_free(&c);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Counts the current keys that may sign. */
static int count_signing(void *arg, const char *fpr, unsigned uses)
{
	(void)fpr;
	if (uses & LL_USE_SIGN)
		(*(long long *)arg)++;
	return 0;
}

int ll_contacts_known(struct ll_keystore *ks, const char *addr, const char *fpr)
{
	sqlite3 *db = ll_keystore_db(ks);
	char key[ADDR_MAX];
	long long signing = 0, match = 0;

	if (canonical(key, addr, NULL) < 0 ||
	    exec(db,
		 "SELECT count(*) FROM contacts WHERE email = ? AND fpr = ?"
		 " AND state = 0",
		 key, fpr, -1, &match, NULL) < 0)
		return 0;
	if (match > 0)
		return 1;
	/* a key to sign with, new beside one only to encrypt to, is no
	 * change of the signer's key */
	if (each_current(db, key, fpr, count_signing, &signing, NULL) < 0)
		return 0;
	return signing > 0 ? -1 : 0;
}

/* ------------------------------------------------------- the directory */

/* What the owner reads, by the directory's names (doc/pkx-api.md). */
static unsigned caps_of(const json_t *list)
{
	unsigned caps = 0;
	size_t i;
	json_t *v;

	if (!json_is_array(list))
		return 0; /* null: not said */
	json_array_foreach(list, i, v)
		caps |= ll_cap_by_name(json_string_value(v));
	return caps;
}

/* POST {"addresses": ADDRS} to the directory; the parsed answer. */
static int pkx_post(json_t **out, const struct ll_contacts_options *o,
		    char *const *addrs, size_t n, char *why, size_t whylen)
{
	struct ll_curl_sink sink = { .max = LL_PKX_REPLY_MAX };
	char url[1024], ebuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL;
	json_t *req = json_object(), *list = json_array();
	json_error_t je;
	char *body = NULL;
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	int rc = -1;

	*out = NULL;
	for (size_t i = 0; list != NULL && i < n; i++)
		json_array_append_new(list, json_string(addrs[i]));
	if (req == NULL || list == NULL ||
	    json_object_set_new(req, "addresses", list) < 0) {
		snprintf(why, whylen, "out of memory");
		json_decref(req);
		return -1;
	}
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	snprintf(url, sizeof(url), "%s%slookup", o->pkx_url,
		 o->pkx_url[strlen(o->pkx_url) - 1] == '/' ? "" : "/");
	c = curl_easy_init();
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (body == NULL || c == NULL || hdrs == NULL ||
	    ll_curl_init(NULL) < 0) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	ll_curl_setup(c, "http,https",
		      o->timeout ? o->timeout : DEFAULT_TIMEOUT, o->pkx_ca_file,
		      ebuf, &sink);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	cc = ll_curl_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		snprintf(why, whylen, "the directory at %.200s: %.200s", url,
			 sink.too_big ? "reply too large" :
					ll_curl_why(ebuf, cc));
		goto out;
	}
	if (status != 200) {
		snprintf(why, whylen,
			 "the directory at %.200s answered HTTP %ld", url,
			 status);
		goto out;
	}
	*out = json_loadb(sink.body.p ? sink.body.p : "", sink.body.len,
			  JSON_REJECT_DUPLICATES, &je);
	if (*out == NULL || !json_is_array(json_object_get(*out, "results")) ||
	    json_array_size(json_object_get(*out, "results")) != n) {
		snprintf(why, whylen,
			 "the directory at %.200s: not a lookup answer", url);
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(body);
	ll_buf_free(&sink.body);
	return rc;
}

/* The directory's certificates for ADDR (its entry E): stored as PKX
 * contacts; current PKX contacts of ADDR it no longer lists replaced.
 * *changed when a key went and another came. */
static int take_entry(struct ll_keystore *ks, const char *addr, const json_t *e,
		      time_t now, int *changed, struct ll_error *err)
{
	const json_t *certs = json_object_get(e, "certificates");
	char fprs[LL_PKX_CERTS_MAX][65];
	size_t nf = 0, i;
	long long before = 0, after = 0;
	int rc = 0, added = 0;
	json_t *c;
	sqlite3 *db = ll_keystore_db(ks);

	if (!json_is_array(certs))
		return 0;
	rc = exec(db,
		  "SELECT count(*) FROM contacts WHERE email = ? AND state = 0"
		  " AND source = 1",
		  addr, NULL, -1, &before, err);
	json_array_foreach(certs, i, c)
	{
		const char *b64 =
			json_string_value(json_object_get(c, "certificate"));
		unsigned char *der = NULL;
		size_t derlen = 0;
		struct ll_cert *cert = NULL;
		enum ll_contact_state st;

		if (rc < 0 || nf >= LL_PKX_CERTS_MAX)
			break;
		if (b64 == NULL ||
		    ll_b64url_decode(&der, &derlen, b64, strlen(b64),
				     LL_CA_CSR_MAX, NULL) < 0 ||
		    ll_cert_parse(&cert, der, derlen, NULL) < 0 ||
		    !ll_cert_matches_email(cert, addr)) {
			/* not for this address: not taken */
			free(der);
			ll_cert_free(&cert);
			continue;
		}
		ll_cert_set_caps(cert,
				 caps_of(json_object_get(c, "capabilities")));
		if (exec(db, "SELECT count(*) FROM contacts WHERE fpr = ?",
			 ll_cert_fingerprint(cert), NULL, -1, &after,
			 err) == 0 &&
		    after == 0)
			added = 1;
		rc = ll_contacts_add(ks, cert, LL_SRC_PKX, now, &st, err);
		snprintf(fprs[nf++], sizeof(fprs[0]), "%s",
			 ll_cert_fingerprint(cert));
		free(der);
		ll_cert_free(&cert);
	}
	if (rc < 0)
		return rc;
	/* what the directory no longer lists (revoked, expired, renewed)
	 * is no longer used; contacts from other sources stay */
	{
		sqlite3_stmt *st = NULL;
		long long gone = 0;

		if (sqlite3_prepare_v2(db,
				       "SELECT fpr FROM contacts WHERE email = ?"
				       " AND state = 0 AND source = 1",
				       -1, &st, NULL) != SQLITE_OK)
			return ll_keystore_db_err(err, db, "contacts");
		sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
			const char *f =
				(const char *)sqlite3_column_text(st, 0);
			int listed = 0;

			for (size_t k = 0; k < nf; k++)
				listed |= f != NULL && strcmp(f, fprs[k]) == 0;
			if (!listed) {
				rc = exec(db,
					  "UPDATE contacts SET state = 2 WHERE"
					  " fpr = ?",
					  f, NULL, -1, NULL, err);
				gone++;
			}
		}
		sqlite3_finalize(st);
		*changed = gone > 0 && added && before > 0;
	}
	return rc;
}

/* The directory's answer for ADDR (SQL: the lookups table), or a
 * secure DNS answer good until EXPIRES (smimea_lookups). */
#define REMEMBER_PKX                                                      \
	"INSERT OR REPLACE INTO lookups (address, checked, found) VALUES" \
	" (?1, ?2, ?4)"
#define REMEMBER_DNS                                               \
	"INSERT OR REPLACE INTO smimea_lookups (address, checked," \
	" expires, found) VALUES (?1, ?2, ?3, ?4)"
static int remember(sqlite3 *db, const char *sql, const char *addr, time_t now,
		    time_t expires, int found, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "lookups");
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (long long)now);
	sqlite3_bind_int64(st, 3, (long long)expires);
	sqlite3_bind_int(st, 4, found);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ll_keystore_db_err(err, db, "lookups");
	sqlite3_finalize(st);
	return rc;
}

/* Ask the directory about the N addresses KEYS (batches of at most
 * LL_PKX_BATCH), store what it says. */
static int ask_directory(struct ll_keystore *ks,
			 const struct ll_contacts_options *o, char *const *keys,
			 size_t n, time_t now, int *changed, char *note,
			 size_t note_len, struct ll_error *err)
{
	int rc = 0;

	for (size_t at = 0; rc == 0 && at < n; at += LL_PKX_BATCH) {
		size_t k = n - at < LL_PKX_BATCH ? n - at : LL_PKX_BATCH;
		char why[512] = "";
		json_t *ans = NULL, *results;

		if (pkx_post(&ans, o, keys + at, k, why, sizeof(why)) < 0) {
			note_add(note, note_len, "%s", why);
			return 0; /* the store's answer stands */
		}
		results = json_object_get(ans, "results");
		for (size_t i = 0; rc == 0 && i < k; i++) {
			json_t *e = json_array_get(results, i);
			int ch = 0;

			if (json_object_get(e, "error") != NULL)
				continue;
			rc = take_entry(ks, keys[at + i], e, now, &ch, err);
			changed[at + i] = ch;
			if (rc == 0)
				rc = remember(ll_keystore_db(ks), REMEMBER_PKX,
					      keys[at + i], now, 0,
					      json_array_size(json_object_get(
						      e, "certificates")) > 0,
					      err);
		}
		json_decref(ans);
	}
	return rc;
}

/* ADDR's current certificates valid at NOW into CTX, in place of what
 * CTX had for it; RES says what was found. */
static int load_address(struct ll_keystore *ks, struct ll_ctx *ctx,
			const char *addr, time_t now,
			struct ll_contact_result *res, struct ll_error *err)
{
	sqlite3 *db = ll_keystore_db(ks);
	sqlite3_stmt *st = NULL;
	time_t newest = 0;
	long long pending = 0;
	int rc;

	ll_ctx_drop_contacts_for(ctx, addr);
	res->found = res->sign_only = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT cert, caps, source FROM contacts WHERE"
			       " email = ? AND state = 0 ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "contacts");
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct ll_cert *c = NULL;

		rc = ll_keystore_row_cert(&c, st, err);
		if (rc < 0)
			break;
		/* every current one verifies the address' mail; only one
		 * that may be encrypted to is "found" */
		if (ll_cert_not_before(c) <= now &&
		    ll_cert_not_after(c) >= now) {
			rc = ll_ctx_add_contact(ctx, c, err);
			if (!(ll_cert_uses(c) & LL_USE_ENCRYPT)) {
				res->sign_only = !res->found;
			} else if (ll_cert_not_before(c) >= newest ||
				   !res->found) {
				res->found = 1;
				res->sign_only = 0;
				newest = ll_cert_not_before(c);
				res->source = (enum ll_contact_source)
					sqlite3_column_int(st, 2);
			}
		}
		ll_cert_free(&c);
	}
	sqlite3_finalize(st);
	if (rc == 0)
		rc = exec(db,
			  "SELECT count(*) FROM contacts WHERE email = ? AND"
			  " state = 1",
			  addr, NULL, -1, &pending, err);
	res->pending = pending > 0;
	return rc;
}

/* ------------------------------------------------------------ SMIMEA */

/* The certificates of one secure answer Q as SMIMEA contacts, and the
 * answer remembered until its TTL (at most MAX_AGE) runs out. */
static int take_dns(struct ll_keystore *ks, const struct ll_smimea_query *q,
		    time_t now, long max_age, char *note, size_t note_len,
		    struct ll_error *err)
{
	long ttl = q->ttl < max_age ? q->ttl : max_age;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < q->take.n; i++)
		rc = ll_contacts_add(ks, q->take.certs[i], LL_SRC_SMIMEA, now,
				     NULL, err);
	if (rc == 0 && q->take.n == 0 && q->take.why[0] != '\0')
		note_add(note, note_len, "SMIMEA for %s: %s, not used", q->addr,
			 q->take.why);
	if (rc == 0)
		rc = remember(ll_keystore_db(ks), REMEMBER_DNS, q->addr, now,
			      now + ttl, q->take.n > 0, err);
	return rc;
}

/* *fresh: ADDR's last secure DNS answer holds at NOW: its TTL has not
 * run out, and it is not older than MAX_AGE (as asked now). */
static int dns_fresh(sqlite3 *db, const char *addr, time_t now, long max_age,
		     long long *fresh, struct ll_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*fresh = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM smimea_lookups WHERE"
			       " address = ?1 AND expires > ?2 AND"
			       " checked > ?2 - ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return ll_keystore_db_err(err, db, "lookups");
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (long long)now);
	sqlite3_bind_int64(st, 3, (long long)max_age);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*fresh = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : ll_keystore_db_err(err, db, "lookups");
}

/* SMIMEA for the addresses of RES (N) still without a certificate and
 * without a fresh DNS answer: one batch of lookups (smimea.c). */
static int ask_dns(struct ll_keystore *ks, const struct ll_contacts_options *o,
		   const struct ll_contact_result *res, size_t n, time_t now,
		   long max_age, char *note, size_t note_len,
		   struct ll_error *err)
{
	struct ll_smimea_resolver r = { o->resolver_conf, o->trust_anchor_file,
					o->timeout, now };
	struct ll_smimea_query *q = calloc(n ? n : 1, sizeof(*q));
	char why[512] = "";
	size_t nq = 0;
	int rc = 0;

	if (q == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		long long fresh = 0;
		int dup = 0;

		for (size_t k = 0; k < nq; k++)
			dup |= strcmp(q[k].addr, res[i].address) == 0;
		if (res[i].found || dup)
			continue;
		rc = dns_fresh(ll_keystore_db(ks), res[i].address, now, max_age,
			       &fresh, err);
		if (!fresh)
			q[nq++].addr = res[i].address;
	}
	if (rc == 0 && nq > 0 &&
	    ll_smimea_lookup(q, nq, &r, why, sizeof(why)) < 0) {
		note_add(note, note_len, "SMIMEA: %s", why);
		nq = 0; /* nothing was asked */
	}
	for (size_t k = 0; k < nq; k++) {
		if (rc == 0 && q[k].status == LL_SMIMEA_SECURE)
			rc = take_dns(ks, &q[k], now, max_age, note, note_len,
				      err);
		else if (rc == 0)
			note_add(note, note_len, "SMIMEA for %s: %s, not used",
				 q[k].addr, q[k].why);
		ll_smimea_take_free(&q[k].take);
	}
	free(q);
	return rc;
}

/* OPT as this version reads it: NULL, version 1 (without the SMIMEA
 * fields: SMIMEA off) or 2, into O. */
static int options(struct ll_contacts_options *o,
		   const struct ll_contacts_options *opt, struct ll_error *err)
{
	struct ll_contacts_options dflt = LL_CONTACTS_OPTIONS_INIT;

	*o = dflt;
	if (opt == NULL)
		return 0;
	if (opt->version == 1) {
		memcpy(o, opt, offsetof(struct ll_contacts_options, smimea));
		o->version = LL_CONTACTS_OPTIONS_VERSION;
		return 0;
	}
	if (opt->version != LL_CONTACTS_OPTIONS_VERSION)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "unknown ll_contacts_options version %u",
			      opt->version);
	*o = *opt;
	return 0;
}

int ll_contacts_resolve(struct ll_keystore *ks, struct ll_ctx *ctx,
			const char *const *addrs, size_t n,
			const struct ll_contacts_options *opt,
			struct ll_contact_result *res, char *note,
			size_t note_len, struct ll_error *err)
{
	struct ll_contacts_options optv;
	const struct ll_contacts_options *o = &optv;
	time_t now;
	long max_age;
	char **stale = calloc(n ? n : 1, sizeof(*stale));
	int *changed = calloc(n ? n : 1, sizeof(*changed));
	size_t *where = calloc(n ? n : 1, sizeof(*where));
	size_t nstale = 0;
	int rc;

	if (note != NULL && note_len > 0)
		*note = '\0';
	rc = options(&optv, opt, err);
	if (rc < 0)
		goto out;
	now = o->now ? o->now : time(NULL);
	max_age = o->max_age > 0 ? o->max_age : DEFAULT_MAX_AGE;
	if (stale == NULL || changed == NULL || where == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		long long fresh = 0;

		memset(&res[i], 0, sizeof(res[i]));
		rc = canonical(res[i].address, addrs[i], err);
		if (rc < 0)
			goto out;
		if (o->pkx_url == NULL)
			continue;
		rc = exec(ll_keystore_db(ks),
			  "SELECT count(*) FROM lookups WHERE address = ? AND"
			  " checked >= ?",
			  res[i].address, NULL, (long long)(now - max_age),
			  &fresh, err);
		if (rc < 0)
			goto out;
		if (!fresh) {
			/* once per message: an address asked twice is one */
			int dup = 0;

			for (size_t k = 0; k < nstale; k++)
				dup |= strcmp(stale[k], res[i].address) == 0;
			if (!dup) {
				where[nstale] = i;
				stale[nstale++] = res[i].address;
			}
		}
	}
	if (nstale > 0)
		rc = ask_directory(ks, o, stale, nstale, now, changed, note,
				   note_len, err);
	for (size_t k = 0; rc == 0 && k < nstale; k++)
		res[where[k]].changed = changed[k];
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = load_address(ks, ctx, res[i].address, now, &res[i], err);
	if (rc == 0 && o->smimea)
		rc = ask_dns(ks, o, res, n, now, max_age, note, note_len, err);
	/* what SMIMEA gave */
	for (size_t i = 0; rc == 0 && o->smimea && i < n; i++)
		if (!res[i].found)
			rc = load_address(ks, ctx, res[i].address, now, &res[i],
					  err);
out:
	free(stale);
	free(changed);
	free(where);
	return rc;
}
