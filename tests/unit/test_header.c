/*
 * test_header.c - src/cli/header.c, the header of a message given to
 * `letterlock send`: fields found by name only in the header, dropped
 * with their continuation lines, added at the header's end with the
 * message's own line ends; the body untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/header.h"

static void test_has(void **state)
{
	const char *m = "From: a@example.test\r\nTo: b@example.test,\r\n"
			" Date: not a field\r\nmessage-id : <x@y>\r\n\r\n"
			"Date: in the body\r\n";

	assert_true(header_has(m, strlen(m), "From"));
	assert_true(header_has(m, strlen(m), "TO"));
	assert_true(header_has(m, strlen(m), "Message-ID"));
	/* a continuation line, the body, a longer name */
	assert_false(header_has(m, strlen(m), "Date"));
	assert_false(header_has(m, strlen(m), "Fro"));
	assert_false(header_has("", 0, "From"));
}

/* header_edit of IN dropping DROP and adding ADD..., compared to WANT */
static void edit_is(const char *in, const char *drop, const char *want,
		    size_t nadd, const char *const *add)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(
		header_edit(&out, &len, in, strlen(in), drop, add, nadd), 0);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	free(out);
}

static void test_drop_and_add(void **state)
{
	const char *add[] = { "Bcc: x@example.test", "Date: today" };

	/* folded Bcc fields go whole; the body's "Bcc:" line stays */
	edit_is("From: a\r\nBcc: b,\r\n c\r\nTo: d\r\nbcc:e\r\n\r\n"
		"Bcc: body\r\n",
		"Bcc",
		"From: a\r\nTo: d\r\nBcc: x@example.test\r\nDate: today\r\n"
		"\r\nBcc: body\r\n",
		2, add);
	/* LF line ends stay LF */
	edit_is("From: a\nBcc: b\n\nbody\n", "Bcc",
		"From: a\nBcc: x@example.test\n\nbody\n", 1, add);
	/* nothing to drop, nothing to add: the same bytes */
	edit_is("From: a\r\n\r\nbody", "Bcc", "From: a\r\n\r\nbody", 0, add);
	/* a header without a body, its last line without a line end */
	edit_is("From: a\r\nTo: b", NULL,
		"From: a\r\nTo: b\r\nBcc: x@example.test\r\n", 1, add);
	/* "Bcc-X" is another field */
	edit_is("Bcc-X: 1\nBcc : 2\n\n", "Bcc", "Bcc-X: 1\n\n", 0, add);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_drop_and_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
