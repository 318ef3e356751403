/*
 * mailbox.h - the user's own mailbox, as `letterlock enrol` and
 * `letterlock send` use it: IMAP to find and fetch mail, SMTP
 * submission to send it (libcurl).
 *
 * TLS: imaps:// and smtps:// speak TLS from the start.  imap:// and
 * smtp:// must upgrade with STARTTLS, except to this machine
 * (127.0.0.0/8, ::1, localhost) without a CA file, where the connection
 * stays plain (it never leaves the machine).  The server's certificate
 * is always verified: the system's trust store plus CA_FILE.
 */
#ifndef LL_CLI_MAILBOX_H
#define LL_CLI_MAILBOX_H

#include <stddef.h>
#include <letterlock/error.h>

#define MAILBOX_MAX_HITS 64 /* UIDs one search returns at most */

struct mailbox_conf {
	const char *imap_url; /* imap[s]://HOST[:PORT][/MAILBOX]; INBOX;
				 NULL: SMTP only */
	const char *smtp_url; /* smtp[s]://HOST[:PORT] (submission) */
	const char *user; /* login for both; NULL: no login (SMTP only) */
	const char *password;
	const char *ca_file; /* PEM trusted besides the system's, or NULL */
	int timeout; /* seconds for one exchange */
	int reuse; /* keep the SMTP connection for the next submission
		      (mailbox_close ends it); else QUIT after each */
};

struct mailbox;

/* Check the URLs and keep a copy of CONF (no I/O yet).  The password is
 * wiped when the mailbox is closed.  LL_EINVAL for a bad URL. */
int mailbox_open(struct mailbox **out, const struct mailbox_conf *conf,
		 struct ll_error *err);
void mailbox_close(struct mailbox **pp);

/*
 * Log in and ask where the mailbox stands: mail that arrives from now
 * on has a UID of at least *uidnext (IMAP STATUS UIDNEXT).  The first
 * call shows whether the login works: the message then starts "IMAP
 * login failed".  Errors: LL_EIO (network, TLS, login), LL_EPARSE.
 */
int mailbox_uidnext(struct mailbox *mb, unsigned long *uidnext,
		    struct ll_error *err);

/*
 * UIDs of the messages with a UID of at least FIRST whose From contains
 * FROM and whose Subject contains SUBJECT (each may be NULL), into
 * UIDS, highest first: at most MAILBOX_MAX_HITS, *n of them.
 */
int mailbox_search(struct mailbox *mb, unsigned long first, const char *from,
		   const char *subject, unsigned long uids[MAILBOX_MAX_HITS],
		   size_t *n, struct ll_error *err);

/* The whole message UID into *msg (malloc'd, NUL-terminated, *len
 * bytes).  LL_ETOOBIG when it is larger than MAX. */
int mailbox_fetch(struct mailbox *mb, unsigned long uid, size_t max, char **msg,
		  size_t *len, struct ll_error *err);

/*
 * Search, fetch and ask UIDNEXT in FOLDER (plain ASCII) from now on,
 * instead of the URL's mailbox.  LL_EINVAL for a name that is not.
 */
int mailbox_select(struct mailbox *mb, const char *folder,
		   struct ll_error *err);

/* Put MSG (LEN bytes, CRLF line ends) into FOLDER with IMAP APPEND,
 * creating the folder when it is missing.  Errors: LL_EIO, LL_EINVAL. */
int mailbox_append(struct mailbox *mb, const char *folder, const char *msg,
		   size_t len, struct ll_error *err);

/* Submit MSG (CRLF line ends) from FROM to TO, after AUTH. */
int mailbox_send(struct mailbox *mb, const char *from, const char *to,
		 const char *msg, size_t len, struct ll_error *err);

/* What a failed submission says about trying again. */
struct mailbox_outcome {
	long code; /* the server's last SMTP reply code; 0 none */
	int permanent; /* a 5xx reply, or TLS, certificate or login
			  refused: the same attempt will fail again (a
			  454 to STARTTLS or AUTH is temporary) */
	int session; /* failed before MAIL FROM (connection, TLS, login):
			every other message fails the same way now */
};

/* The failure of mail that needs SMTPUTF8 to a server without it. */
#define MAILBOX_NO_SMTPUTF8                                            \
	"the mail server does not offer SMTPUTF8: a UTF-8 address or " \
	"header cannot go through it unchanged, so it was not sent "   \
	"(RFC 6531)"

/*
 * One SMTP transaction: MSG (CRLF line ends) from FROM to the N
 * addresses RCPTS, after AUTH when there is a login.  A recipient
 * refused refuses the whole transaction: nothing is sent.  Mail with
 * UTF-8 in an address or in the header goes only to a server that
 * offers SMTPUTF8 (libcurl then says SMTPUTF8 when an address needs
 * it); to another it is a permanent failure, MAILBOX_NO_SMTPUTF8,
 * before MAIL.  0 when the server took the message (250 after the
 * data); else LL_EIO and *OC says what kind of failure it was.
 */
int mailbox_submit(struct mailbox *mb, const char *from,
		   const char *const *rcpts, size_t n, const char *msg,
		   size_t len, struct mailbox_outcome *oc,
		   struct ll_error *err);

/* The server's last line (printable ASCII), "" when none; borrowed. */
const char *mailbox_reply(const struct mailbox *mb);

#endif
