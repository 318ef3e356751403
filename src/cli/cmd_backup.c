/*
 * cmd_backup.c - letterlock backup and letterlock restore: every key of
 * the home (past ones too), its trust anchors and the CA account key,
 * sealed here under a recovery code only the user holds
 * (letterlock/backup.h), kept in the CA's vault or in a folder of the
 * user's own mailbox, and installed again on a new machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <letterlock/revocation.h>

#include "internal.h" /* ll_buf, ll_b64_*, ll_mime_*, ll_ctx_identity_at */
#include "backup.h"

#define CODE_INPUT_MAX 256
#define CODE_TRIES 3 /* typos forgiven on a terminal */
#define OPEN_TRIES 3 /* backups tried, newest first: a derivation each */
#define BACKUP_MAIL_MAX (2 * LL_BACKUP_MAX) /* a backup message fetched */
#define ACCOUNT_SECRET "acme-account-key " /* + the CA's URL */
/* lowers the KDF's cost, for tests only: "LOG2N,R,P" */
#define TEST_KDF_ENV "LETTERLOCK_TEST_BACKUP_KDF"

static const char backup_usage[] =
	"usage: letterlock backup [ADDRESS] [--to vault|mailbox] "
	"[--code-file F]\n"
	"       letterlock backup --refresh\n"
	"         --acme URL --imap-url URL --smtp-url URL [--mail-user U]\n"
	"         [--mail-password-file F] [--mail-ca-file F] "
	"[--acme-ca-file F]\n"
	"         [--timeout SECONDS] [--quiet] [--config FILE]\n"
	"\n"
	"Seal every key of the home (past ones too), its trust anchors and "
	"the CA\n"
	"account key under a new recovery code, and keep the result in the "
	"CA's\n"
	"vault (after proving the mailbox by email) or in the mailbox "
	"folder\n" BACKUP_FOLDER ".  Nobody but the holder of the code can "
	"open it.\n"
	"The code is shown once; later key changes update the backup "
	"without it.\n"
	"ADDRESS: the mailbox the backup belongs to (default: the address "
	"of the\n"
	"home's newest identity).\n"
	"\n";
static const char backup_usage_tail[] =
	"  --to vault|mailbox      where the backup goes (default vault)\n"
	"  --code-file F           write the recovery code to F (mode 0600) "
	"instead\n"
	"                          of showing it\n"
	"  --refresh               seal the home again under the key of the "
	"last\n"
	"                          backup and store it where that went "
	"(no new code)\n"
	"\n"
	"Exit: 0 the backup is stored; 2 usage; 5 a server's answer is "
	"malformed;\n"
	"6 any other failure.\n";

static const char restore_usage[] =
	"usage: letterlock restore ADDRESS [--from vault|mailbox] "
	"[--code-file F]\n"
	"         [--version N] --acme URL --imap-url URL --smtp-url URL\n"
	"         [--mail-user U] [--mail-password-file F] "
	"[--mail-ca-file F]\n"
	"         [--acme-ca-file F] [--timeout SECONDS] [--quiet] "
	"[--config FILE]\n"
	"\n"
	"Prove the mailbox ADDRESS, fetch its backup (from the CA's vault, "
	"or\n"
	"from the mailbox folder " BACKUP_FOLDER
	"), ask for the recovery code and\n"
	"install every key, certificate and the account key into the home: "
	"mail\n"
	"sealed to any of the keys opens here.\n"
	"\n";
static const char restore_usage_tail[] =
	"  --from vault|mailbox    where the backup is (default vault)\n"
	"  --code-file F           read the recovery code from F's first "
	"line\n"
	"  --version N             an earlier version kept by the vault (only "
	"that\n"
	"                          one; else, when the newest does not open,\n"
	"                          up to two older ones are tried)\n"
	"\n"
	"Exit: 0 installed; 2 usage; 4 no backup tried opens (wrong code, "
	"or\n"
	"damaged); 5 malformed; 6 any other failure.\n";

enum where {
	TO_VAULT,
	TO_MAILBOX,
};

/* What backup and restore take besides the proof's options. */
struct args {
	enum where where;
	const char *code_file;
	long long version; /* restore: 0 the current one */
	int refresh; /* backup: again under the key kept, no new code */
};

static int parse_where(enum where *w, const char *s)
{
	if (strcmp(s, "vault") == 0)
		*w = TO_VAULT;
	else if (strcmp(s, "mailbox") == 0)
		*w = TO_MAILBOX;
	else
		return -1;
	return 0;
}

/* The KDF's cost: the default, or the test environment's. */
static int test_kdf(struct proof *p, struct ll_backup_kdf *k,
		    const struct ll_backup_kdf **out)
{
	const char *s = getenv(TEST_KDF_ENV);
	unsigned n, r, pp;
	char tail;

	*out = NULL;
	if (s == NULL || *s == '\0')
		return 0;
	if (sscanf(s, "%u,%u,%u%c", &n, &r, &pp, &tail) != 3)
		return proof_fail(p, EXIT_USAGE, "%s: want LOG2N,R,P",
				  TEST_KDF_ENV);
	k->log2_n = n;
	k->r = r;
	k->p = pp;
	if (ll_backup_kdf_check(k, NULL) < 0)
		return proof_fail(p, EXIT_USAGE, "%s: out of range",
				  TEST_KDF_ENV);
	fprintf(stderr,
		"letterlock: warning: %s lowers the cost of guessing the "
		"recovery code: for tests only\n",
		TEST_KDF_ENV);
	*out = k;
	return 0;
}

/* ---- the backup as a message of its own ---- */

static void hex_random(char *out, size_t n)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0x5a, sizeof(r));
	for (size_t i = 0; i < sizeof(r) && 2 * i + 2 < n; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* The message holding BLOB for ADDRESS, like an Autocrypt Setup
 * Message: a text part saying what it is, the blob attached. */
static int backup_message(struct ll_buf *m, const char *address,
			  const unsigned char *blob, size_t len)
{
	char date[64], bnd[40], id[40];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	hex_random(bnd, sizeof(bnd));
	hex_random(id, sizeof(id));
	rc = ll_buf_addf(
		m,
		"From: <%s>\r\nTo: <%s>\r\nSubject: " BACKUP_SUBJECT
		"\r\nDate: %s\r\nMessage-ID: <%s@letterlock.invalid>\r\n"
		"MIME-Version: 1.0\r\nX-Letterlock-Backup: 1\r\n"
		"Content-Type: multipart/mixed; boundary=\"=_llb_%s\"\r\n"
		"\r\n--=_llb_%s\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n\r\n"
		"This message holds an encrypted backup of your letterlock "
		"keys\r\n(every key you had, its certificates and your CA "
		"account key).\r\nIt opens only with the recovery code that "
		"was shown when it was\r\nmade; without the code it is of no "
		"use to anyone.  Keep this\r\nmessage: `letterlock restore "
		"%s --from mailbox` finds it\r\nhere on a new machine.\r\n"
		"\r\n--=_llb_%s\r\n"
		"Content-Type: " LL_BACKUP_MEDIA_TYPE
		"; name=\"letterlock-backup.llb\"\r\n"
		"Content-Disposition: attachment; "
		"filename=\"letterlock-backup.llb\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n",
		address, address, date, id, bnd, bnd, address, bnd);
	if (rc == 0)
		rc = ll_b64_encode(m, blob, len);
	if (rc == 0)
		rc = ll_buf_addf(m, "\r\n--=_llb_%s--\r\n", bnd);
	return rc;
}

/* The backup attached to MSG (N octets, as fetched) into *blob. */
static int backup_from_message(unsigned char **blob, size_t *len,
			       const char *msg, size_t n, struct ll_error *err)
{
	struct ll_slice parts[8];
	struct ll_entity e, pe;
	struct ll_ctype ct;
	struct ll_buf out = { 0 };
	size_t np = 0;
	int rc;

	rc = ll_mime_split(&e, msg, n, err);
	if (rc == 0)
		rc = ll_mime_ctype(&ct, &e.hdr, err);
	if (rc == 0 && strcmp(ct.type, "multipart") != 0)
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_MIME, "not multipart");
	if (rc == 0)
		rc = ll_mime_parts(parts, 8, &np, &e.body, ct.boundary, err);
	for (size_t i = 0; rc == 0 && i < np; i++) {
		if (ll_mime_split(&pe, parts[i].p, parts[i].len, NULL) < 0 ||
		    ll_mime_ctype(&ct, &pe.hdr, NULL) < 0 ||
		    strcmp(ct.type, "application") != 0 ||
		    strcmp(ct.subtype, "vnd.letterlock.backup") != 0)
			continue;
		rc = ll_mime_decode_body(&out, &pe, err);
		if (rc == 0 && out.len > LL_BACKUP_MAX)
			rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
				    "backup larger than %d octets",
				    LL_BACKUP_MAX);
		if (rc < 0)
			break;
		*blob = (unsigned char *)out.p;
		*len = out.len;
		return 0;
	}
	ll_buf_free(&out);
	return rc < 0 ? rc :
			ll_err(err, LL_ENOTFOUND, LL_ECLASS_MIME,
			       "no " LL_BACKUP_MEDIA_TYPE " part");
}

static int mailbox_put(struct proof *p, const char *address,
		       const unsigned char *blob, size_t len)
{
	struct ll_buf m = { 0 };
	struct ll_error err = { 0 };
	int rc = backup_message(&m, address, blob, len);

	if (rc < 0)
		rc = proof_fail(p, EXIT_FAIL, "out of memory");
	else if (mailbox_append(p->mb, BACKUP_FOLDER, m.p, m.len, &err) < 0)
		rc = proof_fail(p, proof_exit_for(err.code), "%s", err.message);
	else
		proof_say(p, "backup (%zu octets) put in the mailbox folder %s",
			  len, BACKUP_FOLDER);
	ll_buf_free(&m);
	return rc;
}

/*
 * The backups restore may try, newest first: the vault's versions, or
 * the backup messages of the mailbox folder.  Each try of a backup that
 * does not open costs a derivation: at most OPEN_TRIES are tried.
 */
struct candidates {
	enum where where;
	long long version; /* vault: the one asked for, 0 the current */
	long long vers[LL_ACME_VAULT_VERSIONS_MAX]; /* vault: older ones */
	size_t nvers;
	unsigned long uids[MAILBOX_MAX_HITS]; /* mailbox: newest first */
	size_t nuids;
	size_t next; /* the next of vers or uids to try */
	char label[64]; /* what the blob in hand is, "version 3" */
};

/* The vault's version C->version into *blob, and the older versions it
 * keeps into C (none when the user asked for one). */
static int vault_first(struct proof *p, struct candidates *c,
		       unsigned char **blob, size_t *len)
{
	struct ll_acme_vault_versions vs;
	struct ll_error err = { 0 };

	if (ll_acme_vault_get_versions(blob, len, &vs, p->acme, p->canon,
				       c->version, &err) < 0)
		return proof_step_fail(p, "the vault", &err);
	snprintf(c->label, sizeof(c->label), "version %lld", vs.got);
	for (size_t i = 0; c->version == 0 && i < vs.n; i++)
		if (vs.kept[i] < vs.got)
			c->vers[c->nvers++] = vs.kept[i];
	proof_say(p, "fetched the backup (%zu octets, %s) from the vault", *len,
		  c->label);
	return 0;
}

/* The next backup message of the folder, from C->next on, that holds a
 * backup into *blob: 0, 1 when none is left, or an exit code. */
static int mailbox_next(struct proof *p, struct candidates *c,
			unsigned char **blob, size_t *len)
{
	struct ll_error err = { 0 };
	int rc;

	while (c->next < c->nuids) {
		unsigned long uid = c->uids[c->next++];
		char *msg = NULL;
		size_t mlen = 0;

		rc = mailbox_fetch(p->mb, uid, BACKUP_MAIL_MAX, &msg, &mlen,
				   &err);
		if (rc == 0)
			rc = backup_from_message(blob, len, msg, mlen, &err);
		if (rc == 0)
			rc = ll_backup_peek(NULL, *blob, *len, &err);
		free(msg);
		if (rc == 0) {
			snprintf(c->label, sizeof(c->label), "message UID %lu",
				 uid);
			proof_say(p, "found the backup in %s (%s)",
				  BACKUP_FOLDER, c->label);
			return 0;
		}
		free(*blob);
		*blob = NULL;
		proof_say(p, "passed over message UID %lu of %s: %s", uid,
			  BACKUP_FOLDER, err.message);
	}
	return 1;
}

/* The newest backup into *blob, C filled with the older ones. */
static int first_backup(struct proof *p, struct candidates *c,
			unsigned char **blob, size_t *len)
{
	struct ll_error err = { 0 };
	int rc;

	if (c->where == TO_VAULT)
		return vault_first(p, c, blob, len);
	rc = mailbox_select(p->mb, BACKUP_FOLDER, &err);
	if (rc == 0)
		rc = mailbox_search(p->mb, 1, NULL, BACKUP_SUBJECT, c->uids,
				    &c->nuids, &err);
	if (rc < 0)
		return proof_fail(p, proof_exit_for(rc),
				  "the mailbox folder %s: %s", BACKUP_FOLDER,
				  err.message);
	rc = mailbox_next(p, c, blob, len);
	if (rc == 1)
		return proof_fail(p, EXIT_FAIL,
				  "no backup in the mailbox folder %s",
				  BACKUP_FOLDER);
	return rc;
}

/* The next older backup into *blob (the one in hand freed): 0, 1 when
 * there is none, or an exit code. */
static int older_backup(struct proof *p, struct candidates *c,
			unsigned char **blob, size_t *len)
{
	struct ll_error err = { 0 };

	free(*blob);
	*blob = NULL;
	*len = 0;
	if (c->where == TO_MAILBOX)
		return mailbox_next(p, c, blob, len);
	if (c->next >= c->nvers)
		return 1;
	snprintf(c->label, sizeof(c->label), "version %lld",
		 c->vers[c->next++]);
	if (ll_acme_vault_get(blob, len, p->acme, p->canon,
			      c->vers[c->next - 1], &err) < 0)
		return proof_step_fail(p, "the vault", &err);
	proof_say(p, "fetched the backup (%zu octets, %s) from the vault", *len,
		  c->label);
	return 0;
}

/* ---- backup ---- */

static int vault_put(struct proof *p, const char *address,
		     const unsigned char *blob, size_t len)
{
	struct ll_error err = { 0 };
	long long version = 0;

	if (ll_acme_vault_put(p->acme, address, blob, len, &version, &err) < 0)
		return proof_step_fail(p, "the vault", &err);
	proof_say(p, "backup (%zu octets) stored in the vault as version %lld",
		  len, version);
	return 0;
}

/* BLOB where WHERE says, for ADDRESS. */
static int put(struct proof *p, enum where where, const char *address,
	       const unsigned char *blob, size_t len)
{
	return where == TO_VAULT ? vault_put(p, address, blob, len) :
				   mailbox_put(p, address, blob, len);
}

int backup_refresh(struct proof *p)
{
	struct ll_backup_key *key = NULL;
	struct ll_error err = { 0 };
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc;

	rc = ll_backup_reseal(&blob, &len, &key, p->ks, &err);
	if (rc == LL_ENOTFOUND)
		return 0;
	if (rc < 0)
		return proof_local_fail(p, "sealing the backup again", &err);
	rc = put(p,
		 strcmp(ll_backup_key_where(key), "mailbox") == 0 ? TO_MAILBOX :
								    TO_VAULT,
		 ll_backup_key_address(key), blob, len);
	free(blob);
	ll_backup_key_free(&key);
	return rc;
}

/*
 * The recovery code to F (mode 0600, on the disk before this returns)
 * or on stdout once.  Called before the backup is stored: a code that
 * could not be shown or kept stops the backup, so that nothing opened
 * only by a lost code ever reaches the vault or the mailbox.
 */
static int show_code(struct proof *p, const char *code, const char *file)
{
	char line[LL_BACKUP_CODE_LEN + 2];
	int fd, rc;

	if (file == NULL) {
		printf("\n  Recovery code:  %s\n\n"
		       "  Write it down and keep it safe.  It is shown only "
		       "this once;\n"
		       "  without it the backup cannot be opened, by you or "
		       "anyone.\n\n",
		       code);
		if (fflush(stdout) != 0 || ferror(stdout))
			return proof_fail(p, EXIT_FAIL,
					  "the recovery code could not be "
					  "shown (%s): nothing was stored",
					  strerror(errno));
		return 0;
	}
	snprintf(line, sizeof(line), "%s\n", code);
	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return proof_fail(p, EXIT_FAIL,
				  "%s: cannot create it (%s): nothing was "
				  "stored",
				  file, strerror(errno));
	rc = cli_write_all(fd, line, strlen(line));
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) != 0)
		rc = -1;
	OPENSSL_cleanse(line, sizeof(line));
	if (rc != 0) {
		rc = proof_fail(p, EXIT_FAIL,
				"%s: writing failed (%s): nothing was stored",
				file, strerror(errno));
		unlink(file);
		return rc;
	}
	proof_say(p, "the recovery code is in %s", file);
	return 0;
}

/* The sealed BLOB opens with CODE, here, before it goes anywhere. */
static int self_check(struct proof *p, const unsigned char *blob, size_t len,
		      const char *code)
{
	struct ll_backup *b = NULL;
	struct ll_error err = { 0 };
	int rc = ll_backup_open(&b, NULL, blob, len, code, &err);

	ll_backup_free(&b);
	if (rc < 0)
		return proof_local_fail(p, "checking the sealed backup", &err);
	return 0;
}

/* The address of the home's newest identity. */
static int last_email(void *arg, const struct ll_cert *c)
{
	snprintf(arg, 320, "%s", ll_cert_email(c));
	return 0;
}

static int do_backup(struct proof *p, enum where where, const char *code_file)
{
	struct ll_backup_kdf kdfbuf;
	const struct ll_backup_kdf *kdf = NULL;
	struct ll_backup_key *key = NULL;
	struct ll_error err = { 0 };
	char code[LL_BACKUP_CODE_LEN + 1], *name = NULL;
	const char *names[1];
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc;

	rc = test_kdf(p, &kdfbuf, &kdf);
	if (rc == 0)
		rc = proof_connect(p);
	if (rc == 0 && where == TO_VAULT)
		rc = proof_order(p);
	if (rc != 0)
		goto out;
	name = malloc(strlen(ACCOUNT_SECRET) + strlen(p->acme_url) + 1);
	if (name == NULL) {
		rc = proof_fail(p, EXIT_FAIL, "out of memory");
		goto out;
	}
	sprintf(name, "%s%s", ACCOUNT_SECRET, p->acme_url);
	names[0] = name;
	rc = ll_backup_code_new(code, &err);
	if (rc == 0) {
		proof_say(p, "deriving the backup key from a new recovery "
			     "code");
		rc = ll_backup_key_derive(&key, code, kdf, &err);
	}
	if (rc == 0)
		rc = ll_backup_seal(&blob, &len, key, p->ks, names, 1, &err);
	if (rc < 0) {
		rc = proof_local_fail(p, "sealing the backup", &err);
		goto out;
	}
	proof_say(p, "opening the sealed backup with the code, as a check");
	rc = self_check(p, blob, len, code);
	/* the code is shown (or on the disk) before anything is stored */
	if (rc == 0)
		rc = show_code(p, code, code_file);
	if (rc != 0)
		goto out;
	rc = put(p, where, p->canon, blob, len);
	if (rc != 0) {
		proof_fail(p, 0,
			   "the recovery code %s opens nothing stored: run "
			   "letterlock backup again",
			   code_file ? "written" : "shown");
		goto out;
	}
	/* later key changes are backed up without the code */
	if (ll_backup_key_store(p->ks, key,
				where == TO_VAULT ? "vault" : "mailbox",
				p->canon, names, 1, &err) < 0)
		rc = proof_local_fail(p, "keeping the backup key", &err);
out:
	OPENSSL_cleanse(code, sizeof(code));
	free(name);
	free(blob);
	ll_backup_key_free(&key);
	return rc;
}

/* backup --refresh: the backup made before, sealed again and stored
 * where it went, for the address it was made for. */
static int refresh_main(struct proof *p)
{
	struct ll_backup_key *key = NULL;
	struct ll_error err = { 0 };
	int rc, vault;

	rc = proof_settle(p, NULL);
	if (rc == 0)
		rc = proof_open_home(p);
	if (rc != 0)
		return rc;
	rc = ll_backup_key_load(&key, p->ks, &err);
	if (rc == LL_ENOTFOUND)
		return proof_fail(p, EXIT_FAIL,
				  "no backup was made from this home: run "
				  "letterlock backup");
	if (rc < 0)
		return proof_local_fail(p, "the backup key", &err);
	vault = strcmp(ll_backup_key_where(key), "vault") == 0;
	/* p->address is borrowed from KEY: freed at the end */
	rc = proof_address(p, ll_backup_key_address(key));
	if (rc == 0)
		rc = proof_connect(p);
	if (rc == 0 && vault)
		rc = proof_order(p);
	if (rc == 0)
		rc = backup_refresh(p);
	p->address = NULL;
	ll_backup_key_free(&key);
	return rc;
}

/* backup [ADDRESS] after the options (ARGV from optind). */
static int backup_main(struct proof *p, const struct args *a, int argc,
		       char **argv)
{
	char address[320] = "";
	int rc = 0;

	if (optind + 1 < argc || (a->refresh && optind < argc)) {
		fputs(backup_usage, stderr);
		return EXIT_USAGE;
	}
	if (a->refresh)
		return refresh_main(p);
	rc = proof_settle(p, NULL);
	if (rc == 0)
		rc = proof_open_home(p);
	if (rc == 0 && optind < argc)
		snprintf(address, sizeof(address), "%s", argv[optind]);
	else if (rc == 0 && ll_keystore_foreach(p->ks, LL_KS_IDENTITY,
						last_email, address, NULL) < 0)
		rc = proof_fail(p, EXIT_FAIL, "cannot list the identities");
	if (rc == 0 && address[0] == '\0')
		rc = proof_fail(p, EXIT_FAIL,
				"the home holds no identity to back up");
	if (rc == 0)
		rc = proof_address(p, address);
	if (rc == 0)
		rc = do_backup(p, a->where, a->code_file);
	return rc;
}

/* ---- restore ---- */

/* The recovery code from FILE, or asked on the terminal with echo off
 * (a secret; its check symbols catch a typo, and it is asked again) -
 * TRY counts from 1. */
static int read_code(struct proof *p, char *buf, size_t size, const char *file,
		     int try)
{
	int rc;

	if (file != NULL) {
		rc = cli_read_password(buf, size, file);
		if (rc == -2)
			return proof_fail(p, EXIT_USAGE, "%s: line too long",
					  file);
		return rc < 0 ? EXIT_FAIL : 0;
	}
	rc = cli_ask_tty(buf, size,
			 try > 1 ? "again, recovery code: " : "recovery code: ");
	switch (rc) {
	case 0:
		return 0;
	case CLI_TTY_NONE:
		return proof_fail(p, EXIT_USAGE,
				  "no terminal to ask the recovery code on: "
				  "use --code-file F");
	case CLI_TTY_ECHO:
		return proof_fail(p, EXIT_USAGE,
				  "cannot turn off echo on the terminal: use "
				  "--code-file F");
	case CLI_TTY_LONG:
		return proof_fail(p, EXIT_USAGE, "the code typed is too long");
	}
	return proof_fail(p, EXIT_USAGE, "no recovery code given");
}

/* The recovery code in FILE is one (no typo); 0 or an exit code. */
static int check_code_file(struct proof *p, const char *file)
{
	char code[CODE_INPUT_MAX], canon[LL_BACKUP_CODE_LEN + 1];
	struct ll_error err = { 0 };
	int rc = read_code(p, code, sizeof(code), file, 1);

	if (rc == 0 && ll_backup_code_normalize(canon, code, &err) < 0)
		rc = proof_fail(p, EXIT_USAGE, "%s: %s", file, err.message);
	OPENSSL_cleanse(code, sizeof(code));
	OPENSSL_cleanse(canon, sizeof(canon));
	return rc;
}

/* BLOB's header checked, then the user's code, canonical, into CANON. */
static int ask_code(struct proof *p, char canon[LL_BACKUP_CODE_LEN + 1],
		    const unsigned char *blob, size_t len,
		    const char *code_file)
{
	struct ll_backup_kdf kdf;
	struct ll_error err = { 0 };
	char code[CODE_INPUT_MAX];
	int rc;

	rc = ll_backup_peek(&kdf, blob, len, &err);
	if (rc < 0)
		return proof_fail(p,
				  rc == LL_EPOLICY ? EXIT_FAIL : EXIT_BADINPUT,
				  "the backup: %s", err.message);
	for (int try = 1;; try++) {
		rc = read_code(p, code, sizeof(code), code_file, try);
		if (rc != 0)
			break;
		rc = ll_backup_code_normalize(canon, code, &err);
		if (rc == LL_EINVAL && code_file == NULL && try < CODE_TRIES) {
			fprintf(stderr, "restore: %s\n", err.message);
			continue;
		}
		if (rc < 0)
			rc = proof_fail(p, EXIT_USAGE, "%s", err.message);
		break;
	}
	OPENSSL_cleanse(code, sizeof(code));
	return rc;
}

/*
 * The newest backup C gives opened with the user's code into *b (and
 * its key into *key).  One that does not open (a wrong code, or a
 * damaged backup: the two look alike) makes way for the next older
 * one, OPEN_TRIES derivations at most; which one opened is said.
 */
static int open_newest(struct proof *p, struct ll_backup **b,
		       struct ll_backup_key **key, struct candidates *c,
		       const char *code_file)
{
	struct ll_error err = { 0 };
	char canon[LL_BACKUP_CODE_LEN + 1], first[sizeof(c->label)];
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc, tries = 0;

	rc = first_backup(p, c, &blob, &len);
	if (rc == 0)
		rc = ask_code(p, canon, blob, len, code_file);
	if (rc != 0)
		goto out;
	snprintf(first, sizeof(first), "%s", c->label);
	for (int peeked = 1;;) {
		if (peeked) {
			proof_say(p, "deriving the key from the recovery code "
				     "(deliberately slow) ...");
			tries++;
			rc = ll_backup_open(b, key, blob, len, canon, &err);
			if (rc != LL_EDECRYPT || tries == OPEN_TRIES)
				break;
		}
		rc = older_backup(p, c, &blob, &len);
		if (rc == 1)
			rc = LL_EDECRYPT; /* none left */
		if (rc != 0)
			break;
		proof_say(p, "the newer backup did not open: trying %s",
			  c->label);
		/* a damaged header here is passed over like a failed tag */
		peeked = ll_backup_peek(NULL, blob, len, &err) == 0;
		if (!peeked)
			proof_say(p, "passed over %s: %s", c->label,
				  err.message);
	}
	if (rc == LL_EDECRYPT)
		rc = proof_fail(p, EXIT_NODECRYPT,
				"the backup does not open: wrong recovery "
				"code, or the backup is damaged or was "
				"altered (tried %d: %s%s)",
				tries, first, tries > 1 ? " and older" : "");
	else if (rc < 0)
		rc = proof_fail(p, proof_exit_for(rc), "the backup: %s",
				err.message);
	else if (rc == 0 && tries > 1)
		proof_say(p,
			  "opened %s: the newer backup did not open with "
			  "this code (damaged, or made with another code)",
			  c->label);
	else if (rc == 0)
		proof_say(p, "opened %s", c->label);
out:
	OPENSSL_cleanse(canon, sizeof(canon));
	free(blob);
	return rc;
}

static int install(struct proof *p, const struct ll_backup *b,
		   const struct ll_backup_key *key, enum where where)
{
	struct ll_error err = { 0 };
	const char **names = NULL;
	size_t added = 0, n = ll_backup_secret_count(b);
	int rc;

	rc = ll_backup_install(b, p->ks, &added, &err);
	if (rc < 0)
		return proof_local_fail(p, "installing the backup", &err);
	names = calloc(n + 1, sizeof(*names));
	if (names == NULL)
		return proof_fail(p, EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < n; i++)
		names[i] = ll_backup_secret_name(b, i);
	/* later key changes update this backup without the code */
	rc = ll_backup_key_store(p->ks, key,
				 where == TO_VAULT ? "vault" : "mailbox",
				 p->canon, names, n, &err);
	free(names);
	if (rc < 0)
		return proof_local_fail(p, "keeping the backup key", &err);
	proof_say(p,
		  "installed %zu of %zu keys with their certificates, %zu "
		  "trust anchors, %zu account keys: mail sealed to any of "
		  "them opens here",
		  added, ll_backup_identity_count(b), ll_backup_trust_count(b),
		  n);
	if (ll_backup_revocation_count(b) > 0)
		proof_say(p,
			  "%zu certificate%s revoked from the home the backup "
			  "was made on: %s no longer sign%s here",
			  ll_backup_revocation_count(b),
			  ll_backup_revocation_count(b) == 1 ? "" : "s",
			  ll_backup_revocation_count(b) == 1 ? "it" : "they",
			  ll_backup_revocation_count(b) == 1 ? "s" : "");
	return 0;
}

/*
 * The backup does not say which of its certificates were revoked since
 * (by this user from another device, or by the CA): ask their OCSP
 * responders now, so that a revoked one never signs here.  The answers
 * are kept in the home (ll_revocation_check); a certificate whose
 * status cannot be learned is said, and judged again when mail opens.
 */
static void check_revoked(struct proof *p)
{
	struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };
	size_t revoked = 0, unknown = 0;

	ro.network = 1;
	ro.timeout = p->timeout;
	ro.cache = p->ks;
	if (ll_ctx_new(&ctx, &err) < 0 ||
	    ll_keystore_load(p->ks, ctx, &err) < 0 ||
	    ll_ctx_set_revocation(ctx, &ro, &err) < 0) {
		proof_fail(p, 0,
			   "warning: the restored certificates' revocation "
			   "was not checked: %s",
			   err.message);
		ll_ctx_free(&ctx);
		return;
	}
	for (size_t i = 0; i < ll_ctx_identity_count(ctx); i++) {
		struct ll_identity *id = ll_ctx_identity_at(ctx, i);
		struct ll_revocation rv;

		if (ll_identity_chain_count(id) == 0 ||
		    ll_cert_not_after(ll_identity_cert(id)) < time(NULL) ||
		    ll_revocation_check(&rv, ctx, ll_identity_cert(id),
					ll_identity_chain(id, 0), &err) < 0)
			continue;
		if (rv.state == LL_REV_REVOKED) {
			revoked++;
			proof_say(p,
				  "%s (sha256 %s) is revoked (%s): it opens "
				  "old mail but no longer signs",
				  ll_cert_email(ll_identity_cert(id)),
				  ll_cert_fingerprint(ll_identity_cert(id)),
				  ll_rev_reason_name(rv.reason));
		} else if (rv.state == LL_REV_UNKNOWN) {
			unknown++;
		}
	}
	if (unknown > 0)
		proof_fail(p, 0,
			   "warning: the revocation of %zu restored "
			   "certificate%s could not be learned now",
			   unknown, unknown == 1 ? "" : "s");
	ll_ctx_free(&ctx);
}

static int do_restore(struct proof *p, enum where where, long long version,
		      const char *code_file)
{
	struct candidates *c = calloc(1, sizeof(*c));
	struct ll_backup *b = NULL;
	struct ll_backup_key *key = NULL;
	int rc;

	if (c == NULL)
		return proof_fail(p, EXIT_FAIL, "out of memory");
	c->where = where;
	c->version = version;
	rc = proof_connect(p);
	if (rc == 0 && where == TO_VAULT)
		rc = proof_order(p);
	if (rc == 0)
		rc = open_newest(p, &b, &key, c, code_file);
	if (rc == 0)
		rc = install(p, b, key, where);
	if (rc == 0)
		check_revoked(p);
	ll_backup_free(&b);
	ll_backup_key_free(&key);
	free(c);
	return rc;
}

/* restore ADDRESS after the options (ARGV from optind). */
static int restore_main(struct proof *p, const struct args *a, int argc,
			char **argv)
{
	int rc;

	if (optind + 1 != argc) {
		fputs(restore_usage, stderr);
		return EXIT_USAGE;
	}
	rc = proof_settle(p, argv[optind]);
	/* a typo in the file is said before any mail goes out */
	if (rc == 0 && a->code_file != NULL)
		rc = check_code_file(p, a->code_file);
	if (rc == 0)
		rc = do_restore(p, a->where, a->version, a->code_file);
	return rc;
}

/* ---- the two commands ---- */

/* The options of backup (RESTORE 0) or restore into P and A; 0 or an
 * exit code. */
static int parse(struct proof *p, struct args *a, int argc, char **argv,
		 int restore)
{
	static const struct option opts[] = {
		PROOF_LONG_OPTIONS,
		{ "to", required_argument, NULL, 'T' },
		{ "from", required_argument, NULL, 'F' },
		{ "code-file", required_argument, NULL, 'C' },
		{ "version", required_argument, NULL, 'V' },
		{ "refresh", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c, rc = 0;

	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int took = proof_option(p, c, optarg);

		if (took < 0)
			return EXIT_USAGE;
		if (took > 0)
			continue;
		if (c == 'C') {
			a->code_file = optarg;
		} else if (c == (restore ? 'F' : 'T')) {
			if (parse_where(&a->where, optarg) < 0)
				rc = proof_fail(p, EXIT_USAGE,
						"--%s takes vault or mailbox",
						restore ? "from" : "to");
		} else if (c == 'R' && !restore) {
			a->refresh = 1;
		} else if (c == 'V' && restore) {
			a->version = strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || a->version < 1)
				rc = proof_fail(p, EXIT_USAGE,
						"--version takes a number "
						"from 1");
		} else {
			fputs(restore ? restore_usage : backup_usage, stderr);
			rc = EXIT_USAGE;
		}
	}
	return rc;
}

static int run(struct cli *cli, int argc, char **argv, int restore)
{
	struct args a = { TO_VAULT, NULL, 0, 0 };
	struct proof *p;
	int rc;

	if (cli_wants_help(argc, argv)) {
		fputs(restore ? restore_usage : backup_usage, stdout);
		fputs(proof_options_help, stdout);
		fputs(restore ? restore_usage_tail : backup_usage_tail, stdout);
		return EXIT_OK;
	}
	p = malloc(sizeof(*p));
	if (p == NULL)
		return EXIT_FAIL;
	proof_init(p, cli, restore ? "restore" : "backup");
	rc = parse(p, &a, argc, argv, restore);
	if (rc == 0)
		rc = restore ? restore_main(p, &a, argc, argv) :
			       backup_main(p, &a, argc, argv);
	proof_clear(p);
	free(p);
	return rc;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	return run(cli, argc, argv, 0);
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	return run(cli, argc, argv, 1);
}
