/*
 * smimea.c - recipients' certificates from DNS: SMIMEA records (RFC
 * 8162), looked up through libunbound and taken only from answers that
 * DNSSEC validates (smimea.h).
 *
 * A record's RDATA is untrusted input: read by ll_smimea_parse alone,
 * bounded by its length; the certificate in it is parsed by OpenSSL
 * (ll_cert_parse) and must name the address it was asked for.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <openssl/evp.h>
#include <unbound.h>

#include <letterlock/ca.h>

#include "internal.h"
#include "smimea.h"

#define DNS_CLASS_IN 1
#define RDATA_MAX 65535 /* an RDLENGTH is 16 bits */
#define ADDR_MAX 320
#define DEFAULT_TIMEOUT 20

/* ------------------------------------------------------------ RDATA */

int ll_smimea_parse(struct ll_smimea_rr *rr, const void *p, size_t n)
{
	const unsigned char *b = p;

	memset(rr, 0, sizeof(*rr));
	if (b == NULL || n < 4 || n > RDATA_MAX)
		return -1;
	rr->usage = b[0];
	rr->selector = b[1];
	rr->matching = b[2];
	rr->data = b + 3;
	rr->len = n - 3;
	if ((rr->matching == 1 && rr->len != 32) ||
	    (rr->matching == 2 && rr->len != 64))
		return -1;
	return 0;
}

const char *ll_smimea_unusable(const struct ll_smimea_rr *rr)
{
	if (rr->usage == LL_SMIMEA_PKIX_TA || rr->usage == LL_SMIMEA_DANE_TA)
		return "usage 0 or 2 names a CA, not the recipient";
	if (rr->usage == LL_SMIMEA_PKIX_EE)
		return "usage 1 (PKIX-EE) needs a chain the record does not "
		       "carry";
	if (rr->usage != LL_SMIMEA_DANE_EE)
		return "an unknown certificate usage";
	if (rr->matching == 1 || rr->matching == 2)
		return "a digest, no certificate to encrypt to";
	if (rr->matching != 0)
		return "an unknown matching type";
	if (rr->selector == 1)
		return "a public key, no certificate to encrypt to";
	if (rr->selector != 0)
		return "an unknown selector";
	return NULL;
}

/* ------------------------------------------------------ owner names */

static void hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int ll_smimea_owner(char *out, size_t len, const char *addr,
		    struct ll_error *err)
{
	const char *at = strrchr(addr, '@');
	unsigned char md[32];
	size_t mdlen = 0;
	gchar *nfc;
	int ok, n;

	if (at == NULL || at == addr || at[1] == '\0')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "not a mailbox address: %.200s", addr);
	/* RFC 8162 section 3: the local part as UTF-8; NFC as the PKX
	 * directory and letterlockd export-smimea key it (RFC 6532) */
	nfc = g_utf8_validate(addr, at - addr, NULL) ?
		      g_utf8_normalize(addr, at - addr, G_NORMALIZE_NFC) :
		      NULL;
	if (nfc == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the local part is not UTF-8");
	ok = EVP_Q_digest(NULL, "SHA256", NULL, nfc, strlen(nfc), md, &mdlen) ==
		     1 &&
	     mdlen == sizeof(md);
	g_free(nfc);
	if (!ok)
		return ll_err_ossl(err, LL_ECRYPTO, "SHA-256");
	if (len < 2 * LL_SMIMEA_HASH_LEN + 1)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "no room for the owner name");
	hex(out, md, LL_SMIMEA_HASH_LEN);
	n = snprintf(out + 2 * LL_SMIMEA_HASH_LEN, len - 2 * LL_SMIMEA_HASH_LEN,
		     "._smimecert.%s.", at + 1);
	if (n < 0 || (size_t)n >= len - 2 * LL_SMIMEA_HASH_LEN)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "no room for the owner name");
	return 0;
}

/* ------------------------------------------------------ the records */

static void left_out(struct ll_smimea_take *t, const char *why)
{
	if (t->why[0] == '\0')
		snprintf(t->why, sizeof(t->why), "%s", why);
}

/* The certificate of RR (usable) for ADDR at NOW, or NULL (why in T). */
static struct ll_cert *cert_of(struct ll_smimea_take *t,
			       const struct ll_smimea_rr *rr, const char *addr,
			       time_t now)
{
	struct ll_cert *c = NULL;

	/* DER (RFC 8162 section 2.1), nothing PEM can make of text */
	if (rr->data[0] != 0x30 ||
	    ll_cert_parse(&c, rr->data, rr->len, NULL) < 0) {
		left_out(t, "not a DER certificate");
		return NULL;
	}
	if (!ll_cert_matches_email(c, addr))
		left_out(t, "a certificate for another address");
	else if (ll_cert_not_before(c) > now || ll_cert_not_after(c) < now)
		left_out(t, "a certificate not valid now");
	else
		return c;
	ll_cert_free(&c);
	return NULL;
}

int ll_smimea_take(struct ll_smimea_take *t, const void *const *data,
		   const size_t *len, size_t n, const char *addr, time_t now)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n && i < LL_SMIMEA_RRS_MAX; i++) {
		struct ll_smimea_rr rr;
		const char *why;
		struct ll_cert *c;
		int dup = 0;

		t->records++;
		if (ll_smimea_parse(&rr, data[i], len[i]) < 0) {
			left_out(t, "a malformed record");
			continue;
		}
		why = ll_smimea_unusable(&rr);
		if (why != NULL) {
			char u[160];

			snprintf(u, sizeof(u), "%u %u %u: %s", rr.usage,
				 rr.selector, rr.matching, why);
			left_out(t, u);
			continue;
		}
		c = cert_of(t, &rr, addr, now);
		if (c == NULL)
			continue;
		for (size_t k = 0; k < t->n; k++)
			dup |= strcmp(ll_cert_fingerprint(t->certs[k]),
				      ll_cert_fingerprint(c)) == 0;
		if (dup || t->n == LL_SMIMEA_CERTS_MAX) {
			if (!dup)
				left_out(t, "more certificates than taken");
			ll_cert_free(&c);
			continue;
		}
		t->certs[t->n++] = c;
	}
	if (n > LL_SMIMEA_RRS_MAX)
		left_out(t, "more records than read");
	return 0;
}

void ll_smimea_take_free(struct ll_smimea_take *t)
{
	for (size_t i = 0; i < t->n; i++)
		ll_cert_free(&t->certs[i]);
	t->n = 0;
}

/* ------------------------------------------------------ the lookups */

struct pending {
	struct ll_smimea_query *q;
	int id;
	int done;
	int ub_err;
	struct ub_result *res;
};

static void answered(void *arg, int ub_err, struct ub_result *res)
{
	struct pending *p = arg;

	p->done = 1;
	p->ub_err = ub_err;
	p->res = res;
}

/* 1 if the configuration of CTX names a trust anchor of its own. */
static int conf_has_anchor(struct ub_ctx *ctx)
{
	static const char *const opts[] = { "trust-anchor-file",
					    "auto-trust-anchor-file",
					    "trust-anchor",
					    "trusted-keys-file" };
	int have = 0;

	for (size_t i = 0; i < LL_ARRAY_SIZE(opts) && !have; i++) {
		char *s = NULL;

		if (ub_ctx_get_option(ctx, opts[i], &s) == 0 && s != NULL)
			have = s[strspn(s, " \t\r\n")] != '\0';
		free(s);
	}
	return have;
}

/* A context that resolves as R says and validates. */
static struct ub_ctx *resolver(const struct ll_smimea_resolver *r, char *why,
			       size_t whylen)
{
	struct ub_ctx *ctx = ub_ctx_create();
	const char *what = "resolver";
	char *mods = NULL;
	int rc;

	if (ctx == NULL) {
		snprintf(why, whylen, "cannot make a resolver context");
		return NULL;
	}
	/* its complaints are ours to say: none on the standard error */
	rc = ub_ctx_debugout(ctx, NULL);
	if (rc == 0)
		rc = ub_ctx_async(ctx, 1); /* a thread, not a fork */
	if (rc == 0 && r->conf != NULL) {
		what = r->conf;
		rc = ub_ctx_config(ctx, r->conf);
	} else if (rc == 0) {
		what = "resolv.conf";
		rc = ub_ctx_resolvconf(ctx, NULL);
		if (rc == 0)
			rc = ub_ctx_hosts(ctx, NULL);
	}
	/* no answer counts here unless validated */
	if (rc == 0 && ub_ctx_get_option(ctx, "module-config", &mods) == 0 &&
	    (mods == NULL || strstr(mods, "validator") == NULL))
		rc = ub_ctx_set_option(ctx,
				       "module-config:", "validator iterator");
	free(mods);
	if (rc == 0 && r->trust_anchor_file != NULL) {
		what = r->trust_anchor_file;
		rc = ub_ctx_add_ta_file(ctx, r->trust_anchor_file);
	} else if (rc == 0 && !conf_has_anchor(ctx)) {
		what = LL_DNS_ROOT_KEY " (the root's trust anchor)";
		rc = ub_ctx_add_ta_file(ctx, LL_DNS_ROOT_KEY);
	}
	if (rc != 0) {
		snprintf(why, whylen, "DNS: %.200s: %s", what, ub_strerror(rc));
		ub_ctx_delete(ctx);
		return NULL;
	}
	return ctx;
}

/* Judge the answer P got. */
static void judge(struct pending *p, time_t now)
{
	struct ll_smimea_query *q = p->q;
	const struct ub_result *res = p->res;
	const void *data[LL_SMIMEA_RRS_MAX];
	size_t len[LL_SMIMEA_RRS_MAX], n = 0;

	if (!p->done) {
		snprintf(q->why, sizeof(q->why), "no answer in time");
		return;
	}
	if (p->ub_err != 0 || res == NULL) {
		snprintf(q->why, sizeof(q->why), "%s", ub_strerror(p->ub_err));
		return;
	}
	if (res->bogus) {
		q->status = LL_SMIMEA_BOGUS;
		snprintf(q->why, sizeof(q->why),
			 "DNSSEC validation failed (bogus): %.200s",
			 res->why_bogus ? res->why_bogus : "no reason given");
		return;
	}
	if (res->rcode != 0 && res->rcode != 3) { /* NOERROR, NXDOMAIN */
		snprintf(q->why, sizeof(q->why), "the DNS answered rcode %d",
			 res->rcode);
		return;
	}
	if (!res->secure) {
		q->status = LL_SMIMEA_INSECURE;
		snprintf(q->why, sizeof(q->why),
			 "the answer is not DNSSEC-signed (insecure)");
		return;
	}
	q->status = LL_SMIMEA_SECURE;
	q->ttl = res->ttl > 0 ? res->ttl : 0;
	for (; res->havedata && n < LL_SMIMEA_RRS_MAX && res->data[n] != NULL;
	     n++) {
		data[n] = res->data[n];
		len[n] = res->len[n] > 0 ? (size_t)res->len[n] : 0;
	}
	if (res->havedata && n == LL_SMIMEA_RRS_MAX && res->data[n] != NULL)
		n++; /* ll_smimea_take says some were not read */
	ll_smimea_take(&q->take, data, len, n, q->addr, now);
}

int ll_smimea_lookup(struct ll_smimea_query *q, size_t n,
		     const struct ll_smimea_resolver *r, char *why,
		     size_t whylen)
{
	struct pending *p = calloc(n ? n : 1, sizeof(*p));
	struct ub_ctx *ctx = NULL;
	struct timespec end, now;
	time_t clock = r->now ? r->now : time(NULL);
	size_t left = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		memset(&q[i].take, 0, sizeof(q[i].take));
		q[i].status = LL_SMIMEA_FAILED;
		q[i].ttl = 0;
		q[i].why[0] = '\0';
	}
	if (p == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	ctx = resolver(r, why, whylen);
	if (ctx == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char owner[LL_SMIMEA_OWNER_MAX];
		struct ll_error err = { 0 };
		int u;

		p[i].q = &q[i];
		if (ll_smimea_owner(owner, sizeof(owner), q[i].addr, &err) <
		    0) {
			snprintf(q[i].why, sizeof(q[i].why), "%s", err.message);
			p[i].done = 1;
			continue;
		}
		u = ub_resolve_async(ctx, owner, LL_SMIMEA_TYPE, DNS_CLASS_IN,
				     &p[i], answered, &p[i].id);
		/* the configuration is read at the first query: a trust
		 * anchor file that does not load fails them all */
		if (u == UB_INITFAIL) {
			snprintf(why, whylen,
				 "DNS: the resolver does not start (%.200s, "
				 "trust anchors %.200s)",
				 r->conf ? r->conf : "resolv.conf",
				 r->trust_anchor_file ?
					 r->trust_anchor_file :
					 "of the configuration or the root's");
			goto out;
		}
		if (u != 0) {
			snprintf(q[i].why, sizeof(q[i].why), "%s",
				 ub_strerror(u));
			p[i].done = 1;
			continue;
		}
		left++;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += r->timeout > 0 ? r->timeout : DEFAULT_TIMEOUT;
	while (left > 0) {
		struct pollfd pf = { .fd = ub_fd(ctx), .events = POLLIN };
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long)(end.tv_sec - now.tv_sec) * 1000 +
		     (end.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			break;
		if (poll(&pf, 1, (int)ms) > 0 && ub_process(ctx) != 0)
			break;
		left = 0;
		for (size_t i = 0; i < n; i++)
			left += !p[i].done;
	}
	for (size_t i = 0; i < n; i++) {
		if (q[i].why[0] != '\0')
			continue; /* not asked */
		if (!p[i].done)
			ub_cancel(ctx, p[i].id);
		judge(&p[i], clock);
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		ub_resolve_free(p[i].res);
	if (ctx != NULL)
		ub_ctx_delete(ctx);
	free(p);
	return rc;
}
