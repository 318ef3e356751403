/*
 * pkx_req.c - the parts of PKX requests that come from the client: the
 * body of a batch lookup, fingerprints in paths, capabilities, and
 * If-None-Match.  Each takes bounded input and refuses rather than
 * guesses; tests/fuzz/fuzz_pkx.c runs them on anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "pkx.h"

/* ---- batch lookups ---- */

/* Q for the address S (N octets): its key, or why it has none. */
static void query_set(struct lld_pkx_query *q, const char *s, size_t n)
{
	struct ll_error err = { 0 };

	memcpy(q->given, s, n);
	q->given[n] = '\0';
	if (lld_pkx_addr_key(q->key, s, n, &err) < 0)
		snprintf(q->why, sizeof(q->why), "%.95s", err.message);
}

int lld_pkx_batch_parse(struct lld_pkx_batch **out, const void *body,
			size_t len, struct ll_error *err)
{
	struct lld_pkx_batch *b = NULL;
	json_t *root = NULL, *list, *v;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (len > LLD_PKX_BODY_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "body larger than %d octets", LLD_PKX_BODY_MAX);
	root = len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) :
			 NULL;
	list = json_is_object(root) && json_object_size(root) == 1 ?
		       json_object_get(root, "addresses") :
		       NULL;
	if (!json_is_array(list) || json_array_size(list) == 0) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
			    "the body must be {\"addresses\": [ADDRESS, ...]}");
		goto out;
	}
	if (json_array_size(list) > LLD_PKX_BATCH_MAX) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			    "more than %d addresses", LLD_PKX_BATCH_MAX);
		goto out;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (s == NULL) {
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
				    "addresses[%zu] is not a string", i);
			goto out;
		}
		if (n > LLD_PKX_ADDR_IN_MAX) {
			rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
				    "addresses[%zu] is longer than %d octets",
				    i, LLD_PKX_ADDR_IN_MAX);
			goto out;
		}
		query_set(&b->q[i], s, n);
	}
	b->n = json_array_size(list);
	*out = b;
	b = NULL;
out:
	free(b);
	json_decref(root);
	return rc;
}

int lld_pkx_fpr_ok(const char *fpr, size_t len)
{
	if (len != LLD_FPR_HEX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((fpr[i] >= '0' && fpr[i] <= '9') ||
		      (fpr[i] >= 'a' && fpr[i] <= 'f')))
			return 0;
	return 1;
}

/* ---- capabilities ---- */

/* What a sender's policy reads (RFC 8551 2.5.2 lists them as OIDs in
 * SMIMECapabilities; the directory says them by name). */
static const struct cap {
	const char *name;
	const char *oid;
} known_caps[] = {
	{ "aes256-gcm", "2.16.840.1.101.3.4.1.46" },
	{ "aes192-gcm", "2.16.840.1.101.3.4.1.26" },
	{ "aes128-gcm", "2.16.840.1.101.3.4.1.6" },
	{ "aes256-cbc", "2.16.840.1.101.3.4.1.42" },
	{ "aes192-cbc", "2.16.840.1.101.3.4.1.22" },
	{ "aes128-cbc", "2.16.840.1.101.3.4.1.2" },
	{ "rsaes-oaep", "1.2.840.113549.1.1.7" },
};

/* A dotted OID (X.660): two arcs at least, the first 0 to 2, the
 * second below 40 under 0 and 1, no leading zeros. */
static int oid_ok(const char *s)
{
	int arcs = 0;
	long first = -1;

	while (*s != '\0') {
		const char *start = s;
		long v = 0;

		while (*s >= '0' && *s <= '9' && s - start < 9)
			v = v * 10 + (*s++ - '0');
		if (s == start || (*start == '0' && s - start > 1) ||
		    (*s != '.' && *s != '\0'))
			return 0;
		if (arcs == 0)
			first = v;
		if ((arcs == 0 && v > 2) || (arcs == 1 && first < 2 && v >= 40))
			return 0;
		arcs++;
		if (*s == '.' && *++s == '\0')
			return 0;
	}
	return arcs >= 2;
}

/* The canonical word of capability S: the table's name, or the OID. */
static const char *cap_word(const char *s)
{
	for (size_t i = 0; i < LL_ARRAY_SIZE(known_caps); i++)
		if (strcmp(s, known_caps[i].name) == 0 ||
		    strcmp(s, known_caps[i].oid) == 0)
			return known_caps[i].name;
	return oid_ok(s) ? s : NULL;
}

int lld_pkx_caps_parse(char out[LLD_CAPS_MAX + 1], const struct json_t *v,
		       struct ll_error *err)
{
	const char *words[LLD_PKX_CAPS_MAX];
	size_t n = 0, used = 0;
	size_t i;
	json_t *e;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
			      "capabilities must be an array of names or "
			      "null");
	if (json_array_size(v) > LLD_PKX_CAPS_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "more than %d capabilities", LLD_PKX_CAPS_MAX);
	json_array_foreach(v, i, e)
	{
		const char *s = json_string_value(e);
		const char *w;
		size_t k;

		if (s == NULL || json_string_length(e) > LLD_PKX_CAP_LEN ||
		    strlen(s) != json_string_length(e))
			return ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
				      "capabilities[%zu] is not a name of at "
				      "most %d characters",
				      i, LLD_PKX_CAP_LEN);
		w = cap_word(s);
		if (w == NULL)
			return ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
				      "capabilities[%zu]: unknown name (want "
				      "e.g. aes256-gcm, rsaes-oaep or an OID)",
				      i);
		for (k = 0; k < n && strcmp(words[k], w) != 0; k++)
			;
		if (k == n)
			words[n++] = w;
	}
	/* names and OIDs need no JSON escapes; the text fits: at most
	 * LLD_PKX_CAPS_MAX quoted words of LLD_PKX_CAP_LEN and commas */
	out[used++] = '[';
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, LLD_CAPS_MAX + 1 - used,
					 "%s\"%s\"", i ? "," : "", words[i]);
	out[used++] = ']';
	out[used] = '\0';
	return 0;
}

/* ---- conditional requests ---- */

static const char *ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int lld_pkx_etag_match(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p, *q;

	if (inm == NULL)
		return 0;
	p = ows(inm);
	if (*p == '*')
		return *ows(p + 1) == '\0';
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return 0;
		q = strchr(p + 1, '"');
		if (q == NULL)
			return 0;
		if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
			return 1;
		p = ows(q + 1);
		if (*p != ',' && *p != '\0')
			return 0;
	}
}
