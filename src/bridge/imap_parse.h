/*
 * imap_parse.h - the bounded, incremental IMAP unit reader of the
 * bridge: one command (client side) or one response (server side) is a
 * line that may carry literals ({n} or {n+}, RFC 3501 4.3, RFC 7888),
 * each followed by N bytes and the rest of the line.
 *
 * Bytes go in as (ptr, len) in pieces of any size.  A line (between
 * literals) is at most IMAP_LINE_MAX bytes (or the reader's line_max), a literal at most the
 * reader's literal cap, a whole unit at most its unit cap; sizes are
 * checked before anything is allocated.
 */
#ifndef LL_IMAP_PARSE_H
#define LL_IMAP_PARSE_H

#include <stddef.h>

#define IMAP_LINE_MAX 8192
#define IMAP_ARG_MAX 1024 /* an argument read by imap_arg */

enum imap_feed {
	IMAP_MORE = 0, /* everything used; the unit goes on */
	IMAP_UNIT = 1, /* a whole unit is in buf[0..len) */
	IMAP_SYNC = 2, /* a line announced a synchronizing literal: the
			  peer waits for "+" before sending it */
};

enum imap_error {
	IMAP_ELINE = -1, /* a line longer than the reader's line_max */
	IMAP_ELITERAL = -2, /* a literal over the cap, or a bad {n} */
	IMAP_EUNIT = -3, /* the unit over its cap */
	IMAP_ENOMEM = -4,
};

struct imap_reader {
	size_t literal_max; /* in */
	size_t unit_max; /* in */
	size_t line_max; /* in: IMAP_LINE_MAX unless set after init (a
			    server's SEARCH answer is one long line) */
	char *buf; /* the unit so far (NUL-terminated) */
	size_t len, cap;
	size_t line_start; /* where the current line piece began */
	size_t literal_left; /* bytes of a literal still to come */
	int in_literal;
	int done; /* a unit was given; imap_reader_next before more */
};

/* A reader with those caps (nothing allocated yet). */
void imap_reader_init(struct imap_reader *r, size_t literal_max,
		      size_t unit_max);
/*
 * Read from DATA (LEN bytes); *used (<= LEN) says how many were taken.
 * IMAP_UNIT: the unit is r->buf[0..r->len), call imap_reader_next
 * before feeding again.  IMAP_SYNC: r->buf holds the unit up to the
 * announcing line; feed on after answering.  IMAP_MORE: all used.
 * Negative (enum imap_error): the stream cannot be read on.
 */
int imap_reader_feed(struct imap_reader *r, const char *data, size_t len,
		     size_t *used);
/* Forget the unit given; keep a small buffer. */
void imap_reader_next(struct imap_reader *r);
void imap_reader_free(struct imap_reader *r);

/*
 * One IMAP astring at *P (atom, "quoted" or a {n} literal followed by
 * CRLF and its bytes) of the unit ending at END, into OUT (SIZE bytes,
 * NUL-terminated; a NUL inside is refused); *P moves past it and one
 * space.  0, or -1 (missing, malformed, too long).
 */
int imap_arg(const char **p, const char *end, char *out, size_t size);

/*
 * An IMAP number (RFC 3501 9: 32 bits, so a UID, a sequence number) at
 * *P, before END: at most 10 digits, at most 4294967295, into *V; *p
 * moves past it.  0, or -1 (no digit, more, or larger): a server's
 * number is checked before it is used to size anything.
 */
int imap_number(const char **p, const char *end, unsigned long *v);

/* The length of the literal announced at the end of LINE[0..len)
 * (without CRLF): 0 and *n (SIZE_MAX for more than 10 digits), *sync;
 * or -1: none, or malformed. */
int imap_literal_size(const char *line, size_t len, size_t *n, int *sync);

#endif
