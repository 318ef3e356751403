/*
 * fuzz_acme_json.c - the CA's JSON as the ACME client reads it
 * (src/lib/acme_json.c), the input being an answer's body:
 *
 *  - ll_acme_json_directory, ll_acme_json_account;
 *  - ll_acme_json_order, ll_acme_json_authz and ll_acme_json_challenge
 *    into a fresh object and into one that already holds a valid
 *    object (a refresh: what it held is replaced or kept whole);
 *  - ll_acme_problem_text and ll_acme_problem_is (refusals).
 *
 * What is accepted is what the client goes on with: URLs of printable
 * ASCII within LL_ACME_MAX_URL, a known status, 1 to LL_ACME_MAX_AUTHZ
 * authorizations, a base64url token, a "from" that is a mailbox
 * address, texts for messages without control characters.  A refusal
 * has its code and a one-line message and leaves the object as it was.
 *
 * Seeds (corpus/fuzz_acme_json/): objects as letterlockd's
 * acme_server.c writes them and as RFC 8555 and RFC 8823 show them
 * (directory with and without meta, account, orders pending, ready,
 * valid and invalid with an error, authorization with several
 * challenges, challenge answers, problem documents with subproblems),
 * and broken ones (no status, unknown status, a URL with a space, 17
 * authorizations, token with '=', "from" not an address, duplicate
 * members, not an object, truncated, externalAccountRequired).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_internal.h"
#include "fuzz.h"

/* What the refreshed objects held before the input: a valid order and
 * authorization as letterlockd writes them. */
static const char old_order[] =
	"{\"status\":\"pending\",\"expires\":\"2030-01-08T00:00:00Z\","
	"\"identifiers\":[{\"type\":\"email\",\"value\":\"a@example.test\"}],"
	"\"authorizations\":[\"https://ca.test/acme/authz/1\"],"
	"\"finalize\":\"https://ca.test/acme/order/1/finalize\"}";
static const char old_authz[] =
	"{\"identifier\":{\"type\":\"email\",\"value\":\"a@example.test\"},"
	"\"status\":\"pending\",\"expires\":\"2030-01-08T00:00:00Z\","
	"\"challenges\":[{\"type\":\"email-reply-00\","
	"\"url\":\"https://ca.test/acme/chall/1\",\"status\":\"pending\","
	"\"token\":\"DGyRejmCefe7v4NfDGDKfA\",\"from\":\"acme@ca.test\"}]}";

static void check_text(const char *s, size_t cap)
{
	const char *end = memchr(s, '\0', cap);

	CHECK(end != NULL);
	for (; s < end; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void check_refusal(int rc, const struct ll_error *err)
{
	CHECK(rc == LL_EPARSE || rc == LL_ETOOBIG || rc == LL_EPOLICY ||
	      rc == LL_ENOMEM);
	CHECK(err->code == rc);
	CHECK(err->message[0] != '\0');
	check_text(err->message, sizeof(err->message));
	CHECK(memchr(err->detail, '\0', sizeof(err->detail)) != NULL);
}

static int status_ok(enum ll_acme_status s)
{
	return s >= LL_ACME_PENDING && s <= LL_ACME_REVOKED;
}

static void check_url(const char *u)
{
	CHECK(u != NULL);
	CHECK(ll_acme_url_text_ok(u));
}

static void directory(const char *p, size_t len)
{
	struct ll_acme_dir d = { 0 };
	struct ll_error err = { 0 };
	int rc = ll_acme_json_directory(&d, p, len, &err);

	if (rc < 0) {
		check_refusal(rc, &err);
		CHECK(d.new_nonce == NULL && d.new_account == NULL &&
		      d.new_order == NULL && d.terms == NULL &&
		      d.root_url == NULL);
		return;
	}
	CHECK(rc == 0);
	check_url(d.new_nonce);
	check_url(d.new_account);
	check_url(d.new_order);
	if (d.terms != NULL)
		check_url(d.terms);
	if (d.root_url != NULL)
		check_url(d.root_url);
	ll_acme_dir_free(&d);
}

static void account(const char *p, size_t len)
{
	struct ll_error err = { 0 };
	int rc = ll_acme_json_account(p, len, &err);

	if (rc < 0)
		check_refusal(rc, &err);
	else
		CHECK(rc == 0);
}

static void check_order(const struct ll_acme_order *o)
{
	CHECK(status_ok(o->status));
	check_url(o->finalize);
	if (o->certificate != NULL)
		check_url(o->certificate);
	CHECK(o->nauthz >= 1 && o->nauthz <= LL_ACME_MAX_AUTHZ);
	for (size_t i = 0; i < o->nauthz; i++)
		check_url(o->authz[i]);
	check_text(o->error, sizeof(o->error));
}

static void order(const char *p, size_t len, int refresh)
{
	struct ll_acme_order *o = calloc(1, sizeof(*o));
	struct ll_error err = { 0 };
	int rc;

	CHECK(o != NULL);
	if (refresh) {
		CHECK(ll_acme_json_order(o, old_order, strlen(old_order),
					 NULL) == 0);
		check_order(o);
	}
	rc = ll_acme_json_order(o, p, len, &err);
	if (rc < 0) {
		check_refusal(rc, &err);
		CHECK(rc != LL_EPOLICY);
		if (refresh) {
			/* the order as it was */
			CHECK(o->status == LL_ACME_PENDING && o->nauthz == 1);
			CHECK(strcmp(o->finalize, "https://ca.test/acme/order/"
						  "1/finalize") == 0);
		} else {
			CHECK(o->finalize == NULL && o->nauthz == 0);
		}
	} else {
		CHECK(rc == 0);
		check_order(o);
	}
	ll_acme_order_free(&o);
}

static void check_challenge(const struct ll_acme_authz *z)
{
	struct ll_mailbox m;

	check_url(z->chal_url);
	CHECK(z->token != NULL &&
	      ll_acme_b64url_ok(z->token, LL_ACME_MAX_TOKEN));
	CHECK(z->from != NULL);
	CHECK(ll_mailbox_parse(&m, z->from, strlen(z->from), NULL) == 0);
	CHECK(status_ok(z->chal_status));
	check_text(z->error, sizeof(z->error));
}

static void authz(const char *p, size_t len, int refresh)
{
	struct ll_acme_authz *z = calloc(1, sizeof(*z));
	struct ll_error err = { 0 };
	int rc;

	CHECK(z != NULL);
	if (refresh) {
		CHECK(ll_acme_json_authz(z, old_authz, strlen(old_authz),
					 NULL) == 0);
		check_challenge(z);
	}
	rc = ll_acme_json_authz(z, p, len, &err);
	if (rc < 0) {
		check_refusal(rc, &err);
		CHECK(rc != LL_EPOLICY);
		/* the identifier and status as they were */
		if (refresh)
			CHECK(z->status == LL_ACME_PENDING &&
			      strcmp(z->identifier, "a@example.test") == 0);
		else
			CHECK(z->identifier == NULL);
	} else {
		CHECK(rc == 0);
		CHECK(status_ok(z->status));
		CHECK(z->identifier != NULL &&
		      strlen(z->identifier) <= LL_MAILBOX_MAX * 4);
	}
	/* a challenge held is whole, whether it came now or before */
	if (z->chal_url != NULL)
		check_challenge(z);
	else
		CHECK(z->token == NULL && z->from == NULL);
	ll_acme_authz_free(&z);
}

static void challenge(const char *p, size_t len)
{
	struct ll_acme_authz *z = calloc(1, sizeof(*z));
	struct ll_error err = { 0 };
	int rc;

	CHECK(z != NULL);
	rc = ll_acme_json_challenge(z, p, len, &err);
	if (rc < 0) {
		check_refusal(rc, &err);
		CHECK(z->chal_url == NULL && z->token == NULL &&
		      z->from == NULL);
	} else {
		CHECK(rc == 0);
		check_challenge(z);
	}
	ll_acme_authz_free(&z);
}

static void problem(const char *p, size_t len)
{
	char text[LL_ERROR_MSG_MAX], small[8];
	int yes;

	memset(text, 'x', sizeof(text));
	yes = ll_acme_problem_text(text, sizeof(text), p, len);
	CHECK(yes == 0 || yes == 1);
	if (yes) {
		check_text(text, sizeof(text));
		/* a shorter buffer is filled, not overrun */
		CHECK(ll_acme_problem_text(small, sizeof(small), p, len) == 1);
		check_text(small, sizeof(small));
		CHECK(strncmp(small, text, strlen(small)) == 0);
	}
	yes = ll_acme_problem_is(p, len, "badNonce");
	CHECK(yes == 0 || yes == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	directory(p, size);
	account(p, size);
	order(p, size, 0);
	order(p, size, 1);
	authz(p, size, 0);
	authz(p, size, 1);
	challenge(p, size);
	problem(p, size);
	return 0;
}
