/*
 * test_imap_search.c - src/bridge/imap_search.c and imap_match.c: the
 * search programs real clients send (Thunderbird's, mutt's, with
 * literals, RETURN and CHARSET) read, their content keys found, the
 * program written again with empty and non-empty UID sets; depth and
 * key bounds; programs the bridge does not read left to the server;
 * and the matcher over messages as the bridge shows them (RFC 2047
 * words, quoted-printable and base64 bodies, charsets, parts that are
 * not text, the status header).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/bridge/imap_search.h"

static struct imap_search q;

static int parse(const char *cmd)
{
	int rc = imap_search_parse(cmd, strlen(cmd), &q);

	size_t n = strcspn(cmd, "\r\n");

	/* one line, ended and short (cmocka cuts a long message, newline
	 * and all): a TAP line must not follow on it */
	if (rc != IMAP_SEARCH_OK)
		print_message("%d: %.*s\n", rc, n > 200 ? 200 : (int)n, cmd);
	return rc;
}

/* CMD rewritten with SMIME and the match sets M0, M1 (for the first
 * two keys), compared with WANT (NULL: the rewrite fails). */
static void rewritten(const char *cmd, const char *smime, const char *m0,
		      const char *m1, const char *want)
{
	const char *match[IMAP_SEARCH_KEYS_MAX] = { m0, m1 };
	struct imap_buf o = { 0 };
	int rc;

	assert_int_equal(parse(cmd), IMAP_SEARCH_OK);
	for (size_t i = 2; i < q.nkeys; i++)
		match[i] = "";
	rc = imap_search_rewrite(cmd, strlen(cmd), &q, smime, match, &o);
	if (want == NULL) {
		assert_int_equal(rc, -1);
	} else {
		assert_int_equal(rc, 0);
		assert_string_equal(o.p, want);
		/* what goes to the server reads back with the same keys */
		struct imap_search back;

		assert_int_equal(imap_search_parse(o.p, o.len, &back),
				 IMAP_SEARCH_OK);
		assert_int_equal(back.nkeys, q.nkeys);
	}
	free(o.p);
}

static void test_verb(void **state)
{
	(void)state;
	assert_true(imap_search_verb("a SEARCH ALL\r\n", 14));
	assert_true(imap_search_verb("a uid search ALL\r\n", 18));
	assert_true(imap_search_verb("a SEARCH\r\n", 10));
	assert_false(imap_search_verb("a SEARCHX ALL\r\n", 15));
	assert_false(imap_search_verb("a UID FETCH 1 BODY[]\r\n", 22));
	assert_false(imap_search_verb("SEARCH\r\n", 8));
	assert_false(imap_search_verb("a ESEARCH\r\n", 11));
}

static void test_thunderbird(void **state)
{
	(void)state;
	assert_int_equal(parse("5 UID SEARCH UNDELETED OR SUBJECT \"x\" "
			       "FROM \"y\"\r\n"),
			 IMAP_SEARCH_OK);
	assert_true(q.uid);
	assert_int_equal(q.nkeys, 2);
	assert_int_equal(q.keys[0].key, IMAP_SKEY_SUBJECT);
	assert_string_equal(q.keys[0].value, "x");
	assert_int_equal(q.keys[1].key, IMAP_SKEY_FROM);
	assert_string_equal(q.keys[1].value, "y");
	/* Thunderbird's quick filter, with dates and a sequence set */
	assert_int_equal(parse("7 UID SEARCH 1:* SINCE 1-Feb-2026 NOT DELETED "
			       "OR OR FROM alice TO alice CC alice\r\n"),
			 IMAP_SEARCH_OK);
	assert_int_equal(q.nkeys, 3);
	assert_false(q.keys[2].key != IMAP_SKEY_CC);
}

static void test_mutt(void **state)
{
	(void)state;
	/* mutt: ~b and ~h patterns, with a literal of each kind */
	assert_int_equal(parse("a0012 UID SEARCH CHARSET UTF-8 TEXT {5+}\r\n"
			       "hello\r\n"),
			 IMAP_SEARCH_OK);
	assert_int_equal(q.nkeys, 1);
	assert_string_equal(q.keys[0].value, "hello");
	assert_int_equal(parse("a SEARCH CHARSET \"utf-8\" HEADER {7}\r\n"
			       "Subject {6}\r\nh\xc3\xa9 l \r\n"),
			 IMAP_SEARCH_OK);
	assert_true(q.charset_ok);
	assert_string_equal(q.keys[0].field, "Subject");
	assert_string_equal(q.keys[0].value, "h\xc3\xa9 l ");
	assert_int_equal(parse("a SEARCH CHARSET ISO-8859-1 BODY x\r\n"),
			 IMAP_SEARCH_OK);
	assert_false(q.charset_ok);
	/* ESEARCH's RETURN, and flags only: no content key */
	assert_int_equal(parse("a UID SEARCH RETURN (MIN COUNT) BODY x\r\n"),
			 IMAP_SEARCH_OK);
	assert_int_equal(q.nkeys, 1);
	assert_int_equal(parse("a UID SEARCH RETURN () (SEEN) 1:5,7 "
			       "LARGER 100 KEYWORD $Junk\r\n"),
			 IMAP_SEARCH_OK);
	assert_int_equal(q.nkeys, 0);
}

static void test_rewrite(void **state)
{
	(void)state;
	/* no S/MIME message: the key as it was */
	rewritten("a SEARCH BODY x\r\n", "", "", "", "a SEARCH BODY \"x\"\r\n");
	/* S/MIME messages, none matching */
	rewritten("a SEARCH BODY x\r\n", "1:3", "", "",
		  "a SEARCH (BODY \"x\" NOT UID 1:3)\r\n");
	/* and some matching */
	rewritten("t UID SEARCH UNDELETED OR SUBJECT \"x\" FROM {1+}\r\ny "
		  "SEEN\r\n",
		  "2,4:9", "4", "5,7",
		  "t UID SEARCH UNDELETED OR OR (SUBJECT \"x\" NOT UID 2,4:9) "
		  "UID 4 OR (FROM \"y\" NOT UID 2,4:9) UID 5,7 SEEN\r\n");
	rewritten(
		"a SEARCH NOT HEADER \"Message-ID\" \"a\\\"b\"\r\n", "1", "1",
		"",
		"a SEARCH NOT OR (HEADER \"Message-ID\" \"a\\\"b\" NOT UID 1) "
		"UID 1\r\n");
	/* a literal of another key is quoted */
	rewritten("a SEARCH KEYWORD {3}\r\n$ab BODY x\r\n", "", "", "",
		  "a SEARCH KEYWORD \"$ab\" BODY \"x\"\r\n");
	/* a search string with a line break cannot be quoted */
	rewritten("a SEARCH BODY {3}\r\na\r\n\r\n", "1", "", "", NULL);
	/* the status field is the bridge's word: the server's copy of a
	 * plain message may carry a forged one, so the server's HEADER
	 * match counts for no message, S/MIME or not */
	rewritten("a SEARCH HEADER x-letterlock-status valid\r\n", "", "", "",
		  "a SEARCH (HEADER \"x-letterlock-status\" \"valid\" NOT UID "
		  "1:*)\r\n");
	rewritten("a SEARCH HEADER X-Letterlock-Status valid\r\n", "3", "3", "",
		  "a SEARCH OR (HEADER \"X-Letterlock-Status\" \"valid\" NOT "
		  "UID 1:*) UID 3\r\n");
}

static void test_sync_literal(void **state)
{
	static const char *const yes[] = {
		"a SEARCH BODY {1}\r\nx\r\n",
		"a SEARCH BODY {1+}\r\nx KEYWORD {2}\r\nab\r\n",
	};
	static const char *const no[] = {
		"a SEARCH BODY x\r\n", "a SEARCH BODY {1+}\r\nx\r\n",
		"a SEARCH BODY {5+}\r\n{1}\r\n\r\n", /* inside a literal */
		"a SEARCH BODY {9+}\r\nx\r\n", /* cut short */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		assert_true(imap_search_sync_literal(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		assert_false(imap_search_sync_literal(no[i], strlen(no[i])));
}

static void test_pass(void **state)
{
	(void)state;
	assert_int_equal(parse("a SEARCH\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH BODY\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH (BODY x\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH BODY x)\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH X-GM-RAW \"has:x\"\r\n"),
			 IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH OR BODY x\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH  BODY x\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH UID abc\r\n"), IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH BODY {5}\r\nab\r\n"),
			 IMAP_SEARCH_PASS);
	assert_int_equal(parse("a SEARCH RETURN (ALL BODY x\r\n"),
			 IMAP_SEARCH_PASS);
}

static void test_bounds(void **state)
{
	char cmd[4096];
	size_t n;

	(void)state;
	/* nesting: as deep as allowed, then one more; a content key two
	 * levels less deep, as its rewriting adds two */
	for (int depth = IMAP_SEARCH_DEPTH_MAX - 3;
	     depth <= IMAP_SEARCH_DEPTH_MAX + 1; depth++) {
		int flags = depth >= IMAP_SEARCH_DEPTH_MAX - 1;

		n = (size_t)snprintf(cmd, sizeof(cmd), "a SEARCH ");
		for (int i = 0; i < depth; i++)
			n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "NOT ");
		snprintf(cmd + n, sizeof(cmd) - n, "%s\r\n",
			 flags ? "SEEN" : "BODY x");
		assert_int_equal(parse(cmd), depth <= IMAP_SEARCH_DEPTH_MAX ?
						     IMAP_SEARCH_OK :
						     IMAP_SEARCH_PASS);
		if (!flags)
			assert_int_equal(q.keys[0].depth, depth);
		if (depth == IMAP_SEARCH_DEPTH_MAX - 1) {
			snprintf(cmd + n, sizeof(cmd) - n, "BODY x\r\n");
			assert_int_equal(parse(cmd), IMAP_SEARCH_PASS);
		}
	}
	n = (size_t)snprintf(cmd, sizeof(cmd), "a SEARCH");
	for (int i = 0; i <= IMAP_SEARCH_KEYS_MAX; i++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " TEXT w%d", i);
	snprintf(cmd + n, sizeof(cmd) - n, "\r\n");
	assert_int_equal(parse(cmd), IMAP_SEARCH_LIMIT);
	/* a string over the bound */
	n = (size_t)snprintf(cmd, sizeof(cmd), "a SEARCH BODY ");
	memset(cmd + n, 'x', IMAP_SEARCH_STRING_MAX + 1);
	strcpy(cmd + n + IMAP_SEARCH_STRING_MAX + 1, "\r\n");
	assert_int_equal(parse(cmd), IMAP_SEARCH_PASS);
}

static void test_uid_set(void **state)
{
	unsigned long v[] = { 9, 3, 1, 2, 3, 7, 8, 20 };
	struct imap_buf o = { 0 };

	(void)state;
	imap_uid_set(v, sizeof(v) / sizeof(*v), &o);
	assert_string_equal(o.p, "1:3,7:9,20");
	free(o.p);
	o = (struct imap_buf){ 0 };
	imap_uid_set(v, 0, &o);
	assert_string_equal(o.p, "");
	free(o.p);
}

/* Does MSG match the key of the program "a SEARCH PROG"? */
static int matches(const char *msg, const char *prog)
{
	char cmd[512];
	struct imap_mview *m = NULL;
	int rc;

	snprintf(cmd, sizeof(cmd), "a SEARCH %s\r\n", prog);
	assert_int_equal(parse(cmd), IMAP_SEARCH_OK);
	assert_int_equal(q.nkeys, 1);
	assert_int_equal(imap_mview_new(&m, msg, strlen(msg)), 0);
	rc = imap_match(m, &q.keys[0]);
	imap_mview_free(&m);
	assert_null(m);
	return rc;
}

static const char opened[] =
	"X-Letterlock-Status: encrypted, decrypted aes-256-cbc; signature "
	"valid by alice@example.test; timestamp none\r\n"
	"From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.test>\r\n"
	"To: Bob <bob@example.test>\r\n"
	"Subject: =?utf-8?b?U2VjcmV0IFBsw6RuZQ==?=\r\n"
	"Received: from a\r\nReceived: from b\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=B\r\n"
	"\r\n--B\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\nDas Br=F6tchen ist\r\n gut.\r\n"
	"--B\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\nPHA+cHVtcGVybmlja2VsPC9wPg==\r\n"
	"--B\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\nc291cmRvdWdo\r\n"
	"--B--\r\n";

static void test_match(void **state)
{
	(void)state;
	assert_true(matches(opened, "SUBJECT \"secret pl\xc3\xa4ne\""));
	assert_true(matches(opened, "SUBJECT \"PL\xc3\x84NE\""));
	assert_false(matches(opened, "SUBJECT utf-8"));
	assert_true(matches(opened, "FROM \"j\xc3\xbcrgen\""));
	assert_true(matches(opened, "FROM juergen@example"));
	assert_false(matches(opened, "TO juergen"));
	assert_false(matches(opened, "CC bob"));
	assert_true(matches(opened, "HEADER received \"from b\""));
	assert_true(matches(opened, "HEADER Received \"\""));
	assert_false(matches(opened, "HEADER X-Nothing \"\""));
	/* bodies decoded: quoted-printable Latin-1, base64 HTML */
	assert_true(matches(opened, "BODY \"br\xc3\xb6tchen\""));
	assert_true(matches(opened, "BODY PUMPERNICKEL"));
	assert_false(matches(opened, "BODY U2VjcmV0"));
	/* a part that is not text is not searched */
	assert_false(matches(opened, "BODY sourdough"));
	assert_false(matches(opened, "BODY juergen"));
	assert_true(matches(opened, "TEXT juergen"));
	assert_true(matches(opened, "TEXT pumpernickel"));
	/* the status: HEADER finds it, TEXT does not */
	assert_true(matches(opened, "HEADER X-Letterlock-Status \"valid by\""));
	assert_false(matches(opened, "TEXT aes-256-cbc"));
}

static const char unopened[] =
	"X-Letterlock-Status: not opened; no key of ours\r\n"
	"From: Alice <alice@example.test>\r\n"
	"Subject: [...]\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; "
	"name=smime.p7m\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggFL\r\n";

static void test_unopened(void **state)
{
	struct imap_mview *m = NULL;

	(void)state;
	assert_int_equal(imap_mview_new(&m, unopened, strlen(unopened)), 0);
	assert_true(imap_mview_smime(m));
	imap_mview_free(&m);
	assert_int_equal(imap_mview_new(&m, opened, strlen(opened)), 0);
	assert_false(imap_mview_smime(m));
	imap_mview_free(&m);
	assert_true(matches(unopened, "SUBJECT \"[...]\""));
	assert_true(matches(unopened, "HEADER Content-Type pkcs7-mime"));
	assert_true(matches(unopened, "HEADER X-Letterlock-Status \"not "
				      "opened\""));
	/* the ciphertext is not text: neither its base64 nor its bytes */
	assert_false(matches(unopened, "BODY MIAGCSqGSIb3"));
	assert_false(matches(unopened, "TEXT MIAGCSqGSIb3"));
	/* bytes that are no message match nothing */
	assert_false(matches("", "TEXT \"\""));
	assert_false(matches("\r\n\r\n", "SUBJECT x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verb),
		cmocka_unit_test(test_thunderbird),
		cmocka_unit_test(test_mutt),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_sync_literal),
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_uid_set),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_unopened),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
