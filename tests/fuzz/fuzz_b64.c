/*
 * fuzz_b64.c - the base64 of src/lib/b64.c.
 *
 *  - ll_b64_decode on the input: no overrun; when it accepts, the
 *    output fits the documented bound and decodes the same again after
 *    re-encoding;
 *  - round trip: ll_b64_encode(input) is ll_b64_encoded_len long, in
 *    lines of at most 76 characters ending in CRLF, and decodes back to
 *    the input;
 *  - the streaming filter BIOs (writing on, or appending to a buffer),
 *    fed the input in chunks whose sizes come from the input, write
 *    exactly what ll_b64_encode writes;
 *  - the scalar and the AVX2 paths (where the CPU has AVX2) agree:
 *    the same verdict and bytes decoding the input, the same characters
 *    encoding it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fuzz.h"



static void check_lines(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t line;

		CHECK(nl != NULL);
		line = (size_t)(nl - (p + i));
		CHECK(line >= 2 && line <= 77 && nl[-1] == '\r');
		/* only the last line may be short */
		if ((size_t)(nl - p) + 1 < len)
			CHECK(line == 77);
		for (size_t j = i; j < i + line - 1; j++)
			CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				     "qrstuvwxyz0123456789+/=",
				     p[j]) != NULL && p[j] != '\0');
		i = (size_t)(nl - p) + 1;
	}
}

/* Both paths into buffers of exactly the documented room. */
static void decode_paths(const char *in, size_t n)
{
	unsigned char *a = malloc(n / 4 * 3 + 3), *v = malloc(n / 4 * 3 + 3);
	size_t alen = 0, vlen = 0;
	int ra, rv;

	CHECK(a != NULL && v != NULL);
	ra = ll_b64_decode_into_path(LL_B64_PATH_SCALAR, a, &alen, in, n);
	rv = ll_b64_decode_into_path(LL_B64_PATH_AVX2, v, &vlen, in, n);
	CHECK(ra == rv);
	CHECK(ra != 0 || (alen == vlen && memcmp(a, v, alen) == 0));
	free(a);
	free(v);
}

static void encode_paths(const unsigned char *in, size_t n)
{
	struct ll_buf a = { 0 }, v = { 0 };

	CHECK(ll_b64_encode_path(LL_B64_PATH_SCALAR, &a, in, n) == 0);
	CHECK(ll_b64_encode_path(LL_B64_PATH_AVX2, &v, in, n) == 0);
	CHECK(a.len == v.len && (a.len == 0 || memcmp(a.p, v.p, a.len) == 0));
	ll_buf_free(&a);
	ll_buf_free(&v);
}

static void decode(const char *in, size_t n)
{
	unsigned char *out = NULL, *again = NULL;
	size_t outlen = 0, againlen = 0;
	struct ll_buf enc = { 0 };

	if (ll_b64_decode(&out, &outlen, in, n) != 0)
		return;
	CHECK(out != NULL);
	CHECK(outlen <= n / 4 * 3 + 3);
	CHECK(ll_b64_encode(&enc, out, outlen) == 0);
	CHECK(ll_b64_decode(&again, &againlen, enc.p ? enc.p : "",
			    enc.len) == 0);
	CHECK(againlen == outlen &&
	      (outlen == 0 || memcmp(again, out, outlen) == 0));
	free(again);
	free(out);
	ll_buf_free(&enc);
}

static void roundtrip(const unsigned char *in, size_t n, struct ll_buf *enc)
{
	unsigned char *out = NULL;
	size_t outlen = 0;

	CHECK(ll_b64_encode(enc, in, n) == 0);
	CHECK(enc->len == ll_b64_encoded_len(n));
	check_lines(enc->p, enc->len);
	CHECK(ll_b64_decode(&out, &outlen, enc->p ? enc->p : "", enc->len) ==
	      0);
	CHECK(outlen == n && (n == 0 || memcmp(out, in, n) == 0));
	free(out);
}

static int collect(void *arg, const char *p, size_t n)
{
	return ll_buf_add(arg, p, n);
}

/* IN written to B and flushed, in chunks of 1..256 octets whose sizes
 * are taken from the data itself (from its end when BACKWARDS). */
static void feed(BIO *b, const unsigned char *in, size_t n, int backwards)
{
	size_t i = 0, k = 0;

	while (i < n) {
		size_t at = backwards ? n - 1 - k % n : k % n;
		size_t chunk = (size_t)in[at] + 1;

		k++;
		if (chunk > n - i)
			chunk = n - i;
		CHECK(BIO_write(b, in + i, (int)chunk) == (int)chunk);
		i += chunk;
	}
	CHECK(BIO_flush(b) == 1);
}

static void same(const struct ll_buf *got, const struct ll_buf *want)
{
	CHECK(got->len == want->len &&
	      (got->len == 0 || memcmp(got->p, want->p, got->len) == 0));
}

static void stream(const unsigned char *in, size_t n,
		   const struct ll_buf *want)
{
	struct ll_buf got = { 0 }, app = { 0 };
	BIO *sink = ll_bio_sink_new(collect, &got);
	BIO *b64 = ll_bio_b64_new();
	BIO *b64buf = ll_bio_b64_buf_new(&app);

	CHECK(sink != NULL && b64 != NULL && b64buf != NULL);
	BIO_push(b64, sink);
	feed(b64, in, n, 0);
	same(&got, want);
	/* the BIO that appends to a buffer itself */
	feed(b64buf, in, n, 1);
	same(&app, want);
	BIO_free_all(b64);
	BIO_free(b64buf);
	ll_buf_free(&got);
	ll_buf_free(&app);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ll_buf enc = { 0 };

	decode((const char *)data, size);
	if (ll_b64_path_available(LL_B64_PATH_AVX2)) {
		decode_paths((const char *)data, size);
		encode_paths(data, size);
	}
	roundtrip(data, size, &enc);
	stream(data, size, &enc);
	ll_buf_free(&enc);
	return 0;
}
