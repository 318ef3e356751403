/*
 * imap_body.h - FETCH data items (RFC 3501 6.4.5 and 7.4.2, RFC 9051)
 * answered by the bridge itself from a message it holds (the opened
 * S/MIME message with its X-Letterlock-Status header): the client's
 * item list parsed, and each item's value computed from the message's
 * bytes.  Pure functions of (ptr, len): unit-tested against what
 * Dovecot answers for the same messages, and fuzzed.
 */
#ifndef LL_IMAP_BODY_H
#define LL_IMAP_BODY_H

#include <stddef.h>

#include "imap_rewrite.h"

enum imap_item_kind {
	IMAP_ITEM_OTHER, /* passes to the server: FLAGS, INTERNALDATE,
			    UID, MODSEQ, X-GM-..., anything not below */
	IMAP_ITEM_RFC822_SIZE,
	IMAP_ITEM_ENVELOPE,
	IMAP_ITEM_BODY, /* BODY without a section: the short structure */
	IMAP_ITEM_BODYSTRUCTURE,
	IMAP_ITEM_RFC822, /* = BODY[], sets \Seen */
	IMAP_ITEM_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
	IMAP_ITEM_RFC822_TEXT, /* = BODY[TEXT], sets \Seen */
	IMAP_ITEM_SECTION, /* BODY[section]<partial>, BODY.PEEK[...] */
};

/* One item of the client's FETCH. */
struct imap_item {
	enum imap_item_kind kind;
	int peek; /* BODY.PEEK[...] (or RFC822.HEADER): no \Seen */
	/* an IMAP_ITEM_OTHER of an extension the bridge does not offer
	 * because the server would answer it from the ciphertext:
	 * BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...] (RFC 3516),
	 * PREVIEW (RFC 8970), SNIPPET (its draft) */
	int unoffered;
	/* IMAP_ITEM_SECTION: the section spec between the brackets as the
	 * client wrote it ("", "1.2", "HEADER", "1.HEADER.FIELDS (FROM
	 * TO)", "TEXT", "2.MIME", ...), NUL-terminated */
	char section[512];
	int partial; /* "<origin.count>" given */
	unsigned long origin, count;
	/* the item as the client wrote it: TEXT[0..len) of the command */
	const char *text;
	size_t len;
};

/* The items of a FETCH: at most IMAP_ITEMS_MAX. */
#define IMAP_ITEMS_MAX 64
struct imap_items {
	struct imap_item v[IMAP_ITEMS_MAX];
	size_t n;
	int modifiers; /* a modifier list followed the items */
};

/*
 * The FETCH item list at P (N bytes: one item, a macro ALL, FAST or
 * FULL expanded, or a parenthesized list; what follows the sequence
 * set of "FETCH set items" up to the line end, a CHANGEDSINCE modifier
 * after it included in nothing) into ITEMS.  Each item's text points
 * into P, but a macro's items have their names (static strings).
 * Names and section keywords in any case; BINARY[...] items (RFC 3516),
 * PREVIEW and SNIPPET are IMAP_ITEM_OTHER marked unoffered; a modifier
 * list sets items->modifiers.  0, or -1 when it is not a valid list,
 * or has more than IMAP_ITEMS_MAX items.
 */
int imap_items_parse(const char *p, size_t n, struct imap_items *items);

/* Is IT answered from the message (every kind but IMAP_ITEM_OTHER)? */
int imap_item_content(const struct imap_item *it);

/* Does IT set \Seen when fetched (RFC822, RFC822.TEXT, BODY[...]
 * without PEEK)? */
int imap_item_sets_seen(const struct imap_item *it);

/*
 * A message parsed into its MIME parts, bounded: multiparts and
 * message/rfc822 parts nest at most IMAP_BODY_DEPTH_MAX deep (a deeper
 * one is an opaque part); at most IMAP_BODY_PARTS_MAX parts (past them
 * the rest is the body of the multipart being read); the Content-* and
 * envelope fields looked for among a header's first IMAP_BODY_FIELDS_MAX
 * fields.  Parsing is one pass over the bytes; the parts' table is
 * the only allocation.
 */
#define IMAP_BODY_DEPTH_MAX 32
#define IMAP_BODY_PARTS_MAX 10000
#define IMAP_BODY_FIELDS_MAX 1000
struct imap_msg;

/* DATA (LEN bytes, CRLF line ends; not copied: it must outlive *OUT)
 * parsed: 0, or -1 (out of memory). Any bytes make a message. */
int imap_msg_parse(const char *data, size_t len, struct imap_msg **out);
void imap_msg_free(struct imap_msg **m);

/*
 * The value of IT for message M appended to O as the response item
 * "NAME VALUE" (no leading space): "RFC822.SIZE 1234", "ENVELOPE
 * (...)", "BODYSTRUCTURE (...)", "BODY[1.MIME] {n}\r\n...", "BODY[]<0>
 * {n}\r\n..." (the name without PEEK, the section in upper case, a
 * partial's origin only), a section that does not exist as the empty
 * literal "{0}\r\n", as Dovecot answers; a NUL of the message goes out
 * as 0x80 (no literal may hold one).  Byte for byte what Dovecot
 * answers for the same message (tests/integration/test_imap_body.sh).
 * 0, or -1 (IT is not a content item).  O->failed when out of memory.
 */
int imap_msg_render(const struct imap_msg *m, const struct imap_item *it,
		    struct imap_buf *o);

#endif
