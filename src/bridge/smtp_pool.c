/*
 * smtp_pool.c - the SMTP relay's workers: up to POOL_MAX child
 * processes per account, each fed one message at a time over a
 * socketpair, that keep the home (keystore, keys) and the upstream
 * SMTP session (TCP, TLS, login) open between messages (bridge.h).
 *
 * Why: a child per message opened the keystore, loaded the keys and
 * logged in upstream (TCP, STARTTLS, AUTH) again for every message;
 * that, not the sealing, was most of a message's cost.  A worker does
 * those once and then only seals, queues and sends MAIL/RCPT/DATA.
 * Everything a message goes through is unchanged: the outbox (the
 * entry fsync'd before anything is submitted), the resubmission key,
 * the "sent" mark right after the server's 250, the client's 250
 * after that.
 *
 * The loop side: a message goes to an idle worker of its account, else
 * to a new one (up to POOL_MAX), else waits in a queue, oldest first.
 * A worker left idle POOL_IDLE seconds, or idle once it is older than
 * POOL_AGE (renewed keys, changed settings and a new password are read
 * by the next one), is retired: the loop closes its end of the pair,
 * and the worker, reading the end, exits.  A worker that dies (a crash,
 * a kill) with a message gives that message's client the exit code as
 * a one-off child did (451, "exit N"); what it queued the outbox
 * retries.  A worker at work counts for a stop (bridge_job_busy); an
 * idle one does not.
 *
 * The pair carries fixed-shape frames, host byte order (both ends are
 * the same program): a request (struct req_head, the envelope sender,
 * the recipients, each NUL-terminated, the message) and a reply
 * (struct rep_head and what the worker said about the message, at most
 * SAID_MAX - 1 bytes).  Either side takes a malformed frame as the end
 * of the worker.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "bridge.h"
#include "smtp_parse.h"

#define POOL_MAX 8 /* workers per account */
#define POOL_IDLE 60 /* seconds a worker waits for a message */
#define POOL_AGE 600 /* seconds: older, a worker ends once idle */
#define REQ_MAGIC 0x4c4c5271u /* "LLRq" */
#define REP_MAGIC 0x4c4c5270u /* "LLRp" */
#define ADDR_MAX (SMTP_ADDR_MAX + 1) /* an address with its NUL */
#define RCPTS_MAX LL_MSG_MAX_RECIPIENTS /* as smtp_session.c takes */
#define SAID_MAX 4096 /* what a worker said about one message */

struct req_head {
	uint32_t magic;
	uint32_t nrcpts;
	uint32_t from_len; /* with its NUL */
	uint32_t rcpts_len; /* every recipient with its NUL */
	uint64_t msg_len;
	char key[65];
};

struct rep_head {
	uint32_t magic;
	int32_t code;
	uint32_t said_len;
};

/* A message handed to the pool: waiting, or at a worker. */
struct pool_item {
	struct bridge_account *a;
	const struct smtp_relay_req *req; /* the relay's, borrowed */
	void (*done)(void *arg, int code, const char *said);
	void *arg;
	struct pool_item *next;
};

struct pool_worker {
	struct smtp_pool *pool;
	struct bridge_account *a;
	struct bridge_job *job;
	struct bufferevent *bev; /* the loop's end; NULL once retired */
	struct event *idle; /* the timer of POOL_IDLE */
	struct pool_item *busy; /* the message it relays, NULL idle */
	time_t born;
	struct pool_worker *next;
};

struct smtp_pool {
	struct bridge *b;
	struct pool_worker *workers;
	struct pool_item *queue; /* oldest first */
};

static void dispatch(struct smtp_pool *p);

/* ------------------------------------------------------ the worker */

/* LEN bytes from FD: 1, 0 at the end before any byte, -1 otherwise. */
static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 && got == 0 ? 0 : -1;
		got += (size_t)n;
	}
	return 1;
}

/* The recipients of H from BLOCK into REQ (pointers into BLOCK): 0, or
 * -1 when BLOCK is not exactly that many NUL-terminated addresses. */
static int split_rcpts(struct smtp_relay_req *req, char *block,
		       const struct req_head *h)
{
	char *p = block, *end = block + h->rcpts_len;

	req->rcpts = calloc(h->nrcpts + 1, sizeof(*req->rcpts));
	if (req->rcpts == NULL)
		return -1;
	for (size_t i = 0; i < h->nrcpts; i++) {
		char *nul = memchr(p, '\0', (size_t)(end - p));

		if (nul == NULL || nul == p || nul - p >= ADDR_MAX)
			return -1;
		req->rcpts[i] = p;
		p = nul + 1;
	}
	req->nrcpts = h->nrcpts;
	return p == end ? 0 : -1;
}

/* One request from FD into REQ (*block holds the recipients): 1, 0 at
 * the end, -1 for a malformed one. */
static int read_req(int fd, const struct bridge *b, struct smtp_relay_req *req,
		    char **block)
{
	struct req_head h;
	int rc = read_full(fd, &h, sizeof(h));

	if (rc <= 0)
		return rc;
	if (h.magic != REQ_MAGIC || h.nrcpts < 1 || h.nrcpts > RCPTS_MAX ||
	    h.from_len < 1 || h.from_len > ADDR_MAX ||
	    h.rcpts_len > (uint64_t)h.nrcpts * ADDR_MAX ||
	    h.msg_len > b->max_size ||
	    memchr(h.key, '\0', sizeof(h.key)) == NULL)
		return -1;
	memcpy(req->key, h.key, sizeof(req->key));
	req->from = malloc(h.from_len);
	*block = malloc(h.rcpts_len + 1);
	req->msg = malloc(h.msg_len + 1);
	if (req->from == NULL || *block == NULL || req->msg == NULL)
		return -1;
	req->len = h.msg_len;
	if (read_full(fd, req->from, h.from_len) != 1 ||
	    req->from[h.from_len - 1] != '\0' ||
	    strlen(req->from) + 1 != h.from_len ||
	    read_full(fd, *block, h.rcpts_len) != 1 ||
	    split_rcpts(req, *block, &h) < 0 ||
	    (h.msg_len > 0 && read_full(fd, req->msg, h.msg_len) != 1))
		return -1;
	return 1;
}

/*
 * Relay REQ with W, what it says on stderr caught in the file SAID
 * (then copied to the real stderr, the bridge's log, as a one-off
 * child's was); the result, and the last SAID_MAX - 1 bytes said into
 * OUT (*n).
 */
static int relay_caught(struct smtp_relay_worker *w, struct smtp_relay_req *req,
			int said, char out[SAID_MAX], size_t *n)
{
	int logfd = dup(STDERR_FILENO), rc;
	struct stat st;
	off_t from;
	ssize_t k;

	*n = 0;
	if (logfd < 0 || ftruncate(said, 0) != 0 ||
	    lseek(said, 0, SEEK_SET) != 0 || fflush(stderr) != 0 ||
	    dup2(said, STDERR_FILENO) < 0) {
		if (logfd >= 0)
			close(logfd);
		return smtp_relay_one(w, req); /* said to the log only */
	}
	rc = smtp_relay_one(w, req);
	fflush(stderr);
	dup2(logfd, STDERR_FILENO);
	close(logfd);
	if (fstat(said, &st) != 0)
		return rc;
	/* the log gets all of it, the reply its end */
	for (off_t at = 0; at < st.st_size; at += k) {
		char buf[SAID_MAX];

		k = pread(said, buf, sizeof(buf), at);
		if (k <= 0 || cli_write_all(STDERR_FILENO, buf, (size_t)k) < 0)
			break;
	}
	from = st.st_size > SAID_MAX - 1 ? st.st_size - (SAID_MAX - 1) : 0;
	k = pread(said, out, (size_t)(st.st_size - from), from);
	*n = k > 0 ? (size_t)k : 0;
	return rc;
}

/* The worker's process: messages from the loop until the loop closes
 * its end. */
static int worker_run(void *arg)
{
	struct pool_worker *pw = arg;
	struct smtp_relay_worker *w;
	char said[SAID_MAX];
	int fd = BRIDGE_CHILD_FD, caught, rc = 0;

	/* a reply to a loop that has gone is an error to see, not a
	 * signal */
	signal(SIGPIPE, SIG_IGN);
	caught = memfd_create("said", MFD_CLOEXEC);
	w = smtp_relay_worker_new(pw->pool->b, pw->a);
	if (w == NULL || caught < 0) {
		fprintf(stderr, "letterlock: bridge: a relay worker cannot "
				"start: out of memory\n");
		rc = EX_OSERR;
	}
	while (rc == 0) {
		struct smtp_relay_req req = { 0 };
		struct rep_head rep = { REP_MAGIC, 0, 0 };
		char *block = NULL;
		size_t n;
		int got = read_req(fd, pw->pool->b, &req, &block);

		if (got == 1) {
			rep.code = relay_caught(w, &req, caught, said, &n);
			rep.said_len = (uint32_t)n;
			if (cli_write_all(fd, (const char *)&rep, sizeof(rep)) <
				    0 ||
			    cli_write_all(fd, said, n) < 0)
				got = -1;
		}
		free(req.from);
		free(req.rcpts);
		free(req.msg);
		free(block);
		if (got < 0) {
			fprintf(stderr, "letterlock: bridge: a relay worker "
					"lost the bridge\n");
			rc = EX_SOFTWARE;
		}
		if (got <= 0)
			break;
	}
	smtp_relay_worker_free(&w);
	if (caught >= 0)
		close(caught);
	return rc;
}

/* --------------------------------------------------------- the loop */

static struct smtp_pool *pool_of(struct bridge *b)
{
	if (b->relay_pool == NULL) {
		b->relay_pool = calloc(1, sizeof(*b->relay_pool));
		if (b->relay_pool != NULL)
			b->relay_pool->b = b;
	}
	return b->relay_pool;
}

/* The loop's end of W closed: the worker ends once it sees that. */
static void retire(struct pool_worker *w)
{
	if (w->bev != NULL)
		bufferevent_free(w->bev);
	w->bev = NULL;
	event_del(w->idle);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	retire(arg);
}

/* W has no message: retired when old, else ready, with its timer. */
static void set_idle(struct pool_worker *w)
{
	struct timeval t = { POOL_IDLE, 0 };

	w->busy = NULL;
	if (w->job != NULL)
		bridge_job_busy(w->job, 0);
	if (time(NULL) - w->born >= POOL_AGE || w->pool->b->stopping)
		retire(w);
	else
		event_add(w->idle, &t);
}

/* W's reply, when whole in its input: 1 handled, 0 not yet, -1 bad. */
static int take_reply(struct pool_worker *w)
{
	struct evbuffer *in = bufferevent_get_input(w->bev);
	struct pool_item *it = w->busy;
	struct rep_head h;
	char said[SAID_MAX];

	if (evbuffer_get_length(in) < sizeof(h))
		return 0;
	evbuffer_copyout(in, &h, sizeof(h));
	if (h.magic != REP_MAGIC || h.said_len >= SAID_MAX || it == NULL)
		return -1;
	if (evbuffer_get_length(in) < sizeof(h) + h.said_len)
		return 0;
	evbuffer_drain(in, sizeof(h));
	evbuffer_remove(in, said, h.said_len);
	said[h.said_len] = '\0';
	set_idle(w);
	it->done(it->arg, h.code, said);
	free(it);
	return 1;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct pool_worker *w = arg;
	struct smtp_pool *p = w->pool;
	int rc = take_reply(w);

	if (rc < 0) {
		bridge_log("smtp: a relay worker answered out of turn: ended");
		retire(w);
	}
	if (rc != 0)
		dispatch(p);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	/* the worker closed its end: it is ending, worker_gone follows */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
}

/* The worker process of W has exited with CODE. */
static void worker_gone(void *arg, int code, const char *said)
{
	struct pool_worker *w = arg, **pp;
	struct smtp_pool *p = w->pool;
	struct pool_item *it;

	/* a reply it wrote before it ended counts */
	if (w->bev != NULL && w->busy != NULL) {
		evbuffer_read(bufferevent_get_input(w->bev),
			      bufferevent_getfd(w->bev), -1);
		take_reply(w);
	}
	it = w->busy;
	for (pp = &p->workers; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	retire(w);
	event_free(w->idle);
	free(w);
	if (it != NULL) {
		it->done(it->arg, code != 0 ? code : EX_SOFTWARE, said);
		free(it);
	}
	dispatch(p);
}

/* A new worker of account A, idle. */
static struct pool_worker *spawn(struct smtp_pool *p, struct bridge_account *a)
{
	struct pool_worker *w = calloc(1, sizeof(*w));
	int sv[2] = { -1, -1 };

	if (w == NULL)
		return NULL;
	w->pool = p;
	w->a = a;
	w->born = time(NULL);
	w->idle = evtimer_new(p->b->base, on_idle, w);
	if (w->idle == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		goto fail;
	if (bridge_spawn_fd(p->b, sv[1], worker_run, w, worker_gone, w,
			    &w->job) < 0)
		goto fail;
	close(sv[1]);
	sv[1] = -1;
	evutil_make_socket_nonblocking(sv[0]);
	w->bev = bufferevent_socket_new(p->b->base, sv[0],
					BEV_OPT_CLOSE_ON_FREE);
	if (w->bev == NULL) {
		/* the worker reads the end of the pair and exits */
		close(sv[0]);
		w->next = p->workers;
		p->workers = w;
		return NULL;
	}
	bufferevent_setcb(w->bev, on_read, NULL, on_event, w);
	bufferevent_enable(w->bev, EV_READ | EV_WRITE);
	w->next = p->workers;
	p->workers = w;
	return w;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (w->idle != NULL)
		event_free(w->idle);
	free(w);
	return NULL;
}

/* IT to W, which is idle: 0, or -1. */
static int hand(struct pool_worker *w, struct pool_item *it)
{
	const struct smtp_relay_req *r = it->req;
	struct evbuffer *out = bufferevent_get_output(w->bev);
	struct req_head h = { .magic = REQ_MAGIC };
	int rc;

	h.nrcpts = (uint32_t)r->nrcpts;
	h.from_len = (uint32_t)strlen(r->from) + 1;
	for (size_t i = 0; i < r->nrcpts; i++)
		h.rcpts_len += (uint32_t)strlen(r->rcpts[i]) + 1;
	h.msg_len = r->len;
	memcpy(h.key, r->key, sizeof(h.key));
	rc = evbuffer_add(out, &h, sizeof(h));
	rc |= evbuffer_add(out, r->from, h.from_len);
	for (size_t i = 0; i < r->nrcpts; i++)
		rc |= evbuffer_add(out, r->rcpts[i], strlen(r->rcpts[i]) + 1);
	rc |= evbuffer_add(out, r->msg, r->len);
	if (rc != 0)
		return -1;
	event_del(w->idle);
	w->busy = it;
	bridge_job_busy(w->job, 1);
	return 0;
}

/* Give waiting messages to workers, oldest first. */
static void dispatch(struct smtp_pool *p)
{
	struct pool_item **pp = &p->queue;

	while (*pp != NULL) {
		struct pool_item *it = *pp;
		struct pool_worker *w, *idle = NULL;
		size_t n = 0;

		for (w = p->workers; w != NULL; w = w->next) {
			if (w->a != it->a)
				continue;
			n++;
			if (idle == NULL && w->bev != NULL && w->busy == NULL)
				idle = w;
		}
		if (idle == NULL && n < POOL_MAX && !p->b->stopping)
			idle = spawn(p, it->a);
		if (idle == NULL && n > 0) {
			pp = &it->next; /* waits for one of them */
			continue;
		}
		*pp = it->next;
		if (idle != NULL && hand(idle, it) == 0)
			continue;
		if (idle != NULL)
			retire(idle);
		it->done(it->arg, EX_OSERR,
			 "letterlock: bridge: no relay worker can be started");
		free(it);
	}
}

int smtp_pool_relay(struct bridge *b, struct bridge_account *a,
		    const struct smtp_relay_req *req,
		    void (*done)(void *arg, int code, const char *said),
		    void *arg)
{
	struct smtp_pool *p = pool_of(b);
	struct pool_item *it, **pp;

	if (p == NULL || req->nrcpts < 1 || req->nrcpts > RCPTS_MAX)
		return -1;
	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return -1;
	it->a = a;
	it->req = req;
	it->done = done;
	it->arg = arg;
	for (pp = &p->queue; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = it;
	dispatch(p);
	return 0;
}

void smtp_pool_stop(struct bridge *b)
{
	struct smtp_pool *p = b->relay_pool;

	if (p == NULL)
		return;
	while (p->queue != NULL) {
		struct pool_item *it = p->queue;

		p->queue = it->next;
		it->done(it->arg, EX_OSERR,
			 "letterlock: bridge: stopped before relaying it");
		free(it);
	}
	/* busy workers finish their message and end; the loop's jobs
	 * (and their callbacks) end with it */
	while (p->workers != NULL) {
		struct pool_worker *w = p->workers;

		p->workers = w->next;
		bridge_job_forget(w->job);
		retire(w);
		event_free(w->idle);
		free(w->busy);
		free(w);
	}
	free(p);
	b->relay_pool = NULL;
}
