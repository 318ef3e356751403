/*
 * test_imap_body.c - src/bridge/imap_body.c, the FETCH items the bridge
 * answers from a message it holds: the client's item list (macros,
 * PEEK, partials, HEADER.FIELDS lists, bad syntax refused), and the
 * values computed from a message's bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/bridge/imap_body.h"

/* The items of LIST written as "KIND:text[:section][<o.n>][P]" joined
 * by " ", or "BAD"; "!" after an item not offered, " +MODIFIERS" after
 * the items when a modifier list followed. */
static void items_str(char *out, size_t size, const char *list)
{
	static const char *const kinds[] = {
		"OTHER",  "SIZE",   "ENVELOPE", "BODY",	   "BODYSTRUCTURE",
		"RFC822", "HEADER", "TEXT",	"SECTION",
	};
	struct imap_items items;
	size_t o = 0;

	if (imap_items_parse(list, strlen(list), &items) < 0) {
		snprintf(out, size, "BAD");
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < items.n; i++) {
		const struct imap_item *it = &items.v[i];

		o += (size_t)snprintf(out + o, size - o, "%s%s:%.*s",
				      i ? " " : "", kinds[it->kind],
				      (int)it->len, it->text);
		if (it->kind == IMAP_ITEM_SECTION)
			o += (size_t)snprintf(out + o, size - o, ":%s",
					      it->section);
		if (it->partial)
			o += (size_t)snprintf(out + o, size - o, "<%lu.%lu>",
					      it->origin, it->count);
		if (it->peek)
			o += (size_t)snprintf(out + o, size - o, "P");
		if (it->unoffered)
			o += (size_t)snprintf(out + o, size - o, "!");
	}
	if (items.modifiers)
		snprintf(out + o, size - o, " +MODIFIERS");
}

static void items_are(const char *list, const char *want)
{
	char got[4096];

	items_str(got, sizeof(got), list);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", list, got, want);
}

static void test_items_simple(void **state)
{
	(void)state;
	items_are("FLAGS", "OTHER:FLAGS");
	items_are("(FLAGS UID)", "OTHER:FLAGS OTHER:UID");
	items_are("(uid rfc822.size Envelope)",
		  "OTHER:uid SIZE:rfc822.size ENVELOPE:Envelope");
	items_are("(BODY BODYSTRUCTURE RFC822 RFC822.HEADER RFC822.TEXT)",
		  "BODY:BODY BODYSTRUCTURE:BODYSTRUCTURE RFC822:RFC822 "
		  "HEADER:RFC822.HEADERP TEXT:RFC822.TEXT");
	items_are("(X-GM-LABELS MODSEQ)", "OTHER:X-GM-LABELS OTHER:MODSEQ");
	/* the line end is no part of the list */
	items_are("(FLAGS)\r\n", "OTHER:FLAGS");
	/* a modifier list after the items: read, and said */
	items_are("(FLAGS) (CHANGEDSINCE 12345 VANISHED)",
		  "OTHER:FLAGS +MODIFIERS");
	items_are("FLAGS (CHANGEDSINCE 1)", "OTHER:FLAGS +MODIFIERS");
	items_are("(BODY.PEEK[]) (CHANGEDSINCE 1)",
		  "SECTION:BODY.PEEK[]:P +MODIFIERS");
	/* PREVIEW (RFC 8970) and SNIPPET: the server's, not offered */
	items_are("(UID PREVIEW snippet)",
		  "OTHER:UID OTHER:PREVIEW! OTHER:snippet!");
}

static void test_items_macros(void **state)
{
	(void)state;
	items_are("ALL", "OTHER:FLAGS OTHER:INTERNALDATE SIZE:RFC822.SIZE "
			 "ENVELOPE:ENVELOPE");
	items_are("fast", "OTHER:FLAGS OTHER:INTERNALDATE SIZE:RFC822.SIZE");
	items_are("FULL", "OTHER:FLAGS OTHER:INTERNALDATE SIZE:RFC822.SIZE "
			  "ENVELOPE:ENVELOPE BODY:BODY");
	items_are("(UID FAST)", "OTHER:UID OTHER:FLAGS OTHER:INTERNALDATE "
				"SIZE:RFC822.SIZE");
}

static void test_items_sections(void **state)
{
	(void)state;
	items_are("BODY[]", "SECTION:BODY[]:");
	items_are("BODY.PEEK[]", "SECTION:BODY.PEEK[]:P");
	items_are("body.peek[1.2.mime]",
		  "SECTION:body.peek[1.2.mime]:1.2.mimeP");
	items_are("(BODY[TEXT] BODY[1.HEADER] BODY[3.TEXT] BODY[2])",
		  "SECTION:BODY[TEXT]:TEXT SECTION:BODY[1.HEADER]:1.HEADER "
		  "SECTION:BODY[3.TEXT]:3.TEXT SECTION:BODY[2]:2");
	items_are("(UID BODY.PEEK[HEADER.FIELDS (From To \"Cc\")])",
		  "OTHER:UID SECTION:BODY.PEEK[HEADER.FIELDS (From To "
		  "\"Cc\")]:HEADER.FIELDS (From To \"Cc\")P");
	items_are("BODY[1.HEADER.FIELDS.NOT (X-A)]",
		  "SECTION:BODY[1.HEADER.FIELDS.NOT (X-A)]:1.HEADER.FIELDS.NOT "
		  "(X-A)");
	/* a quoted name with ']' and ')' in it */
	items_are("BODY[HEADER.FIELDS (\"a])\")]",
		  "SECTION:BODY[HEADER.FIELDS (\"a])\")]:HEADER.FIELDS "
		  "(\"a])\")");
	items_are("(BODY[]<0.100> BODY.PEEK[1]<4294967295.1>)",
		  "SECTION:BODY[]<0.100>:<0.100> "
		  "SECTION:BODY.PEEK[1]<4294967295.1>:1<4294967295.1>P");
	/* BINARY (RFC 3516): the server's, not offered */
	items_are("(BINARY.PEEK[1]<0.10> BINARY.SIZE[1])",
		  "OTHER:BINARY.PEEK[1]<0.10><0.10>! OTHER:BINARY.SIZE[1]!");
}

static void test_items_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"()",
		"(FLAGS",
		"FLAGS)",
		"(FLAGS  UID)",
		"( FLAGS)",
		"(FLAGS) x",
		"(FLAGS) (CHANGEDSINCE 1",
		"BODY[",
		"BODY[1",
		"BODY.PEEK",
		"BINARY",
		"FLAGS[1]",
		"BODY[0]",
		"BODY[1.]",
		"BODY[.1]",
		"BODY[1..2]",
		"BODY[MIME]",
		"BODY[HEADERS]",
		"BODY[TEXT.1]",
		"BODY[1.TEXT ]",
		"BODY[HEADER.FIELDS]",
		"BODY[HEADER.FIELDS ()]",
		"BODY[HEADER.FIELDS (A]",
		"BODY[HEADER.FIELDS (A  B)]",
		"BODY[HEADER.FIELDS (A) ]",
		"BODY[HEADER.FIELDS (\"A)]",
		"BODY[HEADER.FIELDS {1}\r\nA]",
		"BODY[]<1>",
		"BODY[]<1.0>",
		"BODY[]<.1>",
		"BODY[]<1.2",
		"BODY[]<4294967296.1>",
		"BODY[4294967296]",
		"BODY<0.1>",
		"FLAGS<0.1>",
		"BODY[]x",
		"(FLAGS\r\nUID)",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		items_are(bad[i], "BAD");
}

static void test_items_bounds(void **state)
{
	char list[8192], sec[600];
	size_t o = 0;

	(void)state;
	/* IMAP_ITEMS_MAX items, and one more */
	o += (size_t)snprintf(list + o, sizeof(list) - o, "(");
	for (int i = 0; i < IMAP_ITEMS_MAX; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%sUID",
				      i ? " " : "");
	snprintf(list + o, sizeof(list) - o, ")");
	{
		struct imap_items items;

		assert_int_equal(imap_items_parse(list, strlen(list), &items),
				 0);
		assert_int_equal(items.n, IMAP_ITEMS_MAX);
		snprintf(list + o, sizeof(list) - o, " UID)");
		assert_int_equal(imap_items_parse(list, strlen(list), &items),
				 -1);
		/* a macro past the end */
		snprintf(list + o - 4, sizeof(list) - o + 4, " ALL)");
		assert_int_equal(imap_items_parse(list, strlen(list), &items),
				 -1);
	}
	/* a section of 511 bytes fits, 512 not */
	memset(sec, 0, sizeof(sec));
	for (size_t i = 0; i + 1 < 511; i += 2)
		memcpy(sec + i, "1.", 2);
	sec[510] = '1';
	snprintf(list, sizeof(list), "BODY[%s]", sec);
	assert_int_equal(strlen(sec), 511);
	{
		struct imap_items items;

		/* 256 part numbers: more than SECTION_PARTS_MAX */
		assert_int_equal(imap_items_parse(list, strlen(list), &items),
				 -1);
	}
	/* a field list that makes the section 512 bytes */
	memset(sec, 'A', 496);
	sec[496] = '\0';
	snprintf(list, sizeof(list), "BODY[HEADER.FIELDS (%s)]", sec);
	items_are(list, "BAD");
	sec[495] = '\0';
	snprintf(list, sizeof(list), "BODY.PEEK[HEADER.FIELDS (%s)]", sec);
	{
		struct imap_items items;

		assert_int_equal(imap_items_parse(list, strlen(list), &items),
				 0);
		assert_int_equal(strlen(items.v[0].section), 511);
	}
}

static void test_items_seen(void **state)
{
	struct imap_items items;
	const char *list = "(FLAGS RFC822.SIZE RFC822 RFC822.HEADER "
			   "RFC822.TEXT BODY[] BODY.PEEK[] BODY "
			   "BODYSTRUCTURE ENVELOPE)";
	static const int content[] = { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	static const int seen[] = { 0, 0, 1, 0, 1, 1, 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(imap_items_parse(list, strlen(list), &items), 0);
	assert_int_equal(items.n, 10);
	for (size_t i = 0; i < items.n; i++) {
		assert_int_equal(imap_item_content(&items.v[i]), content[i]);
		assert_int_equal(imap_item_sets_seen(&items.v[i]), seen[i]);
	}
}

/* ---- the message's items ----------------------------------------- */

/* What imap_msg_render gives for the item list ITEM (one item) of MSG
 * (LEN bytes, or strlen). */
static char *render_n(const char *msg, size_t len, const char *item)
{
	struct imap_items items;
	struct imap_msg *m = NULL;
	struct imap_buf o = { 0 };

	assert_int_equal(imap_items_parse(item, strlen(item), &items), 0);
	assert_int_equal(items.n, 1);
	assert_int_equal(imap_msg_parse(msg, len, &m), 0);
	assert_int_equal(imap_msg_render(m, &items.v[0], &o), 0);
	assert_false(o.failed);
	imap_msg_free(&m);
	assert_null(m);
	return o.p;
}

struct render_case {
	const char *msg, *item, *want;
};

static void render_cases(const struct render_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *got = render_n(c[i].msg, strlen(c[i].msg), c[i].item);

		if (strcmp(got, c[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c[i].item, got,
				 c[i].want);
		free(got);
	}
}

/* A multipart/mixed: a text, a multipart/alternative, a message/rfc822
 * holding a multipart, an attachment. */
static const char nested[] =
	"X-Letterlock-Status: encrypted, decrypted\r\n"
	"From: a@example.test\r\n"
	"Subject: nested\r\n"
	"Content-Type: multipart/mixed; boundary=\"out\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--out\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"one\r\n"
	"--out\r\n"
	"Content-Type: multipart/alternative; boundary=alt\r\n"
	"\r\n"
	"--alt\r\n"
	"\r\n"
	"two.one\r\n"
	"--alt\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>two.two</p>\r\n"
	"--alt--\r\n"
	"--out\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/mixed; boundary=in\r\n"
	"\r\n"
	"--in\r\n"
	"\r\n"
	"three.one\r\n"
	"--in--\r\n"
	"--out\r\n"
	"Content-Type: application/octet-stream\r\n"
	"\r\n"
	"four\r\n"
	"--out--\r\n"
	"epilogue\r\n";

static void test_sections(void **state)
{
	static const struct render_case cases[] = {
		{ nested, "BODY[1]", "BODY[1] {3}\r\none" },
		{ nested, "BODY[1.MIME]",
		  "BODY[1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n" },
		/* a leaf's part 1 is itself */
		{ nested, "BODY[1.1]", "BODY[1.1] {3}\r\none" },
		{ nested, "BODY[2.1]", "BODY[2.1] {7}\r\ntwo.one" },
		{ nested, "BODY[2.2]", "BODY[2.2] {14}\r\n<p>two.two</p>" },
		{ nested, "BODY[2.1.MIME]", "BODY[2.1.MIME] {2}\r\n\r\n" },
		{ nested, "BODY.PEEK[3.HEADER]",
		  "BODY[3.HEADER] {62}\r\nSubject: inner\r\n"
		  "Content-Type: multipart/mixed; boundary=in\r\n\r\n" },
		{ nested, "BODY[3.HEADER.FIELDS (subject)]",
		  "BODY[3.HEADER.FIELDS (SUBJECT)] {18}\r\n"
		  "Subject: inner\r\n\r\n" },
		/* the message/rfc822 part: the message it holds, up to the CRLF
		 * of its last delimiter line */
		{ nested, "BODY[3]",
		  "BODY[3] {89}\r\nSubject: inner\r\n"
		  "Content-Type: multipart/mixed; boundary=in\r\n\r\n"
		  "--in\r\n\r\nthree.one\r\n--in--\r\n" },
		{ nested, "BODY[3.TEXT]",
		  "BODY[3.TEXT] {27}\r\n--in\r\n\r\nthree.one\r\n--in--\r\n" },
		{ nested, "BODY[3.1]", "BODY[3.1] {9}\r\nthree.one" },
		{ nested, "BODY[4]", "BODY[4] {4}\r\nfour" },
		/* HEADER and TEXT of a part that is no message/rfc822: empty */
		{ nested, "BODY[1.HEADER]", "BODY[1.HEADER] {0}\r\n" },
		{ nested, "BODY[4.TEXT]", "BODY[4.TEXT] {0}\r\n" },
		/* parts that do not exist */
		{ nested, "BODY[5]", "BODY[5] {0}\r\n" },
		{ nested, "BODY[1.2]", "BODY[1.2] {0}\r\n" },
		{ nested, "BODY[2.3.MIME]", "BODY[2.3.MIME] {0}\r\n" },
		{ nested, "BODY[4294967295]", "BODY[4294967295] {0}\r\n" },
		{ nested, "BODY[HEADER.FIELDS (From \"SUBJECT\")]",
		  "BODY[HEADER.FIELDS (FROM \"SUBJECT\")] {41}\r\n"
		  "From: a@example.test\r\nSubject: nested\r\n\r\n" },
		{ nested,
		  "BODY[HEADER.FIELDS.NOT (X-Letterlock-Status "
		  "content-type)]",
		  "BODY[HEADER.FIELDS.NOT (X-LETTERLOCK-STATUS CONTENT-TYPE)] "
		  "{41}\r\nFrom: a@example.test\r\nSubject: nested\r\n\r\n" },
		{ nested, "BODY[HEADER.FIELDS (X-None)]",
		  "BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n" },
	};

	(void)state;
	render_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static const char short_msg[] = "Subject: s\r\n\r\nbody\r\n";

static void test_whole(void **state)
{
	static const struct render_case cases[] = {
		{ nested, "RFC822.SIZE", "RFC822.SIZE 520" },
		{ short_msg, "RFC822",
		  "RFC822 {20}\r\nSubject: s\r\n\r\nbody\r\n" },
		{ short_msg, "BODY[]",
		  "BODY[] {20}\r\nSubject: s\r\n\r\nbody\r\n" },
		{ short_msg, "RFC822.HEADER",
		  "RFC822.HEADER {14}\r\nSubject: s\r\n\r\n" },
		{ short_msg, "RFC822.TEXT", "RFC822.TEXT {6}\r\nbody\r\n" },
		{ short_msg, "BODY[TEXT]", "BODY[TEXT] {6}\r\nbody\r\n" },
		/* a non-multipart message's part 1 is its body; its MIME header
		 * the message's header */
		{ short_msg, "BODY[1]", "BODY[1] {6}\r\nbody\r\n" },
		{ short_msg, "BODY[1.MIME]",
		  "BODY[1.MIME] {14}\r\nSubject: s\r\n\r\n" },
		{ short_msg, "BODY[2]", "BODY[2] {0}\r\n" },
		/* partial fetches: the origin only in the name; past the end
		 * empty */
		{ short_msg, "BODY[]<0.7>", "BODY[]<0> {7}\r\nSubject" },
		{ short_msg, "BODY.PEEK[]<14.100>",
		  "BODY[]<14> {6}\r\nbody\r\n" },
		{ short_msg, "BODY[]<20.1>", "BODY[]<20> {0}\r\n" },
		{ short_msg, "BODY[]<4294967295.4294967295>",
		  "BODY[]<4294967295> {0}\r\n" },
		{ short_msg, "BODY[1]<2.2>", "BODY[1]<2> {2}\r\ndy" },
		{ short_msg, "BODY[HEADER.FIELDS (SUBJECT)]<1.3>",
		  "BODY[HEADER.FIELDS (SUBJECT)]<1> {3}\r\nubj" },
		/* no header end: all header */
		{ "Subject: s", "BODY[TEXT]", "BODY[TEXT] {0}\r\n" },
		{ "Subject: s", "BODY[HEADER]",
		  "BODY[HEADER] {10}\r\nSubject: s" },
		{ "", "RFC822.SIZE", "RFC822.SIZE 0" },
		{ "", "BODY[]", "BODY[] {0}\r\n" },
	};

	(void)state;
	render_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* An envelope with quoting (a name with quotes and 8-bit bytes as
 * literals, a subject folded for people), a group, a missing domain;
 * a structure with the default charset and an RFC 2231 filename:
 * what Dovecot answers for the same message. */
static const char addressed[] =
	"From: \"A \\\"B\\\"\" <a@example.test>, Gr: x@y.test;, bad\r\n"
	"To: J\xc3\xb6rg <j@example.test>\r\n"
	"Subject: =?UTF-8?Q?x?=  two\r\n"
	"Date: Wed, 25 Nov 2026 04:00:00 +0000\r\n"
	"Content-Type: text/plain; format=flowed\r\n"
	"Content-Disposition: attachment; filename*0*=utf-8''a%20b; filename*1=\".txt\"\r\n"
	"\r\n"
	"x\r\n";

static void test_structure(void **state)
{
	static const struct render_case cases[] = {
		{ nested, "BODYSTRUCTURE",
		  "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii"
		  "\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL)((\"text\" \"plain"
		  "\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 0 NIL NIL N"
		  "IL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL"
		  " \"7bit\" 14 0 NIL NIL NIL NIL) \"alternative\" (\"boundary"
		  "\" \"alt\") NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
		  "\"7bit\" 89 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7b"
		  "it\" 9 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"in\") NI"
		  "L NIL NIL) 7 NIL NIL NIL NIL)(\"application\" \"octet-stream"
		  "\" NIL NIL NIL \"7bit\" 4 NIL NIL NIL NIL) \"mixed\" (\"boun"
		  "dary\" \"out\") NIL NIL NIL)" },
		{ nested, "BODY",
		  "BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
		  " \"7bit\" 3 0)((\"text\" \"plain\" (\"charset\" \"us-ascii"
		  "\") NIL NIL \"7bit\" 7 0)(\"text\" \"html\" (\"charset\" \"u"
		  "s-ascii\") NIL NIL \"7bit\" 14 0) \"alternative\")(\"message"
		  "\" \"rfc822\" NIL NIL NIL \"7bit\" 89 (NIL \"inner\" NIL NIL"
		  " NIL NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") NIL NIL \"7bit\" 9 0) \"mixed\") 7)(\"applicat"
		  "ion\" \"octet-stream\" NIL NIL NIL \"7bit\" 4) \"mixed\")" },
		{ addressed, "ENVELOPE",
		  "ENVELOPE (\"Wed, 25 Nov 2026 04:00:00 +0000\" {17}\r\n=?UTF-"
		  "8?Q?x?= two (({5}\r\nA \"B\" NIL \"a\" \"example.test\")(NIL"
		  " NIL \"Gr\" NIL)(NIL NIL \"x\" \"y.test\")(NIL NIL NIL NIL)("
		  "NIL NIL \"bad\" \"MISSING_DOMAIN\")) (({5}\r\nA \"B\" NIL "
		  "\"a\" \"example.test\")(NIL NIL \"Gr\" NIL)(NIL NIL \"x\" "
		  "\"y.test\")(NIL NIL NIL NIL)(NIL NIL \"bad\" \"MISSING_DOMAI"
		  "N\")) (({5}\r\nA \"B\" NIL \"a\" \"example.test\")(NIL NIL "
		  "\"Gr\" NIL)(NIL NIL \"x\" \"y.test\")(NIL NIL NIL NIL)(NIL N"
		  "IL \"bad\" \"MISSING_DOMAIN\")) (({5}\r\nJ\xc3\xb6"
		  "rg N"
		  "IL \"j\" \"example.test\")) NIL NIL NIL NIL)" },
		{ addressed, "BODYSTRUCTURE",
		  "BODYSTRUCTURE (\"text\" \"plain\" (\"format\" \"flowed\" \"c"
		  "harset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL (\"attachmen"
		  "t\" (\"filename*\" \"utf-8''a%20b.txt\")) NIL NIL)" },
		/* quoted with up to 4 escapes, else a literal; a tab stays
		 * (for people, in a subject or a name, it would not) */
		{ "Message-ID: <a\"b\"c\"d@x>\r\nMIME-Version: 1.0\r\n"
		  "Content-Type: text/plain; name=\"q\\\"1\\\"2\\\"3\\\"4\"; "
		  "other=\"q\\\"1\\\"2\\\"3\\\"4\\\"5\"\r\n"
		  "Content-Description: tab\there\r\nContent-ID: \r\n\r\nx\r\n",
		  "BODYSTRUCTURE",
		  "BODYSTRUCTURE (\"text\" \"plain\" (\"name\" "
		  "\"q\\\"1\\\"2\\\"3\\\"4\" \"other\" {11}\r\nq\"1\"2\"3\"4\"5 "
		  "\"charset\" \"us-ascii\") \"\" \"tab\there\" \"7bit\" 3 1 NIL "
		  "NIL NIL NIL)" },
		/* no Content-Type: text/plain; us-ascii */
		{ short_msg, "BODY",
		  "BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 6 1)" },
		{ short_msg, "ENVELOPE",
		  "ENVELOPE (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
		/* a multipart without parts gets an empty text/plain */
		{ "Content-Type: multipart/mixed; boundary=x\r\n\r\nnone\r\n",
		  "BODY",
		  "BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 0 0) \"mixed\")" },
	};

	(void)state;
	render_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A message of N nested multiparts, each with one part, malloc'd. */
static char *deep(int n)
{
	struct imap_buf o = { 0 };
	char line[128];

	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
			 "Content-Type: multipart/mixed; boundary=b%02d\r\n\r\n"
			 "--b%02d\r\n",
			 i, i);
		imap_buf_add(&o, line, strlen(line));
	}
	imap_buf_add(&o, "\r\nleaf\r\n", 8);
	for (int i = n; i-- > 0;) {
		snprintf(line, sizeof(line), "--b%02d--\r\n", i);
		imap_buf_add(&o, line, strlen(line));
	}
	assert_false(o.failed);
	return o.p;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (s = strstr(s, what); s != NULL; s = strstr(s + 1, what))
		n++;
	return n;
}

/* Multiparts nest IMAP_BODY_DEPTH_MAX deep; a deeper one is an opaque
 * part (its body its bytes, its type as it says). */
static void test_depth(void **state)
{
	char *msg = deep(IMAP_BODY_DEPTH_MAX + 8), *got, item[256];
	size_t o = 0;

	(void)state;
	got = render_n(msg, strlen(msg), "BODY");
	assert_int_equal(count(got, " \"mixed\")"), IMAP_BODY_DEPTH_MAX);
	assert_int_equal(count(got, "(\"multipart\" \"mixed\" (\"boundary\" "
				    "\"b32\")"),
			 1);
	free(got);
	/* the opaque part is 1.1...1 (32 numbers): its body holds the rest */
	o += (size_t)snprintf(item, sizeof(item), "BODY[1");
	for (int i = 1; i < IMAP_BODY_DEPTH_MAX; i++)
		o += (size_t)snprintf(item + o, sizeof(item) - o, ".1");
	snprintf(item + o, sizeof(item) - o, "]<0.16>");
	got = render_n(msg, strlen(msg), item);
	assert_non_null(strstr(got, "{16}\r\n--b32\r\nContent-T"));
	free(got);
	free(msg);
}

/* At most IMAP_BODY_PARTS_MAX parts: past them, the rest is the body
 * of the multipart being read. */
static void test_parts(void **state)
{
	struct imap_buf o = { 0 };
	char *got;
	static const char head[] = "Content-Type: multipart/mixed; boundary=p"
				   "\r\n\r\n";

	(void)state;
	imap_buf_add(&o, head, strlen(head));
	for (int i = 0; i < IMAP_BODY_PARTS_MAX + 10; i++)
		imap_buf_add(&o, "--p\r\n\r\nx\r\n", 10);
	imap_buf_add(&o, "--p--\r\n", 7);
	assert_false(o.failed);
	got = render_n(o.p, o.len, "BODY[9999]");
	assert_string_equal(got, "BODY[9999] {1}\r\nx");
	free(got);
	got = render_n(o.p, o.len, "BODY[10000]");
	assert_string_equal(got, "BODY[10000] {0}\r\n");
	free(got);
	got = render_n(o.p, o.len, "BODY");
	assert_int_equal(count(got, "(\"text\""), IMAP_BODY_PARTS_MAX - 1);
	free(got);
	free(o.p);
}

/* A NUL, which no IMAP literal may hold, goes out as 0x80. */
static void test_nul(void **state)
{
	static const char msg[] = "A: b\r\n\r\nx\0y";
	char *got = render_n(msg, sizeof(msg) - 1, "BODY[TEXT]");

	(void)state;
	assert_memory_equal(got, "BODY[TEXT] {3}\r\nx\x80y", 20);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items_simple),
		cmocka_unit_test(test_items_macros),
		cmocka_unit_test(test_items_sections),
		cmocka_unit_test(test_items_bad),
		cmocka_unit_test(test_items_bounds),
		cmocka_unit_test(test_items_seen),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
