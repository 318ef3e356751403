/*
 * imap_bodystruct.c - BODYSTRUCTURE, BODY and ENVELOPE of a message the
 * bridge holds (RFC 3501 7.4.2), computed from its parts (imap_msg.c),
 * written as Dovecot writes them where a client could see a difference:
 * the case of types and parameters as in the message, RFC 2231 pieces
 * merged, a text type without a charset given "us-ascii", strings quoted or
 * sent as literals by the same rule, addresses parsed the same way.
 *
 * The recursion over the parts is bounded by IMAP_BODY_DEPTH_MAX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_msg.h"

/* ---- strings ------------------------------------------------------- */

/*
 * S (N bytes) as an IMAP string for people to read, as Dovecot's
 * imap_append_string_for_humans writes it: a quoted string when S needs
 * no change; else blanks and line ends folded (runs of blanks one
 * space, none at the ends, CR and LF dropped, NUL as 0x80) and written
 * as a literal, which also carries '"', '\' and 8-bit bytes; "" when
 * nothing is left.
 */
static void put_human(struct imap_buf *o, const char *s, size_t n)
{
	struct imap_buf t = { 0 };
	int modify = 0, last_blank = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n') {
			modify = 1;
		} else if (c == ' ' || c == '\t') {
			if (last_blank || c == '\t')
				modify = 1;
			if (!last_blank)
				imap_buf_add(&t, " ", 1);
			last_blank = 1;
		} else {
			if (c == '\0' || c == '"' || c == '\\' || c >= 0x80)
				modify = 1;
			imap_buf_add(&t, c == '\0' ? "\x80" : s + i, 1);
			last_blank = 0;
		}
	}
	if (last_blank && t.len > 0) {
		/* a blank at the end */
		modify = 1;
		t.len--;
	}
	if (t.failed)
		o->failed = 1;
	if (!modify) {
		mime_put(o, "\"");
		imap_buf_add(o, s, n);
		mime_put(o, "\"");
	} else if (t.len == 0) {
		mime_put(o, "\"\"");
	} else {
		mime_put(o, "{");
		mime_put_num(o, t.len);
		mime_put(o, "}\r\n");
		imap_buf_add(o, t.p, t.len);
	}
	free(t.p);
}

/*
 * S (N bytes) as Dovecot's imap_append_nstring_nolf writes it: line
 * ends dropped, then a quoted string, or a literal when S holds 8-bit
 * bytes, NUL (as 0x80) or more than 4 characters to escape.
 */
static void put_string(struct imap_buf *o, const char *s, size_t n)
{
	size_t len = 0, escapes = 0;
	int literal = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n')
			continue;
		len++;
		if (c == '"' || c == '\\')
			escapes++;
		if (c >= 0x80 || c == '\0')
			literal = 1;
	}
	if (literal || escapes > 4) {
		mime_put(o, "{");
		mime_put_num(o, len);
		mime_put(o, "}\r\n");
	} else {
		mime_put(o, "\"");
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\r' || c == '\n')
			continue;
		if (!literal && escapes <= 4 && (c == '"' || c == '\\'))
			imap_buf_add(o, "\\", 1);
		imap_buf_add(o, c == '\0' ? "\x80" : &c, 1);
	}
	if (!literal && escapes <= 4)
		mime_put(o, "\"");
}

/* S (N bytes) as a string (for people: HUMAN); NIL when S is NULL. */
static void put_nstring(struct imap_buf *o, const char *s, size_t n, int human)
{
	if (s == NULL)
		mime_put(o, "NIL");
	else if (human)
		put_human(o, s, n);
	else
		put_string(o, s, n);
}

/* The value of field F of M (folded, as it is, but for the blanks
 * after the colon) as a string (for people: HUMAN), or NIL. */
static void put_value(struct imap_buf *o, const struct imap_msg *m,
		      const struct field *f, int human)
{
	size_t v;

	if (f == NULL) {
		mime_put(o, "NIL");
		return;
	}
	v = f->value;
	while (v < f->vend && (m->data[v] == ' ' || m->data[v] == '\t'))
		v++;
	if (human)
		put_human(o, m->data + v, f->vend - v);
	else
		put_string(o, m->data + v, f->vend - v);
}

/* ---- addresses (RFC 5322 3.4), as Dovecot's message_address_parse --- */

/* One address: name, route, mailbox, domain; each absent (NIL) or the
 * text in its buffer.  A group begins as (NIL NIL "name" NIL) and ends
 * as (NIL NIL NIL NIL). */
struct addr {
	struct imap_buf f[4];
	int has[4];
};

enum {
	A_NAME,
	A_ROUTE,
	A_MAILBOX,
	A_DOMAIN
};

struct addr_parser {
	struct lex l;
	struct addr a;
	struct imap_buf *o; /* the list written so far */
	size_t count;
};

/* (Adding nothing to an empty buffer makes it "": p is then never
 * NULL.) */
static void addr_set(struct addr *a, int i, const char *s, size_t n)
{
	a->f[i].len = 0;
	imap_buf_add(&a->f[i], "", 0);
	imap_buf_add(&a->f[i], s, n);
	a->has[i] = 1;
}

/* Write the address being read and start the next one. */
static void addr_emit(struct addr_parser *ap)
{
	struct imap_buf *o = ap->o;

	mime_put(o, ap->count++ == 0 ? "((" : "(");
	for (int i = 0; i < 4; i++) {
		if (i > 0)
			mime_put(o, " ");
		/* the name for people, as Dovecot writes it */
		put_nstring(o, ap->a.has[i] ? ap->a.f[i].p : NULL,
			    ap->a.f[i].len, i == A_NAME);
		ap->a.has[i] = 0;
		ap->a.f[i].len = 0;
	}
	mime_put(o, ")");
}

/* An address with what is missing filled in as Dovecot does. */
static void addr_emit_fixed(struct addr_parser *ap)
{
	if (!ap->a.has[A_MAILBOX])
		addr_set(&ap->a, A_MAILBOX, "MISSING_MAILBOX", 15);
	if (!ap->a.has[A_DOMAIN])
		addr_set(&ap->a, A_DOMAIN, "MISSING_DOMAIN", 14);
	addr_emit(ap);
}

static int more(const struct lex *l)
{
	return l->p < l->end;
}

static int at(const struct lex *l, char c)
{
	return l->p < l->end && *l->p == c;
}

/* An atom of RFC 5322 3.2.3. */
static int atext(int c)
{
	return c >= 0x80 ||
	       (c > 0x20 && c < 0x7f && !strchr("()<>[]:;@\\,.\"", c));
}

/* A dot-atom (blanks and comments around the dots allowed) onto O:
 * -1 when there is none, else whether more follows. */
static int dot_atom(struct lex *l, struct imap_buf *o)
{
	if (!more(l) || !atext((unsigned char)*l->p))
		return -1;
	for (;;) {
		const char *s = l->p;

		while (more(l) && atext((unsigned char)*l->p))
			l->p++;
		imap_buf_add(o, s, (size_t)(l->p - s));
		if (!mime_lex_cfws(l) || *l->p != '.')
			return more(l);
		l->p++;
		imap_buf_add(o, ".", 1);
		if (!mime_lex_cfws(l))
			return 0;
	}
}

/* A phrase (words and dots of RFC 5322 obs-phrase) onto O, the words
 * joined by one space: -1, or whether more follows. */
static int phrase(struct lex *l, struct imap_buf *o)
{
	if (!more(l))
		return 0;
	if (*l->p == '.')
		return -1;
	for (;;) {
		if (*l->p == '"') {
			if (mime_lex_quoted(l, o) < 0)
				return -1;
		} else {
			const char *s = l->p;

			while (more(l) &&
			       (atext((unsigned char)*l->p) || *l->p == '.'))
				l->p++;
			if (l->p == s)
				return -1;
			imap_buf_add(o, s, (size_t)(l->p - s));
			mime_lex_cfws(l);
		}
		if (!more(l))
			return 0;
		if (!atext((unsigned char)*l->p) && *l->p != '"' &&
		    *l->p != '.')
			return 1;
		imap_buf_add(o, " ", 1);
	}
}

/* "@" domain (a dot-atom or a [domain-literal]) onto O. */
static int domain(struct lex *l, struct imap_buf *o)
{
	l->p++; /* the '@' */
	if (!mime_lex_cfws(l))
		return -1;
	if (*l->p == '[') {
		const char *s = l->p;

		while (more(l) && *l->p != ']')
			l->p += *l->p == '\\' && l->p + 1 < l->end ? 2 : 1;
		if (!more(l))
			return -1;
		l->p++;
		imap_buf_add(o, s, (size_t)(l->p - s));
		return mime_lex_cfws(l);
	}
	return dot_atom(l, o);
}

/* local-part: a quoted string or a dot-atom. */
static int local_part(struct addr_parser *ap)
{
	struct imap_buf *o = &ap->a.f[A_MAILBOX];

	int rc;

	o->len = 0;
	imap_buf_add(o, "", 0);
	if (at(&ap->l, '"'))
		rc = mime_lex_quoted(&ap->l, o) < 0 ? -1 : more(&ap->l);
	else
		rc = dot_atom(&ap->l, o);
	ap->a.has[A_MAILBOX] = rc >= 0;
	return rc;
}

static int domain_of(struct addr_parser *ap)
{
	int rc;

	ap->a.f[A_DOMAIN].len = 0;
	imap_buf_add(&ap->a.f[A_DOMAIN], "", 0);
	rc = domain(&ap->l, &ap->a.f[A_DOMAIN]);
	ap->a.has[A_DOMAIN] = rc >= 0;
	return rc;
}

/* "<" ["@" route ":"] local-part ["@" domain] ">" */
static int angle_addr(struct addr_parser *ap)
{
	struct lex *l = &ap->l;
	int rc;

	l->p++;
	if (!mime_lex_cfws(l))
		return -1;
	if (*l->p == '>') {
		/* "<>": no mailbox, no domain */
		l->p++;
		return mime_lex_cfws(l);
	}
	if (*l->p == '@') {
		struct imap_buf *r = &ap->a.f[A_ROUTE];

		r->len = 0;
		imap_buf_add(r, "", 0);
		while (at(l, '@')) {
			if (r->len > 0)
				imap_buf_add(r, ",", 1);
			imap_buf_add(r, "@", 1);
			if (domain(l, r) <= 0)
				break;
			while (mime_lex_cfws(l) && *l->p == ',')
				l->p++;
		}
		ap->a.has[A_ROUTE] = 1;
		if (!at(l, ':')) {
			addr_set(&ap->a, A_ROUTE, "INVALID_ROUTE", 13);
			return -1;
		}
		l->p++;
		if (!mime_lex_cfws(l))
			return -1;
	}
	rc = local_part(ap);
	if (rc <= 0)
		return -1;
	if (at(l, '@') && domain_of(ap) <= 0)
		return -1;
	if (!at(l, '>'))
		return -1;
	l->p++;
	return mime_lex_cfws(l);
}

/* mailbox = name-addr / addr-spec; an addr-spec is named by the last
 * comment in it. */
static int mailbox(struct addr_parser *ap)
{
	struct lex *l = &ap->l;
	const char *start = l->p;
	struct imap_buf *name = &ap->a.f[A_NAME];
	int rc = -1;

	name->len = 0;
	imap_buf_add(name, "", 0);
	if (at(l, '<') || (phrase(l, name) > 0 && at(l, '<'))) {
		ap->a.has[A_NAME] = name->len > 0;
		if (angle_addr(ap) < 0)
			addr_set(&ap->a, A_DOMAIN, "SYNTAX_ERROR", 12);
		rc = more(l);
	} else {
		l->p = start;
		l->comment_len = 0;
		/* "@domain": no local part */
		rc = at(l, '@') ? 1 : local_part(ap);
		if (rc != 0 && at(l, '@')) {
			int rc2 = domain_of(ap);

			if (rc2 <= 0)
				rc = rc2;
		}
		if (l->comment_len > 0)
			addr_set(&ap->a, A_NAME, l->comment, l->comment_len);
		else
			ap->a.has[A_NAME] = 0;
	}
	addr_emit_fixed(ap);
	return rc;
}

/* group = display-name ":" [mailbox-list] ";": -2 when it is none. */
static int group(struct addr_parser *ap)
{
	struct lex *l = &ap->l;
	struct imap_buf *name = &ap->a.f[A_MAILBOX];
	int rc;

	name->len = 0;
	imap_buf_add(name, "", 0);
	if (phrase(l, name) <= 0 || !at(l, ':'))
		return -2;
	l->p++;
	ap->a.has[A_MAILBOX] = 1;
	addr_emit(ap);
	rc = mime_lex_cfws(l);
	if (rc > 0 && *l->p != ';') {
		for (;;) {
			if (mailbox(ap) <= 0) {
				rc = -1;
				break;
			}
			if (*l->p != ',')
				break;
			l->p++;
			if (!mime_lex_cfws(l)) {
				rc = -1;
				break;
			}
		}
	}
	if (rc >= 0) {
		if (!at(l, ';')) {
			rc = -1;
		} else {
			l->p++;
			rc = mime_lex_cfws(l);
		}
	}
	addr_emit(ap); /* the group's end */
	return rc == 0 ? 0 : 1;
}

/* The address list of field F of M (NULL: none) as an ENVELOPE address
 * list onto O, or NIL when it holds none; how many addresses. */
static size_t put_addresses(struct imap_buf *o, const struct imap_msg *m,
			    const struct field *f)
{
	struct addr_parser ap;

	memset(&ap, 0, sizeof(ap));
	ap.o = o;
	if (f != NULL) {
		mime_lex_init(&ap.l, m->data + f->value, m->data + f->vend);
		if (mime_lex_cfws(&ap.l)) {
			for (;;) {
				const char *start = ap.l.p;
				int rc = group(&ap);

				if (rc == -2) {
					ap.l.p = start;
					rc = mailbox(&ap);
				}
				if (rc == 0 || !at(&ap.l, ','))
					break;
				ap.l.p++;
				if (!mime_lex_cfws(&ap.l))
					break;
			}
		}
	}
	for (int i = 0; i < 4; i++) {
		if (ap.a.f[i].failed)
			o->failed = 1;
		free(ap.a.f[i].p);
	}
	mime_put(o, ap.count > 0 ? ")" : "NIL");
	return ap.count;
}

/* ---- ENVELOPE ------------------------------------------------------ */

enum {
	E_DATE,
	E_SUBJECT,
	E_FROM,
	E_SENDER,
	E_REPLY_TO,
	E_TO,
	E_CC,
	E_BCC,
	E_IN_REPLY_TO,
	E_MESSAGE_ID,
	E_FIELDS,
};

static const char *const envelope_fields[E_FIELDS] = {
	"Date", "Subject", "From", "Sender",	  "Reply-To",
	"To",	"Cc",	   "Bcc",  "In-Reply-To", "Message-ID",
};

/* The envelope of the message whose header is part P's: each field's
 * last occurrence (as Dovecot takes it); Sender and Reply-To default to
 * From. */
static void envelope(const struct imap_msg *m, const struct part *p,
		     struct imap_buf *o)
{
	struct field found[E_FIELDS], f;
	const struct field *at_[E_FIELDS] = { 0 };
	struct fields it;

	mime_fields_init(&it, p, IMAP_BODY_FIELDS_MAX);
	while (mime_field_next(m->data, &it, &f))
		for (int i = 0; i < E_FIELDS; i++)
			if (mime_field_is(m->data, &f, envelope_fields[i])) {
				found[i] = f;
				at_[i] = &found[i];
			}
	put_value(o, m, at_[E_DATE], 0);
	mime_put(o, " ");
	put_value(o, m, at_[E_SUBJECT], 1);
	mime_put(o, " ");
	put_addresses(o, m, at_[E_FROM]);
	for (int i = E_SENDER; i <= E_REPLY_TO; i++) {
		struct imap_buf t = { 0 };

		mime_put(o, " ");
		if (put_addresses(&t, m, at_[i]) > 0)
			imap_buf_add(o, t.p, t.len);
		else
			put_addresses(o, m, at_[E_FROM]);
		if (t.failed)
			o->failed = 1;
		free(t.p);
	}
	for (int i = E_TO; i <= E_BCC; i++) {
		mime_put(o, " ");
		put_addresses(o, m, at_[i]);
	}
	mime_put(o, " ");
	put_value(o, m, at_[E_IN_REPLY_TO], 0);
	mime_put(o, " ");
	put_value(o, m, at_[E_MESSAGE_ID], 0);
}

void imap_msg_envelope(const struct imap_msg *m, struct imap_buf *o)
{
	mime_put(o, "ENVELOPE (");
	envelope(m, &m->v[0], o);
	mime_put(o, ")");
}

/* ---- BODYSTRUCTURE, BODY ------------------------------------------- */

/* The Content-* fields of a part that BODYSTRUCTURE reports: the first
 * of each. */
enum {
	C_TYPE,
	C_ENCODING,
	C_ID,
	C_DESCRIPTION,
	C_MD5,
	C_DISPOSITION,
	C_LANGUAGE,
	C_LOCATION,
	C_FIELDS,
};

static const char *const content_fields[C_FIELDS] = {
	"Content-Type",	    "Content-Transfer-Encoding",
	"Content-ID",	    "Content-Description",
	"Content-MD5",	    "Content-Disposition",
	"Content-Language", "Content-Location",
};

struct content {
	struct field v[C_FIELDS];
	int has[C_FIELDS];
};

static void content_get(const struct imap_msg *m, const struct part *p,
			struct content *c)
{
	struct fields it;
	struct field f;
	int mime;

	memset(c, 0, sizeof(*c));
	/* a part of a multipart is MIME; a message only with MIME-Version
	 * or Content-Type, else Dovecot forgets its Content-* fields */
	mime = p->parent >= 0 && (m->v[p->parent].flags & PART_MULTIPART);
	mime_fields_init(&it, p, IMAP_BODY_FIELDS_MAX);
	while (mime_field_next(m->data, &it, &f)) {
		if (mime_field_is(m->data, &f, "MIME-Version"))
			mime = 1;
		if (f.name_end - f.start < 8 ||
		    !mime_starts_kw(m->data + f.start, 8, "Content-"))
			continue;
		for (int i = 0; i < C_FIELDS; i++)
			if (!c->has[i] &&
			    mime_field_is(m->data, &f, content_fields[i])) {
				c->v[i] = f;
				c->has[i] = 1;
			}
	}
	if (!mime && !c->has[C_TYPE])
		memset(c, 0, sizeof(*c));
}

/* A list of parameters: ("key" "value" ...), with the default charset
 * "us-ascii" appended for text; NIL when empty. */
static void put_params(struct imap_buf *o, struct lex *l, int text)
{
	struct params ps;
	int charset = 0;

	if (mime_params_parse(l, &ps) < 0)
		o->failed = 1;
	for (size_t i = 0; i < ps.n; i++) {
		const struct param *p = &ps.v[i];

		mime_put(o, i == 0 ? "(" : " ");
		put_string(o, mime_pk(&ps, p), p->klen);
		mime_put(o, " ");
		put_string(o, mime_pv(&ps, p), p->vlen);
		charset |= mime_is_kw(mime_pk(&ps, p), p->klen, "charset");
	}
	if (text && !charset)
		mime_put(o, ps.n > 0 ? " \"charset\" \"us-ascii\")" :
				       "(\"charset\" \"us-ascii\")");
	else
		mime_put(o, ps.n > 0 ? ")" : "NIL");
	mime_params_free(&ps);
}

/* A field's first token (an encoding, a disposition's type) and the
 * lexer after it: 0, or -1 when it has none. */
static int first_token(const struct imap_msg *m, const struct field *f,
		       struct lex *l, const char **s, size_t *n)
{
	mime_lex_init(l, m->data + f->value, m->data + f->vend);
	mime_lex_cfws(l);
	return mime_lex_token(l, s, n);
}

/* The extension data of BODYSTRUCTURE after md5 (a single part) or
 * the parameters (a multipart): disposition, language, location. */
static void put_extension(struct imap_buf *o, const struct imap_msg *m,
			  const struct content *c)
{
	struct lex l;
	const char *s;
	size_t n;

	mime_put(o, " ");
	if (c->has[C_DISPOSITION] &&
	    first_token(m, &c->v[C_DISPOSITION], &l, &s, &n) == 0) {
		mime_put(o, "(");
		put_string(o, s, n);
		mime_put(o, " ");
		put_params(o, &l, 0);
		mime_put(o, ")");
	} else {
		mime_put(o, "NIL");
	}
	/* Content-Language: 1#Language-tag, as atoms */
	mime_put(o, " ");
	{
		size_t count = 0;

		if (c->has[C_LANGUAGE]) {
			mime_lex_init(&l, m->data + c->v[C_LANGUAGE].value,
				      m->data + c->v[C_LANGUAGE].vend);
			mime_lex_cfws(&l);
			while (mime_lex_token(&l, &s, &n) == 0) {
				mime_put(o, count++ == 0 ? "(" : " ");
				put_string(o, s, n);
				if (!at(&l, ','))
					break;
				l.p++;
				mime_lex_cfws(&l);
			}
		}
		mime_put(o, count > 0 ? ")" : "NIL");
	}
	mime_put(o, " ");
	put_value(o, m, c->has[C_LOCATION] ? &c->v[C_LOCATION] : NULL, 0);
}

/* A multipart with no parts is written with one empty text/plain (no
 * IMAP body is a multipart without parts). */
static void put_empty(struct imap_buf *o, int ext)
{
	mime_put(o, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		    "\"7bit\" 0 0");
	mime_put(o, ext ? " NIL NIL NIL NIL)" : ")");
}

static void body(const struct imap_msg *m, int pi, int ext, struct imap_buf *o);

static void body_multipart(const struct imap_msg *m, const struct part *p,
			   const struct content *c, int ext, struct imap_buf *o)
{
	struct ctype ct;
	struct lex none; /* no parameters */

	if (p->child < 0)
		put_empty(o, ext);
	for (int ch = p->child; ch >= 0; ch = m->v[ch].next)
		body(m, ch, ext, o);
	mime_ctype_get(m, p, &ct);
	mime_lex_init(&none, "", "");
	mime_put(o, " ");
	put_string(o, ct.sub, ct.slen);
	if (!ext)
		return;
	mime_put(o, " ");
	put_params(o, ct.ok ? &ct.rest : &none, 0);
	put_extension(o, m, c);
}

static void body_single(const struct imap_msg *m, const struct part *p,
			const struct content *c, int ext, struct imap_buf *o)
{
	struct ctype ct;
	struct lex l, none; /* none: no parameters */
	const char *s;
	size_t n;
	int text, present;

	present = mime_ctype_get(m, p, &ct) && c->has[C_TYPE];
	mime_lex_init(&none, "", "");
	if (p->flags & PART_RFC822) {
		mime_put(o, "\"message\" \"rfc822\"");
		text = 0;
	} else if (!present) {
		mime_put(o, "\"text\" \"plain\"");
		text = 1;
	} else {
		put_string(o, ct.type, ct.tlen);
		mime_put(o, " ");
		put_string(o, ct.sub, ct.slen);
		text = mime_is_kw(ct.type, ct.tlen, "text");
	}
	mime_put(o, " ");
	put_params(o, present && ct.ok ? &ct.rest : &none, text);
	mime_put(o, " ");
	put_value(o, m, c->has[C_ID] ? &c->v[C_ID] : NULL, 0);
	mime_put(o, " ");
	put_value(o, m, c->has[C_DESCRIPTION] ? &c->v[C_DESCRIPTION] : NULL, 0);
	mime_put(o, " ");
	/* the encoding: one token and nothing after it, else "7bit" */
	if (c->has[C_ENCODING] &&
	    first_token(m, &c->v[C_ENCODING], &l, &s, &n) == 0 && l.p == l.end)
		put_string(o, s, n);
	else
		mime_put(o, "\"7bit\"");
	mime_put(o, " ");
	mime_put_num(o, p->end - p->body);
	if (text) {
		mime_put(o, " ");
		mime_put_num(o, p->lines);
	} else if (p->flags & PART_RFC822) {
		const struct part *msg = &m->v[p->child];

		mime_put(o, " (");
		envelope(m, msg, o);
		mime_put(o, ") ");
		body(m, p->child, ext, o);
		mime_put(o, " ");
		mime_put_num(o, p->lines);
	}
	if (!ext)
		return;
	mime_put(o, " ");
	put_value(o, m, c->has[C_MD5] ? &c->v[C_MD5] : NULL, 0);
	put_extension(o, m, c);
}

/* Part PI's body structure, in parentheses. */
static void body(const struct imap_msg *m, int pi, int ext, struct imap_buf *o)
{
	const struct part *p = &m->v[pi];
	struct content c;

	content_get(m, p, &c);
	mime_put(o, "(");
	if (p->flags & PART_MULTIPART)
		body_multipart(m, p, &c, ext, o);
	else
		body_single(m, p, &c, ext, o);
	mime_put(o, ")");
}

void imap_msg_bodystructure(const struct imap_msg *m, int ext,
			    struct imap_buf *o)
{
	mime_put(o, ext ? "BODYSTRUCTURE " : "BODY ");
	body(m, 0, ext, o);
}
