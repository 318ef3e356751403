/*
 * test_b64.c - src/lib/b64.c: RFC 4648 vectors, the strict decoder
 * (whitespace, bad characters, bad padding), the encoder's 76-character
 * CRLF lines, round trips of every length 0..1000, the streaming filter
 * BIO, and OpenSSL's own encoder as an independent reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "internal.h"

static const struct {
	const char *plain, *b64;
} rfc4648[] = {
	{ "", "" },	    { "f", "Zg==" },	     { "fo", "Zm8=" },
	{ "foo", "Zm9v" },  { "foob", "Zm9vYg==" },  { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

/* ll_b64_decode allocates exactly the documented n / 4 * 3 + 3 bytes,
 * so ASan sees any write past them. */
static int decode(const char *s, unsigned char **out, size_t *outlen)
{
	return ll_b64_decode(out, outlen, s, strlen(s));
}

static void assert_decodes_to(const char *s, const char *want)
{
	unsigned char *out = NULL;
	size_t n = 12345;

	assert_int_equal(decode(s, &out, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(out);
}

static void assert_rejected(const char *s)
{
	unsigned char *out = NULL;
	size_t n = 0;

	if (decode(s, &out, &n) == 0) {
		free(out);
		fail_msg("\"%s\" was accepted (%zu bytes)", s, n);
	}
}

static void test_rfc4648_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(rfc4648); i++)
		assert_decodes_to(rfc4648[i].b64, rfc4648[i].plain);
}

static void test_rfc4648_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(rfc4648); i++) {
		struct ll_buf b = { 0 };
		const char *p = rfc4648[i].plain;
		char want[32];

		/* one line, CRLF-terminated; nothing at all for no input */
		snprintf(want, sizeof(want), "%s%s", rfc4648[i].b64,
			 *p ? "\r\n" : "");
		assert_int_equal(ll_b64_encode(&b, (const unsigned char *)p,
					       strlen(p)),
				 0);
		assert_int_equal(b.len, strlen(want));
		assert_int_equal(b.len, ll_b64_encoded_len(strlen(p)));
		assert_memory_equal(b.p, want, b.len);
		assert_int_equal(b.p[b.len], '\0');
		ll_buf_free(&b);
	}
}

static void test_whitespace_ignored(void **state)
{
	(void)state;
	assert_decodes_to("Zm9v\r\nYmFy\r\n", "foobar");
	assert_decodes_to("Zm9v\nYmFy\n", "foobar");
	assert_decodes_to(" Z m 9 v Y m F y ", "foobar");
	assert_decodes_to("\tZm9v\fYm\vFy\r\n\r\n", "foobar");
	assert_decodes_to("Zg=\r\n=", "f");
	assert_decodes_to(" \r\n\t", "");
}

static void test_bad_chars(void **state)
{
	(void)state;
	assert_rejected("Zm9v!mFy");
	assert_rejected("Zm9v-_Fy");	/* base64url is not base64 */
	assert_rejected("Zm9vYmFy.");
	assert_rejected("Zm9v\xc3\xa4");
	{
		/* an embedded NUL byte (passed with its length) */
		static const char nul[] = "Zm9v\0YmFy";
		unsigned char *out = NULL;
		size_t n;

		assert_int_not_equal(
			ll_b64_decode(&out, &n, nul, sizeof(nul) - 1), 0);
	}
}

static void test_bad_padding(void **state)
{
	(void)state;
	assert_rejected("Z");		/* one character of a group */
	assert_rejected("Zm9vY");
	assert_rejected("Zg=");		/* padding present but short */
	assert_rejected("Zg===");	/* too much padding */
	assert_rejected("Zm8==");
	assert_rejected("Z===");
	assert_rejected("=");
	assert_rejected("====");
	assert_rejected("Zg==Zg==");	/* data after the padding */
	assert_rejected("Zg==Z");
	assert_rejected("Zm=9v");
	/* padding is optional, but when present exact */
	assert_decodes_to("Zg", "f");
	assert_decodes_to("Zm8", "fo");
}

/* Deterministic bytes: a fixed-seed xorshift, so failures reproduce. */
static uint32_t rnd_state = 0x12345678u;

static uint32_t rnd(void)
{
	uint32_t x = rnd_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rnd_state = x;
}

static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

static void assert_lines(const struct ll_buf *b)
{
	size_t i = 0;

	while (i < b->len) {
		const char *nl = memchr(b->p + i, '\n', b->len - i);
		size_t line;

		assert_non_null(nl);
		line = (size_t)(nl - (b->p + i)) + 1; /* with its CRLF */
		assert_true(line >= 6);
		assert_int_equal(nl[-1], '\r');
		if ((size_t)(nl - b->p) + 1 < b->len)
			assert_int_equal(line, 78); /* 76 + CRLF */
		else
			assert_true(line <= 78);
		assert_null(memchr(b->p + i, '\r', line - 2));
		i += line;
	}
}

static void test_encode_lines(void **state)
{
	/* 57 bytes make one full line: check around the edges */
	static const size_t sizes[] = { 1, 56, 57, 58, 113, 114, 115, 171,
					1000, 4096 };

	(void)state;
	for (size_t k = 0; k < LL_ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k];
		unsigned char *in = malloc(n);
		struct ll_buf b = { 0 };

		assert_non_null(in);
		fill(in, n);
		assert_int_equal(ll_b64_encode(&b, in, n), 0);
		assert_int_equal(b.len, ll_b64_encoded_len(n));
		assert_int_equal(b.len, (n + 2) / 3 * 4 + (n + 56) / 57 * 2);
		assert_lines(&b);
		ll_buf_free(&b);
		free(in);
	}
	/* the exact bytes of a two-line encoding */
	{
		unsigned char in[60];
		struct ll_buf b = { 0 };

		memset(in, 0, sizeof(in));
		assert_int_equal(ll_b64_encode(&b, in, sizeof(in)), 0);
		assert_int_equal(b.len, 76 + 2 + 4 + 2);
		for (size_t i = 0; i < 76; i++)
			assert_int_equal(b.p[i], 'A');
		assert_memory_equal(b.p + 76, "\r\nAAAA\r\n", 8);
		ll_buf_free(&b);
	}
}

/* Our encoder with the line ends taken out equals OpenSSL's. */
static void test_matches_openssl(void **state)
{
	(void)state;
	for (size_t n = 0; n <= 300; n++) {
		unsigned char in[300], ref[404];
		struct ll_buf b = { 0 };
		char *flat;
		size_t k = 0;
		int rn;

		fill(in, n);
		rn = EVP_EncodeBlock(ref, in, (int)n);
		assert_int_equal(ll_b64_encode(&b, in, n), 0);
		flat = malloc(b.len + 1);
		assert_non_null(flat);
		for (size_t i = 0; i < b.len; i++)
			if (b.p[i] != '\r' && b.p[i] != '\n')
				flat[k++] = b.p[i];
		assert_int_equal(k, (size_t)rn);
		assert_memory_equal(flat, ref, k);
		free(flat);
		ll_buf_free(&b);
	}
}

static void test_roundtrip_0_1000(void **state)
{
	unsigned char in[1000];

	(void)state;
	for (size_t n = 0; n <= 1000; n++) {
		struct ll_buf b = { 0 };
		unsigned char *out = NULL, *exact;
		size_t outlen = 99999, n2 = 99999;

		fill(in, n);
		assert_int_equal(ll_b64_encode(&b, in, n), 0);
		assert_int_equal(b.len, ll_b64_encoded_len(n));
		assert_int_equal(ll_b64_decode(&out, &outlen, b.p, b.len), 0);
		assert_int_equal(outlen, n);
		if (n > 0)
			assert_memory_equal(out, in, n);
		free(out);
		/* decode_into: a buffer of exactly the documented room */
		exact = malloc(b.len / 4 * 3 + 3);
		assert_non_null(exact);
		assert_int_equal(ll_b64_decode_into(exact, &n2, b.p, b.len), 0);
		assert_int_equal(n2, n);
		if (n > 0)
			assert_memory_equal(exact, in, n);
		free(exact);
		ll_buf_free(&b);
	}
}

static int collect(void *arg, const char *p, size_t n)
{
	return ll_buf_add(arg, p, n);
}

/* IN written to B (and flushed) CHUNK octets at a time. */
static void write_chunks(BIO *b, const unsigned char *in, size_t n,
			 size_t chunk)
{
	for (size_t i = 0; i < n; i += chunk) {
		int c = (int)(n - i < chunk ? n - i : chunk);

		assert_int_equal(BIO_write(b, in + i, c), c);
	}
	assert_int_equal(BIO_flush(b), 1);
}

/* The filter BIO, fed in chunks of every size 1..130 and in big ones
 * (around its batch of 64 lines, 3648 octets), writes exactly what
 * ll_b64_encode writes; so does the one that appends to a buffer, after
 * what the buffer held. */
static void test_bio_matches_encode(void **state)
{
	static unsigned char in[12000];
	static const size_t big[] = { 3647, 3648, 3649, 3648 + 57, 7296, 11999 };

	(void)state;
	fill(in, sizeof(in));
	for (size_t k = 1; k <= 130 + LL_ARRAY_SIZE(big); k++) {
		size_t chunk = k <= 130 ? k : big[k - 131];

		for (size_t n = 0; n <= sizeof(in);
		     n += k <= 130 ? 2333 : 997) {
			struct ll_buf want = { 0 }, got = { 0 }, app = { 0 };
			BIO *sink = ll_bio_sink_new(collect, &got);
			BIO *b64 = ll_bio_b64_new(), *b64buf;

			assert_non_null(sink);
			assert_non_null(b64);
			BIO_push(b64, sink);
			write_chunks(b64, in, n, chunk);
			assert_int_equal(ll_b64_encode(&want, in, n), 0);
			assert_int_equal(got.len, want.len);
			if (want.len > 0)
				assert_memory_equal(got.p, want.p, want.len);
			BIO_free_all(b64);

			assert_int_equal(ll_buf_adds(&app, "head\r\n"), 0);
			b64buf = ll_bio_b64_buf_new(&app);
			assert_non_null(b64buf);
			write_chunks(b64buf, in, n, chunk);
			BIO_free(b64buf);
			assert_int_equal(app.len, 6 + want.len);
			assert_memory_equal(app.p, "head\r\n", 6);
			if (want.len > 0)
				assert_memory_equal(app.p + 6, want.p,
						    want.len);
			assert_int_equal(app.p[app.len], '\0');
			ll_buf_free(&want);
			ll_buf_free(&got);
			ll_buf_free(&app);
		}
	}
}

/* ---- the vector path against the scalar one ---- */

/*
 * Decode IN with both paths, each into a buffer of exactly the
 * documented room (ASan sees a write past it), and insist on the same
 * verdict and, when accepted, the same bytes.  Returns the verdict.
 */
static int decode_both(const char *in, size_t n)
{
	unsigned char *a = malloc(n / 4 * 3 + 3), *v = malloc(n / 4 * 3 + 3);
	size_t alen = 0, vlen = 0;
	int ra, rv;

	assert_non_null(a);
	assert_non_null(v);
	ra = ll_b64_decode_into_path(LL_B64_PATH_SCALAR, a, &alen, in, n);
	rv = ll_b64_decode_into_path(LL_B64_PATH_AVX2, v, &vlen, in, n);
	if (ra != rv)
		fail_msg("scalar %d, AVX2 %d on %zu characters \"%.*s\"", ra,
			 rv, n, (int)n, in);
	if (ra == 0) {
		assert_int_equal(alen, vlen);
		if (alen > 0)
			assert_memory_equal(a, v, alen);
	}
	free(a);
	free(v);
	return ra;
}

static void need_avx2(void)
{
	if (!ll_b64_path_available(LL_B64_PATH_AVX2)) {
		print_message("no AVX2 on this CPU: one path only\n");
		skip();
	}
}

/* A base64 text: LEN bytes of random data, encoded in lines. */
static void encoded(struct ll_buf *b, size_t len)
{
	unsigned char *in = malloc(len + 1);

	assert_non_null(in);
	fill(in, len);
	assert_int_equal(ll_b64_encode_path(LL_B64_PATH_SCALAR, b, in, len),
			 0);
	free(in);
}

/* Every prefix of a real encoding: whole and partial quads, lines cut
 * anywhere, the padding of every length of the final group. */
static void test_paths_prefixes(void **state)
{
	struct ll_buf b = { 0 };

	(void)state;
	need_avx2();
	for (size_t len = 0; len <= 200; len++) {
		encoded(&b, len);
		for (size_t n = 0; n <= b.len; n++)
			decode_both(b.p, n);
		b.len = 0;
	}
	encoded(&b, 3000);
	for (size_t n = 0; n <= b.len; n++)
		decode_both(b.p, n);
	ll_buf_free(&b);
}

/* An unbroken run of 300 alphabet characters with CRLF, LF, CR, a space
 * or a tab put in at every position; and lines of every width. */
static void test_paths_line_breaks(void **state)
{
	static const char *const brk[] = { "\r\n", "\n", "\r", " ", "\t",
					   "\r\n\r\n", "\n\n" };
	struct ll_buf run = { 0 };
	char text[400];

	(void)state;
	need_avx2();
	encoded(&run, 400); /* 7 lines: the first 300 characters of it */
	for (size_t i = 0, k = 0; k < 300; i++)
		if (run.p[i] != '\r' && run.p[i] != '\n')
			text[k++] = run.p[i];
	for (size_t b = 0; b < LL_ARRAY_SIZE(brk); b++) {
		size_t bl = strlen(brk[b]);

		for (size_t pos = 0; pos <= 300; pos++) {
			char in[310];

			memcpy(in, text, pos);
			memcpy(in + pos, brk[b], bl);
			memcpy(in + pos + bl, text + pos, 300 - pos);
			assert_int_equal(decode_both(in, 300 + bl), 0);
		}
	}
	for (size_t width = 1; width <= 100; width++) {
		char in[900]; /* 300 characters, at most 300 CRLFs */
		size_t n = 0;

		for (size_t k = 0; k < 300; k++) {
			in[n++] = text[k];
			if ((k + 1) % width == 0) {
				in[n++] = '\r';
				in[n++] = '\n';
			}
		}
		assert_int_equal(decode_both(in, n), 0);
	}
	ll_buf_free(&run);
}

/* Every byte value at every position of 160 characters of lines (and
 * '=' and "==" at every position): each one is refused, stepped over
 * or accepted the same way by both paths. */
static void test_paths_bad_chars(void **state)
{
	struct ll_buf b = { 0 };
	char in[170];

	(void)state;
	need_avx2();
	encoded(&b, 117); /* two lines and a bit: 160 + 3 * 2 characters */
	assert_true(b.len <= sizeof(in));
	for (size_t pos = 0; pos < b.len; pos++) {
		for (int c = 0; c < 256; c++) {
			memcpy(in, b.p, b.len);
			in[pos] = (char)c;
			decode_both(in, b.len);
		}
		memcpy(in, b.p, b.len);
		if (pos + 1 < b.len) {
			in[pos] = in[pos + 1] = '=';
			decode_both(in, b.len);
		}
	}
	ll_buf_free(&b);
}

/* Random texts mostly of the alphabet, with padding, whitespace and now
 * and then junk, of every length up to 300. */
static void test_paths_random(void **state)
{
	static const char pool[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		"qrstuvwxyz0123456789+/";
	char in[300];

	(void)state;
	need_avx2();
	for (size_t round = 0; round < 20000; round++) {
		size_t n = rnd() % (sizeof(in) + 1);
		uint32_t odd = rnd() % 64; /* 1 in ODD is not alphabet */

		for (size_t i = 0; i < n; i++) {
			uint32_t r = rnd();

			if (odd != 0 && r % (odd * 8 + 1) == 0)
				in[i] = "=\r\n \t-_.\x80\xff\0:@[`{"[(r >> 8) % 16];
			else
				in[i] = pool[(r >> 8) % (sizeof(pool) - 1)];
		}
		decode_both(in, n);
	}
}

/* Encoding: every length 0..2000 and around the BIO's 64-line batch,
 * the same characters from both paths. */
static void test_paths_encode(void **state)
{
	static unsigned char in[8000];

	(void)state;
	need_avx2();
	fill(in, sizeof(in));
	for (size_t n = 0; n <= sizeof(in); n += n < 2000 ? 1 : 57 * 11 + 1) {
		struct ll_buf a = { 0 }, v = { 0 };

		assert_int_equal(
			ll_b64_encode_path(LL_B64_PATH_SCALAR, &a, in, n), 0);
		assert_int_equal(
			ll_b64_encode_path(LL_B64_PATH_AVX2, &v, in, n), 0);
		assert_int_equal(a.len, ll_b64_encoded_len(n));
		assert_int_equal(v.len, a.len);
		if (a.len > 0)
			assert_memory_equal(v.p, a.p, a.len + 1);
		ll_buf_free(&a);
		ll_buf_free(&v);
	}
	/* every 6-bit value in every place of a quad, in every lane */
	for (int x = 0; x < 64; x++) {
		struct ll_buf a = { 0 }, v = { 0 };
		unsigned char line[57];

		for (size_t i = 0; i < sizeof(line); i += 3) {
			unsigned q = (unsigned)(x + i) % 64 << 18 |
				     (unsigned)(x + 2 * i + 1) % 64 << 12 |
				     (unsigned)(x + 3 * i + 2) % 64 << 6 |
				     (unsigned)(x + 5 * i + 3) % 64;

			line[i] = (unsigned char)(q >> 16);
			line[i + 1] = (unsigned char)(q >> 8);
			line[i + 2] = (unsigned char)q;
		}
		assert_int_equal(ll_b64_encode_path(LL_B64_PATH_SCALAR, &a,
						    line, sizeof(line)),
				 0);
		assert_int_equal(ll_b64_encode_path(LL_B64_PATH_AVX2, &v,
						    line, sizeof(line)),
				 0);
		assert_int_equal(v.len, a.len);
		assert_memory_equal(v.p, a.p, a.len);
		ll_buf_free(&a);
		ll_buf_free(&v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_decode),
		cmocka_unit_test(test_rfc4648_encode),
		cmocka_unit_test(test_whitespace_ignored),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_bad_padding),
		cmocka_unit_test(test_encode_lines),
		cmocka_unit_test(test_matches_openssl),
		cmocka_unit_test(test_roundtrip_0_1000),
		cmocka_unit_test(test_bio_matches_encode),
		cmocka_unit_test(test_paths_prefixes),
		cmocka_unit_test(test_paths_line_breaks),
		cmocka_unit_test(test_paths_bad_chars),
		cmocka_unit_test(test_paths_random),
		cmocka_unit_test(test_paths_encode),
	};

	return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
