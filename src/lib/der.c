/*
 * der.c - a bounded walker over DER/BER (definite and indefinite
 * lengths), for the few places that must see CMS structure OpenSSL does
 * not expose; and the few pieces the CMS we write ourselves is made of
 * (cms_env_ec.c, cms_signed.c).
 */
#include <string.h>

#include "internal.h"

#define DER_MAX_DEPTH 16

static int skip_inf(const unsigned char *p, const unsigned char *end,
		    const unsigned char **next, int depth)
{
	struct ll_tlv t;

	while (p + 2 <= end) {
		if (p[0] == 0 && p[1] == 0) {
			*next = p + 2;
			return 0;
		}
		if (ll_tlv_read(&t, p, end, depth) < 0)
			return -1;
		p = t.next;
	}
	return -1;
}

int ll_tlv_head(struct ll_tlv *t, const unsigned char *p,
		const unsigned char *end)
{
	const unsigned char *q = p;
	long len;
	int r;

	if (p == NULL || p >= end)
		return -1;
	r = ASN1_get_object(&q, &len, &t->tag, &t->cls, (long)(end - p));
	if (r & 0x80)
		return -1;
	t->start = p;
	t->p = q;
	t->cons = (r & V_ASN1_CONSTRUCTED) != 0;
	t->inf = r == 0x21;
	t->end = t->inf ? NULL : q + len;
	t->next = t->end;
	return 0;
}

int ll_tlv_read(struct ll_tlv *t, const unsigned char *p,
		const unsigned char *end, int depth)
{
	if (depth > DER_MAX_DEPTH || ll_tlv_head(t, p, end) < 0)
		return -1;
	if (t->inf) {
		if (skip_inf(t->p, end, &t->next, depth + 1) < 0)
			return -1;
		t->end = t->next - 2;
	}
	return 0;
}

int ll_tlv_copy(struct ll_buf *b, const struct ll_tlv *t)
{
	return ll_buf_add(b, t->start, (size_t)(t->next - t->start));
}

int ll_tlv_eoc(const unsigned char **p, const unsigned char *end)
{
	if (end - *p < 2 || (*p)[0] != 0 || (*p)[1] != 0)
		return -1;
	*p += 2;
	return 0;
}

/* ---- writing ---- */

size_t ll_der_len_size(size_t n)
{
	size_t k = 1;

	if (n < 0x80)
		return 1;
	while (n > 0) {
		k++;
		n >>= 8;
	}
	return k;
}

size_t ll_der_tlv_size(size_t n)
{
	return 1 + ll_der_len_size(n) + n;
}

int ll_der_head(struct ll_buf *b, unsigned char tag, size_t n)
{
	unsigned char h[10];
	size_t k = ll_der_len_size(n), i = 0;

	h[i++] = tag;
	if (k == 1) {
		h[i++] = (unsigned char)n;
	} else {
		h[i++] = (unsigned char)(0x80 | (k - 1));
		for (size_t j = k - 1; j-- > 0;)
			h[i++] = (unsigned char)(n >> (8 * j));
	}
	return ll_buf_add(b, h, i);
}

int ll_der_cmp(const void *a, const void *b)
{
	const struct ll_buf *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}
