/*
 * fuzz_backup.c - the encrypted backup's parsers (src/lib/backup.c).
 *
 * The first octet of the input picks what the rest is:
 *  - 'H': a whole blob.  ll_backup_peek bounds it; when its header asks
 *    for the cheapest KDF (log2 N 10, r 1, p 1) ll_backup_open runs
 *    with a fixed recovery code: it may only refuse (the tag cannot
 *    verify) and must leave nothing behind.  A header that asks for
 *    more is refused or not derived here (the cost check is the unit
 *    tests' and peek's).
 *  - anything else: the rest is a decrypted plaintext, through the
 *    record parser the code reaches after the tag verified; what it
 *    accepts it must count within its limits.
 *  - the input is also tried as a typed recovery code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fuzz.h"
#include <letterlock/backup.h>

#define CODE "00000-00000-00000-00000-00000-00TC2" /* all-zero data */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ll_backup *b = NULL;
	struct ll_backup_kdf kdf;
	char canon[LL_BACKUP_CODE_LEN + 1], *typed;
	int rc;

	if (size == 0)
		return 0;
	typed = malloc(size + 1);
	if (typed != NULL) {
		memcpy(typed, data, size);
		typed[size] = '\0';
		if (ll_backup_code_normalize(canon, typed, NULL) == 0)
			CHECK(strlen(canon) == LL_BACKUP_CODE_LEN);
		free(typed);
	}
	if (data[0] == 'H') {
		rc = ll_backup_peek(&kdf, data + 1, size - 1, NULL);
		if (rc == 0 && kdf.log2_n == 10 && kdf.r == 1 && kdf.p == 1) {
			rc = ll_backup_open(&b, NULL, data + 1, size - 1, CODE,
					    NULL);
			CHECK(rc != 0 || b != NULL);
			CHECK(rc == 0 || b == NULL);
			ll_backup_free(&b);
		}
		return 0;
	}
	rc = ll_backup_parse_records(&b, data + 1, size - 1, NULL);
	CHECK(rc != 0 || b != NULL);
	if (b != NULL) {
		CHECK(ll_backup_identity_count(b) <= size);
		CHECK(ll_backup_secret_count(b) <= size);
		CHECK(ll_backup_revocation_count(b) <= size / 74);
		for (size_t i = 0; i < ll_backup_secret_count(b); i++)
			CHECK(ll_backup_secret_name(b, i) != NULL);
	}
	ll_backup_free(&b);
	return 0;
}
