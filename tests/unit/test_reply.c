/*
 * test_reply.c - RFC 8823 replies on the CA side (src/service/mail.h):
 * lld_reply_parse, lld_reply_judge, lld_dkim_verify, lld_caa_check.
 *
 * DNS is real: a small authoritative server in a thread of this test,
 * on a random UDP port of 127.0.0.1, serves the zones example.test,
 * other.test and caa.test (the DKIM keys as TXT, CAA records), and
 * libunbound reaches it through an unbound configuration with one
 * stub-zone per zone, as letterlockd's [dns] resolver_conf would.
 * Replies are DKIM-signed here with libopendkim and a key made at
 * start, published at mail._domainkey.example.test and
 * mail._domainkey.other.test.
 *
 * Parsing: CRLF and LF, Re:/RE:, a folded and an encoded Subject,
 * quoted-printable and base64 bodies, multipart/alternative and nested
 * multiparts, white space around the response block; refusals (two
 * From, a group, a display name showing another address, no block,
 * oversize); every prefix of a good reply in a buffer of exactly that
 * size (ASan sees any read past the end).
 * Judging: a good reply, a wrong digest (incorrectResponse), another
 * From, a List-Id, an old challenge, no or a broken DKIM signature, a
 * signature of another domain or of part of the body (l=).
 * CAA: RFC 8659 tree climbing and the RFC 9495 issuemail property.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <opendkim/dkim.h>

#include <letterlock/jose.h>

#include "internal.h"
#include "mail.h"
#include "service.h"

#define TOKEN1 "Zm9vYmFyYmF6cXV1eDEyMzQ1Njc4OTBhYmNkZWZnaGlq"
#define TOKEN2 "dG9rZW4tcGFydC10d28tb2YtdGhlLWNoYWxsZW5nZQ"
#define THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define WRONG "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* ---- the DNS server ---- */

struct rr {
	char name[96];
	int type;
	unsigned char rdata[600];
	size_t len;
};

#define IDN_A "xn--fsqu00a.xn--fiqs8s"
#define IDN_U "\xe4\xbe\x8b\xe5\xad\x90.\xe4\xb8\xad\xe5\x9b\xbd"
#define LISI "\xe6\x9d\x8e\xe5\x9b\x9b" /* 李四 */
static const char *const zones[] = { "example.test", "other.test",
				     "caa.test",     "fail.test",
				     "slow.test",    IDN_A /* 例子.中国 */ };
#define FAILING_ZONE "fail.test" /* answered SERVFAIL */
#define SILENT_ZONE "slow.test" /* never answered */
static struct rr rrs[64];
static size_t nrrs;
static int dns_fd = -1, dead_port;
static volatile int dns_stop;
static pthread_t dns_thread;
static char tmpdir[64], resolver_conf[96], dead_conf[96];
static char digest[LL_JWK_THUMBPRINT_LEN + 1];
static char *key_pem;

static void add_rr(const char *name, int type, const void *rdata, size_t len)
{
	assert_true(nrrs < LL_ARRAY_SIZE(rrs) && len <= sizeof(rrs[0].rdata));
	snprintf(rrs[nrrs].name, sizeof(rrs[nrrs].name), "%s", name);
	rrs[nrrs].type = type;
	memcpy(rrs[nrrs].rdata, rdata, len);
	rrs[nrrs].len = len;
	nrrs++;
}

static void add_txt(const char *name, const char *text)
{
	unsigned char rd[600];
	size_t n = strlen(text), o = 0;

	for (size_t i = 0; i < n; i += 255) {
		size_t k = n - i > 255 ? 255 : n - i;

		rd[o++] = (unsigned char)k;
		memcpy(rd + o, text + i, k);
		o += k;
	}
	add_rr(name, 16, rd, o);
}

static void add_caa(const char *name, int flags, const char *tag,
		    const char *value)
{
	unsigned char rd[300];
	size_t tl = strlen(tag), vl = strlen(value);

	rd[0] = (unsigned char)flags;
	rd[1] = (unsigned char)tl;
	memcpy(rd + 2, tag, tl);
	memcpy(rd + 2 + tl, value, vl);
	add_rr(name, 257, rd, 2 + tl + vl);
}

/* NAME as wire labels at P; its length. */
static size_t put_name(unsigned char *p, const char *name)
{
	size_t o = 0;

	while (*name != '\0') {
		size_t k = strcspn(name, ".");

		p[o++] = (unsigned char)k;
		memcpy(p + o, name, k);
		o += k;
		name += k;
		if (*name == '.')
			name++;
	}
	p[o++] = 0;
	return o;
}

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, unsigned long v)
{
	put16(p, (unsigned)(v >> 16));
	put16(p + 2, (unsigned)(v & 0xffff));
}

static int ends_with(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	return n == z ? strcmp(name, zone) == 0 :
			n > z && name[n - z - 1] == '.' &&
				strcmp(name + n - z, zone) == 0;
}

/* The answer to query Q (N bytes) into A; its length, 0 to drop. */
static size_t answer(unsigned char *a, size_t cap, const unsigned char *q,
		     size_t n)
{
	char name[256];
	const char *zone = NULL;
	size_t i = 12, o = 0, qend, an = 0;
	int type, exists = 0;

	if (n < 17 || (q[2] & 0x80) != 0)
		return 0;
	while (i < n && q[i] != 0) {
		size_t k = q[i];

		if (k > 63 || i + 1 + k >= n || o + k + 1 >= sizeof(name))
			return 0;
		if (o > 0)
			name[o++] = '.';
		for (size_t j = 0; j < k; j++) {
			char c = (char)q[i + 1 + j];

			name[o++] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
		}
		i += 1 + k;
	}
	name[o] = '\0';
	if (i + 5 > n)
		return 0;
	type = q[i + 1] << 8 | q[i + 2];
	qend = i + 5;
	if (qend > cap)
		return 0;
	memcpy(a, q, qend);
	a[2] = (unsigned char)(0x84 | (q[2] & 0x01)); /* QR AA RD */
	a[3] = 0;
	put16(a + 4, 1);
	put16(a + 6, 0);
	put16(a + 8, 0);
	put16(a + 10, 0);
	for (size_t z = 0; z < LL_ARRAY_SIZE(zones); z++)
		if (ends_with(name, zones[z]))
			zone = zones[z];
	if (zone == NULL) {
		a[3] = 5; /* REFUSED */
		return qend;
	}
	if (strcmp(zone, SILENT_ZONE) == 0)
		return 0;
	if (strcmp(zone, FAILING_ZONE) == 0) {
		a[3] = 2; /* SERVFAIL */
		return qend;
	}
	o = qend;
	for (size_t r = 0; r < nrrs; r++) {
		if (ends_with(rrs[r].name, name))
			exists = 1;
		if (strcmp(rrs[r].name, name) != 0 || rrs[r].type != type)
			continue;
		if (o + 12 + rrs[r].len > cap)
			return 0;
		put16(a + o, 0xc00c);
		put16(a + o + 2, (unsigned)type);
		put16(a + o + 4, 1);
		put32(a + o + 6, 300);
		put16(a + o + 10, (unsigned)rrs[r].len);
		memcpy(a + o + 12, rrs[r].rdata, rrs[r].len);
		o += 12 + rrs[r].len;
		an++;
	}
	if (strcmp(name, zone) == 0)
		exists = 1;
	put16(a + 6, (unsigned)an);
	if (an == 0) {
		/* NODATA or NXDOMAIN, with the zone's SOA */
		char ns[128], mbox[128];
		size_t start, rd;

		a[3] = exists ? 0 : 3;
		snprintf(ns, sizeof(ns), "ns.%s", zone);
		snprintf(mbox, sizeof(mbox), "hostmaster.%s", zone);
		if (o + 3 * 130 + 40 > cap)
			return 0;
		o += put_name(a + o, zone);
		put16(a + o, 6);
		put16(a + o + 2, 1);
		put32(a + o + 4, 300);
		start = o + 10;
		rd = put_name(a + start, ns);
		rd += put_name(a + start + rd, mbox);
		put32(a + start + rd, 1);
		put32(a + start + rd + 4, 3600);
		put32(a + start + rd + 8, 600);
		put32(a + start + rd + 12, 86400);
		put32(a + start + rd + 16, 300);
		rd += 20;
		put16(a + o + 8, (unsigned)rd);
		o = start + rd;
		put16(a + 8, 1);
	}
	return o;
}

static void *dns_main(void *arg)
{
	unsigned char q[1500], a[1500];

	(void)arg;
	while (!dns_stop) {
		struct pollfd p = { .fd = dns_fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;
		size_t k;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvfrom(dns_fd, q, sizeof(q), 0, (struct sockaddr *)&from,
			     &fl);
		if (n <= 0)
			continue;
		k = answer(a, sizeof(a), q, (size_t)n);
		if (k > 0)
			(void)sendto(dns_fd, a, k, 0, (struct sockaddr *)&from,
				     fl);
	}
	return NULL;
}

static int bind_udp(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void write_conf(const char *path, int port)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "server:\n"
		   "\tdo-not-query-localhost: no\n"
		   "\tmodule-config: \"iterator\"\n"
		   "\tqname-minimisation: no\n"
		   "\tdo-ip6: no\n"
		   "\tverbosity: 0\n"
		   "\tlocal-zone: \"test.\" static\n");
	for (size_t z = 0; z < LL_ARRAY_SIZE(zones); z++)
		fprintf(f, "\tlocal-zone: \"%s.\" transparent\n", zones[z]);
	for (size_t z = 0; z < LL_ARRAY_SIZE(zones); z++)
		fprintf(f,
			"stub-zone:\n\tname: \"%s\"\n"
			"\tstub-addr: 127.0.0.1@%d\n",
			zones[z], port);
	assert_int_equal(fclose(f), 0);
}

/* ---- keys and digests, independently of jose.c ---- */

static void b64url(char *out, const unsigned char *in, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	unsigned long acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = al[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = al[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

static void make_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	unsigned char *der = NULL;
	char *b64, txt[700];
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	int n;

	assert_non_null(k);
	assert_non_null(b);
	assert_int_equal(
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	BIO_get_mem_ptr(b, &bm);
	key_pem = strndup(bm->data, bm->length);
	assert_non_null(key_pem);
	BIO_free(b);
	n = i2d_PUBKEY(k, &der);
	assert_true(n > 0);
	b64 = malloc((size_t)n * 2);
	assert_non_null(b64);
	EVP_EncodeBlock((unsigned char *)b64, der, n);
	snprintf(txt, sizeof(txt), "v=DKIM1; k=rsa; p=%s", b64);
	add_txt("mail._domainkey.example.test", txt);
	add_txt("mail._domainkey.other.test", txt);
	add_txt("mail._domainkey." IDN_A, txt);
	free(b64);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

static void make_digest(void)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	const char *ka = TOKEN1 TOKEN2 "." THUMB;

	assert_int_equal(
		EVP_Digest(ka, strlen(ka), md, &mdlen, EVP_sha256(), NULL), 1);
	b64url(digest, md, mdlen);
}

static int setup(void **state)
{
	int port;

	(void)state;
	make_key();
	make_digest();
	add_caa("ok.caa.test", 0, "issuemail", "ca.test");
	add_caa("other.caa.test", 0, "issuemail", "other.test");
	add_caa("params.caa.test", 0, "issuemail", " ca.test ; account=230");
	add_caa("empty.caa.test", 0, "issuemail", ";");
	add_caa("crit.caa.test", 128, "tbs", "unknown");
	add_caa("crit.caa.test", 0, "issuemail", "ca.test");
	add_caa("noncrit.caa.test", 0, "tbs", "unknown");
	add_caa("noncrit.caa.test", 0, "issuemail", "ca.test");
	add_caa("issue.caa.test", 0, "issue", "other.test");
	add_caa("two.caa.test", 0, "issuemail", "other.test");
	add_caa("two.caa.test", 0, "IssueMail", "CA.test");
	add_caa("critmail.caa.test", 128, "issuemail", "ca.test");
	add_rr("bad.caa.test", 257, "\x00\x09issue", 7); /* tag too long */
	add_txt("empty.example.test", "no CAA here");
	dns_fd = bind_udp(&port);
	assert_int_equal(pthread_create(&dns_thread, NULL, dns_main, NULL), 0);

	/* a port nobody answers on: bound, then closed */
	close(bind_udp(&dead_port));
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ll-reply.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(resolver_conf, sizeof(resolver_conf), "%s/unbound.conf",
		 tmpdir);
	snprintf(dead_conf, sizeof(dead_conf), "%s/dead.conf", tmpdir);
	write_conf(resolver_conf, port);
	write_conf(dead_conf, dead_port);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dns_stop = 1;
	pthread_join(dns_thread, NULL);
	close(dns_fd);
	unlink(resolver_conf);
	unlink(dead_conf);
	rmdir(tmpdir);
	free(key_pem);
	return 0;
}

/* ---- messages ---- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, f);
	assert_true(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

/* S with every CRLF made LF (in place). */
static char *to_lf(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			*o++ = *p;
	*o = '\0';
	return s;
}

/* The response block around D, in one of a few static buffers. */
static const char *block(const char *d)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]),
		 "-----BEGIN ACME RESPONSE-----\r\n%s\r\n"
		 "-----END ACME RESPONSE-----\r\n",
		 d);
	return b;
}

/* A reply from FROM with SUBJECT: the usual header fields, then REST
 * (more fields, the blank line, the body) formatted from its arguments;
 * malloc'd. */
static char *reply(const char *from, const char *subject, const char *rest, ...)
	__attribute__((format(printf, 3, 4)));

static char *reply(const char *from, const char *subject, const char *rest, ...)
{
	char *tail = NULL, *m;
	va_list ap;

	va_start(ap, rest);
	assert_true(vasprintf(&tail, rest, ap) >= 0);
	va_end(ap);
	m = fmt("From: %s\r\n"
		"To: acme@ca.test\r\n"
		"Subject: %s\r\n"
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
		"Message-ID: <reply1@example.test>\r\n"
		"MIME-Version: 1.0\r\n"
		"%s",
		from, subject, tail);
	free(tail);
	return m;
}

#define ALICE "alice@example.test"
#define SUBJECT "RE: ACME: " TOKEN1

/* The plain reply of FROM with EXTRA fields and digest D. */
static char *plain_reply(const char *from, const char *extra, const char *d)
{
	return reply(from, SUBJECT,
		     "%s"
		     "Content-Type: text/plain; charset=us-ascii\r\n"
		     "\r\n"
		     "Here is my answer.\r\n"
		     "\r\n"
		     "%s"
		     "\r\n"
		     "-- \r\n"
		     "Alice\r\n",
		     extra, block(d));
}

/* MSG DKIM-signed for DOMAIN (selector "mail"), the body's first LEN
 * bytes only when LEN >= 0, the fields named in SIGN (NULL: libopendkim's
 * choice); malloc'd. */
static char *dkim_signed_hdrs(const char *msg, const char *domain, ssize_t len,
			      const char **sign)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	struct ll_entity e;
	struct ll_field f;
	size_t pos = 0, hl = 0;
	u_char *hdr = NULL;
	DKIM_STAT st;
	DKIM *d;
	char *out;

	assert_non_null(lib);
	if (sign != NULL) {
		const char *none[] = { NULL };

		assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT,
					      DKIM_OPTS_REQUIREDHDRS, none,
					      sizeof(char **)),
				 DKIM_STAT_OK);
		assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT,
					      DKIM_OPTS_SIGNHDRS, sign,
					      sizeof(char **)),
				 DKIM_STAT_OK);
	}
	d = dkim_sign(lib, (const u_char *)"test", NULL, (dkim_sigkey_t)key_pem,
		      (const u_char *)"mail", (const u_char *)domain,
		      DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
		      DKIM_SIGN_RSASHA256, len, &st);
	assert_non_null(d);
	assert_int_equal(dkim_set_margin(d, 0), DKIM_STAT_OK);
	assert_int_equal(ll_mime_split(&e, msg, strlen(msg), NULL), 0);
	while (ll_mime_next_field(&e.hdr, &pos, &f))
		assert_int_equal(dkim_header(d, (u_char *)f.raw.p,
					     f.raw.len - 2),
				 DKIM_STAT_OK);
	assert_int_equal(dkim_eoh(d), DKIM_STAT_OK);
	assert_int_equal(dkim_body(d, (u_char *)e.body.p, e.body.len),
			 DKIM_STAT_OK);
	assert_int_equal(dkim_eom(d, NULL), DKIM_STAT_OK);
	assert_int_equal(dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr,
					  &hl),
			 DKIM_STAT_OK);
	out = fmt("DKIM-Signature: %.*s\r\n%s", (int)hl, (const char *)hdr,
		  msg);
	dkim_free(d);
	dkim_close(lib);
	return out;
}

static char *dkim_signed(const char *msg, const char *domain, ssize_t len)
{
	return dkim_signed_hdrs(msg, domain, len, NULL);
}

static void chall(struct lld_chall *c, time_t now)
{
	memset(c, 0, sizeof(*c));
	c->id = 7;
	strcpy(c->status, "pending");
	strcpy(c->token1, TOKEN1);
	strcpy(c->token2, TOKEN2);
	strcpy(c->email, "alice@example.test");
	strcpy(c->thumbprint, THUMB);
	c->created = now - 600;
	c->send_wanted = 1;
	c->sent = now - 590;
}

static struct lld_conf *conf(void)
{
	static struct lld_conf c;

	memset(&c, 0, sizeof(c));
	snprintf(c.resolver_conf, sizeof(c.resolver_conf), "%s", resolver_conf);
	return &c;
}

static int parse(struct lld_reply *r, const char *msg)
{
	struct ll_error err = { 0 };
	size_t n = strlen(msg);
	char *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, msg, n); /* no NUL after it */
	rc = lld_reply_parse(r, copy, n, &err);
	if (rc < 0)
		assert_true(err.code == rc && err.message[0] != '\0');
	free(copy);
	return rc;
}

static void assert_good(const struct lld_reply *r)
{
	assert_string_equal(r->from, "alice@example.test");
	assert_string_equal(r->from_domain, "example.test");
	assert_string_equal(r->token1, TOKEN1);
	assert_string_equal(r->digest, digest);
	assert_int_equal(r->from_count, 1);
	assert_int_equal(r->has_list_header, 0);
}

/* ---- lld_reply_parse ---- */

static void test_parse_crlf_lf(void **state)
{
	struct lld_reply r;
	char *m = plain_reply("Alice <alice@EXAMPLE.test>", "", digest);

	(void)state;
	assert_int_equal(parse(&r, m), 0);
	assert_good(&r);
	assert_int_equal(parse(&r, to_lf(m)), 0);
	assert_good(&r);
	free(m);
}

/* From alice, SUBJECT, the good block. */
static char *with_subject(const char *subject)
{
	return fmt("From: " ALICE "\r\nSubject: %s\r\n\r\n%s", subject,
		   block(digest));
}

static void test_parse_subjects(void **state)
{
	static const char *const good[] = {
		"ACME: " TOKEN1,
		"Re: ACME: " TOKEN1,
		"RE: ACME: " TOKEN1,
		"re:ACME:" TOKEN1 "  ",
		"RE: ACME:\r\n " TOKEN1, /* folded */
		"RE:\r\n\tACME:\r\n " TOKEN1, /* folded twice */
		"=?us-ascii?Q?RE=3A_ACME=3A_" TOKEN1 "?=", /* encoded */
	};
	static const char *const bad[] = {
		"ACME " TOKEN1,
		"Fwd: ACME: " TOKEN1,
		"RE: RE: ACME: " TOKEN1,
		"RE: ACME: " TOKEN1 " please",
		"RE: ACME: ",
		"RE: ACME: tok/en",
		"RE: ACME: " TOKEN1 "=",
	};
	struct lld_reply r;
	char subject[LLD_TOKEN_MAX + 16], *m;

	(void)state;
	/* a token of LLD_TOKEN_MAX characters is taken, one more is not */
	for (int more = 0; more <= 1; more++) {
		snprintf(subject, sizeof(subject), "ACME: %0*d",
			 LLD_TOKEN_MAX + more, 0);
		m = with_subject(subject);
		assert_int_equal(parse(&r, m), more ? LL_EPARSE : 0);
		if (!more)
			assert_string_equal(r.token1, subject + 6);
		free(m);
	}
	for (size_t i = 0; i < LL_ARRAY_SIZE(good); i++) {
		m = with_subject(good[i]);
		if (parse(&r, m) != 0)
			fail_msg("subject %zu refused", i);
		assert_good(&r);
		free(m);
	}
	for (size_t i = 0; i < LL_ARRAY_SIZE(bad); i++) {
		m = with_subject(bad[i]);
		if (parse(&r, m) != LL_EPARSE)
			fail_msg("subject %zu accepted", i);
		free(m);
	}
	/* two Subject fields, none */
	m = with_subject(SUBJECT "\r\nSubject: " SUBJECT);
	assert_int_equal(parse(&r, m), LL_EPARSE);
	free(m);
	m = fmt("From: " ALICE "\r\n\r\n%s", block(digest));
	assert_int_equal(parse(&r, m), LL_EPARSE);
	free(m);
}

static void test_parse_encodings(void **state)
{
	struct ll_buf b64 = { 0 };
	struct lld_reply r;
	char *plain, *m;

	(void)state;
	/* quoted-printable, with the digest broken by a soft line break */
	m = reply(ALICE, SUBJECT,
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n"
		  "\r\n"
		  "Gr=C3=BC=C3=9Fe,\r\n"
		  "=2D=2D=2D=2D=2DBEGIN ACME RESPONSE-----\r\n"
		  "%.20s=\r\n"
		  "%s\r\n"
		  "-----END ACME RESPONSE=2D=2D=2D=2D=2D\r\n",
		  digest, digest + 20);
	assert_int_equal(parse(&r, m), 0);
	assert_good(&r);
	free(m);

	/* base64 */
	plain = fmt("Hello,\r\n\r\n%sAlice\r\n", block(digest));
	assert_int_equal(ll_b64_encode(&b64, (const unsigned char *)plain,
				       strlen(plain)),
			 0);
	m = reply(ALICE, SUBJECT,
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: BASE64\r\n"
		  "\r\n"
		  "%.*s\r\n",
		  (int)b64.len, b64.p);
	assert_int_equal(parse(&r, m), 0);
	assert_good(&r);
	free(m);
	free(plain);
	ll_buf_free(&b64);

	/* broken base64 */
	m = reply(ALICE, SUBJECT,
		  "Content-Transfer-Encoding: base64\r\n"
		  "\r\n"
		  "LS0tLS1CRUdJTiBBQ01FIFJFU1BPTlNFLS0tLS0*\r\n");
	assert_int_equal(parse(&r, m), LL_EPARSE);
	free(m);
}

static void test_parse_multipart(void **state)
{
	struct ll_buf b = { 0 };
	struct lld_reply r;
	char *m;

	(void)state;
	/* multipart/alternative: text/plain first, then HTML */
	m = reply(ALICE, "Re: ACME: " TOKEN1,
		  "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
		  "\r\n"
		  "preamble\r\n"
		  "--b1\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n"
		  "\r\n"
		  "%s"
		  "--b1\r\n"
		  "Content-Type: text/html; charset=utf-8\r\n"
		  "\r\n"
		  "<p>-----BEGIN ACME RESPONSE-----<br>%s<br>"
		  "-----END ACME RESPONSE-----</p>\r\n"
		  "--b1--\r\n",
		  block(digest), WRONG);
	assert_int_equal(parse(&r, m), 0);
	assert_good(&r);
	free(m);

	/* nested: mixed { alternative { html, plain }, attachment } */
	m = reply(ALICE, SUBJECT,
		  "Content-Type: multipart/mixed; boundary=outer\r\n"
		  "\r\n"
		  "--outer\r\n"
		  "Content-Type: multipart/alternative; boundary=inner\r\n"
		  "\r\n"
		  "--inner\r\n"
		  "Content-Type: text/html\r\n"
		  "\r\n"
		  "<p>" WRONG "</p>\r\n"
		  "--inner\r\n"
		  "\r\n"
		  "   -----BEGIN ACME RESPONSE-----\r\n"
		  "  %s  \r\n"
		  "-----END ACME RESPONSE-----\r\n"
		  "--inner--\r\n"
		  "--outer\r\n"
		  "Content-Type: text/plain; name=notes.txt\r\n"
		  "Content-Disposition: attachment\r\n"
		  "\r\n"
		  "%s"
		  "--outer--\r\n",
		  digest, block(WRONG));
	assert_int_equal(parse(&r, m), 0);
	assert_good(&r);
	free(m);

	/* HTML only: no response */
	m = reply(ALICE, SUBJECT,
		  "Content-Type: text/html\r\n"
		  "\r\n"
		  "<pre>\r\n"
		  "%s"
		  "</pre>\r\n",
		  block(digest));
	assert_int_equal(parse(&r, m), LL_EPARSE);
	free(m);

	/* the block only in the second text/plain part: not taken */
	m = reply(ALICE, SUBJECT,
		  "Content-Type: multipart/mixed; boundary=b\r\n"
		  "\r\n"
		  "--b\r\n"
		  "Content-Type: text/plain\r\n"
		  "\r\n"
		  "see the attachment\r\n"
		  "--b\r\n"
		  "Content-Type: text/plain\r\n"
		  "\r\n"
		  "%s"
		  "--b--\r\n",
		  block(digest));
	assert_int_equal(parse(&r, m), LL_EPARSE);
	free(m);

	/* more body parts than are looked at */
	m = reply(ALICE, SUBJECT,
		  "Content-Type: multipart/mixed; boundary=b\r\n"
		  "\r\n");
	assert_int_equal(ll_buf_adds(&b, m), 0);
	free(m);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ll_buf_adds(&b, "--b\r\n\r\nx\r\n"), 0);
	assert_int_equal(ll_buf_adds(&b, "--b--\r\n"), 0);
	assert_int_equal(ll_buf_add(&b, "", 1), 0);
	assert_int_equal(parse(&r, b.p), LL_ETOOBIG);
	ll_buf_free(&b);

	/* no closing boundary */
	m = reply(ALICE, SUBJECT,
		  "Content-Type: multipart/alternative; boundary=b\r\n"
		  "\r\n"
		  "--b\r\n"
		  "\r\n"
		  "%s",
		  block(digest));
	assert_int_equal(parse(&r, m), LL_EPARSE);
	free(m);
}

static void test_parse_block(void **state)
{
	static const char *const bad[] = {
		/* none */
		"Hello\r\n",
		/* not closed */
		"-----BEGIN ACME RESPONSE-----\r\nabc\r\n",
		/* empty */
		"-----BEGIN ACME RESPONSE-----\r\n"
		"-----END ACME RESPONSE-----\r\n",
		/* not base64url */
		"-----BEGIN ACME RESPONSE-----\r\nab+c/d=\r\n"
		"-----END ACME RESPONSE-----\r\n",
		/* too long */
		"-----BEGIN ACME RESPONSE-----\r\n"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
		"-----END ACME RESPONSE-----\r\n",
		/* quoted */
		"> -----BEGIN ACME RESPONSE-----\r\n> " WRONG "\r\n"
		"> -----END ACME RESPONSE-----\r\n",
		/* a broken END line */
		"-----BEGIN ACME RESPONSE----- \r\n x\r\n"
		"----END ACME RESPONSE-----\r\n",
	};
	struct lld_reply r;
	char *m;

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(bad); i++) {
		m = reply(ALICE, SUBJECT, "\r\n%s", bad[i]);
		if (parse(&r, m) != LL_EPARSE)
			fail_msg("block %zu accepted", i);
		assert_string_equal(r.token1, "");
		free(m);
	}
	/* white space around the lines, the digest on two lines; the
	 * first block counts */
	m = reply(ALICE, SUBJECT,
		  "\r\n"
		  "\t -----BEGIN ACME RESPONSE-----   \r\n"
		  "\r\n"
		  "   %.11s\t\r\n"
		  "%s  \r\n"
		  "  -----END ACME RESPONSE-----\r\n"
		  "%s",
		  digest, digest + 11, block(WRONG));
	assert_int_equal(parse(&r, m), 0);
	assert_good(&r);
	free(m);
}

static void test_parse_from(void **state)
{
	static const struct {
		const char *from;
		const char *want; /* "" refused */
	} cases[] = {
		{ "alice@example.test", "alice@example.test" },
		{ "Alice Example <alice@Example.TEST>", "alice@example.test" },
		{ "\"Alice (home)\" <alice@example.test>",
		  "alice@example.test" },
		{ "\"alice@example.test\" <alice@example.test>",
		  "alice@example.test" },
		{ "alice@example.test (Alice)", "alice@example.test" },
		{ "\"bob@evil.test\" <alice@example.test>", "" },
		{ "bob@evil.test <alice@example.test>", "" },
		{ "=?utf-8?q?bob=40evil=2Etest?= <alice@example.test>", "" },
		{ "alice@example.test (bob@evil.test)", "" },
		{ "friends: alice@example.test;", "" },
		{ "friends: alice@example.test, bob@example.test;", "" },
		{ "alice@example.test, bob@example.test", "" },
		{ "<alice@example.test> <bob@example.test>", "" },
		{ "Alice", "" },
	};
	struct lld_reply r;
	char *m;

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(cases); i++) {
		m = plain_reply(cases[i].from, "", digest);
		assert_int_equal(parse(&r, m), 0);
		if (strcmp(r.from, cases[i].want) != 0)
			fail_msg("From: %s gave \"%s\"", cases[i].from, r.from);
		assert_int_equal(r.from_count, 1);
		assert_string_equal(r.from_domain, cases[i].want[0] != '\0' ?
							   "example.test" :
							   "");
		free(m);
	}
	/* two From fields */
	m = plain_reply("alice@example.test", "From: alice@example.test\r\n",
			digest);
	assert_int_equal(parse(&r, m), 0);
	assert_int_equal(r.from_count, 2);
	assert_string_equal(r.from, "");
	free(m);
	/* none */
	m = fmt("Subject: ACME: " TOKEN1 "\r\n\r\n%s", block(digest));
	assert_int_equal(parse(&r, m), 0);
	assert_int_equal(r.from_count, 0);
	assert_string_equal(r.from, "");
	free(m);
}

static void test_parse_list_and_size(void **state)
{
	struct lld_reply r;
	char *m, *big;
	size_t n;

	(void)state;
	m = plain_reply("alice@example.test",
			"List-Id: <acme.lists.example.test>\r\n", digest);
	assert_int_equal(parse(&r, m), 0);
	assert_int_equal(r.has_list_header, 1);
	free(m);
	m = plain_reply("alice@example.test",
			"list-unsubscribe: <mailto:x@example.test>\r\n",
			digest);
	assert_int_equal(parse(&r, m), 0);
	assert_int_equal(r.has_list_header, 1);
	free(m);

	/* oversize: refused before anything is read */
	m = plain_reply("alice@example.test", "", digest);
	n = strlen(m);
	big = malloc(LLD_REPLY_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', LLD_REPLY_MAX + 1);
	memcpy(big, m, n);
	assert_int_equal(lld_reply_parse(&r, big, LLD_REPLY_MAX + 1, NULL),
			 LL_ETOOBIG);
	/* exactly the limit is read */
	memcpy(big + LLD_REPLY_MAX - 2, "\r\n", 2);
	assert_int_equal(lld_reply_parse(&r, big, LLD_REPLY_MAX, NULL), 0);
	assert_good(&r);
	free(big);
	free(m);

	/* not a message at all */
	assert_int_equal(lld_reply_parse(&r, "", 0, NULL), LL_EPARSE);
	assert_int_equal(lld_reply_parse(&r, "\r\n\r\nbody", 8, NULL),
			 LL_EPARSE);
}

/* STYLE.md 9: every prefix, in a buffer of exactly its size. */
static void test_parse_every_prefix(void **state)
{
	char *full = plain_reply("Alice <alice@example.test>", "", digest);
	char *lf = to_lf(strdup(full));
	const char *msgs[] = { full, lf };

	(void)state;
	for (size_t k = 0; k < LL_ARRAY_SIZE(msgs); k++) {
		size_t n = strlen(msgs[k]);

		for (size_t i = 0; i <= n; i++) {
			struct lld_reply r;
			char *p = malloc(i ? i : 1);
			int rc;

			assert_non_null(p);
			memcpy(p, msgs[k], i);
			rc = lld_reply_parse(&r, p, i, NULL);
			if (rc == 0)
				assert_good(&r);
			else
				assert_true(rc == LL_EPARSE);
			free(p);
		}
	}
	free(lf);
	free(full);
}

/* ---- lld_reply_judge ---- */

static void assert_problem(const char *problem, const char *type)
{
	json_error_t je;
	json_t *j = json_loads(problem, 0, &je);
	const char *t, *d;

	if (j == NULL)
		fail_msg("problem is not JSON: %s", problem);
	t = json_string_value(json_object_get(j, "type"));
	d = json_string_value(json_object_get(j, "detail"));
	assert_non_null(t);
	assert_non_null(d);
	assert_true(d[0] != '\0');
	if (strcmp(t, type) != 0)
		fail_msg("problem %s, expected type %s", problem, type);
	json_decref(j);
}

/* Parse and judge MSG against C: the judge's return code. */
static int judge(const char *msg, const struct lld_chall *c, time_t now,
		 char problem[LLD_PROBLEM_MAX + 1])
{
	struct ll_error err = { 0 };
	struct lld_reply r;
	int rc;

	assert_int_equal(lld_reply_parse(&r, msg, strlen(msg), NULL), 0);
	memset(problem, 'x', LLD_PROBLEM_MAX + 1);
	rc = lld_reply_judge(&r, msg, strlen(msg), c, conf(), now, problem,
			     &err);
	if (rc == 0) {
		assert_string_equal(problem, "");
	} else {
		assert_int_equal(err.code, rc);
		assert_true(memchr(problem, '\0', LLD_PROBLEM_MAX + 1) != NULL);
	}
	return rc;
}

#define UNAUTH "urn:ietf:params:acme:error:unauthorized"
#define INCORRECT "urn:ietf:params:acme:error:incorrectResponse"

static void test_judge_good(void **state)
{
	char problem[LLD_PROBLEM_MAX + 1];
	struct lld_chall c;
	time_t now = time(NULL);
	char *m = plain_reply("Alice <alice@example.test>", "", digest);
	char *s = dkim_signed(m, "example.test", -1);

	(void)state;
	chall(&c, now);
	assert_int_equal(judge(s, &c, now, problem), 0);
	/* LF line ends verify too */
	to_lf(s);
	assert_int_equal(judge(s, &c, now, problem), 0);
	/* the identifier's domain in another case */
	strcpy(c.email, "alice@Example.Test");
	assert_int_equal(judge(s, &c, now, problem), 0);
	/* just inside the 24 hours */
	c.created = now - LLD_CHALLENGE_TTL + 1;
	assert_int_equal(judge(s, &c, now, problem), 0);
	free(s);
	free(m);
}

/* An IDN domain: the challenge went to the canonical form (A-labels),
 * the reply's From may name the domain in U-labels (RFC 6532); d= is
 * in A-labels (RFC 8616) either way. */
static void test_judge_idn(void **state)
{
	char problem[LLD_PROBLEM_MAX + 1];
	struct lld_chall c;
	time_t now = time(NULL);
	static const char *const froms[] = {
		LISI "@" IDN_U,
		LISI "@" IDN_A,
		LISI "@XN--FSQU00A.XN--FIQS8S",
	};

	(void)state;
	chall(&c, now);
	strcpy(c.email, LISI "@" IDN_A);
	for (size_t i = 0; i < LL_ARRAY_SIZE(froms); i++) {
		char *m = plain_reply(froms[i], "", digest);
		char *s = dkim_signed(m, IDN_A, -1);

		assert_int_equal(judge(s, &c, now, problem), 0);
		free(s);
		free(m);
	}
	/* another local part in the same domain: refused */
	{
		char *m = plain_reply("\xe7\x8e\x8b\xe4\xba\x94@" IDN_U, "",
				      digest);
		char *s = dkim_signed(m, IDN_A, -1);

		assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
		assert_problem(problem, UNAUTH);
		free(s);
		free(m);
	}
}

static void test_judge_refused(void **state)
{
	char problem[LLD_PROBLEM_MAX + 1];
	struct lld_chall c;
	time_t now = time(NULL);
	char *m, *s;

	(void)state;
	chall(&c, now);

	/* wrong digest, well signed: incorrectResponse */
	m = plain_reply("alice@example.test", "", WRONG);
	s = dkim_signed(m, "example.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, INCORRECT);
	free(s);
	free(m);

	/* from somebody else (signed by the right domain) */
	m = plain_reply("bob@example.test", "", digest);
	s = dkim_signed(m, "example.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);
	free(m);
	/* the local part differs only in case */
	m = plain_reply("Alice@example.test", "", digest);
	s = dkim_signed(m, "example.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);
	free(m);

	/* a mailing list */
	m = plain_reply("alice@example.test", "List-Id: <l.example.test>\r\n",
			digest);
	s = dkim_signed(m, "example.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);
	free(m);

	/* two From fields */
	m = plain_reply("alice@example.test", "From: alice@example.test\r\n",
			digest);
	s = dkim_signed(m, "example.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);
	free(m);

	/* a display name showing another address */
	m = plain_reply("\"bob@evil.test\" <alice@example.test>", "", digest);
	s = dkim_signed(m, "example.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);
	free(m);

	/* a good reply to a challenge older than 24 hours */
	m = plain_reply("alice@example.test", "", digest);
	s = dkim_signed(m, "example.test", -1);
	c.created = now - LLD_CHALLENGE_TTL;
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	c.created = now - 600;
	/* ... and to another challenge */
	strcpy(c.token1, "b3RoZXItdG9rZW4");
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	chall(&c, now);
	free(s);

	/* no signature */
	assert_int_equal(judge(m, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);

	/* signed by another domain */
	s = dkim_signed(m, "other.test", -1);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);

	/* signed, then the body changed */
	s = dkim_signed(m, "example.test", -1);
	*strstr(s, "Here is") = 'h';
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);

	/* signed, then the From changed in a way the From check allows */
	s = dkim_signed(m, "example.test", -1);
	memcpy(strstr(s, "From: alice@example.test") + 12, "EXAMPLE", 7);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);

	/* the signature does not cover From */
	{
		const char *sign[] = { "subject", "to", "date", NULL };

		s = dkim_signed_hdrs(m, "example.test", -1, sign);
		assert_null(strstr(s, "h=From"));
		assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
		assert_problem(problem, UNAUTH);
		free(s);
	}

	/* l=: the signature covers only the body's first line */
	s = dkim_signed(m, "example.test", 20);
	assert_int_equal(judge(s, &c, now, problem), LL_EPOLICY);
	assert_problem(problem, UNAUTH);
	free(s);
	free(m);
}

/* ---- lld_dkim_verify ---- */

static void test_dkim(void **state)
{
	char *m = plain_reply("alice@example.test", "", digest);
	char *s = dkim_signed(m, "example.test", -1);
	char *s2 = fmt("%s", s);
	struct ll_error err = { 0 };

	(void)state;
	assert_int_equal(lld_dkim_verify(s, strlen(s), "example.test",
					 resolver_conf, &err),
			 0);
	assert_int_equal(lld_dkim_verify(s, strlen(s), "EXAMPLE.test",
					 resolver_conf, &err),
			 0);
	assert_int_equal(lld_dkim_verify(s, strlen(s), "ca.test", resolver_conf,
					 &err),
			 LL_EPOLICY);
	assert_non_null(strstr(err.message, "ca.test"));
	assert_int_equal(lld_dkim_verify(m, strlen(m), "example.test",
					 resolver_conf, &err),
			 LL_EPOLICY);
	/* the DNS server fails: LL_EIO */
	free(s);
	s = dkim_signed(m, FAILING_ZONE, -1);
	assert_int_equal(lld_dkim_verify(s, strlen(s), FAILING_ZONE,
					 resolver_conf, &err),
			 LL_EIO);
	free(s);
	s = fmt("%s", s2);
	/* a second signature of another domain does not hide the good one */
	free(s);
	s = dkim_signed(s2, "other.test", -1);
	assert_int_equal(lld_dkim_verify(s, strlen(s), "example.test",
					 resolver_conf, &err),
			 0);
	assert_int_equal(lld_dkim_verify(s, strlen(s), "other.test",
					 resolver_conf, &err),
			 0);
	/* signatures of other domains are not looked up: one whose key
	 * lookup would time out costs nothing */
	free(s);
	s = dkim_signed(s2, SILENT_ZONE, -1);
	{
		time_t t0 = time(NULL);

		assert_int_equal(lld_dkim_verify(s, strlen(s), "example.test",
						 resolver_conf, &err),
				 0);
		assert_true(time(NULL) - t0 < 5);
	}

	/* no key published for the selector of this domain */
	free(s);
	s = dkim_signed(m, "caa.test", -1);
	assert_int_equal(lld_dkim_verify(s, strlen(s), "caa.test",
					 resolver_conf, &err),
			 LL_EPOLICY);
	free(s);
	free(s2);
	free(m);
}

/* ---- lld_caa_check ---- */

static void test_caa(void **state)
{
	static const struct {
		const char *domain;
		int rc;
	} cases[] = {
		{ "ok.caa.test", 0 },
		{ "OK.caa.test.", 0 },
		{ "x.y.ok.caa.test", 0 }, /* climbs to ok.caa.test */
		{ "caa.test", 0 }, /* no CAA up to the TLD */
		{ "nothing.caa.test", 0 },
		{ "example.test", 0 },
		{ "empty.example.test", 0 }, /* a TXT, no CAA */
		{ "params.caa.test", 0 },
		{ "noncrit.caa.test", 0 },
		{ "issue.caa.test", 0 }, /* issue is not issuemail */
		{ "two.caa.test", 0 },
		{ "critmail.caa.test", 0 }, /* a known critical tag */
		{ "other.caa.test", LL_EPOLICY },
		{ "x.other.caa.test", LL_EPOLICY },
		{ "empty.caa.test", LL_EPOLICY },
		{ "crit.caa.test", LL_EPOLICY },
		{ "bad.caa.test", LL_EPOLICY },
	};
	struct ll_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(cases); i++) {
		int rc = lld_caa_check(cases[i].domain, "ca.test",
				       resolver_conf, &err);

		if (rc != cases[i].rc)
			fail_msg("%s: %d (%s), expected %d", cases[i].domain,
				 rc, err.message, cases[i].rc);
	}
	assert_int_equal(lld_caa_check("other.caa.test", "ca.test",
				       resolver_conf, &err),
			 LL_EPOLICY);
	assert_non_null(strstr(err.message, "issuemail \"other.test\""));
	assert_int_equal(lld_caa_check("other.caa.test", "other.test",
				       resolver_conf, &err),
			 0);
	assert_int_equal(lld_caa_check("x." FAILING_ZONE, "ca.test",
				       resolver_conf, &err),
			 LL_EIO);
	/* nobody answers: the lookup times out */
	assert_int_equal(lld_caa_check("ok.caa.test", "ca.test", dead_conf,
				       &err),
			 LL_EIO);
	assert_int_equal(lld_caa_check("", "ca.test", resolver_conf, &err),
			 LL_EINVAL);
	assert_int_equal(lld_caa_check("a..test", "ca.test", resolver_conf,
				       &err),
			 LL_EINVAL);
	assert_int_equal(lld_caa_check("ok.caa.test", "", resolver_conf, &err),
			 LL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_crlf_lf),
		cmocka_unit_test(test_parse_subjects),
		cmocka_unit_test(test_parse_encodings),
		cmocka_unit_test(test_parse_multipart),
		cmocka_unit_test(test_parse_block),
		cmocka_unit_test(test_parse_from),
		cmocka_unit_test(test_parse_list_and_size),
		cmocka_unit_test(test_parse_every_prefix),
		cmocka_unit_test(test_judge_good),
		cmocka_unit_test(test_judge_idn),
		cmocka_unit_test(test_judge_refused),
		cmocka_unit_test(test_dkim),
		cmocka_unit_test(test_caa),
	};

	return cmocka_run_group_tests_name("reply", tests, setup, teardown);
}
