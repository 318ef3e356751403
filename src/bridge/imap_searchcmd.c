/*
 * imap_searchcmd.c - the client's SEARCH and UID SEARCH (doc/bridge.md,
 * "SEARCH"): a program with a content key (TEXT, BODY, SUBJECT, FROM,
 * TO, CC, BCC, HEADER) is evaluated by the bridge for the S/MIME
 * messages of the mailbox, over their opened form, and by the server
 * for the others; the rest of the program (flags, dates, sizes, sets)
 * stays the server's.
 *
 * The S/MIME messages are found by the server's own search of their
 * Content-Type, WINDOW messages at a time; each window's are presented
 * (imap_each_presented: from the cache, or fetched and opened, then
 * cached) and matched one by one, so memory holds one message and the
 * UID lists.  The program then goes to the server with each content
 * key rewritten (imap_search_rewrite), under the client's tag: the
 * server's answer (SEARCH or ESEARCH) is the client's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge.h"
#include "imap_child.h"
#include "imap_search.h"

#define CLIENT_FD BRIDGE_CHILD_FD
/* Messages per own search and per presented batch: the server's answer
 * (at most WINDOW UIDs of 10 digits) fits one response line
 * (IMAP_LINE_MAX) and the UID list imap_each_presented's bound. */
#define WINDOW 256
/* The rewritten command: under the line limit servers set (Dovecot's
 * imap_max_line_length is 64 KiB). */
#define CMD_MAX (60u * 1024)
/* The messages the server says may be S/MIME; imap_smime_type decides
 * ("pkcs7-mime" also finds x-pkcs7-mime). */
#define CANDIDATES \
	"OR HEADER Content-Type pkcs7-mime HEADER Content-Type multipart/signed"

/* A growing list of UIDs. */
struct uids {
	unsigned long *v;
	size_t n, cap;
};

static int uids_add(struct uids *u, unsigned long x)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 64;
		unsigned long *v = realloc(u->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = x;
	return 0;
}

/* What the search gathers. */
struct found {
	const struct imap_search *q;
	struct uids got; /* the numbers of one own SEARCH's answer */
	struct uids smime; /* the S/MIME messages */
	struct uids match[IMAP_SEARCH_KEYS_MAX]; /* of them, key i's */
	int failed;
};

/* "* SEARCH n n ..." of an own search: its numbers into f->got. */
static int searched(struct imap_sess *s, void *arg)
{
	struct found *f = arg;
	const char *p = s->u.r.buf, *end = s->u.r.buf + s->u.r.len;
	unsigned long x;

	if (strncasecmp(p, "* SEARCH", 8) != 0 || (p[8] != ' ' && p[8] != '\r'))
		return 0;
	/* each a 32-bit number (a larger one overflowed the window's UID
	 * list), at most WINDOW of them */
	for (p += 8; *p == ' ';) {
		p++;
		if (imap_number(&p, end, &x) < 0 || x == 0 ||
		    f->got.n >= WINDOW || uids_add(&f->got, x) < 0) {
			f->failed = 1;
			break;
		}
	}
	return 1;
}

/* imap_each_presented's callback: one message matched. */
static int presented(void *arg, unsigned long uid, const char *data, size_t len,
		     int opened)
{
	struct found *f = arg;
	struct imap_mview *m = NULL;
	int rc = 0;

	if (imap_mview_new(&m, data, len) < 0)
		return -1;
	if (opened || imap_mview_smime(m)) {
		rc = uids_add(&f->smime, uid);
		for (size_t i = 0; rc == 0 && i < f->q->nkeys; i++)
			if (imap_match(m, &f->q->keys[i]))
				rc = uids_add(&f->match[i], uid);
	}
	imap_mview_free(&m);
	return rc;
}

/* The client's command answered by the bridge: "TAG KIND TEXT". */
static int answer(const char *cmd, const char *kind, const char *text)
{
	char line[300];
	size_t n = strcspn(cmd, " \r\n");

	snprintf(line, sizeof(line), "%.*s %s %s\r\n", n < 60 ? (int)n : 60,
		 cmd, kind, text);
	return cli_write_all(CLIENT_FD, line, strlen(line));
}

/* The S/MIME messages of the selected mailbox found and matched into
 * F: 0; 1, the server refused the first own search (nothing selected);
 * 2, it refused a later one (messages expunged meanwhile); or -1 (the
 * server is gone or its answer is not one, out of memory). */
static int gather(struct imap_sess *s, struct found *f)
{
	char cmd[200], *list = NULL;
	unsigned long count;
	int rc;

	/* the client's commands sent before this one answered first, so
	 * that no "* SEARCH" of theirs is taken for ours */
	rc = imap_own_command(s, "NOOP", NULL, NULL, NULL, 0);
	if (rc != 0)
		return rc;
	f->got.n = 0;
	rc = imap_own_command(s, "SEARCH *", searched, f, NULL, 0);
	if (rc != 0 || f->failed)
		return rc != 0 ? rc : -1;
	count = f->got.n == 1 ? f->got.v[0] : 0;
	list = malloc(WINDOW * 12 + 1);
	if (list == NULL)
		return -1;
	for (unsigned long lo = 1; lo <= count && rc == 0; lo += WINDOW) {
		unsigned long hi = count - lo < WINDOW ? count :
							 lo + WINDOW - 1;
		size_t n = 0;

		f->got.n = 0;
		snprintf(cmd, sizeof(cmd), "UID SEARCH %lu:%lu " CANDIDATES, lo,
			 hi);
		rc = imap_own_command(s, cmd, searched, f, NULL, 0);
		if (rc != 0 || f->failed) {
			rc = rc == 1 ? 2 : -1;
			break;
		}
		list[0] = '\0';
		for (size_t i = 0; i < f->got.n && n < WINDOW * 12; i++)
			n += (size_t)snprintf(list + n, WINDOW * 12 + 1 - n,
					      "%s%lu", i ? "," : "",
					      f->got.v[i]);
		if (n > 0)
			rc = imap_each_presented(s, list, presented, f);
	}
	free(list);
	return rc;
}

/* The program rewritten with F's sets into O: 0, or -1. */
static int rewrite(const char *cmd, size_t len, const struct imap_search *q,
		   struct found *f, struct imap_buf *o)
{
	struct imap_buf sets[IMAP_SEARCH_KEYS_MAX + 1] = { { 0 } };
	const char *match[IMAP_SEARCH_KEYS_MAX];
	int rc;

	imap_uid_set(f->smime.v, f->smime.n, &sets[0]);
	for (size_t i = 0; i < q->nkeys; i++) {
		imap_uid_set(f->match[i].v, f->match[i].n, &sets[i + 1]);
		match[i] = sets[i + 1].p;
	}
	rc = sets[0].failed ?
		     -1 :
		     imap_search_rewrite(cmd, len, q, sets[0].p, match, o);
	for (size_t i = 0; i <= q->nkeys; i++) {
		rc = sets[i].failed ? -1 : rc;
		free(sets[i].p);
	}
	return rc;
}

/*
 * The client's command CMD to the server as the client wrote it, when
 * the bridge has nothing to evaluate.  A synchronizing literal's "+"
 * was the bridge's, so a command carrying one goes with its strings
 * quoted (Q: the program read), or, when the bridge could not read
 * it, is answered BAD: the server's "+" would reach a client that no
 * longer waits for one.
 */
static int as_is(struct imap_sess *s, const char *cmd, size_t len,
		 const struct imap_search *q)
{
	/* no S/MIME message: each content key is written as it is */
	static const char *const none[IMAP_SEARCH_KEYS_MAX] = { "" };
	struct imap_buf o = { 0 };
	int rc;

	if (!imap_search_sync_literal(cmd, len))
		return imap_up_write(s, cmd, len);
	if (q == NULL)
		return answer(cmd, "BAD",
			      "a search program the bridge cannot "
			      "read, with a literal");
	if (imap_search_rewrite(cmd, len, q, "", none, &o) < 0)
		rc = answer(cmd, "NO", "a search string with a line break");
	else
		rc = imap_up_write(s, o.p, o.len);
	free(o.p);
	return rc;
}

int imap_search_command(struct imap_sess *s)
{
	const char *cmd = s->cr.buf;
	size_t len = s->cr.len;
	struct imap_search *q = malloc(sizeof(*q));
	struct found f = { 0 };
	struct imap_buf o = { 0 };
	int rc;

	if (q == NULL)
		return -1;
	f.q = q;
	rc = imap_search_parse(cmd, len, q);
	if (rc == IMAP_SEARCH_LIMIT) {
		rc = answer(cmd, "NO [LIMIT]",
			    "too many text keys in one SEARCH");
		goto out;
	}
	if (rc == IMAP_SEARCH_PASS || q->nkeys == 0) {
		/* nothing the server cannot see: its own answer */
		rc = as_is(s, cmd, len, rc == IMAP_SEARCH_OK ? q : NULL);
		goto out;
	}
	if (!q->charset_ok) {
		rc = answer(cmd, "NO [BADCHARSET (UTF-8 US-ASCII)]",
			    "search strings in UTF-8 only");
		goto out;
	}
	rc = gather(s, &f);
	if (rc == 1) {
		/* nothing selected: the server answers the client */
		rc = as_is(s, cmd, len, q);
		goto out;
	}
	if (rc == 2) {
		rc = answer(cmd, "NO [UNAVAILABLE]",
			    "the mailbox changed during the search; try again");
		goto out;
	}
	if (rc < 0)
		goto out;
	if (rewrite(cmd, len, q, &f, &o) < 0)
		rc = answer(cmd, "NO", "a search string with a line break");
	else if (o.len > CMD_MAX)
		rc = answer(cmd, "NO [LIMIT]",
			    "too many encrypted messages match; "
			    "narrow the search");
	else
		rc = imap_up_write(s, o.p, o.len);
out:
	free(o.p);
	free(f.got.v);
	free(f.smime.v);
	for (size_t i = 0; i < IMAP_SEARCH_KEYS_MAX; i++)
		free(f.match[i].v);
	free(q);
	return rc;
}
