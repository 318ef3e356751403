/*
 * pkx_cache.c - answers of lookups by address kept in the front's
 * memory (pkx.h), so that a lookup asked before costs no store read, no
 * JSON and no digest.
 *
 * An answer is kept with the store's version it was read at
 * (lld_store_version, which grows with every change of the store) and
 * the last second it is right (its earliest notAfter; the second before
 * a certificate of the address becomes valid); it is served only while
 * both hold, so that a revocation, an issuance, a publication or new
 * capabilities show at the next lookup.  Absent addresses are kept
 * like present ones: the two cost the same.
 *
 * The table is fixed: slots found by SipHash-2-4 of the key under a key
 * drawn at start (nobody can pick addresses that crowd one slot),
 * probed over PROBE slots, the least recently used of them giving way;
 * the answers take at most the configured octets together: when a new
 * one does not fit, a hand going round the table empties slots until
 * it does.  Used from the event loop only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pkx.h"

#define PROBE 8
#define SLOT_OCTETS 1024 /* one slot for each KiB of the cache */
#define SLOTS_MAX ((size_t)1 << 24)

struct entry {
	uint64_t version;
	time_t until;
	size_t size; /* what it counts against the cache */
	size_t len;
	char etag[LLD_FPR_HEX + 1];
	char *body;
	char key[]; /* then the body */
};

struct slot {
	uint64_t hash;
	uint64_t used; /* the cache's clock at its last use */
	struct entry *e; /* NULL: empty */
};

struct lld_pkx_cache {
	size_t mask;
	size_t bytes, max;
	uint64_t k0, k1;
	uint64_t clock;
	size_t hand; /* the next slot to empty for room */
	struct slot *s;
};

int lld_pkx_cache_new(struct lld_pkx_cache **out, size_t bytes,
		      struct ll_error *err)
{
	struct lld_pkx_cache *c = NULL;
	size_t n = PROBE;
	int rc;

	*out = NULL;
	if (bytes == 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	while (n < bytes / SLOT_OCTETS && n < SLOTS_MAX)
		n <<= 1;
	c->mask = n - 1;
	c->max = bytes;
	rc = lld_siphash_key(&c->k0, &c->k1, err);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->s = calloc(n, sizeof(*c->s));
	if (c->s == NULL) {
		free(c);
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			      "out of memory for %zu cache slots", n);
	}
	*out = c;
	return 0;
}

static void drop(struct lld_pkx_cache *c, struct slot *s)
{
	if (s->e == NULL)
		return;
	c->bytes -= s->e->size;
	free(s->e);
	s->e = NULL;
}

void lld_pkx_cache_free(struct lld_pkx_cache **pp)
{
	struct lld_pkx_cache *c;

	if (pp == NULL || *pp == NULL)
		return;
	c = *pp;
	for (size_t i = 0; i <= c->mask; i++)
		drop(c, &c->s[i]);
	free(c->s);
	free(c);
	*pp = NULL;
}

/* The slot holding KEY (hash H), NULL if none does. */
static struct slot *find(struct lld_pkx_cache *c, const char *key, uint64_t h)
{
	for (size_t i = 0; i < PROBE; i++) {
		struct slot *s = &c->s[(h + i) & c->mask];

		if (s->e != NULL && s->hash == h && strcmp(s->e->key, key) == 0)
			return s;
	}
	return NULL;
}

int lld_pkx_cache_get(struct lld_pkx_cache *c, const char *key,
		      uint64_t version, time_t now, struct lld_pkx_answer *out)
{
	uint64_t h;
	struct slot *s;

	if (c == NULL)
		return 0;
	h = lld_siphash(key, strlen(key), c->k0, c->k1);
	s = find(c, key, h);
	if (s == NULL)
		return 0;
	if (s->e->version != version || now > s->e->until) {
		drop(c, s); /* wrong for good */
		return 0;
	}
	s->used = ++c->clock;
	out->body = s->e->body;
	out->len = s->e->len;
	out->etag = s->e->etag;
	return 1;
}

void lld_pkx_cache_put(struct lld_pkx_cache *c, const char *key,
		       uint64_t version, time_t until, const char *body,
		       size_t len, const char *etag)
{
	size_t klen = strlen(key);
	size_t size = sizeof(struct entry) + klen + 1 + len;
	struct slot *s, *victim = NULL;
	struct entry *e;
	uint64_t h;

	if (c == NULL || size > c->max / 16)
		return;
	h = lld_siphash(key, klen, c->k0, c->k1);
	s = find(c, key, h);
	/* else an empty slot, else the least recently used */
	for (size_t i = 0; s == NULL && i < PROBE; i++) {
		struct slot *t = &c->s[(h + i) & c->mask];

		if (t->e == NULL || victim == NULL || t->used < victim->used)
			victim = t;
		if (t->e == NULL)
			s = t;
	}
	if (s == NULL)
		s = victim;
	drop(c, s);
	/* and room, from wherever the hand is */
	while (c->bytes + size > c->max) {
		drop(c, &c->s[c->hand]);
		c->hand = (c->hand + 1) & c->mask;
	}
	e = malloc(size);
	if (e == NULL)
		return;
	e->version = version;
	e->until = until;
	e->size = size;
	e->len = len;
	snprintf(e->etag, sizeof(e->etag), "%s", etag);
	memcpy(e->key, key, klen + 1);
	e->body = e->key + klen + 1;
	memcpy(e->body, body, len);
	s->hash = h;
	s->used = ++c->clock;
	s->e = e;
	c->bytes += size;
}
