/*
 * test_imap_parse.c - src/bridge/imap_parse.c, what the bridge reads
 * from IMAP clients and servers: units (lines with literals) give the
 * same events however the input is split (at every byte boundary);
 * synchronizing and non-synchronizing literals; the line, literal and
 * unit caps (checked before allocating); astring arguments; and the
 * response rewriting (imap_rewrite.c): capability lists, the UID, the
 * whole-message literals of FETCH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/bridge/imap_parse.h"
#include "../../src/bridge/imap_rewrite.h"

/* The events of IN (LEN) fed in two pieces cut at CUT, written as
 * "U:unit|", "S|" (a synchronizing literal announced), "E<code>|". */
static void events(char *out, size_t size, const char *in, size_t len,
		   size_t cut, size_t literal_max, size_t unit_max)
{
	struct imap_reader r;
	size_t at = 0, o = 0;

	imap_reader_init(&r, literal_max, unit_max);
	out[0] = '\0';
	for (int piece = 0; piece < 2; piece++) {
		size_t end = piece == 0 ? cut : len;

		while (at < end) {
			size_t used = 0;
			int rc = imap_reader_feed(&r, in + at, end - at, &used);

			assert_true(used <= end - at);
			at += used;
			if (rc == IMAP_UNIT) {
				o += (size_t)snprintf(out + o, size - o,
						      "U:%.*s|", (int)r.len,
						      r.buf);
				imap_reader_next(&r);
			} else if (rc == IMAP_SYNC) {
				o += (size_t)snprintf(out + o, size - o, "S|");
			} else if (rc < 0) {
				o += (size_t)snprintf(out + o, size - o, "E%d|",
						      rc);
				imap_reader_free(&r);
				return;
			} else {
				assert_int_equal(used, end - at + used);
			}
		}
	}
	imap_reader_free(&r);
}

/* IN gives WANT however it is split. */
static void same_split(const char *in, const char *want, size_t literal_max,
		       size_t unit_max)
{
	char got[8192];
	size_t len = strlen(in);

	for (size_t cut = 0; cut <= len; cut++) {
		events(got, sizeof(got), in, len, cut, literal_max, unit_max);
		if (strcmp(got, want) != 0)
			fail_msg("cut at %zu: got \"%s\", want \"%s\"", cut,
				 got, want);
	}
}

static void test_lines(void **state)
{
	(void)state;
	same_split("a NOOP\r\nb CAPABILITY\r\n",
		   "U:a NOOP\r\n|U:b CAPABILITY\r\n|", 100, 1000);
	same_split("* OK bare LF\n", "U:* OK bare LF\n|", 100, 1000);
	/* an incomplete line is no unit */
	same_split("a NOOP", "", 100, 1000);
}

static void test_literals(void **state)
{
	(void)state;
	same_split("a LOGIN {5}\r\nalice {3}\r\npw!\r\n",
		   "S|S|U:a LOGIN {5}\r\nalice {3}\r\npw!\r\n|", 100, 1000);
	same_split("a LOGIN {5+}\r\nalice {3+}\r\npw!\r\n",
		   "U:a LOGIN {5+}\r\nalice {3+}\r\npw!\r\n|", 100, 1000);
	/* a literal holds CRLF and braces without ending anything */
	same_split("* 1 FETCH (BODY[] {7}\r\n{1}\r\n\r\n)\r\n",
		   "S|U:* 1 FETCH (BODY[] {7}\r\n{1}\r\n\r\n)\r\n|", 100, 1000);
	same_split("a X {0}\r\n\r\n", "S|U:a X {0}\r\n\r\n|", 100, 1000);
	/* not a literal: no closing brace at the end, or no digits */
	same_split("a X {5\r\n", "U:a X {5\r\n|", 100, 1000);
	same_split("a X {}\r\n", "U:a X {}\r\n|", 100, 1000);
	same_split("a X 5}\r\n", "U:a X 5}\r\n|", 100, 1000);
}

static void test_limits(void **state)
{
	char line[IMAP_LINE_MAX + 16], want[64];
	(void)state;
	/* a literal over its cap: refused at its announcement */
	same_split("a APPEND x {101}\r\n", "E-2|", 100, 1000);
	same_split("a APPEND x {99999999999}\r\n", "E-2|", 100, 1000);
	/* the unit over its cap */
	same_split("a APPEND x {90}\r\n", "E-3|", 100, 50);
	/* a line of IMAP_LINE_MAX bytes passes; one more does not */
	memset(line, 'x', IMAP_LINE_MAX - 2);
	memcpy(line + IMAP_LINE_MAX - 2, "\r\n", 3);
	events(want, sizeof(want), line, IMAP_LINE_MAX, IMAP_LINE_MAX, 10,
	       2 * IMAP_LINE_MAX);
	assert_true(strncmp(want, "U:", 2) == 0);
	memset(line, 'x', IMAP_LINE_MAX - 1);
	memcpy(line + IMAP_LINE_MAX - 1, "\r\n", 3);
	events(want, sizeof(want), line, IMAP_LINE_MAX + 1, 7, 10,
	       2 * IMAP_LINE_MAX);
	assert_string_equal(want, "E-1|");
	/* a reader whose line cap is raised (the server's side: a long
	 * SEARCH answer) takes a longer line, and refuses one over it */
	for (size_t n = 3 * IMAP_LINE_MAX; n <= 3 * IMAP_LINE_MAX + 1; n++) {
		static char longer[3 * IMAP_LINE_MAX + 1];
		struct imap_reader r;
		size_t used = 0;

		imap_reader_init(&r, 10, 4 * IMAP_LINE_MAX);
		r.line_max = 3 * IMAP_LINE_MAX;
		memset(longer, '1', n - 2);
		memcpy(longer + n - 2, "\r\n", 2);
		assert_int_equal(imap_reader_feed(&r, longer, n, &used),
				 n == 3 * IMAP_LINE_MAX ? IMAP_UNIT :
							  IMAP_ELINE);
		imap_reader_free(&r);
	}
	/* the line limit counts from the last literal */
	{
		static char big[3 * IMAP_LINE_MAX];
		size_t n = 0;

		memset(big, 'y', IMAP_LINE_MAX - 8);
		n = IMAP_LINE_MAX - 8;
		memcpy(big + n, " {4+}\r\nabcd", 11);
		n += 11;
		memset(big + n, 'z', IMAP_LINE_MAX - 8);
		n += IMAP_LINE_MAX - 8;
		memcpy(big + n, "\r\n", 2);
		n += 2;
		events(want, sizeof(want), big, n, n / 2, 10,
		       3 * IMAP_LINE_MAX);
		assert_true(strncmp(want, "U:", 2) == 0);
	}
}

static void test_literal_size(void **state)
{
	size_t n;
	int sync;
	(void)state;
	assert_int_equal(imap_literal_size("x {12}", 6, &n, &sync), 0);
	assert_int_equal(n, 12);
	assert_int_equal(sync, 1);
	assert_int_equal(imap_literal_size("x {12+}", 7, &n, &sync), 0);
	assert_int_equal(sync, 0);
	assert_int_equal(imap_literal_size("{+}", 3, &n, &sync), -1);
	assert_int_equal(imap_literal_size("x {12345678901}", 15, &n, &sync),
			 0);
	assert_true(n == SIZE_MAX);
	assert_int_equal(imap_literal_size("}", 1, &n, &sync), -1);
}

static void test_arg(void **state)
{
	const char unit[] = "a LOGIN \"bob \\\"q\\\\\" {3}\r\np w atom)";
	const char *p = unit, *end = unit + sizeof(unit) - 1;
	char out[16];
	(void)state;
	assert_int_equal(imap_arg(&p, end, out, sizeof(out)), 0);
	assert_string_equal(out, "a");
	assert_int_equal(imap_arg(&p, end, out, sizeof(out)), 0);
	assert_string_equal(out, "LOGIN");
	assert_int_equal(imap_arg(&p, end, out, sizeof(out)), 0);
	assert_string_equal(out, "bob \"q\\");
	assert_int_equal(imap_arg(&p, end, out, sizeof(out)), 0);
	assert_string_equal(out, "p w");
	assert_int_equal(imap_arg(&p, end, out, sizeof(out)), 0);
	assert_string_equal(out, "atom");
	assert_int_equal(imap_arg(&p, end, out, sizeof(out)), -1);
	/* too long, unterminated, a literal longer than what follows */
	p = "abcdefghijklmnopqrstuvwxyz";
	assert_int_equal(imap_arg(&p, p + 26, out, sizeof(out)), -1);
	p = "\"open";
	assert_int_equal(imap_arg(&p, p + 5, out, sizeof(out)), -1);
	p = "{9}\r\nabc";
	assert_int_equal(imap_arg(&p, p + 8, out, sizeof(out)), -1);
	p = "\"a\\x\"";
	assert_int_equal(imap_arg(&p, p + 5, out, sizeof(out)), -1);
}

static void cap(const char *in, const char *want)
{
	char out[512];
	size_t n =
		imap_cap_filter(out, in, strlen(in),
				(size_t)(strstr(in, "CAPABILITY ") - in) + 11);

	assert_true(n <= strlen(in));
	out[n] = '\0';
	assert_string_equal(out, want);
}

static void test_number(void **state)
{
	static const char *const bad[] = { "",
					   " 1",
					   "-1",
					   "+1",
					   "4294967296",
					   "99999999999999999999",
					   "000000000004294967296",
					   "00000000001" };
	const char *p, *s;
	unsigned long v;

	(void)state;
	s = "0 4294967295)";
	p = s;
	assert_int_equal(imap_number(&p, s + strlen(s), &v), 0);
	assert_int_equal(v, 0);
	assert_ptr_equal(p, s + 1);
	p++;
	assert_int_equal(imap_number(&p, s + strlen(s), &v), 0);
	assert_int_equal(v, 4294967295ul);
	assert_int_equal(*p, ')');
	/* the end is END, not a NUL */
	s = "123456";
	p = s;
	assert_int_equal(imap_number(&p, s + 3, &v), 0);
	assert_int_equal(v, 123);
	assert_ptr_equal(p, s + 3);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = bad[i];
		assert_int_equal(imap_number(&p, bad[i] + strlen(bad[i]), &v),
				 -1);
		assert_ptr_equal(p, bad[i]);
	}
}

static void test_cap_filter(void **state)
{
	(void)state;
	cap("* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ COMPRESS=DEFLATE "
	    "BINARY IDLE AUTH=PLAIN STARTTLS CONDSTORE\r\n",
	    "* CAPABILITY IMAP4rev1 LITERAL+ IDLE\r\n");
	cap("L OK [CAPABILITY IMAP4rev1 BINARY MOVE] Logged in\r\n",
	    "L OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n");
	cap("* OK [CAPABILITY COMPRESS=DEFLATE] x\r\n",
	    "* OK [CAPABILITY ] x\r\n");
	cap("* CAPABILITY imap4REV1  idle\r\n",
	    "* CAPABILITY imap4REV1 idle\r\n");
}

static void test_fetch_uid(void **state)
{
	char uid[16];
	(void)state;
	assert_int_equal(
		imap_fetch_uid(uid, "* 3 FETCH (UID 42 BODY[] {3}", 28), 0);
	assert_string_equal(uid, "42");
	assert_int_equal(imap_fetch_uid(uid, "* 3 FETCH (FLAGS () uid 7)", 26),
			 0);
	assert_string_equal(uid, "7");
	assert_int_equal(imap_fetch_uid(uid, "* 3 FETCH (BODY[] {3}", 21), -1);
	assert_int_equal(imap_fetch_uid(uid, "* 3 FETCH (XUID 5)", 18), -1);
	assert_int_equal(imap_fetch_uid(uid, "* 3 FETCH (UID 12345678901)", 27),
			 -1);
	assert_int_equal(imap_fetch_uid(uid, "* 3 FETCH (UID 4294967296)", 26),
			 -1);
	assert_int_equal(imap_fetch_uid(uid, "* 3 FETCH (UID 4294967295)", 26),
			 0);
	assert_string_equal(uid, "4294967295");
	/* only the response's own UID item: not "UID n" in a string of
	 * the message (a Subject in ENVELOPE) nor in a section's list,
	 * which would name another message's cache entry */
	static const char env[] =
		"* 3 FETCH (ENVELOPE (\"d\" \"x UID 7\" NIL) UID 3 BODY[] {3}";
	assert_int_equal(imap_fetch_uid(uid, env, sizeof(env) - 1), 0);
	assert_string_equal(uid, "3");
	static const char esc[] =
		"* 3 FETCH (ENVELOPE (\"\\\" UID 7\") UID 4 BODY[] {3}";
	assert_int_equal(imap_fetch_uid(uid, esc, sizeof(esc) - 1), 0);
	assert_string_equal(uid, "4");
	static const char sec[] = "* 3 FETCH (BODY[HEADER.FIELDS (UID 9)] {3}";
	assert_int_equal(imap_fetch_uid(uid, sec, sizeof(sec) - 1), -1);
	static const char only[] = "* 3 FETCH (ENVELOPE (\"UID 7\") BODY[] {3}";
	assert_int_equal(imap_fetch_uid(uid, only, sizeof(only) - 1), -1);
}

/* The rewriting callback of the tests: "<" the message ">". */
static int angle(void *arg, const char *msg, size_t n, char **out,
		 size_t *outlen)
{
	int *calls = arg;

	(*calls)++;
	*out = malloc(n + 3);
	if (*out == NULL)
		return -1;
	(*out)[0] = '<';
	memcpy(*out + 1, msg, n);
	(*out)[n + 1] = '>';
	*outlen = n + 2;
	return 0;
}

static void rewrite(const char *in, const char *want, int want_calls)
{
	char *out = NULL;
	size_t n = 0;
	int calls = 0, rc;

	rc = imap_rewrite_literals(in, strlen(in), angle, &calls, &out, &n);
	assert_int_equal(calls, want_calls);
	if (want == NULL) {
		assert_int_equal(rc, 0);
		assert_null(out);
		return;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(out);
}

static void test_rewrite_literals(void **state)
{
	(void)state;
	rewrite("* 1 FETCH (UID 5 BODY[] {3}\r\nabc)\r\n",
		"* 1 FETCH (UID 5 BODY[] {5}\r\n<abc>)\r\n", 1);
	rewrite("* 1 FETCH (RFC822 {2}\r\nab FLAGS (\\Seen))\r\n",
		"* 1 FETCH (RFC822 {4}\r\n<ab> FLAGS (\\Seen))\r\n", 1);
	/* two whole messages, a section and a header between them */
	rewrite("* 1 FETCH (BODY[1] {2}\r\nxy BODY[] {1}\r\nz "
		"BODY[HEADER] {1}\r\nh RFC822 {1+}\r\nq)\r\n",
		"* 1 FETCH (BODY[1] {2}\r\nxy BODY[] {3}\r\n<z> "
		"BODY[HEADER] {1}\r\nh RFC822 {3}\r\n<q>)\r\n",
		2);
	/* not whole messages: sections, partial fetches, RFC822.HEADER */
	rewrite("* 1 FETCH (BODY[TEXT] {1}\r\nz)\r\n", NULL, 0);
	rewrite("* 1 FETCH (BODY[]<0> {1}\r\nz)\r\n", NULL, 0);
	rewrite("* 1 FETCH (RFC822.HEADER {1}\r\nz)\r\n", NULL, 0);
	rewrite("* 1 FETCH (XBODY[] {1}\r\nz)\r\n", NULL, 0);
	/* a literal longer than the unit: left alone */
	rewrite("* 1 FETCH (BODY[] {9}\r\nz)\r\n", NULL, 0);
	rewrite("* 1 FETCH (BODY[] {0}\r\n)\r\n", NULL, 0);
}

static int smime(const char *ct)
{
	return imap_smime_type(ct, strlen(ct));
}

static void test_smime_type(void **state)
{
	(void)state;
	assert_true(smime("application/pkcs7-mime; smime-type=enveloped-data"));
	assert_true(smime(" Application/X-PKCS7-MIME"));
	assert_true(smime("application/pkcs7-mime"));
	assert_true(smime("multipart/signed; protocol=\"application/"
			  "pkcs7-signature\"; micalg=sha-256"));
	assert_true(smime("multipart/signed;\r\n\tmicalg=sha-256;\r\n"
			  "\tprotocol=application/x-pkcs7-signature"));
	assert_false(smime("multipart/signed; protocol=\"application/"
			   "pgp-signature\""));
	assert_false(smime("multipart/signed"));
	assert_false(smime("multipart/signed; xprotocol=\"application/"
			   "pkcs7-signature\""));
	assert_false(smime("application/pkcs7-mimex"));
	assert_false(smime("text/plain; name=\"application/pkcs7-mime\""));
	assert_false(smime(""));
	assert_false(smime("multipart/signed; protocol=\"application/"
			   "pkcs7-signature"));
}

static enum imap_smime kind(const char *ct)
{
	return imap_smime_kind(ct, strlen(ct));
}

/* Only an (auth)enveloped-data message is one the server cannot read
 * (what APPEND lets pass unsealed). */
static void test_smime_kind(void **state)
{
	(void)state;
	assert_int_equal(kind("application/pkcs7-mime; smime-type="
			      "enveloped-data; name=smime.p7m"),
			 IMAP_SMIME_ENVELOPED);
	assert_int_equal(kind("application/x-pkcs7-mime;\r\n\tname=\"smime.p7m"
			      "\"; smime-type=\"authEnveloped-data\"\r\n"),
			 IMAP_SMIME_ENVELOPED);
	assert_int_equal(kind("application/pkcs7-mime; smime-type=signed-data"),
			 IMAP_SMIME_OTHER);
	assert_int_equal(kind("application/pkcs7-mime; smime-type=certs-only"),
			 IMAP_SMIME_OTHER);
	assert_int_equal(kind("application/pkcs7-mime"), IMAP_SMIME_OTHER);
	assert_int_equal(kind("application/pkcs7-mime; smime-type="
			      "enveloped-datax"),
			 IMAP_SMIME_OTHER);
	assert_int_equal(kind("application/pkcs7-mime; xsmime-type="
			      "enveloped-data"),
			 IMAP_SMIME_OTHER);
	assert_int_equal(kind("application/pkcs7-mime; smime-type=\""
			      "enveloped-data"),
			 IMAP_SMIME_OTHER);
	assert_int_equal(kind("multipart/signed; protocol=\"application/"
			      "pkcs7-signature\""),
			 IMAP_SMIME_OTHER);
	assert_int_equal(kind("multipart/signed; protocol=\"application/"
			      "pgp-signature\"; micalg=pgp-sha256"),
			 IMAP_NOT_SMIME);
	assert_int_equal(kind("multipart/signed; boundary=x"), IMAP_NOT_SMIME);
	assert_int_equal(kind("multipart/encrypted; protocol=\"application/"
			      "pgp-encrypted\""),
			 IMAP_NOT_SMIME);
	assert_int_equal(kind("text/plain; smime-type=enveloped-data"),
			 IMAP_NOT_SMIME);
}

static enum imap_smime msg_kind(const char *msg)
{
	return imap_message_smime(msg, strlen(msg));
}

static void test_message_smime(void **state)
{
	(void)state;
	assert_int_equal(msg_kind("From: a@b\r\nContent-Type: application/"
				  "pkcs7-mime;\r\n smime-type=enveloped-data"
				  "\r\n\r\nMIIB\r\n"),
			 IMAP_SMIME_ENVELOPED);
	/* LF line ends, obsolete blanks before the colon, any case */
	assert_int_equal(msg_kind("content-type :\tapplication/pkcs7-mime; "
				  "smime-type=authEnveloped-data\n\nMIIB\n"),
			 IMAP_SMIME_ENVELOPED);
	assert_int_equal(msg_kind("From: a@b\r\nContent-Type: multipart/"
				  "signed; protocol=\"application/"
				  "pgp-signature\"\r\n\r\n"),
			 IMAP_NOT_SMIME);
	/* a field of the body is not the message's */
	assert_int_equal(msg_kind("From: a@b\r\n\r\nContent-Type: application"
				  "/pkcs7-mime; smime-type=enveloped-data\r\n"),
			 IMAP_NOT_SMIME);
	/* nor a continuation line, nor a field named longer */
	assert_int_equal(msg_kind("Subject: x\r\n Content-Type: application/"
				  "pkcs7-mime; smime-type=enveloped-data\r\n"
				  "\r\n"),
			 IMAP_NOT_SMIME);
	assert_int_equal(msg_kind("Content-Types: application/pkcs7-mime; "
				  "smime-type=enveloped-data\r\n\r\n"),
			 IMAP_NOT_SMIME);
	/* two Content-Type fields: which one a reader takes differs */
	assert_int_equal(msg_kind("Content-Type: application/pkcs7-mime; "
				  "smime-type=enveloped-data\r\nContent-Type: "
				  "text/plain\r\n\r\nsecret\r\n"),
			 IMAP_NOT_SMIME);
	assert_int_equal(msg_kind(""), IMAP_NOT_SMIME);
	assert_int_equal(msg_kind("Content-Type: application/pkcs7-mime; "
				  "smime-type=enveloped-data"),
			 IMAP_SMIME_ENVELOPED);
}

#define ENV_CT                                                           \
	"From: a@b\r\nContent-Type: application/pkcs7-mime; smime-type=" \
	"enveloped-data\r\n"
#define ENV_HDR ENV_CT "Content-Transfer-Encoding: base64\r\n\r\n"
#define ENV_BODY "MIAGCSqGSIb3DQEHA6CAMIACAQAxggEQ\r\n"

static int encrypted(const char *msg)
{
	return imap_message_encrypted(msg, strlen(msg));
}

/* A message passes as encrypted when its header and its body's CMS type
 * say so: EnvelopedData (BER, indefinite), AuthEnvelopedData (DER). */
static void test_message_encrypted(void **state)
{
	(void)state;
	assert_true(encrypted(ENV_HDR ENV_BODY));
	/* folded base64, LF line ends */
	assert_true(encrypted("Content-Type: application/pkcs7-mime;\n"
			      " smime-type=authEnveloped-data\n"
			      "Content-Transfer-Encoding: BASE64\n\n"
			      "MIIBIwYLKo\nZIhvcNAQkQARegggEUMIIB\n"));
	/* a header that claims enveloped-data over signed-data */
	assert_false(encrypted(ENV_HDR "MIAGCSqGSIb3DQEHAqCAMIACAQExDzAN\r\n"));
	/* too short to tell, padding early, not base64 */
	assert_false(encrypted(ENV_HDR "MIAGCSqGSIb3\r\n"));
	assert_false(encrypted(ENV_HDR "MIAGCSqGSIb3DQ==\r\n"));
	assert_false(encrypted(ENV_HDR "secret text\r\n"));
	assert_false(encrypted(ENV_HDR));
	/* no, another or two transfer encodings */
	assert_false(encrypted(ENV_CT "\r\n" ENV_BODY));
	assert_false(encrypted(ENV_CT "Content-Transfer-Encoding: 7bit\r\n"
				      "\r\n" ENV_BODY));
	assert_false(encrypted(ENV_CT "Content-Transfer-Encoding: base64\r\n"
				      "Content-Transfer-Encoding: base64\r\n"
				      "\r\n" ENV_BODY));
	/* the header is not enveloped-data */
	assert_false(encrypted("Content-Type: application/pkcs7-mime; smime-"
			       "type=signed-data\r\nContent-Transfer-"
			       "Encoding: base64\r\n\r\n" ENV_BODY));
}

/* The fields of a header, their values, the end at the empty line. */
static void test_fields(void **state)
{
	static const char m[] = " lead\r\nA: 1\r\n\t2\r\nB :3\nC\r\n"
				"\r\nD: body\r\n";
	struct imap_field f;
	const char *v;
	size_t pos = 0, n;

	(void)state;
	assert_int_equal(imap_field_next(m, sizeof(m) - 1, &pos, &f), 1);
	assert_int_equal(f.len, 7);
	assert_false(imap_field_is(&f, "lead", NULL, NULL));
	assert_int_equal(imap_field_next(m, sizeof(m) - 1, &pos, &f), 1);
	assert_int_equal(f.line, 4);
	assert_int_equal(f.len, 10);
	assert_true(imap_field_is(&f, "a", &v, &n));
	assert_int_equal(n, 8);
	assert_memory_equal(v, " 1\r\n\t2\r\n", 8);
	assert_int_equal(imap_field_next(m, sizeof(m) - 1, &pos, &f), 1);
	assert_true(imap_field_is(&f, "B", &v, &n));
	assert_memory_equal(v, "3\n", n);
	assert_int_equal(imap_field_next(m, sizeof(m) - 1, &pos, &f), 1);
	assert_false(imap_field_is(&f, "C", NULL, NULL));
	assert_int_equal(imap_field_next(m, sizeof(m) - 1, &pos, &f), 0);
	assert_memory_equal(m + pos, "\r\nD:", 4);
	/* the end of the input ends the header too */
	pos = 0;
	assert_int_equal(imap_field_next("A: 1", 4, &pos, &f), 1);
	assert_int_equal(f.len, 4);
	assert_int_equal(imap_field_next("A: 1", 4, &pos, &f), 0);
	assert_int_equal(pos, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_literal_size),
		cmocka_unit_test(test_arg),
		cmocka_unit_test(test_number),
		cmocka_unit_test(test_cap_filter),
		cmocka_unit_test(test_fetch_uid),
		cmocka_unit_test(test_rewrite_literals),
		cmocka_unit_test(test_smime_type),
		cmocka_unit_test(test_smime_kind),
		cmocka_unit_test(test_message_smime),
		cmocka_unit_test(test_message_encrypted),
		cmocka_unit_test(test_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
