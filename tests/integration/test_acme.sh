#!/bin/bash
# test_acme.sh - letterlockd's ACME CA (RFC 8555, email-reply-00 of
# RFC 8823) end to end against a real mail stack (scripts/mailstack:
# Postfix, Dovecot, OpenDKIM, NSD), driven by acmetool.py:
#
#   * happy path: alice@example.test and 马克@example.test (SmtpUTF8Mailbox)
#     get certificates that openssl verifies for S/MIME;
#   * the security cases: wrong digest, a reply from another address,
#     without DKIM, with a broken DKIM signature, through a mailing list,
#     replayed, a second reply, a challenge older than 24 hours, CSRs for
#     other names, broken JWS (signature, nonce, url, kid), a deactivated
#     account, CAA forbidding the CA, finalize without proof;
#   * revocation: OCSP good then revoked, the CRL lists the certificate;
#   * restart safety: kill -9 of letterlockd (front and keyholder) with an
#     order ready, in the middle of finalize, and of the front alone after
#     the keyholder signed; exactly one certificate per order.
#
# Output: TAP lines "ok N - ..." / "not ok N - ..." with "# ..."
# diagnostics (a failing case shows letterlockd's log lines written
# during it), then the plan.  Exit status 0 if every case passed.
#
# Needs root and the packages of scripts/setup (the mail stack, sqlite3,
# python3-cryptography for /usr/bin/python3); skips otherwise.
#   LETTERLOCKD  the letterlockd binary; default: next to $LETTERLOCK's
#                tree (tests/run sets LETTERLOCK), else in $BUILD (the build
#                tree, default build)
#   KEEP_TMP=1   keep the temporary directory (its path is printed)
#
# Functions and variables below are used through t(): shellcheck cannot
# see that.
# shellcheck disable=SC2317,SC2034,SC2016,SC1091
set -u
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
PY=/usr/bin/python3
TOOL=$here/acmetool.py
MS=$top/scripts/mailstack
ERR=urn:ietf:params:acme:error:
MAKE=马克@example.test

n=0
failed=0
skip_all() {
	echo "ok 1 - ACME CA end to end # SKIP $*"
	echo "1..1"
	exit 0
}
if [ "$(id -u)" -ne 0 ]; then
	skip_all "needs root (the mail stack runs Postfix, Dovecot, NSD)"
fi
missing=""
for p in postfix dovecot opendkim opendkim-genkey nsd nsd-control dig \
    curl openssl ss sqlite3 setsid; do
	command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -x "$PY" ] && "$PY" -c 'import cryptography' 2>/dev/null ||
	missing="$missing python3-cryptography"
[ -z "$missing" ] || skip_all "missing:$missing (run scripts/setup)"

abs() { case $1 in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }
if [ -z "${LETTERLOCKD:-}" ]; then
	if [ -n "${LETTERLOCK:-}" ]; then
		LETTERLOCKD=$(dirname "$(dirname "$(abs "$LETTERLOCK")")")/service/letterlockd
	elif [ -n "${BUILD:-}" ]; then
		LETTERLOCKD=$(abs "$BUILD")/src/service/letterlockd
	else
		LETTERLOCKD=$top/build/src/service/letterlockd
	fi
fi
LETTERLOCKD=$(abs "$LETTERLOCKD")

tap_init acme
# the mail daemons' users must reach the stack's directory
chmod 755 "$T"
STACK=$T/ms
CA=$T/ca
LOG=$T/letterlockd.log
LLD_PID=""
on_cleanup() {
	lld_stop
	if [ -f "$STACK/mailstack.conf" ]; then
		"$MS" down "$STACK" >/dev/null 2>&1
	fi
	echo "# took $((SECONDS - start)) s"
}
start=$SECONDS

# t DESC CMD...: one numbered case; on failure CMD's output and the
# letterlockd log lines written meanwhile become diagnostics.
t() {
	local desc=$1 l0
	shift
	n=$((n + 1))
	l0=$(log_lines)
	if "$@" >"$DIAG" 2>&1; then
		echo "ok $n - $desc"
	else
		failed=$((failed + 1))
		echo "not ok $n - $desc"
		sed 's/^/# /' "$DIAG" | tail -n "${TAP_DIAG_LINES:-25}"
		if [ -f "$LOG" ] && [ "$(log_lines)" -gt "$l0" ]; then
			echo "# -- letterlockd log:"
			tail -n "+$((l0 + 1))" "$LOG" | tail -n 15 | sed 's/^/#  | /'
		fi
	fi
}
log_lines() { if [ -f "$LOG" ]; then wc -l <"$LOG"; else echo 0; fi; }
finish() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}
fatal() { # fatal MSG: the rest cannot run
	echo "Bail out! $*"
	echo "1..$n"
	exit 1
}

# ------------------------------------------------------------ ports

# free_port VAR: a free 127.0.0.1 TCP and UDP port below the ephemeral
# range, not handed out before, into VAR
used_ports=" "
free_port() {
	local p _
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		case $used_ports in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htlnu "sport = :$p" 2>/dev/null)" ]; then
			used_ports="$used_ports$p "
			printf -v "$1" %s "$p"
			return 0
		fi
	done
	return 1
}
for v in MAILSTACK_SMTP_PORT MAILSTACK_SUBMISSION_PORT \
    MAILSTACK_SUBMISSIONS_PORT MAILSTACK_IMAP_PORT MAILSTACK_IMAPS_PORT \
    MAILSTACK_DNS_PORT HTTP_PORT; do
	free_port "$v" || fatal "no free ports"
done
export MAILSTACK_SMTP_PORT MAILSTACK_SUBMISSION_PORT \
	MAILSTACK_SUBMISSIONS_PORT MAILSTACK_IMAP_PORT MAILSTACK_IMAPS_PORT \
	MAILSTACK_DNS_PORT
URL=http://127.0.0.1:$HTTP_PORT
# a UTF-8 mailbox, and a domain whose CAA names another CA
export MAILSTACK_USERS=$MAKE MAILSTACK_DOMAINS=elsewhere.test
unset MAILSTACK_PASSWORD

# ------------------------------------------------------------ helpers

pw() { awk -v u="$1" 'index($0, u ":") == 1 { print substr($0, length(u) + 2) }' "$STACK/users.txt"; }

# acme ACCOUNT ARGS...: acmetool.py with ACCOUNT's state; its output is
# also kept in $T/out.
acme() {
	local acct=$1 rc
	shift
	timeout 150 "$PY" "$TOOL" --server "$URL" --state "$T/acct-$acct" \
		--timeout 30 "$@" >"$T/out" 2>"$T/err"
	rc=$?
	cat "$T/out" "$T/err"
	return "$rc"
}
# val KEY: the value of KEY= in $T/out
val() { sed -n "s/^$1=//p" "$T/out" | head -n 1; }
# expect KEY VALUE: $T/out says KEY=VALUE
expect() {
	grep -qxF -- "$1=$2" "$T/out" && return 0
	echo "expected $1=$2, got: $(grep "^$1=" "$T/out" || echo nothing)"
	return 1
}
# problem TYPE ARGS...: acmetool ARGS fails with the ACME error TYPE
problem() {
	local type=$1 rc
	shift
	acme "$@"
	rc=$?
	[ "$rc" -eq 1 ] || echo "acmetool exit $rc, expected 1 (a problem)"
	[ "$rc" -eq 1 ] && expect problem "$ERR$type"
}
# new_order ACCOUNT EMAIL: the order's URL into $ORD
new_order() {
	acme "$1" order "$2" && expect status pending || return 1
	ORD=$(val order)
	[ -n "$ORD" ]
}

# refused TYPE WHY USER [reply options]: a new order for USER, a reply
# with the options, {} to the challenge: challenge, authorization and
# order end "invalid", the challenge's error is TYPE and its detail
# matches the regular expression WHY (the refusal had that reason).
refused() {
	local type=$1 why=$2 user=$3
	shift 3
	new_order main "$user" || return 1
	acme main reply "$ORD" --user "$user" "$@" || return 1
	acme main respond "$ORD" || return 1
	acme main wait "$ORD"
	expect chall-status invalid && expect authz-status invalid &&
		expect order-status invalid && expect chall-error "$ERR$type" &&
		why "$why"
}
# why REGEX: the challenge's error detail in $T/out matches REGEX
why() {
	grep -Eiq "^chall-detail=.*($1)" "$T/out" ||
		{ echo "detail does not match /$1/"; return 1; }
}

# proven USER: a new order for USER proven by a correct reply: $ORD ready
proven() {
	new_order main "$1" || return 1
	acme main reply "$ORD" --user "$1" || return 1
	TOKEN1=$(val token1)
	acme main respond "$ORD" || return 1
	acme main wait "$ORD" || return 1
	expect chall-status valid && expect authz-status valid &&
		expect order-status ready
}

sql() { sqlite3 -cmd '.timeout 5000' "$@"; }
# Every certificate row of order ID in the store and in the keyholder's
# journal.
certs_of_order() {
	sql "$CA/letterlockd.db" "SELECT count(*) FROM certs WHERE order_id = $1"
}
journal_of_order() {
	sql "$CA/keyholder.db" "SELECT count(*) FROM issued WHERE order_id = $1"
}

# ------------------------------------------------------ letterlockd

lld_start() {
	local _
	# its own session and process group: the front and its keyholder
	setsid "$LETTERLOCKD" run --dir "$CA" --listen "127.0.0.1:$HTTP_PORT" \
		</dev/null >>"$LOG" 2>&1 &
	LLD_PID=$!
	for _ in $(seq 1 100); do
		if curl -sf --max-time 2 -o /dev/null "$URL/acme/directory"; then
			return 0
		fi
		if ! kill -0 "$LLD_PID" 2>/dev/null; then
			echo "letterlockd exited:"
			tail -n 20 "$LOG"
			LLD_PID=""
			return 1
		fi
		sleep 0.1
	done
	echo "letterlockd did not answer in 10 s"
	tail -n 20 "$LOG"
	return 1
}

# lld_kill SIGNAL: signal letterlockd's whole process group, wait until
# every process of it is gone (10 s, then SIGKILL).
lld_kill() {
	local _
	[ -n "$LLD_PID" ] || return 0
	kill "-$1" -- "-$LLD_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		pgrep -g "$LLD_PID" >/dev/null || break
		sleep 0.1
	done
	if pgrep -g "$LLD_PID" >/dev/null; then
		echo "letterlockd did not stop on SIG$1; killing it"
		kill -KILL -- "-$LLD_PID" 2>/dev/null
		sleep 0.5
	fi
	wait "$LLD_PID" 2>/dev/null
	LLD_PID=""
}
lld_stop() { lld_kill TERM; }

# ------------------------------------------------------------ set-up

t_stack_up() {
	"$MS" up "$STACK" >"$T/stack.out" 2>&1 || {
		cat "$T/stack.out"
		return 1
	}
	# elsewhere.test lets only other.test issue for it
	"$MS" dns-del "$STACK" elsewhere.test CAA &&
		"$MS" dns-add "$STACK" elsewhere.test CAA 0 issuemail '"other.test"'
}
t "mail stack up (with $MAKE and elsewhere.test)" t_stack_up
[ -f "$STACK/env" ] || fatal "the mail stack did not start"
. "$STACK/env"

[ -x "$LETTERLOCKD" ] || fatal "no letterlockd binary at $LETTERLOCKD"

t_init() {
	printf '%s' "$(pw acme@ca.test)" >"$T/mail.password" &&
		chmod 600 "$T/mail.password" || return 1
	timeout 60 "$LETTERLOCKD" init --dir "$CA" --name "ACME Test CA" \
		--base-url "$URL" --listen "127.0.0.1:$HTTP_PORT" \
		--mail-from acme@ca.test \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--mail-user acme@ca.test --mail-password-file "$T/mail.password" \
		--mail-ca-file "$MAILSTACK_CA_FILE" \
		--resolver-conf "$MAILSTACK_RESOLVER_CONF" \
		--caa-identity ca.test || return 1
	# replies are read every second: the cases wait less
	sed -i 's/^poll_interval = .*/poll_interval = 1/' "$CA/letterlockd.conf"
	cat "$CA/letterlockd.conf"
	grep -qx "from = acme@ca.test" "$CA/letterlockd.conf" &&
		grep -qx "poll_interval = 1" "$CA/letterlockd.conf" &&
		grep -qx "caa_identity = ca.test" "$CA/letterlockd.conf"
}
t "letterlockd init with [mail] acme@ca.test and [dns] of the stack" t_init
[ -f "$CA/letterlockd.conf" ] || fatal "letterlockd init failed"
ROOT=$CA/certs/root.pem
SMIME=$CA/certs/smime-ca.pem

t "letterlockd run answers the ACME directory" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"

t_directory() {
	curl -sS --max-time 10 "$URL/acme/directory" >"$T/dir.json" || return 1
	cat "$T/dir.json"
	"$PY" - "$T/dir.json" "$URL" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
u = sys.argv[2] + '/acme/'
assert d['newNonce'] == u + 'new-nonce', d
assert d['newAccount'] == u + 'new-account', d
assert d['newOrder'] == u + 'new-order', d
assert d['revokeCert'] == u + 'revoke-cert', d
assert d['meta']['caaIdentities'] == ['ca.test'], d
EOF
}
t "directory: the four URLs under base_url, caaIdentities [ca.test]" t_directory

# ----------------------------------------------------- happy path

t_account() {
	acme main account --contact mailto:alice@example.test &&
		expect http 201 && expect status valid || return 1
	KID=$(val kid)
	acme main account && expect http 200 && expect kid "$KID"
}
t "newAccount: 201 and a kid; the same key again: 200, same kid" t_account

t_alice_order() { new_order main alice@example.test && ALICE_ORD=$ORD; }
t "alice: newOrder for an email identifier is pending" t_alice_order

t_alice_mail() {
	acme main mail "$ALICE_ORD" --user alice@example.test &&
		expect from acme@ca.test || return 1
	ALICE_TOKEN1=$(val token1)
	[ -n "$ALICE_TOKEN1" ] && [ "$ALICE_TOKEN1" != "$(val token2)" ]
}
t "alice: fetching the authorization mails 'ACME: token1' from acme@ca.test" t_alice_mail

t_alice_reply() {
	acme main reply "$ALICE_ORD" --user alice@example.test &&
		expect token1 "$ALICE_TOKEN1" && expect delivered 1
}
t "alice: RFC 8823 reply, DKIM-signed by submission, reaches the CA" t_alice_reply

t_alice_valid() {
	acme main respond "$ALICE_ORD" || return 1
	acme main wait "$ALICE_ORD" && expect chall-status valid &&
		expect authz-status valid && expect order-status ready &&
		[ -n "$(val validated)" ]
}
t "alice: challenge and authorization valid, order ready" t_alice_valid

t_alice_finalize() {
	acme main finalize "$ALICE_ORD" --key-out "$T/alice.key" &&
		expect order-status valid && acme main cert "$ALICE_ORD" --out "$T/alice.chain" &&
		openssl x509 -in "$T/alice.chain" -out "$T/alice.pem"
}
t "alice: finalize with a CSR: order valid, chain downloaded" t_alice_finalize

# second certificate of a chain file
second() { awk '/BEGIN CERT/ { n++ } n == 2' "$1" | openssl x509 -noout -fingerprint -sha256; }
fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
t_chain() {
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/alice.chain")" -ge 2 ] &&
		[ "$(second "$T/alice.chain")" = "$(fpr "$SMIME")" ]
}
t "alice: the chain is leaf then the S/MIME CA" t_chain
t "alice: openssl verify -purpose smimesign (root, smime-ca)" \
	openssl verify -purpose smimesign -CAfile "$ROOT" -untrusted "$SMIME" \
	"$T/alice.pem"

# ext CERT NAME: the lines of one extension, without its title, trimmed
ext() {
	openssl x509 -in "$1" -noout -ext "$2" -nameopt utf8 | sed 1d |
		sed 's/^ *//; s/ *$//'
}
t_profile() { # t_profile CERT SAN
	local got
	got=$(ext "$1" subjectAltName)
	[ "$got" = "$2" ] || { echo "SAN: $got"; return 1; }
	got=$(ext "$1" certificatePolicies)
	grep -qx 'Policy: 2.23.140.1.5.1.3' <<<"$got" ||
		{ echo "policies: $got"; return 1; }
	got=$(ext "$1" extendedKeyUsage)
	[ "$got" = "E-mail Protection" ] || { echo "EKU: $got"; return 1; }
}
t "alice: SAN exactly email:alice@example.test, policy 2.23.140.1.5.1.3 (strict), EKU emailProtection only" \
	t_profile "$T/alice.pem" email:alice@example.test

t_make() {
	acme main issue "$MAKE" --user "$MAKE" --key-out "$T/make.key" \
		--cert-out "$T/make.chain" &&
		openssl x509 -in "$T/make.chain" -out "$T/make.pem" &&
		openssl verify -purpose smimesign -CAfile "$ROOT" \
			-untrusted "$SMIME" "$T/make.pem" &&
		t_profile "$T/make.pem" "othername: SmtpUTF8Mailbox::$MAKE"
}
t "$MAKE: issued with an SmtpUTF8Mailbox SAN, verifies" t_make

# ------------------------------------------------ security cases

t "wrong digest: challenge invalid, incorrectResponse" \
	refused incorrectResponse digest bob@example.test --wrong-digest
BAD_ORD=$ORD

t_second_reply() {
	acme main reply "$BAD_ORD" --user bob@example.test || return 1
	acme main drain || return 1
	acme main show "$BAD_ORD" && expect chall-status invalid &&
		expect authz-status invalid &&
		expect chall-error "${ERR}incorrectResponse"
}
t "a correct second reply after the failed first: stays invalid" t_second_reply

t "reply From another address (bob for carol): unauthorized" \
	refused unauthorized bob@example.test carol@example.test \
	--as bob@example.test
t "reply without DKIM (MX port, forged Authentication-Results): unauthorized" \
	refused unauthorized 'DKIM' carol@example.test --unsigned
t "reply whose DKIM signature fails (body changed): unauthorized" \
	refused unauthorized 'DKIM.*verif' carol@example.test --broken-dkim
t "reply with List-Id (through a mailing list): unauthorized" \
	refused unauthorized 'list' carol@example.test --list-id

t_replay_same() {
	acme main show "$ALICE_ORD" >/dev/null || return 1
	cp "$T/out" "$T/alice.before"
	acme main replay --user alice@example.test --token1 "$ALICE_TOKEN1" &&
		acme main drain || return 1
	acme main show "$ALICE_ORD" || return 1
	diff "$T/alice.before" "$T/out" &&
		[ "$(certs_of_order "${ALICE_ORD##*/}")" = 1 ]
}
t "replayed reply to a settled challenge: no change, one certificate" t_replay_same

t_replay_new() {
	new_order main alice@example.test || return 1
	REPLAY_ORD=$ORD
	acme main mail "$REPLAY_ORD" --user alice@example.test &&
		acme main respond "$REPLAY_ORD" &&
		acme main replay --user alice@example.test \
			--token1 "$ALICE_TOKEN1" &&
		acme main drain || return 1
	acme main show "$REPLAY_ORD" && expect authz-status pending &&
		expect order-status pending
}
t "an earlier reply replayed against a new challenge proves nothing" t_replay_new

t "finalize before the authorization is valid: orderNotReady" \
	problem orderNotReady main finalize "$REPLAY_ORD" --key-out "$T/x.key"

t_no_mail() {
	new_order main carol@example.test || return 1
	problem orderNotReady main finalize "$ORD" --key-out "$T/x.key"
}
t "no mailbox proof, no certificate: finalize at once: orderNotReady" t_no_mail

t_old() {
	local tok2
	new_order main carol@example.test || return 1
	acme main mail "$ORD" --user carol@example.test || return 1
	tok2=$(val token2)
	sql "$CA/letterlockd.db" "UPDATE challenges SET created = created - 90000 WHERE token2 = '$tok2'; SELECT changes();" |
		grep -qx 1 || { echo "could not age the challenge"; return 1; }
	acme main reply "$ORD" --user carol@example.test &&
		acme main respond "$ORD" || return 1
	acme main wait "$ORD"
	expect chall-status invalid && expect authz-status invalid &&
		expect chall-error "${ERR}unauthorized" && why '24 hours'
}
t "challenge older than 24 h, then a correct reply: unauthorized" t_old

t "bob: proven by a correct reply: order ready" proven bob@example.test
BOB_ORD=$ORD
t "CSR for another address: badCSR" problem badCSR main finalize \
	"$BOB_ORD" --key-out "$T/x.key" --csr-email carol@example.test
t "CSR with an extra DNS name: badCSR" problem badCSR main finalize \
	"$BOB_ORD" --key-out "$T/x.key" --extra-san dns:www.example.test
t "CSR with a second email address: badCSR" problem badCSR main finalize \
	"$BOB_ORD" --key-out "$T/x.key" --extra-san email:carol@example.test
t_bob_cert() {
	acme main finalize "$BOB_ORD" --key-out "$T/bob.key" &&
		acme main cert "$BOB_ORD" --out "$T/bob.chain" &&
		openssl x509 -in "$T/bob.chain" -out "$T/bob.pem" &&
		t_profile "$T/bob.pem" email:bob@example.test
}
t "after the refused CSRs a correct one is issued (SAN bob only)" t_bob_cert

t "JWS with a bad signature: unauthorized" \
	problem unauthorized main probe bad-signature carol@example.test
t_nonce() {
	problem badNonce main probe reused-nonce carol@example.test &&
		expect first-http 200
}
t "JWS with a reused nonce: badNonce" t_nonce
t "JWS whose \"url\" is another URL: unauthorized" \
	problem unauthorized main probe wrong-url carol@example.test
t "JWS with an unknown kid: accountDoesNotExist" \
	problem accountDoesNotExist main probe unknown-kid carol@example.test
t "JWS without a nonce: badNonce" \
	problem badNonce main probe no-nonce carol@example.test
t "a correct JWS after all that still works (201)" eval \
	'acme main probe good carol@example.test && expect http 201'

t_deactivated() {
	acme gone account && acme gone deactivate &&
		expect status deactivated || return 1
	problem unauthorized gone order carol@example.test || return 1
	problem unauthorized gone account
}
t "deactivated account: newOrder and newAccount unauthorized" t_deactivated

t "CAA of elsewhere.test names other.test: newOrder refused, caa" \
	problem caa main order someone@elsewhere.test

# ------------------------------------------------- restart safety

t_kill_ready() {
	proven carol@example.test || return 1
	KILL1_ORD=$ORD
	lld_kill KILL
	lld_start || return 1
	acme main show "$KILL1_ORD" && expect order-status ready || return 1
	acme main finalize "$KILL1_ORD" --key-out "$T/carol1.key" &&
		expect order-status valid &&
		acme main cert "$KILL1_ORD" --out "$T/carol1.chain" &&
		openssl x509 -in "$T/carol1.chain" -out "$T/carol1.pem"
}
t "kill -9 with an order ready; after restart it finalizes" t_kill_ready

# The keyholders are the front's children (some sign finalize's
# certificates, pipelined; one the rest).  They are stopped (SIGSTOP)
# so that a finalize is caught in the middle: the order is
# "processing" in the store and the signing request waits in a
# keyholder's socket.  Prints their pids.
keyholder_pid() {
	local k
	k=$(pgrep -P "$LLD_PID")
	[ "$(grep -c . <<<"$k")" -ge 2 ] || {
		echo "letterlockd's children: ${k:-none}"
		return 1
	}
	echo $k
}
order_status_db() { sql "$CA/letterlockd.db" "SELECT status FROM orders WHERE id = $1"; }
# finalize_stuck: a proven order for carol ($ORD) whose finalize was sent
# while the keyholder (pid $KH) is stopped; returns once the store shows
# the order "processing".
finalize_stuck() {
	local i
	proven carol@example.test || return 1
	KH=$(keyholder_pid) || return 1
	kill -STOP $KH || return 1
	timeout 60 "$PY" "$TOOL" --server "$URL" --state "$T/acct-main" \
		finalize "$ORD" --key-out "$T/stuck-${ORD##*/}.key" --no-wait \
		>"$T/fin.out" 2>&1 &
	FIN_PID=$!
	for i in $(seq 1 100); do
		[ "$(order_status_db "${ORD##*/}")" = processing ] && return 0
		sleep 0.1
	done
	echo "the order never became processing: $(order_status_db "${ORD##*/}")"
	return 1
}
# valid_after_restart ORDER: restarted, ORDER becomes valid by itself
# (no second finalize), and its certificate downloads.
valid_after_restart() {
	local i
	lld_start || return 1
	for i in $(seq 1 20); do
		acme main show "$1" >/dev/null || return 1
		grep -qx 'order-status=valid' "$T/out" && break
		sleep 0.5
	done
	acme main show "$1" && expect order-status valid &&
		acme main cert "$1" --out "$T/cert-${1##*/}.chain" &&
		openssl x509 -in "$T/cert-${1##*/}.chain" -out "$T/cert-${1##*/}.pem"
}

t_kill_processing() {
	finalize_stuck || return 1
	KILL2_ORD=$ORD
	# front and (stopped) keyholder at once
	lld_kill KILL
	wait "$FIN_PID" 2>/dev/null
	echo "finalize said: $(tr '\n' ' ' <"$T/fin.out")"
	[ "$(journal_of_order "${KILL2_ORD##*/}")" = 0 ] ||
		{ echo "signed before the kill"; return 1; }
	valid_after_restart "$KILL2_ORD"
}
t "kill -9 in the middle of finalize (order processing, nothing signed): valid after restart" \
	t_kill_processing

t_kill_signed() {
	local i j
	finalize_stuck || return 1
	KILL3_ORD=$ORD
	# the front is stopped too, the keyholder goes on: it signs the
	# request waiting in its socket and journals the certificate; the
	# front never reads the answer.  Then both die: signed, not recorded.
	sleep 0.2
	kill -STOP "$LLD_PID" && kill -CONT $KH || return 1
	for i in $(seq 1 50); do
		j=$(journal_of_order "${KILL3_ORD##*/}")
		[ "$j" = 1 ] && break
		sleep 0.1
	done
	lld_kill KILL
	wait "$FIN_PID" 2>/dev/null
	echo "journal rows for the order before the kill: $j"
	[ "$j" = 1 ] || { echo "the keyholder signed nothing"; return 1; }
	[ "$(certs_of_order "${KILL3_ORD##*/}")" = 0 ] || return 1
	valid_after_restart "$KILL3_ORD" || return 1
	# the certificate served is the one signed before the crash
	[ "$(sql "$CA/letterlockd.db" "SELECT serial FROM certs WHERE order_id = ${KILL3_ORD##*/}")" = \
		"$(sql "$CA/keyholder.db" "SELECT serial FROM issued WHERE order_id = ${KILL3_ORD##*/}")" ]
}
t "kill -9 after the keyholder signed, before the store recorded: after restart the same certificate, once" \
	t_kill_signed

t_one_cert() {
	local o c j
	for o in "$ALICE_ORD" "$KILL1_ORD" "$KILL2_ORD" "$KILL3_ORD"; do
		c=$(certs_of_order "${o##*/}")
		j=$(journal_of_order "${o##*/}")
		echo "order ${o##*/}: $c certificate row(s), $j journal row(s)"
		[ "$c" = 1 ] && [ "$j" = 1 ] || return 1
	done
	# and no certificate without an order, none twice
	sql "$CA/letterlockd.db" "SELECT count(*) = count(DISTINCT order_id) FROM certs" | grep -qx 1
}
t "exactly one certificate per order (store and keyholder journal)" t_one_cert

# ----------------------------------------------------- revocation

ocsp() { # ocsp CERT: the responder's verdict, verified against the root
	openssl ocsp -issuer "$SMIME" -cert "$1" -url "$URL/ocsp" \
		-CAfile "$ROOT" -timeout 10 2>&1
}
# ocsp_says CERT STATUS: the response verifies and gives CERT STATUS
ocsp_says() {
	ocsp "$1" >"$T/ocsp" 2>&1
	cat "$T/ocsp"
	grep -q 'Response verify OK' "$T/ocsp" && grep -q "$1: $2\$" "$T/ocsp"
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

t_ocsp_all() {
	local f bad=0
	for f in alice make bob carol1 "cert-${KILL2_ORD##*/}" \
	    "cert-${KILL3_ORD##*/}"; do
		[ -f "$T/$f.pem" ] || continue
		if ocsp_says "$T/$f.pem" good >/dev/null; then
			echo "$f (serial $(serial_of "$T/$f.pem")): good"
		else
			echo "$f (serial $(serial_of "$T/$f.pem")): $(grep "$f.pem:" "$T/ocsp")"
			bad=1
		fi
	done
	return "$bad"
}
t "OCSP: every certificate issued in this run is good (responses verify)" t_ocsp_all

t "revokeCert by the account (alice, reason superseded)" eval \
	'acme main revoke "$T/alice.pem" --reason 4 && expect http 200'
t "OCSP: alice is revoked" ocsp_says "$T/alice.pem" revoked
t "revokeCert signed with the certificate's own key (bob, no account)" eval \
	'acme eve revoke "$T/bob.pem" --cert-key "$T/bob.key" && expect http 200'
t "OCSP: bob is revoked" ocsp_says "$T/bob.pem" revoked
t "OCSP: $MAKE, not revoked, is still good" ocsp_says "$T/make.pem" good

t_crl() {
	local f serial
	curl -sS --max-time 10 -f -o "$T/crl.der" "$URL/crl/smime-ca.crl" ||
		return 1
	openssl crl -inform DER -in "$T/crl.der" -noout -text >"$T/crl.txt" ||
		return 1
	for f in alice bob; do
		serial=$(serial_of "$T/$f.pem")
		grep -q "Serial Number: $serial\$" "$T/crl.txt" ||
			{ echo "$f's serial $serial not in:"; cat "$T/crl.txt"; return 1; }
	done
	serial=$(serial_of "$T/make.pem")
	! grep -q "Serial Number: $serial\$" "$T/crl.txt" ||
		{ echo "$MAKE is listed"; return 1; }
	openssl crl -inform DER -in "$T/crl.der" -CAfile "$SMIME" -noout 2>&1 |
		tee "$T/crlv" && grep -q 'verify OK' "$T/crlv"
}
t "CRL /crl/smime-ca.crl lists alice and bob (not $MAKE), verifies with the S/MIME CA" t_crl

t_root_crl() {
	local n1 n2
	curl -sSf --max-time 10 -o "$T/root.crl" "$URL/crl/root.crl" || return 1
	openssl crl -inform DER -in "$T/root.crl" -CAfile "$ROOT" -noout \
		2>&1 | grep -q 'verify OK' || { echo "root CRL does not verify"; return 1; }
	openssl crl -inform DER -in "$T/root.crl" -out "$T/root-crl.pem" &&
		openssl crl -inform DER -in "$T/crl.der" -out "$T/smime-crl.pem" ||
		return 1
	# the whole chain checked against CRLs, as Windows/Outlook do
	openssl verify -crl_check_all -CAfile "$ROOT" -untrusted "$SMIME" \
		-CRLfile "$T/root-crl.pem" -CRLfile "$T/smime-crl.pem" \
		-purpose smimesign "$T/make.pem" || return 1
	! openssl verify -crl_check_all -CAfile "$ROOT" -untrusted "$SMIME" \
		-CRLfile "$T/root-crl.pem" -CRLfile "$T/smime-crl.pem" \
		-purpose smimesign "$T/alice.pem" || return 1
	# a new root CRL, signed with the root key, served at once
	n1=$(openssl crl -inform DER -in "$T/root.crl" -noout -crlnumber)
	sleep 1
	"$LETTERLOCKD" root-crl --dir "$CA" --days 30 || return 1
	curl -sSf --max-time 10 -o "$T/root2.crl" "$URL/crl/root.crl" || return 1
	n2=$(openssl crl -inform DER -in "$T/root2.crl" -noout -crlnumber)
	echo "CRL numbers: $n1 then $n2"
	n1=${n1#crlNumber=}
	n2=${n2#crlNumber=}
	[ "$((16#${n2#0x}))" -gt "$((16#${n1#0x}))" ]
}
t "root CRL at /crl/root.crl: verifies, the chain passes -crl_check_all (alice's revoked certificate fails it), letterlockd root-crl renews it" t_root_crl

t "revoking alice again: alreadyRevoked" \
	problem alreadyRevoked main revoke "$T/alice.pem"
# a certificate of this run, not revoked, for the refusals below: one
# whose serial number does not begin with a zero digit if there is one
victim() {
	local f
	for f in make carol1 "cert-${KILL2_ORD##*/}" "cert-${KILL3_ORD##*/}"; do
		[ -f "$T/$f.pem" ] || continue
		case $(serial_of "$T/$f.pem") in 0*) ;; *) echo "$T/$f.pem"; return ;; esac
	done
	echo "$T/make.pem"
}
VICTIM=$(victim)
t "another account may not revoke a certificate: unauthorized" eval \
	'acme eve account >/dev/null && problem unauthorized eve revoke "$VICTIM"'
t "the key of another certificate does not revoke: unauthorized" \
	problem unauthorized eve revoke "$VICTIM" --cert-key "$T/alice.key"

# ------------------------------------------------ letterlock enrol

if [ -z "${LETTERLOCK:-}" ]; then
	LETTERLOCK=$(dirname "$LETTERLOCKD")/../cli/letterlock
fi
LETTERLOCK=$(abs "$LETTERLOCK")
DAVE=dave@example.test
EHOME=$T/dave-home
enrol() { # enrol ARGS...: letterlock enrol for dave, output in $T/out
	timeout 150 "$LETTERLOCK" --home "$EHOME" enrol "$DAVE" \
		--acme "$URL/acme/directory" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--key-type p256 --timeout 60 "$@" >"$T/out" 2>&1
	local rc=$?
	cat "$T/out"
	return "$rc"
}
t_enrol() {
	local t0 t1
	"$MS" user-add "$STACK" "$DAVE" >/dev/null || return 1
	pw "$DAVE" >"$T/dave.password" && chmod 600 "$T/dave.password"
	[ -s "$T/dave.password" ] || { echo "no password for $DAVE"; return 1; }
	t0=$(date +%s%N)
	enrol --mail-password-file "$T/dave.password" || return 1
	t1=$(date +%s%N)
	# recorded, not asserted (bench/README.md keeps the figure)
	echo "# enrolment took $(((t1 - t0) / 1000000)) ms" >&3
	grep -q 'enrol: installed' "$T/out" &&
		"$LETTERLOCK" --home "$EHOME" identity list | tee "$T/ids" &&
		grep -q "$DAVE" "$T/ids"
}
exec 3>&1
t "letterlock enrol $DAVE: key made here, mailbox proven by mail, certificate installed" t_enrol
t_enrol_again() {
	enrol --mail-password-file "$T/dave.password" &&
		grep -q 'already has a certificate' "$T/out"
}
t "a second enrol of $DAVE says so and exits 0" t_enrol_again
t_enrol_sealed() {
	# the enrolled identity signs; the CA's root (trusted by enrol)
	# makes the signature valid for the receiver who trusts it too
	printf 'From: %s\r\nTo: %s\r\nSubject: hi\r\n\r\nhello\r\n' \
		"$DAVE" "$DAVE" >"$T/m.eml"
	"$LETTERLOCK" --home "$EHOME" seal -o "$T/m.sealed" "$T/m.eml" &&
		"$LETTERLOCK" --home "$EHOME" open --json "$T/m.sealed" |
		tee "$T/m.json" && grep -q '"signature": *"valid"' "$T/m.json"
}
t "$DAVE seals a message to itself and it opens with a valid signature" t_enrol_sealed
t_enrol_conf() {
	local who=frank@example.test h=$T/frank-home rc
	"$MS" user-add "$STACK" "$who" >/dev/null || return 1
	pw "$who" >"$T/frank.password" && chmod 600 "$T/frank.password"
	mkdir -p "$h"
	printf '%s\n' "[acme]" "url = $URL/acme/directory" "[mail]" \
		"imap_url = imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		"smtp_url = smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		"password_file = $T/frank.password" >"$h/letterlock.conf"
	timeout 150 "$LETTERLOCK" --home "$h" enrol "$who" --key-type p256 \
		>"$T/out" 2>&1
	rc=$?
	cat "$T/out"
	[ "$rc" -eq 0 ] && grep -q 'enrol: installed' "$T/out" || return 1
	# a misspelt key is an error, not a silent default
	echo "smtp_ulr = x" >>"$h/letterlock.conf"
	"$LETTERLOCK" --home "$h" enrol "$who" >"$T/out" 2>&1
	rc=$?
	cat "$T/out"
	[ "$rc" -eq 2 ] && grep -q 'unknown key' "$T/out"
}
t "enrol takes its settings from HOME/letterlock.conf; an unknown key there is refused" t_enrol_conf
t_enrol_badpw() {
	rm -rf "$T/erin-home"
	echo wrong >"$T/wrong.password"
	timeout 60 "$LETTERLOCK" --home "$T/erin-home" enrol carol@example.test \
		--acme "$URL/acme/directory" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--mail-password-file "$T/wrong.password" --timeout 20 \
		>"$T/out" 2>&1
	local rc=$?
	cat "$T/out"
	[ "$rc" -ne 0 ] && grep -qi 'IMAP login failed' "$T/out"
}
t "enrol with a wrong mailbox password fails naming the IMAP login" t_enrol_badpw

t_second_run() {
	local rc
	timeout 20 "$LETTERLOCKD" run --dir "$CA" --listen "127.0.0.1:$HTTP_PORT" \
		</dev/null >"$T/second.out" 2>&1
	rc=$?
	cat "$T/second.out"
	[ "$rc" -eq 3 ] && grep -q 'another letterlockd runs' "$T/second.out"
}
t "a second letterlockd run on the same directory refuses to start" t_second_run

t_still_up() {
	kill -0 "$LLD_PID" && ! grep -Eq 'AddressSanitizer|runtime error' "$LOG"
}
t "letterlockd still runs, no sanitizer report in its log" t_still_up

# ------------------------------------------------ HTTPS

t_tls() {
	lld_stop
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/https.key" -out "$T/https.pem" -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		2>/dev/null || return 1
	sed -i "/^listen = /a public_url = https://127.0.0.1:$HTTP_PORT\ntls_cert = $T/https.pem\ntls_key = $T/https.key" \
		"$CA/letterlockd.conf"
	setsid "$LETTERLOCKD" run --dir "$CA" </dev/null >>"$LOG" 2>&1 &
	LLD_PID=$!
	for _ in $(seq 1 100); do
		curl -sf --max-time 2 --cacert "$T/https.pem" -o "$T/dir.json" \
			"https://127.0.0.1:$HTTP_PORT/acme/directory" && break
		sleep 0.1
	done
	cat "$T/dir.json"
	grep -q "\"newOrder\":\"https://127.0.0.1:$HTTP_PORT/acme/new-order\"" \
		"$T/dir.json" || return 1
	# plain HTTP on the TLS port gets nowhere
	! curl -sf --max-time 5 -o /dev/null "$URL/acme/directory"
}
t "letterlockd over HTTPS ([http] tls_cert, public_url): the directory names https URLs" t_tls
t_tls_enrol() {
	local who=erin@example.test
	"$MS" user-add "$STACK" "$who" >/dev/null || return 1
	pw "$who" >"$T/erin.password" && chmod 600 "$T/erin.password"
	timeout 150 "$LETTERLOCK" --home "$T/erin-home" enrol "$who" \
		--acme "https://127.0.0.1:$HTTP_PORT/acme/directory" \
		--acme-ca-file "$T/https.pem" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--mail-password-file "$T/erin.password" --key-type p256 \
		--timeout 60 >"$T/out" 2>&1
	local rc=$?
	cat "$T/out"
	[ "$rc" -eq 0 ] && grep -q 'enrol: installed' "$T/out"
}
t "letterlock enrol over HTTPS (the CA's certificate checked with --acme-ca-file)" t_tls_enrol
t "letterlockd (HTTPS) still runs, no sanitizer report in its log" t_still_up
finish
