/*
 * cmd_run.c - letterlockd run: the service.
 *
 * Start-up order matters: the keyholders are forked first (before any
 * thread exists and before anything listens; one for the
 * pipelined issuance of finalize, one for everything else), then the store opens,
 * orders a stopped front left "processing" are finished (idempotently:
 * the keyholder returns the certificate it may already have signed),
 * the CRL is made if it is missing or a day old, the mailer thread
 * starts when [mail] is configured, and only then does HTTP listen.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "front.h"
#include "keyholder.h"
#include "mail.h"
#include "nonce.h"

static const char run_usage[] =
	"usage: letterlockd run --dir DIR [--listen HOST:PORT]\n"
	"\n"
	"Serve the CA in DIR (made by `letterlockd init`) in the foreground:\n"
	"ACME (RFC 8555) with email validation (RFC 8823) under /acme/, CA\n"
	"certificates under /ca/, the CRL under /crl/, OCSP at /ocsp, the\n"
	"public key directory (PKX) under /pkx/.\n"
	"Settings come from DIR/letterlockd.conf (letterlockd.conf(5));\n"
	"--listen overrides [http] listen.  SIGINT or SIGTERM stop it.\n";

/* DIR/certs/NAME.pem as DER into *der, and its PEM text appended to
 * CHAIN when CHAIN is not NULL. */
static int load_cert(const char *dir, const char *name, unsigned char **der,
		     size_t *len, struct ll_buf *chain)
{
	char path[LLD_PATH_MAX], file[64];
	char *pem = NULL;
	size_t pemlen = 0;
	struct ll_cert *c = NULL;
	struct ll_error err = { 0 };
	int rc = -1;

	snprintf(file, sizeof(file), "certs/%s.pem", name);
	if (lld_path(path, sizeof(path), dir, file) < 0 ||
	    lld_read_file(&pem, &pemlen, path, 1 << 20) < 0)
		goto out;
	if (ll_cert_parse(&c, pem, pemlen, &err) < 0 ||
	    ll_cert_der(der, len, c, &err) < 0) {
		fprintf(stderr, LLD_PROG ": %s: %s\n", path, err.message);
		goto out;
	}
	if (chain != NULL && ll_buf_add(chain, pem, pemlen) < 0)
		goto out;
	rc = 0;
out:
	ll_cert_free(&c);
	free(pem);
	return rc;
}

static int load_certs(struct lld_srv *srv, const char *dir)
{
	struct ll_buf chain = { 0 };
	const unsigned char *p;

	if (load_cert(dir, "smime-ca", &srv->smime_der, &srv->smime_len,
		      &chain) < 0 ||
	    load_cert(dir, "root", &srv->root_der, &srv->root_len, &chain) <
		    0 ||
	    load_cert(dir, "tsa-ca", &srv->tsa_der, &srv->tsa_len, NULL) < 0 ||
	    ll_buf_add(&chain, "", 1) < 0) {
		ll_buf_free(&chain);
		return -1;
	}
	srv->chain_pem = chain.p;
	p = srv->smime_der;
	srv->ocsp_issuer = d2i_X509(NULL, &p, (long)srv->smime_len);
	return srv->ocsp_issuer ? 0 : -1;
}

static void free_srv(struct lld_srv *srv)
{
	lld_mailer_stop(&srv->mailer);
	lld_store_close(&srv->store);
	lld_kh_stop(&srv->kht);
	lld_kh_stop(&srv->khp);
	lld_kh_stop(&srv->kh);
	lld_nonces_free(&srv->nonces);
	lld_pkx_stop(srv);
	free(srv->root_der);
	free(srv->smime_der);
	free(srv->tsa_der);
	free(srv->chain_pem);
	X509_free(srv->ocsp_issuer);
	lld_acme_forget_keys(srv);
}

/* The CRL served must exist and be younger than a day. */
static int crl_ready(struct lld_srv *srv, time_t now)
{
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	time_t when = 0;
	int rc;

	rc = lld_store_blob_get(srv->store, "crl/smime-ca", &der, &len, &when,
				&err);
	free(der);
	if (rc == 0 && now - when < 86400) {
		srv->crl_made = when;
		return 0;
	}
	if (rc < 0 && rc != LL_ENOTFOUND) {
		lld_report("CRL", &err);
		return -1;
	}
	if (lld_pki_crl_refresh(srv, now, &err) < 0) {
		lld_report("CRL", &err);
		return -1;
	}
	return 0;
}

/* One run per CA directory: hold DIR/run.lock.  The descriptor stays
 * open (and locked) until the process ends. */
static int lock_dir(const char *dir)
{
	char path[LLD_PATH_MAX];
	int fd;

	if (lld_path(path, sizeof(path), dir, "run.lock") < 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, LLD_PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr,
			LLD_PROG ": another letterlockd runs on %s (%s is "
				 "locked)\n",
			dir, path);
		close(fd);
		return -1;
	}
	return fd;
}

int lld_cmd_run(int argc, char **argv)
{
	struct lld_conf conf;
	struct lld_srv srv = { 0 };
	struct ll_error err = { 0 };
	const char *dir = NULL, *listen = NULL;
	char shown[LLD_STORE_SHOWN_MAX];
	int rc = LLD_EXIT_STATE;

	if (lld_wants_help(argc, argv)) {
		fputs(run_usage, stdout);
		return LLD_EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		int r = lld_arg(argc, argv, &i, "--dir", &dir);

		if (r == 0)
			r = lld_arg(argc, argv, &i, "--listen", &listen);
		if (r < 0)
			return LLD_EXIT_USAGE;
		if (r == 0) {
			fprintf(stderr,
				LLD_PROG " run: unknown argument '%s'\n%s",
				argv[i], run_usage);
			return LLD_EXIT_USAGE;
		}
	}
	if (dir == NULL) {
		fputs(run_usage, stderr);
		return LLD_EXIT_USAGE;
	}
	if (lld_conf_load(&conf, dir) < 0)
		return LLD_EXIT_STATE;
	if (listen != NULL) {
		if (strlen(listen) >= sizeof(conf.listen)) {
			fprintf(stderr, LLD_PROG " run: --listen too long\n");
			return LLD_EXIT_USAGE;
		}
		snprintf(conf.listen, sizeof(conf.listen), "%s", listen);
	}
	if (lock_dir(dir) < 0)
		return LLD_EXIT_STATE;
	signal(SIGPIPE, SIG_IGN);
	srv.conf = &conf;
	srv.dir = dir;
	/* fork before any thread or listener exists */
	if (lld_kh_start(&srv.kh, dir, &conf, LLD_KH_CA, &err) < 0) {
		lld_report("keyholder", &err);
		goto out;
	}
	/* more keyholders sign certificates while the front checks the
	 * next requests (keyholder.h: a pipeline has its own) */
	if (lld_kh_start(&srv.khp, dir, &conf, LLD_KH_CA, &err) < 0) {
		lld_report("keyholder", &err);
		goto out;
	}
	/* and time-stamps with the TSA's key, the only one it holds */
	if (lld_kh_start(&srv.kht, dir, &conf, LLD_KH_TSA, &err) < 0) {
		lld_report("TSA keyholder", &err);
		goto out;
	}
	if (load_certs(&srv, dir) < 0)
		goto out;
	if (lld_nonces_new(&srv.nonces, &err) < 0) {
		lld_report("nonces", &err);
		goto out;
	}
	if (lld_store_open(&srv.store, conf.store_path, &err) < 0) {
		lld_store_shown(shown, sizeof(shown), conf.store_path);
		lld_report(shown, &err);
		goto out;
	}
	if (lld_pkx_start(&srv, &err) < 0) {
		lld_report("PKX", &err);
		goto out;
	}
	if (lld_acme_recover(&srv) < 0 || crl_ready(&srv, time(NULL)) < 0) {
		rc = LLD_EXIT_FAIL;
		goto out;
	}
	if (conf.mail_from[0] != '\0' &&
	    lld_mailer_start(&srv.mailer, &conf, srv.kh, &err) < 0) {
		lld_report("mailer", &err);
		goto out;
	}
	if (conf.mail_from[0] == '\0')
		fprintf(stderr,
			LLD_PROG ": no [mail] section: email "
				 "validation is off, orders are refused\n");
	rc = lld_http_run(&srv);
out:
	free_srv(&srv);
	return rc;
}
