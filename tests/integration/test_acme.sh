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
# The harness (ports, letterlockd, acmetool, t) is lldtest.sh, shared
# with test_pkx.sh.  Functions and variables below are used through
# t(): shellcheck cannot see that.
# shellcheck disable=SC2317,SC2034,SC2016,SC1091
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"
MAKE=马克@example.test

lldtest_init acme "ACME CA end to end"
# a UTF-8 mailbox, and a domain whose CAA names another CA
export MAILSTACK_USERS=$MAKE MAILSTACK_DOMAINS=elsewhere.test
unset MAILSTACK_PASSWORD

# ------------------------------------------------------------ helpers

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

# Every certificate row of order ID in the store and in the keyholder's
# journal.
certs_of_order() {
	sql "$CA/letterlockd.db" "SELECT count(*) FROM certs WHERE order_id = $1"
}
journal_of_order() {
	sql "$CA/keyholder.db" "SELECT count(*) FROM issued WHERE order_id = $1"
}

# ------------------------------------------------------------ set-up

t_stack_up() {
	stack_up || return 1
	# elsewhere.test lets only other.test issue for it
	"$MS" dns-del "$STACK" elsewhere.test CAA &&
		"$MS" dns-add "$STACK" elsewhere.test CAA 0 issuemail '"other.test"'
}
lldtest_stack "mail stack up (with $MAKE and elsewhere.test)" t_stack_up

t_init() {
	lld_init || return 1
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
	acme main replay --user alice@example.test --token1="$ALICE_TOKEN1" &&
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
			--token1="$ALICE_TOKEN1" &&
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
