#!/bin/bash
# test_bridge_smtp.sh - `letterlock bridge`, SMTP side, end to end on
# the real mail stack (scripts/mailstack: Postfix submission with
# STARTTLS and SASL, Dovecot IMAP).  alice runs her bridge; curl, as a
# mail client, submits through it:
#
#   * the bridge listens on 127.0.0.1 only, offers STARTTLS with its
#     own certificate (made on first start) and AUTH only after it; 64
#     sessions at once, a 65th refused;
#   * a wrong bridge password gets 535, nothing is sent;
#   * a message to bob (certificate in alice's contacts) reaches his
#     Dovecot mailbox as S/MIME ciphertext (fetched over IMAP with
#     curl), which `letterlock open` of bob decrypts and verifies; the
#     Bcc recipient gets a copy of his own;
#   * policy refuse (the account's) and carol without certificate: 550,
#     nothing delivered, nothing queued;
#   * Postfix stopped: 451 to the client, the message queued (sent
#     again by the client: not queued twice); Postfix back: delivered
#     exactly once by the bridge's retries;
#   * messages are relayed by long-lived workers that keep their
#     upstream session: three in a row log in at most once; the
#     workers killed (-9) while idle: the next message is relayed by a
#     new one; the server closing an idle session (its timeout, a
#     restart): the next message is sent over a new one, once; a
#     worker killed with a message (the server stalling): 451 to the
#     client, delivered once by the retries;
#   * kill -9 of the bridge (and its children) after the client's DATA,
#     while the server stalls: after a restart, delivered exactly once,
#     also when the client (which had no answer) sends it again;
#   * a queue left by an earlier build (an entry directory and its
#     resubmission marker, made by hand): sent once, the resubmission
#     recognised; a resubmission key keeps only the entry's header;
#   * SIGTERM stops it cleanly (exit 0); a port already taken at start:
#     exit 6, said, no crash.
#
#   * a whole session pipelined in one write (openssl s_client), one
#     message with DATA and one in BDAT chunks (RFC 3030);
#
# Output: TAP.  Needs root and scripts/setup's packages; skips
# otherwise.  Harness: lldtest.sh (only the mail stack; no letterlockd
# runs here).  KEEP_TMP=1 keeps the directory.
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test
CAROL=carol@example.test
LOST=nobody@example.test
DAVE=dave@example.test

lldtest_init bridge_smtp "letterlock bridge, SMTP side"
export MAILSTACK_USERS=$DAVE
unset MAILSTACK_PASSWORD

free_port BPORT || fatal "no free port"
# its IMAP side too: the default port may be another test's
free_port BIPORT || fatal "no free port"

. "$here/bridgetest.sh"
BRIDGE_WHO=alice
BRIDGE_PORT=$BPORT

eval "lld_cleanup() $(declare -f on_cleanup | tail -n +2)"
on_cleanup() {
	bridge_kill KILL
	fake_stop
	lld_cleanup
}

# msg NAME FIELDS...: $T/NAME.eml from alice, Message-ID <NAME@example.test>
msg() {
	local name=$1 f
	shift
	{
		printf 'From: Alice <%s>\r\n' "$ALICE"
		for f in "$@"; do printf '%s\r\n' "$f"; done
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' \
			"$name" "$name"
		printf '\r\nHello from the %s case, through the bridge.\r\n' "$name"
		printf '.leading dot\r\n..two dots\r\n'
	} >"$T/$name.eml"
}

# submit NAME PASSWORD RCPT...: curl submits $T/NAME.eml through the
# bridge (STARTTLS required, the bridge's certificate pinned); exit
# status in $RC, the dialogue in $T/NAME.curl
submit() {
	local name=$1 pass=$2 r args=()
	shift 2
	for r in "$@"; do args+=(--mail-rcpt "$r"); done
	timeout 60 curl -sS -v --url "smtp://127.0.0.1:$BPORT" --ssl-reqd \
		--cacert "$T/alice/bridge/tls.pem" --mail-from "$ALICE" \
		"${args[@]}" --upload-file "$T/$name.eml" \
		--user "$ALICE:$pass" >"$T/$name.curl" 2>&1
	RC=$?
	echo "curl: exit $RC"
	grep -E '^[<>] ' "$T/$name.curl" | grep -Ev '^> (AUTH|[A-Za-z0-9+/=]+\s*$)' |
		tail -n 8
}

# delivered USER NAME [SECONDS]: exactly one copy of NAME reaches USER
# (waiting up to SECONDS, default 15), and no second one 2 s later
delivered() {
	local _
	for _ in $(seq 1 $((${3:-15} * 10))); do
		[ "$(ngot "$1" "$2")" -ge 1 ] && break
		sleep 0.1
	done
	sleep 2
	[ "$(ngot "$1" "$2")" = 1 ] ||
		{ echo "$1 has $(ngot "$1" "$2") of $2, expected 1"; return 1; }
}
none() {
	sleep 3
	[ "$(ngot "$1" "$2")" = 0 ] || { echo "$1 got $2"; return 1; }
}
# sent_again NAME [ID]: the client submits NAME once more after it was
# delivered: 250 "sent already" (naming entry ID), and bob still has it
# once
sent_again() {
	submit "$1" "$BPW" "$BOB"
	[ "$RC" = 0 ] &&
		grep -q "^< 250 2.0.0 this message was sent already (${2:-}" \
			"$T/$1.curl" && delivered "$BOB" "$1" 1
}
queue() { ls "$T/alice/bridge/queue/$ALICE/outbox" 2>/dev/null; }
queue_empty() { [ -z "$(queue)" ] || { echo "queued: $(queue)"; return 1; }; }

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"

t_homes() {
	ll alice identity new --email "$ALICE" --key ec-p256 --self-signed \
		>/dev/null &&
		ll bob identity new --email "$BOB" --key ec-p256 --self-signed \
			>/dev/null &&
		ll dave identity new --email "$DAVE" --key ec-p256 --self-signed \
			>/dev/null &&
		ll alice identity export-cert "$ALICE" >"$T/alice.pem" &&
		ll bob identity export-cert "$BOB" >"$T/bob.pem" &&
		ll dave identity export-cert "$DAVE" >"$T/dave.pem" &&
		ll alice contact add "$T/bob.pem" "$T/dave.pem" &&
		ll bob trust add "$T/alice.pem" &&
		ll dave trust add "$T/alice.pem" || return 1
	pw "$ALICE" >"$T/alice.password"
	ll alice account add "$ALICE" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--password-file "$T/alice.password" \
		--ca-file "$MAILSTACK_CA_FILE" --policy refuse || return 1
	printf '[bridge]\nsmtp_port = %s\nimap_port = %s\nretry = 1\n[send]\ntimeout = 10\n' \
		"$BPORT" "$BIPORT" >"$T/alice/letterlock.conf"
}
t "alice, bob, dave: identities; bob's and dave's certificates in alice's contacts; alice's account (policy refuse)" t_homes

t_account() {
	ll alice account list | tee /dev/stderr |
		grep -q "$ALICE .*smtp://127.0.0.1:[0-9]* (STARTTLS) .*password stored" || return 1
	# the upstream password is not in any file of the configuration
	! grep -rqF "$(cat "$T/alice.password")" "$T/alice/accounts.conf" \
		"$T/alice/letterlock.conf" && grep -q '^ca_file = ' "$T/alice/accounts.conf"
}
t "account list shows it; its password is in the keystore, not in the configuration" t_account

t "the bridge starts (certificate and password made on first start)" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll alice bridge --show-password)

t_listen() {
	ss -Htln "sport = :$BPORT" | tee /dev/stderr | awk '{ print $4 }' |
		grep -qx "127.0.0.1:$BPORT" || return 1
	[ "$(ss -Htln "sport = :$BPORT" | wc -l)" = 1 ] &&
		[ ${#BPW} = 24 ] && [ -s "$T/alice/bridge/tls.pem" ] &&
		[ "$(stat -c %a "$T/alice/bridge/password")" = 600 ]
}
t "listens on 127.0.0.1 only; a 24-character bridge password (mode 600)" t_listen

t_port_taken() {
	local sp rc
	free_port sp || return 1
	# a second bridge whose SMTP port is free and whose IMAP port is
	# the first one's: it says so and exits 6, the first one unharmed
	printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' "$sp" "$BIPORT" \
		>"$T/taken.conf"
	timeout 20 "$LETTERLOCK" --home "$T/alice" bridge --config "$T/taken.conf" \
		>"$T/taken.out" 2>&1
	rc=$?
	cat "$T/taken.out"
	[ "$rc" = 6 ] && grep -q "imap: cannot listen on 127.0.0.1:$BIPORT" \
		"$T/taken.out" && [ -z "$(ss -Htln "sport = :$sp")" ] &&
		kill -0 "$BRIDGE_PID"
}
t "a port in use: a second bridge says so and exits 6 (no crash); the first runs on" t_port_taken

t_no_auth_in_clear() {
	# no AUTH before STARTTLS
	printf 'EHLO x\r\nAUTH PLAIN AGFsaWNlAHg=\r\nMAIL FROM:<%s>\r\nQUIT\r\n' \
		"$ALICE" | timeout 10 curl -sS telnet://127.0.0.1:"$BPORT" \
		>"$T/clear.out" 2>&1
	cat "$T/clear.out"
	grep -q '250-STARTTLS' "$T/clear.out" &&
		! grep -q 'AUTH PLAIN' "$T/clear.out" &&
		grep -q '^538 ' "$T/clear.out" && grep -q '^530 ' "$T/clear.out"
}
t "without TLS: STARTTLS offered, AUTH refused (538), MAIL needs a login (530)" t_no_auth_in_clear

t "64 sessions at once; a 65th gets 421 too many sessions; a place freed is taken again" \
	session_bound "$BPORT" "220 127.0.0.1 letterlock" "421 4.3.2 too many sessions"

t_starttls_injection() {
	# a command pipelined after STARTTLS in clear must not be run inside
	# TLS (RFC 3207 4.2; CVE-2011-0411 and its kin)
	"$PY" - "$BPORT" "$T/alice/bridge/tls.pem" <<'EOF'
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
f.readline()
s.sendall(b"EHLO x\r\n")
while not f.readline().startswith(b"250 "):
    pass
s.sendall(b"STARTTLS\r\nNOOP injected\r\n")
assert f.readline().startswith(b"220 ")
t = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(
    s, server_hostname="127.0.0.1")
t.sendall(b"EHLO y\r\n")
got = t.recv(4096)
print(got.decode())
sys.exit(0 if got.startswith(b"250-") else 1)
EOF
}
t "a command pipelined after STARTTLS is dropped, not run inside TLS" t_starttls_injection

t_wrong_password() {
	msg wrongpw "To: $BOB"
	submit wrongpw not-the-password "$BOB"
	[ "$RC" = 67 ] && grep -q '^< 535 ' "$T/wrongpw.curl" &&
		none "$BOB" wrongpw && queue_empty
}
t "a wrong bridge password: 535, nothing sent" t_wrong_password

# ------------------------------------------------------------ sending

t_send() {
	msg enc "To: Bob <$BOB>"
	submit enc "$BPW" "$BOB"
	[ "$RC" = 0 ] && grep -q '^< 250 2.0.0 sealed' "$T/enc.curl" &&
		delivered "$BOB" enc && queue_empty
}
t "alice submits through the bridge with curl: 250 after the server took it; bob has it once" t_send

t_imap_ciphertext() {
	local uid
	curl -sS --ssl-reqd --cacert "$MAILSTACK_CA_FILE" \
		--user "$BOB:$(pw "$BOB")" \
		--url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		-X "UID SEARCH HEADER Message-ID <enc@example.test>" \
		>"$T/search.out" || return 1
	cat "$T/search.out"
	uid=$(awk '/SEARCH/ { print $NF }' "$T/search.out" | tr -d '\r')
	[ -n "$uid" ] || return 1
	curl -sS --ssl-reqd --cacert "$MAILSTACK_CA_FILE" \
		--user "$BOB:$(pw "$BOB")" \
		--url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX;UID=$uid" \
		>"$T/enc.bob" || return 1
	grep -i '^Content-Type: application/pkcs7-mime' "$T/enc.bob" &&
		! grep -q 'Hello from the enc case' "$T/enc.bob"
}
t "fetched over IMAP from bob's Dovecot: S/MIME ciphertext, not the text" t_imap_ciphertext

t_bob_opens() {
	ll bob open --json -o "$T/enc.plain" "$T/enc.bob" >"$T/enc.json" 2>&1
	cat "$T/enc.json"
	grep -q '"decrypted": *true' "$T/enc.json" &&
		grep -q '"signature": *"valid"' "$T/enc.json" &&
		grep -q "\"signer\": *\"$ALICE\"" "$T/enc.json" &&
		grep -q 'Hello from the enc case, through the bridge' "$T/enc.plain" &&
		grep -q '^\.leading dot' "$T/enc.plain" &&
		grep -q '^\.\.two dots' "$T/enc.plain"
}
t "bob's letterlock open decrypts it and verifies alice's signature; dots unstuffed once" t_bob_opens

t_pipelined() {
	local auth
	auth=$(printf '\0%s\0%s' "$ALICE" "$BPW" | base64 -w0)
	msg pipe "To: $BOB"
	msg chunk "To: $BOB"
	# the whole session in one write after STARTTLS (RFC 2920)
	{
		printf 'EHLO client\r\nAUTH PLAIN %s\r\n' "$auth"
		printf 'MAIL FROM:<%s> BODY=8BITMIME\r\nRCPT TO:<%s>\r\nDATA\r\n' \
			"$ALICE" "$BOB"
		sed 's/^\./../' "$T/pipe.eml"
		printf '.\r\n'
		# and one in two BDAT chunks (RFC 3030): no dot rule
		printf 'MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nBDAT 20\r\n' \
			"$ALICE" "$BOB"
		head -c 20 "$T/chunk.eml"
		printf 'BDAT %s LAST\r\n' $(($(wc -c <"$T/chunk.eml") - 20))
		tail -c +21 "$T/chunk.eml"
		printf 'NOOP\r\nQUIT\r\n'
	} | timeout 60 openssl s_client -quiet -ign_eof -starttls smtp \
		-connect "127.0.0.1:$BPORT" -CAfile "$T/alice/bridge/tls.pem" \
		-verify_return_error >"$T/pipe.out" 2>"$T/pipe.err"
	cat "$T/pipe.out"
	grep -q '^250-CHUNKING' "$T/pipe.out" && grep -q '^235 ' "$T/pipe.out" &&
		grep -q '^354 ' "$T/pipe.out" &&
		[ "$(grep -c '^250 2.0.0 sealed' "$T/pipe.out")" = 2 ] &&
		grep -q '^250 2.0.0 20 octets' "$T/pipe.out" &&
		grep -q '^221 ' "$T/pipe.out" && delivered "$BOB" pipe &&
		delivered "$BOB" chunk || return 1
	ll bob open -o "$T/chunk.plain" "$(got "$BOB" chunk)" &&
		grep -q '^\.leading dot' "$T/chunk.plain"
}
t "a pipelined session (openssl s_client, everything in one write), DATA then BDAT chunks: answered in order, each delivered once" t_pipelined

t_bcc() {
	msg bcc "To: Bob <$BOB>"
	# dave only in the envelope: a Bcc recipient
	submit bcc "$BPW" "$BOB" "$DAVE"
	[ "$RC" = 0 ] && delivered "$BOB" bcc && delivered "$DAVE" bcc &&
		queue_empty || return 1
	cp "$(got "$BOB" bcc)" "$T/bcc.bob" && cp "$(got "$DAVE" bcc)" "$T/bcc.dave"
	# his address in clear, or his certificate among the recipients
	if grep -qiF "$DAVE" "$T/bcc.bob" ||
		sealed_to "$T/bcc.bob" | grep -qx "$(cert_serial "$T/dave.pem")"; then
		echo "bob's copy names dave"
		return 1
	fi
	ll bob open -o "$T/bcc.bob.plain" "$T/bcc.bob" &&
		! grep -qi dave "$T/bcc.bob.plain" &&
		! ll dave open -o /dev/null "$T/bcc.bob" 2>/dev/null &&
		ll dave open -o "$T/bcc.dave.plain" "$T/bcc.dave" &&
		grep -q 'Hello from the bcc case' "$T/bcc.dave.plain"
}
t "a recipient only in the envelope (Bcc) gets a copy of his own; bob's does not name him nor open for him" t_bcc

t_refuse() {
	msg refuse "To: $BOB" "Cc: $CAROL"
	submit refuse "$BPW" "$BOB" "$CAROL"
	[ "$RC" != 0 ] && grep -q "^< 550 5.7.1 .*$CAROL" "$T/refuse.curl" &&
		grep -q 'policy refuse' "$T/refuse.curl" &&
		none "$BOB" refuse && none "$CAROL" refuse && queue_empty
}
t "policy refuse, carol has no certificate: 550 naming her, nothing sent, nothing queued" t_refuse

t_domain_policy() {
	bridge_kill TERM
	ll alice account remove "$ALICE" >/dev/null &&
		ll alice account add "$ALICE" \
			--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
			--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
			--password-file "$T/alice.password" \
			--ca-file "$MAILSTACK_CA_FILE" --policy refuse \
			--domain-policy "example.test:sign-only" >/dev/null &&
		bridge_start || return 1
	msg signonly "To: $CAROL"
	submit signonly "$BPW" "$CAROL"
	[ "$RC" = 0 ] && delivered "$CAROL" signonly || return 1
	grep -q '^Content-Type: multipart/signed' "$(got "$CAROL" signonly)"
}
t "--domain-policy example.test:sign-only over the account's refuse: carol gets it signed only" t_domain_policy

# ------------------------------------------------ upstream failures

postfix_stop() { postfix -c "$STACK/postfix" stop >/dev/null 2>&1; sleep 1; }
postfix_start() {
	local _
	postfix -c "$STACK/postfix" start >/dev/null 2>&1 || return 1
	for _ in $(seq 1 50); do
		[ -n "$(ss -Htln "sport = :$MAILSTACK_SUBMISSION_PORT")" ] && return 0
		sleep 0.1
	done
	return 1
}

t_down() {
	postfix_stop
	msg down "To: $BOB"
	submit down "$BPW" "$BOB"
	[ "$RC" != 0 ] && grep -q '^< 451 4.4.1 .*queued' "$T/down.curl" &&
		[ "$(queue | wc -l)" = 1 ]
}
t "Postfix stopped: 451 to the client, the message queued" t_down

t_down_again() {
	# the client sends the same message again: not queued twice
	submit down "$BPW" "$BOB"
	[ "$RC" != 0 ] && grep -q '^< 451 4.4.1 this message is queued already' \
		"$T/down.curl" && [ "$(queue | wc -l)" = 1 ]
}
t "the client sends it again while it waits: 451 'queued already', still one in the queue" t_down_again

t_down_recovered() {
	sleep 2 # a retry or two fail meanwhile
	postfix_start || return 1
	delivered "$BOB" down 40 && queue_empty || return 1
	# and once more after that: 250, nothing sent
	sent_again down
}
t "Postfix back: the bridge delivers it, exactly once; sent again by the client then: 250, not delivered twice" t_down_recovered

t_bounce() {
	local _ f=""
	postfix_stop
	msg lost "To: $LOST"
	submit lost "$BPW" "$LOST"
	[ "$RC" != 0 ] && grep -q '^< 451 4.4.1 .*queued' "$T/lost.curl" ||
		return 1
	# back, the server refuses the recipient for good (550 5.1.1): a
	# report sealed to alice lands in her INBOX, the entry is gone
	postfix_start || return 1
	for _ in $(seq 1 400); do
		f=$(grep -l -s 'letterlock.invalid' "$(maildir "$ALICE")"/new/* \
			"$(maildir "$ALICE")"/cur/*) && queue_empty >/dev/null &&
			break
		sleep 0.1
	done
	grep 'refused for good' "$BLOG"
	[ -n "$f" ] && queue_empty || return 1
	# on the server: ciphertext only
	grep -qi '^Content-Type: application/pkcs7-mime' "$f" &&
		! grep -q 'Hello from the lost case' "$f" || return 1
	ll alice open -o "$T/lost.report" "$f" || return 1
	sed -n 1,40p "$T/lost.report"
	grep -q '^Subject: Undelivered: lost' "$T/lost.report" &&
		grep -q 'multipart/report; report-type=delivery-status' \
			"$T/lost.report" &&
		grep -q "^Final-Recipient: rfc822; $LOST" "$T/lost.report" &&
		grep -q '^Status: 5\.1\.1' "$T/lost.report" &&
		grep -q '^Action: failed' "$T/lost.report" &&
		grep -q 'Hello from the lost case' "$T/lost.report" || return 1
	# and it is not tried again
	sleep 3
	[ "$(grep -c 'copy 1 refused for good' "$BLOG")" = 1 ] || return 1
	# sent again by the client: a new try, not "sent already"
	submit lost "$BPW" "$LOST"
	[ "$RC" != 0 ] && grep -q '^< 5[0-9][0-9] .*User unknown' "$T/lost.curl" &&
		! grep -q 'sent already' "$T/lost.curl" && queue_empty
}
t "queued (451), then refused for good (550 5.1.1 unknown user): a delivery report sealed to alice in her INBOX with the message, not tried again" t_bounce

# ------------------------------------------------ the relay workers

# logins: the submission sessions Postfix has had
logins() {
	sleep 1 # postlogd writes the log behind
	grep -c 'submission/smtpd.*: connect from' "$STACK/maillog"
}
# workers: the bridge's children (its relay workers)
workers() { pgrep -P "$BRIDGE_PID" | paste -sd' ' -; }

t_pool_reuse() {
	local n0 n1 m
	n0=$(logins)
	for m in reuse1 reuse2 reuse3; do
		msg "$m" "To: $BOB"
		submit "$m" "$BPW" "$BOB"
		[ "$RC" = 0 ] || return 1
	done
	n1=$(logins)
	echo "new submission sessions: $((n1 - n0)); workers: $(workers)"
	delivered "$BOB" reuse1 && delivered "$BOB" reuse2 &&
		delivered "$BOB" reuse3 && queue_empty &&
		[ $((n1 - n0)) -le 1 ] && [ -n "$(workers)" ]
}
t "three messages one after another: one relay worker, its upstream session kept (at most one new login), each delivered once" t_pool_reuse

t_pool_crash() {
	local w
	w=$(workers)
	[ -n "$w" ] || { echo "no worker"; return 1; }
	# shellcheck disable=SC2086
	kill -KILL $w
	sleep 0.5
	msg aftercrash "To: $BOB"
	submit aftercrash "$BPW" "$BOB"
	echo "workers before: $w; after: $(workers)"
	[ "$RC" = 0 ] && grep -q '^< 250 2.0.0 sealed' "$T/aftercrash.curl" &&
		delivered "$BOB" aftercrash && queue_empty &&
		kill -0 "$BRIDGE_PID" && [ "$(workers)" != "$w" ]
}
t "the relay workers killed (-9) while idle: the bridge runs on, a new worker relays the next message" t_pool_crash

t_pool_server_closed() {
	# Postfix ends a session idle 2 s ("421 timeout"), as servers do
	postconf -c "$STACK/postfix" -e smtpd_timeout=2s && postfix_stop &&
		postfix_start || return 1
	msg idle1 "To: $BOB"
	submit idle1 "$BPW" "$BOB"
	[ "$RC" = 0 ] && delivered "$BOB" idle1 || return 1
	sleep 3
	grep -q 'submission/smtpd.*: timeout after' "$STACK/maillog" ||
		{ echo "Postfix did not close the idle session"; return 1; }
	msg idle2 "To: $BOB"
	submit idle2 "$BPW" "$BOB"
	postconf -c "$STACK/postfix" -e smtpd_timeout=300s && postfix_stop &&
		postfix_start || return 1
	[ "$RC" = 0 ] && grep -q '^< 250 2.0.0 sealed' "$T/idle2.curl" &&
		delivered "$BOB" idle2 && queue_empty
}
t "the server closed a worker's idle session (its timeout), and was stopped and started: the next messages go at once, once each" t_pool_server_closed

# submit_stalled NAME: Postfix stopped, a server on its port that takes
# connections and never answers (FAKE_PID); NAME submitted in the
# background (SUBMIT_PID) until it is queued and its worker waits for
# the server's greeting
submit_stalled() {
	local _
	postfix_stop
	timeout 120 "$PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
' "$MAILSTACK_SUBMISSION_PORT" &
	FAKE_PID=$!
	sleep 0.5
	msg "$1" "To: $BOB"
	submit "$1" "$BPW" "$BOB" &
	SUBMIT_PID=$!
	for _ in $(seq 1 100); do
		[ -n "$(queue)" ] && break
		sleep 0.1
	done
	[ -n "$(queue)" ] || { echo "nothing queued"; return 1; }
	sleep 0.5
}

t_worker_killed() {
	local w
	submit_stalled wkill || return 1
	w=$(workers)
	# shellcheck disable=SC2086
	kill -KILL $w
	wait "$SUBMIT_PID"
	fake_stop
	postfix_start || return 1
	grep -q '^< 451 4.3.0 .*(exit 137)' "$T/wkill.curl" &&
		kill -0 "$BRIDGE_PID" && delivered "$BOB" wkill 30 && queue_empty
}
t "a relay worker killed (-9) with a message, the server stalling: the client gets 451, the bridge runs on and its retry delivers the message once" t_worker_killed

t_kill9() {
	submit_stalled kill || return 1
	bridge_kill KILL
	wait "$SUBMIT_PID"
	grep -q '^< 250 2.0.0' "$T/kill.curl" && { echo "the client got 250"; return 1; }
	fake_stop
	postfix_start || return 1
	bridge_start || return 1
	delivered "$BOB" kill 30 && queue_empty || return 1
	# the client, which had no answer, sends it again: not twice
	sent_again kill
}
t "kill -9 of the bridge after the client's DATA, the server stalling: delivered exactly once after a restart, also when the client sends it again" t_kill9

t_old_queue() {
	local id=20260101T101010Z-0a0b0c0d0e q=$T/alice/bridge/queue/$ALICE key
	# left by an earlier build, the bridge stopped: an entry of the
	# earlier format (a directory of files) and its resubmission
	# marker (a file holding the ID), made here by hand
	bridge_kill TERM
	msg oldq "To: $BOB"
	mkdir "$q/outbox/$id" &&
		cp "$T/oldq.eml" "$q/outbox/$id/1.eml" &&
		printf '%s\n' "$BOB" >"$q/outbox/$id/1.rcpt" &&
		printf 'queued 1767262210\nfrom %s\ncopies 1\n' "$ALICE" \
			>"$q/outbox/$id/meta" || return 1
	# the key: SHA-256 of the Message-ID, the sender and the
	# recipients, each ended by a NUL (smtp_relay_key)
	key=$(printf '%s\0%s\0%s\0' "<oldq@example.test>" "$ALICE" "$BOB" |
		sha256sum | cut -d' ' -f1)
	printf '%s' "$id" >"$q/ids/$key"
	bridge_start || return 1
	# the client sends it again before the bridge's retry: not queued
	# twice (unless the retry was quicker: then "sent already")
	submit oldq "$BPW" "$BOB"
	grep -Eq "^< (451 4.4.1 this message is queued already|250 2.0.0 this message was sent already) \($id\)" \
		"$T/oldq.curl" || return 1
	delivered "$BOB" oldq 30 && queue_empty && sent_again oldq "$id"
}
t "a queue of the earlier format (an entry directory and its marker, made by hand): sent once by the retries, its resubmission recognised" t_old_queue

t_key_kept() {
	local f
	# the resubmission keys are links to the entries' files, cut to
	# their header once sent: no sealed copy stays in ids/
	f=$(grep -l -s '^id ' "$T/alice/bridge/queue/$ALICE/ids"/* | head -n 1)
	[ -n "$f" ] && head -n 1 "$f" | grep -q '^letterlock-outbox 2 ' &&
		[ "$(stat -c %s "$f")" = "$(head -n 1 "$f" | awk '{ print $3 + 0 }')" ] &&
		! grep -q 'Hello from' "$T/alice/bridge/queue/$ALICE/ids"/*
}
t "a resubmission key keeps the entry's header only once it is sent" t_key_kept

t_sigterm() {
	bridge_kill TERM
	echo "exit $BRIDGE_RC"
	[ "$BRIDGE_RC" = 0 ] && grep -q 'stopped' "$BLOG" &&
		[ -z "$(ss -Htln "sport = :$BPORT")" ]
}
t "SIGTERM: the bridge stops cleanly (exit 0), the port is closed" t_sigterm

t_renew_runs() {
	# the bridge ran letterlock renew at start (every 12 h after):
	# nothing due, nothing said, exit 0
	grep -q 'renew: checking what is due (every 43200 s)' "$BLOG" &&
		! grep -q 'renew exited' "$BLOG"
}
t "the bridge runs letterlock renew at start and every 12 hours (nothing due: quiet)" t_renew_runs

t_help() {
	"$LETTERLOCK" --help | grep -q '^  bridge ' &&
		"$LETTERLOCK" --help | grep -q '^  account add' &&
		"$LETTERLOCK" bridge --help | grep -q 'show-password' &&
		"$LETTERLOCK" account --help | grep -q 'password-file'
}
t "letterlock --help names bridge and account; both have --help" t_help

t_log_clean() {
	! grep -F "$BPW" "$BLOG" && ! grep -F "$(cat "$T/alice.password")" "$BLOG" &&
		! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$BLOG"
}
t "the bridge's log holds no password and no sanitizer report" t_log_clean
finish
