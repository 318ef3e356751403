/*
 * ca_lint.c - pre-issuance lint: a finished end-entity certificate
 * against the S/MIME BR Mailbox-validated Strict profile.
 *
 * Every rule reads the certificate itself and knows nothing of how
 * ca_profile.c builds one: a bug in the builder shows up here as a
 * violation rather than being repeated.  Each violation is one line
 * "RULE: what (source)"; the source is the clause of the S/MIME
 * Baseline Requirements (v1.0) or RFC, or "letterlock profile" where
 * we are stricter than the BR (a SHOULD made a MUST, or something the
 * BR allow that we never issue).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "ca_internal.h"

#define PROFILE "letterlock profile"
#define CABF_SMIME_ARC "2.23.140.1.5."

struct ll_ca_lint_report {
	char **v;
	size_t n;
	int oom;
};

static void viol(struct ll_ca_lint_report *r, const char *rule, const char *src,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void viol(struct ll_ca_lint_report *r, const char *rule, const char *src,
		 const char *fmt, ...)
{
	char msg[400], line[512];
	char **nv;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s: %s (%s)", rule, msg, src);
	nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (nv == NULL) {
		r->oom = 1;
		return;
	}
	r->v = nv;
	r->v[r->n] = strdup(line);
	if (r->v[r->n] == NULL) {
		r->oom = 1;
		return;
	}
	r->n++;
}

/* DER of an AlgorithmIdentifier as lower-case hex into BUF. */
static void algor_hex(char *buf, size_t len, const X509_ALGOR *a)
{
	unsigned char *der = NULL;
	int n = a ? i2d_X509_ALGOR(a, &der) : -1;

	buf[0] = '\0';
	for (int i = 0; i < n && (size_t)(2 * i + 3) <= len; i++)
		snprintf(buf + 2 * i, len - 2 * (size_t)i, "%02x", der[i]);
	OPENSSL_free(der);
}

/* ---- the encodings the BR allow (7.1.3.1, 7.1.3.2) ---- */

enum keykind {
	K_OTHER,
	K_RSA,
	K_P256,
	K_P384,
	K_P521,
	K_ED
};

static const struct {
	enum keykind kind;
	const char *hex;
} spki_algs[] = {
	{ K_RSA, "300d06092a864886f70d0101010500" },
	{ K_P256, "301306072a8648ce3d020106082a8648ce3d030107" },
	{ K_P384, "301006072a8648ce3d020106052b81040022" },
	{ K_P521, "301006072a8648ce3d020106052b81040023" },
	{ K_ED, "300506032b6570" },
	{ K_ED, "300506032b6571" },
};

static const struct {
	enum keykind issuer;
	const char *name;
	const char *hex;
} sig_algs[] = {
	{ K_RSA, "sha256WithRSAEncryption", "300d06092a864886f70d01010b0500" },
	{ K_RSA, "sha384WithRSAEncryption", "300d06092a864886f70d01010c0500" },
	{ K_RSA, "sha512WithRSAEncryption", "300d06092a864886f70d01010d0500" },
	{ K_RSA, "RSASSA-PSS with SHA-256",
	  "304106092a864886f70d01010a3034a00f300d0609608648016503040201"
	  "0500a11c301a06092a864886f70d010108300d0609608648016503040201"
	  "0500a203020120" },
	{ K_RSA, "RSASSA-PSS with SHA-384",
	  "304106092a864886f70d01010a3034a00f300d0609608648016503040202"
	  "0500a11c301a06092a864886f70d010108300d0609608648016503040202"
	  "0500a203020130" },
	{ K_RSA, "RSASSA-PSS with SHA-512",
	  "304106092a864886f70d01010a3034a00f300d0609608648016503040203"
	  "0500a11c301a06092a864886f70d010108300d0609608648016503040203"
	  "0500a203020140" },
	{ K_P256, "ecdsa-with-SHA256", "300a06082a8648ce3d040302" },
	{ K_P384, "ecdsa-with-SHA384", "300a06082a8648ce3d040303" },
	{ K_P521, "ecdsa-with-SHA512", "300a06082a8648ce3d040304" },
};

static enum keykind spki_kind(X509 *x, char *hex, size_t hexlen)
{
	X509_ALGOR *a = NULL;

	if (!X509_PUBKEY_get0_param(NULL, NULL, NULL, &a,
				    X509_get_X509_PUBKEY(x)))
		return K_OTHER;
	algor_hex(hex, hexlen, a);
	for (size_t i = 0; i < LL_ARRAY_SIZE(spki_algs); i++)
		if (strcmp(hex, spki_algs[i].hex) == 0)
			return spki_algs[i].kind;
	return K_OTHER;
}

/* ---- fields ---- */

static void lint_version(struct ll_ca_lint_report *r, X509 *x)
{
	if (X509_get_version(x) != X509_VERSION_3)
		viol(r, "version", "S/MIME BR 7.1.1",
		     "not an X.509 v3 certificate");
}

static void lint_serial(struct ll_ca_lint_report *r, X509 *x)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);

	if (bn == NULL) {
		viol(r, "serial.decode", "RFC 5280 4.1.2.2",
		     "the serial number does not decode");
		return;
	}
	if (BN_is_negative(bn) || BN_is_zero(bn))
		viol(r, "serial.positive", "S/MIME BR 7.1",
		     "the serial number is not greater than zero");
	else if (BN_num_bits(bn) > 159)
		viol(r, "serial.size", "S/MIME BR 7.1",
		     "the serial number is not less than 2^159");
	else if (BN_num_bits(bn) < 64)
		viol(r, "serial.entropy", "S/MIME BR 7.1",
		     "a serial number of %d bits cannot hold 64 bits from a "
		     "CSPRNG",
		     BN_num_bits(bn));
	BN_free(bn);
}

static void lint_sigalg(struct ll_ca_lint_report *r, X509 *x, X509 *issuer)
{
	const X509_ALGOR *outer = NULL;
	char tbs[256], out[256], ihex[128];
	enum keykind ik = spki_kind(issuer, ihex, sizeof(ihex));
	int found = 0;

	X509_get0_signature(NULL, &outer, x);
	algor_hex(tbs, sizeof(tbs), X509_get0_tbs_sigalg(x));
	algor_hex(out, sizeof(out), outer);
	if (strcmp(tbs, out) != 0)
		viol(r, "sigalg.mismatch", "RFC 5280 4.1.1.2",
		     "signatureAlgorithm differs from the TBS signature "
		     "field");
	for (size_t i = 0; i < LL_ARRAY_SIZE(sig_algs); i++)
		if (sig_algs[i].issuer == ik &&
		    strcmp(tbs, sig_algs[i].hex) == 0)
			found = 1;
	if (!found) {
		const char *want = "none (the issuer's key is not allowed)";

		for (size_t i = 0; i < LL_ARRAY_SIZE(sig_algs); i++)
			if (sig_algs[i].issuer == ik) {
				want = sig_algs[i].name;
				break;
			}
		viol(r, "sigalg", "S/MIME BR 7.1.3.2",
		     "signature algorithm %s is not one the BR allow for the "
		     "issuer's key (e.g. %s)",
		     tbs, want);
	}
}

static void lint_issuer(struct ll_ca_lint_report *r, X509 *x, X509 *issuer)
{
	unsigned char *a = NULL, *b = NULL;
	int na = i2d_X509_NAME(X509_get_issuer_name(x), &a);
	int nb = i2d_X509_NAME(X509_get_subject_name(issuer), &b);

	if (na <= 0 || na != nb || memcmp(a, b, (size_t)na) != 0)
		viol(r, "issuer.name", "S/MIME BR 7.1.4.1",
		     "the issuer name is not byte for byte the issuing CA's "
		     "subject");
	OPENSSL_free(a);
	OPENSSL_free(b);
}

/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050,
 * both in the Z form with seconds. */
static int time_encoding_ok(const ASN1_TIME *t)
{
	struct tm tm;
	int len = ASN1_STRING_length(t);
	const unsigned char *p = ASN1_STRING_get0_data(t);

	if (!ASN1_TIME_to_tm(t, &tm) || len < 1 || p[len - 1] != 'Z')
		return 0;
	if (tm.tm_year + 1900 < 2050)
		return ASN1_STRING_type(t) == V_ASN1_UTCTIME && len == 13;
	return ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME && len == 15;
}

static void lint_validity(struct ll_ca_lint_report *r, X509 *x)
{
	const ASN1_TIME *nb = X509_get0_notBefore(x);
	const ASN1_TIME *na = X509_get0_notAfter(x);
	int days = 0, secs = 0;
	long long period;

	if (!time_encoding_ok(nb) || !time_encoding_ok(na))
		viol(r, "validity.encoding", "RFC 5280 4.1.2.5",
		     "notBefore or notAfter is not UTCTime (through 2049) or "
		     "GeneralizedTime (from 2050) in the Z form");
	if (!ASN1_TIME_diff(&days, &secs, nb, na)) {
		viol(r, "validity.decode", "RFC 5280 4.1.2.5",
		     "the validity does not decode");
		return;
	}
	/* both ends are inclusive; a part of a day counts as a day */
	period = (long long)days * 86400 + secs + 1;
	if (period <= 0)
		viol(r, "validity.order", "RFC 5280 4.1.2.5",
		     "notAfter is before notBefore");
	else if (period > (long long)LL_CA_MAX_DAYS * 86400)
		viol(r, "validity.max", "S/MIME BR 6.3.2",
		     "validity of %lld s is over %d days", period,
		     LL_CA_MAX_DAYS);
}

static void lint_uids(struct ll_ca_lint_report *r, X509 *x)
{
	const ASN1_BIT_STRING *iuid = NULL, *suid = NULL;

	X509_get0_uids(x, &iuid, &suid);
	if (iuid != NULL || suid != NULL)
		viol(r, "uid", "RFC 5280 4.1.2.8",
		     "issuerUniqueID or subjectUniqueID present");
}

static void lint_key(struct ll_ca_lint_report *r, X509 *x, EVP_PKEY *k,
		     enum keykind *kind)
{
	char hex[256];
	EVP_PKEY_CTX *pc = NULL;

	*kind = spki_kind(x, hex, sizeof(hex));
	switch (*kind) {
	case K_RSA:
	case K_P256:
	case K_P384:
		break;
	case K_P521:
	case K_ED:
		viol(r, "key.type", PROFILE,
		     "the BR allow this key (%s) but letterlock certifies "
		     "RSA and EC P-256/P-384 only",
		     *kind == K_P521 ? "P-521" : "EdDSA");
		return;
	default:
		viol(r, "key.algorithm", "S/MIME BR 7.1.3.1",
		     "subjectPublicKeyInfo algorithm %s is not an encoding "
		     "the BR allow",
		     hex);
		return;
	}
	if (k == NULL)
		k = X509_get0_pubkey(x);
	if (k == NULL) {
		viol(r, "key.decode", "RFC 5280 4.1.2.7",
		     "the public key does not decode");
		ERR_clear_error();
		return;
	}
	if (*kind == K_RSA) {
		int bits = EVP_PKEY_get_bits(k);
		const char *why = ll_rsa_key_problem(k);

		if (bits < 2048 || bits % 8 != 0)
			viol(r, "key.rsa-size", "S/MIME BR 6.1.5",
			     "RSA modulus of %d bits (at least 2048, a "
			     "multiple of 8)",
			     bits);
		else if (bits > 8192)
			viol(r, "key.rsa-size", PROFILE,
			     "RSA modulus of %d bits (at most 8192)", bits);
		if (why != NULL)
			viol(r, "key.rsa-quality", "S/MIME BR 6.1.6", "%s",
			     why);
	} else {
		/* the point is on the curve */
		pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (pc == NULL || EVP_PKEY_public_check(pc) != 1)
			viol(r, "key.invalid", "S/MIME BR 6.1.6",
			     "the EC public key is not a valid point");
	}
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
}

/* ---- extensions ---- */

struct exts {
	X509_EXTENSION *bc, *ku, *eku, *cp, *crldp, *aia, *aki, *ski, *san;
};

static void collect_exts(struct ll_ca_lint_report *r, X509 *x, struct exts *e)
{
	int n = X509_get_ext_count(x);

	memset(e, 0, sizeof(*e));
	for (int i = 0; i < n; i++) {
		X509_EXTENSION *ext = X509_get_ext(x, i);
		const ASN1_OBJECT *o = X509_EXTENSION_get_object(ext);
		X509_EXTENSION **slot = NULL;
		char oid[80];

		switch (OBJ_obj2nid(o)) {
		case NID_basic_constraints:
			slot = &e->bc;
			break;
		case NID_key_usage:
			slot = &e->ku;
			break;
		case NID_ext_key_usage:
			slot = &e->eku;
			break;
		case NID_certificate_policies:
			slot = &e->cp;
			break;
		case NID_crl_distribution_points:
			slot = &e->crldp;
			break;
		case NID_info_access:
			slot = &e->aia;
			break;
		case NID_authority_key_identifier:
			slot = &e->aki;
			break;
		case NID_subject_key_identifier:
			slot = &e->ski;
			break;
		case NID_subject_alt_name:
			slot = &e->san;
			break;
		default:
			break;
		}
		OBJ_obj2txt(oid, sizeof(oid), o, 0);
		if (slot == NULL) {
			viol(r, "ext.unknown", "S/MIME BR 7.1.2.4, " PROFILE,
			     "extension %s is not in the profile%s", oid,
			     X509_EXTENSION_get_critical(ext) ? " (critical)" :
								"");
			continue;
		}
		if (*slot != NULL) {
			viol(r, "ext.duplicate", "RFC 5280 4.2",
			     "extension %s appears more than once", oid);
			continue;
		}
		*slot = ext;
	}
}

static void lint_bc(struct ll_ca_lint_report *r, X509_EXTENSION *ext)
{
	BASIC_CONSTRAINTS *bc;

	if (ext == NULL) {
		viol(r, "bc.missing", PROFILE,
		     "no basicConstraints (the BR make it optional)");
		return;
	}
	if (!X509_EXTENSION_get_critical(ext))
		viol(r, "bc.critical", PROFILE,
		     "basicConstraints is not critical");
	bc = X509V3_EXT_d2i(ext);
	if (bc == NULL) {
		viol(r, "bc.decode", "RFC 5280 4.2.1.9",
		     "basicConstraints does not decode");
		ERR_clear_error();
		return;
	}
	if (bc->ca)
		viol(r, "bc.ca", "S/MIME BR 7.1.2.3 d", "cA is true");
	if (bc->pathlen != NULL)
		viol(r, "bc.pathlen", "S/MIME BR 7.1.2.3 d",
		     "pathLenConstraint present");
	BASIC_CONSTRAINTS_free(bc);
}

static const char *const ku_name[] = {
	"digitalSignature", "nonRepudiation", "keyEncipherment",
	"dataEncipherment", "keyAgreement",   "keyCertSign",
	"cRLSign",	    "encipherOnly",   "decipherOnly",
};

static void lint_ku(struct ll_ca_lint_report *r, X509_EXTENSION *ext,
		    enum keykind kind)
{
	ASN1_BIT_STRING *ku;
	unsigned bits = 0, allowed, mgmt;
	int extra = 0;

	if (ext == NULL) {
		viol(r, "ku.missing", "S/MIME BR 7.1.2.3 e", "no keyUsage");
		return;
	}
	if (!X509_EXTENSION_get_critical(ext))
		viol(r, "ku.critical", "S/MIME BR 7.1.2.3 e, " PROFILE,
		     "keyUsage is not critical");
	ku = X509V3_EXT_d2i(ext);
	if (ku == NULL) {
		viol(r, "ku.decode", "RFC 5280 4.2.1.3",
		     "keyUsage does not decode");
		ERR_clear_error();
		return;
	}
	for (int i = 0; i < ku->length * 8; i++) {
		if (!ASN1_BIT_STRING_get_bit(ku, i))
			continue;
		if (i <= LL_KU_DECIPHER_ONLY)
			bits |= 1u << i;
		else
			extra = 1;
	}
	ASN1_BIT_STRING_free(ku);
	if (kind != K_RSA && kind != K_P256 && kind != K_P384)
		return; /* the key itself is already a violation */
	if (kind == K_RSA) {
		mgmt = 1u << LL_KU_KEY_ENCIPHERMENT;
		allowed = (1u << LL_KU_DIGITAL_SIGNATURE) |
			  (1u << LL_KU_NON_REPUDIATION) | mgmt;
	} else {
		mgmt = 1u << LL_KU_KEY_AGREEMENT;
		allowed = (1u << LL_KU_DIGITAL_SIGNATURE) |
			  (1u << LL_KU_NON_REPUDIATION) | mgmt |
			  (1u << LL_KU_ENCIPHER_ONLY) |
			  (1u << LL_KU_DECIPHER_ONLY);
	}
	if (extra)
		viol(r, "ku.bits", "S/MIME BR 7.1.2.3 e",
		     "keyUsage sets a bit past decipherOnly");
	for (int i = 0; i <= LL_KU_DECIPHER_ONLY; i++)
		if ((bits & (1u << i)) && !(allowed & (1u << i)))
			viol(r, "ku.bits", "S/MIME BR 7.1.2.3 e",
			     "keyUsage %s is not allowed for an %s key in the "
			     "Strict profile",
			     ku_name[i], kind == K_RSA ? "RSA" : "EC");
	if (!(bits & (1u << LL_KU_DIGITAL_SIGNATURE)) && !(bits & mgmt))
		viol(r, "ku.purpose", "S/MIME BR 7.1.2.3 e",
		     "keyUsage allows neither signing (digitalSignature) nor "
		     "key management (%s)",
		     kind == K_RSA ? "keyEncipherment" : "keyAgreement");
	if ((bits & (1u << LL_KU_NON_REPUDIATION)) &&
	    !(bits & (1u << LL_KU_DIGITAL_SIGNATURE)))
		viol(r, "ku.bits", "S/MIME BR 7.1.2.3 e",
		     "nonRepudiation without digitalSignature");
	if ((bits &
	     ((1u << LL_KU_ENCIPHER_ONLY) | (1u << LL_KU_DECIPHER_ONLY))) &&
	    (!(bits & mgmt) || (bits & (1u << LL_KU_ENCIPHER_ONLY) &&
				bits & (1u << LL_KU_DECIPHER_ONLY))))
		viol(r, "ku.bits", "S/MIME BR 7.1.2.3 e",
		     "encipherOnly/decipherOnly without keyAgreement, or "
		     "both");
}

static void lint_eku(struct ll_ca_lint_report *r, X509_EXTENSION *ext)
{
	EXTENDED_KEY_USAGE *eku;
	int n, email = 0;

	if (ext == NULL) {
		viol(r, "eku.missing", "S/MIME BR 7.1.2.3 f", "no extKeyUsage");
		return;
	}
	eku = X509V3_EXT_d2i(ext);
	if (eku == NULL) {
		viol(r, "eku.decode", "RFC 5280 4.2.1.12",
		     "extKeyUsage does not decode");
		ERR_clear_error();
		return;
	}
	n = sk_ASN1_OBJECT_num(eku);
	for (int i = 0; i < n; i++) {
		const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
		char oid[80];

		if (OBJ_obj2nid(o) == NID_email_protect) {
			email++;
			continue;
		}
		OBJ_obj2txt(oid, sizeof(oid), o, 0);
		viol(r, "eku.strict", "S/MIME BR 7.1.2.3 f",
		     "extKeyUsage %s: Strict allows emailProtection only", oid);
	}
	if (email == 0)
		viol(r, "eku.email", "S/MIME BR 7.1.2.3 f",
		     "extKeyUsage lacks emailProtection");
	else if (email > 1)
		viol(r, "eku.strict", "RFC 5280 4.2.1.12",
		     "emailProtection listed %d times", email);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

static int is_http_url(const ASN1_STRING *s, int https_too)
{
	const char *p = (const char *)ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);

	if (n > 7 && strncmp(p, "http://", 7) == 0)
		return 1;
	return https_too && n > 8 && strncmp(p, "https://", 8) == 0;
}

static void lint_qualifiers(struct ll_ca_lint_report *r,
			    const STACK_OF(POLICYQUALINFO) * qs)
{
	for (int j = 0; j < sk_POLICYQUALINFO_num(qs); j++) {
		const POLICYQUALINFO *q = sk_POLICYQUALINFO_value(qs, j);

		switch (OBJ_obj2nid(q->pqualid)) {
		case NID_id_qt_cps:
			if (!is_http_url(q->d.cpsuri, 1))
				viol(r, "policy.cps", "S/MIME BR 7.1.2.3 a",
				     "CPS qualifier is not an HTTP(S) URL");
			break;
		case NID_id_qt_unotice:
			if (q->d.usernotice->exptext == NULL ||
			    q->d.usernotice->noticeref != NULL)
				viol(r, "policy.unotice", "S/MIME BR 7.1.2.3 a",
				     "userNotice without explicitText or with "
				     "noticeRef");
			break;
		default:
			viol(r, "policy.qualifier", "RFC 5280 4.2.1.4",
			     "unknown policy qualifier");
			break;
		}
	}
}

static void lint_policies(struct ll_ca_lint_report *r, X509_EXTENSION *ext)
{
	CERTIFICATEPOLICIES *cp;
	int reserved = 0, strict = 0, n;

	if (ext == NULL) {
		viol(r, "policy.missing", "S/MIME BR 7.1.2.3 a",
		     "no certificatePolicies");
		return;
	}
	if (X509_EXTENSION_get_critical(ext))
		viol(r, "policy.critical", "S/MIME BR 7.1.2.3 a, " PROFILE,
		     "certificatePolicies is critical");
	cp = X509V3_EXT_d2i(ext);
	if (cp == NULL) {
		viol(r, "policy.decode", "RFC 5280 4.2.1.4",
		     "certificatePolicies does not decode");
		ERR_clear_error();
		return;
	}
	n = sk_POLICYINFO_num(cp);
	for (int i = 0; i < n; i++) {
		const POLICYINFO *pi = sk_POLICYINFO_value(cp, i);
		char oid[80];

		OBJ_obj2txt(oid, sizeof(oid), pi->policyid, 1);
		if (OBJ_obj2nid(pi->policyid) == NID_any_policy)
			viol(r, "policy.any", "S/MIME BR 7.1.6.4",
			     "anyPolicy in a subscriber certificate");
		if (strncmp(oid, CABF_SMIME_ARC, strlen(CABF_SMIME_ARC)) == 0)
			reserved++;
		if (strcmp(oid, LL_CA_POLICY_MAILBOX_STRICT) == 0)
			strict++;
		for (int j = 0; j < i; j++)
			if (OBJ_cmp(pi->policyid,
				    sk_POLICYINFO_value(cp, j)->policyid) == 0)
				viol(r, "policy.duplicate", "RFC 5280 4.2.1.4",
				     "policy %s listed twice", oid);
		lint_qualifiers(r, pi->qualifiers);
	}
	if (strict == 0 || reserved != 1)
		viol(r, "policy.reserved", "S/MIME BR 7.1.2.3 a, 7.1.6.1",
		     "exactly one CA/B Forum S/MIME policy, %s "
		     "(Mailbox-validated Strict), is required; found %d "
		     "reserved, %d Strict",
		     LL_CA_POLICY_MAILBOX_STRICT, reserved, strict);
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
}

static void lint_crldp(struct ll_ca_lint_report *r, X509_EXTENSION *ext)
{
	CRL_DIST_POINTS *dps;
	int uris = 0;

	if (ext == NULL) {
		viol(r, "crldp.missing", "S/MIME BR 7.1.2.3 b",
		     "no cRLDistributionPoints");
		return;
	}
	if (X509_EXTENSION_get_critical(ext))
		viol(r, "crldp.critical", "S/MIME BR 7.1.2.3 b, " PROFILE,
		     "cRLDistributionPoints is critical");
	dps = X509V3_EXT_d2i(ext);
	if (dps == NULL) {
		viol(r, "crldp.decode", "RFC 5280 4.2.1.13",
		     "cRLDistributionPoints does not decode");
		ERR_clear_error();
		return;
	}
	for (int i = 0; i < sk_DIST_POINT_num(dps); i++) {
		const DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		const GENERAL_NAMES *full;

		if (dp->reasons != NULL || dp->CRLissuer != NULL)
			viol(r, "crldp.fields", PROFILE,
			     "a distribution point has reasons or cRLIssuer");
		if (dp->distpoint == NULL || dp->distpoint->type != 0) {
			viol(r, "crldp.fields", PROFILE,
			     "a distribution point without a fullName");
			continue;
		}
		full = dp->distpoint->name.fullname;
		for (int j = 0; j < sk_GENERAL_NAME_num(full); j++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(full, j);

			if (g->type != GEN_URI) {
				viol(r, "crldp.fields", PROFILE,
				     "a distribution point name is not a URI");
				continue;
			}
			uris++;
			if (!is_http_url(g->d.uniformResourceIdentifier, 0))
				viol(r, "crldp.scheme", "S/MIME BR 7.1.2.3 b",
				     "CRL URI is not http: the Strict profile "
				     "allows no other scheme");
		}
	}
	if (uris == 0)
		viol(r, "crldp.uri", "S/MIME BR 7.1.2.3 b",
		     "no distribution point with a URI");
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
}

static void lint_aia(struct ll_ca_lint_report *r, X509_EXTENSION *ext)
{
	AUTHORITY_INFO_ACCESS *aia;
	int ocsp = 0, issuers = 0;

	if (ext == NULL) {
		viol(r, "aia.missing", "S/MIME BR 7.1.2.3 c, " PROFILE,
		     "no authorityInformationAccess");
		return;
	}
	if (X509_EXTENSION_get_critical(ext))
		viol(r, "aia.critical", "S/MIME BR 7.1.2.3 c",
		     "authorityInformationAccess is critical");
	aia = X509V3_EXT_d2i(ext);
	if (aia == NULL) {
		viol(r, "aia.decode", "RFC 5280 4.2.2.1",
		     "authorityInformationAccess does not decode");
		ERR_clear_error();
		return;
	}
	for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		const ACCESS_DESCRIPTION *ad =
			sk_ACCESS_DESCRIPTION_value(aia, i);
		int nid = OBJ_obj2nid(ad->method);

		if (nid == NID_ad_OCSP) {
			ocsp++;
		} else if (nid == NID_ad_ca_issuers) {
			issuers++;
		} else {
			viol(r, "aia.method", PROFILE,
			     "an access method other than OCSP and "
			     "caIssuers");
			continue;
		}
		if (ad->location->type != GEN_URI ||
		    !is_http_url(ad->location->d.uniformResourceIdentifier, 0))
			viol(r, "aia.scheme", "S/MIME BR 7.1.2.3 c",
			     "%s location is not an http URI",
			     nid == NID_ad_OCSP ? "OCSP" : "caIssuers");
	}
	if (ocsp == 0)
		viol(r, "aia.ocsp", PROFILE, "no OCSP responder in the AIA");
	if (issuers == 0)
		viol(r, "aia.issuers", "S/MIME BR 7.1.2.3 c, " PROFILE,
		     "no caIssuers URL in the AIA");
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
}

static void lint_aki(struct ll_ca_lint_report *r, X509_EXTENSION *ext,
		     X509 *issuer)
{
	AUTHORITY_KEYID *akid;
	const ASN1_OCTET_STRING *iski = X509_get0_subject_key_id(issuer);

	if (ext == NULL) {
		viol(r, "aki.missing", "S/MIME BR 7.1.2.3 g",
		     "no authorityKeyIdentifier");
		return;
	}
	if (X509_EXTENSION_get_critical(ext))
		viol(r, "aki.critical", "S/MIME BR 7.1.2.3 g",
		     "authorityKeyIdentifier is critical");
	akid = X509V3_EXT_d2i(ext);
	if (akid == NULL) {
		viol(r, "aki.decode", "RFC 5280 4.2.1.1",
		     "authorityKeyIdentifier does not decode");
		ERR_clear_error();
		return;
	}
	if (akid->issuer != NULL || akid->serial != NULL)
		viol(r, "aki.fields", "S/MIME BR 7.1.2.3 g",
		     "authorityCertIssuer or authorityCertSerialNumber "
		     "present");
	if (akid->keyid == NULL)
		viol(r, "aki.keyid", "S/MIME BR 7.1.2.3 g", "no keyIdentifier");
	else if (iski == NULL || ASN1_OCTET_STRING_cmp(akid->keyid, iski) != 0)
		viol(r, "aki.match", "S/MIME BR 7.1.2.2 i",
		     "keyIdentifier is not the issuing CA's "
		     "subjectKeyIdentifier");
	AUTHORITY_KEYID_free(akid);
}

static void lint_ski(struct ll_ca_lint_report *r, X509_EXTENSION *ext, X509 *x)
{
	ASN1_OCTET_STRING *ski;
	const unsigned char *pk = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int pklen = 0;
	EVP_MD *sha1 = NULL;

	if (ext == NULL) {
		viol(r, "ski.missing", "S/MIME BR 7.1.2.3 n, " PROFILE,
		     "no subjectKeyIdentifier");
		return;
	}
	if (X509_EXTENSION_get_critical(ext))
		viol(r, "ski.critical", "S/MIME BR 7.1.2.3 n",
		     "subjectKeyIdentifier is critical");
	ski = X509V3_EXT_d2i(ext);
	if (ski == NULL) {
		viol(r, "ski.decode", "RFC 5280 4.2.1.2",
		     "subjectKeyIdentifier does not decode");
		ERR_clear_error();
		return;
	}
	sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (sha1 == NULL ||
	    !X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL,
				    X509_get_X509_PUBKEY(x)) ||
	    !EVP_Digest(pk, (size_t)pklen, md, &mdlen, sha1, NULL) ||
	    (unsigned)ASN1_STRING_length(ski) != mdlen ||
	    memcmp(ASN1_STRING_get0_data(ski), md, mdlen) != 0)
		viol(r, "ski.value", "S/MIME BR 7.1.2.3 n, " PROFILE,
		     "subjectKeyIdentifier is not the SHA-1 of the public "
		     "key (RFC 5280 4.2.1.2 method 1)");
	ERR_clear_error();
	EVP_MD_free(sha1);
	ASN1_OCTET_STRING_free(ski);
}

/* ---- names ---- */

#define SAN_MAX 8 /* mailboxes remembered for the subject checks */

struct sans {
	char addr[SAN_MAX][LL_MAILBOX_MAX + 1];
	int ascii[SAN_MAX]; /* from an rfc822Name */
	int n;
};

/* One SAN entry: the name form RFC 9598 wants for its local part, the
 * canonical encoding, and the validated address. */
static void lint_san_entry(struct ll_ca_lint_report *r, const GENERAL_NAME *g,
			   const struct ll_mailbox *want, struct sans *s)
{
	const ASN1_STRING *v;
	const unsigned char *p;
	struct ll_mailbox m;
	char text[200];
	int n, utf8 = g->type == GEN_OTHERNAME;

	ll_general_name_text(text, sizeof(text), g);
	if (g->type == GEN_EMAIL) {
		v = g->d.rfc822Name;
	} else if (g->type == GEN_OTHERNAME &&
		   OBJ_obj2nid(g->d.otherName->type_id) ==
			   NID_id_on_SmtpUTF8Mailbox) {
		if (g->d.otherName->value->type != V_ASN1_UTF8STRING) {
			viol(r, "san.encoding", "RFC 9598 3",
			     "SmtpUTF8Mailbox is not a UTF8String");
			return;
		}
		v = g->d.otherName->value->value.utf8string;
	} else {
		viol(r, "san.type", "S/MIME BR 7.1.4.2.1",
		     "%s: only rfc822Name and SmtpUTF8Mailbox are allowed",
		     text);
		return;
	}
	p = ASN1_STRING_get0_data(v);
	n = ASN1_STRING_length(v);
	for (int i = 0; !utf8 && i < n; i++)
		if (p[i] >= 0x80) {
			viol(r, "san.encoding", "RFC 5280 4.2.1.6",
			     "rfc822Name with non-ASCII octets");
			return;
		}
	if (utf8 && (!ll_utf8_valid(p, (size_t)n, NULL) ||
		     (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0))) {
		viol(r, "san.encoding", "RFC 9598 3",
		     "SmtpUTF8Mailbox is not UTF-8 or starts with a BOM");
		return;
	}
	if (ll_mailbox_parse(&m, (const char *)p, (size_t)n, NULL) < 0) {
		viol(r, "san.syntax", "S/MIME BR 7.1.4.2.1",
		     "%s is not a mailbox address", text);
		return;
	}
	if (m.len != (size_t)n || memcmp(m.addr, p, m.len) != 0)
		viol(r, "san.domain", "RFC 9598 3-4",
		     "%s: the domain must be lower-case A-labels (%s)", text,
		     m.addr);
	if (utf8 && !m.utf8_local)
		viol(r, "san.utf8-ascii", "RFC 9598 3",
		     "%s: SmtpUTF8Mailbox for an ASCII local part (use "
		     "rfc822Name)",
		     text);
	if (want != NULL && strcmp(m.addr, want->addr) != 0)
		viol(r, "san.address", "S/MIME BR 7.1.4.2, 3.2.2",
		     "%s is not the validated address %s", text, want->addr);
	if (s->n < SAN_MAX && (size_t)n <= LL_MAILBOX_MAX) {
		memcpy(s->addr[s->n], p, (size_t)n);
		s->addr[s->n][n] = '\0';
		s->ascii[s->n] = !utf8;
		s->n++;
	}
}

static void lint_san(struct ll_ca_lint_report *r, X509_EXTENSION *ext, X509 *x,
		     const struct ll_mailbox *want, struct sans *s)
{
	GENERAL_NAMES *gens;
	int n, subject_empty =
		       X509_NAME_entry_count(X509_get_subject_name(x)) == 0;

	if (ext == NULL) {
		viol(r, "san.missing", "S/MIME BR 7.1.2.3 h",
		     "no subjectAltName");
		return;
	}
	if (subject_empty && !X509_EXTENSION_get_critical(ext))
		viol(r, "san.critical", "RFC 5280 4.2.1.6",
		     "the subject is empty and subjectAltName is not "
		     "critical");
	if (!subject_empty && X509_EXTENSION_get_critical(ext))
		viol(r, "san.critical", "S/MIME BR 7.1.2.3 h, " PROFILE,
		     "subjectAltName is critical although the subject is "
		     "not empty");
	gens = X509V3_EXT_d2i(ext);
	if (gens == NULL) {
		viol(r, "san.decode", "RFC 5280 4.2.1.6",
		     "subjectAltName does not decode");
		ERR_clear_error();
		return;
	}
	n = sk_GENERAL_NAME_num(gens);
	if (n != 1)
		viol(r, "san.count", PROFILE,
		     "subjectAltName has %d entries: exactly one validated "
		     "mailbox is certified",
		     n);
	for (int i = 0; i < n; i++)
		lint_san_entry(r, sk_GENERAL_NAME_value(gens, i), want, s);
	GENERAL_NAMES_free(gens);
}

static int in_sans(const struct sans *s, const unsigned char *p, int n,
		   int ascii_only)
{
	for (int i = 0; i < s->n; i++)
		if ((!ascii_only || s->ascii[i]) &&
		    strlen(s->addr[i]) == (size_t)n &&
		    memcmp(s->addr[i], p, (size_t)n) == 0)
			return 1;
	return 0;
}

static int metadata_only(const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (p[i] != '.' && p[i] != '-' && p[i] != ' ')
			return 0;
	return 1;
}

static void lint_subject(struct ll_ca_lint_report *r, X509 *x,
			 const struct sans *s)
{
	const X509_NAME *nm = X509_get_subject_name(x);
	int n = X509_NAME_entry_count(nm), seen_cn = 0, seen_email = 0;
	int seen_serial = 0;

	for (int i = 0; i < n; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
		const ASN1_STRING *d = X509_NAME_ENTRY_get_data(e);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		int type = ASN1_STRING_type(d), len;
		unsigned char *u = NULL;
		size_t chars = 0;
		char oid[80];

		if (i > 0 &&
		    X509_NAME_ENTRY_set(e) ==
			    X509_NAME_ENTRY_set(X509_NAME_get_entry(nm, i - 1)))
			viol(r, "subject.rdn", PROFILE,
			     "a multi-valued RDN in the subject");
		len = ASN1_STRING_to_UTF8(&u, d);
		if (len < 0) {
			viol(r, "subject.encoding", "RFC 5280 4.1.2.4",
			     "a subject attribute does not decode");
			ERR_clear_error();
			continue;
		}
		if (metadata_only(u, len))
			viol(r, "subject.metadata", "S/MIME BR 7.1.4.2",
			     "a subject attribute holds only metadata");
		switch (nid) {
		case NID_commonName:
			if (seen_cn++)
				viol(r, "subject.repeat", PROFILE,
				     "more than one commonName");
			if (type != V_ASN1_UTF8STRING &&
			    type != V_ASN1_PRINTABLESTRING)
				viol(r, "subject.encoding", "RFC 5280 4.1.2.4",
				     "commonName is neither UTF8String nor "
				     "PrintableString");
			if (!ll_utf8_valid(u, (size_t)len, &chars) ||
			    chars > LL_CN_MAX)
				viol(r, "subject.cn-length",
				     "RFC 5280 A.1, S/MIME BR 7.1.4.2.2",
				     "commonName over %d characters",
				     LL_CN_MAX);
			if (!in_sans(s, u, len, 0))
				viol(r, "subject.cn", "S/MIME BR 7.1.4.2.2 a",
				     "commonName is not a mailbox of the "
				     "subjectAltName");
			break;
		case NID_pkcs9_emailAddress:
			if (seen_email++)
				viol(r, "subject.repeat",
				     "S/MIME BR 7.1.4.2.2 h",
				     "more than one emailAddress");
			if (type != V_ASN1_IA5STRING || len > 255)
				viol(r, "subject.encoding", "RFC 5280 A.1",
				     "emailAddress is not an IA5String of at "
				     "most 255 characters");
			if (!in_sans(s, u, len, 1))
				viol(r, "subject.email", "S/MIME BR 7.1.4.2.1",
				     "emailAddress is not an rfc822Name of the "
				     "subjectAltName");
			break;
		case NID_serialNumber:
			if (seen_serial++)
				viol(r, "subject.repeat", PROFILE,
				     "more than one serialNumber");
			if (type != V_ASN1_PRINTABLESTRING || len > 64)
				viol(r, "subject.encoding", "RFC 5280 A.1",
				     "serialNumber is not a PrintableString of "
				     "at most 64 characters");
			break;
		default:
			OBJ_obj2txt(oid, sizeof(oid),
				    X509_NAME_ENTRY_get_object(e), 0);
			viol(r, "subject.attribute", "S/MIME BR 7.1.4.2.3",
			     "subject attribute %s is not allowed in a "
			     "Mailbox-validated certificate",
			     oid);
			break;
		}
		OPENSSL_free(u);
	}
}

int ll_ca_lint_x509(struct ll_ca_lint_report **out, X509 *x, X509 *issuer,
		    const char *email, struct ll_error *err)
{
	return ll_ca_lint_x509_key(out, x, NULL, issuer, email, err);
}

int ll_ca_lint_x509_key(struct ll_ca_lint_report **out, X509 *x, EVP_PKEY *key,
			X509 *issuer, const char *email, struct ll_error *err)
{
	struct ll_ca_lint_report *r = NULL;
	struct ll_mailbox want;
	struct exts e;
	struct sans s;
	enum keykind kind = K_OTHER;
	int rc = 0;

	if (email != NULL) {
		rc = ll_mailbox_parse(&want, email, strlen(email), err);
		if (rc < 0)
			goto out;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	memset(&s, 0, sizeof(s));
	lint_version(r, x);
	lint_serial(r, x);
	lint_sigalg(r, x, issuer);
	lint_issuer(r, x, issuer);
	lint_validity(r, x);
	lint_uids(r, x);
	lint_key(r, x, key, &kind);
	collect_exts(r, x, &e);
	lint_bc(r, e.bc);
	lint_ku(r, e.ku, kind);
	lint_eku(r, e.eku);
	lint_policies(r, e.cp);
	lint_crldp(r, e.crldp);
	lint_aia(r, e.aia);
	lint_aki(r, e.aki, issuer);
	lint_ski(r, e.ski, x);
	lint_san(r, e.san, x, email != NULL ? &want : NULL, &s);
	lint_subject(r, x, &s);
	ERR_clear_error();
	if (r->oom) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	*out = r;
	r = NULL;
out:
	ll_ca_lint_free(&r);
	return rc;
}

int ll_ca_lint(struct ll_ca_lint_report **out, const struct ll_cert *cert,
	       const struct ll_cert *issuer, const char *email,
	       struct ll_error *err)
{
	if (cert == NULL || issuer == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "ll_ca_lint: a certificate and its issuer are "
			      "needed");
	return ll_ca_lint_x509(out, ll_cert_x509(cert), ll_cert_x509(issuer),
			       email, err);
}

size_t ll_ca_lint_count(const struct ll_ca_lint_report *r)
{
	return r->n;
}

const char *ll_ca_lint_violation(const struct ll_ca_lint_report *r, size_t i)
{
	return i < r->n ? r->v[i] : NULL;
}

int ll_ca_lint_has(const struct ll_ca_lint_report *r, const char *rule)
{
	size_t len = strlen(rule);

	for (size_t i = 0; i < r->n; i++)
		if (strncmp(r->v[i], rule, len) == 0 && r->v[i][len] == ':')
			return 1;
	return 0;
}

void ll_ca_lint_free(struct ll_ca_lint_report **pp)
{
	struct ll_ca_lint_report *r;

	if (pp == NULL || *pp == NULL)
		return;
	r = *pp;
	*pp = NULL;
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	free(r);
}
