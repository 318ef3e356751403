/*
 * msg_addr.c - addresses of From/To/Cc/Bcc, parsed by GMime.
 */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include <gmime/gmime.h>

#include "internal.h"
#include "ca_internal.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
	g_mime_init();
}

void ll_gmime_init(void)
{
	pthread_once(&gmime_once, gmime_init_once);
}

/* Lower-case the domain (local parts are case-sensitive, RFC 5321). */
void ll_addr_normalise(char *addr)
{
	char *at = strrchr(addr, '@');

	if (at == NULL)
		return;
	for (char *s = at + 1; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

void ll_strv_free(char ***pp)
{
	char **v;

	if (pp == NULL || *pp == NULL)
		return;
	v = *pp;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
	*pp = NULL;
}

struct strv {
	char **v;
	size_t n;
};

static int strv_push(struct strv *s, const char *addr)
{
	char **nv;

	if (s->n >= LL_MSG_MAX_RECIPIENTS)
		return LL_EPOLICY;
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->v[i], addr) == 0)
			return 0;
	nv = realloc(s->v, (s->n + 2) * sizeof(*nv));
	if (nv == NULL)
		return LL_ENOMEM;
	s->v = nv;
	s->v[s->n] = strdup(addr);
	if (s->v[s->n] == NULL)
		return LL_ENOMEM;
	ll_addr_normalise(s->v[s->n]);
	s->n++;
	s->v[s->n] = NULL;
	return 0;
}

static int walk(struct strv *s, InternetAddressList *list, int depth)
{
	int n = internet_address_list_length(list), rc;

	if (depth > 2)
		return LL_EPARSE;
	for (int i = 0; i < n; i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			rc = walk(s, internet_address_group_get_members(
					     INTERNET_ADDRESS_GROUP(a)),
				  depth + 1);
		} else {
			const char *m = internet_address_mailbox_get_addr(
				INTERNET_ADDRESS_MAILBOX(a));

			if (m == NULL || strchr(m, '@') == NULL ||
			    strlen(m) > 254)
				return LL_EPARSE;
			rc = strv_push(s, m);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

static int parse_into(struct strv *s, const char *value, struct ll_error *err)
{
	InternetAddressList *list;
	int rc;

	/* bound what GMime's parser is given: groups do not nest, and a
	 * field of more than 1000 addresses is refused anyway */
	if (strlen(value) > LL_MSG_MAX_ADDR_FIELD ||
	    count_char(value, ':') > 64)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "address field too long or with too many groups");
	ll_gmime_init();
	list = internet_address_list_parse(NULL, value);
	if (list == NULL)
		return ll_err(err, LL_EPARSE, LL_ECLASS_MIME,
			      "unparsable address list: %.60s", value);
	rc = walk(s, list, 0);
	g_object_unref(list);
	if (rc == LL_EPARSE)
		return ll_err(err, rc, LL_ECLASS_MIME,
			      "invalid address in: %.60s", value);
	if (rc == LL_EPOLICY)
		return ll_err(err, rc, LL_ECLASS_POLICY,
			      "more than %d addresses", LL_MSG_MAX_RECIPIENTS);
	return rc;
}

int ll_addr_parse_list(char ***out, const char *value, struct ll_error *err)
{
	struct strv s = { 0 };
	int rc;

	s.v = calloc(1, sizeof(char *));
	if (s.v == NULL)
		return LL_ENOMEM;
	rc = parse_into(&s, value, err);
	if (rc < 0) {
		ll_strv_free(&s.v);
		return rc;
	}
	*out = s.v;
	return 0;
}

int ll_msg_addresses(char ***out, const char *msg, size_t len,
		     enum ll_addr_field which, struct ll_error *err)
{
	static const char *const from[] = { "From", NULL };
	static const char *const tocc[] = { "To", "Cc", NULL };
	static const char *const bcc[] = { "Bcc", NULL };
	const char *const *names = which == LL_ADDR_FROM ? from :
				   which == LL_ADDR_TO_CC ? tocc : bcc;
	struct ll_entity e;
	struct strv s = { 0 };
	struct ll_field f;
	size_t pos = 0;
	int rc;

	*out = NULL;
	rc = ll_mime_split(&e, msg, len, err);
	if (rc < 0)
		return rc;
	s.v = calloc(1, sizeof(char *));
	if (s.v == NULL)
		return LL_ENOMEM;
	while (ll_mime_next_field(&e.hdr, &pos, &f)) {
		int hit = 0;
		char *v;

		for (size_t i = 0; names[i] != NULL; i++)
			hit |= ll_field_is(&f, names[i]);
		if (!hit)
			continue;
		v = malloc(f.value.len + 1);
		if (v == NULL) {
			rc = LL_ENOMEM;
			goto out;
		}
		memcpy(v, f.value.p, f.value.len);
		v[f.value.len] = '\0';
		for (char *c = v; *c; c++)
			if (*c == '\r' || *c == '\n')
				*c = ' ';
		rc = parse_into(&s, v, err);
		free(v);
		if (rc < 0)
			goto out;
	}
	*out = s.v;
	s.v = NULL;
out:
	ll_strv_free(&s.v);
	return rc;
}

/*
 * Is VALUE (a From field) exactly one mailbox, "Name <addr>" or "addr"?
 * Checked on the raw text, beside GMime's lenient parse, so that a
 * second address hidden by a ';', a ',', a group or a stray '@' makes
 * the signer check fail rather than match the first address.
 */
int ll_addr_single_mailbox(const char *value)
{
	int ats = 0, quoted = 0, angle = 0, depth = 0;

	for (const char *p = value; *p; p++) {
		if (quoted) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				quoted = 0;
			continue;
		}
		if (depth > 0) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			continue;
		}
		switch (*p) {
		case '"':
			quoted = 1;
			break;
		case '(':
			depth = 1;
			break;
		case '<':
			if (angle++ > 0)
				return 0;
			break;
		case '@':
			ats++;
			break;
		case ',':
		case ';':
		case ':':
			return 0;
		}
	}
	return ats == 1 && angle <= 1 && !quoted && depth == 0;
}

/*
 * Does the From field VALUE show, in its display name or a comment
 * (after RFC 2047 decoding), an address other than ADDR?  Mail clients
 * show the display name; one that looks like somebody else's address
 * must not ride on ADDR's signature.
 */
/* Whether A and B are one mailbox written in two forms: GMime hands
 * out a domain's A-labels decoded into U-labels, so the field may show
 * xn--bcher-kva.example where the address is bücher.example. */
static int same_mailbox(const char *a, const char *b)
{
	struct ll_mailbox ma, mb;

	return ll_mailbox_parse(&ma, a, strlen(a), NULL) == 0 &&
	       ll_mailbox_parse(&mb, b, strlen(b), NULL) == 0 &&
	       strcmp(ma.addr, mb.addr) == 0;
}

int ll_addr_shows_other(const char *value, const char *addr)
{
	char *dec, *tok, *save = NULL;
	int other = 0;

	ll_gmime_init();
	dec = g_mime_utils_header_decode_text(NULL, value);
	if (dec == NULL)
		return 1;
	for (tok = strtok_r(dec, " \t<>()\"',;:[]", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t<>()\"',;:[]", &save)) {
		size_t n = strlen(tok);

		while (n > 0 && (tok[n - 1] == '.' || tok[n - 1] == '\\'))
			tok[--n] = '\0';
		if (strchr(tok, '@') == NULL)
			continue;
		ll_addr_normalise(tok);
		if (strcasecmp(tok, addr) != 0 && !same_mailbox(tok, addr))
			other = 1;
	}
	g_free(dec);
	return other;
}
