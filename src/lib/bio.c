/*
 * bio.c - a sink BIO that hands what is written to a function, so that
 * OpenSSL's streaming output lands where we want it without a copy.
 */
#include <string.h>

#include "internal.h"

struct sink {
	int (*fn)(void *arg, const char *p, size_t n);
	void *arg;
};

static int sink_write(BIO *b, const char *data, int len)
{
	struct sink *s = BIO_get_data(b);

	if (len <= 0)
		return 0;
	return s->fn(s->arg, data, (size_t)len) < 0 ? -1 : len;
}

static long sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sink_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *sink_method;

static void sink_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "letterlock sink");

	if (m == NULL)
		return;
	BIO_meth_set_write(m, sink_write);
	BIO_meth_set_ctrl(m, sink_ctrl);
	BIO_meth_set_destroy(m, sink_destroy);
	sink_method = m;
}

BIO *ll_bio_sink_new(int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sink *s;
	BIO *b;

	pthread_once(&once, sink_init);
	if (sink_method == NULL)
		return NULL;
	s = malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	b = BIO_new(sink_method);
	if (b == NULL) {
		free(s);
		return NULL;
	}
	s->fn = fn;
	s->arg = arg;
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	return b;
}

static int buf_append(void *arg, const char *p, size_t n)
{
	return ll_buf_add(arg, p, n);
}

BIO *ll_bio_buf_new(struct ll_buf *buf)
{
	return ll_bio_sink_new(buf_append, buf);
}

int ll_bio_put(BIO *b, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
		int w = BIO_write(b, s, chunk);

		if (w <= 0)
			return LL_ECRYPTO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int ll_bio_put_crlf(BIO *b, const char *p, size_t n)
{
	size_t run = 0;

	/* the runs between bare LFs as they are, a CRLF for each LF (one
	 * at the start of a run has an LF before it: bare too) */
	for (;;) {
		size_t lf = run + ll_bare_lf(p + run, n - run);
		int rc;

		if (lf == n)
			break;
		rc = ll_bio_put(b, p + run, lf - run);
		if (rc == 0)
			rc = ll_bio_put(b, "\r\n", 2);
		if (rc < 0)
			return rc;
		run = lf + 1;
	}
	return ll_bio_put(b, p + run, n - run);
}
