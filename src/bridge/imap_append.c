/*
 * imap_append.c - APPEND of a plaintext message sealed to the user's
 * own key before it goes upstream (imap_fetch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_rewrite.h"

int imap_seal_append(struct imap_opener *o, const char *msg, size_t len,
		     char **out, size_t *outlen, char *why, size_t whysize)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_sealed *s = NULL;
	struct ll_error err = { 0 };
	const char *data;
	size_t n;
	int rc = -1;

	*out = NULL;
	snprintf(why, whysize, "cannot seal the message");
	/* Only an encrypted message goes as it is: a signed-only S/MIME
	 * or PGP/MIME one is plaintext to the server (doc/bridge.md). */
	if (imap_message_encrypted(msg, len)) {
		*out = malloc(len + 1);
		if (*out == NULL)
			return -1;
		memcpy(*out, msg, len);
		*outlen = len;
		return 0;
	}
	if (imap_opener_ready(o) < 0)
		return -1;
	so.flags |= LL_SEAL_SELF_ONLY;
	if (ll_msg_seal(&s, o->ctx, msg, len, &so, &err) < 0 ||
	    ll_sealed_count(s) != 1) {
		snprintf(why, whysize, "cannot seal the message: %s",
			 err.message[0] ? err.message : "failed");
		goto out;
	}
	data = ll_sealed_data(s, 0, &n);
	*out = malloc(n + 1);
	if (*out == NULL)
		goto out;
	memcpy(*out, data, n);
	*outlen = n;
	rc = 0;
out:
	ll_sealed_free(&s);
	ll_error_clear(&err);
	return rc;
}
