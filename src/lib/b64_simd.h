/*
 * b64_simd.h - between b64.c and its vector kernels (b64_avx2.c).
 */
#ifndef LL_B64_SIMD_H
#define LL_B64_SIMD_H

#include <stddef.h>

#define LL_B64_LINE_IN 57 /* bytes per 76-character line */
#define LL_B64_LINE_OUT 78 /* 76 characters and CRLF */

/* x86-64 with a compiler that takes per-function targets */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LL_B64_HAVE_AVX2 1

/*
 * LINES whole lines of IN (LL_B64_LINE_IN bytes each) into O, 76
 * characters and CRLF each (LL_B64_LINE_OUT).  AVX2 only.
 */
void ll_b64_enc_lines_avx2(char *o, const unsigned char *in, size_t lines);

/*
 * Decode the run of alphabet characters at the start of S (N long), in
 * blocks of 32, stepping over line ends (CRLF, LF) between quads: stops
 * at anything else, after the whole quads before it, or when fewer than
 * 32 are left.  Returns the characters consumed; the bytes decoded are
 * at O, *OUTLEN of them.  O must have room for N / 4 * 3 bytes (it may
 * be written up to there).  AVX2 only.
 */
size_t ll_b64_dec_run_avx2(unsigned char *o, size_t *outlen,
			   const unsigned char *s, size_t n);
#endif

#endif
