/*
 * smtp_parse.h - what the bridge reads from an SMTP client (RFC 5321):
 * command lines, the message after DATA (dot-unstuffed), the paths of
 * MAIL and RCPT with their parameters, and AUTH's base64 (RFC 4954).
 *
 * The parser is incremental and bounded: bytes go in as they arrive,
 * in pieces of any size, and it stops at each event (a command line,
 * the end of a message), so that a client's pipelined commands are
 * answered one at a time and in order.  A command line is at most
 * SMTP_LINE_MAX bytes (a longer one is skipped to its end and reported
 * once); a message is collected up to the limit given to
 * smtp_parser_data, never allocating more, and read to its end either
 * way.  Only CRLF ends a line of a message: "\r\n.\r\n" ends it, a bare
 * LF or CR is data.  A BDAT chunk (RFC 3030) is read as so many bytes,
 * added to the message, kept or not as for DATA.  Nothing here does
 * I/O.
 */
#ifndef LL_BRIDGE_SMTP_PARSE_H
#define LL_BRIDGE_SMTP_PARSE_H

#include <stddef.h>

/* A command line without its line end.  RFC 5321 4.5.3.1.4 says 512;
 * RFC 4954 4 asks for 12288 for AUTH, whose credentials here are an
 * address and a bridge password: 4096 is ample for both. */
#define SMTP_LINE_MAX 4096
#define SMTP_ADDR_MAX 256 /* a path's address (RFC 5321 4.5.3.1.3) */

enum smtp_event {
	SMTP_EV_MORE, /* every byte taken: give more */
	SMTP_EV_LINE, /* a command line: p->line, p->linelen */
	SMTP_EV_LONG_LINE, /* a line longer than SMTP_LINE_MAX ended */
	SMTP_EV_DATA, /* the message ended: smtp_parser_take */
	SMTP_EV_CHUNK, /* a BDAT chunk was read whole (RFC 3030) */
};

struct smtp_parser {
	int data_mode; /* 0 command lines, 1 DATA, 2 a BDAT chunk */
	size_t chunk_left; /* bytes of the BDAT chunk still to read */
	/* command lines */
	char line[SMTP_LINE_MAX + 2]; /* NUL-terminated (room for a CR) */
	size_t linelen;
	int have_line; /* line was given (SMTP_EV_LINE) */
	int overlong; /* the line passed SMTP_LINE_MAX: skipping */
	/* a message */
	char *data;
	size_t dlen, dcap, dmax;
	int dstate;
	int too_big; /* the message passed dmax: not kept */
};

void smtp_parser_init(struct smtp_parser *p);
/* Free the message being collected, if any.  P can be reused after
 * smtp_parser_init. */
void smtp_parser_free(struct smtp_parser *p);

/* From now on collect a message of at most MAX bytes (after the 354
 * reply to DATA), until "\r\n.\r\n". */
void smtp_parser_data(struct smtp_parser *p, size_t max);

/*
 * From now on read a BDAT chunk of N bytes (N > 0) into the message,
 * which FIRST starts (with the limit MAX; later chunks keep the first
 * one's).  SMTP_EV_CHUNK once all N bytes are read; then
 * smtp_parser_take after the last chunk.
 */
void smtp_parser_bdat(struct smtp_parser *p, size_t n, size_t max, int first);

/*
 * Take bytes of BUF (LEN of them) until an event: *used is how many
 * were taken (the rest is given again later).  After SMTP_EV_LINE the
 * line stays in p->line until the next call.
 */
enum smtp_event smtp_parser_feed(struct smtp_parser *p, const char *buf,
				 size_t len, size_t *used);

/*
 * After SMTP_EV_DATA (or the last chunk): the message (malloc'd, unstuffed, CRLF line ends,
 * NUL-terminated; *len bytes), or NULL when it was larger than the
 * limit (or memory ran out: *len is then 0, else the size it passed).
 * The parser is back in command mode.
 */
char *smtp_parser_take(struct smtp_parser *p, size_t *len);

enum smtp_verb {
	SMTP_UNKNOWN,
	SMTP_HELO,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_VRFY,
	SMTP_HELP,
	SMTP_STARTTLS,
	SMTP_AUTH,
	SMTP_BDAT,
};

/* A command line with a NUL byte inside is not a command: the caller
 * compares strlen(p->line) with p->linelen. */

/* The verb of LINE (any case) and its argument: what follows the verb
 * and one space ("" none), borrowed from LINE. */
enum smtp_verb smtp_parse_verb(const char *line, const char **arg);

/*
 * A MAIL or RCPT argument: PREFIX ("FROM:" or "TO:", any case), an
 * optional space, "<address>" ("<>" is empty), then parameters.  The
 * address (printable ASCII or well-formed UTF-8 (RFC 6531 3.3), no
 * space, at most SMTP_ADDR_MAX - 1 bytes) into ADDR; *params points at
 * the parameters ("" none).  0 for an ASCII address, 1 for one with
 * UTF-8 (it needs SMTPUTF8), -1 for a syntax error.
 */
int smtp_parse_path(const char *arg, const char *prefix,
		    char addr[SMTP_ADDR_MAX], const char **params);

/*
 * The value of the ESMTP parameter NAME (any case) in PARAMS
 * ("SIZE=123 BODY=8BITMIME") into VAL (SIZE bytes; "" for a parameter
 * without a value).  1 found, 0 not there, -1 malformed or too long.
 */
int smtp_param(const char *params, const char *name, char *val, size_t size);

/* BDAT's argument "SIZE [LAST]": the size (decimal, at most 18
 * digits) into *n, *last 1 when LAST (any case).  0, or -1. */
int smtp_parse_bdat(const char *arg, size_t *n, int *last);

/* Decode base64 TEXT (no white space, padded) into OUT (SIZE bytes):
 * the length, or -1 when it is not base64 or does not fit. */
int smtp_b64_decode(unsigned char *out, size_t size, const char *text);

/*
 * AUTH PLAIN's response (RFC 4616), base64: "[authzid] NUL authcid NUL
 * passwd".  The authentication identity into USER and the password
 * into PASS (each NUL-terminated, at most USIZE-1 and PSIZE-1 bytes,
 * no NUL inside); an authorization identity must be empty or equal the
 * authcid.  0, or -1.
 */
int smtp_auth_plain(const char *b64, char *user, size_t usize, char *pass,
		    size_t psize);

/*
 * The Message-ID of MSG (LEN bytes): the value of the first
 * "Message-ID:" field of its header (ended by the first empty line),
 * white space trimmed, into OUT (SIZE bytes).  1 found, 0 none (or
 * empty, folded, longer than SIZE - 1, or not printable ASCII).
 */
int smtp_message_id(char *out, size_t size, const char *msg, size_t len);

#endif
