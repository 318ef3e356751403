/*
 * test_imap_fetchwire.c - src/bridge/imap_fetchwire.c, what the
 * bridge's FETCH handler reads: the client's FETCH line (which ones it
 * answers, which go to the server), the items of the server's FETCH
 * responses (atoms, lists, quoted strings, literals, sections and
 * partials in names; every truncation refused, read within its
 * bounds), a string's bytes, a header field with its continuation
 * lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/bridge/imap_fetchcmd.h"

static int cmd(const char *s, struct imap_fetch_cmd *c)
{
	return imap_fetch_cmd_parse(s, strlen(s), c);
}

static void test_cmd_parse(void **state)
{
	struct imap_fetch_cmd c;

	(void)state;
	assert_int_equal(cmd("a1 UID FETCH 1:5,7 (FLAGS BODY[])\r\n", &c), 0);
	assert_string_equal(c.tag, "a1");
	assert_int_equal(c.uid, 1);
	assert_int_equal(c.setlen, 5);
	assert_memory_equal(c.set, "1:5,7", 5);
	assert_int_equal(c.itemslen, 14);
	assert_memory_equal(c.items, "(FLAGS BODY[])", 14);

	assert_int_equal(cmd("b fetch 2:* BODYSTRUCTURE\r\n", &c), 0);
	assert_int_equal(c.uid, 0);
	assert_memory_equal(c.set, "2:*", 3);
	assert_memory_equal(c.items, "BODYSTRUCTURE", c.itemslen);
	assert_int_equal(cmd("c FETCH 1 BODY[]\n", &c), 0);
	assert_int_equal(c.itemslen, 6);
	assert_int_equal(
		cmd("d FETCH 1 BODY.PEEK[HEADER.FIELDS (A B)]<0.10>\r\n", &c),
		0);
	assert_int_equal(cmd("e FETCH 1 (BODY[HEADER.FIELDS (\")\" B)] "
			     "FLAGS)\r\n",
			     &c),
			 0);

	/* a modifier list stays in the items, for imap_items_parse
	 * (which the handler refuses) */
	assert_int_equal(cmd("a FETCH 1 (FLAGS) (CHANGEDSINCE 5)\r\n", &c), 0);
	assert_int_equal(c.itemslen, strlen("(FLAGS) (CHANGEDSINCE 5)"));
	assert_int_equal(cmd("a UID FETCH 1 (FLAGS) (changedsince 5 "
			     "vanished)\r\n",
			     &c),
			 0);
	assert_int_equal(cmd("a FETCH 1 BODY[] (CHANGEDSINCE 5)\r\n", &c), 0);
	assert_int_equal(c.itemslen, strlen("BODY[] (CHANGEDSINCE 5)"));

	/* not read (the handler refuses them): SEARCHRES, literals, no
	 * items, not FETCH, more than one line */
	assert_int_equal(cmd("a FETCH $ (FLAGS)\r\n", &c), -1);
	assert_int_equal(cmd("a FETCH 1 (FLAGS\r\n", &c), -1);
	assert_int_equal(cmd("a FETCH 1 (BODY[HEADER.FIELDS (\"A)]\r\n", &c),
			 -1);
	assert_int_equal(
		cmd("a FETCH 1 (BODY[HEADER.FIELDS {4}\r\nDATE]\r\n", &c), -1);
	assert_int_equal(cmd("a FETCH 1\r\n", &c), -1);
	assert_int_equal(cmd("a FETCH 1 \r\n", &c), -1);
	assert_int_equal(cmd("a FETCH\r\n", &c), -1);
	assert_int_equal(cmd("a STORE 1 +FLAGS (\\Seen)\r\n", &c), -1);
	assert_int_equal(cmd("a UID STORE 1 FLAGS ()\r\n", &c), -1);
	assert_int_equal(cmd("FETCH\r\n", &c), -1);
	/* a tag that is not an atom */
	assert_int_equal(imap_fetch_cmd_parse("a\0b FETCH 1 FLAGS\r\n", 19, &c),
			 -1);
	assert_int_equal(cmd("a+ FETCH 1 FLAGS\r\n", &c), -1);
	assert_int_equal(cmd("a\"b FETCH 1 FLAGS\r\n", &c), -1);
	assert_int_equal(cmd("a FETCH 1 BODY[]\r\nb NOOP\r\n", &c), -1);
	assert_int_equal(cmd("a FETCH 1 BODY[]", &c), -1);
}

static void test_fetch_is(void **state)
{
	(void)state;
	assert_true(imap_fetch_is("a FETCH 1 FLAGS\r\n", 17));
	assert_true(imap_fetch_is("a uid fetch 1 FLAGS\r\n", 21));
	assert_false(imap_fetch_is("a UID STORE 1 FLAGS ()\r\n", 24));
	assert_false(imap_fetch_is("a FETCHX 1\r\n", 12));
	assert_false(imap_fetch_is("a UIDFETCH 1\r\n", 14));
	assert_false(imap_fetch_is("DONE\r\n", 6));
}

/* The items of RESP (copied to a buffer of its exact size, so that a
 * read past it is caught under ASan): the return code. */
static int items(const char *resp, size_t len, unsigned long *seq,
		 struct imap_resp_item *v, size_t *n, char **copy)
{
	*copy = malloc(len ? len : 1);
	assert_non_null(*copy);
	memcpy(*copy, resp, len);
	return imap_fetch_resp_items(*copy, len, seq, v, n);
}

static const char resp[] =
	"* 12 FETCH (UID 345 FLAGS (\\Seen $Label) "
	"BODY[HEADER.FIELDS (CONTENT-TYPE)] {43}\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n\r\n"
	" ENVELOPE (\"Wed, 25 Nov 2026\" {5}\r\nhe)l( NIL ((\"A \\\"q\\\"\" "
	"NIL \"a\" \"b.test\")) NIL NIL NIL NIL NIL NIL \"<id@x>\") "
	"BODY[]<0> \"abc\" RFC822.SIZE 1234)\r\n";

static void test_resp_items(void **state)
{
	struct imap_resp_item v[IMAP_RESP_ITEMS_MAX];
	unsigned long seq;
	size_t n, len = sizeof(resp) - 1;
	const char *p;
	size_t sn;
	char *copy;

	(void)state;
	assert_int_equal(items(resp, len, &seq, v, &n, &copy), 0);
	assert_int_equal(seq, 12);
	assert_int_equal(n, 6);
	assert_true(imap_resp_item_is(&v[0], "UID"));
	assert_memory_equal(v[0].value, "345", 3);
	assert_int_equal(v[0].valuelen, 3);
	assert_true(imap_resp_item_is(&v[1], "flags"));
	assert_int_equal(v[1].valuelen, 14);
	assert_true(
		imap_resp_item_is(&v[2], "BODY[HEADER.FIELDS (CONTENT-TYPE)]"));
	assert_int_equal(imap_resp_string(v[2].value, v[2].valuelen, &p, &sn),
			 0);
	assert_int_equal(sn, 43);
	assert_memory_equal(p, "Content-Type: text/plain", 24);
	/* a literal with parentheses in it, a quoted string with quotes */
	assert_true(imap_resp_item_is(&v[3], "ENVELOPE"));
	assert_int_equal(v[3].value[v[3].valuelen - 1], ')');
	assert_memory_equal(v[3].value + v[3].valuelen - 9, "\"<id@x>\")", 9);
	assert_true(imap_resp_item_is(&v[4], "BODY[]<0>"));
	assert_int_equal(imap_resp_string(v[4].value, v[4].valuelen, &p, &sn),
			 0);
	assert_int_equal(sn, 3);
	assert_memory_equal(p, "abc", 3);
	assert_true(imap_resp_item_is(&v[5], "RFC822.SIZE"));
	assert_int_equal(imap_resp_string(v[5].value, v[5].valuelen, &p, &sn),
			 -1);
	free(copy);

	/* every truncation is refused, and read within its bounds */
	for (size_t cut = 0; cut < len; cut++) {
		assert_int_equal(items(resp, cut, &seq, v, &n, &copy), -1);
		free(copy);
	}
}

static void test_resp_refused(void **state)
{
	static const char *const bad[] = {
		"* 1 EXISTS\r\n",
		"* FETCH (UID 1)\r\n",
		"* 1 FETCH UID 1\r\n",
		"* 1 FETCH (UID)\r\n",
		"* 1 FETCH (UID 1) extra\r\n",
		"* 1 FETCH (UID 1))\r\n",
		"* 1 FETCH (BODY[ {3}\r\nabc] 1)\r\n",
		"* 1 FETCH (BODY[] {4}\r\nabc)\r\n",
		"* 1 FETCH (BODY[] {99999999999}\r\nabc)\r\n",
		"* 1 FETCH (FLAGS (\\Seen)\r\n",
		"* 1 FETCH (X \"open)\r\n",
		"* 1 FETCH (BODY[]<1 \"a\")\r\n",
		"* 12345678901 FETCH (UID 1)\r\n",
		"+ FETCH (UID 1)\r\n",
		/* a UID is a 32-bit nz-number (RFC 3501 9): a server's
		 * larger one overflowed the handler's UID lists */
		"* 1 FETCH (UID 99999999999999999999)\r\n",
		"* 1 FETCH (UID 4294967296)\r\n",
		"* 1 FETCH (UID 0)\r\n",
		"* 1 FETCH (UID -1)\r\n",
		"* 1 FETCH (UID 12x)\r\n",
		"* 1 FETCH (FLAGS () UID \"7\")\r\n",
	};
	struct imap_resp_item v[IMAP_RESP_ITEMS_MAX];
	unsigned long seq;
	size_t n;
	char *copy, many[2048];
	size_t o;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			items(bad[i], strlen(bad[i]), &seq, v, &n, &copy), -1);
		free(copy);
	}
	/* an empty list; more items than IMAP_RESP_ITEMS_MAX */
	assert_int_equal(items("* 3 FETCH ()\r\n", 14, &seq, v, &n, &copy), 0);
	assert_int_equal(n, 0);
	free(copy);
	/* the largest UID there is */
	assert_int_equal(items("* 3 FETCH (uid 4294967295)\r\n", 28, &seq, v,
			       &n, &copy),
			 0);
	assert_int_equal(n, 1);
	free(copy);
	o = (size_t)snprintf(many, sizeof(many), "* 1 FETCH (");
	for (int i = 0; i <= IMAP_RESP_ITEMS_MAX; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%sX%d 1",
				      i ? " " : "", i);
	o += (size_t)snprintf(many + o, sizeof(many) - o, ")\r\n");
	assert_int_equal(items(many, o, &seq, v, &n, &copy), -1);
	free(copy);
}

static void test_resp_string(void **state)
{
	const char *p;
	size_t n;

	(void)state;
	assert_int_equal(imap_resp_string("NIL", 3, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(imap_resp_string("\"\"", 2, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(imap_resp_string("{0}\r\n", 5, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(imap_resp_string("(1 2)", 5, &p, &n), -1);
	assert_int_equal(imap_resp_string("12", 2, &p, &n), -1);
}

static void test_header_value(void **state)
{
	static const char hdr[] =
		"X-Content-Type: no\r\n"
		"content-type: multipart/signed;\r\n"
		"\tprotocol=\"application/pkcs7-signature\";\r\n"
		" micalg=sha-256\r\n"
		"Content-Type: second\r\n"
		"\r\n";
	const char *v;
	size_t n;

	(void)state;
	assert_int_equal(imap_header_value(hdr, sizeof(hdr) - 1, "Content-Type",
					   &v, &n),
			 1);
	assert_int_equal(n, strlen(" multipart/signed;\r\n\tprotocol=\""
				   "application/pkcs7-signature\";\r\n"
				   " micalg=sha-256\r\n"));
	assert_memory_equal(v, " multipart/signed;", 18);
	assert_int_equal(
		imap_header_value(hdr, sizeof(hdr) - 1, "Subject", &v, &n), 0);
	assert_int_equal(imap_header_value("Content-Type", 12, "Content-Type",
					   &v, &n),
			 0);
	/* the last line without its line end */
	assert_int_equal(imap_header_value("Content-Type:x", 14, "Content-Type",
					   &v, &n),
			 1);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_parse),
		cmocka_unit_test(test_fetch_is),
		cmocka_unit_test(test_resp_items),
		cmocka_unit_test(test_resp_refused),
		cmocka_unit_test(test_resp_string),
		cmocka_unit_test(test_header_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
