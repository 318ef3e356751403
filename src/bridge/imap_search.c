/*
 * imap_search.c - the client's search program read and written again
 * with its content keys evaluated by the bridge for S/MIME messages
 * (imap_search.h).  Pure: (ptr, len) in, bounded (key count, depth,
 * string sizes), nothing allocated but the output.
 *
 * The reader knows every key of RFC 3501 and RFC 9051 and the WITHIN
 * extension's OLDER/YOUNGER; anything else (another extension's key,
 * a malformed program) makes the program one the bridge does not read:
 * it goes to the server as it is, which answers it (or rejects it)
 * as if the bridge were not there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_parse.h"
#include "imap_search.h"

/* The reader's state: the command and where it is. */
struct ps {
	const char *cmd, *p, *end;
	struct imap_search *q;
	int rc; /* IMAP_SEARCH_PASS or _LIMIT once failed */
};

static const char *const content_names[] = {
	[IMAP_SKEY_TEXT] = "TEXT",	 [IMAP_SKEY_BODY] = "BODY",
	[IMAP_SKEY_SUBJECT] = "SUBJECT", [IMAP_SKEY_FROM] = "FROM",
	[IMAP_SKEY_TO] = "TO",		 [IMAP_SKEY_CC] = "CC",
	[IMAP_SKEY_BCC] = "BCC",	 [IMAP_SKEY_HEADER] = "HEADER",
};

/* Keys without arguments. */
static const char *const flag_keys[] = {
	"ALL",	     "ANSWERED", "DELETED", "FLAGGED",	  "NEW",
	"OLD",	     "RECENT",	 "SEEN",    "UNANSWERED", "UNDELETED",
	"UNFLAGGED", "UNSEEN",	 "DRAFT",   "UNDRAFT",
};

/* Keys with one date, number or flag argument (an astring: a date may
 * be quoted). */
static const char *const arg_keys[] = {
	"BEFORE", "ON",	     "SINCE", "SENTBEFORE", "SENTON",  "SENTSINCE",
	"LARGER", "SMALLER", "OLDER", "YOUNGER",    "KEYWORD", "UNKEYWORD",
};

static int in(const char *word, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(word, v[i]) == 0)
			return 1;
	return 0;
}

static int fail(struct ps *s, int rc)
{
	if (s->rc == IMAP_SEARCH_OK)
		s->rc = rc;
	return -1;
}

/* An atom at s->p (up to a space, a parenthesis or the line end) into
 * W (SIZE bytes). */
static int atom(struct ps *s, char *w, size_t size)
{
	size_t n = 0;

	while (s->p < s->end && *s->p != ' ' && *s->p != '(' && *s->p != ')' &&
	       *s->p != '\r' && *s->p != '\n' && *s->p != '"' && *s->p != '{' &&
	       (unsigned char)*s->p > 0x20 && (unsigned char)*s->p < 0x7f) {
		if (n + 1 >= size)
			return fail(s, IMAP_SEARCH_PASS);
		w[n++] = *s->p++;
	}
	w[n] = '\0';
	return n > 0 ? 0 : fail(s, IMAP_SEARCH_PASS);
}

/* One space, unless the program goes on with ')' or ends. */
static int space(struct ps *s)
{
	if (s->p < s->end && *s->p == ' ') {
		s->p++;
		return 0;
	}
	return fail(s, IMAP_SEARCH_PASS);
}

/* An astring into OUT (SIZE bytes), its span in *START and *END; a
 * literal one noted in *LIT. */
static int astring(struct ps *s, char *out, size_t size, size_t *start,
		   size_t *end, int *lit)
{
	const char *p = s->p;

	*start = (size_t)(p - s->cmd);
	*lit = p < s->end && *p == '{';
	if (imap_arg(&p, s->end, out, size) < 0)
		return fail(s, IMAP_SEARCH_PASS);
	/* imap_arg takes a space after the string: leave it (a literal
	 * ends after its bytes, which may end in a space) */
	if (*lit)
		p = (const char *)memchr(s->p, '}', (size_t)(s->end - s->p)) +
		    3 + strlen(out);
	else if (p[-1] == ' ')
		p--;
	s->p = p;
	*end = (size_t)(p - s->cmd);
	return 0;
}

/* An astring that is not a content key's: a literal is noted, to be
 * written again as a quoted string. */
static int other_astring(struct ps *s)
{
	struct imap_search *q = s->q;
	struct imap_sliteral *l;
	size_t start, end;
	int lit;

	if (q->nlits >= IMAP_SEARCH_KEYS_MAX)
		return fail(s, IMAP_SEARCH_LIMIT);
	l = &q->lits[q->nlits];
	if (astring(s, l->value, sizeof(l->value), &start, &end, &lit) < 0)
		return -1;
	if (lit) {
		l->start = start;
		l->end = end;
		q->nlits++;
	}
	return 0;
}

static int content_key(struct ps *s, enum imap_skey k, size_t start, int depth)
{
	struct imap_search *q = s->q;
	struct imap_sterm *t;
	size_t a, b;
	int lit;

	if (q->nkeys >= IMAP_SEARCH_KEYS_MAX)
		return fail(s, IMAP_SEARCH_LIMIT);
	t = &q->keys[q->nkeys];
	t->key = k;
	t->depth = depth;
	t->field[0] = '\0';
	if (k == IMAP_SKEY_HEADER &&
	    (space(s) < 0 ||
	     astring(s, t->field, sizeof(t->field), &a, &b, &lit) < 0))
		return -1;
	if (space(s) < 0 ||
	    astring(s, t->value, sizeof(t->value), &a, &b, &lit) < 0)
		return -1;
	t->start = start;
	t->end = b;
	q->nkeys++;
	return 0;
}

static int key(struct ps *s, int depth);

/* "(" key *(SP key) ")" */
static int list(struct ps *s, int depth)
{
	s->p++;
	for (;;) {
		if (key(s, depth + 1) < 0)
			return -1;
		if (s->p < s->end && *s->p == ')') {
			s->p++;
			return 0;
		}
		if (space(s) < 0)
			return -1;
	}
}

/* A sequence set: digits, '*', ':', ',' and "$" (SEARCHRES). */
static int is_seqset(const char *w)
{
	return w[strspn(w, "0123456789*:,$")] == '\0';
}

static int key(struct ps *s, int depth)
{
	size_t start = (size_t)(s->p - s->cmd);
	char w[64];

	if (depth > IMAP_SEARCH_DEPTH_MAX)
		return fail(s, IMAP_SEARCH_PASS);
	if (s->p < s->end && *s->p == '(')
		return list(s, depth);
	if (atom(s, w, sizeof(w)) < 0)
		return -1;
	for (size_t k = 0; k < sizeof(content_names) / sizeof(*content_names);
	     k++)
		if (strcasecmp(w, content_names[k]) == 0)
			/* rewritten, it sits two levels deeper (OR (K ...)):
			 * the bound holds for what goes upstream too */
			return depth + 2 > IMAP_SEARCH_DEPTH_MAX ?
				       fail(s, IMAP_SEARCH_PASS) :
				       content_key(s, (enum imap_skey)k, start,
						   depth);
	if (in(w, flag_keys, sizeof(flag_keys) / sizeof(*flag_keys)))
		return 0;
	if (in(w, arg_keys, sizeof(arg_keys) / sizeof(*arg_keys)))
		return space(s) < 0 ? -1 : other_astring(s);
	if (strcasecmp(w, "UID") == 0) {
		if (space(s) < 0 || atom(s, w, sizeof(w)) < 0)
			return -1;
		return is_seqset(w) ? 0 : fail(s, IMAP_SEARCH_PASS);
	}
	if (strcasecmp(w, "NOT") == 0)
		return space(s) < 0 ? -1 : key(s, depth + 1);
	if (strcasecmp(w, "OR") == 0)
		return space(s) < 0 || key(s, depth + 1) < 0 || space(s) < 0 ?
			       -1 :
			       key(s, depth + 1);
	return is_seqset(w) ? 0 : fail(s, IMAP_SEARCH_PASS);
}

/* "tag" SP ["UID" SP] "SEARCH": 1 and *P after it, or 0. */
static int verb(const char *cmd, size_t len, const char **p, int *uid)
{
	const char *end = cmd + len, *sp = memchr(cmd, ' ', len);

	*uid = 0;
	if (sp == NULL || sp == cmd)
		return 0;
	sp++;
	if ((size_t)(end - sp) > 4 && strncasecmp(sp, "UID ", 4) == 0) {
		*uid = 1;
		sp += 4;
	}
	if ((size_t)(end - sp) < 6 || strncasecmp(sp, "SEARCH", 6) != 0 ||
	    (end - sp > 6 && sp[6] != ' ' && sp[6] != '\r' && sp[6] != '\n'))
		return 0;
	*p = sp + 6;
	return 1;
}

int imap_search_verb(const char *cmd, size_t len)
{
	const char *p;
	int uid;

	return verb(cmd, len, &p, &uid);
}

/* RETURN (options): skipped, the server answers them. */
static int return_opts(struct ps *s)
{
	int open = 0;

	if (space(s) < 0 || s->p >= s->end || *s->p != '(')
		return fail(s, IMAP_SEARCH_PASS);
	do {
		if (s->p >= s->end || *s->p == '\r' || *s->p == '\n' ||
		    *s->p == '{' || *s->p == '"')
			return fail(s, IMAP_SEARCH_PASS);
		if (*s->p == '(' && ++open > 2)
			return fail(s, IMAP_SEARCH_PASS);
		if (*s->p == ')')
			open--;
		s->p++;
	} while (open > 0);
	return 0;
}

int imap_search_parse(const char *cmd, size_t len, struct imap_search *q)
{
	struct ps s = { cmd, NULL, cmd + len, q, IMAP_SEARCH_OK };
	char w[64];
	const char *after;

	q->nkeys = 0;
	q->nlits = 0;
	q->charset_ok = 1;
	if (!verb(cmd, len, &s.p, &q->uid))
		return IMAP_SEARCH_PASS;
	/* the line ends in CRLF (or LF): the program ends before it */
	if (s.end > s.p && s.end[-1] == '\n')
		s.end--;
	if (s.end > s.p && s.end[-1] == '\r')
		s.end--;
	if (space(&s) < 0)
		return s.rc;
	after = s.p;
	if (atom(&s, w, sizeof(w)) == 0 && strcasecmp(w, "RETURN") == 0) {
		if (return_opts(&s) < 0 || space(&s) < 0)
			return s.rc;
		after = s.p;
	}
	s.p = after;
	s.rc = IMAP_SEARCH_OK;
	if (atom(&s, w, sizeof(w)) == 0 && strcasecmp(w, "CHARSET") == 0) {
		char cs[64];
		size_t a, b;
		int lit;

		if (space(&s) < 0 ||
		    astring(&s, cs, sizeof(cs), &a, &b, &lit) < 0 ||
		    space(&s) < 0)
			return s.rc;
		q->charset_ok = strcasecmp(cs, "UTF-8") == 0 ||
				strcasecmp(cs, "US-ASCII") == 0;
		after = s.p;
	}
	s.p = after;
	s.rc = IMAP_SEARCH_OK;
	for (;;) {
		if (key(&s, 0) < 0)
			return s.rc;
		if (s.p == s.end)
			return IMAP_SEARCH_OK;
		if (space(&s) < 0)
			return s.rc;
	}
}

/* S as a quoted string into O: -1 when it cannot be one. */
static int quoted(struct imap_buf *o, const char *s)
{
	if (strpbrk(s, "\r\n") != NULL)
		return -1;
	imap_buf_add(o, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			imap_buf_add(o, "\\", 1);
		imap_buf_add(o, s, 1);
	}
	imap_buf_add(o, "\"", 1);
	return 0;
}

/* The key T itself, its strings quoted. */
static int term(struct imap_buf *o, const struct imap_sterm *t)
{
	const char *name = content_names[t->key];

	imap_buf_add(o, name, strlen(name));
	imap_buf_add(o, " ", 1);
	if (t->key == IMAP_SKEY_HEADER) {
		if (quoted(o, t->field) < 0)
			return -1;
		imap_buf_add(o, " ", 1);
	}
	return quoted(o, t->value);
}

static int replace(struct imap_buf *o, const struct imap_sterm *t,
		   const char *smime, const char *match)
{
	/* the status field is the bridge's word, never the server's: a
	 * plain message's own (forged) one must not match, so every
	 * message is judged by the bridge (only S/MIME ones can) */
	if (t->key == IMAP_SKEY_HEADER &&
	    strcasecmp(t->field, "X-Letterlock-Status") == 0)
		smime = "1:*";
	if (smime[0] == '\0')
		return term(o, t);
	if (match[0] != '\0')
		imap_buf_add(o, "OR ", 3);
	imap_buf_add(o, "(", 1);
	if (term(o, t) < 0)
		return -1;
	imap_buf_add(o, " NOT UID ", 9);
	imap_buf_add(o, smime, strlen(smime));
	imap_buf_add(o, ")", 1);
	if (match[0] != '\0') {
		imap_buf_add(o, " UID ", 5);
		imap_buf_add(o, match, strlen(match));
	}
	return 0;
}

int imap_search_rewrite(const char *cmd, size_t len,
			const struct imap_search *q, const char *smime,
			const char *const *match, struct imap_buf *o)
{
	size_t at = 0, k = 0, l = 0;

	/* the content keys and the other literals, in the order of the
	 * command (each list is in order) */
	while (k < q->nkeys || l < q->nlits) {
		int is_key =
			l == q->nlits ||
			(k < q->nkeys && q->keys[k].start < q->lits[l].start);
		size_t start = is_key ? q->keys[k].start : q->lits[l].start;

		imap_buf_add(o, cmd + at, start - at);
		if (is_key) {
			if (replace(o, &q->keys[k], smime, match[k]) < 0)
				return -1;
			at = q->keys[k++].end;
		} else {
			if (quoted(o, q->lits[l].value) < 0)
				return -1;
			at = q->lits[l++].end;
		}
	}
	imap_buf_add(o, cmd + at, len - at);
	return o->failed ? -1 : 0;
}

int imap_search_sync_literal(const char *cmd, size_t len)
{
	const char *p = cmd, *end = cmd + len;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n, k;
		int sync;

		if (lf == NULL)
			return 0;
		k = (size_t)(lf - p);
		if (k > 0 && p[k - 1] == '\r')
			k--;
		if (imap_literal_size(p, k, &n, &sync) < 0)
			return 0; /* the last line */
		if (sync)
			return 1;
		if (n > (size_t)(end - (lf + 1)))
			return 0;
		p = lf + 1 + n;
	}
	return 0;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

void imap_uid_set(unsigned long *v, size_t n, struct imap_buf *o)
{
	char one[48];
	size_t i = 0;

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_ulong);
	while (i < n) {
		size_t j = i;
		int k;

		while (j + 1 < n && (v[j + 1] == v[j] || v[j + 1] == v[j] + 1))
			j++;
		if (v[j] == v[i])
			k = snprintf(one, sizeof(one), "%s%lu", i ? "," : "",
				     v[i]);
		else
			k = snprintf(one, sizeof(one), "%s%lu:%lu",
				     i ? "," : "", v[i], v[j]);
		imap_buf_add(o, one, (size_t)k);
		i = j + 1;
	}
	if (o->p == NULL)
		imap_buf_add(o, "", 0);
}
