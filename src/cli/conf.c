/* conf.c - HOME/letterlock.conf, shared by enrol, send, outbox and bridge. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"

static const struct {
	const char *section, *key;
	size_t field; /* offset in struct cli_conf */
} keys[] = {
	{ "acme", "url", offsetof(struct cli_conf, acme_url) },
	{ "acme", "ca_file", offsetof(struct cli_conf, acme_ca_file) },
	{ "mail", "imap_url", offsetof(struct cli_conf, imap_url) },
	{ "mail", "smtp_url", offsetof(struct cli_conf, smtp_url) },
	{ "mail", "user", offsetof(struct cli_conf, mail_user) },
	{ "mail", "password_file",
	  offsetof(struct cli_conf, mail_password_file) },
	{ "mail", "ca_file", offsetof(struct cli_conf, mail_ca_file) },
	{ "send", "policy", offsetof(struct cli_conf, policy) },
	{ "send", "pkx_url", offsetof(struct cli_conf, pkx_url) },
	{ "send", "pkx_ca_file", offsetof(struct cli_conf, pkx_ca_file) },
	{ "send", "tsa_url", offsetof(struct cli_conf, tsa_url) },
	{ "send", "tsa_ca_file", offsetof(struct cli_conf, tsa_ca_file) },
	{ "send", "timeout", offsetof(struct cli_conf, timeout) },
	{ "send", "smimea", offsetof(struct cli_conf, smimea) },
	{ "send", "resolver_conf", offsetof(struct cli_conf, resolver_conf) },
	{ "send", "trust_anchor", offsetof(struct cli_conf, trust_anchor) },
	{ "send", "require_timestamp",
	  offsetof(struct cli_conf, require_timestamp) },
	{ "send", "domain_policy", offsetof(struct cli_conf, domain_policy) },
	{ "bridge", "smtp_port", offsetof(struct cli_conf, bridge_smtp_port) },
	{ "bridge", "imap_port", offsetof(struct cli_conf, bridge_imap_port) },
	{ "bridge", "allow_plain",
	  offsetof(struct cli_conf, bridge_allow_plain) },
	{ "bridge", "retry", offsetof(struct cli_conf, bridge_retry) },
	{ "bridge", "max_size", offsetof(struct cli_conf, bridge_max_size) },
	{ "bridge", "renew_interval",
	  offsetof(struct cli_conf, bridge_renew_interval) },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct reader {
	struct cli_conf *c;
	char why[160];
};

static char **field(struct cli_conf *c, size_t i)
{
	return (char **)((char *)c + keys[i].field);
}

static int known_section(const char *section)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(section, keys[i].section) == 0)
			return 1;
	return 0;
}

static int on_key(void *user, const char *section, const char *key,
		  const char *v)
{
	struct reader *r = user;

	if (!known_section(section))
		return 1;
	for (size_t i = 0; i < NKEYS; i++) {
		char **f = field(r->c, i);

		if (strcmp(section, keys[i].section) != 0 ||
		    strcmp(key, keys[i].key) != 0)
			continue;
		if (*f != NULL)
			return 1; /* the first one counts */
		*f = strdup(v);
		if (*f == NULL) {
			snprintf(r->why, sizeof(r->why), "out of memory");
			return 0;
		}
		return 1;
	}
	snprintf(r->why, sizeof(r->why), "unknown key [%.20s] %.40s", section,
		 key);
	return 0;
}

int cli_conf_read(struct cli_conf *c, const char *home, const char *file,
		  const char *who)
{
	struct reader r = { .c = c };
	char path[4096];
	int rc;

	memset(c, 0, sizeof(*c));
	if (file == NULL) {
		if (snprintf(path, sizeof(path), "%s/letterlock.conf", home) >=
			    (int)sizeof(path) ||
		    access(path, F_OK) != 0)
			return 0;
		file = path;
	}
	rc = ini_parse(file, on_key, &r);
	if (rc == -1) {
		fprintf(stderr, "%s: %s: %s\n", who, file, strerror(errno));
		return -1;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: %s:%d: %s\n", who, file, rc,
			r.why[0] ? r.why : "syntax error");
		return -1;
	}
	return 0;
}

void cli_conf_free(struct cli_conf *c)
{
	for (size_t i = 0; i < NKEYS; i++) {
		free(*field(c, i));
		*field(c, i) = NULL;
	}
}
