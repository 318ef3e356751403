/*
 * fuzz_smtpd.c - what the bridge reads from SMTP clients
 * (src/bridge/smtp_parse.c), as its session uses it.
 *
 * The first two bytes of the input choose the size of the pieces the
 * rest is fed in (1 to 256 bytes) and the message limit; the rest is a
 * client's side of a session.  Each command line is taken apart as the
 * session does (verb; MAIL and RCPT paths and parameters; AUTH PLAIN's
 * response; "DATA" starts a message, "BDAT N [LAST]" a chunk).
 * Checked:
 *  - the parser takes no more than it is given and always progresses;
 *  - a command line has no LF, is at most SMTP_LINE_MAX bytes, and
 *    p->linelen is its length unless it holds a NUL;
 *  - a message is at most the limit, is empty or ends in CRLF, and
 *    dot-stuffing it again and feeding it whole gives it back;
 *  - a parsed path is printable ASCII, or has UTF-8 and says so (RFC
 *    6531), of at most SMTP_ADDR_MAX - 1 bytes; a message's
 *    Message-ID is a non-empty part of it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"
#include "fuzz.h"

/* M (N bytes) stuffed and ended, fed whole: the same message back. */
static void round_trip(const char *m, size_t n)
{
	struct smtp_parser p;
	char *s = malloc(2 * n + 4), *back;
	size_t k = 0, used = 0, blen = 0;
	int bol = 1;

	CHECK(s != NULL);
	for (size_t i = 0; i < n; i++) {
		if (bol && m[i] == '.')
			s[k++] = '.';
		s[k++] = m[i];
		bol = m[i] == '\n' && i > 0 && m[i - 1] == '\r';
	}
	memcpy(s + k, ".\r\n", 3);
	k += 3;
	smtp_parser_init(&p);
	smtp_parser_data(&p, n);
	CHECK(smtp_parser_feed(&p, s, k, &used) == SMTP_EV_DATA);
	CHECK(used == k);
	back = smtp_parser_take(&p, &blen);
	CHECK(back != NULL && blen == n && memcmp(back, m, n) == 0);
	free(back);
	free(s);
	smtp_parser_free(&p);
}

static void command(struct smtp_parser *p, size_t max, int *in_bdat)
{
	char addr[SMTP_ADDR_MAX], val[64], user[256], pass[256];
	const char *arg, *params;
	size_t len, n;
	int last, utf8;

	CHECK(p->linelen <= SMTP_LINE_MAX);
	CHECK(memchr(p->line, '\n', p->linelen) == NULL);
	len = strlen(p->line);
	CHECK(len <= p->linelen);
	switch (smtp_parse_verb(p->line, &arg)) {
	case SMTP_MAIL:
	case SMTP_RCPT:
		utf8 = smtp_parse_path(arg, "FROM:", addr, &params);
		if (utf8 < 0)
			utf8 = smtp_parse_path(arg, "TO:", addr, &params);
		if (utf8 >= 0) {
			int high = 0;

			CHECK(strlen(addr) < SMTP_ADDR_MAX);
			/* printable ASCII, or UTF-8 that says so */
			for (const unsigned char *a = (void *)addr; *a; a++) {
				CHECK(*a > 0x20 && *a != 0x7f);
				high |= *a >= 0x80;
			}
			CHECK(high == utf8);
			smtp_param(params, "SIZE", val, sizeof(val));
			smtp_param(params, "BODY", val, sizeof(val));
			smtp_param(params, "SMTPUTF8", val, sizeof(val));
		}
		break;
	case SMTP_AUTH:
		if (smtp_auth_plain(arg + strcspn(arg, " ") +
					    (arg[strcspn(arg, " ")] == ' '),
				    user, sizeof(user), pass,
				    sizeof(pass)) == 0) {
			CHECK(strlen(user) > 0 && strlen(user) < sizeof(user));
			CHECK(strlen(pass) < sizeof(pass));
		}
		break;
	case SMTP_DATA:
		smtp_parser_data(p, max);
		break;
	case SMTP_BDAT:
		/* chunks over 64 KiB are cut so that inputs stay small */
		if (smtp_parse_bdat(arg, &n, &last) == 0 && n < 65536) {
			smtp_parser_bdat(p, n, max, !*in_bdat);
			*in_bdat = !last;
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_parser p;
	size_t piece, max, at = 2;
	int in_bdat = 0;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] + 1;
	max = (size_t)data[1] * 16;
	smtp_parser_init(&p);
	while (at < size) {
		size_t n = size - at < piece ? size - at : piece, used = 0;
		enum smtp_event ev;
		char *m;
		size_t mlen;

		ev = smtp_parser_feed(&p, (const char *)data + at, n, &used);
		CHECK(used <= n);
		CHECK(used > 0);
		at += used;
		switch (ev) {
		case SMTP_EV_MORE:
			CHECK(used == n);
			break;
		case SMTP_EV_LINE:
			command(&p, max, &in_bdat);
			break;
		case SMTP_EV_LONG_LINE:
			break;
		case SMTP_EV_CHUNK:
			CHECK(p.chunk_left == 0);
			if (in_bdat)
				break;
			m = smtp_parser_take(&p, &mlen);
			CHECK(m == NULL ? mlen > max : mlen <= max);
			free(m);
			break;
		case SMTP_EV_DATA:
			m = smtp_parser_take(&p, &mlen);
			if (m != NULL) {
				char id[1000];

				CHECK(mlen <= max);
				if (smtp_message_id(id, sizeof(id), m, mlen))
					CHECK(strlen(id) > 0 &&
					      strlen(id) < sizeof(id) &&
					      memmem(m, mlen, id, strlen(id)) !=
						      NULL);
				CHECK(mlen == 0 ||
				      (mlen >= 2 && m[mlen - 2] == '\r' &&
				       m[mlen - 1] == '\n'));
				round_trip(m, mlen);
			} else {
				CHECK(mlen > max);
			}
			free(m);
			break;
		}
	}
	smtp_parser_free(&p);
	return 0;
}
