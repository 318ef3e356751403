/*
 * fuzz_imapsearch.c - SEARCH over S/MIME messages in the bridge
 * (src/bridge/imap_search.c, imap_match.c): the client's search
 * program read and written again, and the matcher over a message.
 *
 * The input up to its first blank line (CRLF CRLF) is a client's
 * command (its literals in it, as imap_reader gives a unit), the rest
 * a message as the bridge shows it.  Checked:
 *  - the reader stays within the command, and every content key's span
 *    is inside it, in order, and starts with a letter (the key's name);
 *  - the program written again (with empty and non-empty UID sets)
 *    reads back with the same content keys, their strings unchanged
 *    (a key nested more than IMAP_SEARCH_DEPTH_MAX - 4 deep is
 *    rewritten two deeper, within the bound, but is then too deep to
 *    be rewritten again: such a program need not read back);
 *  - each content key is matched against the message (any bytes) and
 *    gives 0 or 1.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "imap_search.h"

static struct imap_search q, back;

static void rewrite(const char *cmd, size_t len, const char *smime,
		    const char *m)
{
	const char *match[IMAP_SEARCH_KEYS_MAX];
	struct imap_buf o = { 0 };
	int deep = 0;

	for (size_t i = 0; i < q.nkeys; i++) {
		match[i] = i % 2 ? m : "";
		/* rewritten, a key sits two levels deeper; read back, it
		 * must leave room for two more: a key 29 or 30 deep is
		 * rewritten within the bound, but not read again */
		deep |= q.keys[i].depth + 4 > IMAP_SEARCH_DEPTH_MAX;
	}
	if (imap_search_rewrite(cmd, len, &q, smime, match, &o) == 0) {
		int rc = imap_search_parse(o.p, o.len, &back);

		CHECK(rc == IMAP_SEARCH_OK || (deep && rc == IMAP_SEARCH_PASS));
		if (rc != IMAP_SEARCH_OK)
			goto out;
		CHECK(back.nkeys == q.nkeys);
		for (size_t i = 0; i < q.nkeys; i++) {
			CHECK(back.keys[i].key == q.keys[i].key);
			CHECK(strcmp(back.keys[i].value, q.keys[i].value) == 0);
			CHECK(strcmp(back.keys[i].field, q.keys[i].field) == 0);
		}
	}
out:
	free(o.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *blank;
	size_t clen;
	struct imap_mview *m = NULL;
	unsigned long uids[8];
	struct imap_buf set = { 0 };

	blank = memmem(in, size, "\r\n\r\n", 4);
	clen = blank != NULL ? (size_t)(blank - in) + 2 : size;
	imap_search_verb(in, clen);
	imap_search_sync_literal(in, clen);
	if (imap_search_parse(in, clen, &q) != IMAP_SEARCH_OK)
		return 0;
	CHECK(q.nkeys <= IMAP_SEARCH_KEYS_MAX);
	for (size_t i = 0; i < q.nkeys; i++) {
		CHECK(q.keys[i].start < q.keys[i].end && q.keys[i].end <= clen);
		CHECK(i == 0 || q.keys[i - 1].end <= q.keys[i].start);
		CHECK(isalpha((unsigned char)in[q.keys[i].start]));
	}
	for (size_t i = 0; i < q.nlits; i++)
		CHECK(q.lits[i].start < q.lits[i].end && q.lits[i].end <= clen);
	/* UID sets made of the input's bytes */
	for (size_t i = 0; i < 8; i++)
		uids[i] = i < size ? data[i] % 16 : i;
	imap_uid_set(uids, 8, &set);
	CHECK(set.p != NULL && strspn(set.p, "0123456789:,") == set.len);
	rewrite(in, clen, "", "");
	rewrite(in, clen, set.p, set.p);
	free(set.p);
	if (blank != NULL) {
		const char *msg = blank + 4;
		size_t mlen = size - (size_t)(msg - in);

		CHECK(imap_mview_new(&m, msg, mlen) == 0);
		imap_mview_smime(m);
		for (size_t i = 0; i < q.nkeys; i++) {
			int r = imap_match(m, &q.keys[i]);

			CHECK(r == 0 || r == 1);
		}
		imap_mview_free(&m);
	}
	return 0;
}
