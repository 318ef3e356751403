/*
 * kh_mail.c - the keyholder's MAIL: the RFC 8823 challenge mail,
 * composed here and signed with the CA's mail identity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kh_internal.h"

/* One line of text as quoted-printable (RFC 2045 6.7), CRLF ended. */
static void qp_line(FILE *f, const unsigned char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		char tok[4];
		size_t tl = 1;

		if (c >= 0x7f || c == '=' || c < 0x20 ||
		    (c == ' ' && i + 1 == n))
			tl = (size_t)snprintf(tok, sizeof(tok), "=%02X", c);
		else
			tok[0] = (char)c;
		if (col + tl > 75) {
			fputs("=\r\n", f);
			col = 0;
		}
		fwrite(tok, 1, tl, f);
		col += tl;
	}
	fputs("\r\n", f);
}

static int mail_body(char **out, size_t *len, const char *name)
{
	FILE *f = open_memstream(out, len);

	if (f == NULL)
		return -1;
	fprintf(f,
		"This is an automatic certificate request check from\n"
		"%s.\n"
		"\n"
		"Someone asked for an S/MIME certificate for this mailbox.\n"
		"Their mail program proves that the mailbox is theirs by\n"
		"answering this message; letterlock answers it on its own.\n"
		"\n"
		"If you did not ask for a certificate, ignore this message:\n"
		"without an answer no certificate is issued.\n",
		name);
	return fclose(f) == 0 ? 0 : -1;
}

static int is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* The message to sign, CRLF lines, into *out. */
static int mail_compose(char **out, size_t *len, const struct keyholder *k,
			const char *to, const char *token1, const char *msgid,
			int64_t now)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)now;
	char *body = NULL;
	size_t bodylen = 0;
	struct tm tm;
	FILE *f = NULL;
	int rc = -1, ascii;

	if (gmtime_r(&t, &tm) == NULL ||
	    mail_body(&body, &bodylen, k->conf->name) < 0)
		goto out;
	ascii = is_ascii(body, bodylen);
	f = open_memstream(out, len);
	if (f == NULL)
		goto out;
	fprintf(f,
		"From: %s\r\n"
		"To: %s\r\n"
		"Subject: ACME: %s\r\n"
		"Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n"
		"Message-ID: %s\r\n"
		"MIME-Version: 1.0\r\n"
		"Auto-Submitted: auto-generated; type=acme\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: %s\r\n"
		"\r\n",
		k->conf->mail_from, to, token1, wday[tm.tm_wday], tm.tm_mday,
		mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		tm.tm_sec, msgid, ascii ? "7bit" : "quoted-printable");
	for (char *line = body, *nl; (nl = strchr(line, '\n')) != NULL;
	     line = nl + 1) {
		if (ascii) {
			fwrite(line, 1, (size_t)(nl - line), f);
			fputs("\r\n", f);
		} else {
			qp_line(f, (const unsigned char *)line,
				(size_t)(nl - line));
		}
	}
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc < 0 && f != NULL) {
		free(*out);
		*out = NULL;
	}
	free(body);
	return rc;
}

int kh_op_mail(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	       struct ll_error *err)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	char to[LLD_EMAIL_MAX + 1], token1[LLD_TOKEN_MAX + 1];
	char msgid[LLD_MSGID_MAX + 1];
	struct ll_sealed *s = NULL;
	char *text = NULL;
	const char *data;
	size_t textlen = 0, datalen = 0;
	int64_t now;
	int rc;

	kh_r_text(r, to, sizeof(to), 3, kh_c_mailbox);
	kh_r_text(r, token1, sizeof(token1), 1, kh_c_token);
	kh_r_text(r, msgid, sizeof(msgid), 3, kh_c_visible);
	now = kh_r_i64(r);
	if (!kh_r_done(r) || !kh_mailbox_ok(to) || !kh_msgid_ok(msgid) ||
	    !kh_time_ok(now))
		return KH_MALFORMED;
	if (k->mail == NULL)
		return kh_err(err, LL_EINVAL,
			      "no [mail] from configured: no challenge mail");
	if (mail_compose(&text, &textlen, k, to, token1, msgid, now) < 0) {
		rc = kh_err(err, LL_ENOMEM, "composing the challenge mail");
		goto out;
	}
	so.flags = LL_SEAL_SIGN | LL_SEAL_NO_HP;
	rc = ll_msg_seal(&s, k->mail, text, textlen, &so, err);
	if (rc < 0)
		goto out;
	data = ll_sealed_count(s) > 0 ? ll_sealed_data(s, 0, &datalen) : NULL;
	if (data == NULL || datalen > KH_MAIL_MAX) {
		rc = kh_err(err, LL_ETOOBIG, "the signed challenge mail");
		goto out;
	}
	kh_w_bytes(w, data, datalen);
out:
	ll_sealed_free(&s);
	free(text);
	return rc;
}
