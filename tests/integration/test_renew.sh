#!/bin/bash
# test_renew.sh - letterlock renew against letterlockd and the mail stack
# (issue 5, section 2), the clock driven by --now, never by sleeping:
#
#   * the CA issues 90-day certificates at first: a fresh one is not
#     due, nor 40 days before its end; --dry-run at --now ten days
#     before the end says it is due and changes nothing;
#   * the CA then issues 365-day certificates (the CA runs on the real
#     clock, so only a longer lifetime makes the successor outlive the
#     --now of the test); at --now ten days before the end: a new key (of the old key's
#     type) and certificate through the same ACME + email proof, the old
#     identity kept: mail sealed to the old key before and to the new
#     key after both open, and new mail goes to the new key only;
#   * the key directory serves the new certificate, and another user's
#     contact lookup takes it;
#   * a renewal that fails (the CA unreachable) keeps the current
#     certificate, says when it tries again, waits (exit 75) until then
#     unless --force, and succeeds after the pause;
#   * renew never asks: without a password file it refuses to start.
#
# Output: TAP lines, then the plan.  Exit status 0 if every case passed.
#   LETTERLOCKD, LETTERLOCK  the binaries (tests/run sets LETTERLOCK)
#
# shellcheck disable=SC2317,SC1091,SC2046
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test
CAROL=carol@example.test
# the recovery code's derivation made cheap for the test only
export LETTERLOCK_TEST_BACKUP_KDF=10,8,1

lldtest_init renew "letterlock renew end to end"
AHOME=$T/alice-home
BHOME=$T/bob-home

la() { "$LETTERLOCK" --home "$AHOME" "$@"; }
lb() { "$LETTERLOCK" --home "$BHOME" "$@"; }

# conf HOME USER: HOME/letterlock.conf for USER
conf() { ll_conf "$1" "$2"; }

# ids HOME ADDR: how many identities HOME holds for ADDR
ids() { "$LETTERLOCK" --home "$1" identity list | grep -c "^$2"; }

msg() { printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s\r\n' "$1" "$2" \
	"$3" "$4"; }

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"
t_init() {
	lld_init && lld_validity 90
}
t "letterlockd init, certificates for 90 days" t_init
[ -f "$CA/letterlockd.conf" ] || fatal "letterlockd init failed"
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"

t_enrol() {
	conf "$AHOME" "$ALICE" && conf "$BHOME" "$BOB" || return 1
	llrun "$AHOME" enrol "$ALICE" --key-type p256 --timeout 60
	[ "$RC" -eq 0 ] && grep -q 'enrol: installed' "$T/out" || return 1
	llrun "$BHOME" enrol "$BOB" --key-type p256 --timeout 60
	[ "$RC" -eq 0 ] && grep -q 'enrol: installed' "$T/out" || return 1
	la identity export-cert "$ALICE" >"$T/old.pem" &&
		lb trust add "$CA/certs/root.pem" >/dev/null 2>&1
	lb contact lookup --pkx "$URL/pkx" "$ALICE" >"$T/out" 2>&1 ||
		{ cat "$T/out"; return 1; }
	lb contact list | grep "$ALICE" | grep -q current
}
t "alice and bob enrol (P-256); bob finds alice's certificate in the directory" t_enrol
[ -s "$T/old.pem" ] || fatal "alice has no certificate"
END=$(cert_notafter "$T/old.pem")
SOON=@$((END - 10 * 86400))

t_before() {
	msg "$ALICE" "$ALICE" old 'sealed to the old key' >"$T/m1.eml" &&
		la seal -o "$T/m1" "$T/m1.eml" &&
		msg "$BOB" "$ALICE" old 'from bob to the old key' >"$T/b1.eml" &&
		lb seal -o "$T/b1" "$T/b1.eml" &&
		[ "$(sealed_to "$T/b1" | grep -c "$(cert_serial "$T/old.pem")")" -ge 1 ]
}
t "before the renewal, alice and bob seal mail to alice's key" t_before

# ------------------------------------------------------------ not due

t_not_due() {
	llrun "$AHOME" renew
	[ "$RC" -eq 0 ] && grep -q 'not due' "$T/out" &&
		[ "$(ids "$AHOME" "$ALICE")" -eq 1 ]
}
t "a fresh certificate is not due: renew exits 0 and changes nothing" t_not_due

t_dry() {
	llrun "$AHOME" renew --dry-run --now "$SOON"
	[ "$RC" -eq 0 ] && grep -q 'due (valid until' "$T/out" &&
		grep -q 'dry-run' "$T/out" &&
		[ "$(ids "$AHOME" "$ALICE")" -eq 1 ]
}
t "--dry-run at --now ten days before the end: due, nothing changes" t_dry

t_edges() {
	llrun "$AHOME" renew --dry-run --now "@$((END - 31 * 86400))"
	[ "$RC" -eq 0 ] && grep -q 'not due' "$T/out" || return 1
	llrun "$AHOME" renew --dry-run --now "@$((END - 29 * 86400))"
	[ "$RC" -eq 0 ] && grep -q 'due (valid until' "$T/out"
}
t "not due 31 days before the end, due 29 days before" t_edges

t_no_password() {
	# alice's home, due, with a configuration that names no password
	grep -v '^password_file' "$AHOME/letterlock.conf" >"$T/nopw.conf"
	llrun "$AHOME" renew --config "$T/nopw.conf" --now "$SOON"
	[ "$RC" -eq 2 ] && grep -q 'does not ask' "$T/out" || return 1
	# nothing due: nothing needs the mailbox, no complaint
	llrun "$AHOME" renew --config "$T/nopw.conf"
	[ "$RC" -eq 0 ] && grep -q 'not due' "$T/out"
}
t "renew never asks for the mail password: without a file it exits 2" t_no_password

# ------------------------------------------------------------ failure

t_fail() {
	local bad=$T/bad.conf
	sed "s|^url = .*|url = http://127.0.0.1:1/acme/directory|" \
		"$AHOME/letterlock.conf" >"$bad"
	llrun "$AHOME" renew --config "$bad" --now "$SOON" --timeout 10
	[ "$RC" -eq 6 ] && grep -q 'current certificate stays, next try after' \
		"$T/out" && [ "$(ids "$AHOME" "$ALICE")" -eq 1 ] || return 1
	la identity export-cert "$ALICE" | cmp -s - "$T/old.pem" ||
		{ echo "the current certificate changed"; return 1; }
	# at once again: waits
	llrun "$AHOME" renew --config "$bad" --now "$SOON" --timeout 10
	[ "$RC" -eq 75 ] && grep -q '1 renewal attempt failed, next try after' \
		"$T/out" || return 1
	# --force tries anyway (and fails again: the pause doubles)
	llrun "$AHOME" renew --config "$bad" --now "$SOON" --force --timeout 10
	[ "$RC" -eq 6 ] && grep -q "^$ALICE 2 $((${SOON#@} + 7200))\$" \
		"$AHOME/renewal"
}
t "the CA unreachable: exit 6, current certificate kept, retried after 1 h, then 2 h" t_fail

t_wait_good_ca() {
	# the CA is back, but the pause is not over
	llrun "$AHOME" renew --now "$SOON"
	[ "$RC" -eq 75 ] && [ "$(ids "$AHOME" "$ALICE")" -eq 1 ]
}
t "the CA back within the pause: renew waits (exit 75)" t_wait_good_ca

# ------------------------------------------------------------ renewal

t_longer() {
	lld_stop && lld_validity 365 && lld_start
}
t "letterlockd restarted issuing certificates for 365 days" t_longer

LATER=@$((${SOON#@} + 3 * 3600))
t_renew() {
	llrun "$AHOME" renew --now "$LATER" --timeout 60
	[ "$RC" -eq 0 ] && grep -q 'renew: installed' "$T/out" &&
		grep -q "old key (sha256 $(cert_fpr "$T/old.pem")) stays" \
			"$T/out" || return 1
	[ "$(ids "$AHOME" "$ALICE")" -eq 2 ] &&
		! grep -q "$ALICE" "$AHOME/renewal"
}
t "after the pause: renewed through the email proof, the old identity kept, the failure forgotten" t_renew

t_new_key() {
	la identity export-cert "$ALICE" >"$T/new.pem" || return 1
	! cmp -s "$T/new.pem" "$T/old.pem" || { echo "same certificate"; return 1; }
	[ "$(openssl x509 -in "$T/new.pem" -noout -pubkey | sha256sum)" != \
		"$(openssl x509 -in "$T/old.pem" -noout -pubkey | sha256sum)" ] ||
		{ echo "the same key"; return 1; }
	openssl x509 -in "$T/new.pem" -noout -text | grep -q 'ASN1 OID: prime256v1'
}
t "the new certificate has a new key of the old key's type (P-256)" t_new_key

t_both_open() {
	msg "$ALICE" "$ALICE" new 'sealed to the new key' >"$T/m2.eml" &&
		la seal -o "$T/m2" "$T/m2.eml" || return 1
	[ "$(sealed_to "$T/m2")" = "$(cert_serial "$T/new.pem")" ] ||
		{ echo "m2 is for $(sealed_to "$T/m2")"; return 1; }
	la open --json -o "$T/m1.out" "$T/m1" >"$T/m1.json" &&
		grep -q 'sealed to the old key' "$T/m1.out" &&
		la open --json -o "$T/b1.out" "$T/b1" >"$T/b1.json" &&
		grep -q 'from bob to the old key' "$T/b1.out" &&
		la open --json -o "$T/m2.out" "$T/m2" >"$T/m2.json" &&
		grep -q 'sealed to the new key' "$T/m2.out" &&
		grep -q '"signature": *"valid"' "$T/m2.json"
}
t "mail to the old key and to the new key both open; new mail goes to the new key only" t_both_open

t_pkx() {
	local fpr
	fpr=$(cert_fpr "$T/new.pem")
	curl -sS --max-time 20 "$URL/pkx/addr/$ALICE" | grep -q "$fpr" ||
		{ echo "the directory does not serve $fpr"; return 1; }
	lb contact lookup --pkx "$URL/pkx" --max-age 0 "$ALICE" >"$T/out" 2>&1 ||
		{ cat "$T/out"; return 1; }
	lb contact list | grep "$fpr" | grep -q current || return 1
	msg "$BOB" "$ALICE" new 'from bob to the new key' >"$T/b2.eml" &&
		lb seal -o "$T/b2" "$T/b2.eml" &&
		sealed_to "$T/b2" | grep -qx "$(cert_serial "$T/new.pem")" &&
		la open -o "$T/b2.out" "$T/b2" >/dev/null &&
		grep -q 'from bob to the new key' "$T/b2.out"
}
t "the directory serves the new certificate; bob's lookup takes it and his next mail opens" t_pkx

t_not_due_after() {
	llrun "$AHOME" renew --now "$LATER"
	[ "$RC" -eq 0 ] && grep -q 'not due' "$T/out" &&
		[ "$(ids "$AHOME" "$ALICE")" -eq 2 ]
}
t "once renewed, the new certificate is not due" t_not_due_after

t_interrupted() {
	local newest
	# the run stops right after the CA took the request (a crash)
	LETTERLOCK_TEST_EXIT_AFTER_FINALIZE=1 llrun "$AHOME" renew --force \
		--timeout 60
	[ "$RC" = 6 ] && [ "$(ids "$AHOME" "$ALICE")" -eq 2 ] || return 1
	# the CA issued it, and its directory already gives it
	curl -sS --max-time 20 "$URL/pkx/addr/$ALICE" >"$T/pkx.json" &&
		newest=$("$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))["certificates"]
print(max(c, key=lambda x: x["notAfter"])["fingerprint"])' "$T/pkx.json") ||
		return 1
	# the next run (not due, not forced) finishes that order: no new
	# key, no new order, the certificate senders already see installed
	llrun "$AHOME" renew --timeout 60
	[ "$RC" = 0 ] && grep -q 'earlier renewal was not finished' "$T/out" &&
		grep -q 'finishing the order an earlier run left' "$T/out" &&
		! grep -q 'generating' "$T/out" &&
		[ "$(ids "$AHOME" "$ALICE")" -eq 3 ] || return 1
	[ "$("$LETTERLOCK" --home "$AHOME" identity export-cert "$ALICE" |
		openssl x509 -noout -fingerprint -sha256 |
		sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')" = "$newest" ] ||
		{ echo "installed is not $newest"; return 1; }
	# and once installed, it is not done again
	llrun "$AHOME" renew
	[ "$RC" = 0 ] && grep -q 'not due' "$T/out"
}
t "a renewal that stops after finalize: its key was kept, the next renew installs the certificate the CA issued" t_interrupted

# carol's mailbox, for a home that holds two addresses
as_carol() {
	printf '%s\n' --mail-user "$CAROL" --mail-password-file "$T/$CAROL.password"
}
t_stale_backup() {
	local h=$T/two
	"$MS" user-add "$STACK" "$CAROL" >/dev/null &&
		pw "$CAROL" >"$T/$CAROL.password" &&
		chmod 600 "$T/$CAROL.password" || return 1
	ll_conf "$h" "$ALICE"
	llrun "$h" enrol "$ALICE" --key-type p256 --timeout 60
	[ "$RC" = 0 ] || return 1
	llrun "$h" enrol "$CAROL" --key-type p256 --timeout 60 $(as_carol)
	[ "$RC" = 0 ] || return 1
	# the home's backup is made for carol
	llrun "$h" backup "$CAROL" --code-file "$T/two.code" --timeout 60 \
		$(as_carol)
	[ "$RC" = 0 ] || return 1
	# an hour later: the proof of carol is no longer fresh
	sql "$CA/letterlockd.db" "UPDATE challenges SET validated = validated - 7200
		WHERE authz IN (SELECT id FROM authzs WHERE email = '$CAROL')" ||
		return 1
	# renewing alice proves alice only: the vault refuses carol's backup
	llrun "$h" renew "$ALICE" --force --timeout 60
	[ "$RC" = 6 ] && grep -q 'renewed; the old key' "$T/out" &&
		grep -q 'the backup does not hold the new key yet' "$T/out" &&
		grep -q '^backup 1 ' "$h/renewal" || return 1
	# the next run (nothing due) tries again, with carol's mailbox now
	llrun "$h" renew "$ALICE" --timeout 60 $(as_carol)
	[ "$RC" = 0 ] && grep -q 'refreshing it' "$T/out" &&
		! grep -q '^backup ' "$h/renewal" || return 1
	# and the backup holds the renewed key: restore it elsewhere
	ll_conf "$T/two-restored" "$CAROL"
	llrun "$T/two-restored" restore "$CAROL" --code-file "$T/two.code" \
		--timeout 60
	[ "$RC" = 0 ] && grep -q 'installed 3 of 3 keys' "$T/out"
}
t "a backup the renewal could not refresh (another address's): exit 6, flagged, refreshed by the next run" t_stale_backup

t_self_signed() {
	local h=$T/self
	"$LETTERLOCK" --home "$h" identity new --email "$ALICE" \
		--self-signed --key ec-p256 >/dev/null || return 1
	conf "$h" "$ALICE"
	llrun "$h" renew --now "$SOON"
	[ "$RC" -eq 0 ] && grep -q 'no CA-issued certificate' "$T/out"
}
t "a home with only a self-signed identity has nothing to renew" t_self_signed

finish
