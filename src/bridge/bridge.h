/*
 * bridge.h - `letterlock bridge`: the local IMAP and SMTP proxy, and
 * the interface its protocol modules plug into.
 *
 * One process, one libevent loop.  The core (bridge.c) reads the
 * settings ([bridge] of letterlock.conf) and the accounts
 * (HOME/accounts.conf, written by `letterlock account`), makes the
 * per-install secrets (bridge_secret.c: the bridge password and the
 * self-signed TLS certificate, in HOME/bridge/), opens one listener per
 * module on 127.0.0.1 only, and stops on SIGTERM/SIGINT.  Work that
 * may take long (sealing, opening, anything upstream) runs in child
 * processes (bridge_spawn; the SMTP relay's are long-lived workers,
 * smtp_pool.c), so that no client waits for another; the loop only
 * moves bytes and parses commands.
 *
 * A protocol module (smtp_session.c; the IMAP module the same way) is a
 * `struct bridge_module` in the table of bridge.c:
 *
 *   - name ("smtp", "imap"), its default port and the [bridge] setting
 *     that changes it (an offset in struct cli_conf);
 *   - init: once, before the loop runs; may keep state in *state;
 *   - accept: a new client connection FD (non-blocking, close-on-exec),
 *     which the module now owns: it makes its bufferevent on b->base
 *     and frees it when the session ends (client.h does that for
 *     both modules);
 *   - stop: shutting down: end every session (say goodbye if the
 *     protocol has one) and free the state.
 *
 * What the core offers every module:
 *
 *   - b->base, the loop; b->cli, b->conf: the home and letterlock.conf;
 *   - bridge_login: the shared authentication (account address + the
 *     bridge password, compared in constant time);
 *   - bridge_account_find: an account's upstream settings (URLs, login,
 *     pinned CA, policy) and its directory HOME/bridge/queue/ADDRESS;
 *     the upstream password is a keystore secret
 *     (bridge_account_password), read in the child that needs it;
 *   - bridge_starttls: turn a plain bufferevent into a TLS server one
 *     (the local certificate), input pipelined before it dropped;
 *   - bridge_spawn: run a function in a child process; its exit code
 *     and what it wrote on stderr come back to a callback in the loop;
 *   - bridge_log: one line on stderr (the log), never a secret.
 */
#ifndef LL_BRIDGE_H
#define LL_BRIDGE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "cli.h"
#include "conf.h"

#define BRIDGE_PASSWORD_LEN 24 /* characters of [A-Za-z0-9] */
#define BRIDGE_ACCOUNTS_MAX 64

/* One account of HOME/accounts.conf.  Strings are malloc'd. */
struct bridge_account {
	char *address; /* the login at the bridge; the section name */
	char *imap_url; /* imap[s]://HOST[:PORT] */
	char *smtp_url; /* smtp[s]://HOST[:PORT] */
	char *user; /* the upstream login; NULL: the address */
	char *ca_file; /* a pinned CA (PEM) besides the system's; NULL */
	char *policy; /* sign-only | refuse; NULL: [send] policy */
	char *domain_policy; /* as [send] domain_policy; NULL: that */
	char *queue_home; /* HOME/bridge/queue/ADDRESS: its outbox */
	/* the SMTP relay's retries of what waits in the outbox */
	int pending; /* something may wait: flush when next_try comes */
	time_t next_try;
	int backoff; /* seconds; 0: not failing */
	int flushing; /* a flush child runs */
	/* its server refused mail that needs SMTPUTF8 for want of it:
	 * until then UTF-8 addresses are refused at once (smtp_relay.c) */
	time_t no_smtputf8_until;
};

struct bridge_module;
struct bridge_job;
struct smtp_pool;

struct bridge {
	struct cli *cli;
	struct cli_conf conf; /* letterlock.conf */
	const char *config; /* --config FILE, or NULL: the home's */
	struct event_base *base;
	SSL_CTX *tls; /* the local server certificate */
	char password[BRIDGE_PASSWORD_LEN + 1];
	int allow_plain; /* AUTH without TLS ([bridge] allow_plain) */
	size_t max_size; /* a submitted message, bytes */
	int retry; /* the first retry delay, seconds */
	int renew_interval; /* seconds between `letterlock renew` runs */
	time_t next_renew; /* the next one; a run is going while renewing */
	int renewing;
	struct bridge_account *accounts;
	size_t naccounts;
	struct bridge_job *jobs;
	struct smtp_pool *relay_pool; /* smtp_pool.c: the relay workers */
	int stopping;
};

struct bridge_module {
	const char *name;
	int default_port;
	size_t port_setting; /* offsetof(struct cli_conf, ...) */
	int (*init)(struct bridge *b, void **state);
	void (*accept)(struct bridge *b, void *state, int fd);
	void (*stop)(struct bridge *b, void *state);
};

extern const struct bridge_module bridge_smtp_module;
extern const struct bridge_module bridge_imap_module;

/* imap_upstream.c: the child of one logged-in IMAP session; it owns
 * the upstream connection and speaks plain IMAP to the loop on
 * BRIDGE_CHILD_FD.  ARG: struct imap_child. */
struct imap_child {
	struct bridge *b;
	struct bridge_account *a;
	char tag[64]; /* of the client's LOGIN/AUTHENTICATE */
};
int imap_child_run(void *arg);

/* The account whose address is USER (any case), or NULL. */
struct bridge_account *bridge_account_find(struct bridge *b, const char *user);

/*
 * The account USER if PASS is the bridge password, else NULL.  Both
 * sides are hashed (SHA-256) and compared with CRYPTO_memcmp, so the
 * time does not depend on the password.
 */
struct bridge_account *bridge_login(struct bridge *b, const char *user,
				    const char *pass);

/* BEV (plain, the client's) wrapped in a TLS server bufferevent (it
 * takes BEV over); what BEV had read and not used is dropped (RFC 3207
 * 4.2).  NULL on failure (BEV is then freed too). */
struct bufferevent *bridge_starttls(struct bridge *b, struct bufferevent *bev);

/*
 * Run RUN(ARG) in a child process; its return is the exit code.  The
 * child's stdout and stderr come to the bridge, which logs them and
 * gives DONE(CBARG, code, said) the last 4 KiB (NUL-terminated) once
 * the child has exited (code 128+N after signal N).  *out (may be
 * NULL) is the job, for bridge_job_forget.  0, or -1 (fork failed).
 */
int bridge_spawn(struct bridge *b, int (*run)(void *arg), void *arg,
		 void (*done)(void *cbarg, int code, const char *said),
		 void *cbarg, struct bridge_job **out);
/* The same, with KEEP (a descriptor of the loop, or -1) given to the
 * child as BRIDGE_CHILD_FD: a socketpair to a long-lived child, a
 * client's session.  A stop does not wait for such a child: the
 * module's stop closes its end of the pair and the child ends. */
#define BRIDGE_CHILD_FD 3
int bridge_spawn_fd(struct bridge *b, int keep, int (*run)(void *arg),
		    void *arg,
		    void (*done)(void *cbarg, int code, const char *said),
		    void *cbarg, struct bridge_job **out);
/* The one who asked for J is gone: DONE is not called. */
void bridge_job_forget(struct bridge_job *j);
/* J (of bridge_spawn_fd) is at work a client waits for (BUSY 1), which
 * a stop waits for as for bridge_spawn's children, or idle again (0). */
void bridge_job_busy(struct bridge_job *j, int busy);

void bridge_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bridge_secret.c */
/* HOME/bridge/password into PW, made (random, 0600) when missing. */
int bridge_password(char pw[BRIDGE_PASSWORD_LEN + 1], const char *home);
/* The server context with HOME/bridge/tls.{key,pem}, made on first
 * use (EC P-256, self-signed for 127.0.0.1 and localhost); its SHA-256
 * fingerprint into FPR. */
SSL_CTX *bridge_tls_ctx(const char *home, char fpr[96]);
/* HOME/bridge/NAME (PATH_MAX); -1 when it does not fit. */
int bridge_path(char *out, const char *home, const char *name);

/* bounce.c */
/*
 * Copy I of the outbox entry E, queued and now refused for good by the
 * server with REPLY: a delivery report (RFC 3464, the refused message
 * attached) sealed to the account's own key and put into its INBOX
 * with PASSWORD.  0, or -1 (said on stderr).
 */
struct outbox_entry;
int bridge_bounce(const struct bridge *b, const struct bridge_account *a,
		  const char *password, const struct outbox_entry *e, size_t i,
		  const char *reply);

/* account.c */
/* HOME/accounts.conf into *out (*n); 0, or -1 (said). */
int bridge_accounts_read(struct bridge_account **out, size_t *n,
			 const char *home);
void bridge_accounts_free(struct bridge_account **pp, size_t n);
/* The keystore secret name of ADDRESS's upstream password. */
void bridge_account_secret(char *out, size_t size, const char *address);
/* ADDRESS's upstream password (malloc'd, NUL-terminated; free with
 * ll_wipe_free(p, strlen(p))) or NULL when none is stored. */
char *bridge_account_password(const char *home, const char *address);

/* smtp_relay.c: one submitted message, sealed and relayed upstream in
 * a child; DONE(CBARG, reply) gets the SMTP reply to give the client
 * ("250 ...", "451 ...", "554 ...", no CRLF).  REQ's contents are taken
 * over on success (0); *out is the relay, for smtp_relay_forget. */
struct smtp_relay;
struct smtp_relay_req {
	struct bridge_account *account;
	char key[65]; /* smtp_relay_key, "" none */
	char *from;
	char **rcpts; /* NULL-terminated */
	size_t nrcpts;
	char *msg;
	size_t len;
};
int smtp_relay(struct bridge *b, struct smtp_relay_req *req,
	       void (*done)(void *cbarg, const char *reply), void *cbarg,
	       struct smtp_relay **out);
/* The client of R is gone: the relay finishes, DONE is not called. */
void smtp_relay_forget(struct smtp_relay *r);
/*
 * A message queued once is not queued again when the client sends it
 * anew (after a 451, or after a lost answer): the relay's worker queues
 * it under its key (outbox.h, HOME/ids/KEY).  KEY (65 bytes) is the hex SHA-256
 * of its Message-ID, envelope sender and recipients ("" when it has no
 * Message-ID).  smtp_relay_seen: when KEY waits in A's queue or was
 * sent from it, the reply for the client into REPLY, and 1; else 0.
 */
void smtp_relay_key(char *key, const char *msg, size_t len, const char *from,
		    char *const *rcpts);
int smtp_relay_seen(const struct bridge_account *a, const char *key,
		    char *reply, size_t size);
/* HOME/bridge/queue/ADDRESS/ids made, its keys older than a week
 * removed. */
int smtp_relay_prepare(const struct bridge_account *a);
/*
 * In a relay worker (a child process): what stays open from one message
 * of account A to the next: the settings, the home (keystore, keys) and
 * the upstream SMTP session.  smtp_relay_one seals and relays REQ (its
 * message taken over) as `letterlock send` does, saying why on stderr,
 * and returns send's exit code (sysexits.h).
 */
struct smtp_relay_worker;
struct smtp_relay_worker *smtp_relay_worker_new(struct bridge *b,
						struct bridge_account *a);
int smtp_relay_one(struct smtp_relay_worker *w, struct smtp_relay_req *req);
void smtp_relay_worker_free(struct smtp_relay_worker **pp);

/*
 * smtp_pool.c: the relay workers, up to a few per account, each a
 * child process (bridge_spawn_fd) fed one message at a time over a
 * socketpair.  smtp_pool_relay hands REQ (borrowed until DONE) to an
 * idle worker of A, a new one, or a queue until one is free;
 * DONE(ARG, code, said) gets the worker's result and the last 4 KiB it
 * said (or the exit code when the worker died with the message).
 * 0, or -1 (nothing was started).  smtp_pool_stop ends the idle
 * workers and lets the busy ones finish on their own.
 */
int smtp_pool_relay(struct bridge *b, struct bridge_account *a,
		    const struct smtp_relay_req *req,
		    void (*done)(void *arg, int code, const char *said),
		    void *arg);
void smtp_pool_stop(struct bridge *b);
/* Retry what waits in the accounts' outboxes when it is due (a
 * timer of bridge.c calls this every second). */
void smtp_relay_tick(struct bridge *b);

/* SMTPUTF8 (RFC 6531): may account A's server take UTF-8 addresses
 * (not known to lack SMTPUTF8)?  Any account's of B (the bridge offers
 * SMTPUTF8 in its EHLO then)?  A NULL account: unknown, so yes. */
int smtp_relay_utf8(const struct bridge_account *a);
int smtp_relay_utf8_any(const struct bridge *b);

/* the letterlock commands */
int cmd_bridge(struct cli *cli, int argc, char **argv);
int cmd_account(struct cli *cli, int argc, char **argv);

#endif
