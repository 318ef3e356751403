/*
 * conf.h - the settings file HOME/letterlock.conf (or --config FILE)
 * that enrol, send and outbox read: INI (inih), one section per concern.
 *
 *   [acme]  url, ca_file                      the CA (enrol)
 *   [mail]  imap_url, smtp_url, user,         the user's own mailbox
 *           password_file, ca_file            (enrol, send, outbox)
 *   [send]  policy, pkx_url, pkx_ca_file,     sealing and submission
 *           tsa_url, tsa_ca_file, timeout,    (send, outbox)
 *           smimea, resolver_conf, trust_anchor, require_timestamp,
 *           domain_policy
 *   [bridge] smtp_port, imap_port, allow_plain,   letterlock bridge
 *           retry, max_size
 *
 * An unknown key in one of these sections is an error (a misspelt
 * setting never falls back silently to a default); other sections are
 * left to other programs.  When a key is repeated, the first one counts.
 */
#ifndef LL_CLI_CONF_H
#define LL_CLI_CONF_H

/* Values as written in the file (malloc'd), NULL when absent. */
struct cli_conf {
	char *acme_url, *acme_ca_file;
	char *imap_url, *smtp_url, *mail_user, *mail_password_file,
		*mail_ca_file;
	char *policy, *pkx_url, *pkx_ca_file, *tsa_url, *tsa_ca_file, *timeout;
	char *smimea, *resolver_conf, *trust_anchor; /* SMIMEA lookups */
	char *require_timestamp;
	char *domain_policy; /* "example.org:refuse, example.net:sign-only" */
	char *bridge_smtp_port, *bridge_imap_port, *bridge_allow_plain,
		*bridge_retry, *bridge_max_size, *bridge_renew_interval;
};

/*
 * Read FILE into *C (zeroed first), or when FILE is NULL
 * HOME/letterlock.conf if it exists (else *C stays empty).  0, or -1
 * after printing "WHO: FILE[:LINE]: why" on stderr.  Free with
 * cli_conf_free, even after a failure.
 */
int cli_conf_read(struct cli_conf *c, const char *home, const char *file,
		  const char *who);
void cli_conf_free(struct cli_conf *c);

#endif
