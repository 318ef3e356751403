/*
 * test_mime.c - the bounded MIME splitter of src/lib/mime.c.
 *
 * ll_mime_split: CRLF, LF, an mbox "From " line, no body, folded
 * fields, lines that are not fields, the header size limit.
 * ll_mime_parts: preamble and epilogue, delimiters with trailing
 * white space, a missing close delimiter, a boundary that is only the
 * prefix of a longer line, the line end before a delimiter.
 *
 * STYLE.md 9 (split the input at every byte boundary): the splitter is
 * not incremental, so every prefix of a good message is given to it in
 * a buffer of exactly that size (ASan sees any read past the end); it
 * must fail cleanly or, once it has seen enough, give exactly the parts
 * of the whole message.
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

/* A copy of S[0..N) in a buffer of exactly N bytes. */
static char *exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static void assert_slice(const struct ll_slice *sl, const char *want)
{
	size_t n = strlen(want);

	if (sl->len != n || memcmp(sl->p, want, n) != 0)
		fail_msg("slice \"%.*s\" (%zu bytes), expected \"%s\" (%zu)",
			 (int)sl->len, sl->p, sl->len, want, n);
}

/* ---- ll_mime_split ---- */

static void test_split_crlf(void **state)
{
	static const char m[] = "From: a@example.test\r\n"
				"Subject: hi\r\n"
				"\r\n"
				"body line\r\n"
				"\r\n"
				"more\r\n";
	struct ll_entity e;
	char *p = exact(m, sizeof(m) - 1);

	(void)state;
	assert_int_equal(ll_mime_split(&e, p, sizeof(m) - 1, NULL), 0);
	assert_ptr_equal(e.all.p, p);
	assert_int_equal(e.all.len, sizeof(m) - 1);
	assert_ptr_equal(e.hdr.p, p);
	assert_slice(&e.hdr, "From: a@example.test\r\nSubject: hi\r\n");
	assert_slice(&e.body, "body line\r\n\r\nmore\r\n");
	assert_string_equal(e.nl, "\r\n");
	free(p);
}

static void test_split_lf(void **state)
{
	static const char m[] = "From: a@example.test\nSubject: hi\n\nbody\n";
	struct ll_entity e;
	char *p = exact(m, sizeof(m) - 1);

	(void)state;
	assert_int_equal(ll_mime_split(&e, p, sizeof(m) - 1, NULL), 0);
	assert_slice(&e.hdr, "From: a@example.test\nSubject: hi\n");
	assert_slice(&e.body, "body\n");
	assert_string_equal(e.nl, "\n");
	free(p);
}

static void test_split_mbox_from(void **state)
{
	static const char m[] = "From a@example.test Tue Nov 24 12:00:00 2026\n"
				"From: a@example.test\n"
				"\n"
				"x\n";
	struct ll_entity e;
	char *p = exact(m, sizeof(m) - 1);
	size_t skip = strlen("From a@example.test Tue Nov 24 12:00:00 2026\n");

	(void)state;
	assert_int_equal(ll_mime_split(&e, p, sizeof(m) - 1, NULL), 0);
	/* the separator is not part of the message */
	assert_ptr_equal(e.all.p, p + skip);
	assert_int_equal(e.all.len, sizeof(m) - 1 - skip);
	assert_slice(&e.hdr, "From: a@example.test\n");
	assert_slice(&e.body, "x\n");
	free(p);
}

static void test_split_no_body(void **state)
{
	struct ll_entity e;
	char *p;

	(void)state;
	/* no blank line: all header, empty body at the end */
	p = exact("From: a@example.test\r\nSubject: x\r\n", 34);
	assert_int_equal(ll_mime_split(&e, p, 34, NULL), 0);
	assert_int_equal(e.hdr.len, 34);
	assert_int_equal(e.body.len, 0);
	assert_ptr_equal(e.body.p, p + 34);
	free(p);
	/* no final line end either */
	p = exact("From: a@example.test", 20);
	assert_int_equal(ll_mime_split(&e, p, 20, NULL), 0);
	assert_int_equal(e.hdr.len, 20);
	assert_int_equal(e.body.len, 0);
	free(p);
	/* a blank line and nothing after it */
	p = exact("From: a@example.test\n\n", 22);
	assert_int_equal(ll_mime_split(&e, p, 22, NULL), 0);
	assert_slice(&e.hdr, "From: a@example.test\n");
	assert_int_equal(e.body.len, 0);
	free(p);
}

static void test_split_continuation(void **state)
{
	static const char m[] = "Subject: one\r\n two\r\n\tthree\r\n"
				"From: a@example.test\r\n"
				"\r\n"
				" not a header: body\r\n";
	struct ll_entity e;
	struct ll_field f;
	size_t pos = 0;
	char *v, *p = exact(m, sizeof(m) - 1);

	(void)state;
	assert_int_equal(ll_mime_split(&e, p, sizeof(m) - 1, NULL), 0);
	assert_slice(&e.body, " not a header: body\r\n");
	assert_int_equal(ll_mime_next_field(&e.hdr, &pos, &f), 1);
	assert_true(ll_field_is(&f, "subject"));
	assert_slice(&f.name, "Subject");
	assert_slice(&f.raw, "Subject: one\r\n two\r\n\tthree\r\n");
	assert_slice(&f.value, " one\r\n two\r\n\tthree");
	assert_int_equal(ll_mime_next_field(&e.hdr, &pos, &f), 1);
	assert_slice(&f.name, "From");
	assert_int_equal(ll_mime_next_field(&e.hdr, &pos, &f), 0);
	v = ll_mime_get(&e.hdr, "SUBJECT");
	assert_string_equal(v, "one two\tthree");
	free(v);
	assert_null(ll_mime_get(&e.hdr, "To"));
	assert_int_equal(ll_mime_count(&e.hdr, "from"), 1);
	free(p);
}

static void assert_split_fails(const char *m, int want)
{
	struct ll_error err;
	struct ll_entity e;
	size_t n = strlen(m);
	char *p = exact(m, n);

	ll_error_clear(&err);
	assert_int_equal(ll_mime_split(&e, p, n, &err), want);
	assert_int_equal(err.code, want);
	assert_int_equal(err.klass, LL_ECLASS_MIME);
	assert_true(err.message[0] != '\0');
	free(p);
}

static void test_split_errors(void **state)
{
	(void)state;
	/* a continuation line cannot come first */
	assert_split_fails(" Subject: x\r\nFrom: a@b\r\n\r\nx", LL_EPARSE);
	assert_split_fails("\tx\n\nbody\n", LL_EPARSE);
	/* a line that is not a field */
	assert_split_fails("From: a@b\r\nthis is not a field\r\n\r\nx",
			   LL_EPARSE);
	assert_split_fails("From: a@b\nBad Name: x\n\nx", LL_EPARSE);
	assert_split_fails("From: a@b\n: no name\n\nx", LL_EPARSE);
	assert_split_fails("From: a@b\nno-colon\n\nx", LL_EPARSE);
	assert_split_fails("Subj\xc3\xa9t: x\n\nx", LL_EPARSE);
	/* nothing before the blank line */
	assert_split_fails("\r\nbody only\r\n", LL_EPARSE);
	assert_split_fails("", LL_EPARSE);
}

/* LL_MSG_MAX_HEADER bytes of header pass, one more does not. */
static void test_split_header_limit(void **state)
{
	size_t max = LL_MSG_MAX_HEADER, line = 1000;
	struct ll_buf b = { 0 };
	struct ll_error err;
	struct ll_entity e;
	char *p;

	(void)state;
	while (b.len + line <= max) {
		assert_int_equal(ll_buf_adds(&b, "X-Pad: "), 0);
		for (size_t i = 7; i < line - 1; i++)
			assert_int_equal(ll_buf_add(&b, "a", 1), 0);
		assert_int_equal(ll_buf_adds(&b, "\n"), 0);
	}
	/* top up to exactly max with one last field */
	assert_int_equal(ll_buf_adds(&b, "Y: "), 0);
	while (b.len < max - 1)
		assert_int_equal(ll_buf_add(&b, "b", 1), 0);
	assert_int_equal(ll_buf_adds(&b, "\n"), 0);
	assert_int_equal(b.len, max);
	assert_int_equal(ll_buf_adds(&b, "\nbody\n"), 0);
	p = exact(b.p, b.len);
	assert_int_equal(ll_mime_split(&e, p, b.len, NULL), 0);
	assert_int_equal(e.hdr.len, max);
	assert_slice(&e.body, "body\n");
	free(p);
	/* one byte more in the last field */
	b.len = max - 1;
	assert_int_equal(ll_buf_adds(&b, "b\n\nbody\n"), 0);
	p = exact(b.p, b.len);
	ll_error_clear(&err);
	assert_int_equal(ll_mime_split(&e, p, b.len, &err), LL_ETOOBIG);
	assert_int_equal(err.code, LL_ETOOBIG);
	free(p);
	/* and a header that never ends (no line end at all) */
	b.len = 0;
	assert_int_equal(ll_buf_adds(&b, "X-Long: "), 0);
	while (b.len < 2 * max)
		assert_int_equal(ll_buf_add(&b, "c", 1), 0);
	p = exact(b.p, b.len);
	assert_int_equal(ll_mime_split(&e, p, b.len, NULL), LL_ETOOBIG);
	free(p);
	ll_buf_free(&b);
}

static void test_split_message_limit(void **state)
{
	size_t n = (size_t)LL_MSG_MAX_SIZE + 1;
	char *p = calloc(1, n); /* untouched pages: cheap */
	struct ll_entity e;

	(void)state;
	assert_non_null(p);
	memcpy(p, "From: a@b\n\n", 11);
	assert_int_equal(ll_mime_split(&e, p, n, NULL), LL_ETOOBIG);
	free(p);
}

/* ---- ll_mime_parts ---- */

static int parts_of(const char *body, const char *boundary,
		    struct ll_slice *parts, size_t max, size_t *n,
		    char **keep)
{
	struct ll_slice b;

	*keep = exact(body, strlen(body));
	b.p = *keep;
	b.len = strlen(body);
	return ll_mime_parts(parts, max, n, &b, boundary, NULL);
}

static void test_parts_preamble_epilogue(void **state)
{
	struct ll_slice parts[4];
	size_t n = 99;
	char *keep;

	(void)state;
	assert_int_equal(parts_of("This is the preamble.\r\n"
				  "--frontier\r\n"
				  "Content-Type: text/plain\r\n\r\none\r\n"
				  "--frontier\r\n"
				  "two\r\n"
				  "--frontier--\r\n"
				  "This is the epilogue.\r\n"
				  "--frontier\r\nnot a part\r\n",
				  "frontier", parts, 4, &n, &keep),
			 0);
	assert_int_equal(n, 2);
	assert_slice(&parts[0], "Content-Type: text/plain\r\n\r\none");
	assert_slice(&parts[1], "two");
	free(keep);
	/* no preamble, LF line ends */
	assert_int_equal(parts_of("--b\nx\n--b\n\n--b--\n", "b", parts, 4, &n,
				  &keep),
			 0);
	assert_int_equal(n, 2);
	assert_slice(&parts[0], "x");
	assert_slice(&parts[1], ""); /* an empty part */
	free(keep);
	/* a close delimiter at the very end, without a line end */
	assert_int_equal(parts_of("--b\r\nx\r\n--b--", "b", parts, 4, &n,
				  &keep),
			 0);
	assert_int_equal(n, 1);
	assert_slice(&parts[0], "x");
	free(keep);
}

static void test_parts_trailing_whitespace(void **state)
{
	struct ll_slice parts[4];
	size_t n = 0;
	char *keep;

	(void)state;
	assert_int_equal(parts_of("--b \t \r\none\r\n--b\t\r\ntwo\r\n--b--  \r\n",
				  "b", parts, 4, &n, &keep),
			 0);
	assert_int_equal(n, 2);
	assert_slice(&parts[0], "one");
	assert_slice(&parts[1], "two");
	free(keep);
	/* but not other characters after it */
	assert_int_equal(parts_of("--b\r\none\r\n--b x\r\nstill one\r\n--b--\r\n",
				  "b", parts, 4, &n, &keep),
			 0);
	assert_int_equal(n, 1);
	assert_slice(&parts[0], "one\r\n--b x\r\nstill one");
	free(keep);
}

static void test_parts_missing_close(void **state)
{
	struct ll_slice parts[4];
	struct ll_error err;
	struct ll_slice b;
	size_t n;
	char *keep;

	(void)state;
	assert_int_equal(parts_of("--b\r\none\r\n--b\r\ntwo\r\n", "b", parts,
				  4, &n, &keep),
			 LL_EPARSE);
	free(keep);
	assert_int_equal(parts_of("no delimiter at all\r\n", "b", parts, 4,
				  &n, &keep),
			 LL_EPARSE);
	free(keep);
	assert_int_equal(parts_of("", "b", parts, 4, &n, &keep), LL_EPARSE);
	free(keep);
	/* "--b-" is not "--b--" */
	assert_int_equal(parts_of("--b\r\none\r\n--b-\r\n", "b", parts, 4, &n,
				  &keep),
			 LL_EPARSE);
	free(keep);
	/* the error says what happened */
	keep = exact("--b\nx\n", 6);
	b.p = keep;
	b.len = 6;
	ll_error_clear(&err);
	assert_int_equal(ll_mime_parts(parts, 4, &n, &b, "b", &err), LL_EPARSE);
	assert_int_equal(err.code, LL_EPARSE);
	assert_non_null(strstr(err.message, "closing boundary"));
	free(keep);
}

/* A boundary that only begins a longer token is no delimiter. */
static void test_parts_boundary_prefix(void **state)
{
	struct ll_slice parts[4];
	size_t n = 0;
	char *keep;

	(void)state;
	assert_int_equal(parts_of("--abc\r\n"
				  "one\r\n"
				  "--abcd\r\n"
				  "--abc-\r\n"
				  "--abc--x\r\n"
				  "---abc\r\n"
				  " --abc\r\n"
				  "x--abc\r\n"
				  "--abc\r\n"
				  "two\r\n"
				  "--abc--\r\n",
				  "abc", parts, 4, &n, &keep),
			 0);
	assert_int_equal(n, 2);
	assert_slice(&parts[0], "one\r\n--abcd\r\n--abc-\r\n--abc--x\r\n"
				"---abc\r\n --abc\r\nx--abc");
	assert_slice(&parts[1], "two");
	free(keep);
	/* and "--abcd--" does not close an "abc" multipart */
	assert_int_equal(parts_of("--abc\r\none\r\n--abcd--\r\n", "abc", parts,
				  4, &n, &keep),
			 LL_EPARSE);
	free(keep);
}

/* The CRLF (or LF) before a delimiter belongs to the delimiter: only
 * that one line end is taken from the part. */
static void test_parts_crlf_before_delimiter(void **state)
{
	struct ll_slice parts[4];
	size_t n = 0;
	char *keep;

	(void)state;
	assert_int_equal(parts_of("--b\r\none\r\n\r\n--b\r\ntwo\n\n--b\r\n"
				  "\r\n--b\r\nthree\r\r\n--b--\r\n",
				  "b", parts, 4, &n, &keep),
			 0);
	assert_int_equal(n, 4);
	assert_slice(&parts[0], "one\r\n");
	assert_slice(&parts[1], "two\n");
	assert_slice(&parts[2], "");
	assert_slice(&parts[3], "three\r");
	free(keep);
}

static void test_parts_limits(void **state)
{
	struct ll_slice parts[2];
	struct ll_error err;
	size_t n = 0;
	char *keep;
	char b71[72];
	struct ll_slice b;

	(void)state;
	/* more parts than room */
	keep = exact("--b\n1\n--b\n2\n--b\n3\n--b--\n", 24);
	b.p = keep;
	b.len = 24;
	ll_error_clear(&err);
	assert_int_equal(ll_mime_parts(parts, 2, &n, &b, "b", &err),
			 LL_EPOLICY);
	assert_int_equal(err.code, LL_EPOLICY);
	assert_true(n <= 2);
	free(keep);
	/* boundaries: 1..70 characters (RFC 2046) */
	for (size_t bl = 69; bl <= 71; bl++) {
		char body[200];
		int k;

		memset(b71, 'x', bl);
		b71[bl] = '\0';
		k = snprintf(body, sizeof(body), "--%s\nx\n--%s--\n", b71, b71);
		keep = exact(body, (size_t)k);
		b.p = keep;
		b.len = (size_t)k;
		assert_int_equal(ll_mime_parts(parts, 2, &n, &b, b71, NULL),
				 bl <= 70 ? 0 : LL_EPARSE);
		free(keep);
	}
	keep = exact("--b\nx\n--b--\n", 12);
	b.p = keep;
	b.len = 12;
	assert_int_equal(ll_mime_parts(parts, 2, &n, &b, "", NULL), LL_EPARSE);
	free(keep);
}

/* ---- ll_mime_ctype and ll_mime_decode_body ---- */

static void test_ctype(void **state)
{
	static const char h1[] =
		"Content-Type: Multipart/Signed; protocol=\"Application/"
		"PKCS7-Signature\";\r\n micalg=sha-256; boundary=\"Mixed=Case\"\r\n";
	static const char h2[] = "Subject: x\r\n";
	static const char h3[] = "Content-Type: text/plain\r\n"
				 "Content-Type: text/html\r\n";
	struct ll_ctype ct;
	struct ll_slice s;

	(void)state;
	s.p = h1;
	s.len = sizeof(h1) - 1;
	assert_int_equal(ll_mime_ctype(&ct, &s, NULL), 0);
	assert_string_equal(ct.type, "multipart");
	assert_string_equal(ct.subtype, "signed");
	assert_string_equal(ct.protocol, "application/pkcs7-signature");
	assert_string_equal(ct.boundary, "Mixed=Case"); /* case kept */
	/* absent: text/plain */
	s.p = h2;
	s.len = sizeof(h2) - 1;
	assert_int_equal(ll_mime_ctype(&ct, &s, NULL), 0);
	assert_string_equal(ct.type, "text");
	assert_string_equal(ct.subtype, "plain");
	assert_string_equal(ct.boundary, "");
	/* two of them: refused */
	s.p = h3;
	s.len = sizeof(h3) - 1;
	assert_int_equal(ll_mime_ctype(&ct, &s, NULL), LL_EPARSE);
}

/*
 * The same Content-Type value parsed again (from the thread's memo of
 * recent values) gives the same answer; a filename from
 * Content-Disposition is each header's own; more values than the memo
 * holds, in turn, each parse as themselves.
 */
static void test_ctype_again(void **state)
{
	static const char a[] = "Content-Type: application/octet-stream\r\n"
				"Content-Disposition: attachment; "
				"filename=a.p7m\r\n";
	static const char b[] = "Content-Type: application/octet-stream\r\n"
				"Content-Disposition: attachment; "
				"filename=b.p7s\r\n";
	struct ll_ctype ct;
	struct ll_slice s;
	char h[128], want[32];

	(void)state;
	for (int round = 0; round < 3; round++) {
		s.p = a;
		s.len = sizeof(a) - 1;
		assert_int_equal(ll_mime_ctype(&ct, &s, NULL), 0);
		assert_string_equal(ct.subtype, "octet-stream");
		assert_string_equal(ct.name, "a.p7m");
		s.p = b;
		s.len = sizeof(b) - 1;
		assert_int_equal(ll_mime_ctype(&ct, &s, NULL), 0);
		assert_string_equal(ct.subtype, "octet-stream");
		assert_string_equal(ct.name, "b.p7s");
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 10; i++) {
			snprintf(h, sizeof(h),
				 "Content-Type: multipart/mixed; "
				 "boundary=\"b%d\"\r\n",
				 i);
			snprintf(want, sizeof(want), "b%d", i);
			s.p = h;
			s.len = strlen(h);
			assert_int_equal(ll_mime_ctype(&ct, &s, NULL), 0);
			assert_string_equal(ct.type, "multipart");
			assert_string_equal(ct.boundary, want);
		}
	}
}

static void test_decode_body(void **state)
{
	static const char b64[] = "Content-Transfer-Encoding: BASE64\r\n\r\n"
				  "aGVs\r\nbG8=\r\n";
	static const char bad[] = "Content-Transfer-Encoding: base64\r\n\r\n"
				  "aGVs!bG8=\r\n";
	static const char id[] = "Content-Transfer-Encoding: 8bit\r\n\r\n"
				 "h\xc3\xa9llo\r\n";
	static const char qp[] = "Content-Transfer-Encoding: quoted-printable"
				 "\r\n\r\n=3D\r\n";
	struct ll_entity e;
	struct ll_buf out = { 0 };

	(void)state;
	assert_int_equal(ll_mime_split(&e, b64, sizeof(b64) - 1, NULL), 0);
	assert_int_equal(ll_mime_decode_body(&out, &e, NULL), 0);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.p, "hello", 5);
	/* appends */
	assert_int_equal(ll_mime_decode_body(&out, &e, NULL), 0);
	assert_int_equal(out.len, 10);
	ll_buf_free(&out);
	assert_int_equal(ll_mime_split(&e, bad, sizeof(bad) - 1, NULL), 0);
	assert_int_equal(ll_mime_decode_body(&out, &e, NULL), LL_EPARSE);
	ll_buf_free(&out);
	assert_int_equal(ll_mime_split(&e, id, sizeof(id) - 1, NULL), 0);
	assert_int_equal(ll_mime_decode_body(&out, &e, NULL), 0);
	assert_int_equal(out.len, 8);
	ll_buf_free(&out);
	assert_int_equal(ll_mime_split(&e, qp, sizeof(qp) - 1, NULL), 0);
	assert_int_equal(ll_mime_decode_body(&out, &e, NULL), LL_EPARSE);
	ll_buf_free(&out);
}

/* ---- every byte boundary ---- */

static const char good_multipart[] =
	"From a@example.test Tue Nov 24 12:00:00 2026\r\n"
	"From: Alice <a@example.test>\r\n"
	"To: b@example.test\r\n"
	"Subject: a folded\r\n"
	"  subject\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"=_b\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--=_b\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"first\r\n"
	"--=_b \r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAECAwQF\r\n"
	"--=_bb\r\n"
	"\r\n"
	"--=_b\r\n"
	"\r\n"
	"--=_b--\r\n"
	"epilogue\r\n";

/*
 * ll_mime_parts on every prefix of the body: an error, or (only once
 * the close delimiter has been seen) exactly the parts of the whole.
 */
static void test_parts_every_prefix(void **state)
{
	struct ll_entity e;
	struct ll_ctype ct;
	struct ll_slice full[8], parts[8];
	size_t nfull = 0, ok = 0, len = sizeof(good_multipart) - 1;
	size_t body_off;
	const char *close_at;

	(void)state;
	assert_int_equal(ll_mime_split(&e, good_multipart, len, NULL), 0);
	assert_int_equal(ll_mime_ctype(&ct, &e.hdr, NULL), 0);
	assert_string_equal(ct.boundary, "=_b");
	assert_int_equal(ll_mime_parts(full, 8, &nfull, &e.body, ct.boundary,
				       NULL),
			 0);
	assert_int_equal(nfull, 3);
	assert_slice(&full[0], "Content-Type: text/plain\r\n\r\nfirst");
	assert_slice(&full[1], "Content-Type: application/octet-stream\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\n"
			       "AAECAwQF\r\n--=_bb\r\n");
	assert_slice(&full[2], "");
	body_off = (size_t)(e.body.p - good_multipart);
	close_at = strstr(e.body.p, "--=_b--");
	assert_non_null(close_at);
	for (size_t l = 0; l <= e.body.len; l++) {
		char *p = exact(e.body.p, l);
		struct ll_slice b = { p, l };
		size_t n = 99;
		int rc = ll_mime_parts(parts, 8, &n, &b, ct.boundary, NULL);

		if (rc == 0) {
			/* only with the whole close delimiter */
			assert_true(p + l >= p + (close_at - e.body.p) + 7);
			assert_int_equal(n, nfull);
			for (size_t i = 0; i < n; i++) {
				assert_int_equal(parts[i].p - p,
						 full[i].p - e.body.p);
				assert_int_equal(parts[i].len, full[i].len);
			}
			ok++;
		} else {
			assert_int_equal(rc, LL_EPARSE);
		}
		free(p);
	}
	/* "--=_b--", "--=_b--\r", ... to the end */
	assert_int_equal(ok, len - body_off - (size_t)(close_at - e.body.p) - 6);
}

/*
 * ll_mime_split on every truncation of the message: never a read past
 * the end; the header it finds is a prefix of the real one, and once
 * the blank line is in, it is the real one.
 */
static void test_split_every_prefix(void **state)
{
	struct ll_entity full;
	size_t len = sizeof(good_multipart) - 1, hdr_off, body_off;

	(void)state;
	assert_int_equal(ll_mime_split(&full, good_multipart, len, NULL), 0);
	hdr_off = (size_t)(full.hdr.p - good_multipart);
	body_off = (size_t)(full.body.p - good_multipart);
	for (size_t l = 0; l <= len; l++) {
		char *p = exact(good_multipart, l);
		struct ll_entity e;
		int rc = ll_mime_split(&e, p, l, NULL);

		if (l <= hdr_off) {
			/* the mbox line or less: no header field yet */
			assert_int_equal(rc, LL_EPARSE);
		} else if (l < body_off) {
			/* a header that ends early: all header, no body.
			 * (A cut inside "\r\n" leaves a field ending in
			 * "\r"; a cut after the first "From" of a field
			 * name leaves a line without ':'.) */
			if (rc == 0) {
				assert_ptr_equal(e.hdr.p, p + hdr_off);
				assert_int_equal(e.hdr.len, l - hdr_off);
				assert_int_equal(e.body.len, 0);
				assert_memory_equal(e.hdr.p, full.hdr.p,
						    e.hdr.len);
			} else {
				assert_int_equal(rc, LL_EPARSE);
			}
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(e.hdr.len, full.hdr.len);
			assert_ptr_equal(e.body.p, p + body_off);
			assert_int_equal(e.body.len, l - body_off);
		}
		free(p);
	}
}

/* A LF without a CR before it: first, last, after a lone CR, after
 * thousands of CRLF lines; and the same text cut just before it. */
static void test_bare_lf(void **state)
{
	static const struct {
		const char *s;
		int want;
	} cases[] = {
		{ "", 0 },	 { "a", 0 },	  { "\n", 1 },
		{ "\r\n", 0 },	 { "\r", 0 },	  { "a\r\nb\n", 1 },
		{ "\n\r\n", 1 }, { "\r\r\n", 0 }, { "a\r\n\r\n", 0 },
		{ "\r\n\n", 1 }, { "a\rb\n", 1 },
	};
	size_t n = 4000 * 78;
	char *big = malloc(n);

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(cases); i++)
		assert_int_equal(ll_has_bare_lf(cases[i].s, strlen(cases[i].s)),
				 cases[i].want);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : 'x';
	assert_false(ll_has_bare_lf(big, n));
	/* one CR gone, near the end, then the very last */
	big[n - 78 * 3 - 2] = 'x';
	assert_true(ll_has_bare_lf(big, n));
	assert_false(ll_has_bare_lf(big, n - 78 * 3 - 1 - 1));
	big[n - 78 * 3 - 2] = '\r';
	big[n - 2] = 'x';
	assert_true(ll_has_bare_lf(big, n));
	assert_false(ll_has_bare_lf(big, n - 1));
	free(big);
}

/* The first bare LF, an octet at a time: the reference. */
static size_t bare_lf_ref(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return i;
	return n;
}

/* P with every bare LF made CRLF, an octet at a time. */
static void crlf_ref(struct ll_buf *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			assert_int_equal(ll_buf_add(out, "\r", 1), 0);
		assert_int_equal(ll_buf_add(out, p + i, 1), 0);
	}
}

static void check_bare_lf(const char *p, size_t n)
{
	size_t want = bare_lf_ref(p, n);
	struct ll_buf got = { 0 }, ref = { 0 };
	BIO *b = ll_bio_buf_new(&got);

	assert_int_equal(ll_bare_lf(p, n), want);
	assert_int_equal(ll_bare_lf_scalar(p, n), want);
	assert_non_null(b);
	assert_int_equal(ll_bio_put_crlf(b, p, n), 0);
	crlf_ref(&ref, p, n);
	assert_int_equal(got.len, ref.len);
	if (ref.len > 0)
		assert_memory_equal(got.p, ref.p, ref.len);
	BIO_free(b);
	ll_buf_free(&got);
	ll_buf_free(&ref);
}

/* The vector scan (32 octets and the one before each) and the memchr
 * one against the reference: CRLF lines with one LF made bare or one
 * CR taken out at every position, and random texts of CR, LF and x of
 * every length to 300; ll_bio_put_crlf on each. */
static void test_bare_lf_scans(void **state)
{
	static const char pool[] = "xxxxxxxx\r\n\r\n\n\r";
	char text[300];
	uint32_t r = 0x9e3779b9u;

	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : 'x';
	check_bare_lf(text, sizeof(text));
	for (size_t pos = 0; pos < sizeof(text); pos++) {
		char c = text[pos];

		text[pos] = c == '\r' ? 'x' : '\n';
		for (size_t n = pos; n <= sizeof(text); n += 37)
			check_bare_lf(text, n);
		check_bare_lf(text + 1, sizeof(text) - 1);
		text[pos] = c;
	}
	for (size_t round = 0; round < 3000; round++) {
		size_t n = round % (sizeof(text) + 1);

		for (size_t i = 0; i < n; i++) {
			r ^= r << 13;
			r ^= r >> 17;
			r ^= r << 5;
			text[i] = pool[r % (sizeof(pool) - 1)];
		}
		check_bare_lf(text, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_crlf),
		cmocka_unit_test(test_split_lf),
		cmocka_unit_test(test_split_mbox_from),
		cmocka_unit_test(test_split_no_body),
		cmocka_unit_test(test_split_continuation),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_split_header_limit),
		cmocka_unit_test(test_split_message_limit),
		cmocka_unit_test(test_parts_preamble_epilogue),
		cmocka_unit_test(test_parts_trailing_whitespace),
		cmocka_unit_test(test_parts_missing_close),
		cmocka_unit_test(test_parts_boundary_prefix),
		cmocka_unit_test(test_parts_crlf_before_delimiter),
		cmocka_unit_test(test_parts_limits),
		cmocka_unit_test(test_ctype),
		cmocka_unit_test(test_ctype_again),
		cmocka_unit_test(test_decode_body),
		cmocka_unit_test(test_parts_every_prefix),
		cmocka_unit_test(test_split_every_prefix),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_bare_lf_scans),
	};

	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
