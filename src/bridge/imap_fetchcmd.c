/*
 * imap_fetchcmd.c - the client's FETCH answered by the bridge
 * (imap_fetchcmd.h; doc/bridge.md, "FETCH answered by the bridge").  A FETCH of content items
 * (BODYSTRUCTURE, ENVELOPE, BODY[section], RFC822.SIZE, ...) of an
 * S/MIME message cannot be passed to the server: its answers describe
 * the ciphertext.  So the handler asks the server which messages of
 * the set are S/MIME, lets the server answer the others, and answers
 * the content items of the S/MIME ones from the message as the client
 * is to see it (imap_each_presented: the cache, or fetched and opened),
 * the other items (FLAGS, INTERNALDATE, ...) from the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge.h"
#include "imap_body.h"
#include "imap_child.h"
#include "imap_fetchcmd.h"
#include "imap_rewrite.h"

/*
 * The item the bridge adds to its own FETCHes of a batch: it marks a
 * response as the answer to the bridge's command and not to a client's
 * command still running; without PEEK it sets \Seen as the client's
 * item would have.
 */
#define MARK_NAME "BODY[HEADER.FIELDS (CONTENT-TYPE)]"
#define MARK_PEEK "BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE)]"
#define MARK_SECTION "HEADER.FIELDS (CONTENT-TYPE)"
/* The fields of the bridge's first question (step 1), which tell the
 * messages it presents; its responses' mark as MARK_NAME is the batches' */
#define CLASSIFY_FIELDS "HEADER.FIELDS (CONTENT-TYPE X-LETTERLOCK-STATUS)"

/* The messages of one FETCH at most: their list is kept while the
 * answer is made (24 bytes each). */
#define MSGS_MAX 2000000
/* A batch: what is presented at once.  Two are held at a time (the
 * next one is opened while one is answered), so 16 MiB at most by the
 * server's sizes, but for a larger message, which is a batch alone and
 * is not opened beside another. */
#define BATCH_MSGS 200
#define BATCH_BYTES (8u * 1024 * 1024)
#define BATCH_UIDS 2048 /* bytes of its UID list */
/* the client's items that go to the server, at most */
#define OTHER_MAX 4096

/* One message of the client's set, as the server named it. */
struct fetch_msg {
	unsigned long uid;
	size_t size; /* the server's RFC822.SIZE, to size batches */
	/* answered by the bridge: S/MIME, or a plain message with a
	 * status field of its own (which the server would pass on) */
	int presented;
	/* while its batch is answered: the presented message */
	char *data;
	size_t len;
	struct imap_msg *m;
	int answered;
};

struct fetch {
	struct imap_sess *s;
	struct imap_fetch_cmd cmd;
	struct imap_items items;
	int seen; /* an item of the client's sets \Seen */
	int asked_mark; /* the client asked for the mark's section */
	struct fetch_msg *v;
	size_t n, cap;
	size_t from, to; /* the batch answered: v[from..to) */
	size_t next; /* v[to..next): the batch being opened meanwhile */
	int too_many; /* over MSGS_MAX */
	int unread; /* a message the server has could not be presented */
	char text[400]; /* the server's first NO or BAD */
};

/* Is IT the section the mark asks for? */
static int is_mark_item(const struct imap_item *it)
{
	return it->kind == IMAP_ITEM_SECTION && !it->partial &&
	       strcasecmp(it->section, MARK_SECTION) == 0;
}

/* Is the server's item IT one the bridge answers for an S/MIME
 * message (it goes, then, in place of the server's)? */
static int server_content(const struct imap_resp_item *it)
{
	static const char *const names[] = {
		"RFC822.SIZE", "ENVELOPE",	"BODY",	       "BODYSTRUCTURE",
		"RFC822",      "RFC822.HEADER", "RFC822.TEXT",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (imap_resp_item_is(it, names[i]))
			return 1;
	return it->namelen > 5 && strncasecmp(it->name, "BODY[", 5) == 0;
}

static int write_client(const char *p, size_t n)
{
	return cli_write_all(BRIDGE_CHILD_FD, p, n);
}

/* Step 1's response: "* N FETCH (UID u RFC822.SIZE z BODY[HEADER.FIELDS
 * (CONTENT-TYPE X-LETTERLOCK-STATUS)] {n} ...)": the message to the
 * list, presented by the bridge or not. */
static int classify(struct imap_sess *s, void *arg)
{
	struct fetch *f = arg;
	struct imap_resp_item v[IMAP_RESP_ITEMS_MAX];
	struct fetch_msg m = { 0 };
	const char *hdr = NULL, *ct;
	size_t n, hlen = 0, ctlen;
	unsigned long seq;
	int marked = 0;

	if (imap_fetch_resp_items(s->u.r.buf, s->u.r.len, &seq, v, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (imap_resp_item_is(&v[i], "UID"))
			m.uid = strtoul(v[i].value, NULL, 10);
		else if (imap_resp_item_is(&v[i], "RFC822.SIZE"))
			m.size = strtoul(v[i].value, NULL, 10);
		else if (imap_resp_item_is(&v[i], "BODY[" CLASSIFY_FIELDS "]"))
			marked = imap_resp_string(v[i].value, v[i].valuelen,
						  &hdr, &hlen) == 0;
	}
	if (!marked || m.uid == 0)
		return 0; /* not the answer to the bridge's command */
	if (f->n == MSGS_MAX) {
		f->too_many = 1;
		return 1;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		struct fetch_msg *nv = realloc(f->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		f->v = nv;
		f->cap = cap;
	}
	/* a plain message's own status field would reach the client in
	 * the server's HEADER.FIELDS and BODY[HEADER], and its RFC822.SIZE
	 * would not be the length of the BODY[] without it: such a
	 * message is presented as an S/MIME one is (opened: the field
	 * dropped and said, imap_open_message) */
	m.presented =
		(imap_header_value(hdr, hlen, "Content-Type", &ct, &ctlen) &&
		 imap_smime_type(ct, ctlen)) ||
		imap_header_value(hdr, hlen, "X-Letterlock-Status", &ct,
				  &ctlen);
	f->v[f->n++] = m;
	return 1;
}

/* The message of the two batches with UID UID not answered yet, or
 * NULL. */
static struct fetch_msg *in_batch(struct fetch *f, unsigned long uid)
{
	for (size_t i = f->from; i < f->next; i++)
		if (f->v[i].uid == uid && f->v[i].presented &&
		    !f->v[i].answered)
			return &f->v[i];
	return NULL;
}

/* imap_each_presented's callback: the presented message kept (and
 * parsed) until its answer is made. */
static int keep(void *arg, unsigned long uid, const char *data, size_t len,
		int opened)
{
	struct fetch *f = arg;
	struct fetch_msg *m = in_batch(f, uid);

	(void)opened; /* not opened: the original with the status */
	if (m == NULL || m->data != NULL)
		return 0;
	m->data = malloc(len + 1);
	if (m->data == NULL)
		return -1;
	memcpy(m->data, data, len);
	m->len = len;
	return imap_msg_parse(m->data, len, &m->m);
}

/*
 * A response of the bridge's FETCH of the batch to the client: the
 * server's items but the mark (and, for an S/MIME message, any content
 * item: the bridge's take their place) and, for an S/MIME message, the
 * client's content items answered from the presented message.  1 when
 * it was the bridge's, 0 when it is not (another command's), -1 on
 * failure.
 */
static int answer(struct imap_sess *s, void *arg)
{
	struct fetch *f = arg;
	struct imap_resp_item v[IMAP_RESP_ITEMS_MAX];
	struct imap_buf o = { 0 };
	struct fetch_msg *m = NULL;
	size_t n, k = 0;
	unsigned long seq, uid = 0;
	char head[64];
	int marked = 0, presented, rc;

	if (imap_fetch_resp_items(s->u.r.buf, s->u.r.len, &seq, v, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (imap_resp_item_is(&v[i], "UID"))
			uid = strtoul(v[i].value, NULL, 10);
		else if (imap_resp_item_is(&v[i], MARK_NAME))
			marked = 1;
	}
	if (!marked)
		return 0;
	for (size_t i = f->from; i < f->to && m == NULL; i++)
		if (f->v[i].uid == uid)
			m = &f->v[i];
	presented = m != NULL && m->presented;
	if (presented && !m->answered && m->m == NULL)
		f->unread = 1;
	snprintf(head, sizeof(head), "* %lu FETCH (", seq);
	imap_buf_add(&o, head, strlen(head));
	for (size_t i = 0; i < n; i++) {
		if (imap_resp_item_is(&v[i], MARK_NAME) ?
			    presented || !f->asked_mark :
			    presented && server_content(&v[i]))
			continue;
		if (k++ > 0)
			imap_buf_add(&o, " ", 1);
		imap_buf_add(&o, v[i].name,
			     (size_t)(v[i].value + v[i].valuelen - v[i].name));
	}
	if (presented && !m->answered && m->m != NULL) {
		for (size_t i = 0; i < f->items.n; i++) {
			if (!imap_item_content(&f->items.v[i]))
				continue;
			if (k++ > 0)
				imap_buf_add(&o, " ", 1);
			if (imap_msg_render(m->m, &f->items.v[i], &o) < 0)
				o.failed = 1;
		}
		m->answered = 1;
	}
	imap_buf_add(&o, ")\r\n", 3);
	if (!presented && !o.failed) {
		/* a message that is not S/MIME fetched whole goes as the
		 * relay gives it (imap_respond): its own status field
		 * dropped, never the server's bytes as they are */
		char where[IMAP_ARG_MAX + 400], *out;
		size_t olen;

		rc = imap_fetch_rewrite(&s->op,
					imap_where(s, where, sizeof(where)),
					o.p, o.len, &out, &olen);
		if (rc == 1) {
			free(o.p);
			o.p = out;
			o.len = olen;
		}
		o.failed = rc < 0;
	}
	rc = o.failed ? -1 : write_client(o.p, o.len);
	free(o.p);
	return rc < 0 ? -1 : 1;
}

/* Keep the first NO or BAD of the server's. */
static void note(struct fetch *f, int rc, const char *text)
{
	if (rc == 1 && f->text[0] == '\0')
		snprintf(f->text, sizeof(f->text), "%s", text);
}

/* The client's items, the content ones too (ALL) or not (OTHER), the
 * UID and the mark (PEEK or not), as a list into OUT; -1 too long. */
static int item_list(char *out, size_t size, const struct fetch *f, int all,
		     const char *mark)
{
	size_t o = 0;
	int k;

	out[o++] = '(';
	for (size_t i = 0; i < f->items.n; i++) {
		const struct imap_item *it = &f->items.v[i];

		if (!all && imap_item_content(it))
			continue;
		k = snprintf(out + o, size - o, "%.*s ", (int)it->len,
			     it->text);
		if (k < 0 || (size_t)k >= size - o)
			return -1;
		o += (size_t)k;
	}
	k = snprintf(out + o, size - o, "UID %s)", mark);
	return k < 0 || (size_t)k >= size - o ? -1 : 0;
}

static int any_presented(const struct fetch *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].presented)
			return 1;
	return 0;
}

/* The UIDs of the messages v[from..to) that the bridge presents
 * (PRESENTED 1) or not (0), comma-separated, into OUT (BATCH_UIDS + 16
 * bytes): their number. */
static size_t batch_uids(char *out, const struct fetch *f, size_t from,
			 size_t to, int presented)
{
	size_t o = 0, count = 0;

	out[0] = '\0';
	for (size_t i = from; i < to; i++) {
		int k;

		if (f->v[i].presented != presented)
			continue;
		/* UIDs are 32-bit (imap_fetch_resp_items): 11 bytes each,
		 * as batch_end counts; never past OUT all the same */
		k = snprintf(out + o, BATCH_UIDS + 16 - o, "%s%lu",
			     o ? "," : "", f->v[i].uid);
		if (k < 0 || (size_t)k >= BATCH_UIDS + 16 - o)
			break;
		o += (size_t)k;
		count++;
	}
	return count;
}

/* The end of the batch starting at FROM: at most BATCH_MSGS messages,
 * BATCH_UIDS bytes of UIDs and (but one message) BATCH_BYTES of S/MIME
 * messages; *bytes the latter's. */
static size_t batch_end(const struct fetch *f, size_t from, size_t *bytes)
{
	size_t to = from, uids = 0;

	*bytes = 0;
	while (to < f->n && to - from < BATCH_MSGS) {
		const struct fetch_msg *m = &f->v[to];

		if (to > from &&
		    ((m->presented && *bytes + m->size > BATCH_BYTES) ||
		     uids + 11 > BATCH_UIDS))
			break;
		if (m->presented)
			*bytes += m->size;
		uids += 11;
		to++;
	}
	return to;
}

static void batch_free(struct fetch *f)
{
	for (size_t i = f->from; i < f->to; i++) {
		imap_msg_free(&f->v[i].m);
		free(f->v[i].data);
		f->v[i].data = NULL;
	}
}

/* The messages of v[from..to) the bridge presents, to be presented
 * (*pr: for imap_present_finish; NULL when there are none).  0, or
 * -1. */
static int batch_start(struct imap_presenting **pr, struct fetch *f,
		       size_t from, size_t to)
{
	char uids[BATCH_UIDS + 16];

	*pr = NULL;
	if (batch_uids(uids, f, from, to, 1) == 0)
		return 0;
	return imap_present_start(pr, f->s, uids, keep, f);
}

/* The batch v[from..to) answered: the other messages by the server
 * (their items, the mark taken out), the presented ones rendered from
 * what was presented.  0, or -1 (the server is gone). */
static int batch_answer(struct fetch *f, const char *other, const char *all)
{
	struct imap_sess *s = f->s;
	char uids[BATCH_UIDS + 16], cmd[BATCH_UIDS + 2 * OTHER_MAX + 160];
	char text[sizeof(f->text)];
	int rc;

	if (batch_uids(uids, f, f->from, f->to, 0) > 0) {
		snprintf(cmd, sizeof(cmd), "UID FETCH %s %s", uids, all);
		rc = imap_own_command(s, cmd, answer, f, text, sizeof(text));
		if (rc < 0)
			return -1;
		note(f, rc, text);
	}
	if (batch_uids(uids, f, f->from, f->to, 1) == 0)
		return 0;
	snprintf(cmd, sizeof(cmd), "UID FETCH %s %s", uids, other);
	rc = imap_own_command(s, cmd, answer, f, text, sizeof(text));
	if (rc < 0)
		return -1;
	note(f, rc, text);
	return 0;
}

static int uid_order(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/*
 * The client's FETCH of messages none of which the bridge presents,
 * left to the server in one command: with the client's tag and items,
 * but as "UID FETCH" of the UIDs step 1 named, in ranges, not the
 * client's set, which may hold a message that arrived since (an S/MIME
 * one, which the server would answer from the ciphertext) or, by
 * sequence number, another one than the bridge asked about after an
 * EXPUNGE.  1 sent, 0 when the ranges do not fit in a line (the
 * batches then answer it), -1 when the server is gone.
 */
static int pass_listed(struct fetch *f)
{
	unsigned long *u = malloc(f->n * sizeof(*u));
	char *line = NULL;
	size_t o, size = IMAP_LINE_MAX;
	int rc = 0;

	if (u == NULL)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		u[i] = f->v[i].uid;
	qsort(u, f->n, sizeof(*u), uid_order);
	line = malloc(size);
	if (line == NULL) {
		rc = -1;
		goto out;
	}
	o = (size_t)snprintf(line, size, "%s UID FETCH ", f->cmd.tag);
	for (size_t i = 0; i < f->n;) {
		size_t j = i;
		int k;

		while (j + 1 < f->n && u[j + 1] <= u[j] + 1)
			j++;
		k = u[j] == u[i] ? snprintf(line + o, size - o, "%s%lu",
					    i ? "," : "", u[i]) :
				   snprintf(line + o, size - o, "%s%lu:%lu",
					    i ? "," : "", u[i], u[j]);
		if (k < 0 || (size_t)k >= size - o)
			goto out; /* too scattered: the batches */
		o += (size_t)k;
		i = j + 1;
	}
	if (size - o < f->cmd.itemslen + 3)
		goto out;
	o += (size_t)snprintf(line + o, size - o, " %.*s\r\n",
			      (int)f->cmd.itemslen, f->cmd.items);
	rc = imap_up_write(f->s, line, o) < 0 ? -1 : 1;
out:
	free(line);
	free(u);
	return rc;
}

/*
 * The client's FETCH (the unit in s->cr) answered "TAG BAD WHY" by the
 * bridge: nothing goes to the server.  0, or -1.
 */
static int refuse(const struct imap_sess *s, const char *why)
{
	char line[200];
	size_t tl = strcspn(s->cr.buf, " \r\n");

	snprintf(line, sizeof(line), "%.*s BAD %s\r\n", tl < 64 ? (int)tl : 64,
		 s->cr.buf, why);
	return write_client(line, strlen(line));
}

/*
 * The batches, each presented and then answered; the next one's
 * messages are fetched (and handed to the helper) before one is
 * answered, so that the helper opens them while this side asks the
 * server for the other items and answers the client.  A batch over
 * BATCH_BYTES (one large message) is not held beside another.
 */
static int batches(struct fetch *f, const char *other, const char *all)
{
	struct imap_presenting *cur = NULL, *nxt = NULL;
	size_t bytes, nbytes = 0;
	int rc;

	f->from = 0;
	f->to = f->next = batch_end(f, 0, &bytes);
	rc = batch_start(&cur, f, f->from, f->to);
	while (rc == 0) {
		if (f->to < f->n) {
			f->next = batch_end(f, f->to, &nbytes);
			if (bytes <= BATCH_BYTES && nbytes <= BATCH_BYTES)
				rc = batch_start(&nxt, f, f->to, f->next);
		}
		/* the batch's last messages the helper had */
		if (imap_present_finish(&cur) < 0 || rc < 0)
			break;
		rc = batch_answer(f, other, all);
		batch_free(f);
		if (rc < 0 || f->to == f->n)
			break;
		f->from = f->to;
		f->to = f->next;
		bytes = nbytes;
		cur = nxt;
		nxt = NULL;
		/* not begun beside the batch before (too large) */
		if (cur == NULL)
			rc = batch_start(&cur, f, f->from, f->to);
	}
	if (imap_present_finish(&cur) < 0)
		rc = -1;
	if (imap_present_finish(&nxt) < 0)
		rc = -1;
	/* after a failure: the batch answered and the next one */
	f->to = f->next;
	batch_free(f);
	return rc;
}

int imap_fetch_command(struct imap_sess *s)
{
	struct fetch *f;
	char other[OTHER_MAX + 64], all[OTHER_MAX + 64];
	char cmd[IMAP_LINE_MAX + 64], line[sizeof(f->text) + 80];
	int rc = -1, content = 0, unoffered = 0;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	f->s = s;
	/* fail closed: a FETCH the bridge cannot read (a literal, a
	 * SEARCHRES "$", too many items, bad syntax) is not left to the
	 * server, whose answer for an S/MIME message would be the
	 * ciphertext's */
	if (imap_fetch_cmd_parse(s->cr.buf, s->cr.len, &f->cmd) < 0 ||
	    f->cmd.setlen > IMAP_LINE_MAX - 128 ||
	    imap_items_parse(f->cmd.items, f->cmd.itemslen, &f->items) < 0) {
		rc = refuse(s, "FETCH not understood by the bridge");
		goto out;
	}
	for (size_t i = 0; i < f->items.n; i++) {
		content |= imap_item_content(&f->items.v[i]);
		unoffered |= f->items.v[i].unoffered;
		f->seen |= imap_item_sets_seen(&f->items.v[i]);
		f->asked_mark |= is_mark_item(&f->items.v[i]);
	}
	/* what is not in the bridge's CAPABILITY: BINARY, PREVIEW,
	 * CONDSTORE's and QRESYNC's modifiers (doc/bridge.md) */
	if (unoffered || f->items.modifiers) {
		rc = refuse(s, unoffered ? "BINARY, PREVIEW and SNIPPET are "
					   "not offered" :
					   "FETCH modifiers (CONDSTORE, "
					   "QRESYNC) are not offered");
		goto out;
	}
	/* no content item (a flags sync): the server answers it all */
	if (!content)
		goto pass;
	if (item_list(other, sizeof(other), f, 0,
		      f->seen ? MARK_NAME : MARK_PEEK) < 0 ||
	    item_list(all, sizeof(all), f, 1, MARK_PEEK) < 0) {
		/* longer than the bridge's own FETCHes take: not left
		 * to the server either */
		rc = refuse(s, "FETCH items too long for the bridge");
		goto out;
	}

	/* which messages of the set are S/MIME (or bring a status field) */
	snprintf(cmd, sizeof(cmd),
		 "%sFETCH %.*s (UID RFC822.SIZE BODY.PEEK[" CLASSIFY_FIELDS
		 "])",
		 f->cmd.uid ? "UID " : "", (int)f->cmd.setlen, f->cmd.set);
	rc = imap_own_command(s, cmd, classify, f, f->text, sizeof(f->text));
	if (rc < 0)
		goto out;
	if (rc == 0)
		f->text[0] = '\0'; /* kept: a NO or BAD */
	if (f->n == 0)
		goto answer; /* none: a BAD set, nothing selected */
	/* none of them S/MIME (a mailbox of plain mail): the server
	 * answers the client's items, in one go */
	if (!f->too_many && f->text[0] == '\0' && !any_presented(f)) {
		rc = pass_listed(f);
		if (rc != 0)
			goto out;
	}
	if (f->too_many) {
		snprintf(f->text, sizeof(f->text),
			 "NO [LIMIT] at most %d messages in one FETCH",
			 MSGS_MAX);
		goto answer;
	}
	rc = batches(f, other, all);
	if (rc < 0)
		goto out;
answer:
	if (f->text[0] != '\0')
		snprintf(line, sizeof(line), "%s %s\r\n", f->cmd.tag, f->text);
	else if (f->unread)
		snprintf(line, sizeof(line),
			 "%s NO [UNAVAILABLE] a message could not be read "
			 "from the server\r\n",
			 f->cmd.tag);
	else
		snprintf(line, sizeof(line), "%s OK FETCH completed\r\n",
			 f->cmd.tag);
	rc = write_client(line, strlen(line));
	goto out;
pass:
	rc = imap_up_write(s, s->cr.buf, s->cr.len);
out:
	free(f->v);
	free(f);
	return rc < 0 ? -1 : 0;
}
