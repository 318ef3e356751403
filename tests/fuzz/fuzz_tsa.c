/*
 * fuzz_tsa.c - the TimeStampReq as letterlockd's TSA front reads it
 * (src/service/tsa_req.c, lld_tsa_parse), and the rejection it answers
 * a refused one with (lld_tsa_rejection).
 *
 * Checked besides the sanitizers: a request that parses has a known
 * hash with an imprint of its length, flags of 0 or 1, and a nonce that
 * is empty or minimally encoded; a refused one names a failInfo bit and
 * a reason, and its rejection decodes with OpenSSL's TS_RESP decoder as
 * status rejection with that bit set.
 *
 * Seeds (corpus/fuzz_tsa/): `openssl ts -query` requests with SHA-256,
 * -384, -512 and SHA-1, with and without nonce, certReq and a policy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ts.h>

#include "tsa.h"
#include "fuzz.h"

#define POLICY "1.2.3.4.5"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lld_tsa_req r;
	enum lld_tsa_fail fail = LLD_TSA_SYSTEM_FAILURE;
	char why[LLD_TSA_WHY_MAX];
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	TS_RESP *resp;
	const ASN1_BIT_STRING *bits;

	why[0] = '\0';
	if (lld_tsa_parse(&r, data, size, POLICY, &fail, why, sizeof(why)) ==
	    0) {
		CHECK(lld_tsa_hash_len(r.hash) != 0 &&
		      r.imprint_len == lld_tsa_hash_len(r.hash));
		CHECK(r.null_params == 0 || r.null_params == 1);
		CHECK(r.cert_req == 0 || r.cert_req == 1);
		CHECK(r.nonce_len == 0 ||
		      lld_tsa_nonce_ok(r.nonce, r.nonce_len));
		return 0;
	}
	CHECK(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
	CHECK(lld_tsa_rejection(&der, &len, fail, why) == 0);
	p = der;
	resp = d2i_TS_RESP(NULL, &p, (long)len);
	CHECK(resp != NULL && p == der + len);
	CHECK(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
		      TS_RESP_get_status_info(resp))) == 2);
	bits = TS_STATUS_INFO_get0_failure_info(TS_RESP_get_status_info(resp));
	CHECK(bits != NULL && ASN1_BIT_STRING_get_bit(bits, (int)fail));
	TS_RESP_free(resp);
	free(der);
	return 0;
}
