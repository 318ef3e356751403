/*
 * ctx.c - the context: identities, contacts, trust anchors, clock.
 */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>

#include "internal.h"

#define CTX_MAX_ITEMS 100000
#define CHAIN_CACHE 256 /* direct-mapped, by signer fingerprint */
#define CERT_CACHE 64	/* parsed certificates, by SHA-256 of the DER */

struct cert_entry {
	unsigned char hash[32];
	X509 *x;
	/* X's DER encoding is the one hashed, so HASH is its fingerprint
	 * (X509_digest hashes what i2d gives, which for a BER input is not
	 * the octets that came in) */
	int hash_is_fpr;
};

/* A signer whose chain verified, and the window in which it holds. */
struct chain_entry {
	unsigned char fpr[32];
	time_t from, until;
	X509 *issuer; /* the signer's, from that chain; a reference */
	unsigned gen;
	int used;
};

struct ll_ctx {
	OSSL_LIB_CTX *libctx;	/* NULL: OpenSSL's default context */
	X509_STORE *store;
	struct ll_identity **ids;
	size_t nids;
	struct ll_cert **contacts;
	size_t ncontacts;
	time_t now;		/* 0: the real clock */
	unsigned trust_gen;	/* bumped when the trust anchors change */
	struct chain_entry chains[CHAIN_CACHE];
	struct cert_entry certs[CERT_CACHE];
	/* revocation (revocation.c): the options, 0 version when unset,
	 * and the fingerprints of the certificates known revoked */
	struct ll_revocation_options rev;
	char (*revoked)[LL_FPR_HEX + 1];
	size_t nrevoked;
	/* fetched on first use (ll_ctx_algs): an implicit fetch looks the
	 * provider's algorithm up again on every call */
	struct ll_algs algs;
	int algs_fetched;
	/* ECDH with DERIVE_KEY, one of our identities' keys (a reference;
	 * identities stay until the context is freed) */
	EVP_PKEY_CTX *derive;
	EVP_PKEY *derive_key;
	/* the last identity's encodings for signing (cms_signed.c) */
	struct ll_signer *signer;
};

int ll_ctx_new(struct ll_ctx **out, struct ll_error *err)
{
	struct ll_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	ll_gmime_init();
	ctx->store = X509_STORE_new();
	if (ctx->store == NULL) {
		free(ctx);
		return ll_err_ossl(err, LL_ECRYPTO, "X509_STORE_new");
	}
	*out = ctx;
	return 0;
}

void ll_ctx_free(struct ll_ctx **pp)
{
	struct ll_ctx *ctx;

	if (pp == NULL || *pp == NULL)
		return;
	ctx = *pp;
	*pp = NULL;
	for (size_t i = 0; i < ctx->nids; i++)
		ll_identity_free(&ctx->ids[i]);
	free(ctx->ids);
	for (size_t i = 0; i < ctx->ncontacts; i++)
		ll_cert_free(&ctx->contacts[i]);
	free(ctx->contacts);
	free(ctx->revoked);
	X509_STORE_free(ctx->store);
	for (size_t i = 0; i < CERT_CACHE; i++)
		X509_free(ctx->certs[i].x);
	for (size_t i = 0; i < CHAIN_CACHE; i++)
		X509_free(ctx->chains[i].issuer);
	EVP_CIPHER_free(ctx->algs.cbc);
	EVP_CIPHER_free(ctx->algs.gcm);
	EVP_CIPHER_free(ctx->algs.ecb);
	EVP_MD_free(ctx->algs.sha256);
	EC_GROUP_free(ctx->algs.p256);
	EVP_PKEY_CTX_free(ctx->derive);
	ll_signer_free(&ctx->signer);
	OSSL_LIB_CTX_free(ctx->libctx);
	free(ctx);
}

static int grow(void *vpp, size_t n, size_t elem)
{
	void **pp = vpp;
	void *nv;

	if (n >= CTX_MAX_ITEMS)
		return LL_ETOOBIG;
	nv = realloc(*pp, (n + 1) * elem);
	if (nv == NULL)
		return LL_ENOMEM;
	*pp = nv;
	return 0;
}

int ll_ctx_add_identity(struct ll_ctx *ctx, struct ll_identity **id,
			struct ll_error *err)
{
	int rc = grow(&ctx->ids, ctx->nids, sizeof(*ctx->ids));

	if (rc < 0)
		return ll_err(err, rc, LL_ECLASS_OS, "too many identities");
	ctx->ids[ctx->nids++] = *id;
	*id = NULL;
	return 0;
}

int ll_ctx_add_contact(struct ll_ctx *ctx, struct ll_cert *cert,
		       struct ll_error *err)
{
	int rc = grow(&ctx->contacts, ctx->ncontacts, sizeof(*ctx->contacts));

	if (rc < 0)
		return ll_err(err, rc, LL_ECLASS_OS, "too many contacts");
	ctx->contacts[ctx->ncontacts++] = ll_cert_ref(cert);
	return 0;
}

size_t ll_ctx_contact_count(const struct ll_ctx *ctx)
{
	return ctx->ncontacts;
}

const struct ll_cert *ll_ctx_contact_at(const struct ll_ctx *ctx, size_t i)
{
	return i < ctx->ncontacts ? ctx->contacts[i] : NULL;
}

void ll_ctx_drop_contacts_for(struct ll_ctx *ctx, const char *addr)
{
	size_t j = 0;

	for (size_t i = 0; i < ctx->ncontacts; i++) {
		if (ll_cert_matches_email(ctx->contacts[i], addr))
			ll_cert_free(&ctx->contacts[i]);
		else
			ctx->contacts[j++] = ctx->contacts[i];
	}
	ctx->ncontacts = j;
}

int ll_ctx_add_trust(struct ll_ctx *ctx, struct ll_cert *cert,
		     struct ll_error *err)
{
	ERR_clear_error();
	if (!X509_STORE_add_cert(ctx->store, ll_cert_x509(cert))) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
			ERR_clear_error();
			return 0;
		}
		return ll_err_ossl(err, LL_ECRYPTO, "adding trust anchor");
	}
	ctx->trust_gen++;
	return 0;
}

void ll_ctx_set_time(struct ll_ctx *ctx, time_t t)
{
	ctx->now = t;
}

time_t ll_ctx_now(const struct ll_ctx *ctx)
{
	return ctx->now ? ctx->now : time(NULL);
}

OSSL_LIB_CTX *ll_ctx_libctx(const struct ll_ctx *ctx)
{
	return ctx->libctx;
}

const struct ll_algs *ll_ctx_algs(struct ll_ctx *ctx)
{
	struct ll_algs *a = &ctx->algs;

	if (ctx->algs_fetched)
		return a;
	if (a->cbc == NULL)
		a->cbc = EVP_CIPHER_fetch(ctx->libctx, "AES-256-CBC", NULL);
	if (a->gcm == NULL)
		a->gcm = EVP_CIPHER_fetch(ctx->libctx, "AES-256-GCM", NULL);
	if (a->ecb == NULL)
		a->ecb = EVP_CIPHER_fetch(ctx->libctx, "AES-256-ECB", NULL);
	if (a->sha256 == NULL)
		a->sha256 = EVP_MD_fetch(ctx->libctx, "SHA2-256", NULL);
	if (a->p256 == NULL)
		a->p256 = EC_GROUP_new_by_curve_name_ex(ctx->libctx, NULL,
							NID_X9_62_prime256v1);
	ctx->algs_fetched = a->cbc != NULL && a->gcm != NULL &&
			    a->ecb != NULL && a->sha256 != NULL &&
			    a->p256 != NULL;
	return ctx->algs_fetched ? a : NULL;
}

EVP_PKEY_CTX *ll_ctx_derive(struct ll_ctx *ctx, EVP_PKEY *own)
{
	EVP_PKEY_CTX *d;

	if (ctx->derive != NULL && ctx->derive_key == own)
		return ctx->derive;
	d = EVP_PKEY_CTX_new_from_pkey(ctx->libctx, own, NULL);
	if (d == NULL || EVP_PKEY_derive_init(d) != 1) {
		EVP_PKEY_CTX_free(d);
		return NULL;
	}
	EVP_PKEY_CTX_free(ctx->derive);
	ctx->derive = d;
	ctx->derive_key = own; /* D holds a reference to it */
	return d;
}

int ll_ctx_has_identity(const struct ll_ctx *ctx, const struct ll_identity *id)
{
	for (size_t i = 0; i < ctx->nids; i++)
		if (ctx->ids[i] == id)
			return 1;
	return 0;
}

struct ll_signer *ll_ctx_signer(struct ll_ctx *ctx)
{
	return ctx->signer;
}

void ll_ctx_set_signer(struct ll_ctx *ctx, struct ll_signer *s)
{
	if (s != ctx->signer)
		ll_signer_free(&ctx->signer);
	ctx->signer = s;
}

X509_STORE *ll_ctx_store(struct ll_ctx *ctx)
{
	return ctx->store;
}

size_t ll_ctx_identity_count(const struct ll_ctx *ctx)
{
	return ctx->nids;
}

struct ll_identity *ll_ctx_identity_at(const struct ll_ctx *ctx, size_t i)
{
	return i < ctx->nids ? ctx->ids[i] : NULL;
}

/* Of the certificates for ADDR valid now, the one issued last. */
int ll_cert_better(const struct ll_cert *c, const struct ll_cert *best,
		   time_t now)
{
	if (ll_cert_not_before(c) > now || ll_cert_not_after(c) < now)
		return 0;
	return best == NULL || ll_cert_not_before(c) > ll_cert_not_before(best);
}

struct ll_identity *ll_ctx_identity_for(struct ll_ctx *ctx, const char *addr)
{
	struct ll_identity *best = NULL;
	time_t now = ll_ctx_now(ctx);

	for (size_t i = 0; i < ctx->nids; i++) {
		struct ll_cert *c = ll_identity_cert(ctx->ids[i]);

		if (ll_cert_matches_email(c, addr) && !ll_ctx_is_revoked(ctx, c) &&
		    ll_cert_better(c, best ? ll_identity_cert(best) : NULL,
				   now))
			best = ctx->ids[i];
	}
	return best;
}

struct ll_cert *ll_ctx_contact_for(struct ll_ctx *ctx, const char *addr)
{
	struct ll_cert *best = NULL;
	time_t now = ll_ctx_now(ctx);

	for (size_t i = 0; i < ctx->ncontacts; i++)
		if (ll_cert_matches_email(ctx->contacts[i], addr) &&
		    (ll_cert_uses(ctx->contacts[i]) & LL_USE_ENCRYPT) &&
		    !ll_ctx_is_revoked(ctx, ctx->contacts[i]) &&
		    ll_cert_better(ctx->contacts[i], best, now))
			best = ctx->contacts[i];
	/* our own address: our own current certificate */
	if (best == NULL) {
		struct ll_identity *id = ll_ctx_identity_for(ctx, addr);

		if (id != NULL &&
		    (ll_cert_uses(ll_identity_cert(id)) & LL_USE_ENCRYPT))
			best = ll_identity_cert(id);
	}
	return best;
}

int ll_ctx_contact_sign_only(struct ll_ctx *ctx, const char *addr)
{
	time_t now = ll_ctx_now(ctx);
	int signing = 0;

	for (size_t i = 0; i < ctx->ncontacts; i++) {
		struct ll_cert *c = ctx->contacts[i];

		if (!ll_cert_matches_email(c, addr) ||
		    ll_ctx_is_revoked(ctx, c) || !ll_cert_better(c, NULL, now))
			continue;
		if (ll_cert_uses(c) & LL_USE_ENCRYPT)
			return 0;
		signing = 1;
	}
	return signing;
}

/* ---- revocation ---- */

const struct ll_revocation_options *ll_ctx_rev_options(const struct ll_ctx *ctx)
{
	return ctx->rev.version != 0 ? &ctx->rev : NULL;
}

void ll_ctx_rev_set_options(struct ll_ctx *ctx,
			    const struct ll_revocation_options *opt)
{
	ctx->rev = *opt;
	ctx->nrevoked = 0; /* the cache named now says again */
}

int ll_ctx_rev_add(struct ll_ctx *ctx, const char *fpr)
{
	int rc;

	if (strlen(fpr) != LL_FPR_HEX)
		return LL_EINVAL;
	for (size_t i = 0; i < ctx->nrevoked; i++)
		if (strcmp(ctx->revoked[i], fpr) == 0)
			return 0;
	rc = grow(&ctx->revoked, ctx->nrevoked, sizeof(*ctx->revoked));
	if (rc < 0)
		return rc;
	memcpy(ctx->revoked[ctx->nrevoked++], fpr, LL_FPR_HEX + 1);
	return 0;
}

int ll_ctx_is_revoked(const struct ll_ctx *ctx, const struct ll_cert *cert)
{
	const char *fpr = ctx->nrevoked > 0 ? ll_cert_fingerprint(cert) : NULL;

	for (size_t i = 0; fpr != NULL && i < ctx->nrevoked; i++)
		if (strcmp(ctx->revoked[i], fpr) == 0)
			return 1;
	return 0;
}

int ll_ctx_chain_cached(struct ll_ctx *ctx, const unsigned char fpr[32],
			time_t when, X509 **issuer)
{
	struct chain_entry *e = &ctx->chains[fpr[0]];
	int hit = e->used && e->gen == ctx->trust_gen &&
		  memcmp(e->fpr, fpr, 32) == 0 && when >= e->from &&
		  when <= e->until;

	if (hit && issuer != NULL && e->issuer != NULL &&
	    X509_up_ref(e->issuer))
		*issuer = e->issuer;
	return hit;
}

void ll_ctx_chain_remember(struct ll_ctx *ctx, const unsigned char fpr[32],
			   time_t from, time_t until, X509 *issuer)
{
	struct chain_entry *e = &ctx->chains[fpr[0]];

	X509_free(e->issuer);
	e->issuer = issuer != NULL && X509_up_ref(issuer) ? issuer : NULL;
	memcpy(e->fpr, fpr, 32);
	e->from = from;
	e->until = until;
	e->gen = ctx->trust_gen;
	e->used = 1;
}

/* 1 if DER is what i2d_X509 gives for X (once per certificate parsed). */
static int der_is_encoding(X509 *x, const unsigned char *der, size_t len)
{
	unsigned char *enc = NULL;
	int n = i2d_X509(x, &enc);
	int same = n > 0 && (size_t)n == len && memcmp(enc, der, len) == 0;

	OPENSSL_free(enc);
	ERR_clear_error();
	return same;
}

X509 *ll_ctx_cert_get(struct ll_ctx *ctx, const unsigned char *der,
		      size_t len)
{
	unsigned char h[32];
	unsigned int hl = 0;
	struct cert_entry *e;
	const unsigned char *p = der;
	X509 *x;

	if (!EVP_Digest(der, len, h, &hl, EVP_sha256(), NULL) || hl != 32)
		return NULL;
	e = &ctx->certs[h[0] % CERT_CACHE];
	if (e->x != NULL && memcmp(e->hash, h, 32) == 0) {
		X509_up_ref(e->x);
		return e->x;
	}
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	X509_free(e->x);
	memcpy(e->hash, h, 32);
	e->x = x;
	e->hash_is_fpr = der_is_encoding(x, der, len);
	X509_up_ref(x);
	return x;
}

int ll_ctx_cert_fpr(const struct ll_ctx *ctx, X509 *x, unsigned char fpr[32])
{
	const struct cert_entry *e;
	unsigned char md[32];
	unsigned int n = 0;

	for (size_t i = 0; i < CERT_CACHE; i++) {
		e = &ctx->certs[i];
		if (e->x == x && e->hash_is_fpr) {
			memcpy(fpr, e->hash, 32);
			return 0;
		}
	}
	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return -1;
	memcpy(fpr, md, 32);
	return 0;
}
