/*
 * nonce.c - ACME replay nonces in the front's memory (nonce.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <letterlock/jose.h>

#include "internal.h"
#include "nonce.h"

#define RAW_LEN 16 /* 8 counter + 8 MAC */
#define BLOCK_SHIFT 12 /* time recorded per 4096 nonces */
#define BLOCKS (LLD_NONCE_WINDOW >> BLOCK_SHIFT)

struct lld_nonces {
	unsigned char key[32];
	uint64_t next; /* counter of the next nonce */
	uint8_t used[LLD_NONCE_WINDOW / 8];
	time_t born[BLOCKS]; /* when the first nonce of a block was made */
	uint64_t born_of[BLOCKS]; /* which block (counter >> BLOCK_SHIFT) */
	uint64_t block; /* counter >> BLOCK_SHIFT of the last one */
};

int lld_nonces_new(struct lld_nonces **out, struct ll_error *err)
{
	struct lld_nonces *ns = calloc(1, sizeof(*ns));

	if (ns == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	if (RAND_bytes(ns->key, sizeof(ns->key)) != 1) {
		free(ns);
		return ll_err_ossl(err, LL_ECRYPTO, "nonce key");
	}
	ns->next = 1;
	ns->block = UINT64_MAX;
	*out = ns;
	return 0;
}

void lld_nonces_free(struct lld_nonces **pp)
{
	if (*pp == NULL)
		return;
	OPENSSL_cleanse((*pp)->key, sizeof((*pp)->key));
	free(*pp);
	*pp = NULL;
}

static void mac(const struct lld_nonces *ns, const unsigned char ctr[8],
		unsigned char out[8])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	HMAC(EVP_sha256(), ns->key, sizeof(ns->key), ctr, 8, md, &len);
	memcpy(out, md, 8);
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

void lld_nonce_make(struct lld_nonces *ns, char out[LLD_NONCE_LEN + 1],
		    time_t now)
{
	unsigned char raw[RAW_LEN];
	uint64_t c = ns->next++;
	size_t bit = (size_t)(c % LLD_NONCE_WINDOW);
	char *s = NULL;

	ns->used[bit / 8] &= (uint8_t) ~(1u << (bit % 8));
	if (c >> BLOCK_SHIFT != ns->block) {
		ns->block = c >> BLOCK_SHIFT;
		ns->born[bit >> BLOCK_SHIFT] = now;
		ns->born_of[bit >> BLOCK_SHIFT] = c >> BLOCK_SHIFT;
	}
	put64(raw, c);
	mac(ns, raw, raw + 8);
	out[0] = '\0';
	if (ll_b64url_encode(&s, NULL, raw, sizeof(raw), NULL) == 0 &&
	    strlen(s) == LLD_NONCE_LEN)
		memcpy(out, s, LLD_NONCE_LEN + 1);
	free(s);
}

int lld_nonce_use(struct lld_nonces *ns, const char *s, time_t now)
{
	unsigned char *raw = NULL, want[8];
	size_t len = 0, bit;
	uint64_t c = 0;
	int rc = -1;

	if (strlen(s) != LLD_NONCE_LEN ||
	    ll_b64url_decode(&raw, &len, s, LLD_NONCE_LEN, RAW_LEN, NULL) < 0 ||
	    len != RAW_LEN)
		goto out;
	mac(ns, raw, want);
	if (CRYPTO_memcmp(want, raw + 8, 8) != 0)
		goto out;
	for (int i = 0; i < 8; i++)
		c = c << 8 | raw[i];
	/* made by us, and not yet overwritten by the window moving on */
	if (c == 0 || c >= ns->next || ns->next - c > LLD_NONCE_WINDOW)
		goto out;
	bit = (size_t)(c % LLD_NONCE_WINDOW);
	/* the block's time is that of its first nonce, a little older
	 * than this one: the TTL is met or slightly shortened */
	if (ns->born_of[bit >> BLOCK_SHIFT] != c >> BLOCK_SHIFT ||
	    now - ns->born[bit >> BLOCK_SHIFT] > LLD_NONCE_TTL)
		goto out;
	if (ns->used[bit / 8] & (1u << (bit % 8)))
		goto out;
	ns->used[bit / 8] |= (uint8_t)(1u << (bit % 8));
	rc = 0;
out:
	free(raw);
	return rc;
}
