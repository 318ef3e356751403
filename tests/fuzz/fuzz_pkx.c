/*
 * fuzz_pkx.c - what the PKX directory of letterlockd reads from clients
 * (src/service/pkx.h), the first input byte choosing which:
 *
 *   0  the body of a batch lookup (lld_pkx_batch_parse)
 *   1  an address of a lookup path (lld_pkx_addr_key), then its SMIMEA
 *      owner name (lld_smimea_owner)
 *   2  an If-None-Match field (lld_pkx_etag_match)
 *   3  capabilities, as JSON (lld_pkx_caps_parse)
 *   4  a certificate to publish as the client sends it (base64url DER
 *      or PEM: lld_pkx_cert_decode) and then its checks
 *      (lld_pkx_cert_check); the bytes as DER are checked too
 *
 * Invariants: an address key is a fixed point (the key of a key is
 * itself), within LLD_EMAIL_MAX, with one lower-case ASCII domain; a
 * batch has 1 to LLD_PKX_BATCH_MAX entries, each with a key or a
 * reason; capabilities come out as "" or a JSON array of at most
 * LLD_PKX_CAPS_MAX strings that parses back to itself; a certificate
 * accepted is valid at the time given and a refusal says why.
 *
 * Seeds (corpus/fuzz_pkx/, the mode byte first): batch bodies good and
 * broken (101 addresses, duplicate members, not strings, escapes),
 * addresses (IDNA, NFD local parts, upper case, quoted, too long),
 * If-None-Match lists, capability lists (names, OIDs, bad OIDs), and a
 * certificate of another CA for carol@example.test as DER, base64url
 * and PEM.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "pkx.h"

#define NOW ((time_t)1800000000) /* the seeds' certificate is valid */
#define ETAG "\"0123456789abcdef\""

static void check_key(const char *key)
{
	char again[LLD_EMAIL_MAX + 1], owner[400];
	const char *at = strrchr(key, '@');
	struct ll_error err = { 0 };

	CHECK(strlen(key) <= LLD_EMAIL_MAX);
	CHECK(at != NULL && at != key);
	for (const char *d = at + 1; *d != '\0'; d++)
		CHECK((*d >= 'a' && *d <= 'z') || (*d >= '0' && *d <= '9') ||
		      *d == '-' || *d == '.');
	CHECK(lld_pkx_addr_key(again, key, strlen(key), &err) == 0);
	CHECK(strcmp(again, key) == 0);
	CHECK(lld_smimea_owner(owner, sizeof(owner), key, &err) == 0);
	CHECK(strlen(owner) == 2 * LLD_SMIMEA_HASH_LEN +
				       strlen("._smimecert.") + strlen(at + 1) +
				       1);
}

static void fuzz_batch(const uint8_t *p, size_t n)
{
	struct lld_pkx_batch *b = NULL;
	struct ll_error err = { 0 };
	int rc = lld_pkx_batch_parse(&b, p, n, &err);

	if (rc < 0) {
		CHECK(b == NULL && err.message[0] != '\0');
		CHECK(rc == LL_EPARSE || rc == LL_ETOOBIG || rc == LL_ENOMEM);
		return;
	}
	CHECK(b != NULL && b->n >= 1 && b->n <= LLD_PKX_BATCH_MAX);
	for (size_t i = 0; i < b->n; i++) {
		CHECK((b->q[i].key[0] == '\0') != (b->q[i].why[0] == '\0'));
		if (b->q[i].key[0] != '\0')
			check_key(b->q[i].key);
	}
	free(b);
}

static void fuzz_addr(const uint8_t *p, size_t n)
{
	char key[LLD_EMAIL_MAX + 1];
	struct ll_error err = { 0 };
	int rc = lld_pkx_addr_key(key, (const char *)p, n, &err);

	if (rc < 0) {
		CHECK(key[0] == '\0' && err.message[0] != '\0');
		CHECK(rc == LL_EINVAL || rc == LL_ETOOBIG);
		return;
	}
	check_key(key);
}

static void fuzz_inm(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	CHECK(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	lld_pkx_etag_match(s, ETAG);
	if (strcmp(s, ETAG) == 0)
		CHECK(lld_pkx_etag_match(s, ETAG) == 1);
	free(s);
}

static void fuzz_caps(const uint8_t *p, size_t n)
{
	char out[LLD_CAPS_MAX + 1], again[LLD_CAPS_MAX + 1];
	struct ll_error err = { 0 };
	json_t *v = json_loadb((const char *)p, n,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	json_t *back;

	if (v == NULL)
		return;
	if (lld_pkx_caps_parse(out, v, &err) == 0 && out[0] != '\0') {
		back = json_loads(out, 0, NULL);
		CHECK(json_is_array(back) &&
		      json_array_size(back) <= LLD_PKX_CAPS_MAX);
		CHECK(lld_pkx_caps_parse(again, back, &err) == 0);
		CHECK(strcmp(again, out) == 0);
		json_decref(back);
	}
	json_decref(v);
}

static void check_cert(const unsigned char *der, size_t len)
{
	enum lld_pkx_refusal why = LLD_PKX_OK;
	struct ll_error err = { 0 };
	time_t nb = 0, na = 0;
	int rc = lld_pkx_cert_check(der, len, "carol@example.test", NOW, &nb,
				    &na, &why, &err);

	if (rc == 0) {
		CHECK(why == LLD_PKX_OK && nb <= NOW && NOW <= na);
	} else {
		CHECK(rc == LL_EPOLICY && why != LLD_PKX_OK);
		CHECK(err.message[0] != '\0');
	}
}

static void fuzz_cert(const uint8_t *p, size_t n)
{
	unsigned char *der = NULL;
	size_t len = 0;
	struct ll_error err = { 0 };

	if (lld_pkx_cert_decode(&der, &len, (const char *)p, n, &err) == 0) {
		CHECK(der != NULL && len <= LLD_PKX_CERT_MAX);
		check_cert(der, len);
		free(der);
	} else {
		CHECK(der == NULL);
	}
	check_cert(p, n);
}

/* by the first byte */
static void (*const modes[])(const uint8_t *p, size_t n) = {
	fuzz_batch, fuzz_addr, fuzz_inm, fuzz_caps, fuzz_cert,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 1 && data[0] < sizeof(modes) / sizeof(modes[0]))
		modes[data[0]](data + 1, size - 1);
	return 0;
}
