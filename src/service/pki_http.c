/*
 * pki_http.c - what relying parties fetch over plain http (the URLs in
 * every certificate, ca.h):
 *
 *   GET  /ca/root.crt /ca/smime-ca.crt /ca/tsa-ca.crt   DER certificates
 *   GET  /crl/smime-ca.crl                              the current CRL
 *   POST /ocsp               application/ocsp-request  (RFC 6960 A.1)
 *   GET  /ocsp/BASE64        the same, request in the URL
 *
 * The front parses the OCSP request (it holds no key) down to one
 * CertID, a serial and a nonce; the keyholder signs the answer.  The
 * CRL is re-signed after every revocation and daily (nextUpdate is a
 * week out, S/MIME BR 4.9.7) and kept in the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "front.h"
#include "keyholder.h"

#define CRL_BLOB "crl/smime-ca"
#define OCSP_REQ_MAX 8192
/* how long an answer without a nonce may be cached by HTTP caches:
 * after a revocation, "good" may still be served that long (PKX's
 * lookups by address are cached as long, [pkx] max_age) */
#define OCSP_MAX_AGE "300"

int lld_pki_crl_refresh(struct lld_srv *srv, time_t now, struct ll_error *err)
{
	struct lld_revoked *list = NULL;
	size_t n = 0, len = 0;
	unsigned char *der = NULL;
	int rc;

	rc = lld_store_revoked(srv->store, now, &list, &n, err);
	if (rc == 0)
		rc = lld_kh_crl(srv->kh, list, n, now, &der, &len, err);
	if (rc == 0)
		rc = lld_store_blob_put(srv->store, CRL_BLOB, der, len, now,
					err);
	if (rc == 0)
		srv->crl_made = now;
	free(der);
	free(list);
	return rc;
}

static int send_der(struct lld_resp *r, const char *ctype, const void *der,
		    size_t len, const char *cache)
{
	lld_resp_set(r, 200, ctype, der, len);
	snprintf(r->cache, sizeof(r->cache), "%s", cache);
	return 0;
}

static int on_crl(struct lld_srv *srv, const struct lld_req *req,
		  struct lld_resp *resp)
{
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	time_t when = 0;

	if (lld_store_blob_get(srv->store, CRL_BLOB, &der, &len, &when, &err) <
	    0) {
		lld_report("CRL", &err);
		lld_resp_set(resp, 503, "text/plain", "no CRL yet\n", 11);
		return 0;
	}
	send_der(resp, "application/pkix-crl", der, len, "public, max-age=600");
	free(der);
	return 0;
}

/* The root's CRL, read at each request: `letterlockd root-crl` replaces
 * the file while the service runs. */
static int on_root_crl(struct lld_srv *srv, struct lld_resp *resp)
{
	char path[LLD_PATH_MAX];
	char *der = NULL;
	size_t len = 0;

	if (lld_path(path, sizeof(path), srv->dir, "certs/root.crl") < 0 ||
	    lld_read_file(&der, &len, path, 1 << 20) < 0) {
		lld_resp_set(resp, 404, "text/plain", "no root CRL\n", 12);
		return 0;
	}
	send_der(resp, "application/pkix-crl", der, len,
		 "public, max-age=3600");
	free(der);
	return 0;
}

/* ---- OCSP ---- */

static int ocsp_status_only(struct lld_resp *r, int status)
{
	OCSP_RESPONSE *o = OCSP_response_create(status, NULL);
	unsigned char *der = NULL;
	int len = o ? i2d_OCSP_RESPONSE(o, &der) : -1;

	if (len > 0)
		send_der(r, "application/ocsp-response", der, (size_t)len,
			 "no-store");
	else
		lld_resp_set(r, 500, "text/plain", "", 0);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(o);
	return 0;
}

/* The nonce of RQ (RFC 8954: an OCTET STRING in the extension value)
 * into NONCE; 0 none, -1 malformed or longer than allowed. */
static int request_nonce(OCSP_REQUEST *rq, unsigned char *nonce, size_t *len)
{
	int idx = OCSP_REQUEST_get_ext_by_NID(rq, NID_id_pkix_OCSP_Nonce, -1);
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *v, *inner;
	const unsigned char *p;

	*len = 0;
	if (idx < 0)
		return 0;
	ext = OCSP_REQUEST_get_ext(rq, idx);
	v = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(v);
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(v));
	if (inner == NULL ||
	    p != ASN1_STRING_get0_data(v) + ASN1_STRING_length(v) ||
	    ASN1_STRING_length(inner) < 1 ||
	    ASN1_STRING_length(inner) > LLD_OCSP_NONCE_MAX) {
		ASN1_OCTET_STRING_free(inner);
		return -1;
	}
	*len = (size_t)ASN1_STRING_length(inner);
	memcpy(nonce, ASN1_STRING_get0_data(inner), *len);
	ASN1_OCTET_STRING_free(inner);
	return 0;
}

static int on_ocsp_der(struct lld_srv *srv, const unsigned char *der,
		       size_t len, time_t now, struct lld_resp *resp)
{
	const unsigned char *p = der;
	OCSP_REQUEST *rq = NULL;
	OCSP_CERTID *ours = NULL;
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *serial = NULL;
	char hex[LLD_SERIAL_MAX + 1];
	struct lld_ocsp_item item = { 0 };
	struct lld_certrow row = { 0 };
	struct ll_error err = { 0 };
	unsigned char nonce[LLD_OCSP_NONCE_MAX], *out = NULL;
	size_t noncelen = 0, outlen = 0;
	int nid, rc;

	if (len > OCSP_REQ_MAX)
		return ocsp_status_only(resp,
					OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	rq = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	if (rq == NULL || p != der + len ||
	    OCSP_request_onereq_count(rq) != 1 ||
	    request_nonce(rq, nonce, &noncelen) < 0) {
		ocsp_status_only(resp, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
		goto out;
	}
	OCSP_id_get0_info(&nh, &md, &kh, &serial,
			  OCSP_onereq_get0_id(OCSP_request_onereq_get0(rq, 0)));
	nid = OBJ_obj2nid(md);
	if (nid != NID_sha1 && nid != NID_sha256) {
		ocsp_status_only(resp, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
		goto out;
	}
	ours = OCSP_cert_id_new(nid == NID_sha1 ? EVP_sha1() : EVP_sha256(),
				X509_get_subject_name(srv->ocsp_issuer),
				X509_get0_pubkey_bitstr(srv->ocsp_issuer),
				serial);
	if (ours == NULL ||
	    OCSP_id_issuer_cmp(ours,
			       OCSP_onereq_get0_id(
				       OCSP_request_onereq_get0(rq, 0))) != 0) {
		/* not our issuer: RFC 6960 2.3 */
		ocsp_status_only(resp, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
		goto out;
	}
	if (lld_serial_hex(hex, serial) < 0) {
		/* zero, negative or over 20 octets (RFC 5280 4.1.2.2) */
		ocsp_status_only(resp, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
		goto out;
	}
	item.sha256 = nid == NID_sha256;
	snprintf(item.serial, sizeof(item.serial), "%s", hex);
	item.reason = -1;
	rc = lld_store_cert_get(srv->store, hex, &row, &err);
	if (rc == LL_ENOTFOUND) {
		item.status = LLD_OCSP_UNKNOWN;
	} else if (rc < 0) {
		lld_report("OCSP", &err);
		ocsp_status_only(resp, OCSP_RESPONSE_STATUS_TRYLATER);
		goto out;
	} else if (row.revoked != 0) {
		item.status = LLD_OCSP_REVOKED;
		item.revoked = row.revoked;
		item.reason = row.reason;
	} else {
		item.status = LLD_OCSP_GOOD;
	}
	rc = lld_kh_ocsp(srv->kh, &item, nonce, noncelen, now, &out, &outlen,
			 &err);
	if (rc < 0) {
		lld_report("OCSP", &err);
		ocsp_status_only(resp, OCSP_RESPONSE_STATUS_INTERNALERROR);
		goto out;
	}
	send_der(resp, "application/ocsp-response", out, outlen,
		 noncelen ? "no-store" : "public, max-age=" OCSP_MAX_AGE);
out:
	free(out);
	lld_certrow_clear(&row);
	OCSP_CERTID_free(ours);
	OCSP_REQUEST_free(rq);
	return 0;
}

int lld_pki_handle(struct lld_srv *srv, const struct lld_req *req,
		   struct lld_resp *resp)
{
	static const char day[] = "public, max-age=86400";
	const char *p = req->path;

	if (strcmp(p, "/ocsp") == 0) {
		if (req->method != LLD_POST || req->ctype == NULL ||
		    strcasecmp(req->ctype, "application/ocsp-request") != 0)
			return ocsp_status_only(
				resp, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
		return on_ocsp_der(srv, req->body, req->len, req->now, resp);
	}
	if (strncmp(p, "/ocsp/", 6) == 0) {
		unsigned char *der = NULL;
		size_t len = 0;
		size_t n = strlen(p + 6);

		if (req->method != LLD_GET && req->method != LLD_HEAD)
			return -1;
		if (n > OCSP_REQ_MAX * 4 / 3 + 4 ||
		    ll_b64_decode(&der, &len, p + 6, n) < 0)
			return ocsp_status_only(
				resp, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
		on_ocsp_der(srv, der, len, req->now, resp);
		free(der);
		return 0;
	}
	if (req->method != LLD_GET && req->method != LLD_HEAD)
		return -1;
	if (strcmp(p, "/ca/root.crt") == 0)
		return send_der(resp, "application/pkix-cert", srv->root_der,
				srv->root_len, day);
	if (strcmp(p, "/ca/smime-ca.crt") == 0)
		return send_der(resp, "application/pkix-cert", srv->smime_der,
				srv->smime_len, day);
	if (strcmp(p, "/ca/tsa-ca.crt") == 0)
		return send_der(resp, "application/pkix-cert", srv->tsa_der,
				srv->tsa_len, day);
	if (strcmp(p, "/crl/smime-ca.crl") == 0)
		return on_crl(srv, req, resp);
	if (strcmp(p, "/crl/root.crl") == 0)
		return on_root_crl(srv, resp);
	return -1;
}
