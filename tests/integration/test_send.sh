#!/bin/bash
# test_send.sh - `letterlock send` and `letterlock outbox` end to end:
# the real mail stack (scripts/mailstack: Postfix submission with
# STARTTLS and implicit TLS, Dovecot Maildirs) and a letterlockd for the
# PKX directory and the TSA.  alice's certificate comes from
# `letterlockd issue`; bob's and dave's through ACME, so the directory
# has them; carol has none.
#
#   * sign-only (the default): alice to bob and carol, mutt-style
#     (-oi -t): both get one signed message that `letterlock open` and
#     `openssl cms -verify` verify, with a trusted timestamp; submitted
#     over STARTTLS (Postfix's Received header says so);
#   * --policy refuse: exit 67, carol named, nothing delivered, nothing
#     queued;
#   * every recipient with a certificate (bob's found in the directory):
#     encrypted, time-stamped; openssl cms decrypts and verifies bob's
#     copy; a Bcc recipient (dave) gets a copy of his own that bob's
#     does not reveal (not in it, not decryptable with dave's key);
#   * explicit recipients (git send-email style): only they get it; an
#     argument not in To/Cc is a hidden recipient with its own copy;
#   * the submission server unreachable: exit 75, the message in the
#     outbox; `letterlock outbox flush` sends it exactly once;
#   * kill -9 of send while the server stalls: the message is in the
#     outbox, and a flush delivers it once; killed between the entry's
#     write and its rename: nothing sent, the unnamed file removed once
#     a minute old;
#   * an entry of the earlier outbox format (a directory of files, made
#     by hand): listed, what is not marked sent flushed once, removed;
#   * a recipient refused (550): exit 69, the copy already taken is
#     marked sent and never sent again by a flush; drop;
#   * STARTTLS required: a server that does not offer it gets no login
#     and no mail; a wrong CA file fails closed; smtps:// works; a wrong
#     password is refused for good;
#   * usage, configuration and data errors: sysexits codes.
#
# Output: TAP (see test_acme.sh).  Needs root and the packages of
# scripts/setup; skips otherwise.  The harness is lldtest.sh.
#   LETTERLOCKD, LETTERLOCK   the binaries (default: tests/run's, else
#                             build/); KEEP_TMP=1 keeps the directory
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
DAVE=dave@example.test

lldtest_init send "letterlock send end to end"
export MAILSTACK_USERS=$DAVE
unset MAILSTACK_PASSWORD


# ------------------------------------------------------------ helpers

ll() { # ll WHO ARGS...: letterlock with WHO's home
	local who=$1
	shift
	"$LETTERLOCK" --home "$T/$who" "$@"
}

# msg NAME FIELDS...: $T/NAME.eml from alice with these header lines
# and Message-ID <NAME@example.test>
msg() {
	local name=$1 f
	shift
	{
		printf 'From: Alice <%s>\r\n' "$ALICE"
		for f in "$@"; do printf '%s\r\n' "$f"; done
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' \
			"$name" "$name"
		printf '\r\nHello from the %s case.\r\n' "$name"
	} >"$T/$name.eml"
}

# snd NAME ARGS...: alice sends $T/NAME.eml with `send ARGS`; exit
# status in $RC, standard error in $T/NAME.err (also shown)
snd() {
	local name=$1
	shift
	timeout 120 "$LETTERLOCK" --home "$T/alice" send "$@" \
		<"$T/$name.eml" 2>"$T/$name.err"
	RC=$?
	echo "send $*: exit $RC"
	cat "$T/$name.err"
}


# delivered USER NAME [N]: N (default 1) copies of NAME reach USER
# within 15 s; the newest is copied to $T/NAME.USER
delivered() {
	local want=${3:-1} _
	for _ in $(seq 1 150); do
		[ "$(ngot "$1" "$2")" -ge "$want" ] && break
		sleep 0.1
	done
	[ "$(ngot "$1" "$2")" = "$want" ] ||
		{ echo "$1 has $(ngot "$1" "$2") of $2, expected $want"; return 1; }
	cp "$(got "$1" "$2" | tail -n 1)" "$T/$2.${1%@*}"
}

# none USER NAME: nothing of NAME reached USER (after 3 s)
none() {
	sleep 3
	[ "$(ngot "$1" "$2")" = 0 ] ||
		{ echo "$1 got $2"; return 1; }
}

# opened WHO FILE: `letterlock open --json` of FILE by WHO into $J
opened() {
	J=$(ll "$1" open --json "$2" 2>&1)
	echo "$J"
}
has() { grep -q -- "$1" <<<"$J" || { echo "no $1"; return 1; }; }

queue_empty() {
	local out
	out=$(ll alice outbox list) || return 1
	[ -z "$out" ] || { echo "outbox: $out"; return 1; }
	[ -z "$(ls -A "$T/alice/outbox" 2>/dev/null)" ] ||
		{ ls -la "$T/alice/outbox"; return 1; }
}
# the ID of the only queued message
queued_id() { ls "$T/alice/outbox"; }

# conf FILE SMTP_URL [CA_FILE] [PASSWORD_FILE]: alice's settings
conf() {
	{
		printf '[mail]\nsmtp_url = %s\nuser = %s\n' "$2" "$ALICE"
		printf 'password_file = %s\n' "${4:-$T/alice.password}"
		[ -z "${3:-}" ] || printf 'ca_file = %s\n' "$3"
		printf '[send]\npkx_url = %s/pkx/\ntsa_url = %s/tsa\n' \
			"$URL" "$URL"
		printf 'timeout = 20\n'
	} >"$1"
}

# fake MODE: a fake SMTP server on $FAKE_PORT (log $T/fake.log):
# "stall" accepts and never answers, "plain" offers no STARTTLS, "busy"
# offers it and answers 454 (TLS not available now)
fake() {
	local _
	: >"$T/fake.log"
	timeout 300 "$PY" - "$1" "$FAKE_PORT" "$T/fake.log" <<'EOF' &
import socket, sys
mode, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    if mode == 'stall':
        held.append(c)
        continue
    f = c.makefile('rb')
    c.sendall(b'220 fake ESMTP\r\n')
    for line in f:
        with open(log, 'ab') as o:
            o.write(line)
        cmd = line.strip().upper()
        if cmd.startswith(b'EHLO') and mode == 'busy':
            c.sendall(b'250-fake\r\n250 STARTTLS\r\n')
        elif cmd.startswith(b'STARTTLS'):
            c.sendall(b'454 4.3.0 Try again later\r\n')
        elif cmd.startswith(b'EHLO'):
            c.sendall(b'250-fake\r\n250 AUTH PLAIN LOGIN\r\n')
        elif cmd.startswith(b'QUIT'):
            c.sendall(b'221 bye\r\n')
            break
        else:
            c.sendall(b'502 not here\r\n')
    c.close()
EOF
	FAKE_PID=$!
	for _ in $(seq 1 50); do
		[ -n "$(ss -Htln "sport = :$FAKE_PORT")" ] && return 0
		sleep 0.1
	done
	echo "the fake server did not start"
	return 1
}
# on exit also the fake server, before lldtest.sh's clean-up
eval "lld_cleanup() $(declare -f on_cleanup | tail -n +2)"
on_cleanup() {
	fake_stop
	lld_cleanup
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up (with $DAVE)"

t_stack_tls() {
	# Received: says which TLS the submission used
	postconf -c "$STACK/postfix" -e smtpd_tls_received_header=yes &&
		postfix -c "$STACK/postfix" reload
}
t "Postfix notes TLS in Received:" t_stack_tls

t "letterlockd init" lld_init
[ -f "$CA/letterlockd.conf" ] || fatal "letterlockd init failed"
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"
ROOT=$CA/certs/root.pem

t_alice() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/alice.key" -subj "/CN=$ALICE" \
		-addext "subjectAltName=email:$ALICE" -out "$T/alice.csr" \
		2>/dev/null &&
		"$LETTERLOCKD" issue --dir "$CA" --email "$ALICE" \
			--csr "$T/alice.csr" -o "$T/alice.pem" &&
		ll alice identity import-pem "$T/alice.key" "$T/alice.pem" &&
		ll alice trust add "$ROOT" || return 1
	pw "$ALICE" >"$T/alice.password" && chmod 600 "$T/alice.password"
	conf "$T/alice/letterlock.conf" \
		"smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" "$MAILSTACK_CA_FILE"
}
t "alice: certified offline by the CA (letterlockd issue), her letterlock.conf" t_alice

# enrolled WHO: WHO's certificate through ACME (so in the directory),
# imported into the home $T/WHO with the root as trust anchor
enrolled() {
	local who=${1%@*}
	acme main issue "$1" --user "$1" --key-type rsa \
		--key-out "$T/$who.key" --cert-out "$T/$who.chain" || return 1
	openssl x509 -in "$T/$who.chain" -out "$T/$who.pem" &&
		ll "$who" identity import-pem "$T/$who.key" "$T/$who.chain" &&
		ll "$who" trust add "$ROOT" || return 1
	curl -sS --max-time 10 "$URL/pkx/addr/$1" | tee /dev/stderr |
		grep -q '"fingerprint"'
}
t "bob: certificate through ACME, in the directory" enrolled "$BOB"
t "dave: certificate through ACME, in the directory" enrolled "$DAVE"
if [ ! -s "$T/bob.pem" ] || [ ! -s "$T/dave.pem" ]; then
	fatal "bob and dave need certificates"
fi

t_no_contacts() {
	! ll alice contact list 2>/dev/null | grep -qE "$BOB|$DAVE"
}
t "alice has no contact for bob or dave: only the directory can give them" t_no_contacts

# ------------------------------------------------------- sign-only

t_sign_only() {
	msg signonly "To: Bob <$BOB>" "Cc: $CAROL"
	snd signonly -oi -t || return 1
	[ "$RC" = 0 ] && grep -q "no certificate for $CAROL" "$T/signonly.err" &&
		grep -q 'signed only' "$T/signonly.err" &&
		! grep -q "$BOB" "$T/signonly.err" &&
		delivered "$BOB" signonly && delivered "$CAROL" signonly &&
		queue_empty
}
t "sign-only (default), mutt-style -oi -t: carol has no certificate; sent to both, signed" t_sign_only

t_sign_only_opens() {
	opened bob "$T/signonly.bob" &&
		has '"encrypted": *false' && has '"signature": *"valid"' &&
		has "\"signer\": *\"$ALICE\"" && has '"timestamp": *"20' || return 1
	grep -q '^Content-Type: multipart/signed' "$T/signonly.carol" &&
		openssl cms -verify -in "$T/signonly.carol" -CAfile "$ROOT" \
			-purpose any -out "$T/signonly.out" 2>&1 |
		tee /dev/stderr | grep -q 'Verification successful' &&
		grep -q 'Hello from the signonly case' "$T/signonly.out"
}
t "bob's copy opens: signed, valid, trusted timestamp; carol's verifies with openssl cms" t_sign_only_opens

t_starttls_used() {
	grep -A3 '^Received: ' "$T/signonly.bob" | tee /dev/stderr |
		grep -q 'using TLSv1'
}
t "smtp:// with a CA file went over STARTTLS (Postfix's Received:)" t_starttls_used

# ------------------------------------------------------- refuse

t_refuse() {
	msg refuse "To: $BOB" "Cc: $CAROL"
	snd refuse --policy refuse -t
	[ "$RC" = 67 ] || { echo "exit $RC, expected 67"; return 1; }
	grep -q "no certificate for $CAROL" "$T/refuse.err" &&
		grep -q 'nothing sent' "$T/refuse.err" &&
		none "$BOB" refuse && none "$CAROL" refuse && queue_empty
}
t "--policy refuse: exit 67 (EX_NOUSER), carol named, nothing delivered, nothing queued" t_refuse

t_refuse_conf() {
	cp "$T/alice/letterlock.conf" "$T/refuse.conf" &&
		echo 'policy = refuse' >>"$T/refuse.conf" || return 1
	msg refuse2 "To: $CAROL"
	snd refuse2 --config "$T/refuse.conf" -t
	[ "$RC" = 67 ] && none "$CAROL" refuse2 && queue_empty
}
t "[send] policy = refuse in the configuration does the same" t_refuse_conf

# a time-stamp required and the TSA not there: exit 69, nothing sent or
# queued; without --require-timestamp the same TSA is a warning only
t_require_ts() {
	msg nots "To: $BOB"
	snd nots -t --tsa http://127.0.0.1:1/tsa --require-timestamp
	[ "$RC" = 69 ] || { echo "exit $RC, expected 69"; cat "$T/nots.err"; return 1; }
	grep -q 'a time-stamp is required' "$T/nots.err" &&
		none "$BOB" nots && queue_empty || return 1
	msg nots2 "To: $BOB"
	snd nots2 -t --tsa http://127.0.0.1:1/tsa
	[ "$RC" = 0 ] && grep -q 'signed without a time-stamp' "$T/nots2.err"
}
t "--require-timestamp with the TSA unreachable: exit 69, nothing sent or queued; without it, sent with a warning" t_require_ts

# ------------------------------------------ every recipient has one

t_encrypted() {
	msg enc "To: $BOB" "Bcc: $DAVE"
	snd enc -oi -t -v || return 1
	[ "$RC" = 0 ] && ! grep -q 'no certificate' "$T/enc.err" &&
		grep -q 'signed and encrypted, time-stamped, 2 copies' \
			"$T/enc.err" &&
		delivered "$BOB" enc && delivered "$DAVE" enc && queue_empty
}
t "bob (To) and dave (Bcc) have certificates in the directory: sealed, 2 copies, sent" t_encrypted

t_enc_bob() {
	opened bob "$T/enc.bob" &&
		has '"encrypted": *true' && has '"decrypted": *true' &&
		has '"signature": *"valid"' && has '"timestamp": *"20' &&
		has '"errors": *\[\]' || return 1
	grep -q '^Subject: \[\.\.\.\]' "$T/enc.bob"
}
t "bob's copy opens (letterlock open --json): decrypted, signature valid, trusted timestamp" t_enc_bob

t_enc_peer() {
	openssl cms -decrypt -in "$T/enc.bob" -recip "$T/bob.pem" \
		-inkey "$T/bob.key" -out "$T/enc.inner" || return 1
	openssl cms -verify -in "$T/enc.inner" -CAfile "$ROOT" -purpose any \
		-out "$T/enc.text" 2>&1 | tee /dev/stderr |
		grep -q 'Verification successful' &&
		grep -q 'Hello from the enc case' "$T/enc.text"
}
t "openssl cms decrypts bob's copy with his key and verifies the signature" t_enc_peer

t_bcc_hidden() {
	# his address in clear, or his certificate among the recipients
	if grep -qiF "$DAVE" "$T/enc.bob" "$T/enc.inner" ||
		sealed_to "$T/enc.bob" | grep -qx "$(cert_serial "$T/dave.pem")"; then
		echo "bob's copy names dave"
		return 1
	fi
	grep -qi '^Bcc:' "$T/enc.dave" && { echo "Bcc in dave's copy"; return 1; }
	grep -q "^Delivered-To: $BOB" "$T/enc.bob" || return 1
	if openssl cms -decrypt -in "$T/enc.bob" -recip "$T/dave.pem" \
		-inkey "$T/dave.key" -out /dev/null 2>/dev/null; then
		echo "dave's key opens bob's copy"
		return 1
	fi
	opened dave "$T/enc.dave" && has '"decrypted": *true' &&
		has '"signature": *"valid"'
}
t "the Bcc copy is dave's alone: bob's copy does not name him nor open with his key; dave's opens" t_bcc_hidden

# ------------------------------------------- explicit recipients

t_args() {
	msg args "To: $BOB" "Cc: $CAROL"
	# git send-email style: recipients as arguments, -i, -f
	snd args -i -f "$ALICE" "$BOB" "Dave <$DAVE>" || return 1
	[ "$RC" = 0 ] && delivered "$BOB" args && delivered "$DAVE" args &&
		none "$CAROL" args || return 1
	grep -qiF "$DAVE" "$T/args.bob" && { echo "bob's copy names dave"; return 1; }
	opened dave "$T/args.dave" && has '"signature": *"valid"'
}
t "explicit recipients (-i -f FROM RCPT...): only they get it; dave, not in To/Cc, has a copy of his own" t_args

# ------------------------------------------------ failures, outbox

FAKE_PORT=""
free_port FAKE_PORT || fatal "no free port"
free_port CLOSED_PORT || fatal "no free port"

t_down() {
	conf "$T/down.conf" "smtp://127.0.0.1:$CLOSED_PORT"
	msg down "To: $BOB"
	snd down --config "$T/down.conf" -t
	[ "$RC" = 75 ] || { echo "exit $RC, expected 75"; return 1; }
	grep -q 'waits in the outbox' "$T/down.err" &&
		grep -q 'letterlock outbox flush' "$T/down.err" || return 1
	ll alice outbox list | tee "$T/list" &&
		grep -q "0 of 1 copies sent" "$T/list" &&
		grep -q "waiting $BOB" "$T/list" &&
		grep -q 'temporary' "$T/list" && none "$BOB" down
}
t "the server unreachable: exit 75 (EX_TEMPFAIL), the message in the outbox" t_down

t_down_flush() {
	local id
	id=$(queued_id)
	ll alice outbox flush >"$T/flush.out" 2>&1
	RC=$?
	cat "$T/flush.out"
	[ "$RC" = 0 ] && grep -qx "$id: sent" "$T/flush.out" &&
		delivered "$BOB" down && queue_empty || return 1
	ll alice outbox flush && sleep 2 && delivered "$BOB" down
}
t "outbox flush with the server back: sent, exactly once (a second flush sends nothing)" t_down_flush

t_kill9() {
	local pid _
	conf "$T/stall.conf" "smtp://127.0.0.1:$FAKE_PORT"
	fake stall || return 1
	msg kill "To: $BOB"
	"$LETTERLOCK" --home "$T/alice" send --config "$T/stall.conf" -t \
		<"$T/kill.eml" &
	pid=$!
	for _ in $(seq 1 100); do
		[ -n "$(ls "$T/alice/outbox" 2>/dev/null)" ] && break
		sleep 0.1
	done
	sleep 0.3 # in the SMTP exchange, waiting for the greeting
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	fake_stop
	ll alice outbox list | tee "$T/list" &&
		grep -q "0 of 1 copies sent" "$T/list" || return 1
	ll alice outbox flush && delivered "$BOB" kill && queue_empty
}
t "kill -9 of send while the server stalls: the message is in the outbox; flush delivers it once" t_kill9

t_unnamed() {
	local id f
	# what a kill -9 between the write and the rename leaves: the
	# whole entry under its temporary name (made here from a real
	# entry, the server unreachable)
	msg unnamed "To: $BOB"
	snd unnamed --config "$T/down.conf" -t
	[ "$RC" = 75 ] || { echo "exit $RC, expected 75"; return 1; }
	id=$(queued_id)
	f=$T/alice/outbox/.new-$id
	mv "$T/alice/outbox/$id" "$f" || return 1
	# young: perhaps a writer at work; not listed, not sent, kept
	[ -z "$(ll alice outbox list)" ] && ll alice outbox flush &&
		[ -f "$f" ] || return 1
	# a minute old: its writer is dead; removed, never sent
	touch -d '-2 minutes' "$f"
	[ -z "$(ll alice outbox list)" ] && [ ! -e "$f" ] &&
		ll alice outbox flush && none "$BOB" unnamed && queue_empty
}
t "killed between the entry's write and its rename: nothing is sent; the unnamed file is removed once its writer is surely dead" t_unnamed

t_old_format() {
	local id=20260101T101010Z-00aabbccdd d
	# an entry as earlier builds queued it: a directory of files, copy
	# 1 (to bob) marked sent, copy 2 (to dave) waiting
	msg oldfmt "To: $BOB"
	d=$T/alice/outbox/$id
	mkdir "$d" || return 1
	cp "$T/oldfmt.eml" "$d/1.eml" && cp "$T/oldfmt.eml" "$d/2.eml" &&
		printf '%s\n' "$BOB" >"$d/1.rcpt" &&
		printf '%s\n' "$DAVE" >"$d/2.rcpt" && : >"$d/1.sent" &&
		printf 'earlier: 451 try later (temporary)' >"$d/error" &&
		printf 'queued 1767262210\nfrom %s\ncopies 2\n' "$ALICE" \
			>"$d/meta" || return 1
	ll alice outbox list | tee "$T/list" &&
		grep -q "^$id  queued 2026-01-01 10:10:10 UTC  from $ALICE  1 of 2 copies sent" \
			"$T/list" &&
		grep -q "copy 1: sent    $BOB" "$T/list" &&
		grep -q "copy 2: waiting $DAVE" "$T/list" &&
		grep -q "last failure: earlier: 451 try later" "$T/list" || return 1
	ll alice outbox flush >"$T/flush.out" 2>&1
	RC=$?
	cat "$T/flush.out"
	[ "$RC" = 0 ] && grep -qx "$id: sent" "$T/flush.out" &&
		delivered "$DAVE" oldfmt && none "$BOB" oldfmt && queue_empty
}
t "an entry of the earlier format (a directory of files, made by hand): listed, the copy not marked sent flushed once, then removed" t_old_format

t_refused() {
	msg refused "To: $BOB" "Bcc: nobody@example.test"
	snd refused -t
	[ "$RC" = 69 ] || { echo "exit $RC, expected 69"; return 1; }
	grep -q 'fail too' "$T/refused.err" &&
		grep -q 'outbox drop' "$T/refused.err" &&
		delivered "$BOB" refused || return 1
	ll alice outbox list | tee "$T/list" &&
		grep -q "1 of 2 copies sent" "$T/list" &&
		grep -q "copy 1: sent    $BOB" "$T/list" &&
		grep -q "copy 2: waiting nobody@example.test" "$T/list" &&
		grep -q '(permanent)' "$T/list"
}
t "a recipient refused (550): exit 69 (EX_UNAVAILABLE); bob's copy sent and marked, the other queued" t_refused

t_refused_flush() {
	local id
	id=$(queued_id)
	ll alice outbox flush
	RC=$?
	[ "$RC" = 69 ] || { echo "flush: exit $RC, expected 69"; return 1; }
	sleep 2
	delivered "$BOB" refused || return 1
	ll alice outbox drop "$id" | grep -qx "$id: dropped (1 copy not sent)" &&
		queue_empty
}
t "flush sends only what is not marked sent (bob still has one copy); outbox drop gives up the rest" t_refused_flush

t_no_starttls() {
	conf "$T/plain.conf" "smtp://127.0.0.1:$FAKE_PORT" "$MAILSTACK_CA_FILE"
	fake plain || return 1
	msg plain "To: $BOB"
	snd plain --config "$T/plain.conf" -t
	fake_stop
	cat "$T/fake.log"
	[ "$RC" = 69 ] || { echo "exit $RC, expected 69"; return 1; }
	grep -qi '^EHLO' "$T/fake.log" &&
		! grep -qiE '^(AUTH|MAIL|RCPT|DATA)' "$T/fake.log" || return 1
	ll alice outbox drop "$(queued_id)" && queue_empty
}
t "a server without STARTTLS gets neither the login nor the mail (exit 69)" t_no_starttls

t_starttls_busy() {
	conf "$T/busy.conf" "smtp://127.0.0.1:$FAKE_PORT" "$MAILSTACK_CA_FILE"
	fake busy || return 1
	msg busy "To: $BOB"
	snd busy --config "$T/busy.conf" -t
	fake_stop
	cat "$T/fake.log"
	# 454 to STARTTLS is "not now", not "never": a temporary failure
	[ "$RC" = 75 ] || { echo "exit $RC, expected 75"; return 1; }
	! grep -qiE '^(AUTH|MAIL|RCPT|DATA)' "$T/fake.log" &&
		ll alice outbox flush && delivered "$BOB" busy && queue_empty
}
t "STARTTLS answered 454 (try again later): a temporary failure (exit 75), neither login nor mail in clear; flush sends it" t_starttls_busy

t_wrong_ca() {
	conf "$T/wrongca.conf" "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		"$ROOT"
	msg wrongca "To: $BOB"
	snd wrongca --config "$T/wrongca.conf" -t
	[ "$RC" = 69 ] || { echo "exit $RC, expected 69"; return 1; }
	grep -qi 'certificate' "$T/wrongca.err" && none "$BOB" wrongca &&
		ll alice outbox flush && delivered "$BOB" wrongca && queue_empty
}
t "a CA file that does not verify the server: fails closed (exit 69, queued); flush with the right one sends it" t_wrong_ca

t_smtps() {
	conf "$T/smtps.conf" "smtps://127.0.0.1:$MAILSTACK_SUBMISSIONS_PORT" \
		"$MAILSTACK_CA_FILE"
	msg smtps "To: $BOB"
	snd smtps --config "$T/smtps.conf" -t
	[ "$RC" = 0 ] && delivered "$BOB" smtps &&
		grep -A3 '^Received: ' "$T/smtps.bob" | grep -q 'using TLSv1'
}
t "smtps:// (implicit TLS) to the submissions port" t_smtps

t_wrong_password() {
	echo wrong >"$T/wrong.password"
	conf "$T/wrongpw.conf" "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		"$MAILSTACK_CA_FILE" "$T/wrong.password"
	msg wrongpw "To: $BOB"
	snd wrongpw --config "$T/wrongpw.conf" -t
	[ "$RC" = 69 ] && grep -q 'login failed' "$T/wrongpw.err" &&
		none "$BOB" wrongpw && ll alice outbox drop "$(queued_id)" >/dev/null &&
		queue_empty
}
t "a wrong password: refused for good (exit 69), nothing delivered" t_wrong_password

# ------------------------------------------------------------ errors

t_errors() {
	local rc
	msg err "To: $BOB"
	snd err -bs
	[ "$RC" = 64 ] || return 1
	snd err
	[ "$RC" = 64 ] && grep -q 'no recipients' "$T/err.err" || return 1
	snd err --policy maybe -t
	[ "$RC" = 64 ] || return 1
	printf 'To: %s\r\nSubject: x\r\n\r\nno From\r\n' "$BOB" >"$T/err.eml"
	snd err -t
	[ "$RC" = 65 ] || return 1
	printf 'From: %s\r\nTo: %s\r\n\r\nnot mine\r\n' "$BOB" "$BOB" >"$T/err.eml"
	snd err -t
	[ "$RC" = 78 ] && grep -q "no identity for $BOB" "$T/err.err" || return 1
	printf '[mail]\nsmtp_ulr = x\n' >"$T/bad.conf"
	msg err "To: $BOB"
	snd err --config "$T/bad.conf" -t
	[ "$RC" = 78 ] && grep -q 'unknown key' "$T/err.err" || return 1
	printf '[send]\npolicy = refuse\n' >"$T/nosmtp.conf"
	snd err --config "$T/nosmtp.conf" -t
	[ "$RC" = 78 ] && grep -q 'smtp_url' "$T/err.err" && queue_empty
}
t "errors: -bs and no recipients 64, no From 65, no identity for From 78, bad or incomplete configuration 78" t_errors

t_help() {
	"$LETTERLOCK" --help | grep -q '^  send ' &&
		"$LETTERLOCK" --help | grep -q '^  outbox ' &&
		"$LETTERLOCK" send --help | grep -q 'sysexits' &&
		"$LETTERLOCK" outbox --help | grep -q 'flush'
}
t "letterlock --help names send and outbox; both have --help" t_help

t_still_up() {
	kill -0 "$LLD_PID" && ! grep -Eq 'AddressSanitizer|runtime error' "$LOG"
}
t "letterlockd still runs, no sanitizer report in its log" t_still_up
finish
