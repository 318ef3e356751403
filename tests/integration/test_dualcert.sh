#!/bin/bash
# test_dualcert.sh - a correspondent with one certificate to sign and
# another to encrypt to (commercial CAs, smart cards, Outlook), signing
# with NSS cmsutil (Thunderbird's engine) as the independent producer:
#
#   * carol signs with her signing certificate and names her encryption
#     certificate in SMIMEEncryptionKeyPreference (`cmsutil -S -Y`,
#     which writes Microsoft's attribute too); bob opens it (valid),
#     harvests both (sign / encrypt, both current: no change of key);
#     his sealed mail to carol is encrypted to the encryption
#     certificate only (its RecipientInfo read with openssl cms), and
#     openssl cms and NSS open it with carol's encryption key;
#   * a signing-only certificate added by hand is not encrypted to:
#     contact add says so, seal names why, contact list shows "sign";
#     send's policies take the address as one without a certificate
#     (refuse: nothing sent; sign-only: signed only), naming why;
#   * signed without the attribute (-Y NONE): the signing-only signer
#     certificate is harvested, never encrypted to;
#   * signed with the encryption-only certificate (openssl cms): not
#     valid, the keyUsage named, nothing harvested;
#   * a new encryption certificate through the attribute is a key
#     change: pending, not used, until contact accept (which leaves
#     the signing certificate current).
#   * the attributes that do not count, which cmsutil will not write:
#     smimetool.py keypref rewrites carol's NSS signature (and signs it
#     again) so that the preference names dave's certificate or her
#     second signing certificate, or stands among the unsigned
#     attributes: valid, nothing taken but her signing certificate.
# The other forms of the attribute and an untrusted CA are in
# tests/unit/test_dualcert.c.
#
# Output: TAP lines, then the plan.  Exit status 0 if every case passed.
#   LETTERLOCK   the binary (default build/src/cli/letterlock)
#   KEEP_TMP=1   keep the temporary directory
#
# shellcheck disable=SC2317,SC1091,SC2016
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/peers.sh"

abs() { case $1 in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }
LETTERLOCK=$(abs "${LETTERLOCK:-${BUILD:-build}/src/cli/letterlock}")
for p in openssl python3 cmsutil certutil pk12util; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "ok 1 - dual certificates # SKIP missing $p (run scripts/setup)"
		echo "1..1"
		exit 0
	fi
done

tap_init dualcert
on_cleanup() { peers_cleanup; }
P=$T/pki
M=$T/msg
mkdir -p "$M"
bash "$here/mkpki.sh" "$P" >"$T/mkpki.log" 2>&1 || {
	sed 's/^/# /' "$T/mkpki.log"
	bail "mkpki.sh failed"
}
peers_init "$P" "$T/peers"

st() { python3 "$here/smimetool.py" "$@"; }
ll() { timeout "$PEER_TIMEOUT" "$LETTERLOCK" --home "$T/$1" "${@:2}"; }
fpr() {
	openssl x509 -in "$P/$1.pem" -noout -fingerprint -sha256 |
		sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
serial() { openssl x509 -in "$P/$1.pem" -noout -serial | sed 's/.*=//'; }

# home NAME: bob's identity, the test root trusted
home() {
	ll "$1" identity import "$P/bob-rsa.p12" --passphrase-file "$P/p12pass" \
		>/dev/null && ll "$1" trust add "$P/root.pem" >/dev/null
}

# carol's NSS database: both her certificates with their keys, and the
# next encryption certificate (a key change)
nss_setup carol-sign || { peer_diag; bail "NSS database"; }
CDB=$(_nss_db carol-sign)
for id in carol-enc carol-enc2; do
	_peer pk12util -i "$P/$id.p12" -d "$CDB" -w "$P/p12pass" -K "" ||
		{ peer_diag; bail "NSS import $id"; }
done

printf '%s\r\n' "Content-Type: text/plain; charset=us-ascii" "" \
	"two certificates, one correspondent" >"$M/entity.txt"
HDRS=("From: carol <carol@example.test>" "To: bob <bob@example.test>"
	"Subject: dual certificates" "Date: Wed, 25 Nov 2026 10:00:00 +0000")

# carol_signs PREF OUT: a multipart/signed message from carol, signed
# by NSS with her signing certificate, naming PREF (a nickname, or
# NONE) as the certificate to encrypt to
carol_signs() {
	_peer cmsutil -S -d "$CDB" -p "" -G -P -H SHA256 -N carol-sign \
		-Y "$1" -T -i "$M/entity.txt" -o "$M/$2.sig" || return 1
	st wrap-signed "$M/entity.txt" "$M/$2.sig" "$M/$2.eml" sha-256 "${HDRS[@]}"
}

# opened HOME MSG KEY=VALUE...: letterlock open --json, exit 0, fields
opened() {
	local h=$1 m=$2
	shift 2
	ll "$h" open --json -o "$T/opened" "$m" >"$T/open.json" 2>"$T/open.err" || {
		cat "$T/open.json" "$T/open.err"
		return 1
	}
	st jcheck "$T/open.json" "$@" || { cat "$T/open.json"; return 1; }
}

# listed HOME ID STATE USE: contact list has ID's certificate so
listed() {
	ll "$1" contact list >"$T/list" || return 1
	cat "$T/list"
	grep -qx "carol@example.test $(fpr "$2") $3 [a-z]* until .* $4" "$T/list"
}

# seal_to_carol HOME OUT: bob's sealed (signed, encrypted) mail to carol
seal_to_carol() {
	printf '%s\r\n' "From: bob <bob@example.test>" "To: carol <carol@example.test>" \
		"Subject: to your encryption key" "" "Rosebud-2611" >"$M/to-carol.txt"
	ll "$1" seal --cbc -o "$M/$2.eml" "$M/to-carol.txt"
}

# rcpt_serials MSG: the serial numbers (hex) its RecipientInfos name
rcpt_serials() {
	st der "$1" "$1.der" &&
		openssl cms -cmsout -print -inform DER -in "$1.der" |
		sed -n '/recipientInfos:/,/encryptedContentInfo:/p' |
			grep 'serialNumber:' | awk '{print $2}'
}

# encrypted_to MSG ID...: MSG's RecipientInfos name exactly bob and IDs
encrypted_to() {
	local m=$1 want got id
	shift
	want=$(for id in bob-rsa "$@"; do printf '%d\n' "0x$(serial "$id")"; done | sort)
	got=$(rcpt_serials "$m" | sort) || return 1
	echo "RecipientInfo serials: $got (want $want)"
	[ -n "$got" ] && [ "$got" = "$want" ]
}

# ------------------------------------------------- the producer's case

carol_signs carol-enc pref || { peer_diag; bail "cmsutil -S -Y"; }
home bob || bail "bob's home"

tcase "NSS writes SMIMEEncryptionKeyPreference and Microsoft's attribute, signed" \
	eval 'openssl cms -cmsout -print -inform DER -in "$M/pref.sig" |
		sed -n "/signedAttrs:/,/unsignedAttrs:/p" |
		grep -c "1.2.840.113549.1.9.16.2.11\|1.3.6.1.4.1.311.16.4" | grep -qx 2'
tcase "bob opens carol's NSS signature: valid, naming her encryption certificate" \
	opened bob "$M/pref.eml" signature=valid signer=carol@example.test \
	signer_key=new "encryption_cert=$(fpr carol-enc)" errors=[]
tcase "harvested: the signing certificate, current, for signing" \
	listed bob carol-sign current sign
tcase "harvested: the encryption certificate, current beside it, to encrypt to" \
	listed bob carol-enc current encrypt
tcase "bob seals to carol" seal_to_carol bob to-carol
tcase "the RecipientInfo names carol's encryption certificate (and bob's), not the signing one" \
	encrypted_to "$M/to-carol.eml" carol-enc
tcase "openssl cms opens it with carol's encryption key" \
	eval 'openssl cms -decrypt -in "$M/to-carol.eml" -recip "$P/carol-enc.pem" \
		-inkey "$P/carol-enc.key" | grep -q Rosebud-2611'
tcase "NSS opens it with carol's encryption key" \
	eval 'nss_decrypt carol-sign "$M/to-carol.eml.der" "$M/nss.out" &&
		grep -q Rosebud-2611 "$M/nss.out"'
tcase "her next message is known, nothing changes" \
	eval 'opened bob "$M/pref.eml" signer_key=known signature=valid &&
		[ "$(ll bob contact list | grep -c current)" = 2 ]'

# ------------------------------------------- a signing-only certificate

home hand || bail "hand's home"
tcase "contact add of a signing-only certificate works and says it cannot be encrypted to" \
	eval 'll hand contact add "$P/carol-sign.pem" | tee /dev/stderr |
		grep -q "cannot be encrypted to"'
tcase "contact list shows it for signing" listed hand carol-sign current sign
tcase "sealing to carol: no certificate, and why (exit 3)" \
	eval 'seal_to_carol hand refused 2>"$T/seal.err"; rc=$?; cat "$T/seal.err";
		[ "$rc" = 3 ] && grep -q "carol@example.test (a signing certificate only" "$T/seal.err" &&
		[ ! -s "$M/refused.eml" ]'
# send with a submission server that is not there: what the policies
# decide comes before it is tried
printf '[mail]\nsmtp_url = smtp://127.0.0.1:1\n' >"$T/hand/letterlock.conf"
tcase "send --policy refuse: no certificate, why, nothing sent (exit 67)" \
	eval 'll hand send --policy refuse -t <"$M/to-carol.txt" 2>"$T/send.err"; rc=$?;
		cat "$T/send.err"; [ "$rc" = 67 ] &&
		grep -q "carol@example.test (a signing certificate only.*nothing sent (policy refuse)" "$T/send.err" &&
		[ -z "$(ls "$T/hand/outbox" 2>/dev/null)" ]'
tcase "send with policy sign-only: why, and the copy queued is signed, not encrypted" \
	eval 'll hand send -t <"$M/to-carol.txt" 2>"$T/send.err"; cat "$T/send.err";
		grep -q "carol@example.test (a signing certificate only.*policy sign-only" "$T/send.err" &&
		q=$(ls -d "$T/hand/outbox"/*) && grep -q "multipart/signed" "$q" &&
		! grep -q "enveloped-data" "$q"'
tcase "lookup says it has signing certificates only" \
	eval 'll hand contact lookup --pkx http://127.0.0.1:1/ carol@example.test 2>/dev/null |
		tee /dev/stderr | grep -qx "carol@example.test none (signing certificates only)"'

# ------------------------------------------------ without the attribute

carol_signs NONE nopref || { peer_diag; bail "cmsutil -S -Y NONE"; }
home plain || bail "plain's home"
tcase "signed without the attribute: valid, no certificate to encrypt to" \
	opened plain "$M/nopref.eml" signature=valid encryption_cert=null errors=[]
tcase "the signing-only signer certificate is harvested for signing only" \
	eval 'listed plain carol-sign current sign && [ "$(wc -l <"$T/list")" = 1 ]'
tcase "it is never encrypted to" \
	eval '! seal_to_carol plain nopref-out 2>/dev/null'

# ------------------------------------------- attributes that do not count

# resigned MODE CERT OUT: carol's NSS signature with its key preference
# rewritten by smimetool.py (naming CERT, or moved out of the signed
# attributes), signed again with her signing key
resigned() {
	st keypref "$M/pref.sig" "$M/$3.sig" "$1" "$P/carol-sign.key" \
		${2:+"$P/$2.pem"} &&
		st wrap-signed "$M/entity.txt" "$M/$3.sig" "$M/$3.eml" sha-256 "${HDRS[@]}"
}

# only_signing HOME: carol's contacts there are her signing certificate
only_signing() {
	listed "$1" carol-sign current sign && [ "$(wc -l <"$T/list")" = 1 ]
}

resigned name carol-enc same || bail "smimetool.py keypref"
home same || bail "same's home"
tcase "the rewriting re-signs soundly: naming carol-enc again is taken" \
	eval 'opened same "$M/same.eml" signature=valid "encryption_cert=$(fpr carol-enc)" &&
		listed same carol-enc current encrypt'

resigned name dave-enc other || bail "smimetool.py keypref"
home other || bail "other's home"
tcase "a preference naming another address's certificate is ignored, and said" \
	eval 'opened other "$M/other.eml" signature=valid encryption_cert=null &&
		grep -q "certificate for another address" "$T/open.json" &&
		only_signing other'

resigned name carol-sign2 signing || bail "smimetool.py keypref"
home signing || bail "signing's home"
tcase "a preference naming a certificate without an encryption keyUsage is ignored" \
	eval 'opened signing "$M/signing.eml" signature=valid encryption_cert=null &&
		grep -q "keyUsage allows no encryption" "$T/open.json" &&
		only_signing signing'

resigned unsigned "" outside || bail "smimetool.py keypref"
home outside || bail "outside's home"
tcase "a preference outside the signed attributes is not read" \
	eval 'openssl cms -cmsout -print -inform DER -in "$M/outside.sig" |
		sed -n "/unsignedAttrs:/,\$p" | grep -q 1.2.840.113549.1.9.16.2.11 &&
		opened outside "$M/outside.eml" signature=valid encryption_cert=null errors=[] &&
		only_signing outside'

# ------------------------------------------ an encryption key that signs

home encsig || bail "encsig's home"
tcase "signed (openssl cms) with her encryption-only certificate: not valid, and why" \
	eval '_peer openssl cms -sign -in "$M/entity.txt" -signer "$P/carol-enc.pem" \
		-inkey "$P/carol-enc.key" -certfile "$P/inter.pem" -crlfeol \
		-from carol@example.test -to bob@example.test -subject "enc signs" \
		-out "$M/encsig.eml" || { peer_diag; false; } &&
		! ll encsig open --json -o /dev/null "$M/encsig.eml" >"$T/open.json" 2>/dev/null &&
		cat "$T/open.json" && st jcheck "$T/open.json" signature=invalid encryption_cert=null &&
		grep -q "keyUsage has neither digitalSignature nor nonRepudiation" "$T/open.json" &&
		[ -z "$(ll encsig contact list)" ]'

# ------------------------------------------ a key change by the attribute

carol_signs carol-enc2 pref2 || { peer_diag; bail "cmsutil -S -Y carol-enc2"; }
tcase "a new encryption certificate named: valid, said as a key kept pending" \
	eval 'opened bob "$M/pref2.eml" signature=valid signer_key=known \
		"encryption_cert=$(fpr carol-enc2)" &&
		grep -q "asks to be encrypted to a key other than the one known" "$T/open.err"'
tcase "contact list: the new one pending, the old one current" \
	eval 'listed bob carol-enc2 pending encrypt && listed bob carol-enc current encrypt'
tcase "bob's mail still goes to the known encryption certificate" \
	eval 'seal_to_carol bob still && encrypted_to "$M/still.eml" carol-enc'
tcase "contact accept: the new encryption certificate, the signing one stays" \
	eval 'll bob contact accept carol@example.test "$(fpr carol-enc2)" >/dev/null &&
		listed bob carol-enc2 current encrypt && listed bob carol-enc replaced encrypt &&
		listed bob carol-sign current sign'
tcase "bob's mail now goes to the new encryption certificate" \
	eval 'seal_to_carol bob after && encrypted_to "$M/after.eml" carol-enc2'

plan
