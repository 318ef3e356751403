/*
 * test_smtp_utf8.c - src/lib/curl_util.c's SMTPUTF8 helpers (RFC
 * 6531): what mail needs SMTPUTF8 (a UTF-8 address, a UTF-8 header
 * field; not a UTF-8 body), and what a server's answer to EHLO offered,
 * read from the pieces libcurl's debug callback hands over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

#define ZHANG "\xe5\xbc\xa0\xe4\xb8\x89@example.test" /* 张三@ */

static int needs(const char *from, const char *to, const char *msg)
{
	const char *rcpts[] = { "bob@example.test", to };

	return ll_smtp_needs_utf8(from, rcpts, 2, msg, strlen(msg));
}

static void test_needs_utf8(void **state)
{
	const char *ascii =
		"From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n";

	(void)state;
	assert_int_equal(needs("a@example.test", "c@example.test", ascii), 0);
	/* an address: sender or any recipient */
	assert_int_equal(needs(ZHANG, "c@example.test", ascii), 1);
	assert_int_equal(needs("a@example.test", ZHANG, ascii), 1);
	/* an A-label domain is ASCII */
	assert_int_equal(
		needs("a@xn--fsqu00a.xn--fiqs8s", "c@example.test", ascii), 0);
	/* a raw UTF-8 header field (RFC 6532), also the last one and
	 * with LF line ends */
	assert_int_equal(needs("a@example.test", "c@example.test",
			       "From: a@example.test\r\nSubject: "
			       "\xe4\xbd\xa0\xe5\xa5\xbd\r\n\r\nbody\r\n"),
			 1);
	assert_int_equal(needs("a@example.test", "c@example.test",
			       "Subject: \xe4\xbd\xa0\n\nbody\n"),
			 1);
	/* UTF-8 in the body only: 8BITMIME's business */
	assert_int_equal(
		needs("a@example.test", "c@example.test",
		      "Subject: hi\r\n\r\n\xe4\xbd\xa0\xe5\xa5\xbd\r\n"),
		0);
	assert_int_equal(needs("a@example.test", "c@example.test",
			       "Subject: hi\n\n\xe4\xbd\xa0\n"),
			 0);
	/* a header without a body, and no message at all */
	assert_int_equal(needs("a@example.test", "c@example.test",
			       "Subject: \xe4\xbd\xa0"),
			 1);
	assert_int_equal(ll_smtp_needs_utf8("a@b", NULL, 0, "", 0), 0);
}

/* Feed E what a session shows: lines out ('>') and in ('<'). */
static void session(struct ll_smtp_ehlo *e, const char *const *lines)
{
	for (; *lines != NULL; lines++)
		ll_smtp_ehlo_watch(e,
				   (*lines)[0] == '>' ? CURLINFO_HEADER_OUT :
							CURLINFO_HEADER_IN,
				   *lines + 1, strlen(*lines + 1));
}

static void test_ehlo(void **state)
{
	struct ll_smtp_ehlo e;
	static const char *const offers[] = {
		"<220 mail.example.test ESMTP\r\n",
		">EHLO client\r\n",
		"<250-mail.example.test\r\n",
		"<250-PIPELINING\r\n",
		"<250-smtputf8\r\n", /* any case */
		"<250 CHUNKING\r\n",
		">AUTH PLAIN\r\n",
		"<235 2.7.0 ok\r\n",
		NULL,
	};
	static const char *const lacks[] = {
		"<220 mail.example.test ESMTP\r\n",
		">EHLO client\r\n",
		"<250-mail.example.test\r\n",
		"<250-SMTPUTF8X\r\n", /* another keyword */
		"<250-XSMTPUTF8\r\n",
		"<250 8BITMIME\r\n",
		/* not part of the answer: too late */
		"<250 SMTPUTF8\r\n",
		NULL,
	};
	/* STARTTLS: the answer after it is the one that counts */
	static const char *const tls[] = {
		">EHLO client\r\n",    "<250-mail\r\n",
		"<250-SMTPUTF8\r\n",   "<250 STARTTLS\r\n",
		">STARTTLS\r\n",       "<220 go\r\n",
		">EHLO client\r\n",    "<250-mail\r\n",
		"<250 AUTH PLAIN\r\n", NULL,
	};
	/* EHLO refused: HELO's answer offers nothing */
	static const char *const helo[] = {
		">EHLO client\r\n", "<502 5.5.2 no\r\n", "<250-SMTPUTF8\r\n",
		">HELO client\r\n", "<250 mail\r\n",	 NULL,
	};
	/* the last line of an answer with SMTPUTF8 on it, no line end */
	static const char *const last[] = {
		">EHLO client\r\n",
		"<250-mail\r\n",
		"<250 SMTPUTF8",
		NULL,
	};
	static const struct {
		const char *const *lines;
		int smtputf8;
	} cases[] = {
		{ offers, 1 }, { lacks, 0 }, { tls, 0 },
		{ helo, 0 },   { last, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		session(&e, cases[i].lines);
		assert_int_equal(e.seen, 1);
		assert_int_equal(e.smtputf8, cases[i].smtputf8);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needs_utf8),
		cmocka_unit_test(test_ehlo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
