/*
 * der.c - a bounded walker over DER/BER (definite and indefinite
 * lengths), for the few places that must see CMS structure OpenSSL does
 * not expose.
 */
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
