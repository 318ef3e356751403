/*
 * tsa_http.c - the time-stamping authority's front (RFC 3161 3.4):
 *
 *   POST /tsa   application/timestamp-query -> application/timestamp-reply
 *
 * The front parses the TimeStampReq (it holds no key) down to the
 * fields of tsa.h and hands them to the TSA keyholder, pipelined like
 * finalize's certificates (http.c): the keyholder signs while the
 * front reads the next request.  What the front refuses it answers
 * itself with a TimeStampResp of status rejection and the failInfo bit
 * that says why.  Every TimeStampResp goes out as 200: the HTTP status
 * is for HTTP's own failures (405 for another method, 415 for another
 * media type).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"
#include "keyholder.h"
#include "tsa.h"

#define TSA_CTYPE_QUERY "application/timestamp-query"
#define TSA_CTYPE_REPLY "application/timestamp-reply"

/* A rejection into RESP. */
static void reject(struct lld_resp *resp, enum lld_tsa_fail fail,
		   const char *why)
{
	unsigned char *der = NULL;
	size_t len = 0;

	if (lld_tsa_rejection(&der, &len, fail, why) < 0) {
		lld_resp_set(resp, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	lld_resp_set(resp, 200, TSA_CTYPE_REPLY, der, len);
	free(der);
}

void lld_tsa_fail(struct lld_resp *resp)
{
	reject(resp, LLD_TSA_SYSTEM_FAILURE, "the TSA cannot sign now");
}

int lld_tsa_handle(struct lld_srv *srv, const struct lld_req *req,
		   struct lld_resp *resp)
{
	struct lld_tsa_req r;
	struct ll_error err = { 0 };
	enum lld_tsa_fail fail = LLD_TSA_BAD_REQUEST;
	char why[LLD_TSA_WHY_MAX];
	struct lld_pending *p;

	if (strcmp(req->path, "/tsa") != 0)
		return -1;
	if (req->method != LLD_POST) {
		lld_resp_set(resp, 405, "text/plain",
			     "POST an " TSA_CTYPE_QUERY "\n",
			     sizeof("POST an " TSA_CTYPE_QUERY "\n") - 1);
		return 0;
	}
	if (!lld_ctype_is(req->ctype, TSA_CTYPE_QUERY)) {
		lld_resp_set(resp, 415, "text/plain",
			     "Content-Type: " TSA_CTYPE_QUERY "\n",
			     sizeof("Content-Type: " TSA_CTYPE_QUERY "\n") - 1);
		return 0;
	}
	if (lld_tsa_parse(&r, req->body, req->len, srv->conf->tsa_policy, &fail,
			  why, sizeof(why)) < 0) {
		reject(resp, fail, why);
		return 0;
	}
	if (srv->kht == NULL) {
		lld_tsa_fail(resp);
		return 0;
	}
	if (srv->inflight[LLD_PIPE_TSA] >= LLD_TSA_INFLIGHT_MAX) {
		reject(resp, LLD_TSA_SYSTEM_FAILURE, "the TSA is busy; retry");
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		lld_tsa_fail(resp);
		return 0;
	}
	if (lld_kh_tsa_send(srv->kht, &r, &err) < 0) {
		lld_report("time-stamp", &err);
		free(p);
		lld_tsa_fail(resp);
		return 0;
	}
	p->pipe = LLD_PIPE_TSA;
	resp->pending = p;
	return 0;
}

int lld_tsa_finish(struct lld_srv *srv, struct lld_pending *p)
{
	struct ll_error err = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;

	if (lld_kh_tsa_recv(srv->kht, &der, &len, &err) == 0) {
		lld_resp_set(&p->resp, 200, TSA_CTYPE_REPLY, der, len);
		free(der);
		return 0;
	}
	if (lld_kh_fd(srv->kht) < 0)
		return -1;
	lld_report("time-stamp", &err);
	lld_tsa_fail(&p->resp);
	return 0;
}
