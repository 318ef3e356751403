#!/bin/bash
# Cases are run through t(); shellcheck cannot see that.
# shellcheck disable=SC2317
#
# test_mailstack.sh - the local mail provider of scripts/mailstack, end to
# end: up, SASL submission, IMAP fetch, DKIM signing and verification on
# a second hop, DNS (CAA, DKIM, MX, SMIMEA via dns-add), SMTPUTF8, the
# refusals a real provider makes, idempotent up, down, nothing left.
#
# Output: TAP lines "ok - ..." / "not ok - ..." with "# ..." diagnostics,
# then the plan "1..N".  Exit status 0 if every case passed.
#
# Needs root and the packages of scripts/setup.  Ports (default: these,
# away from the mailstack defaults so a developer's stack can keep
# running): MAILSTACK_SMTP_PORT 12525, MAILSTACK_SUBMISSION_PORT 12587,
# MAILSTACK_SUBMISSIONS_PORT 12465, MAILSTACK_IMAP_PORT 12143,
# MAILSTACK_IMAPS_PORT 12993, MAILSTACK_DNS_PORT 12053.
#   KEEP_TMP=1   keep the stack's directory (its path is printed)
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MS=$top/scripts/mailstack

export MAILSTACK_SMTP_PORT=${MAILSTACK_SMTP_PORT:-12525}
export MAILSTACK_SUBMISSION_PORT=${MAILSTACK_SUBMISSION_PORT:-12587}
export MAILSTACK_SUBMISSIONS_PORT=${MAILSTACK_SUBMISSIONS_PORT:-12465}
export MAILSTACK_IMAP_PORT=${MAILSTACK_IMAP_PORT:-12143}
export MAILSTACK_IMAPS_PORT=${MAILSTACK_IMAPS_PORT:-12993}
export MAILSTACK_DNS_PORT=${MAILSTACK_DNS_PORT:-12053}
# one extra mailbox with a UTF-8 local part (SMTPUTF8)
export MAILSTACK_USERS="马克@example.test"
unset MAILSTACK_PASSWORD MAILSTACK_DOMAINS

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}
diag() { sed 's/^/# /'; }
# t NAME FUNCTION: run a case, its output becomes diagnostics on failure
t() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		notok "$name"
		printf '%s\n' "$out" | tail -n 30 | diag
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 - mail stack # SKIP needs root (Postfix, Dovecot, NSD)"
	echo "1..1"
	exit 0
fi
missing=""
for p in postfix dovecot opendkim opendkim-genkey opendkim-testkey nsd \
    nsd-control dig curl openssl ss; do
	command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	notok "mail stack programs installed (missing:$missing; run scripts/setup)"
	echo "1..$n"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/ll-mailstack.XXXXXX") || exit 1
# the daemons' users (postfix, dovecot, nsd, ...) must reach $T/stack
chmod 755 "$T"
D=$T/stack
cleanup() {
	if [ -d "$D" ]; then
		"$MS" down "$D" >/dev/null 2>&1
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pw() { awk -v u="$1" 'index($0, u ":") == 1 { print substr($0, length(u) + 2) }' "$D/users.txt"; }
dq() { # dq TYPE NAME: dig answer data
	dig +norecurse +time=2 +tries=1 +short -p "$MAILSTACK_DNS_PORT" \
		@127.0.0.1 "$1" "$2"
}

# fetch USER PASSWORD UID OUT: poll the INBOX until message UID is there
fetch() {
	local _
	for _ in $(seq 1 50); do
		if curl -sS --max-time 10 -o "$4" \
		    "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX;UID=$3" \
		    --user "$1:$2" 2>/dev/null && [ -s "$4" ]; then
			return 0
		fi
		sleep 0.2
	done
	echo "message UID $3 never arrived in $1's INBOX"
	tail -n 20 "$D/maillog"
	return 1
}

send() { # send PORT USER PASSWORD FROM RCPT FILE [curl args]
	local port=$1 user=$2 pass=$3 from=$4 rcpt=$5 file=$6
	shift 6
	curl -sS --max-time 20 "smtp://127.0.0.1:$port" \
		${user:+--user "$user:$pass"} \
		--mail-from "$from" --mail-rcpt "$rcpt" --upload-file "$file" "$@"
}

# header FILE NAME: the unfolded value(s) of a header field
header() {
	awk -v h="$2" '
		BEGIN { h = tolower(h) ":" }
		/^\r?$/ { exit }
		/^[ \t]/ { if (cur != "") cur = cur " " $0; next }
		{ if (cur != "") print cur; cur = "" }
		tolower(substr($0, 1, length(h))) == h { cur = substr($0, length(h) + 1) }
		END { if (cur != "") print cur }' "$1" | tr -d '\r'
}

# ------------------------------------------------------------------ cases

t_up() {
	local t0=$SECONDS
	"$MS" up "$D" || return 1
	echo "up took $((SECONDS - t0)) s"
	[ -s "$D/users.txt" ] || { echo "no users.txt"; return 1; }
	for u in alice@example.test bob@example.test carol@example.test \
	    acme@ca.test; do
		[ -n "$(pw "$u")" ] || { echo "no password for $u"; return 1; }
	done
}

t_status() {
	"$MS" status "$D"
}

t_up_again() {
	local out
	out=$("$MS" up "$D") || return 1
	echo "$out"
	grep -q 'already running' <<<"$out"
}

t_loopback_only() {
	local l
	l=$(ss -Htlnu | awk '{ print $5 }' |
		grep -E ":($MAILSTACK_SMTP_PORT|$MAILSTACK_SUBMISSION_PORT|$MAILSTACK_SUBMISSIONS_PORT|$MAILSTACK_IMAP_PORT|$MAILSTACK_IMAPS_PORT|$MAILSTACK_DNS_PORT)\$")
	echo "$l"
	[ "$(grep -c . <<<"$l")" -ge 7 ] || { echo "missing listeners"; return 1; }
	! grep -v '^127\.0\.0\.1:' <<<"$l"
}

t_submit() {
	printf 'From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: mailstack test\r\nDate: %s\r\nMessage-ID: <mailstack-test-1@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\nthis went through submission.\r\n' \
		"$(date -R)" >"$T/m1.eml"
	send "$MAILSTACK_SUBMISSION_PORT" alice@example.test \
		"$(pw alice@example.test)" alice@example.test bob@example.test \
		"$T/m1.eml"
}

t_fetch() {
	fetch bob@example.test "$(pw bob@example.test)" 1 "$T/got1.eml" &&
		grep -q 'this went through submission' "$T/got1.eml" &&
		grep -q '^Message-ID: <mailstack-test-1@example.test>' "$T/got1.eml"
}

t_dkim_signed() {
	local sig
	sig=$(header "$T/got1.eml" DKIM-Signature)
	echo "DKIM-Signature:$sig"
	[ "$(grep -c . <<<"$sig")" -eq 1 ] &&
		grep -Eq '(^|[[:space:];])d=example\.test;' <<<"$sig" &&
		grep -Eq '(^|[[:space:];])s=mail;' <<<"$sig" &&
		grep -Eiq 'h=[^;]*message-id' <<<"$sig"
}

t_second_hop_pass() {
	# the fetched message goes to carol through the SMTP (MX) port,
	# unauthenticated: OpenDKIM verifies it there
	send "$MAILSTACK_SMTP_PORT" "" "" alice@example.test \
		carol@example.test "$T/got1.eml" || return 1
	fetch carol@example.test "$(pw carol@example.test)" 1 "$T/got2.eml" ||
		return 1
	local ar
	ar=$(header "$T/got2.eml" Authentication-Results)
	echo "Authentication-Results:$ar"
	grep -q 'dkim=pass' <<<"$ar" && grep -q 'header.d=example.test' <<<"$ar"
	# and it was not signed a second time
	[ "$(header "$T/got2.eml" DKIM-Signature | grep -c .)" -eq 1 ]
}

t_second_hop_fail() {
	sed 's/this went through submission/this was changed on the way/' \
		"$T/got1.eml" >"$T/tampered.eml"
	send "$MAILSTACK_SMTP_PORT" "" "" alice@example.test \
		carol@example.test "$T/tampered.eml" || return 1
	fetch carol@example.test "$(pw carol@example.test)" 2 "$T/got3.eml" ||
		return 1
	local ar
	ar=$(header "$T/got3.eml" Authentication-Results)
	echo "Authentication-Results:$ar"
	grep -q 'dkim=fail' <<<"$ar"
}

t_testkey() {
	local d
	for d in example.test ca.test; do
		opendkim-testkey -x "$D/opendkim/opendkim.conf" -d "$d" -s mail \
			-k "$D/opendkim/keys/$d/mail.private" -vvv 2>&1 |
			tee "$T/testkey.$d"
		grep -q 'key OK' "$T/testkey.$d" || return 1
	done
}

t_dns_caa() {
	local a
	for d in example.test ca.test; do
		a=$(dq CAA "$d")
		echo "$d CAA $a"
		[ "$a" = '0 issuemail "ca.test"' ] || return 1
	done
}

t_dns_dkim() {
	local txt pub
	txt=$(dq TXT mail._domainkey.example.test | tr -d '" \n')
	echo "TXT $txt"
	# the public half of the key OpenDKIM signs with
	pub=$(openssl rsa -in "$D/opendkim/keys/example.test/mail.private" \
		-pubout -outform DER 2>/dev/null | base64 -w0)
	[[ $txt == *"v=DKIM1;"* ]] && [[ $txt == *"p=$pub"* ]]
}

t_dns_mx_a() {
	local mx a aa
	mx=$(dq MX example.test)
	a=$(dq A mail.example.test)
	echo "MX $mx; A $a"
	[ "$mx" = "10 mail.example.test." ] && [ "$a" = 127.0.0.1 ] || return 1
	# authoritative, over UDP and TCP
	aa=$(dig +norecurse -p "$MAILSTACK_DNS_PORT" @127.0.0.1 SOA ca.test)
	grep -q 'flags: qr aa' <<<"$aa" || { echo "$aa"; return 1; }
	[ -n "$(dig +tcp +short -p "$MAILSTACK_DNS_PORT" @127.0.0.1 SOA ca.test)" ]
}

t_dns_add_smimea() {
	local h name der got
	h=$(printf %s alice | openssl dgst -sha256 -r | cut -c1-56)
	name=$h._smimecert.example.test
	der=$(openssl x509 -in "$D/tls/ca.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')
	"$MS" dns-add "$D" "$name" SMIMEA 3 0 0 "$der" || return 1
	got=$(dq SMIMEA "$name" | tr -d ' \n' | tr 'A-F' 'a-f')
	[ "$got" = "300$der" ] || { echo "got: $got"; return 1; }
	"$MS" dns-del "$D" "$name" SMIMEA || return 1
	[ -z "$(dq SMIMEA "$name")" ] || { echo "still there"; return 1; }
	# a malformed record is refused and the zone keeps working
	if "$MS" dns-add "$D" bad.example.test CAA not a caa record; then
		echo "bad record accepted"
		return 1
	fi
	[ "$(dq CAA example.test)" = '0 issuemail "ca.test"' ]
}

t_refusals() {
	local a
	a=$(pw alice@example.test)
	printf 'From: alice@example.test\r\nSubject: x\r\n\r\nx\r\n' >"$T/x.eml"
	# no AUTH on submission
	if send "$MAILSTACK_SUBMISSION_PORT" "" "" alice@example.test \
	    bob@example.test "$T/x.eml"; then
		echo "unauthenticated submission accepted"
		return 1
	fi
	# wrong password
	if send "$MAILSTACK_SUBMISSION_PORT" alice@example.test wrong \
	    alice@example.test bob@example.test "$T/x.eml"; then
		echo "wrong password accepted"
		return 1
	fi
	# alice may not use bob's address as envelope sender
	if send "$MAILSTACK_SUBMISSION_PORT" alice@example.test "$a" \
	    bob@example.test carol@example.test "$T/x.eml"; then
		echo "sender login mismatch accepted"
		return 1
	fi
	# nothing leaves the test domains
	if send "$MAILSTACK_SUBMISSION_PORT" alice@example.test "$a" \
	    alice@example.test someone@example.com "$T/x.eml"; then
		echo "outbound mail accepted"
		return 1
	fi
	# no open relay on the MX port
	if send "$MAILSTACK_SMTP_PORT" "" "" x@example.com \
	    someone@example.com "$T/x.eml"; then
		echo "relay accepted"
		return 1
	fi
	# unknown mailbox
	if send "$MAILSTACK_SMTP_PORT" "" "" x@example.com \
	    nobody@example.test "$T/x.eml"; then
		echo "unknown mailbox accepted"
		return 1
	fi
	return 0
}

t_tls() {
	local ca=$D/tls/ca.pem a
	a=$(pw acme@ca.test)
	printf 'From: acme@ca.test\r\nTo: alice@example.test\r\nSubject: over TLS\r\n\r\nTLS body\r\n' >"$T/tls.eml"
	# implicit TLS submission, verified against the stack's CA
	curl -sS --max-time 20 --cacert "$ca" \
		"smtps://127.0.0.1:$MAILSTACK_SUBMISSIONS_PORT" \
		--user "acme@ca.test:$a" --mail-from acme@ca.test \
		--mail-rcpt alice@example.test --upload-file "$T/tls.eml" ||
		return 1
	# STARTTLS on submission
	curl -sS --max-time 20 --ssl-reqd --cacert "$ca" \
		"smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--user "acme@ca.test:$a" --mail-from acme@ca.test \
		--mail-rcpt alice@example.test --upload-file "$T/tls.eml" ||
		return 1
	# IMAPS
	local out
	for _ in $(seq 1 50); do
		out=$(curl -sS --max-time 10 --cacert "$ca" \
			"imaps://127.0.0.1:$MAILSTACK_IMAPS_PORT/INBOX" \
			--user "alice@example.test:$(pw alice@example.test)" \
			-X 'SEARCH SUBJECT "over TLS"') || return 1
		[[ $out == *"SEARCH 1 2"* ]] && break
		sleep 0.2
	done
	echo "$out"
	[[ $out == *"SEARCH 1 2"* ]] || return 1
	# the ca.test signature
	fetch alice@example.test "$(pw alice@example.test)" 1 "$T/tls1.eml" &&
		header "$T/tls1.eml" DKIM-Signature | grep -q 'd=ca.test;'
}

t_smtputf8() {
	local u='马克@example.test' got
	printf 'From: alice@example.test\r\nTo: %s\r\nSubject: utf8\r\n\r\nto a UTF-8 mailbox\r\n' "$u" >"$T/u8.eml"
	send "$MAILSTACK_SUBMISSION_PORT" alice@example.test \
		"$(pw alice@example.test)" alice@example.test "$u" "$T/u8.eml" ||
		return 1
	fetch "$u" "$(pw "$u")" 1 "$T/u8got.eml" || return 1
	grep -q 'to a UTF-8 mailbox' "$T/u8got.eml" || return 1
	# and back, with UTF-8 in the envelope and the From header
	printf 'From: %s\r\nTo: acme@ca.test\r\nSubject: reply\r\n\r\nfrom a UTF-8 mailbox\r\n' "$u" >"$T/u8r.eml"
	send "$MAILSTACK_SUBMISSION_PORT" "$u" "$(pw "$u")" "$u" \
		acme@ca.test "$T/u8r.eml" || return 1
	fetch acme@ca.test "$(pw acme@ca.test)" 1 "$T/u8r.got" || return 1
	got=$(header "$T/u8r.got" DKIM-Signature)
	echo "$got"
	grep -q 'd=example.test;' <<<"$got"
}

t_local_sendmail() {
	printf 'From: carol@example.test\nTo: bob@example.test\nSubject: local sendmail\nMessage-ID: <mailstack-test-local@example.test>\n\nvia sendmail\n' |
		sendmail -C "$D/postfix" -f carol@example.test bob@example.test ||
		return 1
	fetch bob@example.test "$(pw bob@example.test)" 2 "$T/local.eml" ||
		return 1
	grep -q 'mailstack-test-local' "$T/local.eml" &&
		header "$T/local.eml" DKIM-Signature | grep -q 'd=example.test;'
}

pids_before=""
t_down() {
	pids_before=$("$MS" procs "$D" | awk '{ print $1 }' | tr '\n' ' ')
	echo "processes before: $pids_before"
	[ -n "$pids_before" ] || { echo "procs listed nothing"; return 1; }
	"$MS" down "$D"
}

t_nothing_left() {
	local p left="" st
	for p in $pids_before; do
		[ -r "/proc/$p/stat" ] || continue
		st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
		[ -n "$st" ] && [ "$st" != Z ] && left="$left $p"
	done
	[ -z "$left" ] || { echo "still running:$left"; ps -o pid,args -p "${left# }"; return 1; }
	left=$("$MS" procs "$D")
	[ -z "$left" ] || { echo "procs: $left"; return 1; }
	# the ports are free again
	local l
	l=$(ss -Htlnu | awk '{ print $5 }' |
		grep -E ":($MAILSTACK_SMTP_PORT|$MAILSTACK_SUBMISSION_PORT|$MAILSTACK_SUBMISSIONS_PORT|$MAILSTACK_IMAP_PORT|$MAILSTACK_IMAPS_PORT|$MAILSTACK_DNS_PORT)\$")
	[ -z "$l" ] || { echo "still listening: $l"; return 1; }
	if "$MS" status "$D" >/dev/null; then
		echo "status says up"
		return 1
	fi
}

t_up_after_down() {
	"$MS" up "$D" >/dev/null || return 1
	# same users, mail kept
	fetch bob@example.test "$(pw bob@example.test)" 1 "$T/again.eml" ||
		return 1
	if ! cmp -s "$T/again.eml" "$T/got1.eml"; then
		echo "bob's first message changed"
		return 1
	fi
	"$MS" down "$D" >/dev/null && [ -z "$("$MS" procs "$D")" ]
}

start=$SECONDS
t "mailstack up starts Postfix, Dovecot, OpenDKIM and NSD" t_up
if [ "$failed" -gt 0 ]; then
	for f in "$D/maillog" "$D/dovecot/dovecot.log" "$D/dns/nsd.log" \
	    "$D/opendkim/opendkim.log" "$D/postfix/start.log"; do
		[ -f "$f" ] && { echo "== $f"; tail -n 15 "$f"; } | diag
	done
	echo "1..$n"
	exit 1
fi
t "mailstack status: everything up, exit 0" t_status
t "mailstack up on a running DIR says so" t_up_again
t "every listener is on 127.0.0.1 only" t_loopback_only
t "submission with SASL auth accepts alice -> bob" t_submit
t "bob fetches the message over IMAP" t_fetch
t "the message carries a DKIM-Signature d=example.test s=mail" t_dkim_signed
t "second hop through the MX port: OpenDKIM says dkim=pass" t_second_hop_pass
t "a changed body on the second hop: dkim=fail" t_second_hop_fail
t "opendkim-testkey finds the keys through the local DNS" t_testkey
t "DNS: CAA issuemail \"ca.test\" for both domains" t_dns_caa
t "DNS: the DKIM TXT record holds the signing key" t_dns_dkim
t "DNS: MX and A, authoritative, UDP and TCP" t_dns_mx_a
t "dns-add/dns-del serve an SMIMEA record; bad records refused" t_dns_add_smimea
t "refused: no auth, bad password, foreign sender, outbound, relay, unknown" t_refusals
t "TLS: smtps, STARTTLS and imaps verify against DIR/tls/ca.pem" t_tls
t "SMTPUTF8: to and from 马克@example.test, DKIM-signed" t_smtputf8
t "local sendmail -C DIR/postfix is delivered and signed" t_local_sendmail
t "mailstack down" t_down
t "no process or listener is left after down" t_nothing_left
t "up again after down keeps users and mail; down again" t_up_after_down
echo "# took $((SECONDS - start)) s"
echo "1..$n"
[ "$failed" -eq 0 ]
