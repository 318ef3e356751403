/*
 * ca_ext.c - certificate fields and extensions built from OpenSSL's
 * structures.  Nothing here goes through X509V3_EXT_conf: a URL or an
 * address can never inject configuration syntax.  Each function returns
 * 1 on success, 0 on failure (OpenSSL's convention, for chaining).
 */
#include <string.h>

#include <openssl/rand.h>

#include "ca_internal.h"

int ll_ext_basic_constraints(X509 *x, int ca, long pathlen)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok = 0;

	if (bc == NULL)
		return 0;
	bc->ca = ca ? 0xff : 0;
	if (ca && pathlen >= 0) {
		bc->pathlen = ASN1_INTEGER_new();
		if (bc->pathlen == NULL ||
		    !ASN1_INTEGER_set(bc->pathlen, pathlen))
			goto out;
	}
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
			       X509V3_ADD_DEFAULT) == 1;
out:
	BASIC_CONSTRAINTS_free(bc);
	return ok;
}

int ll_ext_key_usage(X509 *x, unsigned bits)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int ok = 0;

	if (ku == NULL)
		return 0;
	for (int i = 0; i <= LL_KU_DECIPHER_ONLY; i++)
		if ((bits & (1u << i)) && !ASN1_BIT_STRING_set_bit(ku, i, 1))
			goto out;
	ok = X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) ==
	     1;
out:
	ASN1_BIT_STRING_free(ku);
	return ok;
}

int ll_ext_eku(X509 *x, const int *nids, size_t n, int critical)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int ok = 0;

	if (eku == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nids[i])))
			goto out;
	ok = X509_add1_ext_i2d(x, NID_ext_key_usage, eku, critical,
			       X509V3_ADD_DEFAULT) == 1;
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return ok;
}

int ll_ext_policies(X509 *x, const char *const *oids, size_t n)
{
	CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
	int ok = 0;

	if (cp == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		POLICYINFO *pi = POLICYINFO_new();

		if (pi == NULL)
			goto out;
		ASN1_OBJECT_free(pi->policyid);
		pi->policyid = OBJ_txt2obj(oids[i], 1);
		if (pi->policyid == NULL || !sk_POLICYINFO_push(cp, pi)) {
			POLICYINFO_free(pi);
			goto out;
		}
	}
	ok = X509_add1_ext_i2d(x, NID_certificate_policies, cp, 0,
			       X509V3_ADD_DEFAULT) == 1;
out:
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
	return ok;
}

/* Method 1 of RFC 5280 4.2.1.2: SHA-1 of the subjectPublicKey bits. */
int ll_ext_ski(X509 *x)
{
	const unsigned char *pk = NULL;
	int pklen = 0, ok = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *ski = NULL;
	EVP_MD *sha1 = NULL;

	if (!X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL,
				    X509_get_X509_PUBKEY(x)))
		return 0;
	sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	ski = ASN1_OCTET_STRING_new();
	if (sha1 == NULL || ski == NULL ||
	    !EVP_Digest(pk, (size_t)pklen, md, &mdlen, sha1, NULL) ||
	    !ASN1_OCTET_STRING_set(ski, md, (int)mdlen))
		goto out;
	ok = X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
			       X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_OCTET_STRING_free(ski);
	EVP_MD_free(sha1);
	return ok;
}

int ll_ext_aki(X509 *x, X509 *issuer)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid = NULL;
	int ok = 0;

	if (ski == NULL)
		return 0;
	akid = AUTHORITY_KEYID_new();
	if (akid == NULL)
		return 0;
	akid->keyid = ASN1_OCTET_STRING_dup(ski);
	if (akid->keyid == NULL)
		goto out;
	ok = X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
			       X509V3_ADD_DEFAULT) == 1;
out:
	AUTHORITY_KEYID_free(akid);
	return ok;
}

static GENERAL_NAME *uri_name(const char *url)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (g == NULL || s == NULL ||
	    !ASN1_STRING_set(s, url, (int)strlen(url))) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(g, GEN_URI, s);
	return g;
}

int ll_ext_crldp(X509 *x, const char *url)
{
	CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	GENERAL_NAME *g = uri_name(url);
	int ok = 0;

	if (dps == NULL || dp == NULL || g == NULL)
		goto out;
	dp->distpoint = DIST_POINT_NAME_new();
	if (dp->distpoint == NULL)
		goto out;
	dp->distpoint->type = 0; /* fullName */
	dp->distpoint->name.fullname = GENERAL_NAMES_new();
	if (dp->distpoint->name.fullname == NULL ||
	    !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, g))
		goto out;
	g = NULL;
	if (!sk_DIST_POINT_push(dps, dp))
		goto out;
	dp = NULL;
	ok = X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0,
			       X509V3_ADD_DEFAULT) == 1;
out:
	GENERAL_NAME_free(g);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return ok;
}

static int push_access(AUTHORITY_INFO_ACCESS *aia, int nid, const char *url)
{
	ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
	GENERAL_NAME *g = uri_name(url);

	if (ad == NULL || g == NULL)
		goto fail;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(nid);
	GENERAL_NAME_free(ad->location);
	ad->location = g;
	g = NULL;
	if (!sk_ACCESS_DESCRIPTION_push(aia, ad))
		goto fail;
	return 1;
fail:
	GENERAL_NAME_free(g);
	ACCESS_DESCRIPTION_free(ad);
	return 0;
}

int ll_ext_aia(X509 *x, const char *ocsp, const char *issuers)
{
	AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
	int ok = 0;

	if (aia == NULL)
		return 0;
	if (ocsp != NULL && !push_access(aia, NID_ad_OCSP, ocsp))
		goto out;
	if (issuers != NULL && !push_access(aia, NID_ad_ca_issuers, issuers))
		goto out;
	ok = X509_add1_ext_i2d(x, NID_info_access, aia, 0,
			       X509V3_ADD_DEFAULT) == 1;
out:
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return ok;
}

/* id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): extnValue is NULL. */
int ll_ext_ocsp_nocheck(X509 *x)
{
	static const unsigned char der_null[] = { 0x05, 0x00 };
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok = 0;

	if (v == NULL || !ASN1_OCTET_STRING_set(v, der_null, 2))
		goto out;
	ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_noCheck, 0,
					   v);
	ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(v);
	return ok;
}

int ll_set_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	/* 127 bits from the CSPRNG: positive, < 2^159 (BR 7.1) */
	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] &= 0x7f;
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn != NULL && !BN_is_zero(bn))
		ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

int ll_set_validity(X509 *x, time_t now, time_t backdate, long long secs)
{
	time_t nb = now - backdate;
	time_t na = (time_t)(nb + secs - 1);

	return ASN1_TIME_set(X509_getm_notBefore(x), nb) != NULL &&
	       ASN1_TIME_set(X509_getm_notAfter(x), na) != NULL;
}
