/*
 * acme_json.c - what the ACME client reads from the CA's JSON (RFC 8555
 * section 7.1, RFC 8823 section 3; RFC 7807 problems): the directory,
 * an account, an order, an authorization and its email-reply-00
 * challenge, each from the bytes of an answer; and the checks of the
 * text they carry.
 */
#include <string.h>

#include <jansson.h>

#include "acme_internal.h"

static const char problem_ns[] = "urn:ietf:params:acme:error:";

static const char *const status_names[] = {
	[LL_ACME_UNKNOWN] = "unknown", [LL_ACME_PENDING] = "pending",
	[LL_ACME_READY] = "ready",     [LL_ACME_PROCESSING] = "processing",
	[LL_ACME_VALID] = "valid",     [LL_ACME_INVALID] = "invalid",
	[LL_ACME_EXPIRED] = "expired", [LL_ACME_DEACTIVATED] = "deactivated",
	[LL_ACME_REVOKED] = "revoked",
};

const char *ll_acme_status_name(enum ll_acme_status s)
{
	if ((size_t)s >= LL_ARRAY_SIZE(status_names))
		return "unknown";
	return status_names[s];
}

static enum ll_acme_status status_parse(const char *s)
{
	for (size_t i = 1; i < LL_ARRAY_SIZE(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum ll_acme_status)i;
	return LL_ACME_UNKNOWN;
}

/* ---- text ---- */

int ll_acme_nomem(struct ll_error *err)
{
	return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
}

void ll_acme_clean_text(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src != NULL && *src != '\0' && i + 1 < len; src++) {
		unsigned char c = (unsigned char)*src;

		dst[i++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[i] = '\0';
}

int ll_acme_b64url_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

int ll_acme_url_text_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LL_ACME_MAX_URL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* ---- JSON members ---- */

/* The object in P[0..LEN), or LL_ETOOBIG / LL_EPARSE naming WHAT. */
static int load_object(json_t **out, const char *p, size_t len,
		       const char *what, struct ll_error *err)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	if (len > LL_ACME_MAX_JSON)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			      "%s: the CA's answer is larger than %d bytes",
			      what, LL_ACME_MAX_JSON);
	j = json_loadb(p != NULL ? p : "", len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "%s: the CA's answer is not a JSON object", what);
	}
	*out = j;
	return 0;
}

/* The object in P[0..LEN) (WHAT) handed to PARSE for OBJ. */
static int parse_with(int (*parse)(void *obj, json_t *j, struct ll_error *err),
		      void *obj, const char *p, size_t len, const char *what,
		      struct ll_error *err)
{
	json_t *j = NULL;
	int rc;

	rc = load_object(&j, p, len, what, err);
	if (rc == 0)
		rc = parse(obj, j, err);
	json_decref(j);
	return rc;
}

/* A string member, copied (malloc'd); NULL when absent and optional. */
static int get_str(char **out, json_t *obj, const char *name, int required,
		   size_t max, const char *what, struct ll_error *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (s == NULL || strlen(s) > max)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "%s: \"%s\" is missing, not a string or longer "
			      "than %zu bytes",
			      what, name, max);
	*out = strdup(s);
	return *out != NULL ? 0 : ll_acme_nomem(err);
}

static int get_url(char **out, json_t *obj, const char *name, int required,
		   const char *what, struct ll_error *err)
{
	int rc = get_str(out, obj, name, required, LL_ACME_MAX_URL, what, err);

	if (rc == 0 && *out != NULL && !ll_acme_url_text_ok(*out)) {
		free(*out);
		*out = NULL;
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "%s: \"%s\" is not a URL", what, name);
	}
	return rc;
}

static int get_status(enum ll_acme_status *out, json_t *obj, const char *what,
		      struct ll_error *err)
{
	const char *s = json_string_value(json_object_get(obj, "status"));

	if (s == NULL)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY, "%s: no status",
			      what);
	*out = status_parse(s);
	if (*out == LL_ACME_UNKNOWN)
		return ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			      "%s: unknown status", what);
	return 0;
}

/* An RFC 7807 problem as "TYPE: DETAIL" into BUF; 0 if J is none. */
static int problem_text(char *buf, size_t len, json_t *j)
{
	const char *type, *detail;
	json_t *sub;
	char t[160], d[LL_ERROR_MSG_MAX];

	if (!json_is_object(j))
		return 0;
	type = json_string_value(json_object_get(j, "type"));
	detail = json_string_value(json_object_get(j, "detail"));
	sub = json_object_get(j, "subproblems");
	if ((detail == NULL || *detail == '\0') && json_is_array(sub) &&
	    json_array_size(sub) > 0)
		detail = json_string_value(
			json_object_get(json_array_get(sub, 0), "detail"));
	if (type == NULL && detail == NULL)
		return 0;
	ll_acme_clean_text(t, sizeof(t), type ? type : "about:blank");
	ll_acme_clean_text(d, sizeof(d), detail ? detail : "");
	/* longer text is cut at LEN - 1 bytes */
	if (snprintf(buf, len, "%s%s%s", t, d[0] ? ": " : "", d) < 0)
		buf[0] = '\0';
	return 1;
}

/* ---- problems ---- */

/* The body of a refusal, parsed leniently (any JSON), or NULL. */
static json_t *load_problem(const char *p, size_t n)
{
	if (n == 0 || n > LL_ACME_MAX_JSON)
		return NULL;
	return json_loadb(p, n, 0, NULL);
}

int ll_acme_problem_text(char *buf, size_t len, const char *p, size_t n)
{
	json_t *j = load_problem(p, n);
	int yes = problem_text(buf, len, j);

	json_decref(j);
	return yes;
}

int ll_acme_problem_is(const char *p, size_t n, const char *name)
{
	json_t *j = load_problem(p, n);
	const char *type = json_string_value(json_object_get(j, "type"));
	int yes;

	yes = type != NULL &&
	      strncmp(type, problem_ns, sizeof(problem_ns) - 1) == 0 &&
	      strcmp(type + sizeof(problem_ns) - 1, name) == 0;
	json_decref(j);
	return yes;
}

/* ---- the directory and the account ---- */

void ll_acme_dir_free(struct ll_acme_dir *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->terms);
	free(d->root_url);
	free(d->pkx_url);
	free(d->vault_url);
	memset(d, 0, sizeof(*d));
}

static int parse_directory(void *obj, json_t *j, struct ll_error *err)
{
	struct ll_acme_dir *d = obj, nd = { 0 };
	json_t *meta;
	int rc;

	rc = get_url(&nd.new_nonce, j, "newNonce", 1, "directory", err);
	if (rc == 0)
		rc = get_url(&nd.new_account, j, "newAccount", 1, "directory",
			     err);
	if (rc == 0)
		rc = get_url(&nd.new_order, j, "newOrder", 1, "directory", err);
	if (rc == 0)
		rc = get_url(&nd.revoke_cert, j, "revokeCert", 0, "directory",
			     err);
	meta = json_object_get(j, "meta");
	if (rc == 0 && json_is_object(meta)) {
		rc = get_url(&nd.terms, meta, "termsOfService", 0,
			     "directory meta", err);
		if (rc == 0)
			rc = get_url(&nd.root_url, meta,
				     "letterlockRootCertificate", 0,
				     "directory meta", err);
		if (rc == 0)
			rc = get_url(&nd.pkx_url, meta, "letterlockPkx", 0,
				     "directory meta", err);
		if (rc == 0)
			rc = get_url(&nd.vault_url, meta, "letterlockVault", 0,
				     "directory meta", err);
		if (rc == 0 && json_is_true(json_object_get(
				       meta, "externalAccountRequired")))
			rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
				    "the CA requires an external account "
				    "binding, which letterlock does not "
				    "support");
	}
	if (rc == 0) {
		ll_acme_dir_free(d);
		*d = nd;
		return 0;
	}
	ll_acme_dir_free(&nd);
	return rc;
}

int ll_acme_json_directory(struct ll_acme_dir *d, const char *p, size_t len,
			   struct ll_error *err)
{
	return parse_with(parse_directory, d, p, len, "directory", err);
}

static int parse_account(void *obj, json_t *j, struct ll_error *err)
{
	const char *st = json_string_value(json_object_get(j, "status"));
	char s[LL_ACME_STATUS_MAX];

	(void)obj;
	if (st == NULL || strcmp(st, "valid") == 0)
		return 0;
	ll_acme_clean_text(s, sizeof(s), st);
	return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
		      "the ACME account is %s", s);
}

int ll_acme_json_account(const char *p, size_t len, struct ll_error *err)
{
	return parse_with(parse_account, NULL, p, len, "account", err);
}

/* ---- orders ---- */

static int parse_order(void *obj, json_t *j, struct ll_error *err)
{
	struct ll_acme_order *o = obj;
	json_t *az = json_object_get(j, "authorizations");
	char *fin = NULL, *cert = NULL;
	enum ll_acme_status st = LL_ACME_UNKNOWN;
	int rc;

	rc = get_status(&st, j, "order", err);
	if (rc == 0)
		rc = get_url(&fin, j, "finalize", 1, "order", err);
	if (rc == 0)
		rc = get_url(&cert, j, "certificate", 0, "order", err);
	if (rc == 0 && (!json_is_array(az) || json_array_size(az) == 0 ||
			json_array_size(az) > LL_ACME_MAX_AUTHZ))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "order: \"authorizations\" is not a list of 1 to "
			    "%d URLs",
			    LL_ACME_MAX_AUTHZ);
	for (size_t i = 0; rc == 0 && i < json_array_size(az); i++) {
		const char *u = json_string_value(json_array_get(az, i));

		if (u == NULL || !ll_acme_url_text_ok(u))
			rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
				    "order: an authorization is not a URL");
	}
	if (rc < 0) {
		free(fin);
		free(cert);
		return rc;
	}
	for (size_t i = 0; i < o->nauthz; i++)
		free(o->authz[i]);
	o->nauthz = 0;
	for (size_t i = 0; i < json_array_size(az); i++) {
		o->authz[i] = strdup(json_string_value(json_array_get(az, i)));
		if (o->authz[i] == NULL)
			rc = ll_acme_nomem(err);
		o->nauthz++;
	}
	o->status = st;
	free(o->finalize);
	o->finalize = fin;
	free(o->certificate);
	o->certificate = cert;
	o->error[0] = '\0';
	problem_text(o->error, sizeof(o->error), json_object_get(j, "error"));
	return rc;
}

int ll_acme_json_order(struct ll_acme_order *o, const char *p, size_t len,
		       struct ll_error *err)
{
	return parse_with(parse_order, o, p, len, "order", err);
}

/* ---- authorizations and challenges ---- */

static int parse_challenge(void *obj, json_t *c, struct ll_error *err)
{
	struct ll_acme_authz *z = obj;
	char *url = NULL, *token = NULL, *from = NULL;
	enum ll_acme_status st = LL_ACME_UNKNOWN;
	struct ll_mailbox m;
	int rc;

	rc = get_url(&url, c, "url", 1, "challenge", err);
	if (rc == 0)
		rc = get_str(&token, c, "token", 1, LL_ACME_MAX_TOKEN,
			     "challenge", err);
	if (rc == 0)
		rc = get_str(&from, c, "from", 1, LL_MAILBOX_MAX, "challenge",
			     err);
	if (rc == 0)
		rc = get_status(&st, c, "challenge", err);
	if (rc == 0 && !ll_acme_b64url_ok(token, LL_ACME_MAX_TOKEN))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "challenge: the token is not base64url");
	if (rc == 0 && ll_mailbox_parse(&m, from, strlen(from), NULL) < 0)
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "challenge: \"from\" is not a mailbox address");
	if (rc < 0) {
		free(url);
		free(token);
		free(from);
		return rc;
	}
	free(z->chal_url);
	free(z->token);
	free(z->from);
	z->chal_url = url;
	z->token = token;
	z->from = from;
	z->chal_status = st;
	z->error[0] = '\0';
	problem_text(z->error, sizeof(z->error), json_object_get(c, "error"));
	return 0;
}

static int parse_authz(void *obj, json_t *j, struct ll_error *err)
{
	struct ll_acme_authz *z = obj;
	json_t *id = json_object_get(j, "identifier");
	json_t *chs = json_object_get(j, "challenges");
	const char *type = json_string_value(json_object_get(id, "type"));
	char *value = NULL;
	enum ll_acme_status st = LL_ACME_UNKNOWN;
	int rc;

	rc = get_status(&st, j, "authorization", err);
	if (rc == 0 && (type == NULL || strcmp(type, "email") != 0))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "authorization: not for an email identifier");
	if (rc == 0)
		rc = get_str(&value, id, "value", 1, LL_MAILBOX_MAX * 4,
			     "authorization", err);
	if (rc == 0 && !json_is_array(chs))
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "authorization: no list of challenges");
	for (size_t i = 0; rc == 0 && i < json_array_size(chs); i++) {
		json_t *c = json_array_get(chs, i);
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t != NULL && strcmp(t, "email-reply-00") == 0) {
			rc = parse_challenge(z, c, err);
			break;
		}
	}
	if (rc < 0) {
		free(value);
		return rc;
	}
	free(z->identifier);
	z->identifier = value;
	z->status = st;
	return 0;
}

int ll_acme_json_authz(struct ll_acme_authz *z, const char *p, size_t len,
		       struct ll_error *err)
{
	return parse_with(parse_authz, z, p, len, "authorization", err);
}

int ll_acme_json_challenge(struct ll_acme_authz *z, const char *p, size_t len,
			   struct ll_error *err)
{
	return parse_with(parse_challenge, z, p, len, "challenge", err);
}
