/*
 * fuzz_smimea.c - SMIMEA answers from untrusted bytes (src/lib/smimea.c):
 * the RDATA parser, what a set of records gives alice@example.test, and
 * owner names of untrusted addresses.
 *
 * Input: the records of one answer, each as a 16-bit big-endian length
 * and that many octets of RDATA (a last one cut short keeps what there
 * is), as DNS carries them.  Every RDATA goes through ll_smimea_parse
 * and ll_smimea_unusable, the whole set through ll_smimea_take; the
 * input as a string through ll_smimea_owner.
 *
 * Seeds (corpus/fuzz_smimea/): 3 0 0 with the fixtures' certificates
 * for alice (hers, mallory's, the two together, twice), bob's (another
 * address), a CA's (0 0 0), digests (3 0 1, 3 1 2), a key (3 1 0),
 * malformed records, and more records than are read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <letterlock/letterlock.h>

#include "fuzz.h"
#include "smimea.h"

#define ADDR "alice@example.test"
#define NOW ((time_t)1800000000) /* within the fixtures' validity */
#define RECORDS_MAX (LL_SMIMEA_RRS_MAX + 4)

static void one_rr(const uint8_t *p, size_t n)
{
	struct ll_smimea_rr rr;

	if (ll_smimea_parse(&rr, p, n) < 0)
		return;
	CHECK(n >= 4 && rr.data == p + 3 && rr.len == n - 3);
	CHECK(rr.usage == p[0] && rr.selector == p[1] && rr.matching == p[2]);
	CHECK(rr.matching != 1 || rr.len == 32);
	CHECK(rr.matching != 2 || rr.len == 64);
	if (ll_smimea_unusable(&rr) == NULL)
		CHECK(rr.usage == 3 && rr.selector == 0 && rr.matching == 0);
}

static void answer(const uint8_t *data, size_t size)
{
	const void *rd[RECORDS_MAX];
	size_t len[RECORDS_MAX], n = 0, at = 0;
	struct ll_smimea_take t;

	while (n < RECORDS_MAX && size - at >= 2) {
		size_t l = (size_t)data[at] << 8 | data[at + 1];

		at += 2;
		if (l > size - at)
			l = size - at;
		rd[n] = data + at;
		len[n] = l;
		one_rr(data + at, l);
		at += l;
		n++;
	}
	CHECK(ll_smimea_take(&t, rd, len, n, ADDR, NOW) == 0);
	CHECK(t.n <= LL_SMIMEA_CERTS_MAX);
	CHECK(t.records == (n < LL_SMIMEA_RRS_MAX ? n : LL_SMIMEA_RRS_MAX));
	/* nothing taken from records read: each said why */
	CHECK(t.n > 0 || n == 0 || t.why[0] != '\0');
	for (size_t i = 0; i < t.n; i++) {
		CHECK(ll_cert_matches_email(t.certs[i], ADDR));
		CHECK(ll_cert_not_before(t.certs[i]) <= NOW &&
		      ll_cert_not_after(t.certs[i]) >= NOW);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(ll_cert_fingerprint(t.certs[i]),
				     ll_cert_fingerprint(t.certs[k])) != 0);
	}
	ll_smimea_take_free(&t);
	CHECK(t.n == 0);
}

static void owner(const uint8_t *data, size_t size)
{
	char addr[400], out[LL_SMIMEA_OWNER_MAX];
	size_t n = size < sizeof(addr) - 1 ? size : sizeof(addr) - 1;

	memcpy(addr, data, n);
	addr[n] = '\0';
	if (ll_smimea_owner(out, sizeof(out), addr, NULL) < 0)
		return;
	CHECK(strlen(out) > 2 * LL_SMIMEA_HASH_LEN + 12);
	CHECK(strspn(out, "0123456789abcdef") == 2 * LL_SMIMEA_HASH_LEN);
	CHECK(strncmp(out + 2 * LL_SMIMEA_HASH_LEN, "._smimecert.", 12) == 0);
	CHECK(out[strlen(out) - 1] == '.');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	answer(data, size);
	owner(data, size);
	return 0;
}
