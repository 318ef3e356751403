/*
 * fuzz_b64.c - the base64 of src/lib/b64.c.
 *
 *  - ll_b64_decode on the input: no overrun; when it accepts, the
 *    output fits the documented bound and decodes the same again after
 *    re-encoding;
 *  - round trip: ll_b64_encode(input) is ll_b64_encoded_len long, in
 *    lines of at most 76 characters ending in CRLF, and decodes back to
 *    the input;
 *  - the streaming filter BIO, fed the input in chunks whose sizes come
 *    from the input, writes exactly what ll_b64_encode writes;
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

static void stream(const unsigned char *in, size_t n,
		   const struct ll_buf *want)
{
	struct ll_buf got = { 0 };
	BIO *sink = ll_bio_sink_new(collect, &got);
	BIO *b64 = ll_bio_b64_new();
	size_t i = 0, k = 0;

	CHECK(sink != NULL && b64 != NULL);
	BIO_push(b64, sink);
	while (i < n) {
		/* chunk sizes 1..256 taken from the data itself */
		size_t chunk = (size_t)in[k++ % n] + 1;

		if (chunk > n - i)
			chunk = n - i;
		CHECK(BIO_write(b64, in + i, (int)chunk) == (int)chunk);
		i += chunk;
	}
	CHECK(BIO_flush(b64) == 1);
	CHECK(got.len == want->len &&
	      (got.len == 0 || memcmp(got.p, want->p, got.len) == 0));
	BIO_free_all(b64);
	ll_buf_free(&got);
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
