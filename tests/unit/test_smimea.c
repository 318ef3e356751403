/*
 * test_smimea.c - SMIMEA records (src/lib/smimea.c): the RDATA parser
 * at every length, what each usage, selector and matching type gives,
 * owner names (RFC 8162 section 3, NFC), which certificates an answer
 * yields for an address, and a lookup that gets no answer.
 * (Lookups against a DNSSEC-signed zone: tests/integration/
 * test_smimea.sh.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <letterlock/letterlock.h>

#include "msgtest.h"
#include "smimea.h"

/* RDATA: USAGE SELECTOR MATCHING, then N octets of FILL. */
static unsigned char *rdata(unsigned u, unsigned s, unsigned m, size_t n,
			    unsigned char fill)
{
	unsigned char *p = malloc(3 + n);

	assert_non_null(p);
	p[0] = (unsigned char)u;
	p[1] = (unsigned char)s;
	p[2] = (unsigned char)m;
	memset(p + 3, fill, n);
	return p;
}

/* RDATA 3 0 0 with WHO's certificate (DER); its length in *len. */
static unsigned char *cert_rdata(const struct mt_who *who, unsigned usage,
				 size_t *len)
{
	unsigned char *der = NULL, *p;
	size_t n = 0;

	assert_int_equal(ll_cert_der(&der, &n, ll_identity_cert(who->id), NULL),
			 0);
	p = rdata(usage, 0, 0, n, 0);
	memcpy(p + 3, der, n);
	free(der);
	*len = 3 + n;
	return p;
}

static void test_parse(void **state)
{
	struct ll_smimea_rr rr;
	unsigned char *p = rdata(3, 0, 0, 64, 0x30);

	(void)state;
	/* every length of one record: none below 4 octets */
	for (size_t n = 0; n <= 67; n++) {
		int rc = ll_smimea_parse(&rr, p, n);

		assert_int_equal(rc, n < 4 ? -1 : 0);
		if (rc == 0) {
			assert_int_equal(rr.usage, 3);
			assert_ptr_equal(rr.data, p + 3);
			assert_int_equal(rr.len, n - 3);
		}
	}
	/* digests have their length: SHA-256 32, SHA-512 64 */
	p[2] = 1;
	for (size_t n = 4; n <= 67; n++)
		assert_int_equal(ll_smimea_parse(&rr, p, n), n == 35 ? 0 : -1);
	p[2] = 2;
	for (size_t n = 4; n <= 67; n++)
		assert_int_equal(ll_smimea_parse(&rr, p, n), n == 67 ? 0 : -1);
	/* values RFC 8162 does not define still parse */
	p[0] = 255;
	p[1] = 7;
	p[2] = 9;
	assert_int_equal(ll_smimea_parse(&rr, p, 10), 0);
	assert_int_equal(rr.usage, 255);
	assert_int_equal(rr.selector, 7);
	assert_int_equal(rr.matching, 9);
	assert_int_equal(ll_smimea_parse(&rr, NULL, 10), -1);
	free(p);
	/* more than an RDLENGTH holds */
	p = rdata(3, 0, 0, 65533, 0x30);
	assert_int_equal(ll_smimea_parse(&rr, p, 65536), -1);
	assert_int_equal(ll_smimea_parse(&rr, p, 65535), 0);
	free(p);
}

static void test_unusable(void **state)
{
	static const struct {
		unsigned u, s, m;
		const char *why; /* a word of the reason, NULL: usable */
	} cases[] = {
		{ 3, 0, 0, NULL },	    { 0, 0, 0, "CA" },
		{ 2, 0, 0, "CA" },	    { 1, 0, 0, "chain" },
		{ 4, 0, 0, "unknown" },	    { 3, 0, 1, "digest" },
		{ 3, 1, 2, "digest" },	    { 3, 1, 0, "public key" },
		{ 3, 2, 0, "selector" },    { 3, 0, 3, "matching" },
		{ 255, 255, 255, "usage" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ll_smimea_rr rr = { cases[i].u, cases[i].s, cases[i].m,
					   NULL, 0 };
		const char *why = ll_smimea_unusable(&rr);

		if (cases[i].why == NULL) {
			assert_null(why);
			continue;
		}
		assert_non_null(why);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("%u %u %u: %s", cases[i].u, cases[i].s,
				 cases[i].m, why);
	}
}

static void test_owner(void **state)
{
	char a[LL_SMIMEA_OWNER_MAX], b[LL_SMIMEA_OWNER_MAX];
	struct ll_error err = { 0 };

	(void)state;
	/* sha256("alice"), 28 octets */
	assert_int_equal(
		ll_smimea_owner(a, sizeof(a), "alice@example.test", NULL), 0);
	assert_string_equal(a, "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac"
			       "4f93af71db._smimecert.example.test.");
	/* the local part in NFC: e + U+0301 is U+00E9 */
	assert_int_equal(ll_smimea_owner(a, sizeof(a),
					 "caf\xc3\xa9@example.test", NULL),
			 0);
	assert_int_equal(ll_smimea_owner(b, sizeof(b),
					 "cafe\xcc\x81@example.test", NULL),
			 0);
	assert_string_equal(a, b);
	assert_memory_equal(a,
			    "850f7dc43910ff890f8879c0ed26fe697c93a067ad93a7"
			    "d50f466a70",
			    56);
	/* the case of the local part is the mailbox's own */
	assert_int_equal(
		ll_smimea_owner(b, sizeof(b), "Alice@example.test", NULL), 0);
	assert_string_not_equal(b, "2bd806c97f0e00af1a1fc3328fa763a9269723c8d"
				   "b8fac4f93af71db._smimecert.example.test.");
	assert_int_equal(ll_smimea_owner(a, sizeof(a), "@example.test", &err),
			 LL_EINVAL);
	assert_int_equal(ll_smimea_owner(a, sizeof(a), "alice@", NULL),
			 LL_EINVAL);
	assert_int_equal(ll_smimea_owner(a, sizeof(a), "alice", NULL),
			 LL_EINVAL);
	assert_int_equal(ll_smimea_owner(a, sizeof(a), "\xff@example.test",
					 NULL),
			 LL_EINVAL);
	/* a buffer one octet short */
	assert_int_equal(ll_smimea_owner(a, 56 + 25, "alice@example.test",
					 NULL),
			 LL_ETOOBIG);
	assert_int_equal(
		ll_smimea_owner(a, 56 + 26, "alice@example.test", NULL), 0);
	assert_int_equal(ll_smimea_owner(a, 10, "alice@example.test", NULL),
			 LL_ETOOBIG);
}

/* What an answer of records gives alice@example.test. */
static void test_take(void **state)
{
	const void *data[LL_SMIMEA_RRS_MAX + 1];
	size_t len[LL_SMIMEA_RRS_MAX + 1], n = 0, alen, mlen, blen;
	unsigned char *alice = cert_rdata(&mt_alice, 3, &alen);
	unsigned char *mallory = cert_rdata(&mt_mallory, 3, &mlen);
	unsigned char *bob = cert_rdata(&mt_bob, 3, &blen);
	unsigned char *pkix = cert_rdata(&mt_alice, 1, &alen);
	unsigned char *digest = rdata(3, 0, 1, 32, 0xab);
	unsigned char *text = rdata(3, 0, 0, 40, 'A');
	const char *addr = "alice@example.test";
	time_t now = time(NULL);
	struct ll_smimea_take t;

	(void)state;
	/* alice's certificate: taken */
	data[0] = alice;
	len[0] = alen;
	assert_int_equal(ll_smimea_take(&t, data, len, 1, addr, now), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.records, 1);
	assert_string_equal(ll_cert_fingerprint(t.certs[0]),
			    ll_cert_fingerprint(ll_identity_cert(mt_alice.id)));
	ll_smimea_take_free(&t);
	/* the same certificate twice, and mallory's (another key for
	 * the same address): both keys, each once */
	data[1] = alice;
	len[1] = alen;
	data[2] = mallory;
	len[2] = mlen;
	assert_int_equal(ll_smimea_take(&t, data, len, 3, addr, now), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.why, "");
	ll_smimea_take_free(&t);
	/* nothing but what gives no certificate for her */
	data[n = 0] = digest;
	len[n++] = 35;
	data[n] = bob;
	len[n++] = blen;
	data[n] = pkix;
	len[n++] = alen;
	data[n] = text;
	len[n++] = 43;
	data[n] = digest;
	len[n++] = 3; /* malformed */
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(
			ll_smimea_take(&t, data + k, len + k, 1, addr, now), 0);
		assert_int_equal(t.n, 0);
		assert_true(t.why[0] != '\0');
	}
	assert_int_equal(ll_smimea_take(&t, data, len, n, addr, now), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.records, n);
	assert_non_null(strstr(t.why, "3 0 1: a digest"));
	/* bob's certificate names another address */
	assert_int_equal(ll_smimea_take(&t, data + 1, len + 1, 1, addr, now),
			 0);
	assert_non_null(strstr(t.why, "another address"));
	/* alice's, but not valid at that time */
	data[0] = alice;
	len[0] = alen;
	assert_int_equal(ll_smimea_take(&t, data, len, 1, addr,
					now + 20 * 365 * 86400L),
			 0);
	assert_int_equal(t.n, 0);
	assert_non_null(strstr(t.why, "not valid now"));
	/* more records than are read: the first LL_SMIMEA_RRS_MAX */
	for (size_t k = 0; k <= LL_SMIMEA_RRS_MAX; k++) {
		data[k] = k == LL_SMIMEA_RRS_MAX ? alice : digest;
		len[k] = k == LL_SMIMEA_RRS_MAX ? alen : 35;
	}
	assert_int_equal(ll_smimea_take(&t, data, len, LL_SMIMEA_RRS_MAX + 1,
					addr, now),
			 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.records, LL_SMIMEA_RRS_MAX);
	free(alice);
	free(mallory);
	free(bob);
	free(pkix);
	free(digest);
	free(text);
}

/* A lookup that gets no answer (nothing listens where the resolver
 * configuration sends it), one whose trust anchor file is missing:
 * nothing found, said why. */
static void test_lookup_fails(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char conf[256];
	struct ll_smimea_query q[2] = { { .addr = "alice@example.test" },
					{ .addr = "bob@example.test" } };
	struct ll_smimea_resolver r = { conf, NULL, 2, 0 };
	char why[256] = "";
	FILE *f;
	int fd;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/test_smimea.XXXXXX",
		 tmp != NULL && strlen(tmp) < 200 ? tmp : "/tmp");
	fd = mkstemp(conf);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("server:\n\tdo-not-query-localhost: no\n\tdo-ip6: no\n"
	      "\tlocal-zone: \"test.\" nodefault\n"
	      "stub-zone:\n\tname: \"example.test\"\n"
	      "\tstub-addr: 127.0.0.1@1\n",
	      f);
	fclose(f);
	r.trust_anchor_file = NULL; /* the root's: it does not matter */
	assert_int_equal(ll_smimea_lookup(q, 2, &r, why, sizeof(why)), 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_not_equal(q[i].status, LL_SMIMEA_SECURE);
		assert_int_equal(q[i].take.n, 0);
		assert_true(q[i].why[0] != '\0');
	}
	r.trust_anchor_file = "/nonexistent/anchors";
	assert_int_equal(ll_smimea_lookup(q, 2, &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "/nonexistent/anchors"));
	unlink(conf);
	r.trust_anchor_file = NULL;
	assert_int_equal(ll_smimea_lookup(q, 1, &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, conf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_unusable),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_lookup_fails),
	};

	return cmocka_run_group_tests(tests, mt_setup, mt_teardown);
}
