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
 * by " ", or "BAD". */
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
	}
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
	/* a modifier list after the items */
	items_are("(FLAGS) (CHANGEDSINCE 12345 VANISHED)", "OTHER:FLAGS");
	items_are("FLAGS (CHANGEDSINCE 1)", "OTHER:FLAGS");
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
	/* BINARY (RFC 3516) goes to the server */
	items_are("(BINARY.PEEK[1]<0.10> BINARY.SIZE[1])",
		  "OTHER:BINARY.PEEK[1]<0.10><0.10> OTHER:BINARY.SIZE[1]");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items_simple),
		cmocka_unit_test(test_items_macros),
		cmocka_unit_test(test_items_sections),
		cmocka_unit_test(test_items_bad),
		cmocka_unit_test(test_items_bounds),
		cmocka_unit_test(test_items_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
