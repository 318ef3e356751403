/*
 * bridge_secret.c - the per-install secrets of the bridge, made on
 * first use in HOME/bridge/: `password` (what mail clients log in
 * with) and `tls.key` + `tls.pem` (the self-signed certificate of the
 * local listeners' STARTTLS).  Files are written whole (fsync, rename)
 * with mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "bridge.h"

#define CERT_DAYS 3650

int bridge_path(char *out, const char *home, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/bridge%s%s", home,
			 name[0] ? "/" : "", name);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

/* HOME/bridge, mode 0700. */
static int make_dir(const char *home)
{
	char path[PATH_MAX];

	if (bridge_path(path, home, "") < 0)
		return -1;
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		bridge_log("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int bridge_password(char pw[BRIDGE_PASSWORD_LEN + 1], const char *home)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789";
	char path[PATH_MAX];
	unsigned char r;
	size_t n = 0;
	int rc;

	if (make_dir(home) < 0 || bridge_path(path, home, "password") < 0)
		return -1;
	if (access(path, F_OK) == 0) {
		rc = cli_read_password(pw, BRIDGE_PASSWORD_LEN + 1, path);
		if (rc == 0 && strlen(pw) == BRIDGE_PASSWORD_LEN)
			return 0;
		bridge_log("%s: not a bridge password (remove it to make a "
			   "new one)",
			   path);
		return -1;
	}
	while (n < BRIDGE_PASSWORD_LEN) {
		if (RAND_bytes(&r, 1) != 1)
			return -1;
		if (r < 248) /* 248 = 4 * 62: no bias */
			pw[n++] = abc[r % 62];
	}
	pw[n] = '\0';
	umask(077);
	return cli_write_file(path, pw, n);
}

/* A new EC P-256 key and its self-signed certificate. */
static int make_cert(EVP_PKEY **pkey, X509 **cert)
{
	X509_NAME *name = NULL;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int rc = -1;
	static const struct {
		int nid;
		const char *value;
	} exts[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "serverAuth" },
		{ NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost" },
	};

	*pkey = EVP_EC_gen("P-256");
	*cert = X509_new();
	name = X509_NAME_new();
	if (*pkey == NULL || *cert == NULL || name == NULL ||
	    RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || !X509_set_version(*cert, X509_VERSION_3) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(*cert)) ||
	    !X509_NAME_add_entry_by_txt(
		    name, "CN", MBSTRING_ASC,
		    (const unsigned char *)"letterlock bridge (127.0.0.1)", -1,
		    -1, 0) ||
	    !X509_set_subject_name(*cert, name) ||
	    !X509_set_issuer_name(*cert, name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(*cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(*cert),
			     (long)CERT_DAYS * 86400) ||
	    !X509_set_pubkey(*cert, *pkey))
		goto out;
	X509V3_set_ctx(&v3, *cert, *cert, NULL, NULL, 0);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid,
					  exts[i].value);
		if (ext == NULL || !X509_add_ext(*cert, ext, -1)) {
			X509_EXTENSION_free(ext);
			goto out;
		}
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(*cert, *pkey, EVP_sha256()) <= 0)
		goto out;
	rc = 0;
out:
	BN_free(bn);
	X509_NAME_free(name);
	return rc;
}

/* PEM of OBJ (a key when KEY, else a certificate) written whole. */
static int write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (mem == NULL)
		return -1;
	if (key != NULL ? PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0,
						   NULL, NULL) :
			  PEM_write_bio_X509(mem, cert)) {
		n = BIO_get_mem_data(mem, &data);
		rc = cli_write_file(path, data, (size_t)n);
	}
	BIO_free_all(mem); /* BIO_s_mem wipes nothing: the key is short-lived
			      in it */
	return rc;
}

SSL_CTX *bridge_tls_ctx(const char *home, char fpr[96])
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	SSL_CTX *ctx = NULL;

	if (make_dir(home) < 0 || bridge_path(kpath, home, "tls.key") < 0 ||
	    bridge_path(cpath, home, "tls.pem") < 0)
		return NULL;
	if (access(kpath, F_OK) != 0 || access(cpath, F_OK) != 0) {
		umask(077);
		if (make_cert(&pkey, &cert) < 0 ||
		    write_pem(kpath, pkey, NULL) < 0 ||
		    write_pem(cpath, NULL, cert) < 0) {
			bridge_log("making the TLS certificate failed");
			goto fail;
		}
		bridge_log("made a TLS certificate for 127.0.0.1: %s", cpath);
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cpath) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, kpath, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		bridge_log("%s, %s: cannot be used (remove both to make new "
			   "ones)",
			   kpath, cpath);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	fpr[0] = '\0';
	if (X509_digest(SSL_CTX_get0_certificate(ctx), EVP_sha256(), md,
			&mdlen) == 1)
		for (unsigned int i = 0; i < mdlen && i < 32; i++)
			snprintf(fpr + 3 * i, 4, "%02X%s", md[i],
				 i + 1 < mdlen ? ":" : "");
	EVP_PKEY_free(pkey);
	X509_free(cert);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	return NULL;
}
