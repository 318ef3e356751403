/*
 * bench_smtp.c - SMTP submissions a second of a server on loopback: the
 * bridge's SMTP side, or Postfix's submission port directly (bench/bridge
 * drives it for both, with the same messages).
 *
 *   bench_smtp PORT CAFILE USER PASSWORD FROM RCPT N CONNS NAME
 *
 * CONNS clients at once, each a thread with one session as a mail
 * client keeps it: EHLO, STARTTLS (the server's certificate verified
 * against CAFILE, host 127.0.0.1), EHLO, AUTH PLAIN; then for each of
 * its messages MAIL FROM, RCPT TO, DATA and the message, one command at
 * a time, each answer awaited; QUIT.  Every message is 4 KiB of text
 * From FROM To RCPT with a Message-ID of its own (NAME and its number:
 * the bridge recognises a message sent twice by its Message-ID).  Every
 * answer must be the expected 2xx/3xx, else the program fails.  Prints
 * hl_run's line: "NAME RATE req/s (...)", a request being one message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "httpload.h"

#define MSG_SIZE 4096
#define LINE_MAX_ 1024

struct load {
	SSL_CTX *tls;
	const char *auth; /* base64 of \0USER\0PASSWORD */
	const char *from, *rcpt, *name;
};

struct conn {
	int fd;
	SSL *ssl; /* NULL before STARTTLS */
	char buf[LINE_MAX_];
	size_t have;
	char msg[MSG_SIZE + LINE_MAX_];
};

static void put(struct conn *c, const char *p, size_t n)
{
	if (c->ssl == NULL) {
		hl_send(c->fd, p, n);
		return;
	}
	while (n > 0) {
		int w = SSL_write(c->ssl, p, (int)n);

		if (w <= 0)
			hl_die("TLS write failed");
		p += w;
		n -= (size_t)w;
	}
}

/* One byte more into c->buf: 0, or -1 at the end of the stream. */
static int fill(struct conn *c)
{
	int r;

	if (c->have + 1 >= sizeof(c->buf))
		hl_die("answer line too long");
	if (c->ssl != NULL)
		r = SSL_read(c->ssl, c->buf + c->have, 1);
	else
		r = (int)read(c->fd, c->buf + c->have, 1);
	if (r <= 0)
		return -1;
	c->have++;
	return 0;
}

/* The code of the server's next (possibly multi-line) answer. */
static int answer(struct conn *c)
{
	for (;;) {
		c->have = 0;
		do {
			if (fill(c) < 0)
				hl_die("the server closed the connection");
		} while (c->have < 2 || c->buf[c->have - 1] != '\n');
		c->buf[c->have] = '\0';
		if (c->have < 4)
			hl_die("short answer line");
		if (c->buf[3] != '-')
			return atoi(c->buf);
	}
}

static int cmd(struct conn *c, const char *line)
{
	put(c, line, strlen(line));
	return answer(c);
}

static void expect(struct conn *c, const char *line, int code)
{
	int got = cmd(c, line);

	if (got != code) {
		fprintf(stderr, "bench_smtp: %.40s: %s", line, c->buf);
		hl_die("unexpected answer");
	}
}

static void *smtp_open(void *arg, size_t i)
{
	const struct load *l = arg;
	struct conn *c = calloc(1, sizeof(*c));
	char line[LINE_MAX_];

	if (c == NULL)
		hl_die("out of memory");
	c->fd = hl_connect();
	if (answer(c) != 220)
		hl_die("no greeting");
	expect(c, "EHLO bench.example\r\n", 250);
	expect(c, "STARTTLS\r\n", 220);
	c->ssl = SSL_new(l->tls);
	if (c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set1_host(c->ssl, "127.0.0.1") || SSL_connect(c->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		hl_die("TLS handshake failed");
	}
	expect(c, "EHLO bench.example\r\n", 250);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", l->auth);
	expect(c, line, 235);
	(void)i;
	return c;
}

/* Message I: MSG_SIZE octets, dots stuffed (none start a line). */
static size_t message(char *out, const struct load *l, size_t i)
{
	static const char words[] =
		"the quick brown fox jumps over the lazy dog and keeps "
		"running through the field of letters ";
	size_t n = (size_t)snprintf(
		out, MSG_SIZE,
		"From: <%s>\r\nTo: <%s>\r\nSubject: bench %zu\r\n"
		"Message-ID: <%s-%zu@bench.example>\r\n"
		"Date: Wed, 25 Nov 2026 00:00:00 +0000\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		l->from, l->rcpt, i, l->name, i);

	while (n + 78 <= MSG_SIZE) {
		memcpy(out + n, words, 76);
		memcpy(out + n + 76, "\r\n", 2);
		n += 78;
	}
	while (n + 2 < MSG_SIZE)
		out[n++] = 'x';
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

static int smtp_one(void *conn, size_t i, void *arg)
{
	const struct load *l = arg;
	struct conn *c = conn;
	char line[LINE_MAX_];
	size_t n = message(c->msg, l, i);

	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", l->from);
	if (cmd(c, line) != 250)
		goto bad;
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", l->rcpt);
	if (cmd(c, line) != 250)
		goto bad;
	if (cmd(c, "DATA\r\n") != 354)
		goto bad;
	memcpy(c->msg + n, ".\r\n", 3);
	put(c, c->msg, n + 3);
	if (answer(c) != 250)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "bench_smtp: message %zu: %s", i, c->buf);
	cmd(c, "RSET\r\n");
	return -1;
}

static void smtp_close(void *conn, void *arg)
{
	struct conn *c = conn;

	cmd(c, "QUIT\r\n");
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
	(void)arg;
}

int main(int argc, char **argv)
{
	struct load l = { 0 };
	struct hl_proto p = { smtp_open, smtp_one, smtp_close, &l };
	unsigned char plain[512];
	char auth[1024];
	int n;

	if (argc != 10) {
		fprintf(stderr, "usage: bench_smtp PORT CAFILE USER PASSWORD "
				"FROM RCPT N CONNS NAME\n");
		return 2;
	}
	n = snprintf((char *)plain, sizeof(plain), "%c%s%c%s", 0, argv[3], 0,
		     argv[4]);
	if (n < 0 || (size_t)n >= sizeof(plain))
		hl_die("login too long");
	EVP_EncodeBlock((unsigned char *)auth, plain, n);
	l.auth = auth;
	l.from = argv[5];
	l.rcpt = argv[6];
	l.name = argv[9];
	l.tls = SSL_CTX_new(TLS_client_method());
	if (l.tls == NULL ||
	    SSL_CTX_load_verify_locations(l.tls, argv[2], NULL) != 1)
		hl_die("cannot load the CA file");
	SSL_CTX_set_verify(l.tls, SSL_VERIFY_PEER, NULL);
	hl_init((unsigned short)atoi(argv[1]));
	hl_run(&p, strtoul(argv[7], NULL, 10), strtoul(argv[8], NULL, 10),
	       argv[9]);
	SSL_CTX_free(l.tls);
	return 0;
}
