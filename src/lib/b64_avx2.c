/*
 * b64_avx2.c - the AVX2 halves of b64.c: 76-character lines encoded 24
 * bytes at a time, and runs of alphabet characters decoded 32 at a time.
 *
 * The method is Muła and Lemire's ("Faster Base64 Encoding and Decoding
 * using AVX2 Instructions", ACM TOW 2018): a character's class and value
 * come from look-ups on its high and low nibbles (pshufb), and the 6-bit
 * values are packed by two multiply-adds.  Only what the scalar decoder
 * treats the same way is done here: a block with anything but the 64
 * alphabet characters in it (a line end, padding, junk) stops the run
 * at the last whole quad before it, and b64.c's scalar code takes over
 * from there, so what is accepted or refused does not depend on the
 * path.  Each function carries its own target attribute: the rest of
 * the build stays baseline x86-64, and b64.c calls in here only once
 * the CPU has said it has AVX2.
 */
#include <stdint.h>
#include <string.h>

#include "b64_simd.h"

#ifdef LL_B64_HAVE_AVX2

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

/*
 * 6-bit values to characters.  value - 51 (saturating) sorts a value
 * into 0 (26..51, 'a'..'z'), 1..10 (digits), 11 ('+'), 12 ('/'); values
 * below 26 are then marked 13.  The class indexes the offset that turns
 * the value into its character.
 */
AVX2 static __m256i enc_translate(__m256i v)
{
	const __m256i offset = _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4,
						-4, -4, -4, -19, -16, 65, 0, 0,
						71, -4, -4, -4, -4, -4, -4, -4,
						-4, -4, -4, -19, -16, 65, 0, 0);
	__m256i cls = _mm256_subs_epu8(v, _mm256_set1_epi8(51));
	__m256i upper = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), v);

	cls = _mm256_or_si256(cls,
			      _mm256_and_si256(upper, _mm256_set1_epi8(13)));
	return _mm256_add_epi8(v, _mm256_shuffle_epi8(offset, cls));
}

/*
 * Each 32-bit word holds a group's three bytes as [b1 b0 b2 b1] (the
 * shuffle before this puts them so): its low 16 bits are b0:b1, which
 * hold the first and second 6-bit values and 4 bits of the third, its
 * high 16 bits b1:b2, the rest.  Two masked 16-bit multiplies move
 * each value to the bottom of its own byte.
 */
AVX2 static __m256i enc_unpack(__m256i w)
{
	/* values 1 and 3: shifted down by 10 and 6 (high half of * 2^6,
	 * * 2^10) */
	__m256i ac = _mm256_mulhi_epu16(
		_mm256_and_si256(w, _mm256_set1_epi32(0x0fc0fc00)),
		_mm256_set1_epi32(0x04000040));
	/* values 2 and 4: shifted up into the odd bytes (* 2^4, * 2^8) */
	__m256i bd = _mm256_mullo_epi16(
		_mm256_and_si256(w, _mm256_set1_epi32(0x003f03f0)),
		_mm256_set1_epi32(0x01000010));

	return _mm256_or_si256(ac, bd);
}

/* 12 bytes of each lane, starting at byte 0 (SPLIT) or byte 4
 * (SPLIT_HI), spread over four words as [b1 b0 b2 b1]. */
#define SPLIT_GROUPS(o)                                                \
	(o) + 1, (o) + 0, (o) + 2, (o) + 1, (o) + 4, (o) + 3, (o) + 5, \
		(o) + 4, (o) + 7, (o) + 6, (o) + 8, (o) + 7, (o) + 10, \
		(o) + 9, (o) + 11, (o) + 10

AVX2 static __m256i enc_block(__m256i bytes, __m256i split)
{
	return enc_translate(enc_unpack(_mm256_shuffle_epi8(bytes, split)));
}

/*
 * A line is 57 bytes: bytes 0..23 give characters 0..31, bytes 24..47
 * characters 32..63, and the last 12 characters come from bytes 45..56,
 * loaded from byte 41 so that no load reaches past the line; characters
 * 60..63 are written twice, the same both times.
 */
AVX2 void ll_b64_enc_lines_avx2(char *o, const unsigned char *in, size_t lines)
{
	const __m256i split =
		_mm256_setr_epi8(SPLIT_GROUPS(0), SPLIT_GROUPS(0));
	const __m256i split_hi =
		_mm256_setr_epi8(SPLIT_GROUPS(4), SPLIT_GROUPS(4));

	for (size_t l = 0; l < lines; l++) {
		__m256i a = _mm256_loadu2_m128i((const __m128i *)(in + 12),
						(const __m128i *)in);
		__m256i b = _mm256_loadu2_m128i((const __m128i *)(in + 36),
						(const __m128i *)(in + 24));
		__m256i c = _mm256_castsi128_si256(
			_mm_loadu_si128((const __m128i *)(in + 41)));

		_mm256_storeu_si256((__m256i *)o, enc_block(a, split));
		_mm256_storeu_si256((__m256i *)(o + 32), enc_block(b, split));
		_mm_storeu_si128(
			(__m128i *)(o + 60),
			_mm256_castsi256_si128(enc_block(c, split_hi)));
		o[76] = '\r';
		o[77] = '\n';
		o += LL_B64_LINE_OUT;
		in += LL_B64_LINE_IN;
	}
}

/*
 * Characters to 6-bit values, with the check.  The high nibble of an
 * alphabet character is 2..7; each of those has a class bit (2: 0x01,
 * 3: 0x02, 4 and 6: 0x04, 5 and 7: 0x08), every other high nibble 0x10.
 * The low-nibble table holds, for each low nibble, the classes in which
 * it is NOT a character of the alphabet ('0', 'P', 'p' but not ' ', '@',
 * '`' for 0; '+' but not ';', '[', '{' for 0xb; and so on), 0x10
 * always: a character is valid exactly when the two look-ups share no
 * bit.  The value is the character plus an offset chosen by its high
 * nibble, '/' (0x2f) moved to a slot of its own.
 */
AVX2 static __m256i dec_block(__m256i s, uint32_t *bad)
{
	const __m256i lo_tab = _mm256_setr_epi8(
		0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
		0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a, 0x15, 0x11, 0x11, 0x11,
		0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b,
		0x1b, 0x1a);
	const __m256i hi_tab = _mm256_setr_epi8(
		0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
		0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02,
		0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
		0x10, 0x10);
	/* '/' (slot 1), '+', digits, 'A'..'Z' (4, 5), 'a'..'z' (6, 7) */
	const __m256i shift_tab = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71,
						   -71, 0, 0, 0, 0, 0, 0, 0, 0,
						   0, 16, 19, 4, -65, -65, -71,
						   -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m256i nib = _mm256_set1_epi8(0x0f);
	const __m256i slash = _mm256_set1_epi8(0x2f);
	/* pshufb zeroes a lane whose index has bit 7 set: mask it off */
	__m256i hi = _mm256_and_si256(_mm256_srli_epi32(s, 4), nib);
	__m256i lo = _mm256_and_si256(s, nib);
	__m256i cls = _mm256_and_si256(_mm256_shuffle_epi8(lo_tab, lo),
				       _mm256_shuffle_epi8(hi_tab, hi));
	__m256i slot = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(s, slash));

	*bad = ~(uint32_t)_mm256_movemask_epi8(
		_mm256_cmpeq_epi8(cls, _mm256_setzero_si256()));
	return _mm256_add_epi8(s, _mm256_shuffle_epi8(shift_tab, slot));
}

/*
 * Four 6-bit values a b c d (one per byte of a word) into 24 bits:
 * a * 2^6 + b and c * 2^6 + d, then those two * 2^12 + the other, and
 * the three bytes of each word taken high first; 12 bytes per lane,
 * the two lanes' 12 brought together.
 */
AVX2 static void dec_pack_store(unsigned char *o, __m256i v)
{
	const __m256i bytes = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14,
					       13, 12, -1, -1, -1, -1, 2, 1, 0,
					       6, 5, 4, 10, 9, 8, 14, 13, 12,
					       -1, -1, -1, -1);
	__m256i w = _mm256_madd_epi16(
		_mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140)),
		_mm256_set1_epi32(0x00011000));

	w = _mm256_shuffle_epi8(w, bytes);
	w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 1, 2, 4, 5, 6,
							     7, 7));
	/* exactly 24 bytes: never past what the caller has room for */
	_mm_storeu_si128((__m128i *)o, _mm256_castsi256_si128(w));
	_mm_storel_epi64((__m128i *)(o + 16), _mm256_extracti128_si256(w, 1));
}

/* The length of the line end at S (N long): CRLF or LF, else 0. */
static size_t line_end(const unsigned char *s, size_t n)
{
	if (n >= 1 && s[0] == '\n')
		return 1;
	if (n >= 2 && s[0] == '\r' && s[1] == '\n')
		return 2;
	return 0;
}

AVX2 size_t ll_b64_dec_run_avx2(unsigned char *o, size_t *outlen,
				const unsigned char *s, size_t n)
{
	size_t i = 0, j = 0;

	while (n - i >= 32) {
		uint32_t bad;
		__m256i v = dec_block(
			_mm256_loadu_si256((const __m256i *)(s + i)), &bad);
		size_t good = bad != 0 ? (size_t)__builtin_ctz(bad) : 32;
		size_t eol;

		dec_pack_store(o + j, v);
		j += good / 4 * 3;
		i += good / 4 * 4;
		if (good == 32)
			continue;
		/* a line end between quads is skipped, as the scalar code
		 * skips it; anything else is the scalar code's */
		eol = good % 4 == 0 ? line_end(s + i, n - i) : 0;
		if (eol == 0)
			break;
		i += eol;
	}
	*outlen = j;
	return i;
}

#endif /* LL_B64_HAVE_AVX2 */
