/*
 * mail_dkim.c - DKIM verification of a reply (RFC 6376) with
 * libopendkim, its key lookups answered by libunbound.
 *
 * libopendkim asks for keys through four hooks (start a query, wait
 * for its reply, cancel it, and the service handle they share); here
 * they run libunbound queries in its threaded asynchronous mode, so a
 * wait honours libopendkim's time-out, and hand libopendkim the raw
 * answer packet, which it parses itself.  One library handle and one
 * resolver context per call: a reply is verified once.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

#include <opendkim/dkim.h>
#include <unbound.h>

#include "internal.h"
#include "mail.h"

#define DKIM_TIMEOUT 10 /* seconds for one key lookup */
#define DKIM_MAX_SIGS 4 /* signatures of the domain looked at */
#define DNS_CLASS_IN 1

/* ---- the resolver behind libopendkim ---- */

struct dns_q {
	struct ub_ctx *ctx;
	int async_id;
	int done; /* the callback ran */
	int ub_err; /* its error (0 none) */
	struct ub_result *res;
	unsigned char *buf; /* libopendkim's answer buffer */
	size_t buflen;
};

static void q_done(void *arg, int ub_err, struct ub_result *res)
{
	struct dns_q *q = arg;

	q->done = 1;
	q->ub_err = ub_err;
	q->res = res;
}

static int q_start(void *srv, int type, unsigned char *query,
		   unsigned char *buf, size_t buflen, void **qh)
{
	struct dns_q *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return DKIM_DNS_ERROR;
	q->ctx = srv;
	q->buf = buf;
	q->buflen = buflen;
	if (ub_resolve_async(q->ctx, (const char *)query, type, DNS_CLASS_IN, q,
			     q_done, &q->async_id) != 0) {
		free(q);
		return DKIM_DNS_ERROR;
	}
	*qh = q;
	return DKIM_DNS_SUCCESS;
}

static int q_cancel(void *srv, void *qh)
{
	struct dns_q *q = qh;

	(void)srv;
	if (q == NULL)
		return DKIM_DNS_SUCCESS;
	if (!q->done)
		ub_cancel(q->ctx, q->async_id);
	ub_resolve_free(q->res);
	free(q);
	return DKIM_DNS_SUCCESS;
}

static long ms_until(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(end->tv_sec - now.tv_sec) * 1000 +
	       (end->tv_nsec - now.tv_nsec) / 1000000;
}

static int q_wait(void *srv, void *qh, struct timeval *to, size_t *bytes,
		  int *error, int *dnssec)
{
	struct dns_q *q = qh;
	struct timespec end;
	long left;

	(void)srv;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += to != NULL ? to->tv_sec : DKIM_TIMEOUT;
	while (!q->done) {
		struct pollfd p = { .fd = ub_fd(q->ctx), .events = POLLIN };

		left = ms_until(&end);
		if (left <= 0)
			return DKIM_DNS_EXPIRED;
		if (poll(&p, 1, (int)left) > 0 && ub_process(q->ctx) != 0)
			return DKIM_DNS_ERROR;
	}
	if (q->ub_err != 0 || q->res == NULL || q->res->answer_packet == NULL) {
		if (error != NULL)
			*error = q->ub_err;
		return DKIM_DNS_ERROR;
	}
	/* libopendkim reads any answer without records as "no key": a
	 * server failure must not look like that */
	if ((q->res->rcode != 0 && q->res->rcode != 3) || q->res->bogus ||
	    (size_t)q->res->answer_len > q->buflen) {
		if (error != NULL)
			*error = q->res->rcode;
		return DKIM_DNS_ERROR;
	}
	memcpy(q->buf, q->res->answer_packet, (size_t)q->res->answer_len);
	*bytes = (size_t)q->res->answer_len;
	if (dnssec != NULL)
		*dnssec = q->res->secure ? DKIM_DNSSEC_SECURE :
			  q->res->bogus	 ? DKIM_DNSSEC_BOGUS :
					   DKIM_DNSSEC_INSECURE;
	return DKIM_DNS_SUCCESS;
}

/* The service handle is ours (freed after dkim_close): nothing to close,
 * and libopendkim must not make its own. */
static void q_close(void *srv)
{
	(void)srv;
}

static int q_init(void **srv)
{
	(void)srv;
	return -1;
}

static int resolver_new(struct ub_ctx **out, const char *conf,
			struct ll_error *err)
{
	struct ub_ctx *ctx = ub_ctx_create();
	int rc;

	if (ctx == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			      "cannot make a resolver context");
	rc = ub_ctx_async(ctx, 1);
	if (rc == 0 && conf != NULL && conf[0] != '\0') {
		rc = ub_ctx_config(ctx, conf);
	} else if (rc == 0) {
		rc = ub_ctx_resolvconf(ctx, NULL);
		if (rc == 0)
			rc = ub_ctx_hosts(ctx, NULL);
	}
	if (rc != 0) {
		ub_ctx_delete(ctx);
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "resolver %s: %s",
			      conf != NULL && conf[0] != '\0' ? conf :
								"configuration",
			      ub_strerror(rc));
	}
	*out = ctx;
	return 0;
}

/* ---- verification ---- */

/* Does the h= of SIG name From (RFC 6376 3.5: colon-separated, case
 * does not matter, white space may surround the names)? */
static int covers_from(DKIM_SIGINFO *sig)
{
	const char *h =
		(const char *)dkim_sig_gettagvalue(sig, false, (u_char *)"h");

	if (h == NULL)
		return 0;
	while (*h != '\0') {
		size_t n = strcspn(h, ":");
		size_t s = 0, e = n;

		while (s < e && strchr(" \t\r\n", h[s]) != NULL)
			s++;
		while (e > s && strchr(" \t\r\n", h[e - 1]) != NULL)
			e--;
		if (e - s == 4 && strncasecmp(h + s, "from", 4) == 0)
			return 1;
		h += n;
		if (*h == ':')
			h++;
	}
	return 0;
}

/*
 * Before any key is looked up: only signatures of the domain asked
 * about (the first DKIM_MAX_SIGS of them) are processed, so a message
 * cannot make us query arbitrary domains or many keys.
 */
static DKIM_CBSTAT prescreen(DKIM *d, DKIM_SIGINFO **sigs, int nsigs)
{
	const char *domain = dkim_get_user_context(d);
	int kept = 0;

	for (int i = 0; i < nsigs; i++) {
		const unsigned char *sd = dkim_sig_getdomain(sigs[i]);

		if (sd != NULL && strcasecmp((const char *)sd, domain) == 0 &&
		    kept < DKIM_MAX_SIGS)
			kept++;
		else
			dkim_sig_ignore(sigs[i]);
	}
	return DKIM_CBSTAT_CONTINUE;
}

/* Feed the header fields and the body of MSG (CRLF lines) to D. */
static int feed(DKIM *d, const struct ll_entity *e, const char *domain,
		struct ll_error *err)
{
	struct ll_field f;
	size_t pos = 0, n;
	DKIM_STAT st;

	while (ll_mime_next_field(&e->hdr, &pos, &f)) {
		n = f.raw.len;
		if (n >= 2 && f.raw.p[n - 2] == '\r' && f.raw.p[n - 1] == '\n')
			n -= 2;
		else if (n >= 1 && f.raw.p[n - 1] == '\n')
			n--;
		st = dkim_header(d, (u_char *)f.raw.p, n);
		if (st != DKIM_STAT_OK)
			return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
				      "DKIM: header field refused: %s",
				      dkim_getresultstr(st));
	}
	st = dkim_eoh(d);
	if (st == DKIM_STAT_NOSIG)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "no DKIM signature with d=%s", domain);
	if (st != DKIM_STAT_OK)
		return ll_err(err,
			      st == DKIM_STAT_SYNTAX ? LL_EPARSE : LL_EPOLICY,
			      LL_ECLASS_POLICY, "DKIM: %s",
			      dkim_geterror(d) != NULL ? dkim_geterror(d) :
							 dkim_getresultstr(st));
	if (e->body.len > 0) {
		st = dkim_body(d, (u_char *)e->body.p, e->body.len);
		if (st != DKIM_STAT_OK)
			return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
				      "DKIM: body refused: %s",
				      dkim_getresultstr(st));
	}
	(void)dkim_eom(d, NULL);
	return 0;
}

/* Judge the signatures of D after dkim_eom. */
static int judge_sigs(DKIM *d, const char *domain, struct ll_error *err)
{
	DKIM_SIGINFO **sigs = NULL;
	char why[200];
	int nsigs = 0, dns_failed = 0;

	snprintf(why, sizeof(why), "no DKIM signature with d=%s", domain);
	if (dkim_getsiglist(d, &sigs, &nsigs) != DKIM_STAT_OK || nsigs <= 0)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "%s", why);
	for (int i = 0; i < nsigs; i++) {
		DKIM_SIGINFO *s = sigs[i];
		const unsigned char *sd = dkim_sig_getdomain(s);
		int serr = dkim_sig_geterror(s);

		if ((dkim_sig_getflags(s) & DKIM_SIGFLAG_IGNORE) != 0 ||
		    sd == NULL || strcasecmp((const char *)sd, domain) != 0)
			continue;
		if (serr == DKIM_SIGERROR_KEYFAIL) {
			dns_failed = 1;
			snprintf(why, sizeof(why),
				 "the key of d=%s could not be looked up",
				 domain);
			continue;
		}
		if ((dkim_sig_getflags(s) & DKIM_SIGFLAG_PASSED) == 0 ||
		    serr != DKIM_SIGERROR_OK) {
			snprintf(why, sizeof(why),
				 "the signature of d=%s does not verify: %s",
				 domain,
				 serr != DKIM_SIGERROR_OK ?
					 dkim_sig_geterrorstr(serr) :
					 "signature mismatch");
			continue;
		}
		if (dkim_sig_getbh(s) != DKIM_SIGBH_MATCH) {
			snprintf(why, sizeof(why),
				 "the body hash of d=%s does not match",
				 domain);
			continue;
		}
		if (dkim_sig_gettagvalue(s, false, (u_char *)"l") != NULL) {
			snprintf(
				why, sizeof(why),
				"the signature of d=%s covers only part of the body (l=)",
				domain);
			continue;
		}
		if (!covers_from(s)) {
			snprintf(why, sizeof(why),
				 "the signature of d=%s does not cover From",
				 domain);
			continue;
		}
		return 0;
	}
	if (dns_failed)
		return ll_err(err, LL_EIO, LL_ECLASS_OS, "%s", why);
	return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "%s", why);
}

int lld_dkim_verify(const char *msg, size_t len, const char *domain,
		    const char *resolver_conf, struct ll_error *err)
{
	struct ll_buf crlf = { 0 };
	struct ub_ctx *ctx = NULL;
	struct ll_entity e;
	DKIM_LIB *lib = NULL;
	DKIM *d = NULL;
	DKIM_STAT st;
	unsigned int timeout = DKIM_TIMEOUT;
	int rc;

	if (len > LLD_REPLY_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_MIME,
			      "message larger than %d bytes", LLD_REPLY_MAX);
	/* libopendkim canonicalises CRLF lines */
	if (ll_has_bare_lf(msg, len)) {
		rc = ll_crlf_add(&crlf, msg, len);
		if (rc < 0) {
			rc = ll_err(err, rc, LL_ECLASS_OS, "out of memory");
			goto out;
		}
		msg = crlf.p;
		len = crlf.len;
	}
	rc = ll_mime_split(&e, msg, len, err);
	if (rc < 0)
		goto out;
	rc = resolver_new(&ctx, resolver_conf, err);
	if (rc < 0)
		goto out;
	lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			    "cannot start libopendkim");
		goto out;
	}
	(void)dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &timeout,
			   sizeof(timeout));
	dkim_dns_set_init(lib, q_init);
	dkim_dns_set_close(lib, q_close);
	dkim_dns_set_query_start(lib, q_start);
	dkim_dns_set_query_waitreply(lib, q_wait);
	dkim_dns_set_query_cancel(lib, q_cancel);
	(void)dkim_dns_set_query_service(lib, ctx);
	(void)dkim_set_prescreen(lib, prescreen);
	d = dkim_verify(lib, (const u_char *)"reply", NULL, &st);
	if (d == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS,
			    "cannot start DKIM verification: %s",
			    dkim_getresultstr(st));
		goto out;
	}
	(void)dkim_set_user_context(d, (void *)domain);
	rc = feed(d, &e, domain, err);
	if (rc < 0)
		goto out;
	rc = judge_sigs(d, domain, err);
out:
	if (d != NULL)
		dkim_free(d);
	if (lib != NULL)
		dkim_close(lib);
	if (ctx != NULL)
		ub_ctx_delete(ctx);
	ll_buf_free(&crlf);
	return rc;
}
