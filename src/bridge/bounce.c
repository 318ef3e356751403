/*
 * bounce.c - a message the bridge had queued (its client heard 451
 * "queued", so it counts on the bridge) and the server later refused
 * for good: the sender learns it from a delivery status notification
 * (RFC 3464) put into their INBOX, and the copy is not tried again.
 *
 * The report is sealed to the sender's own key as an APPEND through
 * the bridge is (LL_SEAL_SELF_ONLY): it carries the refused message,
 * opened with the sender's key (the outbox holds the sealed copy, which
 * is always encrypted to the sender too), and the server must not get
 * that in clear.  Who reads it through the bridge sees a plain report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "bridge.h"
#include "mailbox.h"
#include "outbox.h"

#define SUBJECT_MAX 200

/* The unfolded Subject of the header of MSG into OUT ("" when none). */
static void subject_of(char out[SUBJECT_MAX], const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;
	size_t n = 0;
	int in = 0;

	out[0] = '\0';
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t k = lf ? (size_t)(lf - p) : (size_t)(end - p);

		if (k > 0 && p[k - 1] == '\r')
			k--;
		if (k == 0)
			break; /* the end of the header */
		if (p[0] != ' ' && p[0] != '\t') {
			if (in)
				break;
			if (k >= 8 && strncasecmp(p, "Subject:", 8) == 0) {
				in = 1;
				p += 8;
				k -= 8;
			}
		}
		for (size_t j = 0; in && j < k && n + 1 < SUBJECT_MAX; j++)
			if (!(n == 0 && (p[j] == ' ' || p[j] == '\t')))
				out[n++] = p[j] == '\t' ? ' ' : p[j];
		p = lf ? lf + 1 : end;
	}
	out[n] = '\0';
}

/* The enhanced status code (RFC 3463) at the start of the server's
 * REPLY text ("5.1.1 <x>: unknown"), else 5.0.0. */
static void status_of(char out[16], const char *reply)
{
	const char *p = strstr(reply, " 5.");
	size_t n;

	if (strncmp(reply, "5.", 2) == 0)
		p = reply;
	else if (p != NULL)
		p++;
	n = p ? strspn(p, "0123456789.") : 0;
	if (p == NULL || n < 5 || n > 11) {
		strcpy(out, "5.0.0");
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/* A one-line copy of S (no CR, LF or other controls) into OUT. */
static void one_line(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s && n + 1 < size; s++)
		out[n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	out[n] = '\0';
}

/* The report of copy I of E refused with REPLY, around ORIG (N bytes:
 * the refused message as the sender wrote it), into *OUT. */
static int compose(char **out, size_t *outlen, const char *address,
		   const struct outbox_entry *e, size_t i, const char *reply,
		   const char *orig, size_t n)
{
	char subject[SUBJECT_MAX], status[16], date[64], queued[64];
	char boundary[64], id[40], diag[600];
	unsigned char rnd[12];
	struct tm tm;
	time_t now = time(NULL);
	char *head = NULL, *rcpts = NULL, *tail = NULL, *p;
	const char *server;
	size_t hl, rl = 0, tl;
	FILE *f;
	int rc = -1;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (size_t k = 0; k < sizeof(rnd); k++)
		snprintf(id + 2 * k, 3, "%02x", rnd[k]);
	snprintf(boundary, sizeof(boundary), "=_report_%s", id);
	subject_of(subject, orig, n);
	/* the server's own words when the message quotes them */
	server = strstr(reply, "(server: ");
	if (server != NULL) {
		server += 9;
		one_line(diag, sizeof(diag), server);
		if (diag[0] != '\0' && diag[strlen(diag) - 1] == ')')
			diag[strlen(diag) - 1] = '\0';
	} else {
		one_line(diag, sizeof(diag), reply);
	}
	status_of(status, diag);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	localtime_r(&e->queued, &tm);
	strftime(queued, sizeof(queued), "%a, %d %b %Y %H:%M:%S %z", &tm);

	f = open_memstream(&rcpts, &rl);
	if (f == NULL)
		return -1;
	for (size_t k = 0; e->rcpts[i][k] != NULL; k++)
		fprintf(f,
			"\r\nFinal-Recipient: rfc822; %s\r\n"
			"Action: failed\r\nStatus: %s\r\n"
			"Diagnostic-Code: smtp; %s\r\n",
			e->rcpts[i][k], status, diag);
	if (fclose(f) != 0)
		goto out;

	f = open_memstream(&head, &hl);
	if (f == NULL)
		goto out;
	fprintf(f,
		"From: Mail Delivery (letterlock bridge) <%s>\r\n"
		"To: <%s>\r\n"
		"Subject: Undelivered: %s\r\n"
		"Date: %s\r\n"
		"Message-ID: <bounce.%s@letterlock.invalid>\r\n"
		"Auto-Submitted: auto-replied\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=delivery-status;"
		"\r\n boundary=\"%s\"\r\n"
		"\r\n"
		"--%s\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"\r\n"
		"The mail server refused this message for good, after the\r\n"
		"bridge had queued it (%s, entry %s):\r\n"
		"\r\n",
		address, address, subject[0] ? subject : "(no subject)", date,
		id, boundary, boundary, queued, e->id);
	for (size_t k = 0; e->rcpts[i][k] != NULL; k++)
		fprintf(f, "    %s\r\n", e->rcpts[i][k]);
	fprintf(f,
		"\r\nThe server's answer: %s\r\n"
		"(one recipient refused refuses the message: none of the\r\n"
		"addresses above got it)\r\n"
		"\r\n"
		"It will not be tried again. The message is attached; send it\r\n"
		"again once the address or the message is mended.\r\n"
		"\r\n"
		"--%s\r\n"
		"Content-Type: message/delivery-status\r\n"
		"\r\n"
		"Reporting-MTA: dns; localhost\r\n"
		"Arrival-Date: %s\r\n"
		"%s"
		"\r\n"
		"--%s\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Transfer-Encoding: 8bit\r\n"
		"\r\n",
		reply, boundary, queued, rcpts, boundary);
	if (fclose(f) != 0)
		goto out;
	tl = (size_t)asprintf(&tail, "\r\n--%s--\r\n", boundary);
	if (tail == NULL)
		goto out;
	p = malloc(hl + n + tl + 1);
	if (p == NULL)
		goto out;
	memcpy(p, head, hl);
	memcpy(p + hl, orig, n);
	memcpy(p + hl + n, tail, tl + 1);
	*out = p;
	*outlen = hl + n + tl;
	rc = 0;
out:
	free(head);
	free(rcpts);
	free(tail);
	return rc;
}

int bridge_bounce(const struct bridge *b, const struct bridge_account *a,
		  const char *password, const struct outbox_entry *e, size_t i,
		  const char *reply)
{
	struct ll_keystore *ks = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_opened *op = NULL;
	struct ll_sealed *sealed = NULL;
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct mailbox_conf mc = { 0 };
	struct mailbox *mb = NULL;
	char *copy = NULL, *report = NULL;
	const char *orig, *data;
	size_t clen = 0, olen, rlen = 0, dlen;
	int rc = -1;

	if (outbox_load(e, i, &copy, &clen) < 0 ||
	    cli_open_home(&ks, &ctx, b->cli, CLI_LOAD_CERTS) != 0 ||
	    cli_load_keys(ks, ctx, b->cli) != 0)
		goto out;
	/* the message as the sender wrote it; the sealed copy itself when
	 * it does not open (it stays sealed inside the sealed report) */
	if (ll_msg_open(&op, ctx, copy, clen, &err) == 0) {
		orig = ll_opened_data(op, &olen);
	} else {
		ll_error_clear(&err);
		orig = copy;
		olen = clen;
	}
	if (compose(&report, &rlen, a->address, e, i, reply, orig, olen) < 0)
		goto out;
	so.flags |= LL_SEAL_SELF_ONLY;
	if (ll_msg_seal(&sealed, ctx, report, rlen, &so, &err) < 0 ||
	    ll_sealed_count(sealed) != 1) {
		fprintf(stderr,
			"letterlock: bridge: %s: cannot seal the report of a "
			"refused message: %s\n",
			a->address, err.message);
		goto out;
	}
	data = ll_sealed_data(sealed, 0, &dlen);
	mc.imap_url = a->imap_url;
	mc.smtp_url = a->smtp_url;
	mc.user = a->user ? a->user : a->address;
	mc.password = password;
	mc.ca_file = a->ca_file;
	mc.timeout = 60;
	if (mailbox_open(&mb, &mc, &err) < 0 ||
	    mailbox_append(mb, "INBOX", data, dlen, &err) < 0) {
		fprintf(stderr,
			"letterlock: bridge: %s: cannot put the report of a "
			"refused message into INBOX: %s\n",
			a->address, err.message);
		goto out;
	}
	rc = 0;
out:
	mailbox_close(&mb);
	ll_sealed_free(&sealed);
	ll_opened_free(&op);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	ll_error_clear(&err);
	free(copy);
	if (report != NULL)
		ll_wipe_free(report, rlen); /* the message in clear */
	return rc;
}
