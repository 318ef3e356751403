/*
 * pkx_addr.c - how the directory names things: addresses as it keys
 * them, certificates by their SHA-256 fingerprint, and the owner names
 * of SMIMEA records (RFC 8162).
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <openssl/evp.h>

#include <letterlock/ca.h>

#include "internal.h"
#include "pkx.h"

#define SMIMEA_LABEL "._smimecert."

void lld_hex(char *out, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int lld_sha256_hex(char out[LLD_FPR_HEX + 1], const void *p, size_t n,
		   struct ll_error *err)
{
	unsigned char md[32];
	size_t mdlen = 0;

	if (EVP_Q_digest(NULL, "SHA256", NULL, p, n, md, &mdlen) != 1 ||
	    mdlen != sizeof(md))
		return ll_err_ossl(err, LL_ECRYPTO, "SHA-256");
	lld_hex(out, md, sizeof(md));
	return 0;
}

static int ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

int lld_pkx_addr_key(char out[LLD_EMAIL_MAX + 1], const char *addr, size_t len,
		     struct ll_error *err)
{
	char in[LLD_PKX_ADDR_IN_MAX + 1], canon[LLD_EMAIL_MAX + 1];
	char why[LL_ERROR_MSG_MAX];
	size_t at = 0, n;
	gchar *nfc;
	int rc;

	out[0] = '\0';
	if (len > LLD_PKX_ADDR_IN_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "address longer than %d octets",
			      LLD_PKX_ADDR_IN_MAX);
	if (memchr(addr, '\0', len) != NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "not a mailbox address (NUL)");
	memcpy(in, addr, len);
	in[len] = '\0';
	rc = ll_ca_mailbox_canonical(canon, sizeof(canon), &at, in, err);
	if (rc < 0)
		return rc;
	if (ascii(canon, at)) {
		memcpy(out, canon, strlen(canon) + 1);
		return 0;
	}
	/* ll_ca_mailbox_canonical keeps the local part's octets as they
	 * came (it checked them UTF-8); RFC 6532 3.1 wants NFC, and a
	 * client may send either */
	nfc = g_utf8_normalize(canon, (gssize)at, G_NORMALIZE_NFC);
	if (nfc == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the local part is not UTF-8");
	n = strlen(nfc);
	if (n + strlen(canon + at) >= sizeof(in)) {
		g_free(nfc);
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "address longer than %d octets in NFC",
			      LLD_EMAIL_MAX);
	}
	memcpy(in, nfc, n);
	memcpy(in + n, canon + at, strlen(canon + at) + 1);
	g_free(nfc);
	/* and checked again: NFC may make what is no address (U+037E is
	 * ';' in NFC), or one too long */
	rc = ll_ca_mailbox_canonical(out, LLD_EMAIL_MAX + 1, NULL, in, err);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s", err ? err->message : "");
		out[0] = '\0';
		return ll_err(err, rc, LL_ECLASS_USAGE,
			      "the local part in NFC is no address: %.200s",
			      why);
	}
	return 0;
}

int lld_smimea_owner(char *out, size_t len, const char *addr,
		     struct ll_error *err)
{
	const char *at = strrchr(addr, '@');
	unsigned char md[32];
	size_t mdlen = 0;
	int n;

	if (at == NULL || at == addr || at[1] == '\0')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "not a mailbox address");
	if (EVP_Q_digest(NULL, "SHA256", NULL, addr, (size_t)(at - addr), md,
			 &mdlen) != 1 ||
	    mdlen != sizeof(md))
		return ll_err_ossl(err, LL_ECRYPTO, "SHA-256");
	if (len < 2 * LLD_SMIMEA_HASH_LEN + 1)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "no room for the owner name");
	lld_hex(out, md, LLD_SMIMEA_HASH_LEN);
	n = snprintf(out + 2 * LLD_SMIMEA_HASH_LEN,
		     len - 2 * LLD_SMIMEA_HASH_LEN, SMIMEA_LABEL "%s.", at + 1);
	if (n < 0 || (size_t)n >= len - 2 * LLD_SMIMEA_HASH_LEN)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "no room for the owner name");
	return 0;
}
