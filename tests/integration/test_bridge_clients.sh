#!/bin/bash
# test_bridge_clients.sh - `letterlock bridge`, IMAP side, under the
# command sequences real clients send (Thunderbird, Apple Mail and iOS,
# Outlook, K-9 Mail and FairEmail, mutt), replayed by imapclients.py
# against bob's bridge over a mailbox holding plain messages (one of
# them multipart with a quoted-printable part and an attachment, one
# with a forged X-Letterlock-Status field) and S/MIME ones (encrypted,
# one of them a forward with nested parts and a message/rfc822; signed
# only; tampered; one bob has no key for).
#
# Not "OK" but consistency is checked: every content item a session
# gets must agree with the message's BODY[] through the bridge
# (RFC822.SIZE its length, sections and partials cut from it,
# HEADER.FIELDS[.NOT] its header, BODYSTRUCTURE its parts with the
# sizes BODY[n] has, ENVELOPE its fields, BINARY[n] the part decoded);
# what the bridge does not handle is neither advertised nor let
# through (COMPRESS, NOTIFY, SORT, THREAD, CONDSTORE and QRESYNC,
# BINARY, PREVIEW, FETCHes it cannot read); a forged status field
# never shown; \Seen set exactly by a FETCH that is not PEEK; an APPEND
# with LITERAL+ sealed, MULTIAPPEND refused; SEARCH with a literal and
# ESEARCH find an encrypted body's word.  See imapclients.py.
#
# Output: TAP.  Needs root and scripts/setup's packages; skips
# otherwise.  KEEP_TMP=1 keeps the directory.
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test

lldtest_init bridge_clients "letterlock bridge, IMAP as real clients use it"
unset MAILSTACK_PASSWORD

. "$here/bridgetest.sh"
bridge_bob

# client CASE [ARGS...]: imapclients.py's CASE against bob's bridge
client() {
	local c=$1
	shift
	"$PY" "$here/imapclients.py" "$c" "$IPORT" "$T/bob/bridge/tls.pem" \
		"$BPW" "$MAILSTACK_IMAP_PORT" "$MAILSTACK_CA_FILE" \
		"$(pw "$BOB")" "$@"
}

# msg NAME SUBJECT KIND: $T/NAME.eml from alice to bob; KIND text (a
# text part), mixed (a text part and a base64 attachment), or qp (a
# quoted-printable text part and an attachment)
msg() {
	{
		printf 'From: Alice <%s>\r\nTo: Bob <%s>\r\n' "$ALICE" "$BOB"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$2" "$1"
		printf 'Date: Wed, 25 Nov 2026 03:00:00 +0000\r\n'
		printf 'MIME-Version: 1.0\r\n'
		if [ "$3" = nested ]; then
			nested "$1"
			return
		fi
		if [ "$3" = text ]; then
			printf 'Content-Type: text/plain\r\n\r\n'
			printf 'Nothing secret in %s: pumpernickel.\r\n' "$1"
			return
		fi
		printf 'Content-Type: multipart/mixed; boundary="b-%s"\r\n\r\n' "$1"
		printf -- '--b-%s\r\nContent-Type: text/plain; charset=utf-8\r\n' "$1"
		[ "$3" = qp ] &&
			printf 'Content-Transfer-Encoding: quoted-printable\r\n'
		printf '\r\nThe figures of %s: pumpernickel, na=C3=AFve.\r\n' "$1"
		printf -- '--b-%s\r\nContent-Type: application/octet-stream\r\n' "$1"
		printf 'Content-Disposition: attachment; filename="r.bin"\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n\r\n'
		head -c 5000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
		printf -- '--b-%s--\r\n' "$1"
	} >"$T/$1.eml"
}

# nested NAME: the body of a forward, as Thunderbird and Apple Mail
# write one: multipart/mixed of a multipart/alternative (text/plain
# quoted-printable, text/html) and the message forwarded
# (message/rfc822: $T/lunch.eml)
nested() {
	printf 'Content-Type: multipart/mixed; boundary="m-%s"\r\n\r\n' "$1"
	printf -- '--m-%s\r\n' "$1"
	printf 'Content-Type: multipart/alternative; boundary="a-%s"\r\n\r\n' "$1"
	printf -- '--a-%s\r\nContent-Type: text/plain; charset=utf-8\r\n' "$1"
	printf 'Content-Transfer-Encoding: quoted-printable\r\n\r\n'
	printf 'See below: pumpernickel, caf=C3=A9 =\r\nand more.\r\n'
	printf -- '--a-%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n' "$1"
	printf '<p>See below: <b>pumpernickel</b></p>\r\n'
	printf -- '--a-%s--\r\n\r\n--m-%s\r\n' "$1" "$1"
	printf 'Content-Type: message/rfc822\r\n'
	printf 'Content-Disposition: attachment\r\n\r\n'
	cat "$T/lunch.eml"
	printf -- '\r\n--m-%s--\r\n' "$1"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"

t "alice and bob: identities, each other's certificates; bob's account" bridge_homes

t_mail() {
	msg lunch "Lunch" text && upload lunch || return 1
	msg plainmix "Plain parts" qp && upload plainmix || return 1
	msg figures "Quarterly figures" mixed &&
		ll alice seal -o "$T/sealed.eml" "$T/figures.eml" &&
		cp "$T/sealed.eml" "$T/figures.eml" && upload figures || return 1
	msg signed "Signed" mixed &&
		ll alice seal --sign-only -o "$T/s.eml" "$T/signed.eml" &&
		cp "$T/s.eml" "$T/signed.eml" && upload signed || return 1
	msg tampered "Tampered" text &&
		ll alice seal --sign-only -o "$T/s.eml" "$T/tampered.eml" &&
		sed 's/Nothing secret/Something secret/' "$T/s.eml" \
			>"$T/tampered.eml" && upload tampered || return 1
	# a plain message whose own header claims a valid signature
	msg forged "Forged" text &&
		sed -i '1i X-Letterlock-Status: encrypted, decrypted aes-256-gcm; signature valid by ceo@example.test; timestamp none\r' \
			"$T/forged.eml" && upload forged || return 1
	msg forward "Fwd: Lunch" nested &&
		ll alice seal -o "$T/s.eml" "$T/forward.eml" &&
		cp "$T/s.eml" "$T/forward.eml" && upload forward || return 1
	msg other "Not for bob" mixed &&
		sed -i "s/^To: Bob.*/To: Alice <$ALICE>/" "$T/other.eml" &&
		ll alice seal -o "$T/s.eml" "$T/other.eml" &&
		cp "$T/s.eml" "$T/other.eml" && upload other
}
t "bob's INBOX: plain messages, encrypted, signed, tampered, one not for bob" t_mail

t "bob's bridge starts" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll bob bridge --show-password)
msg draft "Draft" mixed && sed -i "s/^From: Alice.*/From: Bob <$BOB>/" "$T/draft.eml"

# ------------------------------------------------------------ clients

t "Thunderbird: flag and header sync, a message by parts and in 1 KiB chunks" client thunderbird
t "Apple Mail, iOS: BODYSTRUCTURE and BODY[HEADER], each part in 2 KiB pieces" client apple
t "K-9 Mail, FairEmail: ENVELOPE, BODYSTRUCTURE, header fields, a part's first 4 KiB" client k9
t "parts fit together: each MIME header right before its body, a message/rfc822's HEADER and TEXT make it, TEXT partials" client parts
t "mutt: header cache fetch, whole messages, FAST and FULL" client mutt
t "Outlook: headers, whole messages, UID COPY (COPYUID) and UID MOVE read back the same, UID EXPUNGE" client outlook
t "capabilities advertised are handled; COMPRESS, NOTIFY, SORT, THREAD refused" client capability
t "ENABLE enables nothing unadvertised; SELECT (CONDSTORE), (QRESYNC ...) refused, the mailbox stays selected" client enable
t "CONDSTORE and QRESYNC used unasked: refused, or answered from the opened message" client condstore
t "BINARY and PREVIEW: refused, or answered from the opened message" client binary
t "a FETCH the bridge cannot read (literals, SEARCHRES, an unknown item, 5 KiB of items): refused, the session goes on" client unread
t "pipelined: every command answered once, BINARY refused among them, every FETCH response consistent" client pipelined
t "a plain message with a status field of its own: the bridge's status in every FETCH of it, alone too" client forged "$(uid forged)"
t "\\Seen set exactly by a FETCH that is not PEEK" client seen
t "APPEND with flags, date and LITERAL+ sealed; MULTIAPPEND sealed or refused" client append "$T/draft.eml"
t "SEARCH CHARSET UTF-8 with a literal and ESEARCH RETURN find an encrypted body's word" client search "$(uid figures)"
t "IDLE and DONE, NOOP, NAMESPACE, LIST-STATUS, STATUS" client idle

t_log_clean() {
	! grep -F "$BPW" "$BLOG" &&
		! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$BLOG"
}
t "the bridge's log holds no password and no sanitizer report" t_log_clean
finish
