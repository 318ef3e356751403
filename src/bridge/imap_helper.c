/*
 * imap_helper.c - a second process of an IMAP session that opens
 * messages, so that a batch of them is opened on two cores
 * (imap_fetch.h; doc/bridge.md, "Opening on two cores").
 *
 * The session's child reads the server's responses one at a time and
 * opening a message (decryption, verification) is most of a first
 * FETCH's cost.  So the messages of a batch are handed to a helper,
 * forked from the session's child, over a socketpair while the child
 * goes on reading; when the helper has HELPER_BUSY messages waiting,
 * the child opens every third one itself, and every one while the
 * helper is full (HELPER_DEPTH messages or HELPER_BYTES waiting).  The
 * answers come back in the order the messages went, each to the
 * callback it was handed with: a FETCH hands over the next batch's
 * messages before it answers the client the batch before, and takes
 * their answers afterwards.
 *
 * A process and not a thread, as everywhere in the bridge: the helper
 * parses hostile CMS and holds the keys; a crash stays in it, and the
 * child then opens what the helper had (it kept a copy).  The helper
 * opens the home itself: SQLite connections must not cross a fork, so
 * the child closes its own (imap_opener_close) before forking and opens
 * them again when it next needs them.
 *
 * Frames, both ways in host order (the two ends are one program):
 * request  { u32 len, u32 zero, u64 uid } message;
 * answer   { u32 len, i32 rc, u32 opened, u32 zero, u64 uid } data.
 * The helper ends on the end of the pair or on a frame it does not
 * take; the child treats a malformed answer, or one that says the
 * helper could not open the message, as the helper gone.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imap_fetch.h"

/* messages waiting at the helper from which the child opens every third
 * message itself: so the helper opens about two in three, as the child
 * also reads the server, caches and answers the client */
#define HELPER_BUSY 4
/* messages waiting at the helper, at most (then the child opens them):
 * enough to keep it busy while the child answers the client a batch
 * (the helper is then given the next batch's first messages) */
#define HELPER_DEPTH 16
/* bytes of the messages waiting, at most (but one message): the
 * child keeps a copy of each */
#define HELPER_BYTES (2u * 1024 * 1024)
/* larger messages are opened by the child: the frames stay small */
#define HELPER_MSG_MAX (1024u * 1024)
/* an answer: the original with a status line and CRLF line ends */
#define HELPER_OUT_MAX (2 * HELPER_MSG_MAX + 4096)

struct req {
	uint32_t len, zero;
	uint64_t uid;
};

struct ans {
	uint32_t len;
	int32_t rc;
	uint32_t opened, zero;
	uint64_t uid;
};

/* A message at the helper: its copy, opened here if the helper fails,
 * and to whom its answer goes. */
struct waiting {
	unsigned long uid;
	char *msg;
	size_t n;
	imap_opened_fn fn;
	void *arg;
};

struct imap_helper {
	pid_t pid;
	int fd;
	struct waiting w[HELPER_DEPTH]; /* a ring, oldest at head */
	size_t head, count;
	size_t bytes; /* of the messages waiting */
	unsigned long busy; /* times it was found busy */
	char *in; /* answers read, not yet taken */
	size_t inlen, incap;
};

/* ---------------------------------------------------------- the helper */

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t k = read(fd, c, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The helper's life: a request, its message opened, the answer; until
 * the pair ends. */
static void helper_main(struct cli *cli, int fd)
{
	struct imap_opener h = { .cli = cli }; /* no cache: the child's */
	struct req r;
	char *msg = NULL;

	while (read_full(fd, &r, sizeof(r)) == 0 && r.len <= HELPER_MSG_MAX &&
	       r.zero == 0) {
		struct ans a = { .uid = r.uid };
		char *out = NULL;
		size_t outlen = 0;
		int opened = 0;

		msg = malloc((size_t)r.len + 1);
		if (msg == NULL || read_full(fd, msg, r.len) < 0)
			break;
		a.rc = imap_open_message(&h, msg, r.len, &out, &outlen,
					 &opened);
		free(msg);
		msg = NULL;
		if (a.rc == 0 && outlen > HELPER_OUT_MAX) {
			free(out);
			a.rc = -1;
		}
		a.len = a.rc == 0 ? (uint32_t)outlen : 0;
		a.opened = (uint32_t)opened;
		if (cli_write_all(fd, (const char *)&a, sizeof(a)) < 0 ||
		    (a.len > 0 && cli_write_all(fd, out, a.len) < 0)) {
			free(out);
			break;
		}
		free(out);
	}
	free(msg);
	imap_opener_free(&h);
	_exit(0);
}

/* ----------------------------------------------------------- the child */

/* The helper ended (its pair closed, waited for). */
static void helper_end(struct imap_helper *hp)
{
	close(hp->fd);
	while (waitpid(hp->pid, NULL, 0) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < hp->count; i++)
		free(hp->w[(hp->head + i) % HELPER_DEPTH].msg);
	free(hp->in);
	free(hp);
}

int imap_helper_start(struct imap_opener *o)
{
	struct imap_helper *hp;
	int sv[2];

	if (o->helper != NULL || o->no_helper)
		return 0;
	o->no_helper = 1; /* one try a session */
	hp = calloc(1, sizeof(*hp));
	if (hp == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(hp);
		return -1;
	}
	/* no SQLite connection may cross the fork (imap_opener_close),
	 * nor a line of the log half written */
	imap_opener_close(o);
	fflush(NULL);
	hp->pid = fork();
	if (hp->pid == 0) {
		/* the client's and the server's connections are the
		 * child's: keep stderr (the log) and the pair only */
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		signal(SIGPIPE, SIG_IGN);
		helper_main(o->cli, 3);
	}
	close(sv[1]);
	if (hp->pid < 0) {
		close(sv[0]);
		free(hp);
		return -1;
	}
	hp->fd = sv[0];
	o->helper = hp;
	return 0;
}

/* The oldest message waiting taken off the ring. */
static void drop_oldest(struct imap_helper *hp)
{
	struct waiting *w = &hp->w[hp->head];

	free(w->msg);
	w->msg = NULL;
	hp->bytes -= w->n;
	hp->head = (hp->head + 1) % HELPER_DEPTH;
	hp->count--;
}

/* The helper given up: what it had is opened here, each given to its
 * FN.  -1 if an FN failed. */
static int helper_failed(struct imap_opener *o)
{
	struct imap_helper *hp = o->helper;
	int rc = 0;

	fprintf(stderr, "letterlock: bridge: imap: the opening helper "
			"ended; the session opens its messages alone\n");
	o->helper = NULL;
	while (hp->count > 0 && rc == 0) {
		struct waiting *w = &hp->w[hp->head];

		rc = imap_open_here(o, w->uid, w->msg, w->n, w->fn, w->arg);
		drop_oldest(hp);
	}
	helper_end(hp);
	return rc;
}

/* The answers read so far, each given to its message's FN: 0, 1 when
 * the helper's answer was malformed or a failure, -1 when an FN failed. */
static int take_answers(struct imap_opener *o)
{
	struct imap_helper *hp = o->helper;
	size_t off = 0;
	int rc = 0;

	while (rc == 0 && hp->inlen - off >= sizeof(struct ans)) {
		struct ans a;
		struct waiting *w = &hp->w[hp->head];

		memcpy(&a, hp->in + off, sizeof(a));
		/* malformed, or it could not open (its keys unreadable, out
		 * of memory): it would fail again; this side takes over */
		if (hp->count == 0 || a.uid != w->uid || a.zero != 0 ||
		    a.len > HELPER_OUT_MAX || a.rc != 0) {
			rc = 1;
			break;
		}
		if (hp->inlen - off - sizeof(a) < a.len)
			break; /* the rest is still to come */
		rc = w->fn(w->arg, w->uid, hp->in + off + sizeof(a), a.len,
			   a.opened != 0);
		drop_oldest(hp);
		off += sizeof(a) + a.len;
	}
	memmove(hp->in, hp->in + off, hp->inlen - off);
	hp->inlen -= off;
	return rc;
}

/* What the helper has written, read (WAIT: block until something
 * comes): 0, or -1 (it is gone). */
static int read_answers(struct imap_helper *hp, int wait)
{
	for (;;) {
		ssize_t k;

		if (hp->incap - hp->inlen < 65536) {
			size_t cap = hp->incap ? hp->incap * 2 : 262144;
			char *p = realloc(hp->in, cap);

			if (p == NULL)
				return -1;
			hp->in = p;
			hp->incap = cap;
		}
		k = recv(hp->fd, hp->in + hp->inlen, hp->incap - hp->inlen,
			 wait ? 0 : MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (k <= 0)
			return -1;
		hp->inlen += (size_t)k;
		wait = 0; /* then whatever else is there */
	}
}

/* P (N bytes) to the helper, its answers read meanwhile so that
 * neither side waits on the other: 0, or -1 (it is gone). */
static int send_all(struct imap_helper *hp, const char *p, size_t n)
{
	while (n > 0) {
		struct pollfd pfd = { hp->fd, POLLIN | POLLOUT, 0 };
		ssize_t k;

		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if ((pfd.revents & POLLIN) && read_answers(hp, 0) < 0)
			return -1;
		if (pfd.revents & (POLLERR | POLLHUP))
			return -1;
		if (!(pfd.revents & POLLOUT))
			continue;
		k = send(hp->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The answers there now taken: 0, or -1 (an FN failed). */
static int poll_helper(struct imap_opener *o, int wait)
{
	int rc;

	if (read_answers(o->helper, wait) < 0)
		return helper_failed(o);
	rc = take_answers(o);
	return rc > 0 ? helper_failed(o) : rc;
}

/* Has the helper room for a message of N bytes? */
static int has_room(const struct imap_helper *hp, size_t n)
{
	return hp->count < HELPER_DEPTH &&
	       (hp->count == 0 || hp->bytes + n <= HELPER_BYTES);
}

int imap_open_async(struct imap_opener *o, unsigned long uid, const char *msg,
		    size_t n, imap_opened_fn fn, void *arg)
{
	struct imap_helper *hp = o->helper;
	struct req r = { .len = (uint32_t)n, .uid = uid };
	struct waiting *w;

	if (hp != NULL && poll_helper(o, 0) < 0)
		return -1;
	/* the helper busy: every third message is opened here, and every
	 * one while it is full; this side never waits for it (it has a
	 * batch to answer, or the next one to read) */
	hp = o->helper;
	if (hp == NULL || n > HELPER_MSG_MAX || !has_room(hp, n) ||
	    (hp->count >= HELPER_BUSY && hp->busy++ % 3 == 0))
		return imap_open_here(o, uid, msg, n, fn, arg);
	w = &hp->w[(hp->head + hp->count) % HELPER_DEPTH];
	w->msg = malloc(n + 1);
	if (w->msg == NULL)
		return imap_open_here(o, uid, msg, n, fn, arg);
	memcpy(w->msg, msg, n);
	w->uid = uid;
	w->n = n;
	w->fn = fn;
	w->arg = arg;
	hp->count++;
	hp->bytes += n;
	if (send_all(hp, (const char *)&r, sizeof(r)) < 0 ||
	    send_all(hp, msg, n) < 0)
		return helper_failed(o);
	return 0;
}

/* Is a message for ARG waiting at the helper? */
static int waits_for(const struct imap_helper *hp, const void *arg)
{
	for (size_t i = 0; i < hp->count; i++)
		if (hp->w[(hp->head + i) % HELPER_DEPTH].arg == arg)
			return 1;
	return 0;
}

int imap_open_wait(struct imap_opener *o, const void *arg)
{
	/* the answers come in order: those before ARG's are taken too */
	while (o->helper != NULL && waits_for(o->helper, arg))
		if (poll_helper(o, 1) < 0)
			return -1;
	return 0;
}

void imap_helper_stop(struct imap_opener *o)
{
	if (o->helper != NULL)
		helper_end(o->helper);
	o->helper = NULL;
}
