/*
 * dns_caa.c - may this CA issue S/MIME certificates for a mail domain?
 * RFC 8659 (CAA, the tree climbing) with the "issuemail" property of
 * RFC 9495.
 *
 * The relevant RRset of a domain X is CAA(X) if not empty, else that
 * of its parent, up to and including the top-level domain.  A lookup
 * that fails (SERVFAIL, time-out, DNSSEC bogus) is not an empty
 * RRset: the CA does not issue (RFC 8659 section 3).  The RDATA of
 * each record (flags, tag length, tag, value) is read here, bounded by
 * its length.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <unbound.h>

#include "internal.h"
#include "mail.h"

#define CAA_TYPE 257
#define DNS_CLASS_IN 1
#define CAA_TIMEOUT 10 /* seconds for one lookup */
#define CAA_CRITICAL 0x80
#define DOMAIN_MAX 253

/* ---- one lookup, bounded in time ---- */

struct caa_q {
	int done;
	int ub_err;
	struct ub_result *res;
};

static void caa_done(void *arg, int ub_err, struct ub_result *res)
{
	struct caa_q *q = arg;

	q->done = 1;
	q->ub_err = ub_err;
	q->res = res;
}

static int lookup(struct ub_result **out, struct ub_ctx *ctx, const char *name,
		  struct ll_error *err)
{
	struct caa_q q = { 0 };
	struct timespec end, now;
	int id = 0, rc;

	rc = ub_resolve_async(ctx, name, CAA_TYPE, DNS_CLASS_IN, &q, caa_done,
			      &id);
	if (rc != 0)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "CAA lookup of %s: %s",
			      name, ub_strerror(rc));
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += CAA_TIMEOUT;
	while (!q.done) {
		struct pollfd p = { .fd = ub_fd(ctx), .events = POLLIN };
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long)(end.tv_sec - now.tv_sec) * 1000 +
		       (end.tv_nsec - now.tv_nsec) / 1000000;
		if (left <= 0) {
			ub_cancel(ctx, id);
			return ll_err(err, LL_EIO, LL_ECLASS_OS,
				      "CAA lookup of %s timed out", name);
		}
		if (poll(&p, 1, (int)left) > 0 && ub_process(ctx) != 0) {
			ub_cancel(ctx, id);
			return ll_err(err, LL_EIO, LL_ECLASS_OS,
				      "CAA lookup of %s failed", name);
		}
	}
	if (q.ub_err != 0 || q.res == NULL) {
		ub_resolve_free(q.res);
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "CAA lookup of %s: %s",
			      name, ub_strerror(q.ub_err));
	}
	*out = q.res;
	return 0;
}

/* ---- the records ---- */

struct caa_rr {
	unsigned flags;
	char tag[16]; /* lower case; "" if longer than known tags */
	const unsigned char *value;
	size_t vlen;
};

/* One CAA RDATA (RFC 8659 section 4.1). */
static int caa_parse(struct caa_rr *rr, const unsigned char *p, size_t n)
{
	size_t tl;

	if (n < 2)
		return -1;
	rr->flags = p[0];
	tl = p[1];
	if (tl == 0 || 2 + tl > n)
		return -1;
	rr->tag[0] = '\0';
	if (tl < sizeof(rr->tag)) {
		for (size_t i = 0; i < tl; i++) {
			unsigned char c = p[2 + i];

			if (!((c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
				return -1;
			rr->tag[i] = (char)(c | 0x20);
		}
		rr->tag[tl] = '\0';
	}
	rr->value = p + 2 + tl;
	rr->vlen = n - 2 - tl;
	return 0;
}

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Does the issuemail VALUE name IDENTITY?  Its issuer-domain-name is
 * what comes before ';' without the white space around it (RFC 8659
 * section 4.2); parameters after ';' do not matter here.  An empty
 * name authorises nobody.
 */
static int names_issuer(const unsigned char *v, size_t n, const char *identity)
{
	size_t s = 0, e, len = strlen(identity);

	while (s < n && is_wsp(v[s]))
		s++;
	e = s;
	while (e < n && v[e] != ';')
		e++;
	while (e > s && is_wsp(v[e - 1]))
		e--;
	return e - s == len && len > 0 &&
	       strncasecmp((const char *)v + s, identity, len) == 0;
}

/* The record as zone-file-like text, printable ASCII, for messages. */
static void caa_text(char *buf, size_t cap, const struct caa_rr *rr)
{
	size_t o;
	int k = snprintf(buf, cap, "%u %s \"", rr->flags,
			 rr->tag[0] != '\0' ? rr->tag : "(long tag)");

	o = k > 0 && (size_t)k < cap ? (size_t)k : 0;
	for (size_t i = 0; i < rr->vlen && o + 2 < cap; i++) {
		unsigned char c = rr->value[i];

		buf[o++] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
	}
	if (o + 1 < cap)
		buf[o++] = '"';
	buf[o] = '\0';
}

static int known_tag(const char *tag)
{
	static const char *const known[] = { "issue", "issuewild", "iodef",
					     "issuemail" };

	for (size_t i = 0; i < LL_ARRAY_SIZE(known); i++)
		if (strcmp(tag, known[i]) == 0)
			return 1;
	return 0;
}

/* Judge the relevant RRset RES found at NAME: every record is read
 * before anything is allowed (an unknown critical property anywhere in
 * the set forbids, RFC 8659 section 4.1). */
static int judge_set(const struct ub_result *res, const char *name,
		     const char *identity, struct ll_error *err)
{
	char first[160] = "", text[160];
	int issuemail = 0, named = 0;

	for (int i = 0; res->data[i] != NULL; i++) {
		struct caa_rr rr;

		if (res->len[i] < 0 ||
		    caa_parse(&rr, (const unsigned char *)res->data[i],
			      (size_t)res->len[i]) < 0)
			return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				      "CAA at %s: a malformed record", name);
		caa_text(text, sizeof(text), &rr);
		if ((rr.flags & CAA_CRITICAL) && !known_tag(rr.tag))
			return ll_err(
				err, LL_EPOLICY, LL_ECLASS_POLICY,
				"CAA at %s: critical property we do not know: %s",
				name, text);
		if (strcmp(rr.tag, "issuemail") != 0)
			continue;
		if (names_issuer(rr.value, rr.vlen, identity))
			named = 1;
		else if (issuemail == 0)
			snprintf(first, sizeof(first), "%s", text);
		issuemail++;
	}
	if (issuemail > 0 && !named)
		return ll_err(
			err, LL_EPOLICY, LL_ECLASS_POLICY,
			"CAA at %s does not allow %s to issue for mail: %s%s",
			name, identity, first,
			issuemail > 1 ? " (and others)" : "");
	return 0;
}

/* A host name we may look up: 1..253 octets, labels 1..63 of
 * printable ASCII other than white space. */
static int domain_ok(const char *d)
{
	size_t n = strlen(d), lab = 0;

	if (n == 0 || n > DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || ++lab > 63)
			return 0;
	}
	return lab > 0;
}

int lld_caa_check(const char *domain, const char *identity,
		  const char *resolver_conf, struct ll_error *err)
{
	struct ub_result *res = NULL;
	struct ub_ctx *ctx = NULL;
	char name[DOMAIN_MAX + 2];
	const char *x;
	size_t n;
	int rc;

	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n > DOMAIN_MAX || identity == NULL || identity[0] == '\0')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "CAA check: no domain or no issuer identity");
	memcpy(name, domain, n);
	name[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] | 0x20);
	if (!domain_ok(name))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "CAA check: not a domain name");

	ctx = ub_ctx_create();
	if (ctx == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			      "cannot make a resolver context");
	rc = ub_ctx_async(ctx, 1);
	if (rc == 0 && resolver_conf != NULL && resolver_conf[0] != '\0') {
		rc = ub_ctx_config(ctx, resolver_conf);
	} else if (rc == 0) {
		rc = ub_ctx_resolvconf(ctx, NULL);
		if (rc == 0)
			rc = ub_ctx_hosts(ctx, NULL);
	}
	if (rc != 0) {
		rc = ll_err(err, LL_EIO, LL_ECLASS_OS, "resolver %s: %s",
			    resolver_conf != NULL && resolver_conf[0] != '\0' ?
				    resolver_conf :
				    "configuration",
			    ub_strerror(rc));
		goto out;
	}

	/* climb from the domain to its top-level domain */
	for (x = name;;) {
		const char *dot;

		rc = lookup(&res, ctx, x, err);
		if (rc < 0)
			goto out;
		if (res->bogus) {
			rc = ll_err(err, LL_EIO, LL_ECLASS_OS,
				    "CAA at %s: DNSSEC validation failed", x);
			goto out;
		}
		if (res->rcode != 0 &&
		    res->rcode != 3) { /* NOERROR, NXDOMAIN */
			rc = ll_err(err, LL_EIO, LL_ECLASS_OS,
				    "CAA lookup of %s failed (rcode %d)", x,
				    res->rcode);
			goto out;
		}
		if (res->havedata) {
			rc = judge_set(res, x, identity, err);
			goto out;
		}
		ub_resolve_free(res);
		res = NULL;
		dot = strchr(x, '.');
		if (dot == NULL)
			break; /* the top-level domain had none */
		x = dot + 1;
	}
	rc = 0; /* no CAA anywhere: allowed */
out:
	ub_resolve_free(res);
	ub_ctx_delete(ctx);
	return rc;
}
