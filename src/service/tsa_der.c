/*
 * tsa_der.c - what the TSA's front and keyholder share (tsa.h): writing
 * DER forward into a fixed buffer, and the checks of a request's
 * fields both sides make.
 */
#include <string.h>

#include "tsa.h"

size_t lld_der_hdr_len(size_t n)
{
	return n < 0x80 ? 2 : n < 0x100 ? 3 : n < 0x10000 ? 4 : 5;
}

size_t lld_der_tl(size_t n)
{
	return lld_der_hdr_len(n) + n;
}

void lld_der_put(struct lld_der *d, const void *p, size_t n)
{
	if (d->bad || n > d->cap - d->len) {
		d->bad = 1;
		return;
	}
	memcpy(d->p + d->len, p, n);
	d->len += n;
}

void lld_der_hdr(struct lld_der *d, unsigned tag, size_t n)
{
	unsigned char h[5];
	size_t k = 0;

	if (n >= 0x1000000) {
		d->bad = 1;
		return;
	}
	h[k++] = (unsigned char)tag;
	if (n >= 0x10000) {
		h[k++] = 0x83;
		h[k++] = (unsigned char)(n >> 16);
	} else if (n >= 0x100) {
		h[k++] = 0x82;
	} else if (n >= 0x80) {
		h[k++] = 0x81;
	}
	if (n >= 0x100)
		h[k++] = (unsigned char)(n >> 8);
	h[k++] = (unsigned char)n;
	lld_der_put(d, h, k);
}

void lld_der_tlv(struct lld_der *d, unsigned tag, const void *p, size_t n)
{
	lld_der_hdr(d, tag, n);
	lld_der_put(d, p, n);
}

size_t lld_tsa_hash_len(int h)
{
	switch (h) {
	case LLD_TSA_SHA256:
		return 32;
	case LLD_TSA_SHA384:
		return 48;
	case LLD_TSA_SHA512:
		return 64;
	default:
		return 0;
	}
}

int lld_tsa_nonce_ok(const unsigned char *n, size_t len)
{
	if (n == NULL || len == 0 || len > LLD_TSA_NONCE_MAX)
		return 0;
	if (len > 1 && ((n[0] == 0x00 && !(n[1] & 0x80)) ||
			(n[0] == 0xff && (n[1] & 0x80))))
		return 0;
	return 1;
}
