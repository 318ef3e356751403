/*
 * tsa.h - letterlockd's RFC 3161 time-stamping authority: what the
 * front takes from a TimeStampReq (tsa_http.c) and hands the TSA
 * keyholder (kh_tsa.c), which alone holds the time-stamping unit's key
 * and reads the clock the tokens carry.
 *
 * A request is reduced to fixed-shape fields: the imprint's hash
 * (SHA-256/384/512) and whether its AlgorithmIdentifier carried NULL
 * parameters (echoed as sent: RFC 3161 2.4.2 wants the messageImprint
 * of the token to be the request's), the hashed message, the nonce as
 * the content octets of its INTEGER (minimal, as DER has it), and
 * certReq.  The policy is the configured one ([tsa] policy); a request
 * asking for another is refused by the front.
 */
#ifndef LLD_TSA_H
#define LLD_TSA_H

#include <stddef.h>

/* The default TSA policy: an OID under the UUID arc (ITU-T X.667),
 * which needs no registration. */
#define LLD_TSA_POLICY_DEFAULT "2.25.175829550596380132787688150051185589430"
#define LLD_TSA_POLICY_MAX 120 /* dotted text of a policy OID */
#define LLD_TSA_NONCE_MAX 64 /* content octets of the nonce INTEGER */
#define LLD_TSA_IMPRINT_MAX 64 /* SHA-512 */
#define LLD_TSA_REPLY_MAX (16 * 1024) /* a granted TimeStampResp, DER */
#define LLD_TSA_WHY_MAX 120 /* a rejection's statusString */

enum lld_tsa_hash {
	LLD_TSA_SHA256 = 1,
	LLD_TSA_SHA384 = 2,
	LLD_TSA_SHA512 = 3,
};

struct lld_tsa_req {
	enum lld_tsa_hash hash;
	int null_params; /* the request's AlgorithmIdentifier had NULL */
	unsigned char imprint[LLD_TSA_IMPRINT_MAX];
	size_t imprint_len; /* the hash's size */
	unsigned char nonce[LLD_TSA_NONCE_MAX];
	size_t nonce_len; /* 0: no nonce */
	int cert_req; /* put the TSA's certificates in the token */
};

/* PKIFailureInfo bits (RFC 3161 2.4.2) the front answers with. */
enum lld_tsa_fail {
	LLD_TSA_BAD_ALG = 0,
	LLD_TSA_BAD_REQUEST = 2,
	LLD_TSA_BAD_DATA_FORMAT = 5,
	LLD_TSA_TIME_NOT_AVAILABLE = 14,
	LLD_TSA_UNACCEPTED_POLICY = 15,
	LLD_TSA_UNACCEPTED_EXTENSION = 16,
	LLD_TSA_SYSTEM_FAILURE = 25,
};

/*
 * tsa_der.c: writing DER forward into a fixed buffer, for the few
 * structures letterlockd writes itself (kh_tsa.c says why).  Lengths
 * are computed before a header is written: lld_der_tl(n) is the size
 * of a whole TLV of N content octets.  A write that does not fit sets
 * bad and every later one does nothing.
 */
struct lld_der {
	unsigned char *p;
	size_t len, cap;
	int bad;
};

size_t lld_der_hdr_len(size_t n);
size_t lld_der_tl(size_t n);
void lld_der_put(struct lld_der *d, const void *p, size_t n);
/* The tag TAG and the length N, definite, in the fewest octets. */
void lld_der_hdr(struct lld_der *d, unsigned tag, size_t n);
void lld_der_tlv(struct lld_der *d, unsigned tag, const void *p, size_t n);

/* tsa_der.c: the octets of the hash H, 0 if H is none of them. */
size_t lld_tsa_hash_len(int h);

/* tsa_der.c: the nonce N (LEN content octets of an INTEGER) is minimally encoded,
 * as DER wants it: 1..LLD_TSA_NONCE_MAX octets, no redundant leading
 * 0x00 or 0xff. */
int lld_tsa_nonce_ok(const unsigned char *n, size_t len);

/*
 * tsa_req.c: parse the DER TimeStampReq BODY (LEN octets) for a TSA of
 * policy POLICY (dotted OID) into *out.  0, or -1 with *fail the
 * PKIFailureInfo bit to answer with and WHY (CAP octets) a short
 * statusString.  Bounded: at most LLD_BODY_MAX octets are looked at.
 */
int lld_tsa_parse(struct lld_tsa_req *out, const unsigned char *body,
		  size_t len, const char *policy, enum lld_tsa_fail *fail,
		  char *why, size_t cap);

/*
 * tsa_req.c: a TimeStampResp refusing a request: status rejection,
 * the statusString WHY, failInfo FAIL.  DER into *der (malloc'd).
 * -1 when out of memory.
 */
int lld_tsa_rejection(unsigned char **der, size_t *len, enum lld_tsa_fail fail,
		      const char *why);

#endif
