/*
 * test_smtp_parse.c - src/bridge/smtp_parse.c, what the bridge reads
 * from SMTP clients: command lines and messages give the same events
 * however the input is split (at every byte boundary, and at every
 * pair of them for messages); dot-unstuffing; only CRLF.CRLF ends a
 * message; line and message limits; paths, parameters, AUTH PLAIN;
 * the Message-ID that recognises a message sent again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/bridge/smtp_parse.h"

/* The events of IN cut at CUTS (ascending, NCUTS of them), written as
 * "L:line|", "X|" (too long), "D:message|" (or "D!|" when too big), in
 * OUT.  After the first DATA line ("DATA") the parser collects a
 * message of at most MAX bytes. */
static void events(char *out, size_t size, const char *in, size_t len,
		   const size_t *cuts, size_t ncuts, size_t max)
{
	struct smtp_parser p;
	size_t at = 0, o = 0, n = 0;
	int in_bdat = 0, last = 0;

	smtp_parser_init(&p);
	out[0] = '\0';
	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : len;

		while (at < end) {
			size_t used = 0;
			char *m;
			enum smtp_event ev =
				smtp_parser_feed(&p, in + at, end - at, &used);

			assert_true(used <= end - at);
			at += used;
			switch (ev) {
			case SMTP_EV_MORE:
				assert_int_equal(at, end);
				break;
			case SMTP_EV_LINE:
				o += (size_t)snprintf(out + o, size - o,
						      "L:%s|", p.line);
				if (strcmp(p.line, "DATA") == 0)
					smtp_parser_data(&p, max);
				if (strncmp(p.line, "BDAT ", 5) == 0 &&
				    smtp_parse_bdat(p.line + 5, &n, &last) ==
					    0) {
					smtp_parser_bdat(&p, n, max, !in_bdat);
					in_bdat = 1;
					if (n == 0)
						goto chunk;
				}
				break;
			case SMTP_EV_CHUNK:
chunk:
				o += (size_t)snprintf(out + o, size - o, "C|");
				if (!last)
					break;
				in_bdat = 0;
				m = smtp_parser_take(&p, &n);
				if (m == NULL)
					o += (size_t)snprintf(out + o, size - o,
							      "D!%zu|", n);
				else
					o += (size_t)snprintf(out + o, size - o,
							      "D:%s|", m);
				free(m);
				break;
			case SMTP_EV_LONG_LINE:
				o += (size_t)snprintf(out + o, size - o, "X|");
				break;
			case SMTP_EV_DATA:
				m = smtp_parser_take(&p, &n);
				if (m == NULL) {
					o += (size_t)snprintf(out + o, size - o,
							      "D!%zu|", n);
				} else {
					assert_int_equal(strlen(m), n);
					o += (size_t)snprintf(out + o, size - o,
							      "D:%s|", m);
				}
				free(m);
				break;
			}
		}
	}
	smtp_parser_free(&p);
}

/* IN gives WANT whole, cut once anywhere, and (when TWICE) cut twice
 * anywhere. */
static void same_events(const char *in, const char *want, size_t max, int twice)
{
	size_t len = strlen(in), cuts[2];
	char got[16384];

	events(got, sizeof(got), in, len, NULL, 0, max);
	assert_string_equal(got, want);
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		events(got, sizeof(got), in, len, cuts, 1, max);
		assert_string_equal(got, want);
		for (size_t j = i; twice && j <= len; j++) {
			cuts[1] = j;
			events(got, sizeof(got), in, len, cuts, 2, max);
			assert_string_equal(got, want);
		}
	}
}

static void test_lines(void **state)
{
	same_events("EHLO x\r\nMAIL FROM:<a@b> SIZE=10\r\n\r\nNOOP\n",
		    "L:EHLO x|L:MAIL FROM:<a@b> SIZE=10|L:|L:NOOP|", 0, 1);
	/* a line not ended yet is no event */
	same_events("QUIT", "", 0, 0);
}

static void test_long_lines(void **state)
{
	size_t n = SMTP_LINE_MAX + 40;
	char *in = malloc(2 * n), want[SMTP_LINE_MAX + 64];

	/* exactly the limit: a line */
	memset(in, 'a', SMTP_LINE_MAX);
	memcpy(in + SMTP_LINE_MAX, "\r\nNOOP\r\n", 9);
	snprintf(want, sizeof(want), "L:%.*s|L:NOOP|", SMTP_LINE_MAX, in);
	same_events(in, want, 0, 0);
	/* one more: reported once, then the next line is read */
	memset(in, 'a', SMTP_LINE_MAX + 1);
	memcpy(in + SMTP_LINE_MAX + 1, "\r\nNOOP\r\n", 9);
	same_events(in, "X|L:NOOP|", 0, 0);
	/* much longer, bare LF */
	memset(in, 'b', 2 * n - 8);
	memcpy(in + 2 * n - 8, "\nQUIT\n", 7);
	same_events(in, "X|L:QUIT|", 0, 0);
	free(in);
}

static void test_data(void **state)
{
	/* unstuffing; the last CRLF belongs to the message */
	same_events("DATA\r\na\r\n..b\r\n.c\r\n\r\n.\r\nQUIT\r\n",
		    "L:DATA|D:a\r\n.b\r\nc\r\n\r\n|L:QUIT|", 1000, 1);
	/* an empty message */
	same_events("DATA\r\n.\r\nQUIT\r\n", "L:DATA|D:|L:QUIT|", 1000, 1);
	/* only CRLF.CRLF ends it: bare LF and bare CR are data */
	same_events("DATA\r\nx\n.\nend\r.\r\ny\r\n.\r\n",
		    "L:DATA|D:x\n.\nend\r.\r\ny\r\n|", 1000, 1);
	/* a stuffed dot before a lone CR; CR CR LF */
	same_events("DATA\r\n.\rz\r\r\n.\r\n", "L:DATA|D:\rz\r\r\n|", 1000, 1);
	/* SMTP commands inside a message are data */
	same_events("DATA\r\nQUIT\r\n.\r\nNOOP\r\n",
		    "L:DATA|D:QUIT\r\n|L:NOOP|", 1000, 1);
}

static void test_data_too_big(void **state)
{
	/* 12 bytes kept at most: read to its end, then commands again */
	same_events("DATA\r\n0123456789\r\n.\r\nNOOP\r\n",
		    "L:DATA|D:0123456789\r\n|L:NOOP|", 12, 1);
	same_events("DATA\r\n0123456789ab\r\n..\r\n.\r\nNOOP\r\n",
		    "L:DATA|D!17|L:NOOP|", 12, 1);
}

static void test_bdat(void **state)
{
	size_t n;
	int last;

	/* chunks of any bytes (dots, CRLF.CRLF, commands) make the message;
	 * a chunk of no bytes; commands after the last one */
	same_events("BDAT 5\r\n.\r\n.\rBDAT 3 LAST\r\nQ\r\nNOOP\r\n",
		    "L:BDAT 5|C|L:BDAT 3 LAST|C|D:.\r\n.\rQ\r\n|L:NOOP|", 100,
		    1);
	same_events("BDAT 2\r\nabBDAT 0 LAST\r\nQUIT\r\n",
		    "L:BDAT 2|C|L:BDAT 0 LAST|C|D:ab|L:QUIT|", 100, 1);
	/* over the limit: read to its end all the same */
	same_events("BDAT 6\r\n012345BDAT 4 LAST\r\n6789NOOP\r\n",
		    "L:BDAT 6|C|L:BDAT 4 LAST|C|D!10|L:NOOP|", 8, 1);
	assert_int_equal(smtp_parse_bdat("123 last", &n, &last), 0);
	assert_true(n == 123 && last);
	assert_int_equal(smtp_parse_bdat("0", &n, &last), 0);
	assert_true(n == 0 && !last);
	assert_int_equal(smtp_parse_bdat("", &n, &last), -1);
	assert_int_equal(smtp_parse_bdat("-1", &n, &last), -1);
	assert_int_equal(smtp_parse_bdat("12 LAST x", &n, &last), -1);
	assert_int_equal(smtp_parse_bdat("12  LAST", &n, &last), -1);
	assert_int_equal(smtp_parse_bdat("1234567890123456789", &n, &last), -1);
}

static void test_verbs(void **state)
{
	const char *arg;

	assert_int_equal(smtp_parse_verb("ehlo client", &arg), SMTP_EHLO);
	assert_string_equal(arg, "client");
	assert_int_equal(smtp_parse_verb("STARTTLS", &arg), SMTP_STARTTLS);
	assert_string_equal(arg, "");
	assert_int_equal(smtp_parse_verb("MAIL FROM:<>", &arg), SMTP_MAIL);
	assert_string_equal(arg, "FROM:<>");
	assert_int_equal(smtp_parse_verb("MAILX", &arg), SMTP_UNKNOWN);
	assert_int_equal(smtp_parse_verb("", &arg), SMTP_UNKNOWN);
	assert_int_equal(smtp_parse_verb("BDAT 10 LAST", &arg), SMTP_BDAT);
	assert_string_equal(arg, "10 LAST");
}

static void test_paths(void **state)
{
	char addr[SMTP_ADDR_MAX], big[400];
	const char *params;

	assert_int_equal(
		smtp_parse_path("FROM:<a@b.test> SIZE=10 BODY=8BITMIME",
				"FROM:", addr, &params),
		0);
	assert_string_equal(addr, "a@b.test");
	assert_string_equal(params, "SIZE=10 BODY=8BITMIME");
	assert_int_equal(smtp_parse_path("from: <a@b>", "FROM:", addr, &params),
			 0);
	assert_string_equal(params, "");
	assert_int_equal(smtp_parse_path("FROM:<>", "FROM:", addr, &params), 0);
	assert_string_equal(addr, "");
	/* refused: no brackets, a space, a source route, no @, junk after,
	 * control characters, another prefix, too long (what follows a
	 * path is the caller's to check as parameters) */
	static const char *const bad[] = {
		"FROM:a@b",   "TO:<a b@c>",   "TO:<@x:a@b>", "TO:<ab>",
		"TO:<a@b>x",  "TO:<a@b",      "TO:<a\t@b>",  "FROM:<a@b>",
		"TO:<<a@b>>", "TO:<a\x7f@b>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smtp_parse_path(bad[i], "TO:", addr, &params),
				 -1);
	memset(big, 'x', sizeof(big));
	memcpy(big, "TO:<", 4);
	big[300] = '@';
	memcpy(big + 390, "x>", 3);
	assert_int_equal(smtp_parse_path(big, "TO:", addr, &params), -1);
}

/* RFC 6531 3.3: UTF-8 in a path, well-formed only; 1 says it needs
 * SMTPUTF8 */
static void test_paths_utf8(void **state)
{
	char addr[SMTP_ADDR_MAX], big[400];
	const char *params;
	/* 张三@例子.中国, 用户@公司.cn */
	static const char zhang[] = "\xe5\xbc\xa0\xe4\xb8\x89@\xe4\xbe\x8b"
				    "\xe5\xad\x90.\xe4\xb8\xad\xe5\x9b\xbd";
	static const char yonghu[] = "\xe7\x94\xa8\xe6\x88\xb7@\xe5\x85\xac"
				     "\xe5\x8f\xb8.cn";
	char line[200];

	snprintf(line, sizeof(line), "FROM:<%s> SMTPUTF8", zhang);
	assert_int_equal(smtp_parse_path(line, "FROM:", addr, &params), 1);
	assert_string_equal(addr, zhang);
	assert_string_equal(params, "SMTPUTF8");
	snprintf(line, sizeof(line), "TO:<%s>", yonghu);
	assert_int_equal(smtp_parse_path(line, "TO:", addr, &params), 1);
	assert_string_equal(addr, yonghu);
	/* an A-label is ASCII: no SMTPUTF8 needed */
	assert_int_equal(smtp_parse_path("TO:<a@xn--fsqu00a.xn--fiqs8s>",
					 "TO:", addr, &params),
			 0);
	/* a 4-byte sequence (U+1F600) */
	assert_int_equal(smtp_parse_path("TO:<\xf0\x9f\x98\x80@x>", "TO:", addr,
					 &params),
			 1);
	/* not UTF-8: a lone continuation byte, an overlong '/', a
	 * surrogate, past U+10FFFF, a cut sequence (at the end of the
	 * address and before '@'), Latin-1, 0xff */
	static const char *const bad[] = {
		"TO:<\x80@b>",	       "TO:<\xc0\xaf@b>",
		"TO:<\xed\xa0\x80@b>", "TO:<\xf4\x90\x80\x80@b>",
		"TO:<a@b\xe4\xb8>",    "TO:<\xe4\xb8@b>",
		"TO:<caf\xe9@b>",      "TO:<\xff@b>",
		"TO:<\xe0\x80\x80@b>", "TO:<\xf0\x80\x80\x80@b>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smtp_parse_path(bad[i], "TO:", addr, &params),
				 -1);
	/* the limit counts bytes: 84 three-byte characters and "@xy" are
	 * SMTP_ADDR_MAX - 1 bytes, one more is too long */
	memcpy(big, "TO:<", 4);
	for (size_t i = 0; i < 84; i++)
		memcpy(big + 4 + 3 * i, "\xe4\xb8\xad", 3);
	memcpy(big + 4 + 3 * 84, "@xy>", 5);
	assert_int_equal(smtp_parse_path(big, "TO:", addr, &params), 1);
	assert_int_equal(strlen(addr), SMTP_ADDR_MAX - 1);
	memcpy(big + 4 + 3 * 84, "@xyz>", 6);
	assert_int_equal(smtp_parse_path(big, "TO:", addr, &params), -1);
}

static void test_params(void **state)
{
	char v[16];

	assert_int_equal(
		smtp_param("SIZE=123 BODY=8BITMIME", "body", v, sizeof(v)), 1);
	assert_string_equal(v, "8BITMIME");
	assert_int_equal(smtp_param("SIZE=123", "BODY", v, sizeof(v)), 0);
	assert_int_equal(
		smtp_param("SMTPUTF8 SIZE=1", "SMTPUTF8", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(smtp_param("=x", "SIZE", v, sizeof(v)), -1);
	assert_int_equal(smtp_param("SIZE=12345678901234567890", "SIZE", v,
				    sizeof(v)),
			 -1);
	assert_int_equal(smtp_param("", "SIZE", v, sizeof(v)), 0);
}

/* base64 of LEN bytes of RAW into OUT */
static void b64(char *out, const char *raw, size_t len)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				  "opqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned char)raw[i] << 16;

		v |= i + 1 < len ? (unsigned char)raw[i + 1] << 8 : 0;
		v |= i + 2 < len ? (unsigned char)raw[i + 2] : 0;
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

static void test_auth_plain(void **state)
{
	char enc[200], user[64], pass[64];

	b64(enc, "\0alice@x\0s3cret", 15);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 0);
	assert_string_equal(user, "alice@x");
	assert_string_equal(pass, "s3cret");
	b64(enc, "alice@x\0alice@x\0pw", 18);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 0);
	assert_string_equal(pass, "pw");
	b64(enc, "\0alice@x\0", 9); /* an empty password */
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 0);
	assert_string_equal(pass, "");
	/* another authorization identity, no NUL, a NUL in the password,
	 * no user, not base64, too long for the buffers */
	b64(enc, "bob@x\0alice@x\0pw", 16);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 -1);
	b64(enc, "alice@x", 7);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 -1);
	b64(enc, "\0a\0p\0w", 6);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 -1);
	b64(enc, "\0\0pw", 4);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass,
					 sizeof(pass)),
			 -1);
	assert_int_equal(smtp_auth_plain("AGFsaWNl*", user, sizeof(user), pass,
					 sizeof(pass)),
			 -1);
	b64(enc, "\0alice@x\0s3cret", 15);
	assert_int_equal(smtp_auth_plain(enc, user, 4, pass, sizeof(pass)), -1);
	assert_int_equal(smtp_auth_plain(enc, user, sizeof(user), pass, 6), -1);
}

static void test_b64(void **state)
{
	unsigned char out[8];

	assert_int_equal(smtp_b64_decode(out, sizeof(out), "YWJj"), 3);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), "YWI="), 2);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), "YQ=="), 1);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), ""), 0);
	assert_int_equal(memcmp(out, "a", 1), 0);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), "YQ="), -1);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), "Y=Q="), -1);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), "=YWJ"), -1);
	assert_int_equal(smtp_b64_decode(out, sizeof(out), "YW J"), -1);
	/* does not fit */
	assert_int_equal(smtp_b64_decode(out, 5, "YWJjZGVm"), -1);
}

static void test_message_id(void **state)
{
	char id[32];
	const char *m = "From: a@b\r\nmessage-id:  <x@y.test> \r\n\r\nb";

	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 1);
	assert_string_equal(id, "<x@y.test>");
	/* LF line ends; the first field counts */
	m = "Message-ID: <1@a>\nMessage-ID: <2@a>\n\n";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 1);
	assert_string_equal(id, "<1@a>");
	/* only in the body; empty; too long; a control character; no
	 * header end; a longer field name */
	m = "From: a@b\r\n\r\nMessage-ID: <x@y>\r\n";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 0);
	m = "Message-ID:   \r\n\r\n";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 0);
	m = "Message-ID: <0123456789012345678901234567890123456789@a>\r\n";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 0);
	m = "Message-ID: <a\x01b@c>\r\n";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 0);
	m = "Message-ID: <a@b>";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 1);
	m = "Message-IDs: <a@b>\r\n\r\n";
	assert_int_equal(smtp_message_id(id, sizeof(id), m, strlen(m)), 0);
	assert_int_equal(smtp_message_id(id, sizeof(id), "", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_data_too_big),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_paths_utf8),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_message_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
