/*
 * httpload.h - the HTTP/1.1 load the benchmarks put on a server on
 * loopback: keep-alive connections, one thread each, requests made
 * before the clock starts, every answer checked, throughput and
 * latency percentiles printed.
 */
#ifndef LL_BENCH_HTTPLOAD_H
#define LL_BENCH_HTTPLOAD_H

#include <stddef.h>

#define HL_MAX_CONNS 256
#define HL_RESP_MAX (256 * 1024)

/* The server is 127.0.0.1:PORT. */
void hl_init(unsigned short port);
double hl_now(void);
void hl_die(const char *what) __attribute__((noreturn));
int hl_connect(void);
void hl_send(int fd, const void *p, size_t n);
/* One response into BUF (HL_RESP_MAX octets, NUL-terminated); its
 * status, the Replay-Nonce into NONCE (64 octets) when not NULL, where
 * its body starts into *body and where it ends into *end when not
 * NULL. */
int hl_response(int fd, char *buf, char *nonce, size_t *body, size_t *end);

/*
 * Send the N requests REQS (LENS[i] octets each; LENS NULL: strings)
 * over CONNS connections at once, each answer checked for STATUS and
 * the WANTLEN octets of WANT (NULL: anything); a wrong answer ends the
 * program.  Prints "NAME RATE req/s (...)" with the 50th and 99th
 * percentile latency, and returns the rate.
 */
double hl_timed(char *const *reqs, const size_t *lens, size_t n, size_t conns,
		const void *want, size_t wantlen, int status, const char *name);

/* The same with an answer of its own for each request: the body of
 * answer I must hold the string WANTS[I]. */
double hl_timed_each(char *const *reqs, const size_t *lens, size_t n,
		     size_t conns, const char *const *wants, int status,
		     const char *name);

/*
 * Any request-answer protocol, timed as hl_timed times HTTP: OPEN
 * makes connection C's state (each connection is one thread), ONE
 * sends request I over it and reads and checks the answer (0 right,
 * -1 wrong), CLOSE ends it; ARG goes to all three.
 */
struct hl_proto {
	void *(*open)(void *arg, size_t c);
	int (*one)(void *conn, size_t i, void *arg);
	void (*close)(void *conn, void *arg);
	void *arg;
};

/* Requests 0 to N - 1 of P over CONNS connections at once (each takes
 * a run of consecutive ones); prints and returns as hl_timed. */
double hl_run(const struct hl_proto *p, size_t n, size_t conns,
	      const char *name);

#endif
