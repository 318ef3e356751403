#!/bin/bash
# test_keys.sh - keys are never lost and never handed over (issue 5,
# section 5), the whole story on the mail stack with letterlockd, one
# step after the other as a user lives it:
#
#   enrol (alice, bob) -> bob sends alice signed, time-stamped,
#   encrypted mail -> alice backs up her keys to the vault -> the CA
#   issues longer certificates, alice renews (the clock driven by
#   renew --now): a new key, the backup refreshed under the same code
#   -> bob sends again, to the new key -> alice's laptop dies (the home
#   wiped) -> restore on a new device with the recovery code: the mail
#   to the old key and to the new key both open -> a wrong code fails
#   clearly, a tampered vault blob is detected -> alice revokes her
#   current certificate: OCSP says revoked (openssl ocsp too), the
#   directory stops serving it, her home no longer signs with it, a
#   signature made afterwards with a copy of the key is not valid, and a
#   device restored afterwards knows the certificate revoked at once.
#
# Output: TAP lines, then the plan.  Exit status 0 if every case passed.
#   LETTERLOCKD, LETTERLOCK  the binaries (tests/run sets LETTERLOCK)
#
# shellcheck disable=SC2317,SC1091
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test

lldtest_init keys "keys kept, renewed, backed up, restored and revoked"
# the recovery code's derivation made cheap for the test only
# (letterlock(1): LETTERLOCK_TEST_BACKUP_KDF); never the default
export LETTERLOCK_TEST_BACKUP_KDF=10,8,1
AHOME=$T/alice-laptop
NEW=$T/alice-new-laptop
BHOME=$T/bob-home
ROOT=$CA/certs/root.pem
SMIME=$CA/certs/smime-ca.pem

# conf HOME USER: HOME/letterlock.conf for USER, with the directory and
# the TSA for send
conf() {
	ll_conf "$1" "$2" "[send]" "pkx_url = $URL/pkx/" "tsa_url = $URL/tsa" \
		"timeout = 20"
}

# delivered USER ID: the message with Message-ID <ID@example.test>
# reaches USER within 15 s; copied to $T/ID
delivered() {
	local f _
	for _ in $(seq 1 150); do
		f=$(got "$1" "$2" | head -n 1)
		[ -n "$f" ] && { cp "$f" "$T/$2"; return 0; }
		sleep 0.1
	done
	echo "$2 did not reach $1"
	return 1
}

# bob_sends ID TEXT: letterlock send from bob to alice
bob_sends() {
	printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\n%s\r\n' \
		"$BOB" "$ALICE" "$1" "$1" "$2" |
		timeout 60 "$LETTERLOCK" --home "$BHOME" send -t >"$T/send.out" 2>&1 ||
		{ cat "$T/send.out"; return 1; }
	delivered "$ALICE" "$1"
}

# signer MSG: the certificate that signed MSG, into $T/signer.pem
signer() {
	openssl cms -verify -noverify -in "$1" -signer "$T/signer.pem" \
		-out /dev/null 2>/dev/null
}

# opens HOME FILE TEXT: FILE opens in HOME, signed valid by bob, TEXT in it
opens() {
	llrun "$1" open --json -o "$T/opened" "$2"
	[ "$RC" = 0 ] && grep -q '"signature": *"valid"' "$T/out" &&
		grep -q "\"signer\": *\"$BOB\"" "$T/out" &&
		grep -q '"timestamp": *"' "$T/out" &&
		grep -q "$3" "$T/opened"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"
t_init() { lld_init && lld_validity 90; }
t "letterlockd init, certificates for 90 days" t_init
[ -f "$CA/letterlockd.conf" ] || fatal "letterlockd init failed"
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"

t_enrol() {
	conf "$AHOME" "$ALICE" && conf "$BHOME" "$BOB" || return 1
	llrun "$AHOME" enrol "$ALICE" --key-type p256 --timeout 60
	[ "$RC" = 0 ] || return 1
	llrun "$BHOME" enrol "$BOB" --key-type p256 --timeout 60
	[ "$RC" = 0 ] || return 1
	"$LETTERLOCK" --home "$AHOME" identity export-cert "$ALICE" >"$T/old.pem"
}
t "alice and bob enrol: keys made on their machines, mailboxes proven" t_enrol
[ -s "$T/old.pem" ] || fatal "alice has no certificate"

t "bob sends alice signed, time-stamped, encrypted mail (found in the directory)" \
	bob_sends one 'to the first key'
t_server_copy() {
	! grep -q 'to the first key' "$T/one" &&
		grep -qi 'application/pkcs7-mime' "$T/one" &&
		opens "$AHOME" "$T/one" 'to the first key'
}
t "the server holds ciphertext; alice opens it: bob's valid, time-stamped signature" t_server_copy

# ------------------------------------------------------------ backup

t_backup() {
	llrun "$AHOME" backup --code-file "$T/code" --timeout 60
	[ "$RC" = 0 ] && [ -s "$T/code" ] &&
		[ "$(stat -c %a "$T/code")" = 600 ]
}
t "alice backs up her keys to the vault; the recovery code goes to a 0600 file" t_backup

t_ciphertext_only() {
	local blob
	blob=$(sqlite3 "$CA/letterlockd.db" \
		"SELECT hex(blob) FROM vault ORDER BY version DESC LIMIT 1")
	[ -n "$blob" ] || { echo "no backup in the vault"; return 1; }
	# neither the key's PEM armour nor the certificate's bytes are there
	! echo "$blob" | grep -qi "$(printf 'PRIVATE KEY' | xxd -p)" &&
		! echo "$blob" | grep -qi "$(openssl x509 -in "$T/old.pem" \
			-outform DER | xxd -p | tr -d '\n' | cut -c1-64)"
}
t "the vault holds ciphertext only" t_ciphertext_only

# ------------------------------------------------------------ renewal

END=$(cert_notafter "$T/old.pem")
SOON=@$((END - 10 * 86400))
t_longer() { lld_stop && lld_validity 365 && lld_start; }
t "letterlockd restarted issuing certificates for 365 days" t_longer

t_renew() {
	llrun "$AHOME" renew --now "$SOON" --timeout 60
	[ "$RC" = 0 ] && grep -q 'renewed; the old key' "$T/out" &&
		! grep -q 'warning' "$T/out" || return 1
	"$LETTERLOCK" --home "$AHOME" identity export-cert "$ALICE" >"$T/new.pem"
	[ "$(cert_fpr "$T/new.pem")" != "$(cert_fpr "$T/old.pem")" ]
}
t "renew at ten days before the end: a new key and certificate, the backup refreshed" t_renew

t_bob_new_key() {
	llrun "$BHOME" contact lookup --pkx "$URL/pkx" --max-age 0 "$ALICE"
	[ "$RC" = 0 ] || return 1
	bob_sends two 'to the second key' || return 1
	sealed_to "$T/two" >"$T/two.rcpts"
	grep -qx "$(cert_serial "$T/new.pem")" "$T/two.rcpts" &&
		! grep -qx "$(cert_serial "$T/old.pem")" "$T/two.rcpts" ||
		{ echo "sealed to $(cat "$T/two.rcpts")"; return 1; }
}
t "bob learns the new certificate from the directory and mails the new key" t_bob_new_key

# ------------------------------------------------------------ a new device

t_wipe() {
	rm -rf "$AHOME" && [ ! -e "$AHOME" ]
}
t "alice's laptop dies: her home is gone" t_wipe

t_wrong_code() {
	conf "$T/wrong" "$ALICE"
	printf 'AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA\n' >"$T/badcode"
	llrun "$T/wrong" restore "$ALICE" --code-file "$T/badcode" --timeout 60
	[ "$RC" != 0 ] && grep -qi 'code' "$T/out" &&
		! "$LETTERLOCK" --home "$T/wrong" identity list 2>/dev/null |
		grep -q "$ALICE"
}
t "a wrong recovery code fails clearly, nothing installed" t_wrong_code

t_restore() {
	conf "$NEW" "$ALICE"
	llrun "$NEW" restore "$ALICE" --code-file "$T/code" --timeout 60
	[ "$RC" = 0 ] && grep -q 'installed 2 of 2 keys' "$T/out"
}
t "restore on a new device: mailbox proven, the code, both keys installed" t_restore

t "the mail to the first (old) key opens on the new device" \
	opens "$NEW" "$T/one" 'to the first key'
t "the mail to the second (renewed) key opens on the new device" \
	opens "$NEW" "$T/two" 'to the second key'

t_tampered() {
	"$PY" - "$CA/letterlockd.db" <<'EOF' || return 1
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
# every version: restore falls back to the older ones
for v, b in db.execute('SELECT version, blob FROM vault').fetchall():
    open('%s.%d.blob' % (sys.argv[1], v), 'wb').write(b)
    b = bytearray(b)
    b[len(b) // 2] ^= 0x01
    db.execute('UPDATE vault SET blob = ? WHERE version = ?', (bytes(b), v))
db.commit()
EOF
	conf "$T/tampered" "$ALICE"
	llrun "$T/tampered" restore "$ALICE" --code-file "$T/code" --timeout 60
	[ "$RC" = 4 ] && grep -q 'damaged or was altered' "$T/out" &&
		grep -q 'the newer backup did not open: trying version' "$T/out" &&
		! "$LETTERLOCK" --home "$T/tampered" identity list 2>/dev/null |
		grep -q "$ALICE"
}
t "blobs altered in the vault are detected (AES-GCM), the older versions tried too; nothing installed" t_tampered

t_untamper() {
	"$PY" - "$CA/letterlockd.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
for (v,) in db.execute('SELECT version FROM vault').fetchall():
    db.execute('UPDATE vault SET blob = ? WHERE version = ?',
               (open('%s.%d.blob' % (sys.argv[1], v), 'rb').read(), v))
db.commit()
EOF
}
t "(the vault's blobs put back as they were)" t_untamper

# ------------------------------------------------------------ revocation

t_revoke() {
	# a copy of the device before the revocation: a stolen laptop
	cp -a "$NEW" "$T/stolen" &&
		llrun "$NEW" revoke "$ALICE" --reason superseded --timeout 60
	[ "$RC" = 0 ]
}
t "alice revokes her current certificate (superseded)" t_revoke

t_ocsp() {
	openssl ocsp -issuer "$SMIME" -cert "$T/new.pem" -url "$URL/ocsp" \
		-CAfile "$ROOT" -resp_text >"$T/ocsp.txt" 2>&1
	cat "$T/ocsp.txt"
	grep -q 'Response verify OK' "$T/ocsp.txt" &&
		grep -q 'new.pem: revoked' "$T/ocsp.txt"
}
t "OCSP says revoked at once (openssl ocsp)" t_ocsp

t_compromise() {
	# then she learns the key was stolen: the reason may still become
	# keyCompromise (the time of the revocation stays)
	llrun "$NEW" revoke --fingerprint "$(cert_fpr "$T/new.pem")" \
		--reason keyCompromise --timeout 60
	[ "$RC" = 0 ] || return 1
	openssl ocsp -issuer "$SMIME" -cert "$T/new.pem" -url "$URL/ocsp" \
		-CAfile "$ROOT" -resp_text >"$T/ocsp2.txt" 2>&1
	grep -q 'Reason: keyCompromise' "$T/ocsp2.txt" &&
		[ "$(grep 'Revocation Time' "$T/ocsp.txt")" = \
			"$(grep 'Revocation Time' "$T/ocsp2.txt")" ] ||
		{ cat "$T/ocsp2.txt"; return 1; }
}
t "a later keyCompromise replaces the reason (OCSP says so), the revocation time stays" t_compromise

t_pkx() {
	curl -sS --max-time 10 "$URL/pkx/addr/$ALICE" >"$T/pkx.json" &&
		! grep -q "$(cert_fpr "$T/new.pem")" "$T/pkx.json" &&
		curl -sSf --max-time 10 -o /dev/null \
			"$URL/pkx/cert/$(cert_fpr "$T/new.pem")"
}
t "the directory no longer gives it for the address (still by fingerprint)" t_pkx

t_no_sign() {
	printf 'From: %s\r\nTo: %s\r\nSubject: x\r\n\r\nafter\r\n' "$ALICE" \
		"$BOB" >"$T/after.eml"
	# her first certificate is still good: she signs with that one
	llrun "$NEW" seal --sign-only -o "$T/after" "$T/after.eml"
	[ "$RC" = 0 ] && signer "$T/after" || return 1
	[ "$(cert_fpr "$T/signer.pem")" = "$(cert_fpr "$T/old.pem")" ] ||
		{ echo "signed by $(cert_fpr "$T/signer.pem")"; return 1; }
	llrun "$NEW" identity list
	grep "$(cert_fpr "$T/new.pem")" "$T/out" | grep -q revoked
}
t "alice's home no longer signs with the revoked certificate (her first one signs)" t_no_sign

t_later_sig() {
	# the stolen copy does not know yet, and signs
	llrun "$T/stolen" seal --sign-only -o "$T/stolen.msg" "$T/after.eml"
	[ "$RC" = 0 ] || return 1
	llrun "$BHOME" open --json -o /dev/null "$T/stolen.msg"
	[ "$RC" = 1 ] && grep -q '"signature": *"revoked"' "$T/out"
}
t "a signature made after the revocation (a stolen copy of the key) is not valid" t_later_sig

t_restore_after() {
	conf "$T/third" "$ALICE"
	llrun "$T/third" restore "$ALICE" --code-file "$T/code" --timeout 60
	[ "$RC" = 0 ] && grep -q "sha256 $(cert_fpr "$T/new.pem")) is revoked" \
		"$T/out" || return 1
	llrun "$T/third" identity list
	grep "$(cert_fpr "$T/new.pem")" "$T/out" | grep -q revoked
}
t "a device restored after the revocation knows it at once (OCSP at restore)" t_restore_after

finish
