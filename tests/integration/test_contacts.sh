#!/bin/bash
# test_contacts.sh - contacts harvested from verified signed mail, and a
# recipient's key change that is recorded and shown, never silently
# used (issue 4, section 4), with certificates from a letterlockd CA:
#
#   * bob opens alice's signed mail: her certificate becomes a contact
#     (harvested, current; open --json: signer_key new, then known); a
#     certificate the message carries that is not the signer's is not
#     taken; a message signed under an untrusted root adds nothing;
#   * alice signs with a new key: bob's open says signer_key changed,
#     the key waits as pending; bob's next sealed mail to alice is
#     still encrypted to her old key only (checked with openssl cms);
#   * contact accept: the new key is current, the old one replaced, and
#     the next mail is encrypted to the new key;
#   * --no-harvest leaves the contacts alone.
#
# Output: TAP lines, then the plan.  Exit status 0 if every case passed.
#   LETTERLOCKD, LETTERLOCK  the binaries (tests/run sets LETTERLOCK;
#                LETTERLOCKD defaults to its tree's)
#
# shellcheck disable=SC2317,SC1091
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"

abs() { case $1 in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }
LETTERLOCK=$(abs "${LETTERLOCK:-${BUILD:-build}/src/cli/letterlock}")
LETTERLOCKD=$(abs "${LETTERLOCKD:-$(dirname "$(dirname "$LETTERLOCK")")/service/letterlockd}")
for p in openssl python3; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "ok 1 - contacts # SKIP missing $p (run scripts/setup)"
		echo "1..1"
		exit 0
	fi
done

tap_init contacts


CA=$T/ca
"$LETTERLOCKD" init --dir "$CA" --base-url http://127.0.0.1:1 \
	>"$T/init.out" 2>&1 || bail "letterlockd init: $(cat "$T/init.out")"
"$LETTERLOCKD" init --dir "$T/other" --base-url http://127.0.0.1:1 \
	>>"$T/init.out" 2>&1 || bail "letterlockd init: $(cat "$T/init.out")"
ROOT=$CA/certs/root.pem

ll() { "$LETTERLOCK" --home "$T/$1" "${@:2}"; }

# issue NAME ADDR [CADIR]: a P-256 key and certificate, $T/NAME.{key,pem}
issue() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -subj "/CN=$2" \
		-addext "subjectAltName=email:$2" -out "$T/$1.csr" 2>/dev/null &&
		"$LETTERLOCKD" issue --dir "${3:-$CA}" --email "$2" \
			--csr "$T/$1.csr" -o "$T/$1.pem" >/dev/null
}

fpr() { openssl x509 -in "$T/$1.pem" -noout -fingerprint -sha256 |
	sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'; }

msg() {
	printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n' "$1" "$2" "$3"
}

# json_of FILE: bob's open --json of FILE
json_of() { ll bob open --json "$1" 2>/dev/null; }

t_setup() {
	issue alice1 alice@example.test && issue bob bob@example.test &&
		issue alice2 alice@example.test &&
		issue mallory alice@example.test "$T/other" &&
		ll alice identity import-pem "$T/alice1.key" "$T/alice1.pem" &&
		ll alice2 identity import-pem "$T/alice2.key" "$T/alice2.pem" &&
		ll mallory identity import-pem "$T/mallory.key" \
			"$T/mallory.pem" &&
		ll bob identity import-pem "$T/bob.key" "$T/bob.pem" &&
		ll bob trust add "$ROOT" && ll alice trust add "$ROOT" &&
		msg alice@example.test bob@example.test one >"$T/m1" &&
		ll alice seal --sign-only -o "$T/s1.eml" "$T/m1" &&
		ll alice2 seal --sign-only -o "$T/s2.eml" "$T/m1" &&
		ll mallory seal --sign-only -o "$T/s3.eml" "$T/m1"
}

t_no_harvest() {
	local j
	j=$(ll bob open --json --no-harvest "$T/s1.eml" 2>/dev/null) &&
		echo "$j" && grep -q '"signer_key":"new"' <<<"$j" &&
		[ -z "$(ll bob contact list)" ]
}

t_untrusted() {
	ll bob open "$T/s3.eml" >/dev/null 2>&1
	ll bob contact list
	[ -z "$(ll bob contact list)" ]
}

t_harvest() {
	local j
	j=$(json_of "$T/s1.eml") && echo "$j" &&
		grep -q '"signer_key":"new"' <<<"$j" &&
		ll bob contact list | tee /dev/stderr |
		grep -qx "alice@example.test $(fpr alice1) current harvested until .*" &&
		[ "$(ll bob contact list | wc -l)" = 1 ] &&
		j=$(json_of "$T/s1.eml") && grep -q '"signer_key":"known"' <<<"$j"
}

# the recipients' keys of an enveloped message: the SKIs or serials of
# its RecipientInfos, as openssl cms lists them
decrypts_with() {
	openssl cms -decrypt -in "$1" -inkey "$T/$2.key" -recip "$T/$2.pem" \
		-out /dev/null 2>/dev/null
}

t_change_pending() {
	local j
	j=$(json_of "$T/s2.eml") && echo "$j" &&
		grep -q '"signer_key":"changed"' <<<"$j" &&
		grep -q '"signature":"valid"' <<<"$j" &&
		ll bob contact list | tee /dev/stderr |
		grep -qx "alice@example.test $(fpr alice2) pending harvested until .*" &&
		ll bob contact list |
		grep -qx "alice@example.test $(fpr alice1) current harvested until .*"
}

t_seal_old_key() {
	msg bob@example.test alice@example.test two >"$T/m2" &&
		ll bob seal --cbc -o "$T/e1.eml" "$T/m2" &&
		decrypts_with "$T/e1.eml" alice1 &&
		! decrypts_with "$T/e1.eml" alice2
}

t_accept() {
	ll bob contact accept alice@example.test "$(fpr alice2)" &&
		ll bob contact list | tee /dev/stderr |
		grep -qx "alice@example.test $(fpr alice2) current harvested until .*" &&
		ll bob contact list |
		grep -qx "alice@example.test $(fpr alice1) replaced harvested until .*" &&
		ll bob seal --cbc -o "$T/e2.eml" "$T/m2" &&
		decrypts_with "$T/e2.eml" alice2 &&
		! decrypts_with "$T/e2.eml" alice1
}

# the old key's mail again: no change back
t_old_again() {
	local j
	j=$(json_of "$T/s1.eml") && echo "$j" &&
		grep -q '"signer_key":"changed"' <<<"$j" &&
		ll bob contact list |
		grep -qx "alice@example.test $(fpr alice2) current harvested until .*"
}

# SMIMECapabilities in signed mail (doc/decisions.md): never lower what
# the store knows of a contact, raise it only under the current key.
# cipher_of WHO FILE: the content cipher WHO's open --json reports
cipher_of() {
	ll "$1" open --json "$2" 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["cipher"])'
}

# bob_seals_to ADDR WHO CIPHER: bob's sealed mail to ADDR is read by WHO
# with CIPHER
bob_seals_to() {
	msg bob@example.test "$1" caps >"$T/mcaps" &&
		ll bob seal -o "$T/ecaps.eml" "$T/mcaps" &&
		echo "cipher: $(cipher_of "$2" "$T/ecaps.eml")" &&
		[ "$(cipher_of "$2" "$T/ecaps.eml")" = "$3" ]
}

t_caps_setup() {
	issue carol carol@example.test && issue dave dave@example.test &&
		ll carol identity import-pem "$T/carol.key" "$T/carol.pem" &&
		ll dave identity import-pem "$T/dave.key" "$T/dave.pem" &&
		ll carol trust add "$ROOT" && ll dave trust add "$ROOT" &&
		ll bob contact add --caps aes256-gcm "$T/carol.pem" &&
		ll bob contact add "$T/dave.pem" &&
		bob_seals_to carol@example.test carol aes-256-gcm &&
		bob_seals_to dave@example.test dave aes-256-cbc
}

t_caps_absent() {
	local j
	local -a chain=()
	# the certificates after carol's own in her file, if any
	awk 'n > 0; /END CERTIFICATE/ { n++ }' "$T/carol.pem" >"$T/carol.chain"
	[ -s "$T/carol.chain" ] && chain=(-certfile "$T/carol.chain")
	printf 'hello\r\n' >"$T/body" &&
		openssl cms -sign -nosmimecap -text -signer "$T/carol.pem" \
			-inkey "$T/carol.key" "${chain[@]}" \
			-from carol@example.test -to bob@example.test \
			-subject nocaps -in "$T/body" -out "$T/nocaps.eml" &&
		j=$(json_of "$T/nocaps.eml") && echo "$j" &&
		grep -q '"signature":"valid"' <<<"$j" &&
		bob_seals_to carol@example.test carol aes-256-gcm
}

t_caps_raise() {
	local j
	msg dave@example.test bob@example.test gcm >"$T/md" &&
		ll dave seal --sign-only -o "$T/sd.eml" "$T/md" &&
		j=$(json_of "$T/sd.eml") && echo "$j" &&
		grep -q '"signature":"valid"' <<<"$j" &&
		bob_seals_to dave@example.test dave aes-256-gcm
}

tcase "alice (two keys), bob; a mallory key for alice's address under another root" t_setup
tcase "open --no-harvest: signer_key new, no contact kept" t_no_harvest
tcase "a signature under an untrusted root: nothing harvested" t_untrusted
tcase "open: alice's certificate harvested (current); then known" t_harvest
tcase "alice's new key: signer_key changed, kept pending" t_change_pending
tcase "bob's mail to alice still goes to her old key only" t_seal_old_key
tcase "contact accept: the new key current, the old replaced and used no more" t_accept
tcase "the old key's mail again changes nothing" t_old_again
tcase "carol (GCM, said by the user), dave (nothing known): bob seals GCM, CBC" t_caps_setup
tcase "carol's signed mail without SMIMECapabilities: bob still seals to her with GCM" t_caps_absent
tcase "dave's signed mail stating GCM, by his current key: bob now seals to him with GCM" t_caps_raise

plan
