/*
 * bench_b64.c - base64 and the bare-LF scan of 1 MiB, per code path, in
 * MB of base64 text (or of scanned text) per CPU second.
 *
 *   bench_b64 [MIN_SECONDS]    (default 0.5 per case; best of 3 rounds)
 *
 * The text is what a sealed 1 MiB message carries: random octets
 * encoded in 76-character CRLF lines.  Pin it to one core (taskset) as
 * bench/run does for bench_msg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define SIZE (1u << 20)

enum job {
	DECODE,
	ENCODE,
	SCAN
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int once(enum job job, enum ll_b64_path path, const unsigned char *raw,
		const struct ll_buf *text, unsigned char *out)
{
	struct ll_buf enc = { 0 };
	size_t n = 0;
	int rc = 0;

	switch (job) {
	case DECODE:
		rc = ll_b64_decode_into_path(path, out, &n, text->p, text->len);
		break;
	case ENCODE:
		rc = ll_b64_encode_path(path, &enc, raw, SIZE);
		ll_buf_free(&enc);
		break;
	case SCAN:
		n = path == LL_B64_PATH_SCALAR ?
			    ll_bare_lf_scalar(text->p, text->len) :
			    ll_bare_lf(text->p, text->len);
		rc = n == text->len ? 0 : -1;
		break;
	}
	return rc;
}

/* MB of text per CPU second, best of 3 rounds of at least MIN s. */
static double rate(enum job job, enum ll_b64_path path, double min,
		   const unsigned char *raw, const struct ll_buf *text,
		   unsigned char *out)
{
	double best = 0;

	for (int round = 0; round < 3; round++) {
		double t0 = cpu_now(), t;
		long iters = 0;

		do {
			if (once(job, path, raw, text, out) < 0) {
				fprintf(stderr, "bench_b64: failed\n");
				exit(1);
			}
			iters++;
			t = cpu_now() - t0;
		} while (t < min && iters < 1000000);
		if ((double)text->len * (double)iters / t / 1e6 > best)
			best = (double)text->len * (double)iters / t / 1e6;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const char *const jobs[] = { "decode", "encode", "bare-lf" };
	double min = argc > 1 ? atof(argv[1]) : 0.5;
	unsigned char *raw = malloc(SIZE), *out = malloc(SIZE + 3);
	struct ll_buf text = { 0 };
	uint32_t x = 0x2545f491u;

	if (raw == NULL || out == NULL || min <= 0 || min > 60)
		return 1;
	for (size_t i = 0; i < SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		raw[i] = (unsigned char)x;
	}
	if (ll_b64_encode(&text, raw, SIZE) < 0)
		return 1;
	printf("# job\tpath\tMB_text_per_cpu_s\n");
	for (int job = DECODE; job <= SCAN; job++) {
		printf("%s\tscalar\t%.0f\n", jobs[job],
		       rate(job, LL_B64_PATH_SCALAR, min, raw, &text, out));
		if (ll_b64_path_available(LL_B64_PATH_AVX2))
			printf("%s\tavx2\t%.0f\n", jobs[job],
			       rate(job, LL_B64_PATH_AVX2, min, raw, &text,
				    out));
	}
	ll_buf_free(&text);
	free(raw);
	free(out);
	return 0;
}
