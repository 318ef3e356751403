/*
 * bare_lf.c - where the next LF without a CR before it is: the one scan
 * behind ll_has_bare_lf (is a signed part stored with LF line ends?) and
 * ll_bio_put_crlf (the canonical form of a plaintext being sealed).
 *
 * Mail is mostly CRLF lines of 76 characters or less, so a memchr from
 * line end to line end pays a call per line; with AVX2, 32 octets are
 * compared at once against LF and, one octet behind, against CR.
 */
#include <string.h>

#include "internal.h"

size_t ll_bare_lf_scalar(const char *p, size_t n)
{
	const char *end = p + n, *q = p;

	while (q < end) {
		const char *lf = memchr(q, '\n', (size_t)(end - q));

		if (lf == NULL)
			return n;
		if (lf == p || lf[-1] != '\r')
			return (size_t)(lf - p);
		q = lf + 1;
	}
	return n;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* From octet 1 on, in blocks of 32 (each with the octet before it);
 * the first octet on its own (nothing before it: an LF there is bare). */
__attribute__((target("avx2"))) static size_t bare_lf_avx2(const char *p,
							   size_t n)
{
	const __m256i lf = _mm256_set1_epi8('\n');
	const __m256i cr = _mm256_set1_epi8('\r');
	size_t i = 1;

	if (n == 0 || p[0] == '\n')
		return 0;
	for (; n - i >= 32; i += 32) {
		__m256i here = _mm256_loadu_si256((const __m256i *)(p + i));
		__m256i before =
			_mm256_loadu_si256((const __m256i *)(p + i - 1));
		uint32_t lfs = (uint32_t)_mm256_movemask_epi8(
			_mm256_cmpeq_epi8(here, lf));
		uint32_t crs = (uint32_t)_mm256_movemask_epi8(
			_mm256_cmpeq_epi8(before, cr));
		uint32_t bare = lfs & ~crs;

		if (bare != 0)
			return i + (size_t)__builtin_ctz(bare);
	}
	/* the last short block, an octet at a time */
	for (; i < n; i++)
		if (p[i] == '\n' && p[i - 1] != '\r')
			return i;
	return n;
}

size_t ll_bare_lf(const char *p, size_t n)
{
	if (__builtin_cpu_supports("avx2"))
		return bare_lf_avx2(p, n);
	return ll_bare_lf_scalar(p, n);
}
#else
size_t ll_bare_lf(const char *p, size_t n)
{
	return ll_bare_lf_scalar(p, n);
}
#endif
