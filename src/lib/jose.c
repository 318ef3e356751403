/*
 * jose.c - the JOSE pieces of ACME: unpadded base64url (RFC 4648 section
 * 5), public JSON Web Keys (RFC 7517, 7518, 8037) with their RFC 7638
 * thumbprints, flattened JWS (RFC 7515) with the rules of RFC 8555
 * section 6.2, and the RFC 8823 response digest.
 *
 * What comes from the network is bounded before it is read: JSON text
 * by LL_JWS_MAX, the parsers are jansson's with duplicate keys refused
 * (and, by default, "\u0000" in strings), base64url has one encoding per
 * value.  A key is held as an EVP_PKEY plus its RFC 7638 canonical JSON,
 * built from the key's parameters: that JSON is what ll_jwk_json gives,
 * what the thumbprint hashes and what ll_jwk_equal compares.
 */
#include <assert.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <letterlock/jose.h>

#include "internal.h"

#define JWS_SIG_MAX 1024 /* RS256 with RSA-8192 */
#define EC_COORD_LEN 32 /* P-256 */
#define ED25519_LEN 32
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define SHA256_LEN 32

enum jwk_kind {
	JWK_EC, /* P-256, ES256 */
	JWK_RSA, /* RS256 */
	JWK_OKP, /* Ed25519, EdDSA */
};

struct ll_jwk {
	enum jwk_kind kind;
	EVP_PKEY *pkey;
	int has_private;
	char *json; /* RFC 7638 canonical form of the public key */
};

struct ll_jws {
	json_t *hdr; /* the protected header */
	const char *alg; /* these four borrowed from HDR */
	const char *nonce;
	const char *url;
	const char *kid;
	struct ll_jwk *jwk;
	char *input; /* signing input: protected "." payload, as sent */
	size_t inlen;
	unsigned char *payload;
	size_t plen;
	unsigned char *sig;
	size_t siglen;
};

/* Members that only a private (or symmetric) JWK has. */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

/* S (untrusted) made fit for a one-line message in BUF: printable
 * ASCII only, cut short with "..." when it does not fit. */
static const char *shown(char *buf, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 4 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* ---- base64url ---- */

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 != 0 ? n % 3 + 1 : 0);
}

/* Encode N bytes of IN into DST, which has room for b64url_len(n) + 1. */
static void b64url_put(char *dst, const unsigned char *in, size_t n)
{
	size_t i, j = 0;
	unsigned long v;

	for (i = 0; n - i >= 3; i += 3) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
		    in[i + 2];
		dst[j++] = b64url_chars[v >> 18 & 63];
		dst[j++] = b64url_chars[v >> 12 & 63];
		dst[j++] = b64url_chars[v >> 6 & 63];
		dst[j++] = b64url_chars[v & 63];
	}
	if (n - i > 0) {
		v = (unsigned long)in[i] << 16;
		if (n - i == 2)
			v |= (unsigned long)in[i + 1] << 8;
		dst[j++] = b64url_chars[v >> 18 & 63];
		dst[j++] = b64url_chars[v >> 12 & 63];
		if (n - i == 2)
			dst[j++] = b64url_chars[v >> 6 & 63];
	}
	dst[j] = '\0';
}

/* Append the base64url of N bytes of P to B. */
static int buf_add_b64url(struct ll_buf *b, const void *p, size_t n)
{
	int rc;

	if (n > SIZE_MAX / 4 * 3 - 3)
		return LL_ENOMEM;
	rc = ll_buf_reserve(b, b64url_len(n));
	if (rc < 0)
		return rc;
	b64url_put(b->p + b->len, p, n);
	b->len += b64url_len(n);
	return 0;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* The strict decoder; on failure *why says what is wrong (to follow the
 * name of the text in a message). */
static int b64url_get(unsigned char **out, size_t *outlen, const char *s,
		      size_t len, size_t max, const char **why)
{
	unsigned char *o = NULL;
	unsigned long acc = 0;
	size_t n, j = 0;
	int rc = 0, bits = 0, v;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1) {
		*why = "has a length of 1 modulo 4";
		rc = LL_EPARSE;
		goto out;
	}
	n = len / 4 * 3 + (len % 4 != 0 ? len % 4 - 1 : 0);
	if (n > max) {
		*why = "decodes to more bytes than allowed";
		rc = LL_ETOOBIG;
		goto out;
	}
	o = malloc(n + 1);
	if (o == NULL) {
		*why = "cannot be decoded: out of memory";
		rc = LL_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		v = b64url_value((unsigned char)s[i]);
		if (v < 0) {
			*why = s[i] == '=' ? "has padding ('=')" :
					     "has a character outside the "
					     "base64url alphabet";
			rc = LL_EPARSE;
			goto out;
		}
		acc = acc << 6 | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[j++] = (unsigned char)(acc >> bits);
			acc &= (1ul << bits) - 1;
		}
	}
	if (acc != 0) {
		*why = "has unused trailing bits that are not zero";
		rc = LL_EPARSE;
		goto out;
	}
	o[j] = '\0';
	*out = o;
	*outlen = j;
	o = NULL;
out:
	free(o);
	return rc;
}

int ll_b64url_encode(char **out, size_t *outlen, const void *buf, size_t len,
		     struct ll_error *err)
{
	struct ll_buf b = { 0 };
	int rc;

	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	rc = ll_buf_reserve(&b, 0);
	if (rc == 0)
		rc = buf_add_b64url(&b, buf, len);
	if (rc < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			    "out of memory encoding base64url");
		goto out;
	}
	if (outlen != NULL)
		*outlen = b.len;
	*out = b.p;
	b.p = NULL;
out:
	ll_buf_free(&b);
	return rc;
}

int ll_b64url_decode(unsigned char **out, size_t *outlen, const char *s,
		     size_t len, size_t max, struct ll_error *err)
{
	const char *why = "";
	int rc;

	rc = b64url_get(out, outlen, s, len, max, &why);
	if (rc == LL_ETOOBIG)
		rc = ll_err(err, rc, LL_ECLASS_USAGE,
			    "base64url text decodes to more than %zu bytes",
			    max);
	else if (rc < 0)
		rc = ll_err(err, rc,
			    rc == LL_ENOMEM ? LL_ECLASS_OS : LL_ECLASS_POLICY,
			    "base64url text %s", why);
	return rc;
}

/* Decode the base64url string S, named WHAT in messages. */
static int decode_named(unsigned char **out, size_t *outlen, const char *s,
			size_t max, const char *what, struct ll_error *err)
{
	const char *why = "";
	int rc;

	rc = b64url_get(out, outlen, s, strlen(s), max, &why);
	if (rc == LL_ETOOBIG)
		rc = ll_err(err, rc, LL_ECLASS_USAGE,
			    "%s decodes to more than %zu bytes", what, max);
	else if (rc < 0)
		rc = ll_err(err, rc,
			    rc == LL_ENOMEM ? LL_ECLASS_OS : LL_ECLASS_POLICY,
			    "%s %s", what, why);
	return rc;
}

/* ---- JSON ---- */

/* Parse LEN bytes of P (at most MAX), named WHAT in messages, as one
 * JSON object. */
static int load_object_max(json_t **out, const void *p, size_t len,
			   size_t max, const char *what, struct ll_error *err)
{
	json_error_t je;
	json_t *j = NULL;
	char text[96];
	int rc = 0;

	*out = NULL;
	if (len > max) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			    "%s is larger than %zu bytes", what, max);
		goto out;
	}
	if (memchr(p, '\0', len) != NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s has a NUL byte", what);
		goto out;
	}
	/* no JSON_ALLOW_NUL: "\u0000" in a string is an error too */
	j = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s is not JSON: %s (at byte %d)", what,
			    shown(text, sizeof(text), je.text), je.position);
		goto out;
	}
	if (!json_is_object(j)) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s is not a JSON object", what);
		goto out;
	}
	*out = j;
	j = NULL;
out:
	json_decref(j);
	return rc;
}

static int load_object(json_t **out, const void *p, size_t len,
		       const char *what, struct ll_error *err)
{
	return load_object_max(out, p, len, LL_JWS_MAX, what, err);
}

/* The string member NAME of OBJ (named WHAT) into *out, borrowed from
 * OBJ; NULL when absent and not REQUIRED. */
static int get_string(const char **out, json_t *obj, const char *name,
		      int required, const char *what, struct ll_error *err)
{
	json_t *v = json_object_get(obj, name);
	int rc = 0;

	*out = NULL;
	if (v == NULL) {
		if (required)
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
				    "%s has no \"%s\"", what, name);
		goto out;
	}
	if (!json_is_string(v)) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s \"%s\" is not a string", what, name);
		goto out;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s \"%s\" has a NUL character", what, name);
		goto out;
	}
	*out = json_string_value(v);
out:
	return rc;
}

/* The base64url string member NAME of the JWK OBJ, decoded. */
static int get_b64(unsigned char **out, size_t *outlen, json_t *obj,
		   const char *name, const char *what, struct ll_error *err)
{
	const char *s;
	char label[48];
	int rc;

	*out = NULL;
	*outlen = 0;
	rc = get_string(&s, obj, name, 1, what, err);
	if (rc < 0)
		goto out;
	snprintf(label, sizeof(label), "%s \"%s\"", what, name);
	rc = decode_named(out, outlen, s, LL_JWS_MAX, label, err);
out:
	return rc;
}

/* ---- keys ---- */

static int sha256(unsigned char md[SHA256_LEN], const void *p, size_t n,
		  struct ll_error *err)
{
	size_t mdlen = 0;

	ERR_clear_error();
	if (!EVP_Q_digest(NULL, "SHA256", NULL, p, n, md, &mdlen) ||
	    mdlen != SHA256_LEN)
		return ll_err_ossl(err, LL_ECRYPTO, "SHA-256 failed");
	return 0;
}

/* The canonical JSON of an EC P-256 key, after checking its curve and
 * that its point is on it. */
static int ec_json(struct ll_buf *b, EVP_PKEY *pkey, struct ll_error *err)
{
	EVP_PKEY_CTX *pc = NULL;
	BIGNUM *x = NULL, *y = NULL;
	unsigned char xb[EC_COORD_LEN], yb[EC_COORD_LEN];
	char group[64] = "";
	int rc = 0;

	if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) ||
	    strcmp(group, "prime256v1") != 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "EC key on %s: ES256 takes P-256 only",
			    group[0] != '\0' ? group : "an unnamed curve");
		goto out;
	}
	pc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (pc == NULL || EVP_PKEY_public_check(pc) != 1) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the EC public key is not a point on P-256");
		goto out;
	}
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
	    BN_bn2binpad(x, xb, sizeof(xb)) != EC_COORD_LEN ||
	    BN_bn2binpad(y, yb, sizeof(yb)) != EC_COORD_LEN) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot read the EC public key");
		goto out;
	}
	rc = ll_buf_adds(b, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
	if (rc == 0)
		rc = buf_add_b64url(b, xb, sizeof(xb));
	if (rc == 0)
		rc = ll_buf_adds(b, "\",\"y\":\"");
	if (rc == 0)
		rc = buf_add_b64url(b, yb, sizeof(yb));
	if (rc == 0)
		rc = ll_buf_adds(b, "\"}");
	if (rc < 0)
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	BN_free(x);
	BN_free(y);
	return rc;
}

/* Append BN as unsigned big-endian without leading zeros, base64url. */
static int buf_add_bn(struct ll_buf *b, const BIGNUM *bn)
{
	unsigned char *p = NULL;
	int n = BN_num_bytes(bn), rc;

	p = malloc(n > 0 ? (size_t)n : 1);
	if (p == NULL)
		return LL_ENOMEM;
	BN_bn2bin(bn, p);
	rc = buf_add_b64url(b, p, (size_t)n);
	free(p);
	return rc;
}

/* The canonical JSON of an RSA key of 2048..8192 bits with an odd
 * public exponent 3 .. 2^32 - 1. */
static int rsa_json(struct ll_buf *b, EVP_PKEY *pkey, struct ll_error *err)
{
	BIGNUM *n = NULL, *e = NULL;
	int rc = 0, bits;

	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot read the RSA public key");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "RSA key of %d bits: RS256 takes %d to %d bits",
			    bits, RSA_MIN_BITS, RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(n)) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the RSA modulus is even");
		goto out;
	}
	if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 32) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the RSA public exponent is not odd and in 3 .. "
			    "2^32");
		goto out;
	}
	rc = ll_buf_adds(b, "{\"e\":\"");
	if (rc == 0)
		rc = buf_add_bn(b, e);
	if (rc == 0)
		rc = ll_buf_adds(b, "\",\"kty\":\"RSA\",\"n\":\"");
	if (rc == 0)
		rc = buf_add_bn(b, n);
	if (rc == 0)
		rc = ll_buf_adds(b, "\"}");
	if (rc < 0)
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
out:
	ERR_clear_error();
	BN_free(n);
	BN_free(e);
	return rc;
}

static int okp_json(struct ll_buf *b, EVP_PKEY *pkey, struct ll_error *err)
{
	unsigned char x[ED25519_LEN];
	size_t n = sizeof(x);
	int rc = 0;

	if (!EVP_PKEY_get_raw_public_key(pkey, x, &n) || n != ED25519_LEN) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot read the Ed25519 public key");
		goto out;
	}
	rc = ll_buf_adds(b, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"");
	if (rc == 0)
		rc = buf_add_b64url(b, x, n);
	if (rc == 0)
		rc = ll_buf_adds(b, "\"}");
	if (rc < 0)
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
out:
	ERR_clear_error();
	return rc;
}

/* A JWK around *PKEY (taken over; *pkey is NULL afterwards), once the
 * key passes the checks of its kind.  HAS_PRIVATE: it can sign. */
static int jwk_wrap(struct ll_jwk **out, EVP_PKEY **pkey, int has_private,
		    struct ll_error *err)
{
	struct ll_buf json = { 0 };
	struct ll_jwk *k = NULL;
	const char *type;
	int rc = 0;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	k->pkey = *pkey;
	*pkey = NULL;
	k->has_private = has_private;
	if (EVP_PKEY_is_a(k->pkey, "EC")) {
		k->kind = JWK_EC;
		rc = ec_json(&json, k->pkey, err);
	} else if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		k->kind = JWK_RSA;
		rc = rsa_json(&json, k->pkey, err);
	} else if (EVP_PKEY_is_a(k->pkey, "ED25519")) {
		k->kind = JWK_OKP;
		rc = okp_json(&json, k->pkey, err);
	} else {
		type = EVP_PKEY_get0_type_name(k->pkey);
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "%s key: ACME keys are EC P-256, RSA or Ed25519",
			    type != NULL ? type : "unknown");
	}
	if (rc < 0)
		goto out;
	k->json = json.p;
	json.p = NULL;
	*out = k;
	k = NULL;
out:
	ll_buf_free(&json);
	ll_jwk_free(&k);
	return rc;
}

/* Build a public key of type NAME from PARAMS; WHY is the message
 * when OpenSSL will not. */
static int key_fromdata(EVP_PKEY **out, const char *name, OSSL_PARAM *params,
			const char *why, struct ll_error *err)
{
	EVP_PKEY_CTX *pc = NULL;
	int rc = 0;

	*out = NULL;
	ERR_clear_error();
	pc = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	if (pc == NULL || EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		rc = ll_err_ossl(err, LL_EPARSE, "%s", why);
	EVP_PKEY_CTX_free(pc);
	return rc;
}

static int ec_from_object(EVP_PKEY **out, json_t *obj, struct ll_error *err)
{
	unsigned char *x = NULL, *y = NULL, pt[1 + 2 * EC_COORD_LEN];
	char group[] = "prime256v1", text[40];
	OSSL_PARAM params[3];
	const char *crv;
	size_t xlen, ylen;
	int rc;

	*out = NULL;
	rc = get_string(&crv, obj, "crv", 1, "EC JWK", err);
	if (rc < 0)
		goto out;
	if (strcmp(crv, "P-256") != 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "EC JWK on curve \"%s\": ES256 takes P-256 only",
			    shown(text, sizeof(text), crv));
		goto out;
	}
	rc = get_b64(&x, &xlen, obj, "x", "EC JWK", err);
	if (rc == 0)
		rc = get_b64(&y, &ylen, obj, "y", "EC JWK", err);
	if (rc < 0)
		goto out;
	if (xlen != EC_COORD_LEN || ylen != EC_COORD_LEN) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "EC JWK \"%s\" is not %d bytes",
			    xlen != EC_COORD_LEN ? "x" : "y", EC_COORD_LEN);
		goto out;
	}
	pt[0] = 0x04; /* uncompressed */
	memcpy(pt + 1, x, EC_COORD_LEN);
	memcpy(pt + 1 + EC_COORD_LEN, y, EC_COORD_LEN);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      pt, sizeof(pt));
	params[2] = OSSL_PARAM_construct_end();
	rc = key_fromdata(out, "EC", params,
			  "the EC JWK is not a point on P-256", err);
out:
	free(x);
	free(y);
	return rc;
}

/* RFC 7518 section 6.3.1: n and e are unsigned, without leading zero
 * bytes. */
static int check_uint(const unsigned char *p, size_t n, const char *name,
		      struct ll_error *err)
{
	if (n == 0)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "RSA JWK \"%s\" is empty", name);
	if (p[0] == 0)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "RSA JWK \"%s\" has a leading zero byte", name);
	return 0;
}

static int rsa_from_object(EVP_PKEY **out, json_t *obj, struct ll_error *err)
{
	unsigned char *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	size_t nlen, elen;
	int rc;

	*out = NULL;
	rc = get_b64(&n, &nlen, obj, "n", "RSA JWK", err);
	if (rc == 0)
		rc = get_b64(&e, &elen, obj, "e", "RSA JWK", err);
	if (rc == 0)
		rc = check_uint(n, nlen, "n", err);
	if (rc == 0)
		rc = check_uint(e, elen, "e", err);
	if (rc < 0)
		goto out;
	/* the sizes are checked on the key (jwk_wrap); here only that the
	 * numbers are of a sane length for BN_bin2bn */
	if (nlen > RSA_MAX_BITS / 8 || elen > 4) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "RSA JWK \"%s\" is too large: RS256 takes moduli "
			    "up to %d bits and exponents below 2^32",
			    nlen > RSA_MAX_BITS / 8 ? "n" : "e", RSA_MAX_BITS);
		goto out;
	}
	ERR_clear_error();
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "cannot build an RSA key");
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "cannot build an RSA key");
		goto out;
	}
	rc = key_fromdata(out, "RSA", params, "the RSA JWK is not a valid key",
			  err);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return rc;
}

static int okp_from_object(EVP_PKEY **out, json_t *obj, struct ll_error *err)
{
	unsigned char *x = NULL;
	const char *crv;
	char text[40];
	size_t xlen;
	int rc;

	*out = NULL;
	rc = get_string(&crv, obj, "crv", 1, "OKP JWK", err);
	if (rc < 0)
		goto out;
	if (strcmp(crv, "Ed25519") != 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "OKP JWK on curve \"%s\": EdDSA takes Ed25519 "
			    "only",
			    shown(text, sizeof(text), crv));
		goto out;
	}
	rc = get_b64(&x, &xlen, obj, "x", "OKP JWK", err);
	if (rc < 0)
		goto out;
	if (xlen != ED25519_LEN) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "OKP JWK \"x\" is not %d bytes", ED25519_LEN);
		goto out;
	}
	ERR_clear_error();
	*out = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen);
	if (*out == NULL)
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the OKP JWK is not a valid key");
out:
	free(x);
	return rc;
}

/* A public key from the JWK object OBJ. */
static int jwk_from_object(struct ll_jwk **out, json_t *obj,
			   struct ll_error *err)
{
	EVP_PKEY *pkey = NULL;
	const char *kty;
	char text[40];
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; i < LL_ARRAY_SIZE(private_members); i++) {
		if (json_object_get(obj, private_members[i]) != NULL) {
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
				    "JWK has the private member \"%s\"",
				    private_members[i]);
			goto out;
		}
	}
	rc = get_string(&kty, obj, "kty", 1, "JWK", err);
	if (rc < 0)
		goto out;
	if (strcmp(kty, "EC") == 0) {
		rc = ec_from_object(&pkey, obj, err);
	} else if (strcmp(kty, "RSA") == 0) {
		rc = rsa_from_object(&pkey, obj, err);
	} else if (strcmp(kty, "OKP") == 0) {
		rc = okp_from_object(&pkey, obj, err);
	} else {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "JWK key type \"%s\": ACME keys are EC, RSA or "
			    "OKP",
			    shown(text, sizeof(text), kty));
	}
	if (rc < 0)
		goto out;
	rc = jwk_wrap(out, &pkey, 0, err);
out:
	EVP_PKEY_free(pkey);
	return rc;
}

int ll_jwk_parse(struct ll_jwk **out, const char *json, size_t len,
		 struct ll_error *err)
{
	json_t *obj = NULL;
	int rc;

	*out = NULL;
	rc = load_object(&obj, json, len, "JWK", err);
	if (rc == 0)
		rc = jwk_from_object(out, obj, err);
	json_decref(obj);
	return rc;
}

int ll_jwk_generate(struct ll_jwk **out, const char *alg, struct ll_error *err)
{
	EVP_PKEY *pkey = NULL;
	char text[40];
	int rc = 0;

	*out = NULL;
	ERR_clear_error();
	if (alg != NULL && strcmp(alg, "ES256") == 0) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	} else if (alg != NULL && strcmp(alg, "RS256") == 0) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	} else if (alg != NULL && strcmp(alg, "EdDSA") == 0) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "no JWS algorithm \"%s\": ES256, RS256 or EdDSA",
			    alg != NULL ? shown(text, sizeof(text), alg) : "");
		goto out;
	}
	if (pkey == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "cannot generate a %s key",
				 alg);
		goto out;
	}
	rc = jwk_wrap(out, &pkey, 1, err);
out:
	EVP_PKEY_free(pkey);
	return rc;
}

int ll_jwk_private_pem(char **out, size_t *len, const struct ll_jwk *k,
		       struct ll_error *err)
{
	struct ll_buf b = { .wipe = 1 };
	BIO *bio = NULL;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (!k->has_private) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the JWK has no private key");
		goto out;
	}
	ERR_clear_error();
	bio = ll_bio_buf_new(&b);
	if (bio == NULL ||
	    !PEM_write_bio_PrivateKey_ex(bio, k->pkey, NULL, NULL, 0, NULL,
					 NULL, NULL, NULL) ||
	    b.p == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot write the key as PKCS#8 PEM");
		goto out;
	}
	*out = b.p;
	*len = b.len;
	b.p = NULL;
out:
	BIO_free(bio);
	ll_buf_free(&b);
	return rc;
}

int ll_jwk_from_private_pem(struct ll_jwk **out, const char *pem, size_t len,
			    struct ll_error *err)
{
	OSSL_DECODER_CTX *dc = NULL;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = (const unsigned char *)pem;
	size_t left = len;
	int rc = 0;

	*out = NULL;
	if (len > LL_JWS_MAX) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
			    "key PEM is larger than %d bytes", LL_JWS_MAX);
		goto out;
	}
	ERR_clear_error();
	/* unencrypted PKCS#8 only: no passphrase callback, no prompt */
	dc = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", "PrivateKeyInfo", NULL,
					   EVP_PKEY_KEYPAIR, NULL, NULL);
	if (dc == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot set up a key decoder");
		goto out;
	}
	if (!OSSL_DECODER_from_data(dc, &p, &left) || pkey == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "not an unencrypted PKCS#8 PEM private key");
		goto out;
	}
	ERR_clear_error();
	rc = jwk_wrap(out, &pkey, 1, err);
out:
	OSSL_DECODER_CTX_free(dc);
	EVP_PKEY_free(pkey);
	return rc;
}

int ll_jwk_from_cert(struct ll_jwk **out, const struct ll_cert *c,
		     struct ll_error *err)
{
	EVP_PKEY *pkey;
	int rc;

	*out = NULL;
	ERR_clear_error();
	pkey = X509_get0_pubkey(ll_cert_x509(c));
	if (pkey == NULL || !EVP_PKEY_up_ref(pkey))
		return ll_err_ossl(err, LL_EPOLICY,
				   "the certificate's public key does not "
				   "decode");
	rc = jwk_wrap(out, &pkey, 0, err);
	EVP_PKEY_free(pkey);
	return rc;
}

void ll_jwk_free(struct ll_jwk **pp)
{
	struct ll_jwk *k;

	if (pp == NULL || *pp == NULL)
		return;
	k = *pp;
	EVP_PKEY_free(k->pkey); /* clears the private key */
	free(k->json);
	free(k);
	*pp = NULL;
}

const char *ll_jwk_alg(const struct ll_jwk *k)
{
	switch (k->kind) {
	case JWK_EC:
		return "ES256";
	case JWK_RSA:
		return "RS256";
	case JWK_OKP:
		return "EdDSA";
	}
	return "";
}

int ll_jwk_json(char **out, const struct ll_jwk *k, struct ll_error *err)
{
	*out = strdup(k->json);
	if (*out == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	return 0;
}

int ll_jwk_thumbprint(char out[LL_JWK_THUMBPRINT_LEN + 1],
		      const struct ll_jwk *k, struct ll_error *err)
{
	unsigned char md[SHA256_LEN];
	int rc;

	out[0] = '\0';
	rc = sha256(md, k->json, strlen(k->json), err);
	if (rc == 0)
		b64url_put(out, md, sizeof(md));
	return rc;
}

int ll_jwk_equal(const struct ll_jwk *a, const struct ll_jwk *b)
{
	/* the canonical JSON is built from the key: one text per key */
	return a != NULL && b != NULL && a->kind == b->kind &&
	       strcmp(a->json, b->json) == 0;
}

/* ---- JWS ---- */

/* The digest ALG of KEY signs with, NULL for EdDSA. */
static const char *md_name(const struct ll_jwk *key)
{
	return key->kind == JWK_OKP ? NULL : "SHA256";
}

/* The DER ECDSA-Sig-Value of the 64-byte R||S of RFC 7518 section 3.4. */
static int ecdsa_der(unsigned char **out, size_t *outlen,
		     const unsigned char *rs, struct ll_error *err)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	int n, rc = 0;

	*out = NULL;
	*outlen = 0;
	ERR_clear_error();
	r = BN_bin2bn(rs, EC_COORD_LEN, NULL);
	s = BN_bin2bn(rs + EC_COORD_LEN, EC_COORD_LEN, NULL);
	es = ECDSA_SIG_new();
	if (r == NULL || s == NULL || es == NULL || !ECDSA_SIG_set0(es, r, s)) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot convert an ES256 signature");
		goto out;
	}
	r = s = NULL; /* ES has them */
	n = i2d_ECDSA_SIG(es, &der);
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot convert an ES256 signature");
		goto out;
	}
	*out = der;
	*outlen = (size_t)n;
	der = NULL;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	return rc;
}

/* R||S (64 bytes into RS) of a DER ECDSA-Sig-Value. */
static int ecdsa_raw(unsigned char rs[2 * EC_COORD_LEN],
		     const unsigned char *der, size_t len, struct ll_error *err)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	int rc = 0;

	ERR_clear_error();
	es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (es == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot read an ECDSA signature");
		goto out;
	}
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, rs, EC_COORD_LEN) != EC_COORD_LEN ||
	    BN_bn2binpad(s, rs + EC_COORD_LEN, EC_COORD_LEN) != EC_COORD_LEN)
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "ECDSA signature values do not fit P-256");
out:
	ECDSA_SIG_free(es);
	return rc;
}

/* Does SIG (SIGLEN bytes, in JWS form) over IN verify with KEY? */
static int verify_input(const struct ll_jwk *key, const void *in, size_t inlen,
			const unsigned char *sig, size_t siglen,
			struct ll_error *err)
{
	EVP_MD_CTX *mc = NULL;
	unsigned char *der = NULL;
	const unsigned char *s = sig;
	size_t slen = siglen, want;
	int rc = 0;

	want = key->kind == JWK_RSA ? (size_t)EVP_PKEY_get_size(key->pkey) :
				      2 * EC_COORD_LEN;
	if (siglen != want) {
		rc = ll_err(err, LL_EDECRYPT, LL_ECLASS_POLICY,
			    "%s signature of %zu bytes, not %zu",
			    ll_jwk_alg(key), siglen, want);
		goto out;
	}
	if (key->kind == JWK_EC) {
		rc = ecdsa_der(&der, &slen, sig, err);
		if (rc < 0)
			goto out;
		s = der;
	}
	ERR_clear_error();
	mc = EVP_MD_CTX_new();
	if (mc == NULL || EVP_DigestVerifyInit_ex(mc, NULL, md_name(key), NULL,
						  NULL, key->pkey, NULL) != 1) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "cannot set up %s verification",
				 ll_jwk_alg(key));
		goto out;
	}
	if (EVP_DigestVerify(mc, s, slen, in, inlen) != 1)
		rc = ll_err(err, LL_EDECRYPT, LL_ECLASS_POLICY,
			    "the JWS signature does not verify");
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mc);
	OPENSSL_free(der);
	return rc;
}

/* Sign IN with KEY: the JWS form (R||S for ES256) into SIG. */
static int sign_input(unsigned char sig[JWS_SIG_MAX], size_t *siglen,
		      const struct ll_jwk *key, const void *in, size_t inlen,
		      struct ll_error *err)
{
	unsigned char der[JWS_SIG_MAX];
	EVP_MD_CTX *mc = NULL;
	size_t n = 0;
	int rc = 0;

	*siglen = 0;
	ERR_clear_error();
	mc = EVP_MD_CTX_new();
	if (mc == NULL ||
	    EVP_DigestSignInit_ex(mc, NULL, md_name(key), NULL, NULL, key->pkey,
				  NULL) != 1 ||
	    EVP_DigestSign(mc, NULL, &n, in, inlen) != 1 || n > sizeof(der) ||
	    EVP_DigestSign(mc, der, &n, in, inlen) != 1) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "cannot sign with %s",
				 ll_jwk_alg(key));
		goto out;
	}
	if (key->kind == JWK_EC) {
		rc = ecdsa_raw(sig, der, n, err);
		if (rc == 0)
			*siglen = 2 * EC_COORD_LEN;
	} else {
		memcpy(sig, der, n);
		*siglen = n;
	}
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mc);
	return rc;
}

/* The members of the protected header (RFC 8555 section 6.2). */
static int parse_header(struct ll_jws *jws, struct ll_error *err)
{
	static const char what[] = "JWS protected header";
	json_t *jwk;
	char text[40];
	int rc;

	rc = get_string(&jws->alg, jws->hdr, "alg", 1, what, err);
	if (rc < 0)
		goto out;
	if (strcmp(jws->alg, "ES256") != 0 && strcmp(jws->alg, "RS256") != 0 &&
	    strcmp(jws->alg, "EdDSA") != 0) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "JWS algorithm \"%s\": ES256, RS256 or EdDSA "
			    "only",
			    shown(text, sizeof(text), jws->alg));
		goto out;
	}
	if (json_object_get(jws->hdr, "crit") != NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY, "%s has \"crit\"",
			    what);
		goto out;
	}
	rc = get_string(&jws->url, jws->hdr, "url", 1, what, err);
	if (rc == 0)
		rc = get_string(&jws->nonce, jws->hdr, "nonce", 0, what, err);
	if (rc == 0)
		rc = get_string(&jws->kid, jws->hdr, "kid", 0, what, err);
	if (rc < 0)
		goto out;
	jwk = json_object_get(jws->hdr, "jwk");
	if (jwk != NULL && jws->kid != NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s has both \"jwk\" and \"kid\"", what);
		goto out;
	}
	if (jwk == NULL && jws->kid == NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s has neither \"jwk\" nor \"kid\"", what);
		goto out;
	}
	if (jwk != NULL && !json_is_object(jwk)) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s \"jwk\" is not an object", what);
		goto out;
	}
	if (jwk != NULL)
		rc = jwk_from_object(&jws->jwk, jwk, err);
out:
	return rc;
}

int ll_jws_parse(struct ll_jws **out, const void *body, size_t len,
		 struct ll_error *err)
{
	return ll_jws_parse_max(out, body, len, LL_JWS_MAX, err);
}

int ll_jws_parse_max(struct ll_jws **out, const void *body, size_t len,
		     size_t max, struct ll_error *err)
{
	struct ll_buf input = { 0 };
	struct ll_jws *jws = NULL;
	json_t *top = NULL;
	const char *prot, *payload, *sig;
	unsigned char *hdr = NULL;
	size_t hlen = 0;
	int rc;

	*out = NULL;
	if (max < LL_JWS_MAX)
		max = LL_JWS_MAX;
	rc = load_object_max(&top, body, len, max, "JWS", err);
	if (rc < 0)
		goto out;
	if (json_object_get(top, "header") != NULL) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "JWS has an unprotected \"header\"");
		goto out;
	}
	rc = get_string(&prot, top, "protected", 1, "JWS", err);
	if (rc == 0)
		rc = get_string(&payload, top, "payload", 1, "JWS", err);
	if (rc == 0)
		rc = get_string(&sig, top, "signature", 1, "JWS", err);
	if (rc < 0)
		goto out;
	if (json_object_size(top) != 3) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "JWS has members other than \"protected\", "
			    "\"payload\" and \"signature\"");
		goto out;
	}
	jws = calloc(1, sizeof(*jws));
	if (jws == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	rc = decode_named(&hdr, &hlen, prot, LL_JWS_MAX, "JWS \"protected\"",
			  err);
	if (rc == 0)
		rc = decode_named(&jws->payload, &jws->plen, payload, max,
				  "JWS \"payload\"", err);
	if (rc == 0)
		rc = decode_named(&jws->sig, &jws->siglen, sig, JWS_SIG_MAX,
				  "JWS \"signature\"", err);
	if (rc == 0)
		rc = load_object(&jws->hdr, hdr, hlen, "JWS protected header",
				 err);
	if (rc == 0)
		rc = parse_header(jws, err);
	if (rc < 0)
		goto out;
	if (strcmp(jws->alg, "RS256") != 0 && jws->siglen != 2 * EC_COORD_LEN) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "JWS %s signature of %zu bytes, not %d", jws->alg,
			    jws->siglen, 2 * EC_COORD_LEN);
		goto out;
	}
	rc = ll_buf_add(&input, prot, strlen(prot));
	if (rc == 0)
		rc = ll_buf_add(&input, ".", 1);
	if (rc == 0)
		rc = ll_buf_add(&input, payload, strlen(payload));
	if (rc < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	jws->input = input.p;
	jws->inlen = input.len;
	input.p = NULL;
	*out = jws;
	jws = NULL;
out:
	ll_buf_free(&input);
	free(hdr);
	json_decref(top);
	ll_jws_free(&jws);
	return rc;
}

void ll_jws_free(struct ll_jws **pp)
{
	struct ll_jws *jws;

	if (pp == NULL || *pp == NULL)
		return;
	jws = *pp;
	json_decref(jws->hdr);
	ll_jwk_free(&jws->jwk);
	free(jws->input);
	free(jws->payload);
	free(jws->sig);
	free(jws);
	*pp = NULL;
}

const char *ll_jws_alg(const struct ll_jws *jws)
{
	return jws->alg;
}

const char *ll_jws_nonce(const struct ll_jws *jws)
{
	return jws->nonce;
}

const char *ll_jws_url(const struct ll_jws *jws)
{
	return jws->url;
}

const char *ll_jws_kid(const struct ll_jws *jws)
{
	return jws->kid;
}

const struct ll_jwk *ll_jws_jwk(const struct ll_jws *jws)
{
	return jws->jwk;
}

const char *ll_jws_payload(const struct ll_jws *jws, size_t *len)
{
	if (len != NULL)
		*len = jws->plen;
	return (const char *)jws->payload;
}

int ll_jws_verify(const struct ll_jws *jws, const struct ll_jwk *key,
		  struct ll_error *err)
{
	if (strcmp(jws->alg, ll_jwk_alg(key)) != 0)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "JWS algorithm %s does not fit the key (%s)",
			      jws->alg, ll_jwk_alg(key));
	return verify_input(key, jws->input, jws->inlen, jws->sig, jws->siglen,
			    err);
}

/* Set the string member NAME of OBJ to VALUE. */
static int set_string(json_t *obj, const char *name, const char *value,
		      struct ll_error *err)
{
	if (json_object_set_new(obj, name, json_string(value)) != 0)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the JWS \"%s\" is not UTF-8 text", name);
	return 0;
}

int ll_jws_sign(char **out, size_t *len, const struct ll_jwk *key,
		const char *kid, const char *nonce, const char *url,
		const void *payload, size_t plen, struct ll_error *err)
{
	unsigned char sig[JWS_SIG_MAX];
	struct ll_buf input = { 0 }, body = { 0 };
	json_t *hdr = NULL, *jwk = NULL;
	char *hjson = NULL;
	size_t siglen = 0, plen64;
	int rc = 0;

	assert(url != NULL && (payload != NULL || plen == 0));
	*out = NULL;
	*len = 0;
	if (!key->has_private) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the JWK has no private key to sign with");
		goto out;
	}
	hdr = json_object();
	if (hdr == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	rc = set_string(hdr, "alg", ll_jwk_alg(key), err);
	if (rc == 0 && nonce != NULL)
		rc = set_string(hdr, "nonce", nonce, err);
	if (rc == 0)
		rc = set_string(hdr, "url", url, err);
	if (rc == 0 && kid != NULL)
		rc = set_string(hdr, "kid", kid, err);
	if (rc < 0)
		goto out;
	if (kid == NULL) {
		jwk = json_loads(key->json, JSON_REJECT_DUPLICATES, NULL);
		if (jwk == NULL || json_object_set(hdr, "jwk", jwk) != 0) {
			rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
				    "out of memory");
			goto out;
		}
	}
	hjson = json_dumps(hdr, JSON_COMPACT);
	if (hjson == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	rc = buf_add_b64url(&input, hjson, strlen(hjson));
	if (rc == 0)
		rc = ll_buf_add(&input, ".", 1);
	if (rc == 0)
		rc = buf_add_b64url(&input, payload, plen);
	if (rc < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	rc = sign_input(sig, &siglen, key, input.p, input.len, err);
	if (rc < 0)
		goto out;
	plen64 = b64url_len(plen);
	rc = ll_buf_adds(&body, "{\"protected\":\"");
	if (rc == 0)
		rc = ll_buf_add(&body, input.p, input.len - plen64 - 1);
	if (rc == 0)
		rc = ll_buf_adds(&body, "\",\"payload\":\"");
	if (rc == 0)
		rc = ll_buf_add(&body, input.p + input.len - plen64, plen64);
	if (rc == 0)
		rc = ll_buf_adds(&body, "\",\"signature\":\"");
	if (rc == 0)
		rc = buf_add_b64url(&body, sig, siglen);
	if (rc == 0)
		rc = ll_buf_adds(&body, "\"}");
	if (rc < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	*out = body.p;
	*len = body.len;
	body.p = NULL;
out:
	ll_buf_free(&input);
	ll_buf_free(&body);
	free(hjson);
	json_decref(jwk);
	json_decref(hdr);
	return rc;
}

/* ---- RFC 8823 ---- */

int ll_acme_email_digest(char out[LL_JWK_THUMBPRINT_LEN + 1],
			 const char *token1, const char *token2,
			 const char *thumbprint, struct ll_error *err)
{
	/* the key authorization proves control of the mailbox: wiped */
	struct ll_buf ka = { .wipe = 1 };
	unsigned char md[SHA256_LEN];
	int rc;

	out[0] = '\0';
	rc = ll_buf_adds(&ka, token1);
	if (rc == 0)
		rc = ll_buf_adds(&ka, token2);
	if (rc == 0)
		rc = ll_buf_add(&ka, ".", 1);
	if (rc == 0)
		rc = ll_buf_adds(&ka, thumbprint);
	if (rc < 0) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	rc = sha256(md, ka.p, ka.len, err);
	if (rc == 0)
		b64url_put(out, md, sizeof(md));
out:
	OPENSSL_cleanse(md, sizeof(md));
	ll_buf_free(&ka);
	return rc;
}
