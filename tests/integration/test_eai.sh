#!/bin/bash
# test_eai.sh - internationalised mail addresses end to end (SMTPUTF8,
# RFC 6530-6533; SmtpUTF8Mailbox, RFC 8398): the real mail stack
# (scripts/mailstack: Postfix 3.7 with smtputf8_enable, Dovecot; mail
# that needs SMTPUTF8 is delivered by Postfix's virtual(8) into the
# Maildirs Dovecot serves, doc/mailstack.md) and a letterlockd.
# 张三@example.test has a UTF-8 local part; 李四@xn--fsqu00a.xn--fiqs8s
# (李四@例子.中国) a UTF-8 local part in an IDN domain, which the stack
# knows in A-labels:
#
#   * enrolment: both through ACME (the RFC 8823 challenge mail goes to
#     the UTF-8 address with SMTPUTF8), each certificate with an
#     SmtpUTF8Mailbox; the directory (PKX) finds 李四's by the U-label
#     and by the A-label form of the address;
#   * `letterlock send`: 张三 to 李四@例子.中国 (U-labels) with raw
#     UTF-8 From, To and Subject (RFC 6532): the certificate found in
#     the directory, encrypted, submitted with SMTPUTF8, delivered;
#     李四 opens it: signature valid, the signer (SmtpUTF8Mailbox) is
#     the From address, the header lines come back byte for byte;
#   * a contact's certificate is found by either form of the domain;
#   * the bridge: EHLO offers SMTPUTF8; a UTF-8 address without
#     MAIL's SMTPUTF8 is refused 553 5.6.7; with it the message is
#     sealed, relayed and opened as above;
#   * a submission server without SMTPUTF8 (a Postfix smtpd with
#     smtputf8_enable=no): `letterlock send` exits 69 and says why,
#     the server never sees MAIL, the message stays in the outbox; the
#     bridge answers 554 5.6.7, keeps nothing, and from then on refuses
#     UTF-8 addresses at once and offers no SMTPUTF8; letterlockd sends
#     no challenge to a UTF-8 address through it (and says why), while
#     an ASCII address is still served.
#
# Output: TAP.  Needs root and scripts/setup's packages; skips
# otherwise.  Harness: lldtest.sh.  KEEP_TMP=1 keeps the directory.
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

IDN_A=xn--fsqu00a.xn--fiqs8s
IDN_U=例子.中国
ZHANG=张三@example.test
LISI=李四@$IDN_A # the stack's login and Maildir
LISI_U=李四@$IDN_U
WANG=王五@example.test
SUBJECT='你好，世界 — 测试'

lldtest_init eai "internationalised addresses (SMTPUTF8) end to end"
export MAILSTACK_USERS="$ZHANG $LISI $WANG" MAILSTACK_DOMAINS=$IDN_A
unset MAILSTACK_PASSWORD

free_port BPORT || fatal "no free port"
free_port BIPORT || fatal "no free port"
free_port NOUTF8_PORT || fatal "no free port"
. "$here/bridgetest.sh"
BRIDGE_WHO=zhang
BRIDGE_PORT=$BPORT

eval "lld_cleanup() $(declare -f on_cleanup | tail -n +2)"
on_cleanup() {
	bridge_kill KILL
	lld_cleanup
}

# ------------------------------------------------------------ helpers

# maildir_of ADDRESS: its Maildir in the stack (domain in A-labels)
maildir_of() { echo "$STACK/mail/${1##*@}/${1%@*}/Maildir"; }
# got_in ADDRESS NAME: the messages with Message-ID <NAME@example.test>
got_in() {
	grep -l -s "^Message-ID: <$2@example.test>" \
		"$(maildir_of "$1")"/new/* "$(maildir_of "$1")"/cur/*
}
# arrived ADDRESS NAME: exactly one copy of NAME within 15 s, copied to
# $T/NAME.in
arrived() {
	local _
	for _ in $(seq 1 150); do
		[ -n "$(got_in "$1" "$2")" ] && break
		sleep 0.1
	done
	sleep 1
	[ "$(got_in "$1" "$2" | wc -l)" = 1 ] ||
		{ echo "$1 has $(got_in "$1" "$2" | wc -l) of $2"; return 1; }
	cp "$(got_in "$1" "$2")" "$T/$2.in"
}
# not_arrived ADDRESS NAME: nothing of NAME after 3 s
not_arrived() {
	sleep 3
	[ -z "$(got_in "$1" "$2")" ] || { echo "$1 got $2"; return 1; }
}

# eai_msg NAME: $T/NAME.eml from 张三 to 李四 (U-labels), raw UTF-8
# header fields (RFC 6532)
eai_msg() {
	{
		printf 'From: 张三 <%s>\r\n' "$ZHANG"
		printf 'To: 李四 <%s>\r\n' "$LISI_U"
		printf 'Subject: %s\r\n' "$SUBJECT"
		printf 'Message-ID: <%s@example.test>\r\n' "$1"
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=utf-8\r\n'
		printf 'Content-Transfer-Encoding: 8bit\r\n'
		printf '\r\n你好，李四。这是 %s。\r\n' "$1"
	} >"$T/$1.eml"
}

# opened_by WHO FILE: `letterlock open --json` into $J and the message
# into $T/opened
opened_by() {
	J=$(ll "$1" open --json -o "$T/opened" "$2" 2>&1)
	echo "$J"
}
has() { grep -q -- "$1" <<<"$J" || { echo "no $1"; return 1; }; }
# signer_is ADDRESS: the report's signer (JSON escapes UTF-8) is ADDRESS
signer_is() {
	"$PY" -c 'import json, sys; sys.exit(json.loads(sys.argv[1])["signer"] != sys.argv[2])' \
		"$J" "$1" || { echo "signer is not $1"; return 1; }
}

# same_header FIELD NAME: the FIELD line of the original $T/NAME.eml
# and of the opened message ($T/opened) are the same bytes
same_header() {
	local a b
	a=$(grep -a "^$1: " "$T/$2.eml" | tr -d '\r')
	b=$(grep -a "^$1: " "$T/opened" | tr -d '\r')
	if [ -z "$a" ] || [ "$a" != "$b" ]; then
		echo "$1: [$a] became [$b]"
		return 1
	fi
}

# verified_from_zhang NAME: 李四 opens NAME: encrypted, signed by 张三,
# whose SmtpUTF8Mailbox is the From address; From, To and Subject back
# byte for byte
verified_from_zhang() {
	opened_by lisi "$T/$1.in" &&
		has '"encrypted": *true' && has '"decrypted": *true' &&
		has '"signature": *"valid"' && signer_is "$ZHANG" &&
		has '"signer_matches_from": *true' &&
		same_header From "$1" && same_header To "$1" &&
		same_header Subject "$1" && grep -aq "这是 $1" "$T/opened"
}

# smtp_py PORT PASSWORD [ARGS...] <SCRIPT: python SCRIPT with s, an
# smtplib session at the bridge on PORT after STARTTLS and login as
# $BRIDGE_USER, raw(BYTES) a command sent as it is (smtplib sends
# commands in ASCII but for sendmail with SMTPUTF8);
# ARGS are sys.argv[5:]
smtp_py() {
	local port=$1 pass=$2
	shift 2
	timeout 90 "$PY" -c '
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
s.starttls(context=ctx)
s.ehlo()
# AUTH PLAIN is UTF-8 (RFC 4616); smtplib login() takes only ASCII
import base64
code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(
    b"\0" + sys.argv[4].encode() + b"\0" + sys.argv[2].encode()).decode())
assert code == 235, code
def raw(line):  # LINE (bytes) as it is, and the reply
    s.sock.sendall(line + b"\r\n")
    return s.getreply()
exec(sys.stdin.read())
s.quit()
' "$port" "$pass" "$T/$BRIDGE_WHO/bridge/tls.pem" "$BRIDGE_USER" "$@"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up (张三, 李四 in an IDN domain, 王五)"

t "letterlockd init" lld_init
[ -f "$CA/letterlockd.conf" ] || fatal "letterlockd init failed"
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"
ROOT=$CA/certs/root.pem

# enrolled WHO ADDRESS LOGIN: WHO's certificate for ADDRESS through
# ACME, read from LOGIN's mailbox; into the home $T/WHO with the root
# as trust anchor; the SAN is an SmtpUTF8Mailbox
enrolled() {
	acme "$1" issue "$2" --user "$3" --key-type rsa \
		--key-out "$T/$1.key" --cert-out "$T/$1.chain" || return 1
	openssl x509 -in "$T/$1.chain" -out "$T/$1.pem" &&
		ll "$1" identity import-pem "$T/$1.key" "$T/$1.chain" &&
		ll "$1" trust add "$ROOT" || return 1
	openssl x509 -in "$T/$1.pem" -noout -ext subjectAltName \
		-nameopt utf8 | tee /dev/stderr | grep -q "SmtpUTF8Mailbox::$4"
}
t "张三: enrolled through ACME (challenge mail to a UTF-8 local part), SmtpUTF8Mailbox" \
	enrolled zhang "$ZHANG" "$ZHANG" "$ZHANG"
t "李四: enrolled as 李四@例子.中国 (U-labels), SmtpUTF8Mailbox" \
	enrolled lisi "$LISI_U" "$LISI" "李四@"
if [ ! -s "$T/zhang.pem" ] || [ ! -s "$T/lisi.pem" ]; then
	fatal "张三 and 李四 need certificates"
fi

# pkx_fpr ADDRESS: the fingerprint the directory gives for ADDRESS
pkx_fpr() {
	local q
	q=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")
	curl -sS --max-time 10 "$URL/pkx/addr/$q" |
		sed -n 's/.*"fingerprint": *"\([^"]*\)".*/\1/p' | head -n 1
}
t_pkx_forms() {
	local u a
	u=$(pkx_fpr "$LISI_U")
	a=$(pkx_fpr "$LISI")
	echo "U-label: $u, A-label: $a"
	[ -n "$u" ] && [ "$u" = "$a" ]
}
t "the directory finds 李四's certificate by 李四@例子.中国 and by 李四@$IDN_A" t_pkx_forms

# conf WHO ADDRESS SMTP_PORT: WHO's letterlock.conf for `send`
conf() {
	pw "$2" >"$T/$1.password" && chmod 600 "$T/$1.password"
	{
		printf '[mail]\nsmtp_url = smtp://127.0.0.1:%s\nuser = %s\n' \
			"$3" "$2"
		printf 'password_file = %s\nca_file = %s\n' "$T/$1.password" \
			"$MAILSTACK_CA_FILE"
		printf '[send]\npkx_url = %s/pkx/\ntsa_url = %s/tsa\n' \
			"$URL" "$URL"
		printf 'timeout = 20\npolicy = refuse\n'
		printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' "$BPORT" \
			"$BIPORT"
	} >"$T/$1/letterlock.conf"
}
conf zhang "$ZHANG" "$MAILSTACK_SUBMISSION_PORT"

# ---------------------------------------------------- letterlock send

t_send() {
	eai_msg send1
	timeout 120 "$LETTERLOCK" --home "$T/zhang" send -oi -t \
		<"$T/send1.eml" 2>"$T/send1.err"
	RC=$?
	cat "$T/send1.err"
	[ "$RC" = 0 ] && arrived "$LISI" send1 || return 1
	# Postfix took it with SMTPUTF8 (its log names the sender raw)
	grep -a "from=<$ZHANG>" "$STACK/maillog" | tail -n 1
	grep -aq "from=<$ZHANG>" "$STACK/maillog"
}
t "send: 张三 to 李四@例子.中国, raw UTF-8 header, refuse policy: found in the directory, delivered" t_send
t "李四 opens it: encrypted, signature valid, signer 张三 = From, From/To/Subject byte for byte" \
	verified_from_zhang send1

t_contact_forms() {
	# 李四's certificate as a contact of 王五, who has no directory
	# (no pkx_url): sealing to either form of the domain finds it
	ll wang identity new --email "$WANG" --key ec-p256 --self-signed \
		>/dev/null && ll wang contact add "$T/lisi.pem" || return 1
	for to in "$LISI_U" "$LISI" "李四@XN--FSQU00A.XN--FIQS8S"; do
		printf 'From: %s\r\nTo: %s\r\nSubject: x\r\n\r\nhi\r\n' \
			"$WANG" "$to" >"$T/c.eml"
		ll wang seal -o "$T/c.p7m" "$T/c.eml" ||
			{ echo "no certificate for $to"; return 1; }
		ll lisi open --json "$T/c.p7m" | grep -q '"decrypted": *true' ||
			return 1
	done
}
t "a contact's certificate is found by 李四@例子.中国, by the A-label and by upper-case A-labels" t_contact_forms

# -------------------------------------------------------------- bridge

t_bridge_setup() {
	ll zhang account add "$ZHANG" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--password-file "$T/zhang.password" \
		--ca-file "$MAILSTACK_CA_FILE" --policy refuse &&
		bridge_start
}
t "张三's bridge: account at the stack, started" t_bridge_setup
BRIDGE_USER=$ZHANG
BPW=$(ll zhang bridge --show-password)

t_bridge_refusals() {
	smtp_py "$BPORT" "$BPW" <<'EOF' | tee "$T/refusals.out"
print("ehlo:", s.ehlo_resp.decode())
print("utf8:", s.has_extn("smtputf8"))
print("mail:", raw("MAIL FROM:<张三@example.test>".encode()))
s.rset()
print("mail-ascii:", s.docmd("MAIL FROM:<a@example.test>"))
print("rcpt:", raw("RCPT TO:<李四@例子.中国>".encode()))
s.rset()
print("value:", s.docmd("MAIL FROM:<a@example.test> SMTPUTF8=yes"))
s.rset()
print("bad-utf8:", raw(b"MAIL FROM:<\xc0\xaf@example.test> SMTPUTF8"))
print("latin1:", raw(b"MAIL FROM:<caf\xe9@example.test> SMTPUTF8"))
EOF
	grep -q '^utf8: True' "$T/refusals.out" &&
		grep -q "^mail: (553, b'5.6.7 " "$T/refusals.out" &&
		grep -q "^rcpt: (553, b'5.6.7 " "$T/refusals.out" &&
		grep -q "^value: (501, " "$T/refusals.out" &&
		grep -q "^bad-utf8: (501, " "$T/refusals.out" &&
		grep -q "^latin1: (501, " "$T/refusals.out"
}
t "bridge: EHLO offers SMTPUTF8; UTF-8 in MAIL or RCPT without SMTPUTF8: 553 5.6.7; SMTPUTF8=value, bad UTF-8: 501" \
	t_bridge_refusals

t_bridge_send() {
	eai_msg bridge1
	smtp_py "$BPORT" "$BPW" "$T/bridge1.eml" "$LISI_U" <<'EOF' | tee "$T/bridge1.out"
msg = open(sys.argv[5], "rb").read()
print("sent:", s.sendmail("张三@example.test", [sys.argv[6]], msg,
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"]))
print("reply:", s.docmd("NOOP"))
EOF
	grep -q '^sent: {}' "$T/bridge1.out" && arrived "$LISI" bridge1 &&
		grep -q "sealed and accepted upstream" "$BLOG"
}
t "bridge: MAIL FROM:<张三@…> SMTPUTF8, RCPT TO:<李四@例子.中国>: sealed, relayed, delivered" t_bridge_send
t "李四 opens the bridge's message: signer 张三 = From, header byte for byte" \
	verified_from_zhang bridge1

# ------------------------------------- a server without SMTPUTF8

t_noutf8_server() {
	# another submission smtpd of the same Postfix, without SMTPUTF8
	cat >>"$STACK/postfix/master.cf" <<EOF
127.0.0.1:$NOUTF8_PORT inet n - n - - smtpd
  -o syslog_name=postfix/noutf8
  -o smtputf8_enable=no
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
EOF
	postfix -c "$STACK/postfix" reload || return 1
	for _ in $(seq 1 50); do
		[ -n "$(ss -Htln "sport = :$NOUTF8_PORT")" ] && break
		sleep 0.1
	done
	printf 'EHLO x\r\nQUIT\r\n' | timeout 10 openssl s_client -quiet \
		-starttls smtp -connect "127.0.0.1:$NOUTF8_PORT" \
		-CAfile "$MAILSTACK_CA_FILE" 2>/dev/null | tee "$T/noutf8.ehlo"
	grep -q '^250[ -]AUTH' "$T/noutf8.ehlo" && ! grep -q SMTPUTF8 "$T/noutf8.ehlo"
}
t "a Postfix submission smtpd with smtputf8_enable=no: offers AUTH, not SMTPUTF8" t_noutf8_server

# noutf8_mails: how many MAIL commands the smtputf8_enable=no smtpd took
noutf8_mails() {
	grep -a 'postfix/noutf8/smtpd.*disconnect' "$STACK/maillog" |
		grep -c ' mail='
}

t_send_noutf8() {
	local before
	conf zhang "$ZHANG" "$NOUTF8_PORT"
	before=$(noutf8_mails)
	eai_msg send2
	timeout 120 "$LETTERLOCK" --home "$T/zhang" send -oi -t \
		<"$T/send2.eml" 2>"$T/send2.err"
	RC=$?
	cat "$T/send2.err"
	grep -a 'postfix/noutf8' "$STACK/maillog" | tail -n 3
	[ "$RC" = 69 ] && grep -q 'does not offer SMTPUTF8' "$T/send2.err" &&
		[ "$(noutf8_mails)" = "$before" ] &&
		[ -n "$(ls -A "$T/zhang/outbox")" ] &&
		ll zhang outbox list | tee /dev/stderr | grep -q SMTPUTF8 &&
		not_arrived "$LISI" send2
}
t "send through a server without SMTPUTF8: exit 69, said; no MAIL sent; kept in the outbox; nothing delivered" t_send_noutf8

t_send_ascii_noutf8() {
	# an ASCII message from alice to bob is not held back by that
	# server (control: the check is about UTF-8)
	ll alice identity new --email alice@example.test --key ec-p256 \
		--self-signed >/dev/null || return 1
	pw alice@example.test >"$T/alice.password"
	printf '[mail]\nsmtp_url = smtp://127.0.0.1:%s\nuser = alice@example.test\npassword_file = %s\nca_file = %s\n[send]\ntimeout = 20\n' \
		"$NOUTF8_PORT" "$T/alice.password" "$MAILSTACK_CA_FILE" \
		>"$T/alice/letterlock.conf"
	printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: ascii\r\nMessage-ID: <ascii1@example.test>\r\n\r\nhi\r\n' |
		timeout 60 "$LETTERLOCK" --home "$T/alice" send -oi -t &&
		arrived bob@example.test ascii1
}
t "control: an ASCII message through the same server is sent" t_send_ascii_noutf8

t_bridge_noutf8() {
	bridge_kill TERM
	sed -i "s#^smtp_url = smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT\$#smtp_url = smtp://127.0.0.1:$NOUTF8_PORT#" \
		"$T/zhang/accounts.conf"
	grep -q "$NOUTF8_PORT" "$T/zhang/accounts.conf" || return 1
	conf zhang "$ZHANG" "$MAILSTACK_SUBMISSION_PORT"
	bridge_start || return 1
	eai_msg bridge2
	smtp_py "$BPORT" "$BPW" "$T/bridge2.eml" "$LISI_U" <<'EOF' | tee "$T/bridge2.out"
print("utf8-before:", s.has_extn("smtputf8"))
msg = open(sys.argv[5], "rb").read()
try:
    s.sendmail("张三@example.test", [sys.argv[6]], msg,
               mail_options=["SMTPUTF8"])
except smtplib.SMTPDataError as e:
    print("data:", e.smtp_code, e.smtp_error.decode())
s.ehlo()
print("utf8-after:", s.has_extn("smtputf8"))
s.rset()
print("again:", raw("MAIL FROM:<张三@example.test> SMTPUTF8".encode()))
EOF
	grep -q '^utf8-before: True' "$T/bridge2.out" &&
		grep -q '^data: 554 5.6.7 .*SMTPUTF8.*nothing queued' "$T/bridge2.out" &&
		grep -q '^utf8-after: False' "$T/bridge2.out" &&
		grep -q "^again: (553, b'5.6.7 " "$T/bridge2.out" &&
		[ -z "$(ls -A "$T/zhang/bridge/queue/$ZHANG/outbox" 2>/dev/null)" ] &&
		not_arrived "$LISI" bridge2
}
t "bridge, upstream without SMTPUTF8: 554 5.6.7, nothing queued; then no SMTPUTF8 offered and UTF-8 refused 553 at once" t_bridge_noutf8

# ------------------------------------ letterlockd's challenge mailer

t_mailer_noutf8() {
	lld_stop
	sed -i "s#^smtp_url = .*#smtp_url = smtp://127.0.0.1:$NOUTF8_PORT#" \
		"$CA/letterlockd.conf"
	lld_start || return 1
	# the challenge mail goes out once the client asks for it
	acme wang account >/dev/null && new_order wang "$WANG" &&
		acme wang respond "$ORD" >/dev/null || return 1
	for _ in $(seq 1 100); do
		grep -aq "cannot send challenge .*$WANG.*SMTPUTF8" "$LOG" && break
		sleep 0.1
	done
	grep -a "challenge" "$LOG" | tail -n 3
	grep -aq "cannot send challenge .*$WANG.*does not offer SMTPUTF8" "$LOG" &&
		! grep -a 'postfix/noutf8' "$STACK/maillog" |
		grep -aq "$WANG" &&
		[ -z "$(ls -A "$(maildir_of "$WANG")/new" 2>/dev/null)" ]
}
t "letterlockd, mail server without SMTPUTF8: no challenge to 王五@…, the log says why" t_mailer_noutf8

t_mailer_ascii() {
	acme carol issue carol@example.test --user carol@example.test \
		--key-out "$T/carol.key" --cert-out "$T/carol.chain"
}
t "control: through the same server an ASCII address is enrolled" t_mailer_ascii

finish
