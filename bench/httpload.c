/*
 * httpload.c - HTTP/1.1 load on a loopback server (httpload.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpload.h"

static unsigned short hl_port;

void hl_init(unsigned short port)
{
	hl_port = port;
}

double hl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void hl_die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

int hl_connect(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_port = htons(hl_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		hl_die("cannot connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void hl_send(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			hl_die("write failed");
		c += w;
		n -= (size_t)w;
	}
}

int hl_response(int fd, char *buf, char *nonce, size_t *body, size_t *end)
{
	size_t have = 0, need = 0;
	char *hdr_end = NULL;
	int status = 0;

	if (buf == NULL)
		hl_die("no response buffer");
	for (;;) {
		ssize_t r;

		if (hdr_end != NULL && have >= need)
			break;
		if (have >= HL_RESP_MAX - 1)
			hl_die("response too large");
		r = read(fd, buf + have, HL_RESP_MAX - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			hl_die("connection closed");
		have += (size_t)r;
		buf[have] = '\0';
		if (hdr_end == NULL) {
			char *cl;

			hdr_end = memmem(buf, have, "\r\n\r\n", 4);
			if (hdr_end == NULL)
				continue;
			cl = strcasestr(buf, "\r\nContent-Length:");
			need = (size_t)(hdr_end - buf) + 4 +
			       (cl && cl < hdr_end ?
					strtoul(cl + 17, NULL, 10) :
					0);
		}
	}
	sscanf(buf, "HTTP/1.1 %d", &status);
	if (nonce != NULL) {
		char *n = strcasestr(buf, "\r\nReplay-Nonce:");

		nonce[0] = '\0';
		if (n != NULL && n < hdr_end)
			sscanf(n + 15, " %63[A-Za-z0-9_-]", nonce);
	}
	if (body != NULL)
		*body = (size_t)(hdr_end - buf) + 4;
	if (end != NULL)
		*end = need;
	return status;
}

/* One connection of hl_run: a thread and its run of requests. */
struct job {
	const struct hl_proto *p;
	size_t c, first, n;
	double *lat; /* seconds, one a request */
	size_t bad;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	void *conn = j->p->open(j->p->arg, j->c);

	for (size_t i = 0; i < j->n; i++) {
		double t0 = hl_now();

		if (j->p->one(conn, j->first + i, j->p->arg) < 0)
			j->bad++;
		j->lat[i] = hl_now() - t0;
	}
	j->p->close(conn, j->p->arg);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double hl_run(const struct hl_proto *p, size_t n, size_t conns,
	      const char *name)
{
	static struct job jobs[HL_MAX_CONNS];
	static pthread_t th[HL_MAX_CONNS];
	double *lat = calloc(n, sizeof(*lat));
	size_t per, bad = 0;
	double t0, dt;

	if (conns < 1 || conns > HL_MAX_CONNS || conns > n || lat == NULL)
		hl_die("bad connection count, or out of memory");
	per = n / conns;
	for (size_t c = 0; c < conns; c++)
		jobs[c] = (struct job){ p,
					c,
					c * per,
					c + 1 == conns ? n - c * per : per,
					lat + c * per,
					0 };
	t0 = hl_now();
	for (size_t c = 0; c < conns; c++)
		pthread_create(&th[c], NULL, run_job, &jobs[c]);
	for (size_t c = 0; c < conns; c++) {
		pthread_join(th[c], NULL);
		bad += jobs[c].bad;
	}
	dt = hl_now() - t0;
	if (bad > 0) {
		fprintf(stderr, "bench: %s: %zu of %zu answers wrong\n", name,
			bad, n);
		exit(1);
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("%s %.0f req/s (%zu in %.2f s, %zu connections; latency "
	       "p50 %.2f ms, p99 %.2f ms)\n",
	       name, (double)n / dt, n, dt, conns, lat[n / 2] * 1e3,
	       lat[n - 1 - n / 100] * 1e3);
	free(lat);
	return (double)n / dt;
}

/* ---- HTTP over hl_run ---- */

struct http_load {
	char *const *reqs;
	const size_t *lens;
	const void *want; /* the same for every answer, or */
	size_t wantlen;
	const char *const *wants; /* one for each */
	int status;
};

struct http_conn {
	int fd;
	char *buf;
};

static void *http_open(void *arg, size_t c)
{
	struct http_conn *hc = malloc(sizeof(*hc));

	if (hc == NULL)
		hl_die("out of memory");
	hc->buf = malloc(HL_RESP_MAX);
	if (hc->buf == NULL)
		hl_die("out of memory");
	hc->fd = hl_connect();
	return hc;
}

static int http_one(void *conn, size_t i, void *arg)
{
	const struct http_load *l = arg;
	struct http_conn *hc = conn;
	size_t len = l->lens ? l->lens[i] : strlen(l->reqs[i]);
	size_t body = 0, end = 0;
	const void *want = l->wants ? l->wants[i] : l->want;
	size_t wantlen = l->wants ? strlen(l->wants[i]) : l->wantlen;

	hl_send(hc->fd, l->reqs[i], len);
	if (hl_response(hc->fd, hc->buf, NULL, &body, &end) != l->status)
		return -1;
	if (want != NULL &&
	    memmem(hc->buf + body, end - body, want, wantlen) == NULL)
		return -1;
	return 0;
}

static void http_close(void *conn, void *arg)
{
	struct http_conn *hc = conn;

	close(hc->fd);
	free(hc->buf);
	free(hc);
}

static double http_run(const struct http_load *l, size_t n, size_t conns,
		       const char *name)
{
	struct hl_proto p = { http_open, http_one, http_close, (void *)l };

	return hl_run(&p, n, conns, name);
}

double hl_timed(char *const *reqs, const size_t *lens, size_t n, size_t conns,
		const void *want, size_t wantlen, int status, const char *name)
{
	struct http_load l = { reqs, lens, want, wantlen, NULL, status };

	return http_run(&l, n, conns, name);
}

double hl_timed_each(char *const *reqs, const size_t *lens, size_t n,
		     size_t conns, const char *const *wants, int status,
		     const char *name)
{
	struct http_load l = { reqs, lens, NULL, 0, wants, status };

	return http_run(&l, n, conns, name);
}
