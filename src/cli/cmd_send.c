/*
 * cmd_send.c - letterlock send: a sendmail-compatible submission
 * command.  Finds every recipient's certificate (contacts, then the PKX
 * directory), seals the message (sign, time-stamp, encrypt; each Bcc
 * recipient a copy of its own), queues the copies in the outbox and
 * submits them over SMTP.  Exit codes are sendmail's (sysexits.h).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "header.h"
#include "outbox.h"
#include "send.h"
#include "submit.h"

static const char send_usage[] =
	"usage: letterlock send [-t] [-f FROM] [-v] [--policy sign-only|refuse]\n"
	"                       [--tsa URL [--require-timestamp]]\n"
	"                       [--config FILE] [RCPT...] < MESSAGE\n"
	"\n"
	"Seal the message on standard input and submit it over SMTP, as\n"
	"sendmail does: to the RCPT addresses, and with -t also to those of\n"
	"To, Cc and Bcc.  Every recipient's certificate is looked up (the\n"
	"contacts, then the PKX directory); the message is signed (and\n"
	"time-stamped when a TSA is set), then encrypted when every\n"
	"recipient has one.  Each Bcc recipient gets a copy of its own.\n"
	"The copies wait in the outbox until the server has taken them.\n"
	"\n"
	"  -t                 recipients also from To, Cc and Bcc\n"
	"  -f FROM            the envelope sender (default: the From address)\n"
	"  -v                 say what is sent and what the server answered\n"
	"  --policy P         when a recipient has no certificate: sign-only\n"
	"                     (default: send it signed, readable by all) or\n"
	"                     refuse (send nothing)\n"
	"  --tsa URL          time-stamp the signature at this RFC 3161 TSA\n"
	"  --require-timestamp  send nothing (exit 69) rather than a\n"
	"                     signature without a time-stamp\n"
	"  --config FILE      settings (default HOME/letterlock.conf): [mail]\n"
	"                     smtp_url, user, password_file, ca_file; [send]\n"
	"                     policy, pkx_url, pkx_ca_file, tsa_url,\n"
	"                     tsa_ca_file, timeout, smimea (yes: look\n"
	"                     SMIMEA up after the directory, DNSSEC-\n"
	"                     validated), resolver_conf, trust_anchor\n"
	"  -i, -oX, -B X, -F NAME, -bm, -N X, -R X, -V X, -O X: sendmail's,\n"
	"                     accepted and ignored (input ends at end of file)\n"
	"\n"
	"Exit (sysexits.h): 0 sent; 64 usage; 65 the message is malformed;\n"
	"67 a recipient has no certificate under --policy refuse (nothing\n"
	"sent); 69 the server refused it for good (kept in the outbox);\n"
	"73 the outbox cannot be written (nothing sent); 75 a temporary\n"
	"failure (kept in the outbox: `letterlock outbox flush` retries);\n"
	"78 configuration (no identity for From, no smtp_url, ...).\n";

static int addrs_has(const struct addrs *a, const char *s)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcasecmp(a->v[i], s) == 0)
			return 1;
	return 0;
}

/* Add S unless it is there: 0, or -1 out of memory / too many. */
static int addrs_add(struct addrs *a, const char *s)
{
	char **nv;

	if (addrs_has(a, s))
		return 0;
	if (a->n >= LL_MSG_MAX_RECIPIENTS)
		return -1;
	nv = realloc(a->v, (a->n + 2) * sizeof(*nv));
	if (nv == NULL)
		return -1;
	a->v = nv;
	a->v[a->n] = strdup(s);
	if (a->v[a->n] == NULL)
		return -1;
	a->v[++a->n] = NULL;
	return 0;
}

static void addrs_free(struct addrs *a)
{
	ll_strv_free(&a->v);
	a->n = 0;
}

/* An address fit for an SMTP command and an outbox file: no control
 * characters, no white space outside the local part's quotes. */
static int usable_addr(const char *a)
{
	int quoted = 0;

	for (; *a != '\0'; a++) {
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return 0;
		if (*a == '"')
			quoted = !quoted;
		if (*a == ' ' && !quoted)
			return 0;
	}
	return 1;
}

static int say_err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "letterlock: send: ..." on stderr; returns CODE. */
static int say_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = cli_vsay(code, "letterlock: send", fmt, ap);
	va_end(ap);
	return code;
}

/* The exit code for an error of the library. */
static int exit_for(int rc)
{
	switch (rc) {
	case LL_EINVAL:
		return EX_USAGE;
	case LL_ENOKEY:
		return EX_CONFIG;
	case LL_ENOCERT:
		return EX_NOUSER;
	case LL_EPARSE:
	case LL_ETOOBIG:
	case LL_EPOLICY:
		return EX_DATAERR;
	case LL_EIO:
		return EX_TEMPFAIL;
	}
	return EX_SOFTWARE;
}

static int lib_err(const char *what, const struct ll_error *err)
{
	return say_err(exit_for(err->code), "%s: %s", what,
		       err->message[0] ? err->message : ll_strerror(err->code));
}

/* The addresses of one recipient argument ("bob@example.org", also
 * "Bob <bob@example.org>" or a list) into ENV. */
static int add_arg(struct addrs *env, const char *arg)
{
	struct ll_error err = { 0 };
	char **v = NULL, *hdr;
	size_t n = strlen(arg);
	int rc = 0;

	if (n == 0 || n > LL_MSG_MAX_ADDR_FIELD || strpbrk(arg, "\r\n"))
		return say_err(EX_USAGE, "not an address: %.200s", arg);
	hdr = malloc(n + 9);
	if (hdr == NULL)
		return say_err(EX_OSERR, "out of memory");
	snprintf(hdr, n + 9, "To: %s\r\n\r\n", arg);
	if (ll_msg_addresses(&v, hdr, n + 8, LL_ADDR_TO_CC, &err) < 0 ||
	    v[0] == NULL)
		rc = say_err(EX_USAGE, "not an address: %.200s", arg);
	for (size_t i = 0; rc == 0 && v[i] != NULL; i++)
		if (addrs_add(env, v[i]) < 0)
			rc = say_err(EX_USAGE, "more than %d recipients",
				     LL_MSG_MAX_RECIPIENTS);
	ll_strv_free(&v);
	free(hdr);
	return rc;
}

static int parse_args(struct send *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'P' },
		{ "tsa", required_argument, NULL, 'T' },
		{ "require-timestamp", no_argument, NULL, 'Q' },
		{ "config", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	optind = 1;
	/* '+': the first recipient ends the options, as in sendmail */
	while ((c = getopt_long(argc, argv, "+tf:r:vio:B:F:b:N:R:V:O:", opts,
				NULL)) != -1) {
		switch (c) {
		case 't':
			s->extract = 1;
			break;
		case 'f':
		case 'r':
			/* "<addr>" as well as "addr"; "<>": no sender */
			if (optarg[0] == '<' &&
			    optarg[strlen(optarg) - 1] == '>') {
				optarg[strlen(optarg) - 1] = '\0';
				optarg++;
			}
			s->envfrom = optarg;
			break;
		case 'v':
			s->verbose = 1;
			break;
		case 'P':
			s->policy_name = optarg;
			break;
		case 'T':
			s->tsa_url = optarg;
			break;
		case 'Q':
			s->require_ts = 1;
			break;
		case 'C':
			s->config = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "m") != 0)
				return say_err(EX_USAGE,
					       "-b%s: only -bm (deliver mail) "
					       "is supported; the queue is "
					       "`letterlock outbox`",
					       optarg);
			break;
		case 'i':
		case 'o':
		case 'B':
		case 'F':
		case 'N':
		case 'R':
		case 'V':
		case 'O':
			break; /* sendmail's, meaningless here */
		default:
			fputs(send_usage, stderr);
			return EX_USAGE;
		}
	}
	for (int i = optind; rc == 0 && i < argc; i++)
		rc = add_arg(&s->env, argv[i]);
	return rc;
}

/*
 * The policy for recipient ADDR without a certificate: its domain's in
 * [send] domain_policy ("example.org:refuse, example.net:sign-only"),
 * else s->policy.  With ADDR NULL only checks the setting: 0, or -1
 * when it is malformed.
 */
static int domain_policy(const struct send *s, const char *addr)
{
	const char *p = s->conf.domain_policy, *at;
	size_t dlen = 0;

	at = addr ? strrchr(addr, '@') : NULL;
	if (at != NULL)
		dlen = strlen(++at);
	while (p != NULL && *p != '\0') {
		size_t n, v;

		p += strspn(p, ", \t");
		if (*p == '\0')
			break;
		n = strcspn(p, ":, \t");
		if (n == 0 || p[n] != ':')
			return -1;
		v = strcspn(p + n + 1, ", \t");
		if (!(v == 6 && strncmp(p + n + 1, "refuse", 6) == 0) &&
		    !(v == 9 && strncmp(p + n + 1, "sign-only", 9) == 0))
			return -1;
		if (at != NULL && n == dlen && strncasecmp(p, at, n) == 0)
			return v == 6 ? POLICY_REFUSE : POLICY_SIGN_ONLY;
		p += n + 1 + v;
	}
	return addr != NULL ? (int)s->policy : 0;
}

/* Settings: options win over letterlock.conf. */
static int settings(struct send *s)
{
	const char *p;

	int rc;

	if (!s->conf_loaded && cli_conf_read(&s->conf, s->cli->home, s->config,
					     "letterlock: send") < 0)
		return EX_CONFIG;
	if (s->tsa_url == NULL)
		s->tsa_url = s->conf.tsa_url;
	if (s->conf.require_timestamp != NULL &&
	    (strcmp(s->conf.require_timestamp, "yes") == 0 ||
	     strcmp(s->conf.require_timestamp, "true") == 0))
		s->require_ts = 1;
	if (s->require_ts && s->tsa_url == NULL)
		return say_err(s->conf.require_timestamp ? EX_CONFIG : EX_USAGE,
			       "a time-stamp is required but no TSA is set "
			       "(--tsa or [send] tsa_url)");
	p = s->policy_name ? s->policy_name : s->conf.policy;
	if (p == NULL || strcmp(p, "sign-only") == 0)
		s->policy = POLICY_SIGN_ONLY;
	else if (strcmp(p, "refuse") == 0)
		s->policy = POLICY_REFUSE;
	else
		return say_err(s->policy_name ? EX_USAGE : EX_CONFIG,
			       "unknown policy %.40s (sign-only, refuse)", p);
	if (domain_policy(s, NULL) < 0)
		return say_err(EX_CONFIG,
			       "[send] domain_policy: DOMAIN:sign-only or "
			       "DOMAIN:refuse, separated by commas");
	if (s->sub_open)
		return 0;
	rc = submit_init(&s->sub, s->cli, &s->conf, "send", s->password);
	if (s->outbox_home != NULL)
		s->sub.home = s->outbox_home;
	s->sub_open = rc == 0;
	return rc;
}

/* From, To+Cc, Bcc of the header; the envelope sender and recipients. */
static int envelope(struct send *s)
{
	struct ll_error err = { 0 };

	if (ll_msg_addresses(&s->from, s->msg, s->len, LL_ADDR_FROM, &err) <
		    0 ||
	    ll_msg_addresses(&s->tocc, s->msg, s->len, LL_ADDR_TO_CC, &err) <
		    0 ||
	    ll_msg_addresses(&s->bcc, s->msg, s->len, LL_ADDR_BCC, &err) < 0)
		return lib_err("the message", &err);
	if (s->from[0] == NULL || s->from[1] != NULL)
		return say_err(EX_DATAERR,
			       "the message needs exactly one From address");
	if (s->envfrom == NULL)
		s->envfrom = s->from[0];
	if (!usable_addr(s->envfrom))
		return say_err(EX_USAGE, "not a usable sender: %.200s",
			       s->envfrom);
	for (size_t i = 0; s->extract && s->tocc[i] != NULL; i++)
		if (addrs_add(&s->env, s->tocc[i]) < 0)
			return say_err(EX_DATAERR, "too many recipients");
	for (size_t i = 0; s->extract && s->bcc[i] != NULL; i++)
		if (addrs_add(&s->env, s->bcc[i]) < 0)
			return say_err(EX_DATAERR, "too many recipients");
	if (s->env.n == 0)
		return say_err(EX_USAGE,
			       "no recipients: name them, or use -t to "
			       "take them from To, Cc and Bcc");
	for (size_t i = 0; i < s->env.n; i++) {
		int in_tocc = 0;

		if (!usable_addr(s->env.v[i]))
			return say_err(EX_DATAERR,
				       "not a usable recipient: %.200s",
				       s->env.v[i]);
		for (size_t k = 0; s->tocc[k] != NULL; k++)
			in_tocc |= strcasecmp(s->tocc[k], s->env.v[i]) == 0;
		if (!in_tocc && addrs_add(&s->hidden, s->env.v[i]) < 0)
			return say_err(EX_OSERR, "out of memory");
	}
	return 0;
}

/*
 * The message as it is sealed: its Bcc fields replaced by the envelope
 * recipients that To and Cc do not name (each then gets a copy of its
 * own, and the Bcc field goes into none), and Date and Message-ID added
 * when missing, so that they are signed.
 */
static int prepare(struct send *s)
{
	const char *at = strrchr(s->from[0], '@');
	char **add = calloc(s->hidden.n + 2, sizeof(*add));
	size_t nadd = 0, len;
	unsigned char r[16];
	char *out = NULL;
	struct tm tm;
	time_t now = time(NULL);
	int rc = 0;

	if (add == NULL)
		return say_err(EX_OSERR, "out of memory");
	for (size_t i = 0; i < s->hidden.n; i++) {
		add[nadd] = malloc(strlen(s->hidden.v[i]) + 6);
		if (add[nadd] == NULL)
			goto nomem;
		sprintf(add[nadd++], "Bcc: %s", s->hidden.v[i]);
	}
	if (!header_has(s->msg, s->len, "Date")) {
		add[nadd] = malloc(64);
		if (add[nadd] == NULL)
			goto nomem;
		localtime_r(&now, &tm);
		strftime(add[nadd++], 64, "Date: %a, %d %b %Y %H:%M:%S %z",
			 &tm);
	}
	if (!header_has(s->msg, s->len, "Message-ID")) {
		add[nadd] = malloc(2 * sizeof(r) + strlen(at) + 20);
		if (add[nadd] == NULL ||
		    getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			goto nomem;
		len = (size_t)sprintf(add[nadd], "Message-ID: <");
		for (size_t i = 0; i < sizeof(r); i++)
			len += (size_t)sprintf(add[nadd] + len, "%02x", r[i]);
		sprintf(add[nadd++] + len, "%s>", at);
	}
	if (header_edit(&out, &len, s->msg, s->len, "Bcc",
			(const char *const *)add, nadd) < 0)
		goto nomem;
	free(s->msg);
	s->msg = out;
	s->len = len;
	goto out;
nomem:
	rc = say_err(EX_OSERR, "out of memory");
out:
	for (size_t i = 0; i < s->hidden.n + 2; i++)
		free(add[i]);
	free(add);
	return rc;
}

/* Every address the message is sealed to: To, Cc and the hidden ones. */
static int sealed_to(struct addrs *all, const struct send *s)
{
	for (size_t i = 0; s->tocc[i] != NULL; i++)
		if (addrs_add(all, s->tocc[i]) < 0)
			return -1;
	for (size_t i = 0; i < s->hidden.n; i++)
		if (addrs_add(all, s->hidden.v[i]) < 0)
			return -1;
	return 0;
}

/*
 * Find every recipient's certificate; *encrypt says whether all have
 * one.  Under POLICY_REFUSE a recipient without one stops here.
 */
static int find_certs(struct send *s, int *encrypt)
{
	struct ll_contacts_options co = LL_CONTACTS_OPTIONS_INIT;
	struct ll_contact_result *res = NULL;
	struct ll_error err = { 0 };
	struct addrs all = { 0 }, missing = { 0 };
	char note[2048] = "";
	int rc = 0, refuse = 0;

	*encrypt = 0;
	if (sealed_to(&all, s) < 0 ||
	    (res = calloc(all.n + 1, sizeof(*res))) == NULL) {
		rc = say_err(EX_OSERR, "out of memory");
		goto out;
	}
	co.pkx_url = s->conf.pkx_url;
	co.pkx_ca_file = s->conf.pkx_ca_file;
	co.timeout = s->sub.timeout;
	/* SMIMEA after the directory: [send] smimea = yes */
	co.smimea = s->conf.smimea != NULL &&
		    (strcmp(s->conf.smimea, "yes") == 0 ||
		     strcmp(s->conf.smimea, "true") == 0);
	co.resolver_conf = s->conf.resolver_conf;
	co.trust_anchor_file = s->conf.trust_anchor;
	if (ll_contacts_resolve(s->ks, s->ctx, (const char *const *)all.v,
				all.n, &co, res, note, sizeof(note),
				&err) < 0) {
		rc = lib_err("finding the recipients' certificates", &err);
		goto out;
	}
	if (note[0] != '\0')
		say_err(0, "warning: %s", note);
	for (size_t i = 0; i < all.n; i++) {
		if (res[i].pending)
			say_err(0,
				"warning: %s has a new key waiting for your "
				"decision (letterlock contact list); the "
				"known one is used",
				all.v[i]);
		if (res[i].changed)
			say_err(0,
				"%s has a new key in the directory: it is "
				"used from now on",
				all.v[i]);
		/* our own address: the identity's certificate */
		if (!res[i].found &&
		    ll_ctx_identity_for(s->ctx, all.v[i]) == NULL) {
			if (addrs_add(&missing, all.v[i]) < 0) {
				rc = say_err(EX_OSERR, "out of memory");
				goto out;
			}
			refuse |= domain_policy(s, all.v[i]) == POLICY_REFUSE;
		}
	}
	*encrypt = missing.n == 0;
	for (size_t i = 0; i < missing.n; i++)
		fprintf(stderr, "%s%s%s%s",
			i == 0 ? "letterlock: send: no certificate for " : "",
			i == 0 ? "" : ", ", missing.v[i],
			ll_ctx_contact_sign_only(s->ctx, missing.v[i]) ?
				" (a signing certificate only: its keyUsage "
				"allows no encryption)" :
				"");
	if (refuse) {
		fputs(": nothing sent (policy refuse)\n", stderr);
		rc = EX_NOUSER;
	} else if (missing.n > 0) {
		fputs(": the message goes signed only, readable by anyone "
		      "on the way (policy sign-only)\n",
		      stderr);
	}
out:
	addrs_free(&all);
	addrs_free(&missing);
	free(res);
	return rc;
}

static int seal(struct send *s, int encrypt)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_error err = { 0 };
	int rc;

	so.flags = LL_SEAL_SIGN | (encrypt ? LL_SEAL_ENCRYPT : 0) |
		   (s->require_ts ? LL_SEAL_REQUIRE_TIMESTAMP : 0);
	so.tsa_url = s->tsa_url;
	so.tsa_ca_file = s->conf.tsa_ca_file;
	rc = ll_msg_seal(&s->sealed, s->ctx, s->msg, s->len, &so, &err);
	if (rc == LL_ENOCERT && encrypt && s->policy == POLICY_SIGN_ONLY) {
		say_err(0,
			"%s: the message goes signed only (policy "
			"sign-only)",
			err.message);
		return seal(s, 0);
	}
	/* a required time-stamp the TSA did not give: nothing is queued,
	 * so not "temporary" (75), which would say it was */
	if (rc < 0 && s->require_ts &&
	    strncmp(err.message, "a time-stamp is required", 24) == 0)
		return say_err(EX_UNAVAILABLE, "sealing: %s (nothing sent)",
			       err.message);
	if (rc < 0)
		return lib_err("sealing", &err);
	if (*ll_sealed_note(s->sealed) != '\0')
		say_err(0, "warning: %s", ll_sealed_note(s->sealed));
	return 0;
}

/* Queue the sealed copies, each for the envelope recipients it has. */
static int queue(struct send *s, struct outbox_entry **entry)
{
	size_t n = ll_sealed_count(s->sealed), m = 0;
	struct outbox_copy *copies = calloc(n + 1, sizeof(*copies));
	struct addrs *to = calloc(n + 1, sizeof(*to)), covered = { 0 };
	int rc = 0;

	if (copies == NULL || to == NULL) {
		rc = say_err(EX_OSERR, "out of memory");
		goto out;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *const *r;
		size_t k;

		r = ll_sealed_rcpts(s->sealed, i, &k);
		for (size_t j = 0; rc == 0 && j < k; j++)
			if (addrs_has(&s->env, r[j]) &&
			    (addrs_add(&to[i], r[j]) < 0 ||
			     addrs_add(&covered, r[j]) < 0))
				rc = say_err(EX_OSERR, "out of memory");
		if (to[i].n == 0)
			continue; /* (not -t) To/Cc not in the envelope */
		copies[m].data = ll_sealed_data(s->sealed, i, &copies[m].len);
		copies[m].rcpts = (const char *const *)to[i].v;
		copies[m++].nrcpts = to[i].n;
	}
	/* every envelope recipient has its copy */
	if (rc == 0 && covered.n != s->env.n)
		rc = say_err(EX_SOFTWARE, "a recipient has no sealed copy");
	if (rc == 0 &&
	    outbox_add(entry, s->sub.home, s->envfrom, s->key, copies, m) < 0)
		rc = say_err(EX_CANTCREAT,
			     "the message cannot be queued: nothing was sent");
	if (rc == 0 && s->verbose)
		say_err(0, "%s: %s%s, %zu cop%s queued", (*entry)->id,
			ll_sealed_cipher(s->sealed, 0) ?
				"signed and encrypted" :
				"signed only",
			ll_sealed_timestamped(s->sealed) ? ", time-stamped" :
							   "",
			m, m == 1 ? "y" : "ies");
out:
	for (size_t i = 0; to != NULL && i < n; i++)
		addrs_free(&to[i]);
	addrs_free(&covered);
	free(to);
	free(copies);
	return rc;
}

int send_add_rcpt(struct send *s, const char *addr)
{
	if (!usable_addr(addr))
		return say_err(EX_DATAERR, "not a usable recipient: %.200s",
			       addr);
	if (addrs_add(&s->env, addr) < 0)
		return say_err(EX_DATAERR, "too many recipients");
	return 0;
}

int send_message(struct send *s)
{
	struct outbox_entry *entry = NULL;
	char *id = s->id;
	int rc, encrypt;

	rc = settings(s);
	if (rc != 0)
		return rc;
	rc = envelope(s);
	if (rc != 0)
		return rc;
	if (s->ctx == NULL && cli_open_home(&s->ks, &s->ctx, s->cli, 1) != 0)
		return EX_OSERR;
	if (ll_ctx_identity_for(s->ctx, s->from[0]) == NULL)
		return say_err(EX_CONFIG,
			       "no identity for %s in this home (letterlock "
			       "enrol %s)",
			       s->from[0], s->from[0]);
	rc = prepare(s);
	if (rc == 0)
		rc = find_certs(s, &encrypt);
	if (rc == 0)
		rc = seal(s, encrypt);
	if (rc == 0)
		rc = queue(s, &entry);
	if (rc != 0)
		return rc;
	memcpy(id, entry->id, sizeof(s->id));
	s->sub.verbose = s->verbose;
	rc = submit_entry(&s->sub, &entry);
	outbox_close(&entry);
	if (rc == EX_TEMPFAIL)
		say_err(0,
			"the message waits in the outbox as %s: "
			"`letterlock outbox flush` sends what is left "
			"of it",
			id);
	else if (rc == EX_UNAVAILABLE)
		say_err(0,
			"trying again as it is will fail too.  The "
			"message stays in the outbox as %s: once the "
			"cause is fixed `letterlock outbox flush` sends "
			"what is left; `letterlock outbox drop %s` gives "
			"it up",
			id, id);
	else if (rc != 0)
		say_err(0,
			"the message stays in the outbox as %s "
			"(`letterlock outbox list`)",
			id);
	return rc;
}

int cmd_send(struct cli *cli, int argc, char **argv)
{
	struct send s = { .cli = cli };
	int rc;

	if (cli_wants_help(argc, argv)) {
		fputs(send_usage, stdout);
		return EXIT_OK;
	}
	rc = parse_args(&s, argc, argv);
	if (rc == 0) {
		rc = cli_read_file(&s.msg, &s.len, NULL, LL_MSG_MAX_SIZE);
		if (rc < 0)
			rc = rc == -2 ? EX_DATAERR : EX_IOERR;
	}
	if (rc == 0)
		rc = send_message(&s);
	send_free(&s);
	return rc;
}

void send_reset(struct send *s)
{
	ll_sealed_free(&s->sealed);
	ll_strv_free(&s->from);
	ll_strv_free(&s->tocc);
	ll_strv_free(&s->bcc);
	addrs_free(&s->env);
	addrs_free(&s->hidden);
	free(s->msg);
	s->msg = NULL;
	s->len = 0;
	s->envfrom = NULL;
	s->key = NULL;
	s->id[0] = '\0';
	/* a failed session stopped the last message's copies; the next
	 * message tries again (curl reconnects when the connection is
	 * gone) */
	s->sub.stopped = 0;
}

void send_free(struct send *s)
{
	send_reset(s);
	ll_ctx_free(&s->ctx);
	ll_keystore_close(&s->ks);
	submit_end(&s->sub);
	s->sub_open = 0;
	cli_conf_free(&s->conf);
}
