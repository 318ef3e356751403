/*
 * imap_own.c - the bridge's own commands to the IMAP server in the
 * middle of a session (imap_child.h): what the FETCH and SEARCH
 * handlers ask before they answer the client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "imap_child.h"
#include "imap_rewrite.h"

/*
 * The prefix of the bridge's own tags, random per session: "LL" and a
 * count alone is a tag a client may use too, and a client's "LL1 NOOP"
 * pipelined before a FETCH had its OK taken for the end of the
 * bridge's own command (which then found no message, and the client
 * got its answer twice).  NULL when there is no randomness.
 */
static const char *own_prefix(void)
{
	static char prefix[16];
	unsigned char r[4];

	if (prefix[0] == '\0') {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return NULL;
		snprintf(prefix, sizeof(prefix), "LL%02x%02x%02x%02x.", r[0],
			 r[1], r[2], r[3]);
	}
	return prefix;
}

/* Misses of a batch from which a helper opens messages beside the
 * session's child (imap_helper.c): fewer are opened before a helper
 * would have loaded the keys. */
#define HELPER_MIN 8

int imap_own_command(struct imap_sess *s, const char *cmd, imap_unit_fn fn,
		     void *arg, char *text, size_t size)
{
	const char *prefix = own_prefix();
	char tag[32], line[IMAP_LINE_MAX + 64];
	size_t tl;
	int n;

	if (prefix == NULL)
		return -1;
	tl = (size_t)snprintf(tag, sizeof(tag), "%s%lu", prefix, ++s->own);
	n = snprintf(line, sizeof(line), "%s %s\r\n", tag, cmd);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    imap_up_write(s, line, (size_t)n) < 0)
		return -1;
	for (;;) {
		const char *p;
		int rc = 0;

		if (imap_up_unit(s) < 0)
			return -1;
		p = s->u.r.buf;
		if (strncmp(p, tag, tl) == 0 && p[tl] == ' ') {
			int ok = strncasecmp(p + tl + 1, "OK", 2) == 0;

			if (text != NULL && size > 0) {
				size_t k = strcspn(p + tl + 1, "\r\n");

				snprintf(text, size, "%.*s",
					 k < size ? (int)k : (int)size - 1,
					 p + tl + 1);
			}
			imap_reader_next(&s->u.r);
			return ok ? 0 : 1;
		}
		if (p[0] == '*' && fn != NULL)
			rc = fn(s, arg);
		if (rc == 0)
			rc = imap_respond(s) < 0 ? -1 : 0;
		imap_reader_next(&s->u.r);
		if (rc < 0)
			return -1;
	}
}

/* What a presenting's fetch of the misses needs per response, and until
 * the helper has answered its last message (imap_present_finish). */
struct imap_presenting {
	struct imap_sess *s;
	const char *where; /* the cache prefix (in wherebuf), or NULL */
	imap_presented_fn fn;
	void *arg;
	unsigned long uid; /* of the response being read */
	int failed;
	char wherebuf[IMAP_ARG_MAX + 64];
};

/* A message of the fetch of the misses opened (here or by the helper):
 * kept in the cache when opened, and given to p->fn. */
static int opened_cb(void *arg, unsigned long uid, const char *data, size_t len,
		     int opened)
{
	struct imap_presenting *p = arg;
	char id[IMAP_ARG_MAX + 400];

	if (opened && p->where != NULL &&
	    (size_t)snprintf(id, sizeof(id), "%s\n%lu", p->where, uid) <
		    sizeof(id))
		imap_cache_put(imap_opener_cache(&p->s->op), id, data, len);
	return p->fn(p->arg, uid, data, len, opened);
}

/* imap_rewrite_literals' callback: the whole message MSG of the
 * response for p->uid, to be opened (imap_open_async: perhaps by the
 * helper, its answer given to opened_cb later).  It answers an empty
 * literal: the rewritten unit is thrown away. */
static int present(void *arg, const char *msg, size_t n, char **out,
		   size_t *outlen)
{
	struct imap_presenting *p = arg;

	if (imap_open_async(&p->s->op, p->uid, msg, n, opened_cb, p) < 0)
		p->failed = 1;
	*out = strdup("");
	*outlen = 0;
	return *out == NULL || p->failed ? -1 : 0;
}

/* A response of the fetch of the misses: "* N FETCH (UID u BODY[] {n}"
 * CRLF message ")". */
static int fetched(struct imap_sess *s, void *arg)
{
	struct imap_presenting *p = arg;
	const char *u = s->u.r.buf, *lf = memchr(u, '\n', s->u.r.len);
	char uid[16], *out;
	size_t olen;
	int rc;

	if (lf == NULL || strstr(u, " FETCH ") == NULL ||
	    imap_fetch_uid(uid, u, (size_t)(lf - u)) < 0)
		return 0;
	p->uid = strtoul(uid, NULL, 10);
	rc = imap_rewrite_literals(u, s->u.r.len, present, p, &out, &olen);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 0; /* a flag change, not the message */
	free(out);
	return 1;
}

int imap_present_start(struct imap_presenting **out, struct imap_sess *s,
		       const char *uids, imap_presented_fn fn, void *arg)
{
	char id[IMAP_ARG_MAX + 400];
	char *miss = NULL, *cmd = NULL;
	const char *p = uids;
	struct imap_presenting *pr;
	size_t mlen = 0, nmiss = 0, n = strlen(uids);
	int rc = 0;

	*out = NULL;
	if (n > IMAP_LINE_MAX / 2)
		return -1;
	pr = calloc(1, sizeof(*pr));
	if (pr == NULL)
		return -1;
	*out = pr;
	pr->s = s;
	pr->fn = fn;
	pr->arg = arg;
	pr->where = imap_where(s, pr->wherebuf, sizeof(pr->wherebuf));
	miss = malloc(n + 1);
	cmd = malloc(n + 64);
	if (miss == NULL || cmd == NULL) {
		rc = -1;
		goto out;
	}
	while (*p != '\0') {
		char *end, *data;
		unsigned long uid = strtoul(p, &end, 10);
		size_t len;

		if (end == p || (*end != ',' && *end != '\0')) {
			rc = -1;
			goto out;
		}
		if (pr->where != NULL &&
		    (size_t)snprintf(id, sizeof(id), "%s\n%lu", pr->where,
				     uid) < sizeof(id) &&
		    imap_cache_get(imap_opener_cache(&s->op), id, &data,
				   &len) == 1) {
			rc = fn(arg, uid, data, len, 1);
			free(data);
			if (rc < 0)
				goto out;
		} else {
			mlen += (size_t)snprintf(miss + mlen, n + 1 - mlen,
						 "%s%.*s", mlen ? "," : "",
						 (int)(end - p), p);
			nmiss++;
		}
		p = *end == ',' ? end + 1 : end;
	}
	if (mlen > 0) {
		/* a batch to open: on both cores from now on (a failure
		 * to start the helper only costs the time) */
		if (nmiss >= HELPER_MIN)
			imap_helper_start(&s->op);
		snprintf(cmd, n + 64, "UID FETCH %s (UID BODY.PEEK[])", miss);
		/* a NO: what the server no longer has is left out */
		rc = imap_own_command(s, cmd, fetched, pr, NULL, 0);
		rc = rc < 0 || pr->failed ? -1 : 0;
	}
out:
	free(miss);
	free(cmd);
	if (rc < 0)
		pr->failed = 1;
	return rc;
}

int imap_present_finish(struct imap_presenting **pp)
{
	struct imap_presenting *pr = *pp;
	int rc;

	if (pr == NULL)
		return 0;
	*pp = NULL;
	rc = pr->failed ? -1 : imap_open_wait(&pr->s->op, pr);
	/* a failure: nothing the helper still has may reach PR, freed
	 * below (the session ends on it anyway) */
	if (rc < 0)
		imap_helper_stop(&pr->s->op);
	/* what this batch opened and used, in one transaction */
	imap_cache_flush(pr->s->op.cache);
	free(pr);
	return rc;
}

int imap_each_presented(struct imap_sess *s, const char *uids,
			imap_presented_fn fn, void *arg)
{
	struct imap_presenting *pr;
	int rc = imap_present_start(&pr, s, uids, fn, arg);

	return imap_present_finish(&pr) < 0 || rc < 0 ? -1 : 0;
}
