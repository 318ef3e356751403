/*
 * store.h - letterlockd's state: ACME accounts, orders,
 * authorizations, challenges, certificates, revocations, the entries
 * of the PKX directory, cached blobs (the CRL) and the key vault's
 * encrypted backups.  Two backends behind the same functions: SQLite
 * (store_sqlite.c), one file in WAL mode, the default; PostgreSQL
 * (store_pg.c), which many letterlockd fronts share.  The SQL and the
 * rules are written once (store_db.c and store_acme.c, store_certs.c,
 * store_pkx.c, store_vault.c).
 *
 * A handle is used by one thread at a time; threads open their own.
 * Writers go one at a time across handles and processes (SQLite's
 * write lock, with a busy time-out; in PostgreSQL a row lock).  Every
 * function that changes more than one row does it in one transaction,
 * so a kill -9 leaves either all or nothing.
 *
 * Statuses are the ACME strings ("pending", "ready", "processing",
 * "valid", "invalid", "deactivated", "expired", "revoked").
 * Every function returns 0 or a negative LL_E* code with ERR filled:
 * LL_ENOTFOUND (no such row), LL_EEXIST (unique key taken), LL_ESTORE
 * (the database failed, or the connection to it was lost: the next
 * call connects again), LL_ENOMEM, LL_EINVAL (a string longer than the
 * field it is read back into, e.g. LLD_EMAIL_MAX).
 */
#ifndef LLD_STORE_H
#define LLD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <letterlock/error.h>

#define LLD_STATUS_MAX 15
#define LLD_EMAIL_MAX 320 /* octets of a mailbox address (RFC 5321) */
#define LLD_TOKEN_MAX 64 /* base64url token parts */
#define LLD_SERIAL_MAX 40 /* hex serial number, lower case */
#define LLD_PROBLEM_MAX 1024 /* application/problem+json of a failure */
#define LLD_MSGID_MAX 250
#define LLD_FPR_HEX 64 /* SHA-256 fingerprint, lower-case hex */
#define LLD_CAPS_MAX 768 /* a PKX entry's capabilities, JSON text */

#define LLD_STORE_SHOWN_MAX 512

struct lld_store;

/*
 * Open the store PATH: a SQLite file (made if absent), or a PostgreSQL
 * database named by a URI postgresql://user[:password]@host[:port]/db
 * (or postgres://; libpq's URI with its ?parameters).  The schema is
 * made if absent; a store of a newer version is refused (LL_ESTORE).
 */
int lld_store_open(struct lld_store **out, const char *path,
		   struct ll_error *err);

/* PATH as messages show it, into BUF of SIZE: a URI without the
 * password and without its ?parameters (which may carry one). */
void lld_store_shown(char *buf, size_t size, const char *path);

void lld_store_close(struct lld_store **pp);

/*
 * A count that grows whenever the store changes: at every change this
 * handle made (seen at no cost), and with OTHERS 1 also at every change
 * another handle or process committed (SQLite: PRAGMA data_version, a
 * read of the WAL index under a lock, about 2 us; PostgreSQL: a count
 * its triggers move in every writer's transaction, one round trip).  Two equal counts mean
 * that nothing changed in between, of what was looked for: a call
 * with OTHERS 0 sees this handle's changes only.
 */
int lld_store_version(struct lld_store *s, int others, uint64_t *out,
		      struct ll_error *err);

/* ---- accounts ---- */

struct lld_account {
	int64_t id;
	char status[LLD_STATUS_MAX + 1];
	char thumbprint[44];
	char *jwk; /* canonical JWK JSON (ll_jwk_json); malloc'd */
	char *contact; /* JSON array text, "[]" if none; malloc'd */
	time_t created;
};
void lld_account_clear(struct lld_account *a); /* frees jwk, contact */

/* New account "valid"; LL_EEXIST if THUMBPRINT has one already (its id
 * in *id then). */
int lld_store_account_add(struct lld_store *s, const char *thumbprint,
			  const char *jwk, const char *contact, time_t now,
			  int64_t *id, struct ll_error *err);
int lld_store_account_get(struct lld_store *s, int64_t id,
			  struct lld_account *out, struct ll_error *err);
int lld_store_account_by_thumbprint(struct lld_store *s, const char *thumbprint,
				    struct lld_account *out,
				    struct ll_error *err);
/* Deactivate ID and, in the same transaction, every pending
 * authorization and order of it (RFC 8555 7.3.6). */
int lld_store_account_deactivate(struct lld_store *s, int64_t id,
				 struct ll_error *err);
int lld_store_account_set_contact(struct lld_store *s, int64_t id,
				  const char *contact, struct ll_error *err);

/* ---- orders, each for one email identifier, with one authorization
 * holding one email-reply-00 challenge ---- */

struct lld_order {
	int64_t id, account, authz;
	char email[LLD_EMAIL_MAX + 1];
	char status[LLD_STATUS_MAX + 1];
	time_t created, expires;
	char serial[LLD_SERIAL_MAX + 1]; /* of the certificate, "" before */
	char error[LLD_PROBLEM_MAX + 1]; /* problem JSON when invalid */
};

struct lld_authz {
	int64_t id, order, account, chall;
	char email[LLD_EMAIL_MAX + 1];
	char status[LLD_STATUS_MAX + 1];
	time_t expires;
};

struct lld_chall {
	int64_t id, authz;
	char status[LLD_STATUS_MAX + 1];
	char token1[LLD_TOKEN_MAX + 1]; /* in the mail's Subject */
	char token2[LLD_TOKEN_MAX + 1]; /* in the challenge object */
	char email[LLD_EMAIL_MAX + 1]; /* the identifier */
	char thumbprint[44]; /* of the account's key */
	time_t created; /* challenge made */
	int send_wanted; /* authorization was fetched */
	time_t sent; /* 0: challenge mail not sent yet */
	time_t validated; /* 0: not yet */
	char msgid[LLD_MSGID_MAX + 1]; /* of the challenge mail */
	char error[LLD_PROBLEM_MAX + 1];
};

/*
 * A new order "pending" for EMAIL with its authorization "pending" and
 * challenge "pending" (tokens TOKEN1, TOKEN2), all in one transaction.
 * *out is filled with the new order.
 */
int lld_store_order_new(struct lld_store *s, int64_t account, const char *email,
			const char *token1, const char *token2, time_t now,
			time_t expires, struct lld_order *out,
			struct ll_error *err);
int lld_store_order_get(struct lld_store *s, int64_t id, struct lld_order *out,
			struct ll_error *err);

/*
 * Move order ID from status FROM to status TO (compare-and-set: if it
 * is not in FROM any more, LL_EEXIST and nothing changes).  CSR (DER,
 * may be NULL) is kept with the order when given (finalize: "ready" to
 * "processing"); ERROR (may be NULL) is the problem JSON of "invalid".
 */
int lld_store_order_move(struct lld_store *s, int64_t id, const char *from,
			 const char *to, const unsigned char *csr,
			 size_t csrlen, const char *error,
			 struct ll_error *err);

/* The CSR kept with order ID (malloc'd into *csr). */
int lld_store_order_csr(struct lld_store *s, int64_t id, unsigned char **csr,
			size_t *len, struct ll_error *err);

/* Ids of orders in "processing" (restart: finish what was begun),
 * at most MAX into IDS, count in *n. */
int lld_store_orders_processing(struct lld_store *s, int64_t *ids, size_t max,
				size_t *n, struct ll_error *err);

/* Ids of the orders of ACCOUNT, newest first, at most MAX into IDS. */
int lld_store_orders_of(struct lld_store *s, int64_t account, int64_t *ids,
			size_t max, size_t *n, struct ll_error *err);

int lld_store_authz_get(struct lld_store *s, int64_t id, struct lld_authz *out,
			struct ll_error *err);
/*
 * 0 if ACCOUNT holds a "valid" authorization for EMAIL, not expired at
 * NOW, whose challenge was validated at SINCE or later (revokeCert by
 * authorization, RFC 8555 section 7.6); LL_ENOTFOUND if it holds none.
 */
int lld_store_authz_fresh(struct lld_store *s, int64_t account,
			  const char *email, time_t since, time_t now,
			  struct ll_error *err);
int lld_store_chall_get(struct lld_store *s, int64_t id, struct lld_chall *out,
			struct ll_error *err);

/* The challenge whose mail's Subject carries TOKEN1; LL_ENOTFOUND if
 * none. */
int lld_store_chall_by_token1(struct lld_store *s, const char *token1,
			      struct lld_chall *out, struct ll_error *err);

/* The authorization was fetched: the challenge mail is wanted (once). */
int lld_store_chall_want_send(struct lld_store *s, int64_t id,
			      struct ll_error *err);

/* Ids of challenges whose mail is wanted and not yet sent, at most MAX
 * into IDS. */
int lld_store_chall_to_send(struct lld_store *s, int64_t *ids, size_t max,
			    size_t *n, struct ll_error *err);

/* The challenge mail of ID went out at WHEN with Message-ID MSGID. */
int lld_store_chall_sent(struct lld_store *s, int64_t id, const char *msgid,
			 time_t when, struct ll_error *err);

/* The client asked for validation: "pending" to "processing" (a
 * challenge in another status is left as it is). */
int lld_store_chall_respond(struct lld_store *s, int64_t id,
			    struct ll_error *err);

/*
 * Settle challenge ID, only if it is still "pending" or "processing"
 * (else LL_EEXIST: a second or replayed reply changes nothing):
 * VALID 1 makes the challenge and its authorization "valid" and the
 * order "ready"; VALID 0 makes all three "invalid" with ERROR (problem
 * JSON) on the challenge and the order.  One transaction.
 */
int lld_store_chall_settle(struct lld_store *s, int64_t id, int valid,
			   const char *error, time_t now, struct ll_error *err);

/* ---- certificates ---- */

struct lld_certrow {
	char serial[LLD_SERIAL_MAX + 1];
	int64_t order, account;
	char email[LLD_EMAIL_MAX + 1];
	unsigned char *der; /* malloc'd */
	size_t derlen;
	time_t not_before, not_after;
	time_t revoked; /* 0: not revoked */
	int reason; /* CRLReason when revoked */
};
void lld_certrow_clear(struct lld_certrow *c);

/*
 * Record certificate DER (serial SERIAL) of order ORDER and move the
 * order from "processing" to "valid", in one transaction.  LL_EEXIST if
 * the order is not "processing" (nothing recorded).
 */
int lld_store_cert_add(struct lld_store *s, int64_t order, const char *serial,
		       const char *email, const unsigned char *der,
		       size_t derlen, time_t not_before, time_t not_after,
		       struct ll_error *err);
int lld_store_cert_get(struct lld_store *s, const char *serial,
		       struct lld_certrow *out, struct ll_error *err);
/* Revoke SERIAL at WHEN for REASON; LL_EEXIST if already revoked. */
int lld_store_cert_revoke(struct lld_store *s, const char *serial, time_t when,
			  int reason, struct ll_error *err);

struct lld_revoked {
	char serial[LLD_SERIAL_MAX + 1];
	time_t when;
	int reason;
};
/* Every revoked certificate not yet expired at NOW, malloc'd array into
 * *out, count *n. */
int lld_store_revoked(struct lld_store *s, time_t now, struct lld_revoked **out,
		      size_t *n, struct ll_error *err);

/* ---- PKX, the public key directory (pkx.h, doc/pkx-api.md) ----
 *
 * An entry per certificate, named by the SHA-256 fingerprint of its
 * DER: every certificate this CA issues (lld_store_cert_add writes it
 * in the same transaction; its DER and revocation stay in the
 * certificate's own row) and every certificate of another CA published
 * after a mailbox proof.  Rows are never deleted: a fingerprint finds
 * its certificate for good; lookups by address see only current ones.
 * EMAIL is the directory's key of the address (lld_pkx_addr_key).
 */

struct lld_pkxrow {
	char fpr[LLD_FPR_HEX + 1];
	char email[LLD_EMAIL_MAX + 1];
	int64_t account; /* may set the capabilities */
	int64_t order; /* the order that proved the mailbox */
	char serial[LLD_SERIAL_MAX + 1]; /* ours; "" another CA's */
	unsigned char *der; /* malloc'd */
	size_t derlen;
	time_t not_before, not_after, published;
	time_t revoked; /* ours only (CRL); 0 not revoked */
	char caps[LLD_CAPS_MAX + 1]; /* JSON array; "" unknown */
};
void lld_pkxrow_clear(struct lld_pkxrow *r); /* frees der */

/*
 * The current certificates of EMAIL at NOW (notBefore <= NOW <=
 * notAfter, not revoked), the latest notAfter first, at most MAX into
 * OUT (an array of MAX rows, filled from the start; clear each), the
 * count in *n.  An absent address runs the same query and gets 0 rows.
 */
int lld_store_pkx_lookup(struct lld_store *s, const char *email, time_t now,
			 struct lld_pkxrow *out, size_t max, size_t *n,
			 struct ll_error *err);

/* The entry of fingerprint FPR, current or not; LL_ENOTFOUND. */
int lld_store_pkx_get(struct lld_store *s, const char *fpr,
		      struct lld_pkxrow *out, struct ll_error *err);

/* The capabilities of FPR become CAPS (JSON text; "" or NULL unknown).
 * LL_ENOTFOUND if there is no such entry. */
int lld_store_pkx_set_caps(struct lld_store *s, const char *fpr,
			   const char *caps, struct ll_error *err);

/*
 * Publish certificate DER of another CA for EMAIL on the mailbox proof
 * of ORDER of ACCOUNT, with CAPS (may be NULL), at NOW, and move the
 * order from "ready" to "valid" (spent: one publication per proof), in
 * one transaction.  LL_EEXIST if the order is not "ready" or the
 * fingerprint is published already (nothing changes); LL_ENOTFOUND if
 * the order is not ACCOUNT's.  The caller checked the certificate
 * (lld_pkx_cert_check) and the proof.
 */
int lld_store_pkx_publish(struct lld_store *s, int64_t order, int64_t account,
			  const char *email, const unsigned char *der,
			  size_t derlen, time_t not_before, time_t not_after,
			  const char *caps, time_t now, struct ll_error *err);

/* FN for every current certificate at NOW, by address then
 * fingerprint; a non-zero return of FN stops and is returned. */
int lld_store_pkx_foreach(struct lld_store *s, time_t now,
			  int (*fn)(void *arg, const struct lld_pkxrow *r),
			  void *arg, struct ll_error *err);

/*
 * The first notBefore after NOW of an entry of EMAIL into *when, 0 if
 * none: when a certificate not yet valid joins its lookups.
 */
int lld_store_pkx_next(struct lld_store *s, const char *email, time_t now,
		       time_t *when, struct ll_error *err);

/* ---- named blobs (the current CRL) ---- */

int lld_store_blob_put(struct lld_store *s, const char *name,
		       const unsigned char *data, size_t len, time_t when,
		       struct ll_error *err);
/* LL_ENOTFOUND if NAME was never put. */
int lld_store_blob_get(struct lld_store *s, const char *name,
		       unsigned char **data, size_t *len, time_t *when,
		       struct ll_error *err);

/* ---- the key vault (doc/vault-api.md) ----
 *
 * Client-encrypted backups by address (EMAIL, canonical as orders hold
 * it): the current version and the few before it.  The store never
 * sees a key or a recovery code, only the blob.
 */

struct lld_vaultrow {
	int64_t version; /* grows by one with each put, per address */
	int64_t account; /* the account that put it */
	time_t stamp; /* when */
	unsigned char *blob; /* malloc'd */
	size_t len;
};
void lld_vaultrow_clear(struct lld_vaultrow *r); /* frees blob */

/*
 * BLOB (LEN octets) becomes the current version of EMAIL, put by
 * ACCOUNT at NOW; of the versions before it the newest KEEP stay and
 * older ones are deleted, in one transaction.  Its number in *version.
 */
int lld_store_vault_put(struct lld_store *s, const char *email, int64_t account,
			const unsigned char *blob, size_t len, time_t now,
			int keep, int64_t *version, struct ll_error *err);

/* Version VERSION of EMAIL (0: the current one) into *out (clear it).
 * LL_ENOTFOUND when there is none. */
int lld_store_vault_get(struct lld_store *s, const char *email, int64_t version,
			struct lld_vaultrow *out, struct ll_error *err);

/* The versions of EMAIL, newest first, at most MAX into V, *n of them. */
int lld_store_vault_versions(struct lld_store *s, const char *email, int64_t *v,
			     size_t max, size_t *n, struct ll_error *err);

/* Every version of EMAIL deleted; LL_ENOTFOUND if there was none. */
int lld_store_vault_delete(struct lld_store *s, const char *email,
			   struct ll_error *err);

/*
 * When ACCOUNT last proved control of EMAIL: the latest time a
 * challenge of its authorizations for EMAIL was validated (a valid
 * challenge and authorization), 0 if never.  An authorization reused
 * for a later order would not make this later: it is the time the
 * mailbox answered.
 */
int lld_store_proof_latest(struct lld_store *s, int64_t account,
			   const char *email, time_t *when,
			   struct ll_error *err);

/*
 * Reads of the vault: lld_store_vault_read records one of EMAIL by
 * ACCOUNT at NOW (and forgets those before FORGET); lld_store_vault_reads
 * counts those since SINCE of EMAIL and of ACCOUNT.
 */
int lld_store_vault_read(struct lld_store *s, const char *email,
			 int64_t account, time_t now, time_t forget,
			 struct ll_error *err);
int lld_store_vault_reads(struct lld_store *s, const char *email,
			  int64_t account, time_t since, int64_t *by_email,
			  int64_t *by_account, struct ll_error *err);

#endif
