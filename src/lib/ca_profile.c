/*
 * ca_profile.c - the end-entity certificate: CA/Browser Forum S/MIME
 * Baseline Requirements, Mailbox-validated, Strict generation.
 *
 * Every field is set here from the checked CSR, the validated address
 * and the CA; nothing is copied from the CSR but its public key.  The
 * result is unsigned: ll_ca_issue lints it before the CA signs it.
 * doc/ca-profile.md lists the BR clause behind each choice.
 */
#include <string.h>

#include <openssl/err.h>

#include "ca_internal.h"

/* keyUsage bits for USAGE on this key type (BR 7.1.2.3 e, Strict). */
static unsigned ku_bits(unsigned usage, int is_ec)
{
	unsigned bits = 0;

	if (usage & LL_CA_USAGE_SIGN)
		bits |= 1u << LL_KU_DIGITAL_SIGNATURE;
	if (usage & LL_CA_USAGE_ENCRYPT)
		bits |= 1u << (is_ec ? LL_KU_KEY_AGREEMENT :
				       LL_KU_KEY_ENCIPHERMENT);
	return bits;
}

/* Subject (BR 7.1.4.2.2 a, 7.1.4.2.3): commonName = the address when
 * it fits ub-common-name, else an empty subject (and then the SAN is
 * critical, RFC 5280 4.2.1.6). */
static int set_subject(X509 *x, const struct ll_mailbox *m, int *empty)
{
	X509_NAME *nm = X509_NAME_new();
	int ok = 0;

	*empty = m->chars > LL_CN_MAX;
	if (nm == NULL)
		return 0;
	if (!*empty &&
	    !X509_NAME_add_entry_by_NID(nm, NID_commonName, V_ASN1_UTF8STRING,
					(const unsigned char *)m->addr,
					(int)m->len, -1, 0))
		goto out;
	ok = X509_set_subject_name(x, nm);
out:
	X509_NAME_free(nm);
	return ok;
}

static int set_san(X509 *x, const struct ll_mailbox *m, int critical)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *g = ll_mailbox_general_name(m);
	int ok = 0;

	if (gens == NULL || g == NULL || !sk_GENERAL_NAME_push(gens, g))
		goto out;
	g = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical,
			       X509V3_ADD_DEFAULT) == 1;
out:
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return ok;
}

/*
 * The subject's key: its octets from the request as they are when
 * ll_ca_csr_from_spki kept them (X509_set_pubkey would encode the key
 * through OpenSSL 3.0's encoders and decode it again: a fifth of the
 * keyholder's time per certificate), else from the key.
 */
static int set_key(X509 *x, const struct ll_ca_csr *csr, int raw)
{
	X509_PUBKEY *pk = X509_get_X509_PUBKEY(x);
	unsigned char *bits;
	int ok;

	if (!raw || csr->keybits == NULL)
		return X509_set_pubkey(x, csr->pkey);
	bits = OPENSSL_memdup(csr->keybits, csr->keylen);
	if (bits == NULL)
		return 0;
	if (csr->curve != NID_undef)
		ok = X509_PUBKEY_set0_param(
			pk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
			V_ASN1_OBJECT, OBJ_nid2obj(csr->curve), bits,
			(int)csr->keylen);
	else
		ok = X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_rsaEncryption),
					    V_ASN1_NULL, NULL, bits,
					    (int)csr->keylen);
	if (!ok)
		OPENSSL_free(bits);
	return ok;
}

int ll_ca_profile_build(X509 **out, const struct ll_ca *ca, int raw,
			const struct ll_ca_csr *csr,
			const struct ll_ca_issue_options *opt,
			struct ll_error *err)
{
	static const int eku[] = { NID_email_protect };
	static const char *const policy[] = { LL_CA_POLICY_MAILBOX_STRICT };
	X509 *x = NULL;
	time_t now = opt->now ? opt->now : time(NULL);
	int days = opt->days ? opt->days : ca->default_days;
	unsigned usage = opt->usage ? opt->usage : csr->usage;
	int empty = 0, rc = 0;

	if (days < 1) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "validity of %d days", days);
		goto out;
	}
	if (days > LL_CA_MAX_DAYS) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "validity of %d days is over the %d-day maximum "
			    "of the Strict profile (S/MIME BR 6.3.2)",
			    days, LL_CA_MAX_DAYS);
		goto out;
	}
	if ((usage & ~(unsigned)LL_CA_USAGE_BOTH) != 0) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "unknown key usage 0x%x", usage);
		goto out;
	}
	if (usage == 0)
		usage = LL_CA_USAGE_BOTH;
	ERR_clear_error();
	x = X509_new_ex(NULL, NULL);
	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ll_set_random_serial(x) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !ll_set_validity(x, now, LL_CA_BACKDATE, (long long)days * 86400) ||
	    !set_subject(x, &csr->mbox, &empty) ||
	    !set_key(x, csr, raw)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "building the certificate");
		goto out;
	}
	/* BR 7.1.2.3 in the order of RFC 5280's examples */
	if (!ll_ext_basic_constraints(x, 0, -1) ||
	    !ll_ext_key_usage(x, ku_bits(usage, csr->is_ec)) ||
	    !ll_ext_eku(x, eku, LL_ARRAY_SIZE(eku), 0) ||
	    !ll_ext_policies(x, policy, LL_ARRAY_SIZE(policy)) ||
	    !ll_ext_ski(x) || !ll_ext_aki(x, ca->cert) ||
	    !ll_ext_crldp(x, ca->crl_url) ||
	    !ll_ext_aia(x, ca->ocsp_url, ca->issuers_url) ||
	    !set_san(x, &csr->mbox, empty)) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "building the certificate's extensions");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}
