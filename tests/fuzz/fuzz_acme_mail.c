/*
 * fuzz_acme_mail.c - the challenge by mail as `letterlock enrol` reads
 * and answers it (src/lib/acme_mail.c):
 *
 *  - ll_acme_mail_check on the input as fetched, in a context that
 *    trusts the test root of tests/fuzz/fixtures/ and nothing else,
 *    for the challenge sender bob@example.test (the fixture bob-ec,
 *    under that root's intermediate, stands in for the CA's mail
 *    certificate);
 *  - the same input signed first as bob (ll_msg_seal, sign only), so
 *    that mutated headers get past the signature and into the From,
 *    Subject and Message-ID checks;
 *  - ll_acme_mail_response with its arguments taken from the input's
 *    first five lines (address, to, token-part1, Message-ID, digest;
 *    the missing ones valid): what it writes is one well-formed
 *    header block (CRLF, no field twice, none injected) saying what it
 *    was given, or nothing.
 *
 * A genuine challenge gives a base64url token of at most
 * LL_ACME_MAX_TOKEN characters and a Message-ID that is NULL or "<...>"
 * of printable ASCII, both standing as they are in the signed message
 * (not pieced together from text around a stray CR); a refusal gives
 * neither, with its code and a one-line message.  The contexts, the
 * clock (2030-01-01) and a signed challenge (which must pass) are made
 * once in LLVMFuzzerInitialize.
 *
 * Seeds (corpus/fuzz_acme_mail/): challenge mails as letterlockd's
 * mailer writes them, unsigned (plain-*: the signed path takes them)
 * and signed with `letterlock seal --sign-only` as bob (signed-*: with
 * and without header protection, opaque), mails that must be refused
 * (another From, no token, two Subjects, a token with '=', a
 * Message-ID with spaces, encrypted), and argument lines for the
 * response (resp-*).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <letterlock/letterlock.h>

#include "acme_internal.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* 2030-01-01T00:00:00Z: inside the fixtures' validity (2025..2049). */
#define FUZZ_NOW ((time_t)1893456000)

#define SENDER "bob@example.test"

static struct ll_cert *root;
static struct ll_ctx *verify_ctx; /* trusts the root only */
static struct ll_ctx *sign_ctx; /* holds bob's identity */

static const char challenge[] =
	"From: " SENDER "\r\n"
	"To: alice@example.test\r\n"
	"Subject: ACME: dG9rZW4tcGFydC1vbmU\r\n"
	"Message-ID: <c1.42@example.test>\r\n"
	"Date: Tue, 01 Jan 2030 00:00:00 +0000\r\n"
	"Auto-Submitted: auto-generated; type=acme\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Please answer to prove you control this mailbox.\r\n";

/* MSG signed as bob into *out (malloc'd); -1 if it cannot be sealed. */
static int sign(char **out, size_t *olen, const char *msg, size_t len)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_sealed *s = NULL;
	struct ll_error err = { 0 };
	const char *data;

	*out = NULL;
	so.flags = LL_SEAL_SIGN;
	if (ll_msg_seal(&s, sign_ctx, msg, len, &so, &err) < 0) {
		CHECK(s == NULL);
		return -1;
	}
	data = ll_sealed_data(s, 0, olen);
	*out = malloc(*olen + 1);
	CHECK(*out != NULL);
	memcpy(*out, data, *olen);
	(*out)[*olen] = '\0';
	ll_sealed_free(&s);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ll_error err = { 0 };
	struct ll_identity *id = NULL;
	char *key, *chain, *pem, *mail, *tok = NULL, *mid = NULL;
	size_t klen, clen, len;

	(void)argc;
	(void)argv;
	pem = fuzz_fixture("root.pem", &len);
	CHECK(ll_cert_parse(&root, pem, len, &err) == 0);
	free(pem);
	CHECK(ll_ctx_new(&verify_ctx, &err) == 0);
	CHECK(ll_ctx_add_trust(verify_ctx, root, &err) == 0);
	ll_ctx_set_time(verify_ctx, FUZZ_NOW);

	key = fuzz_fixture("bob-ec.key", &klen);
	chain = fuzz_fixture("bob-ec.chain.pem", &clen);
	CHECK(ll_identity_parse_pem(&id, key, klen, chain, clen, &err) == 0);
	free(key);
	free(chain);
	CHECK(ll_ctx_new(&sign_ctx, &err) == 0);
	CHECK(ll_ctx_add_identity(sign_ctx, &id, &err) == 0);
	ll_ctx_set_time(sign_ctx, FUZZ_NOW);

	/* the signed seed passes, or the fuzzer would fuzz a closed door */
	CHECK(sign(&mail, &len, challenge, strlen(challenge)) == 0);
	if (ll_acme_mail_check(&tok, &mid, verify_ctx, mail, len, SENDER,
			       &err) < 0) {
		fprintf(stderr, "the signed seed: %s\n", err.message);
		abort();
	}
	CHECK(strcmp(tok, "dG9rZW4tcGFydC1vbmU") == 0);
	CHECK(mid != NULL && strcmp(mid, "<c1.42@example.test>") == 0);
	free(tok);
	free(mid);
	free(mail);
	return 0;
}

static int has_nul(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_refusal(int rc, const struct ll_error *err)
{
	CHECK(rc < 0 && err->code == rc);
	CHECK(err->message[0] != '\0');
	CHECK(has_nul(err->message, sizeof(err->message)));
	CHECK(has_nul(err->detail, sizeof(err->detail)));
	CHECK(strchr(err->message, '\n') == NULL);
}

/* ll_acme_mail_check on MSG. */
static void check(const char *msg, size_t len)
{
	char *tok = (char *)1, *mid = (char *)1;
	struct ll_opened *o = NULL;
	struct ll_error err = { 0 };
	const char *data;
	size_t dlen;
	int rc;

	/* re-adding the anchor empties the verified-chain cache: a run
	 * does not depend on the inputs before it */
	CHECK(ll_ctx_add_trust(verify_ctx, root, NULL) == 0);
	rc = ll_acme_mail_check(&tok, &mid, verify_ctx, msg, len, SENDER, &err);
	if (rc < 0) {
		check_refusal(rc, &err);
		CHECK(tok == NULL && mid == NULL);
		return;
	}
	CHECK(rc == 0);
	/* what it gives back stands as it is in the signed message */
	CHECK(ll_msg_open(&o, verify_ctx, msg, len, NULL) == 0);
	data = ll_opened_data(o, &dlen);
	CHECK(tok != NULL && ll_acme_b64url_ok(tok, LL_ACME_MAX_TOKEN));
	CHECK(memmem(data, dlen, tok, strlen(tok)) != NULL);
	if (mid != NULL) {
		size_t n = strlen(mid);

		CHECK(n >= 3 && n <= LL_ACME_MSGID_MAX);
		CHECK(mid[0] == '<' && mid[n - 1] == '>');
		for (size_t i = 0; i < n; i++)
			CHECK(mid[i] > 0x20 && mid[i] < 0x7f);
		CHECK(memmem(data, dlen, mid, n) != NULL);
	}
	ll_opened_free(&o);
	free(tok);
	free(mid);
}

/* The unfolded value of the one field NAME of HDR (malloc'd), NULL if
 * absent; it is there at most once. */
static char *one_field(const struct ll_slice *hdr, const char *name)
{
	CHECK(ll_mime_count(hdr, name) <= 1);
	return ll_mime_get(hdr, name);
}

static void check_response(const char *m, size_t len, const char *addr,
			   const char *to, const char *token, const char *msgid,
			   const char *digest)
{
	struct ll_mailbox me, them;
	struct ll_entity e;
	struct ll_field f;
	size_t pos = 0, nfields = 0;
	char *v, want[LL_ACME_MAX_TOKEN + 16];

	CHECK(m != NULL && strlen(m) == len);
	/* CRLF line ends only, lines within RFC 5322's 998 */
	for (size_t i = 0, start = 0; i < len; i++) {
		CHECK(m[i] != '\r' || (i + 1 < len && m[i + 1] == '\n'));
		CHECK(m[i] != '\n' || (i > 0 && m[i - 1] == '\r'));
		if (m[i] == '\n') {
			CHECK(i - start <= 999);
			start = i + 1;
		}
	}
	CHECK(len >= 2 && m[len - 2] == '\r' && m[len - 1] == '\n');
	CHECK(ll_mime_split(&e, m, len, NULL) == 0);
	while (ll_mime_next_field(&e.hdr, &pos, &f))
		nfields++;
	CHECK(nfields == (msgid != NULL ? 10 : 8));
	CHECK(ll_mailbox_parse(&me, addr, strlen(addr), NULL) == 0);
	CHECK(ll_mailbox_parse(&them, to, strlen(to), NULL) == 0);
	v = one_field(&e.hdr, "From");
	CHECK(v != NULL && strcmp(v, me.addr) == 0);
	free(v);
	v = one_field(&e.hdr, "To");
	CHECK(v != NULL && strcmp(v, them.addr) == 0);
	free(v);
	snprintf(want, sizeof(want), "RE: ACME: %s", token);
	v = one_field(&e.hdr, "Subject");
	CHECK(v != NULL && strcmp(v, want) == 0);
	free(v);
	v = one_field(&e.hdr, "In-Reply-To");
	CHECK((v == NULL) == (msgid == NULL));
	CHECK(v == NULL || strcmp(v, msgid) == 0);
	free(v);
	v = one_field(&e.hdr, "References");
	CHECK((v == NULL) == (msgid == NULL));
	free(v);
	v = one_field(&e.hdr, "Message-ID");
	CHECK(v != NULL);
	free(v);
	CHECK(memmem(e.body.p, e.body.len, digest, strlen(digest)) != NULL);
}

/* ll_acme_mail_response with the input's first lines as arguments. */
static void response(const uint8_t *data, size_t size)
{
	static const char *const defaults[] = {
		"alice@example.test",
		"acme@ca.test",
		"dG9rZW4tcGFydC1vbmU",
		NULL,
		"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
	};
	const char *arg[5];
	char *copy = malloc(size + 1), *p, *m = (char *)1;
	struct ll_error err = { 0 };
	size_t i = 0, len = 1;
	int rc;

	CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* lines, up to the first NUL */
	for (p = copy; i < 5 && p != NULL; i++) {
		char *nl = strchr(p, '\n');

		arg[i] = p;
		if (nl != NULL)
			*nl++ = '\0';
		p = nl;
	}
	for (; i < 5; i++)
		arg[i] = defaults[i];
	/* an empty Message-ID line: none */
	if (arg[3] != NULL && arg[3][0] == '\0')
		arg[3] = NULL;
	rc = ll_acme_mail_response(&m, &len, arg[0], arg[1], arg[2], arg[3],
				   arg[4], &err);
	if (rc < 0) {
		check_refusal(rc, &err);
		CHECK(rc == LL_EINVAL || rc == LL_ENOMEM);
		CHECK(m == NULL && len == 0);
	} else {
		CHECK(rc == 0);
		check_response(m, len, arg[0], arg[1], arg[2], arg[3], arg[4]);
		free(m);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *signed_msg = NULL;
	size_t slen;

	check((const char *)data, size);
	if (sign(&signed_msg, &slen, (const char *)data, size) == 0) {
		check(signed_msg, slen);
		free(signed_msg);
	}
	response(data, size);
	return 0;
}
