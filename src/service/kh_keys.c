/*
 * kh_keys.c - what a keyholder loads at start from DIR: the CA's the
 * S/MIME issuing CA, the OCSP responder, the CA's mail identity, and
 * opens its journal; the TSA's the time-stamping unit alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h" /* ll_pkey_read, ll_x509_read */
#include "kh_internal.h"

#define KH_FILE_MAX (64 * 1024) /* a key or certificate file */

/* DIR/NAME (at most KH_FILE_MAX octets) into *out, NUL-terminated; the
 * caller wipes it (ll_wipe_free(*out, *len + 1)). */
static int kh_read(char **out, size_t *len, const char *dir, const char *name,
		   struct ll_error *err)
{
	char path[LLD_PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int fd = -1, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return kh_err(err, LL_EINVAL, "%s: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = kh_err(err, LL_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KH_FILE_MAX) {
		rc = kh_err(err, LL_ETOOBIG,
			    "%s: not a file of at most %d octets", path,
			    KH_FILE_MAX);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = kh_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = kh_err(err, LL_EIO, "%s: %s", path,
				    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL)
		ll_wipe_free(buf, cap);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A certificate file and its key file, read (kh_read). */
struct kh_pair {
	char *cert, *key;
	size_t certlen, keylen;
};

static int pair_read(struct kh_pair *f, const char *dir, const char *cert,
		     const char *key, struct ll_error *err)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = kh_read(&f->cert, &f->certlen, dir, cert, err);
	if (rc == 0)
		rc = kh_read(&f->key, &f->keylen, dir, key, err);
	return rc;
}

/* Free F, the key wiped. */
static void pair_free(struct kh_pair *f)
{
	free(f->cert);
	if (f->key != NULL)
		ll_wipe_free(f->key, f->keylen + 1);
	memset(f, 0, sizeof(*f));
}

static int load_ca(struct keyholder *k, const char *dir, struct ll_error *err)
{
	struct ll_ca_options opt = LL_CA_OPTIONS_INIT;
	struct kh_pair f;
	int rc;

	rc = pair_read(&f, dir, "certs/smime-ca.pem", "keys/smime-ca.key", err);
	if (rc < 0)
		goto out;
	opt.crl_url = k->conf->crl_url;
	opt.ocsp_url = k->conf->ocsp_url;
	opt.ca_issuers_url = k->conf->ca_issuers_url;
	opt.default_days = k->conf->validity_days;
	rc = ll_ca_new(&k->ca, f.cert, f.certlen, f.key, f.keylen, &opt, err);
	if (rc < 0) {
		rc = kh_about(err, rc, dir,
			      "keys/smime-ca.key, certs/smime-ca.pem");
		goto out;
	}
	/* the same files again, for the CRL: ll_ca keeps its key inside */
	k->ca_cert = ll_x509_read(f.cert, f.certlen);
	k->ca_key = ll_pkey_read(f.key, f.keylen);
	if (k->ca_cert == NULL || k->ca_key == NULL ||
	    X509_get0_subject_key_id(k->ca_cert) == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/keys/smime-ca.key, certs/smime-ca.pem: "
				 "unreadable, or no subjectKeyIdentifier",
				 dir);
		goto out;
	}
out:
	pair_free(&f);
	return rc;
}

static int load_ocsp(struct keyholder *k, const char *dir, struct ll_error *err)
{
	struct kh_pair f;
	int rc;

	rc = pair_read(&f, dir, "certs/ocsp.pem", "keys/ocsp.key", err);
	if (rc < 0)
		goto out;
	k->ocsp_cert = ll_x509_read(f.cert, f.certlen);
	if (k->ocsp_cert == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/certs/ocsp.pem: not a certificate", dir);
		goto out;
	}
	k->ocsp_key = ll_pkey_read(f.key, f.keylen);
	if (k->ocsp_key == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/keys/ocsp.key: not an unencrypted "
				 "private key",
				 dir);
		goto out;
	}
	if (X509_check_private_key(k->ocsp_cert, k->ocsp_key) != 1) {
		rc = kh_err_ossl(err, LL_EPOLICY,
				 "%s/keys/ocsp.key does not match "
				 "certs/ocsp.pem",
				 dir);
		goto out;
	}
	if (X509_check_issued(k->ca_cert, k->ocsp_cert) != X509_V_OK ||
	    X509_verify(k->ocsp_cert, X509_get0_pubkey(k->ca_cert)) != 1 ||
	    !(X509_get_extended_key_usage(k->ocsp_cert) & XKU_OCSP_SIGN)) {
		rc = kh_err_ossl(err, LL_EPOLICY,
				 "%s/certs/ocsp.pem: not an OCSP responder "
				 "certificate of the S/MIME CA",
				 dir);
		goto out;
	}
out:
	pair_free(&f);
	return rc;
}

static int load_mail(struct keyholder *k, const char *dir, struct ll_error *err)
{
	struct ll_identity *id = NULL;
	struct kh_pair f;
	int rc;

	rc = pair_read(&f, dir, "certs/mail.pem", "keys/mail.key", err);
	if (rc < 0)
		goto out;
	rc = ll_identity_parse_pem(&id, f.key, f.keylen, f.cert, f.certlen,
				   err);
	if (rc < 0) {
		rc = kh_about(err, rc, dir, "keys/mail.key, certs/mail.pem");
		goto out;
	}
	if (!ll_cert_matches_email(ll_identity_cert(id), k->conf->mail_from)) {
		rc = kh_err(err, LL_EPOLICY,
			    "%s/certs/mail.pem does not name [mail] from %s",
			    dir, k->conf->mail_from);
		goto out;
	}
	rc = ll_ctx_new(&k->mail, err);
	if (rc == 0)
		rc = ll_ctx_add_identity(k->mail, &id, err);
	if (rc < 0)
		goto out;
	if (ll_ctx_identity_for(k->mail, k->conf->mail_from) == NULL) {
		rc = kh_err(err, LL_EPOLICY,
			    "%s/certs/mail.pem is not valid now", dir);
		goto out;
	}
out:
	ll_identity_free(&id);
	pair_free(&f);
	return rc;
}

/* The time-stamping unit: its key, its certificate (EKU timeStamping
 * alone and critical, RFC 3161 2.3) and the CA that issued it. */
static int load_tsa(struct keyholder *k, const char *dir, struct ll_error *err)
{
	X509 *cert = NULL, *ca = NULL;
	EVP_PKEY *key = NULL;
	char *ca_pem = NULL;
	size_t ca_len = 0;
	struct kh_pair f;
	int rc, eku;

	rc = pair_read(&f, dir, "certs/tsa.pem", "keys/tsa.key", err);
	if (rc == 0)
		rc = kh_read(&ca_pem, &ca_len, dir, "certs/tsa-ca.pem", err);
	if (rc < 0)
		goto out;
	cert = ll_x509_read(f.cert, f.certlen);
	ca = ll_x509_read(ca_pem, ca_len);
	key = ll_pkey_read(f.key, f.keylen);
	if (cert == NULL || ca == NULL || key == NULL) {
		rc = kh_err_ossl(err, LL_EPARSE,
				 "%s/keys/tsa.key, certs/tsa.pem, "
				 "certs/tsa-ca.pem: unreadable (a CA "
				 "directory from before the TSA: run "
				 "`letterlockd init` anew)",
				 dir);
		goto out;
	}
	eku = X509_get_ext_by_NID(cert, NID_ext_key_usage, -1);
	if (X509_check_private_key(cert, key) != 1 ||
	    X509_check_issued(ca, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca)) != 1 ||
	    X509_get_extended_key_usage(cert) != XKU_TIMESTAMP || eku < 0 ||
	    !X509_EXTENSION_get_critical(X509_get_ext(cert, eku))) {
		rc = kh_err_ossl(err, LL_EPOLICY,
				 "%s/certs/tsa.pem: not a time-stamping "
				 "unit of certs/tsa-ca.pem with "
				 "keys/tsa.key (EKU timeStamping alone, "
				 "critical)",
				 dir);
		goto out;
	}
	rc = kh_tsa_new(&k->tsa, cert, ca, key, k->conf->tsa_policy, err);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	free(ca_pem);
	pair_free(&f);
	return rc;
}

int kh_load(struct keyholder *k, const char *dir, struct ll_error *err)
{
	int rc;

	if (k->role == LLD_KH_TSA)
		return load_tsa(k, dir, err);
	rc = load_ca(k, dir, err);

	if (rc == 0)
		rc = load_ocsp(k, dir, err);
	if (rc == 0 && k->conf->mail_from[0] != '\0')
		rc = load_mail(k, dir, err);
	if (rc == 0)
		rc = kh_journal_open(k, dir, err);
	return rc;
}

void kh_unload(struct keyholder *k)
{
	kh_tsa_free(&k->tsa);
	sqlite3_close(k->db);
	ll_ctx_free(&k->mail);
	EVP_PKEY_free(k->ocsp_key);
	X509_free(k->ocsp_cert);
	EVP_PKEY_free(k->ca_key);
	X509_free(k->ca_cert);
	ll_ca_free(&k->ca);
	memset(k, 0, sizeof(*k));
}
