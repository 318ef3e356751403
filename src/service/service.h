/* service.h - shared by the letterlockd program's files. */
#ifndef LLD_SERVICE_H
#define LLD_SERVICE_H

#include <stddef.h>
#include <letterlock/letterlock.h>
#include <letterlock/ca.h>

/* Exit codes (letterlockd(8)). */
enum {
	LLD_EXIT_OK = 0,
	LLD_EXIT_REFUSED = 1, /* the request breaks the profile */
	LLD_EXIT_USAGE = 2,
	LLD_EXIT_STATE = 3, /* the CA directory or its configuration */
	LLD_EXIT_FAIL = 4, /* I/O or cryptographic failure */
};

#define LLD_PROG "letterlockd"
#define LLD_CONF_NAME "letterlockd.conf"
#define LLD_PATH_MAX 4096
#define LLD_URL_MAX 160 /* a conf line stays under inih's 200 */
#define LLD_NAME_MAX 120 /* octets of [ca] name */

/* letterlockd.conf(5) */
struct lld_conf {
	char name[LLD_NAME_MAX + 1];
	char base_url[LLD_URL_MAX + 1];
	char crl_url[LLD_URL_MAX + 1];
	char ocsp_url[LLD_URL_MAX + 1];
	char ca_issuers_url[LLD_URL_MAX + 1];
	int validity_days;
	char store_path[LLD_PATH_MAX];
	/* [http] */
	char listen[LLD_URL_MAX + 1]; /* host:port, default 127.0.0.1:8080 */
	char public_url[LLD_URL_MAX + 1]; /* ACME is served at; base_url */
	char tls_cert[LLD_PATH_MAX]; /* PEM chain; "" plain HTTP */
	char tls_key[LLD_PATH_MAX];
	/* [mail]: the CA's own mailbox, for RFC 8823 challenges */
	char mail_from[LLD_URL_MAX + 1]; /* "" no email validation */
	char smtp_url[LLD_URL_MAX + 1]; /* smtp:// or smtps:// */
	char imap_url[LLD_URL_MAX + 1]; /* imap(s)://host:port/INBOX */
	char mail_user[LLD_URL_MAX + 1]; /* default: mail_from */
	char mail_password_file[LLD_PATH_MAX];
	char mail_ca_file[LLD_PATH_MAX]; /* trust for SMTP/IMAP TLS */
	int poll_interval; /* seconds, default 2 */
	/* [dns] */
	char resolver_conf[LLD_PATH_MAX]; /* unbound config; "" system */
	char caa_identity[LLD_URL_MAX + 1]; /* our issuer domain for CAA */
	/* [tsa] */
	char tsa_policy[LLD_URL_MAX + 1]; /* TSTInfo policy, dotted OID */
	/* [pkx] (pkx.h) */
	int pkx_rate; /* requests a client may make a minute; 0 no limit */
	int pkx_burst; /* ... at once: its bucket */
	int pkx_max_age; /* seconds lookups may be cached */
	int pkx_clients; /* buckets kept */
	int pkx_cache; /* MiB of lookup answers kept in memory; 0 none */
	/* [vault] (vault.h) */
	int vault_fresh; /* seconds a mailbox proof opens the vault */
	int vault_keep; /* versions kept before the current one */
	int vault_window; /* seconds over which reads are counted */
	int vault_reads_address; /* reads of one address in the window */
	int vault_reads_account; /* reads by one account in the window */
};

/* conf.c */
/* The URLs a CA at BASE serves (ca.h) into C; BASE must fit. */
void lld_conf_defaults(struct lld_conf *c, const char *name, const char *base,
		       const char *dir);
/* Read DIR/letterlockd.conf; on error prints why and returns < 0. */
int lld_conf_load(struct lld_conf *c, const char *dir);
/* The text of a configuration file for C. */
int lld_conf_format(char **out, size_t *len, const struct lld_conf *c);
/* 1 if S is an http URL letterlockd can put in a certificate. */
int lld_http_url_ok(const char *s);
/* 1 if S is an http or https URL ACME can be served at (no final '/'). */
int lld_public_url_ok(const char *s);

/* fsutil.c */
/* Read PATH ("-": stdin), at most MAX bytes; NUL-terminated. */
int lld_read_file(char **out, size_t *len, const char *path, size_t max);
/* Write PATH with MODE, fsync'd; EXCL: fail if it exists.  PATH "-" is
 * stdout. */
int lld_write_file(const char *path, const char *data, size_t len,
		   unsigned mode, int excl);
/* mkdir PATH with MODE; an existing directory is fine. */
int lld_mkdir(const char *path, unsigned mode);
/* The same, making missing parents (0755) first. */
int lld_mkdir_parents(const char *path, unsigned mode);
/* fsync the directory PATH. */
int lld_sync_dir(const char *path);
/* snprintf into BUF that fails (with a message) on truncation. */
int lld_path(char *buf, size_t len, const char *dir, const char *name);
/* 1 if --help or -h is among the arguments. */
int lld_wants_help(int argc, char **argv);
/* Print "letterlockd: WHAT: message [detail]" for ERR. */
void lld_report(const char *what, const struct ll_error *err);

/* "--NAME VALUE" or "--NAME=VALUE" at argv[*i]: 1 and
 * *val (then *i is on the value), 0 if it is another argument, -1 (with
 * a message) when the value is missing. */
int lld_arg(int argc, char **argv, int *i, const char *name, const char **val);

/* commands */
int lld_cmd_init(int argc, char **argv);
int lld_cmd_issue(int argc, char **argv);
int lld_cmd_run(int argc, char **argv);
int lld_cmd_root_crl(int argc, char **argv);
int lld_cmd_export_smimea(int argc, char **argv);

/* cmd_rootcrl.c: sign an empty CRL of the root (CERT, KEY: PEM) for
 * DAYS into CERTS/root.crl, replacing it whole; -1 with a message. */
int lld_write_root_crl(const char *certs, const char *cert, size_t certlen,
		       const char *key, size_t keylen, int days);

#endif
