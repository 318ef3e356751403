/*
 * pkx_limit.c - the per-client rate limit of the directory: one token
 * bucket per client address in a fixed table, so that nobody can read
 * the directory address by address faster than the configuration
 * allows, and memory stays the same whatever the number of clients.
 *
 * A client is an IPv4 address or an IPv6 /64 (one subscriber usually
 * holds a whole /64, and would otherwise have 2^64 buckets).  Buckets
 * are found by SipHash-2-4 of the address under a key drawn at start,
 * so that nobody can pick addresses that crowd one slot of the table,
 * and probed linearly over PROBE slots.  A client without a bucket
 * takes an empty slot, else the one whose bucket is fullest (a full
 * bucket forgets nothing); the table is used from the event loop only.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "internal.h"
#include "pkx.h"

#define PROBE 8
#define KEY_LEN 16
#define WAIT_MAX 86400 /* a Retry-After never says more */

struct bucket {
	unsigned char key[KEY_LEN];
	int used;
	double tokens;
	double stamp; /* when TOKENS was right */
};

struct lld_limit {
	double rate; /* tokens a second */
	double burst;
	size_t mask;
	uint64_t k0, k1;
	struct bucket *b;
};

/* ---- SipHash-2-4 (Aumasson, Bernstein) ---- */

#define ROTL(x, n) (((x) << (n)) | ((x) >> (64 - (n))))
#define SIPROUND(v0, v1, v2, v3)        \
	do {                            \
		v0 += v1;               \
		v1 = ROTL(v1, 13) ^ v0; \
		v0 = ROTL(v0, 32);      \
		v2 += v3;               \
		v3 = ROTL(v3, 16) ^ v2; \
		v0 += v3;               \
		v3 = ROTL(v3, 21) ^ v0; \
		v2 += v1;               \
		v1 = ROTL(v1, 17) ^ v2; \
		v2 = ROTL(v2, 32);      \
	} while (0)

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t lld_siphash(const void *in, size_t len, uint64_t k0, uint64_t k1)
{
	const unsigned char *p = in;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	m = (uint64_t)len << 56; /* the length, then the tail */
	for (size_t j = 0; i + j < len; j++)
		m |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= m;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

int lld_siphash_key(uint64_t *k0, uint64_t *k1, struct ll_error *err)
{
	unsigned char k[16];

	if (RAND_bytes(k, sizeof(k)) != 1)
		return ll_err_ossl(err, LL_ECRYPTO, "RAND_bytes");
	*k0 = le64(k);
	*k1 = le64(k + 8);
	return 0;
}

/* ---- the table ---- */

int lld_limit_new(struct lld_limit **out, int per_minute, int burst,
		  size_t slots, struct ll_error *err)
{
	struct lld_limit *l = calloc(1, sizeof(*l));
	size_t n = PROBE;
	int rc;

	*out = NULL;
	if (l == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	while (n < slots && n < ((size_t)1 << 30))
		n <<= 1;
	l->rate = per_minute > 0 ? per_minute / 60.0 : 0;
	l->burst = burst > 0 ? burst : 1;
	l->mask = n - 1;
	rc = lld_siphash_key(&l->k0, &l->k1, err);
	if (rc < 0) {
		free(l);
		return rc;
	}
	/* no limit, no table */
	if (l->rate > 0) {
		l->b = calloc(n, sizeof(*l->b));
		if (l->b == NULL) {
			free(l);
			return ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
				      "out of memory for %zu clients", n);
		}
	}
	*out = l;
	return 0;
}

void lld_limit_free(struct lld_limit **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	free((*pp)->b);
	free(*pp);
	*pp = NULL;
}

/* The client of PEER: IPv4 as ::ffff:a.b.c.d, IPv6 its /64; anything
 * else all zeros (one bucket for whatever has no address). */
static void peer_key(unsigned char key[KEY_LEN], const char *peer)
{
	struct in_addr a4;
	struct in6_addr a6;

	memset(key, 0, KEY_LEN);
	if (peer == NULL)
		return;
	if (inet_pton(AF_INET, peer, &a4) == 1) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, peer, &a6) == 1) {
		memcpy(key, &a6, KEY_LEN);
		if (!IN6_IS_ADDR_V4MAPPED(&a6))
			memset(key + 8, 0, 8);
	}
}

/* B's tokens at NOW. */
static double level(const struct lld_limit *l, const struct bucket *b,
		    double now)
{
	double t = b->tokens;

	if (now > b->stamp)
		t += (now - b->stamp) * l->rate;
	return t < l->burst ? t : l->burst;
}

static struct bucket *bucket_of(struct lld_limit *l,
				const unsigned char key[KEY_LEN], double now)
{
	size_t h = (size_t)lld_siphash(key, KEY_LEN, l->k0, l->k1);
	struct bucket *victim = NULL;
	double most = -1;

	for (size_t i = 0; i < PROBE; i++) {
		struct bucket *b = &l->b[(h + i) & l->mask];

		if (b->used && memcmp(b->key, key, KEY_LEN) == 0)
			return b;
	}
	for (size_t i = 0; i < PROBE; i++) {
		struct bucket *b = &l->b[(h + i) & l->mask];
		double t;

		if (!b->used) {
			victim = b;
			break;
		}
		t = level(l, b, now);
		if (t > most) {
			most = t;
			victim = b;
		}
	}
	memcpy(victim->key, key, KEY_LEN);
	victim->used = 1;
	victim->tokens = l->burst;
	victim->stamp = now;
	return victim;
}

int lld_limit_take(struct lld_limit *l, const char *peer, unsigned cost,
		   double now)
{
	unsigned char key[KEY_LEN];
	struct bucket *b;
	double want, wait;
	int secs;

	if (l == NULL || l->rate <= 0)
		return 0;
	peer_key(key, peer);
	b = bucket_of(l, key, now);
	b->tokens = level(l, b, now);
	if (now > b->stamp)
		b->stamp = now;
	want = cost < l->burst ? cost : l->burst;
	if (b->tokens >= want) {
		b->tokens -= want;
		return 0;
	}
	wait = (want - b->tokens) / l->rate;
	if (wait >= WAIT_MAX)
		return WAIT_MAX;
	secs = (int)wait; /* rounded up: by then the tokens are there */
	return secs < wait ? secs + 1 : secs < 1 ? 1 : secs;
}
