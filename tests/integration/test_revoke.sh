#!/bin/bash
# test_revoke.sh - revocation end to end against letterlockd and the
# mail stack (scripts/mailstack):
#
#   * dave enrols, seals a message with an RFC 3161 time-stamp and one
#     without;
#   * `letterlock revoke --reason superseded` from the home that holds
#     the certificate: OCSP answers revoked at once (letterlock and
#     `openssl ocsp` as the peer), with the reason and the time; the CRL
#     lists it; PKX no longer gives it by address, still by fingerprint;
#     the home refuses to sign with it;
#   * a reader's `open`: the time-stamped message still valid, the one
#     without a token and one signed after the revocation (by a copy of
#     the home made before it: a stolen laptop) not valid; --offline and
#     --require-revocation-status;
#   * a lost device: a second home with no certificate revokes dave's
#     next certificate, fetched from PKX, after a fresh mailbox proof,
#     with reason keyCompromise: even its time-stamped message is then
#     not valid; an account without a fresh proof is refused.
#
# TAP output; exit 0 when every case passed.  Needs root and the
# packages of scripts/setup; skips otherwise.  LETTERLOCK (first
# argument or the environment): the letterlock binary; lldtest.sh finds
# letterlockd next to it.
# shellcheck disable=SC2317,SC2034,SC1091
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] && LETTERLOCK=$1
. "$here/tap.sh"
. "$here/lldtest.sh"

lldtest_init revoke "revocation end to end"
export MAILSTACK_USERS=dave@example.test
unset MAILSTACK_PASSWORD
DAVE=dave@example.test
H1=$T/laptop # dave's home
H2=$T/phone # dave's other device, without the certificate
H3=$T/tablet # restored from the backup before the second certificate
export LETTERLOCK_TEST_BACKUP_KDF=10,8,1
R=$T/reader # someone dave writes to
ERR=urn:ietf:params:acme:error:

lldtest_stack "mail stack up"
t "letterlockd init" lld_init
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd did not start"
ROOT=$CA/certs/root.pem
SMIME=$CA/certs/smime-ca.pem

ll() { # ll HOME ARGS...: letterlock with HOME, output in $T/out
	local h=$1 rc
	shift
	timeout 150 "$LETTERLOCK" --home "$h" "$@" >"$T/out" 2>&1
	rc=$?
	cat "$T/out"
	return "$rc"
}
# proving ARGS: the CA and mailbox options every proving command takes
proving=()
t_setup() {
	pw "$DAVE" >"$T/dave.password" && chmod 600 "$T/dave.password"
	proving=(--acme "$URL/acme/directory"
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX"
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT"
		--mail-password-file "$T/dave.password" --timeout 60)
	ll "$R" trust add "$ROOT"
}
t "dave's mailbox password; the reader trusts the CA's root" t_setup

enrol() { ll "$H1" enrol "$DAVE" --key-type p256 "${proving[@]}"; }
# cert_of HOME OUT: dave's current certificate in HOME, PEM, into OUT
cert_of() { "$LETTERLOCK" --home "$1" identity export-cert "$DAVE" >"$2"; }
fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
msg() { printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n' "$DAVE" "$DAVE" "$1"; }
# opened FILE [OPTIONS]: the reader's `open --json`, in $T/j
opened() {
	local f=$1
	shift
	"$LETTERLOCK" --home "$R" open --json --no-harvest "$@" "$f" >"$T/j" 2>"$T/e"
	local rc=$?
	cat "$T/j" "$T/e"
	return "$rc"
}
js() { jq -r "$1" "$T/j"; }

t_enrol() {
	enrol && grep -q 'enrol: installed' "$T/out" && cert_of "$H1" "$T/c1.pem" &&
		openssl x509 -in "$T/c1.pem" -noout -ext authorityInfoAccess |
		grep -q "OCSP - URI:$URL/ocsp"
}
t "dave enrols; the certificate names the OCSP responder" t_enrol
C1=$(fpr "$T/c1.pem")

t_seal() {
	msg stamped >"$T/m.eml" && msg plain >"$T/p.eml" &&
		ll "$H1" seal --sign-only --tsa "$URL/tsa" --require-timestamp \
			-o "$T/stamped.eml" "$T/m.eml" &&
		ll "$H1" seal --sign-only -o "$T/plain.eml" "$T/p.eml" &&
		cp -a "$H1" "$T/stolen"
}
t "dave seals one message with a time-stamp and one without (and the laptop is copied)" t_seal

t_before() {
	"$LETTERLOCK" --home "$T/before" trust add "$ROOT" >/dev/null &&
		R=$T/before opened "$T/plain.eml" &&
		[ "$(js .signature)" = valid ] &&
		[ "$(js .revocation.status)" = good ] &&
		[ "$(js .revocation.source)" = ocsp ]
}
t "before: a reader's open asks OCSP: good, signature valid" t_before

t_offline() {
	opened "$T/plain.eml" --offline && [ "$(js .signature)" = valid ] &&
		[ "$(js .revocation.status)" = unknown ] || return 1
	opened "$T/plain.eml" --offline --require-revocation-status
	[ $? -eq 1 ] && [ "$(js .signature)" = untrusted ]
}
t "--offline: status unknown, signature stands; with --require-revocation-status it does not" t_offline

t_pkx_before() {
	curl -sS "$URL/pkx/addr/$DAVE" | tee "$T/pkx.json" &&
		[ "$(jq -r '.certificates[0].fingerprint' "$T/pkx.json")" = "$C1" ]
}
t "PKX serves the certificate by address" t_pkx_before

t_backup() {
	ll "$H1" backup --code-file "$T/code" "${proving[@]}" &&
		grep -q 'stored in the vault as version 1' "$T/out"
}
t "dave backs up his keys to the vault" t_backup

# mark HOME FPR: how HOME knows FPR revoked (local: its own mark)
mark() {
	sqlite3 "$1/letterlock.db" \
		"SELECT status || ' ' || source FROM revocation WHERE fpr = '$2'"
}

# ------------------------------------------------------- revocation

t_revoke() {
	# times are whole seconds: a token of the same second as the
	# revocation does not prove the signature older
	sleep 1
	ll "$H1" revoke "$DAVE" --reason superseded "${proving[@]}" &&
		grep -q 'revoke: certificate .* revoked (superseded)' "$T/out" &&
		grep -q 'run letterlock backup --refresh' "$T/out"
}
t "letterlock revoke --reason superseded from the home that holds it" t_revoke

t_restored_knows() {
	ll "$H1" backup --refresh "${proving[@]}" &&
		grep -q 'stored in the vault as version 2' "$T/out" || return 1
	ll "$H3" restore "$DAVE" --code-file "$T/code" "${proving[@]}" &&
		grep -q '1 certificate revoked from the home the backup was made on' "$T/out" &&
		[ "$(mark "$H3" "$C1")" = "revoked local" ]
}
t "backup --refresh takes the revocation mark along: a home restored from it has it as its own" t_restored_knows

t_ocsp_peer() {
	openssl ocsp -issuer "$SMIME" -cert "$T/c1.pem" -url "$URL/ocsp" \
		-CAfile "$ROOT" -resp_text >"$T/ocsp.txt" 2>&1
	cat "$T/ocsp.txt"
	grep -q 'Response verify OK' "$T/ocsp.txt" &&
		grep -q "c1.pem: revoked" "$T/ocsp.txt" &&
		grep -q 'Reason: superseded' "$T/ocsp.txt" &&
		grep -q 'Revocation Time' "$T/ocsp.txt"
}
t "openssl ocsp (the peer): revoked at once, reason superseded, with its time" t_ocsp_peer

t_crl() {
	curl -sS -o "$T/crl.der" "$URL/crl/smime-ca.crl" &&
		openssl crl -inform DER -in "$T/crl.der" -noout -text >"$T/crl.txt" &&
		grep -qi "Serial Number: *$(openssl x509 -in "$T/c1.pem" -noout -serial | sed 's/serial=//')" "$T/crl.txt" &&
		grep -q 'Superseded' "$T/crl.txt"
}
t "the CRL lists it, reason superseded" t_crl

t_pkx_after() {
	curl -sS "$URL/pkx/addr/$DAVE" | tee "$T/pkx.json" &&
		[ "$(jq '.certificates | length' "$T/pkx.json")" = 0 ] &&
		curl -sSf -o "$T/byfpr.der" "$URL/pkx/cert/$C1" &&
		[ "$(openssl x509 -inform DER -in "$T/byfpr.der" -noout -fingerprint -sha256)" = \
			"$(openssl x509 -in "$T/c1.pem" -noout -fingerprint -sha256)" ]
}
t "PKX: gone from the address lookup at once, still there by fingerprint" t_pkx_after

t_no_sign() {
	! ll "$H1" seal --sign-only -o "$T/x.eml" "$T/m.eml" &&
		grep -q 'revoked' "$T/out" && [ ! -s "$T/x.eml" ]
}
t "the revoking home refuses to sign with it" t_no_sign

t_stamped_ok() {
	opened "$T/stamped.eml" && [ "$(js .signature)" = valid ] &&
		[ "$(js .revocation.status)" = revoked ] &&
		[ "$(js .revocation.reason)" = superseded ] &&
		[ "$(js .revocation.time)" != null ] &&
		[ "$(js .timestamp)" != null ]
}
t "reader: the time-stamped message made before still opens valid (revocation revoked, superseded)" t_stamped_ok

t_plain_bad() {
	opened "$T/plain.eml"
	[ $? -eq 1 ] && [ "$(js .signature)" = revoked ] || return 1
	"$LETTERLOCK" --home "$R" open --no-harvest -o /dev/null "$T/plain.eml" 2>"$T/e"
	cat "$T/e"
	grep -q 'signature revoked by dave@example.test (certificate revoked at 20.*, superseded)' "$T/e"
}
t "reader: the message without a time-stamp is not valid (revoked)" t_plain_bad

t_after_bad() {
	msg after >"$T/a.eml" &&
		ll "$T/stolen" seal --sign-only --tsa "$URL/tsa" -o "$T/after.eml" "$T/a.eml" || return 1
	opened "$T/after.eml"
	[ $? -eq 1 ] && [ "$(js .signature)" = revoked ] &&
		[ "$(js .timestamp)" != null ]
}
t "reader: a message signed after the revocation (copy of the laptop, even time-stamped) is refused" t_after_bad

t_cached() {
	opened "$T/plain.eml" --offline
	[ $? -eq 1 ] && [ "$(js .revocation.source)" = cache ]
}
t "reader: the revoked answer is kept in the home (--offline still knows)" t_cached

# ------------------------------------------------------- lost device

t_enrol2() {
	enrol && grep -q 'enrol: installed' "$T/out" && cert_of "$H1" "$T/c2.pem" &&
		[ "$(fpr "$T/c2.pem")" != "$C1" ] &&
		ll "$H1" seal --sign-only --tsa "$URL/tsa" --require-timestamp \
			-o "$T/stamped2.eml" "$T/m.eml"
}
t "dave enrols again (the revoked certificate is not current) and seals with a time-stamp" t_enrol2
C2=$(fpr "$T/c2.pem")

t_unauthorized() {
	acme eve account || return 1
	problem unauthorized eve revoke "$T/c2.pem" || return 1
	# a proof of the mailbox older than an hour does not do
	proven "$DAVE" eve || return 1
	sql "$CA/letterlockd.db" "UPDATE challenges SET validated = validated - 3700
		WHERE authz = (SELECT id FROM authzs WHERE order_id =
		(SELECT max(id) FROM orders))" || return 1
	problem unauthorized eve revoke "$T/c2.pem"
}
t "another account may not revoke it, nor with a mailbox proof older than an hour" t_unauthorized

t_lost() {
	ll "$H2" revoke "$DAVE" --reason keyCompromise "${proving[@]}" &&
		grep -q 'not in this home: proving the mailbox' "$T/out" &&
		grep -q 'revoked (keyCompromise)' "$T/out"
}
t "lost device: the phone revokes dave's current certificate from PKX after a mailbox proof (keyCompromise)" t_lost

t_lost_backup() {
	# the tablet, restored before the second certificate, has a backup
	# key: its revocation (with a mailbox proof) refreshes the backup
	ll "$H3" revoke --fingerprint "$C2" "${proving[@]}" &&
		grep -q 'sealing the backup again with the revocation' "$T/out" &&
		grep -q 'stored in the vault as version 3' "$T/out" || return 1
	ll "$T/restored" restore "$DAVE" --code-file "$T/code" "${proving[@]}" &&
		[ "$(mark "$T/restored" "$C2")" = "revoked local" ]
}
t "a revocation after a fresh mailbox proof refreshes the backup by itself; a home restored from it knows" t_lost_backup

t_lost_ocsp() {
	openssl ocsp -issuer "$SMIME" -cert "$T/c2.pem" -url "$URL/ocsp" \
		-CAfile "$ROOT" >"$T/ocsp.txt" 2>&1
	cat "$T/ocsp.txt"
	grep -q "c2.pem: revoked" "$T/ocsp.txt" &&
		grep -q 'Reason: keyCompromise' "$T/ocsp.txt" &&
		[ "$(curl -sS "$URL/pkx/addr/$DAVE" | jq '.certificates | length')" = 0 ]
}
t "OCSP: revoked, keyCompromise; PKX lists nothing for dave" t_lost_ocsp

t_compromise() {
	opened "$T/stamped2.eml"
	[ $? -eq 1 ] && [ "$(js .signature)" = revoked ] &&
		[ "$(js .revocation.reason)" = keyCompromise ] &&
		[ "$(js .timestamp)" != null ]
}
t "reader: after keyCompromise even the time-stamped message is not valid" t_compromise

t_laptop_learns() {
	# the laptop has not marked it; its open learns it from OCSP, and
	# then no longer signs with it
	"$LETTERLOCK" --home "$H1" open --json "$T/stamped2.eml" >"$T/j"
	[ "$(js .signature)" = revoked ] || return 1
	! ll "$H1" seal --sign-only -o "$T/y.eml" "$T/m.eml" && grep -q revoked "$T/out"
}
t "the laptop learns it from OCSP when opening, and then refuses to sign" t_laptop_learns

t_twice() {
	ll "$H2" revoke --fingerprint "$C2" "${proving[@]}" &&
		grep -q 'revoked already' "$T/out"
}
t "revoking again says it was revoked already" t_twice

t_still_up() { kill -0 "$LLD_PID" && ! grep -q 'Sanitizer' "$LOG"; }
t "letterlockd still runs, no sanitizer report" t_still_up
finish
