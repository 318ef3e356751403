/*
 * bench_tsa.c - time-stamp replies a second from a running `letterlockd
 * run` on loopback (POST /tsa).
 *
 *   bench_tsa URL N CONNS QUERY
 *
 * QUERY is a DER TimeStampReq (`openssl ts -query`), sent N times over
 * CONNS keep-alive connections (one thread each); every reply must be a
 * granted TimeStampResp (it starts with status granted, 30 03 02 01
 * 00).  The requests are the same octets, the replies all different:
 * each has its own serial number and time and its own signature.
 * Prints "tsa RATE req/s (...)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpload.h"

#define QUERY_MAX 4096

int main(int argc, char **argv)
{
	static const unsigned char granted[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	unsigned char query[QUERY_MAX];
	unsigned short port;
	size_t n, conns, qlen, hlen;
	char **reqs, head[256];
	size_t *lens;
	FILE *f;

	if (argc != 5)
		hl_die("usage: bench_tsa URL N CONNS QUERY");
	n = strtoul(argv[2], NULL, 10);
	conns = strtoul(argv[3], NULL, 10);
	if (n < 1 || conns < 1 || conns > HL_MAX_CONNS ||
	    sscanf(argv[1], "http://127.0.0.1:%hu", &port) != 1)
		hl_die("bad arguments");
	f = fopen(argv[4], "rb");
	if (f == NULL)
		hl_die("cannot read the query");
	qlen = fread(query, 1, sizeof(query), f);
	fclose(f);
	if (qlen == 0 || qlen == sizeof(query))
		hl_die("the query is empty or too large");
	hl_init(port);
	hlen = (size_t)snprintf(head, sizeof(head),
				"POST /tsa HTTP/1.1\r\nHost: 127.0.0.1:%hu\r\n"
				"Content-Type: application/timestamp-query\r\n"
				"Content-Length: %zu\r\n\r\n",
				port, qlen);
	reqs = calloc(n, sizeof(*reqs));
	lens = calloc(n, sizeof(*lens));
	if (reqs == NULL || lens == NULL)
		hl_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		reqs[i] = malloc(hlen + qlen);
		if (reqs[i] == NULL)
			hl_die("out of memory");
		memcpy(reqs[i], head, hlen);
		memcpy(reqs[i] + hlen, query, qlen);
		lens[i] = hlen + qlen;
	}
	/* a warm-up, untimed: connections, the keyholder's caches */
	hl_timed(reqs, lens, n < 2000 ? n : 2000, conns, granted,
		 sizeof(granted), 200, "warm-up");
	hl_timed(reqs, lens, n, conns, granted, sizeof(granted), 200, "tsa");
	for (size_t i = 0; i < n; i++)
		free(reqs[i]);
	free(reqs);
	free(lens);
	return 0;
}
