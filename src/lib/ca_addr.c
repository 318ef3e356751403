/*
 * ca_addr.c - mailbox addresses as a CA certifies them: the syntax we
 * accept, the canonical form (RFC 9598: local part untouched, domain in
 * lower-case A-labels) and the GeneralName that carries it.
 */
#include <stdio.h>
#include <string.h>

#include <idn2.h>

#include "ca_internal.h"

int ll_utf8_valid(const unsigned char *s, size_t n, size_t *chars)
{
	size_t i = 0, count = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned long cp;
		size_t need;

		if (c < 0x80) {
			i++;
			count++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i - 1 < need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
		count++;
	}
	if (chars != NULL)
		*chars = count;
	return 1;
}

static int is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Dot-atom of atext and UTF-8 (RFC 5322 3.2.3, RFC 6531 3.3). */
static int local_ok(const unsigned char *s, size_t n, int *utf8,
		    struct ll_error *err)
{
	*utf8 = 0;
	if (n == 0 || n > LL_MAILBOX_LOCAL_MAX)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the local part must have 1 to %d octets",
			      LL_MAILBOX_LOCAL_MAX);
	if (!ll_utf8_valid(s, n, NULL))
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the local part is not UTF-8");
	if (s[0] == '.' || s[n - 1] == '.')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the local part starts or ends with a dot");
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x80) {
			*utf8 = 1;
			continue;
		}
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
					      "the local part has two dots in "
					      "a row");
			continue;
		}
		if (s[i] == '"' || s[i] == '\\')
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "quoted local parts are not supported");
		if (!is_atext(s[i]))
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "the local part has a character not "
				      "allowed in an address (0x%02x)",
				      s[i]);
	}
	return 0;
}

/* A lower-case LDH domain of A-labels and NR-LDH labels (RFC 5890
 * 2.3.1), at least two labels, the last not all digits. */
static int ldh_domain_ok(const char *d, struct ll_error *err)
{
	size_t n = strlen(d), labels = 0;
	const char *p = d;

	if (n == 0 || n > 253)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the domain must have 1 to 253 octets");
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		int digits = 1;

		if (len == 0 || len > 63)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "domain label of %zu octets (1 to 63)",
				      len);
		if (p[0] == '-' || p[len - 1] == '-')
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "domain label starts or ends with '-'");
		if (len >= 4 && p[2] == '-' && p[3] == '-' &&
		    strncmp(p, "xn--", 4) != 0)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "reserved domain label (\"--\" in "
				      "positions 3 and 4)");
		for (size_t i = 0; i < len; i++) {
			char c = p[i];

			if (!((c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '-'))
				return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
					      "the domain has a character not "
					      "allowed in a host name");
			if (c < '0' || c > '9')
				digits = 0;
		}
		labels++;
		p += len;
		if (*p == '.') {
			p++;
			if (*p == '\0')
				return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
					      "the domain ends with a dot");
		}
		if (*p == '\0' && digits)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "the top-level label is all digits");
	}
	if (labels < 2)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the domain must have at least two labels");
	return 0;
}

int ll_mailbox_parse(struct ll_mailbox *m, const char *s, size_t len,
		     struct ll_error *err)
{
	char dom[LL_MAILBOX_MAX + 1];
	char *alabels = NULL;
	const char *at;
	size_t llen, dlen;
	int rc, utf8 = 0, irc;

	memset(m, 0, sizeof(*m));
	if (len > LL_MAILBOX_MAX * 4 || memchr(s, '\0', len) != NULL) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "not a mailbox address");
		goto out;
	}
	at = memrchr(s, '@', len);
	if (at == NULL) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "not a mailbox address (no '@')");
		goto out;
	}
	llen = (size_t)(at - s);
	dlen = len - llen - 1;
	rc = local_ok((const unsigned char *)s, llen, &utf8, err);
	if (rc < 0)
		goto out;
	if (dlen == 0 || dlen >= sizeof(dom) ||
	    !ll_utf8_valid((const unsigned char *)at + 1, dlen, NULL)) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the domain is missing, too long or not UTF-8");
		goto out;
	}
	memcpy(dom, at + 1, dlen);
	dom[dlen] = '\0';
	for (size_t i = 0; i < dlen; i++)
		if (dom[i] >= 'A' && dom[i] <= 'Z')
			dom[i] = (char)(dom[i] - 'A' + 'a');
	/* IDNA2008 without mappings: the input must already be the
	 * U-labels (lower case, NFC) or A-labels of a valid name */
	irc = idn2_lookup_u8((const uint8_t *)dom, (uint8_t **)&alabels,
			     IDN2_NO_TR46);
	if (irc != IDN2_OK) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the domain is not a valid IDNA2008 name: %s",
			    idn2_strerror(irc));
		goto out;
	}
	rc = ldh_domain_ok(alabels, err);
	if (rc < 0)
		goto out;
	if (llen + 1 + strlen(alabels) > LL_MAILBOX_MAX) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "the address is longer than %d octets",
			    LL_MAILBOX_MAX);
		goto out;
	}
	memcpy(m->addr, s, llen);
	m->addr[llen] = '@';
	strcpy(m->addr + llen + 1, alabels);
	m->len = strlen(m->addr);
	m->utf8_local = utf8;
	ll_utf8_valid((const unsigned char *)m->addr, m->len, &m->chars);
	rc = 0;
out:
	free(alabels); /* idn2 allocates with malloc */
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

GENERAL_NAME *ll_mailbox_general_name(const struct ll_mailbox *m)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_STRING *s = NULL;
	ASN1_TYPE *t = NULL;

	if (g == NULL)
		goto fail;
	if (!m->utf8_local) {
		s = ASN1_IA5STRING_new();
		if (s == NULL || !ASN1_STRING_set(s, m->addr, (int)m->len))
			goto fail;
		GENERAL_NAME_set0_value(g, GEN_EMAIL, s);
		return g;
	}
	s = ASN1_UTF8STRING_new();
	t = ASN1_TYPE_new();
	if (s == NULL || t == NULL || !ASN1_STRING_set(s, m->addr, (int)m->len))
		goto fail;
	ASN1_TYPE_set(t, V_ASN1_UTF8STRING, s);
	s = NULL;
	if (!GENERAL_NAME_set0_othername(
		    g, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), t))
		goto fail;
	return g;
fail:
	ASN1_STRING_free(s);
	ASN1_TYPE_free(t);
	GENERAL_NAME_free(g);
	return NULL;
}

/* Append S[0..N) to BUF escaping what is not printable. */
static void put_escaped(char *buf, size_t len, const unsigned char *s, size_t n)
{
	size_t used = strlen(buf);
	int utf8 = ll_utf8_valid(s, n, NULL);

	for (size_t i = 0; i < n && used + 5 < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f || (s[i] >= 0x80 && !utf8))
			used += (size_t)snprintf(buf + used, len - used,
						 "\\x%02x", s[i]);
		else
			buf[used++] = (char)s[i];
	}
	buf[used] = '\0';
}

void ll_general_name_text(char *buf, size_t len, const GENERAL_NAME *g)
{
	const ASN1_STRING *s = NULL;
	char oid[80];

	buf[0] = '\0';
	switch (g->type) {
	case GEN_EMAIL:
		snprintf(buf, len, "email:");
		s = g->d.rfc822Name;
		break;
	case GEN_DNS:
		snprintf(buf, len, "DNS:");
		s = g->d.dNSName;
		break;
	case GEN_URI:
		snprintf(buf, len, "URI:");
		s = g->d.uniformResourceIdentifier;
		break;
	case GEN_IPADD:
		snprintf(buf, len, "IP address");
		return;
	case GEN_DIRNAME:
		snprintf(buf, len, "DirName:");
		X509_NAME_oneline(g->d.directoryName, oid, sizeof(oid));
		put_escaped(buf, len, (const unsigned char *)oid, strlen(oid));
		return;
	case GEN_OTHERNAME:
		if (OBJ_obj2nid(g->d.otherName->type_id) ==
			    NID_id_on_SmtpUTF8Mailbox &&
		    g->d.otherName->value->type == V_ASN1_UTF8STRING) {
			snprintf(buf, len, "SmtpUTF8Mailbox:");
			s = g->d.otherName->value->value.utf8string;
			break;
		}
		OBJ_obj2txt(oid, sizeof(oid), g->d.otherName->type_id, 1);
		snprintf(buf, len, "otherName:%s", oid);
		return;
	case GEN_RID:
		OBJ_obj2txt(oid, sizeof(oid), g->d.registeredID, 1);
		snprintf(buf, len, "RID:%s", oid);
		return;
	default:
		snprintf(buf, len, "a name of type %d", g->type);
		return;
	}
	put_escaped(buf, len, ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s));
}

int ll_ca_mailbox_canonical(char *out, size_t len, size_t *at,
			    const char *addr, struct ll_error *err)
{
	struct ll_mailbox m;
	int rc;

	rc = ll_mailbox_parse(&m, addr, strlen(addr), err);
	if (rc < 0)
		return rc;
	if (m.len >= len)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "address too long");
	memcpy(out, m.addr, m.len + 1);
	if (at != NULL)
		*at = (size_t)(strrchr(out, '@') - out);
	return 0;
}
