/*
 * imap_match.c - does a message, as the client is shown it, match a
 * content key of SEARCH (imap_search.h)?  GMime parses it and decodes
 * what a server decodes before it compares: RFC 2047 words of header
 * fields, the transfer encoding and the charset of text parts; GLib
 * folds the case of both sides (UTF-8), and a key matches when its
 * string is a substring.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "imap_search.h"

#define STATUS_FIELD "X-Letterlock-Status"
#define PART_DEPTH_MAX 16 /* nested multiparts and message/rfc822 */

struct imap_mview {
	GMimeMessage *msg;
	char *head; /* the header fields for TEXT, case-folded (lazy) */
	char *body; /* the text parts, case-folded (lazy) */
};

static void init_once(void)
{
	static int done;

	if (!done) {
		g_mime_init();
		done = 1;
	}
}

int imap_mview_new(struct imap_mview **out, const char *data, size_t len)
{
	struct imap_mview *m = calloc(1, sizeof(*m));
	GMimeStream *st;
	GMimeParser *parser;

	*out = NULL;
	if (m == NULL)
		return -1;
	init_once();
	st = g_mime_stream_mem_new_with_buffer(data, len);
	parser = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	m->msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	/* bytes GMime cannot read as a message match nothing */
	*out = m;
	return 0;
}

void imap_mview_free(struct imap_mview **pm)
{
	struct imap_mview *m = *pm;

	if (m == NULL)
		return;
	if (m->msg != NULL)
		g_object_unref(m->msg);
	g_free(m->head);
	g_free(m->body);
	free(m);
	*pm = NULL;
}

/* S (N bytes, UTF-8 or not) case-folded, valid UTF-8 (g_free). */
static char *fold(const char *s, gssize n)
{
	char *valid = g_utf8_make_valid(s, n);
	char *f = g_utf8_casefold(valid, -1);

	g_free(valid);
	return f;
}

/* The message's header fields: GMime keeps the Content-* ones with its
 * top part. */
static void header_lists(const struct imap_mview *m, GMimeHeaderList *hl[2])
{
	GMimeObject *top = g_mime_message_get_mime_part(m->msg);

	hl[0] = g_mime_object_get_header_list(GMIME_OBJECT(m->msg));
	hl[1] = top != NULL ? g_mime_object_get_header_list(top) : NULL;
}

int imap_mview_smime(const struct imap_mview *m)
{
	GMimeHeaderList *hl[2];
	GMimeObject *top;
	const char *ct;

	if (m->msg == NULL)
		return 0;
	header_lists(m, hl);
	top = g_mime_message_get_mime_part(m->msg);
	ct = top != NULL ? g_mime_object_get_header(top, "Content-Type") : NULL;
	return g_mime_header_list_contains(hl[0], STATUS_FIELD) && ct != NULL &&
	       imap_smime_type(ct, strlen(ct));
}

/* The decoded value of each field NAME (or every field but the status
 * one, NAME NULL) as "Name: value\n" lines, case-folded; NULL when
 * there is no field NAME. */
static char *fields(const struct imap_mview *m, const char *name)
{
	GMimeHeaderList *hl[2];
	GString *all = g_string_new(NULL);
	int seen = 0;
	char *f;

	header_lists(m, hl);
	for (int l = 0; l < 2 && hl[l] != NULL; l++) {
		int n = g_mime_header_list_get_count(hl[l]);

		for (int i = 0; i < n; i++) {
			GMimeHeader *h =
				g_mime_header_list_get_header_at(hl[l], i);
			const char *hn = g_mime_header_get_name(h);
			const char *v = g_mime_header_get_value(h);

			if (name != NULL ?
				    g_ascii_strcasecmp(hn, name) != 0 :
				    g_ascii_strcasecmp(hn, STATUS_FIELD) == 0)
				continue;
			seen = 1;
			if (name == NULL)
				g_string_append_printf(all, "%s: ", hn);
			g_string_append(all, v != NULL ? v : "");
			g_string_append_c(all, '\n');
		}
	}
	f = name == NULL || seen ? fold(all->str, (gssize)all->len) : NULL;
	g_string_free(all, TRUE);
	return f;
}

/* The text of part P, decoded and in UTF-8, appended to ALL. */
static void part_text(GMimePart *p, GString *all)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	const char *cs = g_mime_object_get_content_type_parameter(
		GMIME_OBJECT(p), "charset");
	GMimeStream *mem, *filtered;
	GByteArray *bytes;

	if (w == NULL)
		return;
	mem = g_mime_stream_mem_new();
	filtered = g_mime_stream_filter_new(mem);
	if (cs != NULL && g_ascii_strcasecmp(cs, "utf-8") != 0 &&
	    g_ascii_strcasecmp(cs, "us-ascii") != 0) {
		GMimeFilter *conv = g_mime_filter_charset_new(cs, "UTF-8");

		/* an unknown charset: the bytes as they are */
		if (conv != NULL) {
			g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered),
						 conv);
			g_object_unref(conv);
		}
	}
	g_mime_data_wrapper_write_to_stream(w, filtered);
	g_mime_stream_flush(filtered);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_string_append_len(all, (const char *)bytes->data, (gssize)bytes->len);
	g_string_append_c(all, '\n');
	g_object_unref(filtered);
	g_object_unref(mem);
}

/* The text parts under O, depth-first, appended to ALL; an attached
 * message's header fields too, as part of the body. */
static void walk(GMimeObject *o, GString *all, int depth)
{
	if (o == NULL || depth > PART_DEPTH_MAX)
		return;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++)
			walk(g_mime_multipart_get_part(mp, i), all, depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *inner =
			g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		char *h;

		if (inner == NULL)
			return;
		h = g_mime_object_get_headers(GMIME_OBJECT(inner), NULL);
		g_string_append(all, h);
		g_free(h);
		walk(g_mime_message_get_mime_part(inner), all, depth + 1);
	} else if (GMIME_IS_PART(o)) {
		GMimeContentType *ct = g_mime_object_get_content_type(o);

		if (ct != NULL &&
		    g_ascii_strcasecmp(g_mime_content_type_get_media_type(ct),
				       "text") == 0)
			part_text(GMIME_PART(o), all);
	}
}

static const char *body(struct imap_mview *m)
{
	if (m->body == NULL) {
		GString *all = g_string_new(NULL);

		walk(g_mime_message_get_mime_part(m->msg), all, 0);
		m->body = fold(all->str, (gssize)all->len);
		g_string_free(all, TRUE);
	}
	return m->body;
}

static const char *head(struct imap_mview *m)
{
	if (m->head == NULL)
		m->head = fields(m, NULL);
	return m->head;
}

int imap_match(struct imap_mview *m, const struct imap_sterm *k)
{
	static const char *const names[] = {
		[IMAP_SKEY_SUBJECT] = "Subject", [IMAP_SKEY_FROM] = "From",
		[IMAP_SKEY_TO] = "To",		 [IMAP_SKEY_CC] = "Cc",
		[IMAP_SKEY_BCC] = "Bcc",
	};
	char *want, *hay;
	int found;

	if (m->msg == NULL)
		return 0;
	want = fold(k->value, -1);
	switch (k->key) {
	case IMAP_SKEY_TEXT:
		found = strstr(head(m), want) != NULL ||
			strstr(body(m), want) != NULL;
		break;
	case IMAP_SKEY_BODY:
		found = strstr(body(m), want) != NULL;
		break;
	default:
		/* a field that is not there matches nothing, even "" */
		hay = fields(m, k->key == IMAP_SKEY_HEADER ? k->field :
							     names[k->key]);
		found = hay != NULL && strstr(hay, want) != NULL;
		g_free(hay);
		break;
	}
	g_free(want);
	return found;
}
