/*
 * cmd_init.c - letterlockd init: a new CA directory.
 *
 *   DIR/                 0700
 *   DIR/keys/NAME.key    0600, PKCS#8 PEM, unencrypted
 *   DIR/certs/NAME.pem   the certificates, PEM
 *   DIR/letterlockd.conf written last; its presence means "initialised"
 *
 * for NAME in root, smime-ca, tsa-ca, ocsp (ca.h), and with --mail-from
 * also mail: the CA's own mailbox certificate (signing only, issued by
 * the S/MIME CA like any other; certs/mail.pem holds the chain up to
 * the root), which signs the RFC 8823 challenge mails.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "service.h"

static const char init_usage[] =
	"usage: letterlockd init --dir DIR [--name NAME] [--base-url URL]\n"
	"                        [--country CC] [--listen HOST:PORT]\n"
	"                        [--mail-from ADDR --smtp-url URL\n"
	"                         --imap-url URL [--mail-user USER]\n"
	"                         [--mail-password-file FILE]\n"
	"                         [--mail-ca-file FILE]]\n"
	"                        [--resolver-conf FILE]\n"
	"                        [--caa-identity DOMAIN]\n"
	"\n"
	"Create a new certificate authority in DIR (made 0700 if missing):\n"
	"a root CA (EC P-384, 20 years), the S/MIME issuing CA and a\n"
	"time-stamping CA under it (EC P-256, 10 years), and an OCSP\n"
	"responder certificate under the S/MIME CA (EC P-256, 1 year).\n"
	"Keys go to DIR/keys (0600, unencrypted PKCS#8), certificates to\n"
	"DIR/certs, settings to DIR/letterlockd.conf.  An existing\n"
	"letterlockd.conf is never overwritten.\n"
	"\n"
	"  --name NAME      organization in the CA names (default\n"
	"                   \"letterlock\"; at most 40 characters)\n"
	"  --base-url URL   http URL the service will be reached at, used\n"
	"                   in the CRL and AIA URLs of every certificate\n"
	"                   (default http://127.0.0.1:8080)\n"
	"  --country CC     ISO 3166-1 country of the CA (default XX)\n"
	"  --listen HOST:PORT  where `letterlockd run` serves HTTP\n"
	"                   (default 127.0.0.1:8080; [v6]:PORT for IPv6)\n"
	"\n"
	"Email validation (RFC 8823): --mail-from needs --smtp-url and\n"
	"--imap-url; the other options of this group need --mail-from.\n"
	"  --mail-from ADDR the CA's own mailbox: challenge mails come from\n"
	"                   it, replies go to it.  Also issues its S/MIME\n"
	"                   certificate (EC P-256, signing only) under the\n"
	"                   S/MIME CA: DIR/keys/mail.key, DIR/certs/mail.pem\n"
	"  --smtp-url URL   smtp:// or smtps:// server that sends them\n"
	"  --imap-url URL   imap:// or imaps:// mailbox the replies arrive\n"
	"                   in, e.g. imaps://mail.example.test/INBOX\n"
	"  --mail-user USER login at both (default: ADDR)\n"
	"  --mail-password-file FILE  its password (absolute path)\n"
	"  --mail-ca-file FILE  trust anchors for their TLS (absolute path;\n"
	"                   default: the system's)\n"
	"\n"
	"  --resolver-conf FILE  unbound configuration for DNS lookups\n"
	"                   (DKIM keys, CAA; absolute path; default: the\n"
	"                   system resolver)\n"
	"  --caa-identity DOMAIN  the issuer domain CAA issuemail records\n"
	"                   must name to let this CA issue\n";

#define DEFAULT_NAME "letterlock"
#define DEFAULT_BASE "http://127.0.0.1:8080"

struct init_args {
	const char *dir;
	const char *name;
	const char *base;
	const char *country;
	const char *listen;
	const char *mail_from;
	const char *smtp_url;
	const char *imap_url;
	const char *mail_user;
	const char *mail_password_file;
	const char *mail_ca_file;
	const char *resolver_conf;
	const char *caa_identity;
};

/* What letterlockd.conf(5) can hold: inih would cut a value at " ;"
 * or "#" and strip outer spaces, and a line must stay under 200. */
static int conf_value_ok(const char *opt, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > LLD_URL_MAX || v[0] == ' ' || v[n - 1] == ' ' ||
	    strpbrk(v, ";#") != NULL) {
		fprintf(stderr,
			LLD_PROG " init: %s: 1 to %d characters without ';' "
				 "or '#' and not beginning or ending with a "
				 "space\n",
			opt, LLD_URL_MAX);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			fprintf(stderr,
				LLD_PROG " init: %s has a control "
					 "character\n",
				opt);
			return 0;
		}
	return 1;
}

static int path_ok(const char *opt, const char *v)
{
	if (!conf_value_ok(opt, v))
		return 0;
	if (v[0] != '/') {
		fprintf(stderr,
			LLD_PROG " init: %s %s: an absolute path, please "
				 "(the service may run elsewhere)\n",
			opt, v);
		return 0;
	}
	return 1;
}

/* "smtp://HOST..." or "smtps://HOST...". */
static int mail_url_ok(const char *opt, const char *v, const char *scheme)
{
	size_t n = strlen(scheme);
	char s[16];

	snprintf(s, sizeof(s), "%ss://", scheme);
	if (conf_value_ok(opt, v) && strchr(v, ' ') == NULL &&
	    ((strncmp(v, scheme, n) == 0 && strncmp(v + n, "://", 3) == 0 &&
	      v[n + 3] != '\0' && v[n + 3] != '/') ||
	     (strncmp(v, s, n + 4) == 0 && v[n + 4] != '\0' && v[n + 4] != '/')))
		return 1;
	fprintf(stderr, LLD_PROG " init: %s must be a %s:// or %ss:// URL\n",
		opt, scheme, scheme);
	return 0;
}

/* HOST:PORT or [V6]:PORT, PORT 1..65535. */
static int listen_ok(const char *v)
{
	const char *colon = strrchr(v, ':');
	size_t hostlen = colon ? (size_t)(colon - v) : 0;
	char *end = NULL;
	long port;

	if (!conf_value_ok("--listen", v) || strchr(v, ' ') != NULL ||
	    colon == NULL || hostlen == 0)
		goto bad;
	if (v[0] == '[' ? v[hostlen - 1] != ']' || hostlen < 3 :
			  memchr(v, ':', hostlen) != NULL)
		goto bad;
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
		goto bad;
	return 1;
bad:
	fprintf(stderr,
		LLD_PROG " init: --listen must be HOST:PORT or [V6]:PORT\n");
	return 0;
}

/* A domain name in lower-case ASCII (A-labels). */
static int domain_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 253 || v[0] == '.' || v[n - 1] == '.' ||
	    strstr(v, "..") != NULL)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '-' ||
		      v[i] == '.'))
			goto bad;
	return 1;
bad:
	fprintf(stderr,
		LLD_PROG " init: --caa-identity must be a domain name in "
			 "lower-case ASCII (A-labels)\n");
	return 0;
}

static int check_mail_args(const struct init_args *a)
{
	if (a->mail_from == NULL) {
		if (a->smtp_url || a->imap_url || a->mail_user ||
		    a->mail_password_file || a->mail_ca_file) {
			fprintf(stderr,
				LLD_PROG " init: the --mail-* and --smtp-url, "
					 "--imap-url options need "
					 "--mail-from\n");
			return -1;
		}
		return 0;
	}
	if (a->smtp_url == NULL || a->imap_url == NULL) {
		fprintf(stderr, LLD_PROG " init: --mail-from needs --smtp-url "
					 "and --imap-url\n");
		return -1;
	}
	if (!conf_value_ok("--mail-from", a->mail_from) ||
	    !mail_url_ok("--smtp-url", a->smtp_url, "smtp") ||
	    !mail_url_ok("--imap-url", a->imap_url, "imap") ||
	    (a->mail_user && !conf_value_ok("--mail-user", a->mail_user)) ||
	    (a->mail_password_file &&
	     !path_ok("--mail-password-file", a->mail_password_file)) ||
	    (a->mail_ca_file && !path_ok("--mail-ca-file", a->mail_ca_file)))
		return -1;
	return 0;
}

static int parse_args(struct init_args *a, int argc, char **argv)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
		{ "--dir", offsetof(struct init_args, dir) },
		{ "--name", offsetof(struct init_args, name) },
		{ "--base-url", offsetof(struct init_args, base) },
		{ "--country", offsetof(struct init_args, country) },
		{ "--listen", offsetof(struct init_args, listen) },
		{ "--mail-from", offsetof(struct init_args, mail_from) },
		{ "--smtp-url", offsetof(struct init_args, smtp_url) },
		{ "--imap-url", offsetof(struct init_args, imap_url) },
		{ "--mail-user", offsetof(struct init_args, mail_user) },
		{ "--mail-password-file",
		  offsetof(struct init_args, mail_password_file) },
		{ "--mail-ca-file", offsetof(struct init_args, mail_ca_file) },
		{ "--resolver-conf",
		  offsetof(struct init_args, resolver_conf) },
		{ "--caa-identity", offsetof(struct init_args, caa_identity) },
	};

	memset(a, 0, sizeof(*a));
	a->name = DEFAULT_NAME;
	a->base = DEFAULT_BASE;
	a->country = "XX";
	for (int i = 1; i < argc; i++) {
		int r = 0;

		for (size_t k = 0; r == 0 && k < sizeof(opts) / sizeof(opts[0]);
		     k++)
			r = lld_arg(argc, argv, &i, opts[k].name,
				    (const char **)((char *)a + opts[k].off));
		if (r < 0)
			return -1;
		if (r == 0) {
			fprintf(stderr, LLD_PROG " init: unknown argument %s\n",
				argv[i]);
			return -1;
		}
	}
	if (a->dir == NULL || *a->dir == '\0') {
		fprintf(stderr, LLD_PROG " init: --dir is required\n");
		return -1;
	}
	/* what letterlockd.conf(5) can hold: inih would cut a value at
	 * " ;" or "#" and strip outer spaces */
	if (strpbrk(a->name, ";#") != NULL || a->name[0] == ' ' ||
	    (*a->name != '\0' && a->name[strlen(a->name) - 1] == ' ')) {
		fprintf(stderr,
			LLD_PROG " init: --name must not contain ';' "
				 "or '#' nor begin or end with a space\n");
		return -1;
	}
	if (strlen(a->base) > LLD_URL_MAX - 20 || !lld_http_url_ok(a->base)) {
		fprintf(stderr,
			LLD_PROG " init: --base-url must be an http URL of at "
				 "most %d characters (CRL and AIA URLs must be "
				 "http: S/MIME BR 7.1.2.3 b, c)\n",
			LLD_URL_MAX - 20);
		return -1;
	}
	if ((a->listen && !listen_ok(a->listen)) || check_mail_args(a) < 0 ||
	    (a->resolver_conf &&
	     !path_ok("--resolver-conf", a->resolver_conf)) ||
	    (a->caa_identity && !domain_ok(a->caa_identity)))
		return -1;
	return 0;
}

/* Write the key and certificate of ROLE into DIR/keys and DIR/certs. */
static int write_role(const struct ll_ca_hierarchy *h, enum ll_ca_role role,
		      const char *keys, const char *certs)
{
	char path[LLD_PATH_MAX], file[64];
	struct ll_error err = { 0 };
	char *key = NULL, *pem = NULL;
	size_t keylen = 0;
	int rc = -1;

	if (ll_ca_hierarchy_key_pem(&key, &keylen, h, role, &err) < 0 ||
	    ll_cert_pem(&pem, ll_ca_hierarchy_cert(h, role), &err) < 0) {
		lld_report("encoding the hierarchy", &err);
		goto out;
	}
	snprintf(file, sizeof(file), "%s.key", ll_ca_role_name(role));
	if (lld_path(path, sizeof(path), keys, file) < 0 ||
	    lld_write_file(path, key, keylen, 0600, 1) < 0)
		goto out;
	snprintf(file, sizeof(file), "%s.pem", ll_ca_role_name(role));
	if (lld_path(path, sizeof(path), certs, file) < 0 ||
	    lld_write_file(path, pem, strlen(pem), 0644, 0) < 0)
		goto out;
	/* the root's first CRL, while its key is here (cmd_rootcrl.c) */
	if (role == LL_CA_ROOT &&
	    lld_write_root_crl(certs, pem, strlen(pem), key, keylen, 365) < 0)
		goto out;
	rc = 0;
out:
	ll_wipe_free(key, keylen);
	free(pem);
	return rc;
}

/* The CA's own mail identity, made before anything is written. */
struct mail_id {
	struct ll_cert *cert;
	char *key; /* PKCS#8 PEM; wiped */
	size_t keylen;
	char *chain; /* cert, S/MIME CA, root: PEM */
	char addr[LLD_URL_MAX + 1]; /* canonical (A-label domain) */
};

static void mail_id_free(struct mail_id *m)
{
	ll_cert_free(&m->cert);
	ll_wipe_free(m->key, m->keylen);
	free(m->chain);
	memset(m, 0, sizeof(*m));
}

static int is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* A PKCS#10 request (DER) by KEY for ADDR alone: an rfc822Name, or an
 * SmtpUTF8Mailbox (RFC 9598) when ADDR is not ASCII. */
static int mail_csr(unsigned char **der, int *derlen, EVP_PKEY *key,
		    const char *addr)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_UTF8STRING *utf8 = NULL;
	ASN1_TYPE *t = NULL;
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	if (req == NULL || exts == NULL || gens == NULL || g == NULL)
		goto out;
	if (is_ascii(addr)) {
		ia5 = ASN1_IA5STRING_new();
		if (ia5 == NULL || !ASN1_STRING_set(ia5, addr, -1))
			goto out;
		GENERAL_NAME_set0_value(g, GEN_EMAIL, ia5);
		ia5 = NULL;
	} else {
		utf8 = ASN1_UTF8STRING_new();
		t = ASN1_TYPE_new();
		if (utf8 == NULL || t == NULL ||
		    !ASN1_STRING_set(utf8, addr, -1))
			goto out;
		ASN1_TYPE_set(t, V_ASN1_UTF8STRING, utf8);
		utf8 = NULL;
		if (!GENERAL_NAME_set0_othername(
			    g, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), t))
			goto out;
		t = NULL;
	}
	if (!sk_GENERAL_NAME_push(gens, g))
		goto out;
	g = NULL;
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	if (ext == NULL || !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL;
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_add_extensions(req, exts) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	*derlen = i2d_X509_REQ(req, der);
	rc = *derlen > 0 ? 0 : -1;
out:
	X509_EXTENSION_free(ext);
	ASN1_TYPE_free(t);
	ASN1_UTF8STRING_free(utf8);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return rc;
}

/* KEY as unencrypted PKCS#8 PEM into m->key. */
static int mail_key_pem(struct mail_id *m, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *p = NULL;
	long n;
	int rc = -1;

	if (b == NULL ||
	    !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(b, &p);
	if (n <= 0)
		goto out;
	m->key = malloc((size_t)n + 1);
	if (m->key == NULL)
		goto out;
	memcpy(m->key, p, (size_t)n);
	m->key[n] = '\0';
	m->keylen = (size_t)n;
	rc = 0;
out:
	BIO_free(b); /* secure memory, cleared */
	return rc;
}

/* The chain PEM: the mail certificate, the S/MIME CA, the root. */
static int mail_chain(struct mail_id *m, const struct ll_ca_hierarchy *h,
		      struct ll_error *err)
{
	const struct ll_cert *c[3] = { m->cert,
				       ll_ca_hierarchy_cert(h, LL_CA_SMIME),
				       ll_ca_hierarchy_cert(h, LL_CA_ROOT) };
	char *pem[3] = { NULL, NULL, NULL };
	size_t n = 0;
	int rc = 0;

	for (int i = 0; i < 3 && rc == 0; i++) {
		rc = ll_cert_pem(&pem[i], c[i], err);
		if (rc == 0)
			n += strlen(pem[i]);
	}
	if (rc == 0) {
		m->chain = malloc(n + 1);
		if (m->chain == NULL)
			rc = LL_ENOMEM;
	}
	if (rc == 0) {
		m->chain[0] = '\0';
		for (int i = 0; i < 3; i++)
			strcat(m->chain, pem[i]);
	}
	for (int i = 0; i < 3; i++)
		free(pem[i]);
	return rc;
}

/*
 * The certificate of the CA's mailbox ADDR: a new EC P-256 key, its
 * request, checked and issued by the S/MIME CA of H (signing only: the
 * key signs the challenge mails and nothing is encrypted to it).
 * Returns an exit status.
 */
static int make_mail_id(struct mail_id *m, const struct ll_ca_hierarchy *h,
			const struct lld_conf *conf, const char *addr)
{
	struct ll_ca_options co = LL_CA_OPTIONS_INIT;
	struct ll_ca_issue_options io = LL_CA_ISSUE_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct ll_ca *ca = NULL;
	struct ll_ca_csr *csr = NULL;
	EVP_PKEY *key = NULL;
	char *cakey = NULL, *cacert = NULL;
	unsigned char *der = NULL;
	size_t cakeylen = 0;
	int derlen = 0, rc = LLD_EXIT_FAIL;

	co.crl_url = conf->crl_url;
	co.ocsp_url = conf->ocsp_url;
	co.ca_issuers_url = conf->ca_issuers_url;
	co.default_days = conf->validity_days;
	if (ll_ca_hierarchy_key_pem(&cakey, &cakeylen, h, LL_CA_SMIME, &err) <
		    0 ||
	    ll_cert_pem(&cacert, ll_ca_hierarchy_cert(h, LL_CA_SMIME), &err) <
		    0 ||
	    ll_ca_new(&ca, cacert, strlen(cacert), cakey, cakeylen, &co, &err) <
		    0) {
		lld_report("the S/MIME CA", &err);
		goto out;
	}
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key == NULL || mail_csr(&der, &derlen, key, addr) < 0) {
		fprintf(stderr, LLD_PROG " init: cannot make the mail key "
					 "and its request\n");
		goto out;
	}
	if (ll_ca_csr_parse(&csr, der, (size_t)derlen, addr, &err) < 0) {
		fprintf(stderr, LLD_PROG " init: --mail-from %s: %s\n", addr,
			err.message);
		rc = err.code == LL_EINVAL ? LLD_EXIT_USAGE : LLD_EXIT_FAIL;
		goto out;
	}
	if (strlen(ll_ca_csr_email(csr)) > LLD_URL_MAX) {
		fprintf(stderr,
			LLD_PROG " init: --mail-from: at most %d "
				 "octets\n",
			LLD_URL_MAX);
		rc = LLD_EXIT_USAGE;
		goto out;
	}
	io.usage = LL_CA_USAGE_SIGN;
	if (ll_ca_issue(&m->cert, ca, csr, &io, &err) < 0) {
		lld_report("the mail certificate", &err);
		goto out;
	}
	if (mail_key_pem(m, key) < 0 || mail_chain(m, h, &err) < 0) {
		fprintf(stderr, LLD_PROG " init: cannot encode the mail "
					 "identity\n");
		goto out;
	}
	snprintf(m->addr, sizeof(m->addr), "%s", ll_ca_csr_email(csr));
	rc = LLD_EXIT_OK;
out:
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	ll_ca_csr_free(&csr);
	ll_ca_free(&ca);
	free(cacert);
	ll_wipe_free(cakey, cakeylen);
	return rc;
}

static int write_mail_id(const struct mail_id *m, const char *keys,
			 const char *certs)
{
	char path[LLD_PATH_MAX];

	if (lld_path(path, sizeof(path), keys, "mail.key") < 0 ||
	    lld_write_file(path, m->key, m->keylen, 0600, 1) < 0 ||
	    lld_path(path, sizeof(path), certs, "mail.pem") < 0 ||
	    lld_write_file(path, m->chain, strlen(m->chain), 0644, 0) < 0)
		return -1;
	return 0;
}

static void set_value(char *dst, size_t cap, const char *v)
{
	if (v != NULL)
		snprintf(dst, cap, "%s", v);
}

/* The settings of A beyond the CA's into C. */
static void conf_options(struct lld_conf *c, const struct init_args *a,
			 const struct mail_id *m)
{
#define SET(field, v) set_value(c->field, sizeof(c->field), (v))
	SET(listen, a->listen);
	if (a->mail_from != NULL) {
		SET(mail_from, m->addr);
		SET(smtp_url, a->smtp_url);
		SET(imap_url, a->imap_url);
		SET(mail_user, a->mail_user ? a->mail_user : m->addr);
		SET(mail_password_file, a->mail_password_file);
		SET(mail_ca_file, a->mail_ca_file);
	}
	SET(resolver_conf, a->resolver_conf);
	SET(caa_identity, a->caa_identity);
#undef SET
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int lld_cmd_init(int argc, char **argv)
{
	struct ll_ca_hierarchy_options opt = LL_CA_HIERARCHY_OPTIONS_INIT;
	struct ll_ca_hierarchy *h = NULL;
	struct ll_error err = { 0 };
	struct init_args a;
	struct lld_conf conf;
	struct mail_id mail = { 0 };
	char conf_path[LLD_PATH_MAX], keys[LLD_PATH_MAX], certs[LLD_PATH_MAX];
	char *text = NULL;
	size_t textlen = 0;
	int rc = LLD_EXIT_USAGE;

	if (lld_wants_help(argc, argv)) {
		fputs(init_usage, stdout);
		return LLD_EXIT_OK;
	}
	if (parse_args(&a, argc, argv) < 0) {
		fputs(init_usage, stderr);
		goto out;
	}
	rc = LLD_EXIT_STATE;
	if (lld_path(conf_path, sizeof(conf_path), a.dir, LLD_CONF_NAME) < 0 ||
	    lld_path(keys, sizeof(keys), a.dir, "keys") < 0 ||
	    lld_path(certs, sizeof(certs), a.dir, "certs") < 0)
		goto out;
	if (exists(conf_path)) {
		fprintf(stderr,
			LLD_PROG " init: %s exists: %s is already a CA; "
				 "refusing to overwrite it\n",
			conf_path, a.dir);
		goto out;
	}
	lld_conf_defaults(&conf, a.name, a.base, a.dir);
	if (strlen(conf.store_path) > LLD_URL_MAX) {
		fprintf(stderr,
			LLD_PROG " init: %s: path too long for "
				 "letterlockd.conf\n",
			a.dir);
		goto out;
	}
	opt.name = a.name;
	opt.country = a.country;
	opt.base_url = a.base;
	rc = LLD_EXIT_USAGE;
	if (ll_ca_hierarchy_create(&h, &opt, &err) < 0) {
		lld_report("init", &err);
		if (err.code != LL_EINVAL)
			rc = LLD_EXIT_FAIL;
		goto out;
	}
	if (a.mail_from != NULL) {
		rc = make_mail_id(&mail, h, &conf, a.mail_from);
		if (rc != LLD_EXIT_OK)
			goto out;
	}
	conf_options(&conf, &a, &mail);
	rc = LLD_EXIT_FAIL;
	/* the keyholder takes these keys over: it alone reads DIR/keys
	 * while the service runs, and the root key belongs offline */
	if (lld_mkdir_parents(a.dir, 0700) < 0 || lld_mkdir(keys, 0700) < 0 ||
	    lld_mkdir(certs, 0755) < 0)
		goto out;
	for (int r = 0; r < LL_CA_NROLES; r++)
		if (write_role(h, (enum ll_ca_role)r, keys, certs) < 0)
			goto out;
	if (mail.cert != NULL && write_mail_id(&mail, keys, certs) < 0)
		goto out;
	if (lld_sync_dir(keys) < 0 || lld_sync_dir(certs) < 0 ||
	    lld_conf_format(&text, &textlen, &conf) < 0 ||
	    lld_write_file(conf_path, text, textlen, 0644, 1) < 0 ||
	    lld_sync_dir(a.dir) < 0)
		goto out;
	printf("initialised %s\n", a.dir);
	for (int r = 0; r < LL_CA_NROLES; r++) {
		struct ll_cert *c = ll_ca_hierarchy_cert(h, (enum ll_ca_role)r);

		printf("  %-9s %s\n            sha256 %s\n",
		       ll_ca_role_name((enum ll_ca_role)r), ll_cert_subject(c),
		       ll_cert_fingerprint(c));
	}
	if (mail.cert != NULL)
		printf("  %-9s %s\n            sha256 %s\n", "mail",
		       ll_cert_subject(mail.cert),
		       ll_cert_fingerprint(mail.cert));
	printf("trust anchor: %s/root.pem\n", certs);
	rc = LLD_EXIT_OK;
out:
	mail_id_free(&mail);
	free(text);
	ll_ca_hierarchy_free(&h);
	return rc;
}
