/*
 * b64.c - base64 for MIME bodies: CRLF every 76 characters on output,
 * a strict table decoder that skips whitespace on input, and a filter
 * BIO so that streamed CMS output is encoded as it is produced.
 *
 * Whole lines out and runs of alphabet characters in go through the
 * AVX2 kernels of b64_avx2.c when the CPU has AVX2 (looked up once);
 * everything else (the last line, line ends, padding, anything odd) is
 * the scalar code here, so both paths accept and refuse the same input.
 */
#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/bio.h>

#include "internal.h"
#include "b64_simd.h"

#define LINE_IN LL_B64_LINE_IN
#define LINE_OUT LL_B64_LINE_OUT
#define BATCH_LINES 64 /* lines the BIO encodes before one write on */

static const char enc_tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* two characters for each 12 bits: a 3-byte group in two look-ups */
static char pair_tab[4096][2];
/* 0..63 value, 64 whitespace, 65 '=', 255 invalid */
static unsigned char dec_tab[256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;
/* the value of a character pre-shifted for each place of a quad; the
 * top bit marks a character that is not in the alphabet */
static uint32_t quad_tab[4][256];

/* The parts of the work a vector unit takes over. */
struct b64_path {
	/* whole lines: LINE_IN bytes each to LINE_OUT characters each */
	void (*enc_lines)(char *o, const unsigned char *in, size_t lines);
	/* a run of alphabet characters and line ends between quads; as
	 * ll_b64_dec_run_avx2 */
	size_t (*dec_run)(unsigned char *o, size_t *outlen,
			  const unsigned char *s, size_t n);
};

static void enc_lines_scalar(char *o, const unsigned char *in, size_t lines);

/* nothing: the quad loop of ll_b64_decode_into_path does it all */
static size_t dec_run_scalar(unsigned char *o, size_t *outlen,
			     const unsigned char *s, size_t n)
{
	*outlen = 0;
	return 0;
}

static const struct b64_path scalar_path = { enc_lines_scalar,
					     dec_run_scalar };
#ifdef LL_B64_HAVE_AVX2
static const struct b64_path avx2_path = { ll_b64_enc_lines_avx2,
					   ll_b64_dec_run_avx2 };
#endif
/* the best this CPU has; set once, by tab_init */
static const struct b64_path *best_path = &scalar_path;

static bool have_avx2(void)
{
#ifdef LL_B64_HAVE_AVX2
	/* also checks that the kernel saves the YMM registers (XGETBV) */
	return __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

static void tab_init(void)
{
#ifdef LL_B64_HAVE_AVX2
	if (have_avx2())
		best_path = &avx2_path;
#endif
	for (int i = 0; i < 4096; i++) {
		pair_tab[i][0] = enc_tab[i >> 6];
		pair_tab[i][1] = enc_tab[i & 63];
	}
	memset(dec_tab, 255, sizeof(dec_tab));
	for (int i = 0; i < 64; i++)
		dec_tab[(unsigned char)enc_tab[i]] = (unsigned char)i;
	dec_tab[' '] = dec_tab['\t'] = dec_tab['\r'] = dec_tab['\n'] = 64;
	dec_tab['\f'] = dec_tab['\v'] = 64;
	dec_tab['='] = 65;
	for (int c = 0; c < 256; c++) {
		uint32_t v = dec_tab[c];

		for (int k = 0; k < 4; k++)
			quad_tab[k][c] = v < 64 ? v << (18 - 6 * k) :
						  UINT32_C(0x80000000);
	}
}

size_t ll_b64_encoded_len(size_t n)
{
	size_t chars = (n + 2) / 3 * 4;

	return chars + (chars + 75) / 76 * 2;
}

static void enc_line(char *o, const unsigned char *in, size_t n, size_t *used)
{
	size_t j = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		memcpy(o + j, pair_tab[v >> 12], 2);
		memcpy(o + j + 2, pair_tab[v & 0xfff], 2);
		j += 4;
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		o[j++] = enc_tab[v >> 18];
		o[j++] = enc_tab[(v >> 12) & 63];
		o[j++] = i + 1 < n ? enc_tab[(v >> 6) & 63] : '=';
		o[j++] = '=';
	}
	o[j++] = '\r';
	o[j++] = '\n';
	*used = j;
}

static void enc_lines_scalar(char *o, const unsigned char *in, size_t lines)
{
	size_t used;

	for (size_t l = 0; l < lines; l++)
		enc_line(o + l * LINE_OUT, in + l * LINE_IN, LINE_IN, &used);
}

static const struct b64_path *path_of(enum ll_b64_path path)
{
	pthread_once(&tab_once, tab_init);
	switch (path) {
	case LL_B64_PATH_BEST:
		return best_path;
	case LL_B64_PATH_SCALAR:
		return &scalar_path;
	case LL_B64_PATH_AVX2:
#ifdef LL_B64_HAVE_AVX2
		if (have_avx2())
			return &avx2_path;
#endif
		break;
	}
	assert(!"base64 path not available on this CPU");
	return &scalar_path;
}

int ll_b64_path_available(enum ll_b64_path path)
{
	return path != LL_B64_PATH_AVX2 || have_avx2();
}

int ll_b64_encode_path(enum ll_b64_path path, struct ll_buf *out,
		       const unsigned char *in, size_t n)
{
	const struct b64_path *p = path_of(path);
	size_t lines = n / LINE_IN, used = 0;
	int rc = ll_buf_reserve(out, ll_b64_encoded_len(n));

	if (rc < 0)
		return rc;
	p->enc_lines(out->p + out->len, in, lines);
	out->len += lines * LINE_OUT;
	if (n % LINE_IN != 0)
		enc_line(out->p + out->len, in + lines * LINE_IN, n % LINE_IN,
			 &used);
	out->len += used;
	out->p[out->len] = '\0';
	return 0;
}

int ll_b64_encode(struct ll_buf *out, const unsigned char *in, size_t n)
{
	return ll_b64_encode_path(LL_B64_PATH_BEST, out, in, n);
}

/* The careful path: one character at a time, from *k/acc state. */
static int dec_slow(unsigned char *o, size_t *j, const char *in, size_t n,
		    size_t *k, uint32_t *acc, size_t *pad)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = dec_tab[(unsigned char)in[i]];

		if (c == 64)
			continue;
		if (c == 255)
			return -1;
		if (c == 65) {
			(*pad)++;
			continue;
		}
		if (*pad > 0)
			return -1; /* data after '=' */
		*acc = *acc << 6 | c;
		if (++*k == 4) {
			o[(*j)++] = (unsigned char)(*acc >> 16);
			o[(*j)++] = (unsigned char)(*acc >> 8);
			o[(*j)++] = (unsigned char)*acc;
			*acc = 0;
			*k = 0;
		}
	}
	return 0;
}

int ll_b64_decode_into_path(enum ll_b64_path path, unsigned char *o,
			    size_t *outlen, const char *in, size_t n)
{
	const struct b64_path *p = path_of(path);
	const unsigned char *s = (const unsigned char *)in;
	uint32_t acc = 0;
	size_t k = 0, j = 0, pad = 0, i = 0;

	/*
	 * The fast path: between quads, the vector run (32 characters at a
	 * time and the line ends between them, if the CPU has a vector
	 * unit), then whole quads of alphabet
	 * characters checked four at a time (a line of 76 is 19 of them);
	 * anything else (line ends, padding, junk) goes through dec_slow
	 * one character.  O + J has room for (N - I) / 4 * 3 bytes here:
	 * J is at most 3/4 of the characters before I.
	 */
	while (i < n) {
		if (k == 0 && pad == 0) {
			size_t out = 0;

			i += p->dec_run(o + j, &out, s + i, n - i);
			j += out;
			while (n - i >= 4) {
				uint32_t a = quad_tab[0][s[i]] |
					     quad_tab[1][s[i + 1]] |
					     quad_tab[2][s[i + 2]] |
					     quad_tab[3][s[i + 3]];

				if (a & UINT32_C(0x80000000))
					break;
				o[j] = (unsigned char)(a >> 16);
				o[j + 1] = (unsigned char)(a >> 8);
				o[j + 2] = (unsigned char)a;
				j += 3;
				i += 4;
			}
			if (i == n)
				break;
			/* a line end between quads: no detour through
			 * dec_slow for it */
			if (n - i >= 2 && s[i] == '\r' && s[i + 1] == '\n') {
				i += 2;
				continue;
			}
		}
		if (dec_slow(o, &j, in + i, 1, &k, &acc, &pad) < 0)
			return -1;
		i++;
	}
	/* a final group of 2 or 3 characters; padding optional but exact */
	if (k == 1 || pad > 2 || (pad > 0 && k + pad != 4))
		return -1;
	if (k == 2) {
		o[j++] = (unsigned char)(acc >> 4);
	} else if (k == 3) {
		o[j++] = (unsigned char)(acc >> 10);
		o[j++] = (unsigned char)(acc >> 2);
	}
	*outlen = j;
	return 0;
}

int ll_b64_decode_into(unsigned char *o, size_t *outlen, const char *in,
		       size_t n)
{
	return ll_b64_decode_into_path(LL_B64_PATH_BEST, o, outlen, in, n);
}

int ll_b64_decode(unsigned char **out, size_t *outlen, const char *in,
		  size_t n)
{
	unsigned char *o = malloc(n / 4 * 3 + 3);

	if (o == NULL)
		return LL_ENOMEM;
	if (ll_b64_decode_into(o, outlen, in, n) < 0) {
		free(o);
		return -1;
	}
	*out = o;
	return 0;
}

/* ---- the filter BIO ---- */

struct b64_state {
	unsigned char in[LINE_IN];
	size_t n;
	struct ll_buf *out; /* ll_bio_b64_buf_new's: no BIO after this */
};

/* Where LEN encoded characters go: straight into the buffer of a BIO
 * made by ll_bio_b64_buf_new, else into SCRATCH for one write on. */
static char *out_room(struct b64_state *st, char *scratch, size_t len)
{
	if (st->out == NULL)
		return scratch;
	if (ll_buf_reserve(st->out, len) < 0)
		return NULL;
	return st->out->p + st->out->len;
}

/* The LEN characters at P (from out_room) are written: 1, or 0. */
static int out_done(BIO *b, struct b64_state *st, const char *p, size_t len)
{
	if (st->out == NULL)
		return BIO_write(BIO_next(b), p, (int)len) == (int)len;
	st->out->len += len;
	st->out->p[st->out->len] = '\0';
	return 1;
}

static int emit(BIO *b, struct b64_state *st)
{
	char line[LINE_OUT], *o;
	size_t used;

	if (st->n == 0)
		return 1;
	o = out_room(st, line, LINE_OUT);
	if (o == NULL)
		return 0;
	enc_line(o, st->in, st->n, &used);
	st->n = 0;
	return out_done(b, st, o, used);
}

/* Whole lines straight from IN (none held back): BATCH_LINES encoded
 * at a time, not a write per line.  The octets consumed, or 0. */
static size_t emit_lines(BIO *b, const unsigned char *in, size_t lines)
{
	struct b64_state *st = BIO_get_data(b);
	char scratch[BATCH_LINES * LINE_OUT], *o;
	size_t k = lines < BATCH_LINES ? lines : BATCH_LINES;

	o = out_room(st, scratch, k * LINE_OUT);
	if (o == NULL)
		return 0;
	best_path->enc_lines(o, in, k);
	if (!out_done(b, st, o, k * LINE_OUT))
		return 0;
	return k * LINE_IN;
}

static int b64_write(BIO *b, const char *data, int len)
{
	struct b64_state *st = BIO_get_data(b);
	int done = 0;

	if (len <= 0)
		return 0;
	while (done < len) {
		size_t take = LINE_IN - st->n;

		if (st->n == 0 && (size_t)(len - done) >= LINE_IN) {
			take = emit_lines(b, (const unsigned char *)data + done,
					  (size_t)(len - done) / LINE_IN);
			if (take == 0)
				return -1;
			done += (int)take;
			continue;
		}

		if (take > (size_t)(len - done))
			take = (size_t)(len - done);
		memcpy(st->in + st->n, data + done, take);
		st->n += take;
		done += (int)take;
		if (st->n == LINE_IN && !emit(b, st))
			return -1;
	}
	return len;
}

static long b64_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct b64_state *st = BIO_get_data(b);
	BIO *next = BIO_next(b);

	if (cmd == BIO_CTRL_FLUSH) {
		if (!emit(b, st))
			return 0;
	}
	/* the buffer's BIO ends the chain, as a sink would */
	if (next == NULL)
		return cmd == BIO_CTRL_FLUSH && st->out != NULL;
	return BIO_ctrl(next, cmd, num, ptr);
}

static int b64_create(BIO *b)
{
	struct b64_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return 0;
	BIO_set_data(b, st);
	BIO_set_init(b, 1);
	return 1;
}

static int b64_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *b64_method;

static void b64_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
				     "letterlock base64");

	if (m == NULL)
		return;
	BIO_meth_set_write(m, b64_write);
	BIO_meth_set_ctrl(m, b64_ctrl);
	BIO_meth_set_create(m, b64_create);
	BIO_meth_set_destroy(m, b64_destroy);
	b64_method = m;
}

BIO *ll_bio_b64_new(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, b64_method_init);
	pthread_once(&tab_once, tab_init);
	if (b64_method == NULL)
		return NULL;
	return BIO_new(b64_method);
}

BIO *ll_bio_b64_buf_new(struct ll_buf *out)
{
	BIO *b = ll_bio_b64_new();
	struct b64_state *st = b != NULL ? BIO_get_data(b) : NULL;

	if (st != NULL)
		st->out = out;
	return b;
}
