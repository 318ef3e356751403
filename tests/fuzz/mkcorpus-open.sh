#!/bin/bash
# mkcorpus-open.sh LETTERLOCK OUTDIR - make the fuzz_open seed messages.
#
# LETTERLOCK is a built CLI (build/src/cli/letterlock).  Every sealed
# message is sealed with the fixture identities of tests/fuzz/fixtures/
# (alice RSA-2048, bob EC P-256; carol RSA is not in fuzz_open's
# context), so fuzz_open can decrypt and verify them.  The committed
# corpus in tests/fuzz/corpus/fuzz_open/ was made with this script (plus
# what libFuzzer added and the regression inputs, named regress-*);
# rerunning it changes every seed (new randomness, new signing times).
set -eu
set -o pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 LETTERLOCK OUTDIR" >&2
	exit 2
fi
ll=$(realpath "$1")
mkdir -p "$2"
out=$(cd "$2" && pwd)
fx=$(cd "$(dirname "$0")/fixtures" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# homes: alice (knows bob without caps, carol), bob, alice-gcm (knows bob
# as a GCM reader)
home() {
	local h=$tmp/$1 id=$2 caps=${3:-}
	shift 3
	"$ll" --home "$h" identity import-pem "$fx/$id.key" "$fx/$id.chain.pem" >/dev/null
	"$ll" --home "$h" trust add "$fx/root.pem" >/dev/null
	for c in "$@"; do
		if [ -n "$caps" ]; then
			"$ll" --home "$h" contact add --caps "$caps" "$fx/$c.pem" >/dev/null
		else
			"$ll" --home "$h" contact add "$fx/$c.pem" >/dev/null
		fi
	done
}
home alice alice-rsa "" bob-ec carol-rsa
home bob bob-ec "" alice-rsa
home alicegcm alice-rsa aes256-gcm,aes256-cbc,rsa-oaep bob-ec carol-rsa

msg_lf() {
	printf 'From: Alice <alice@example.test>\nTo: Bob <bob@example.test>\n'
	printf 'Subject: the plan\nDate: Tue, 24 Nov 2026 12:00:00 +0000\n'
	printf 'Message-ID: <plan-1@example.test>\n\n'
	printf 'Meet at noon.\nBring the key.\n'
}
msg_crlf() { msg_lf | sed 's/$/\r/'; }
msg_bob() {
	printf 'From: bob@example.test\r\nTo: alice@example.test\r\n'
	printf 'Subject: Re: the plan\r\n\r\nOK.\r\n'
}
msg_bob_self() { # every recipient EC: our own KARIs (cms_open_ec.c)
	printf 'From: bob@example.test\r\nTo: bob@example.test\r\n'
	printf 'Subject: note to self\r\n\r\nThe key is under the mat.\r\n'
}
msg_multi() {
	printf 'From: alice@example.test\r\nTo: bob@example.test\r\n'
	printf 'Cc: Carol <carol@example.test>\r\nSubject: files\r\n'
	printf 'MIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
	printf 'preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n'
	printf 'Content-Transfer-Encoding: 8bit\r\n\r\nh\xc3\xa9llo\r\n--b1\r\n'
	printf 'Content-Type: application/octet-stream; name="x.bin"\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n'
	printf -- '--b1--\r\nepilogue\r\n'
}
msg_bcc() {
	printf 'From: alice@example.test\nTo: bob@example.test\n'
	printf 'Bcc: carol@example.test\nSubject: bcc\n\nsecret list\n'
}

seal() { # HOME NAME INPUT-FUNCTION [OPTIONS]
	local h=$1 name=$2 fn=$3
	shift 3
	"$fn" > "$tmp/in"
	"$ll" --home "$tmp/$h" seal "$@" -o "$out/$name.eml" "$tmp/in" 2>/dev/null
}

seal alice cli-sign-encrypt-cbc msg_lf
seal alice cli-sign-encrypt-crlf msg_crlf
seal alicegcm cli-sign-encrypt-gcm msg_lf
seal alice cli-sign-only msg_lf --sign-only
seal alice cli-sign-only-opaque msg_crlf --sign-only --opaque
seal alice cli-encrypt-only msg_lf --encrypt-only
seal alicegcm cli-encrypt-only-gcm msg_lf --encrypt-only
seal alice cli-opaque-encrypt msg_lf --opaque
seal alice cli-no-hp msg_lf --no-header-protection
seal alice cli-sign-only-no-hp msg_lf --sign-only --no-header-protection
seal alice cli-multipart msg_multi
seal alice cli-multipart-sign-only msg_multi --sign-only
seal alice cli-bcc msg_bcc
seal bob cli-bob-ec-signer msg_bob
seal bob cli-bob-ec-sign-only msg_bob --sign-only
seal bob cli-bob-ec-to-self msg_bob_self --cbc
seal bob cli-bob-ec-to-self-gcm msg_bob_self

# a sealed message sealed again (nested layers)
"$ll" --home "$tmp/alice" seal --sign-only -o "$tmp/l1" "$out/cli-sign-only-opaque.eml"
"$ll" --home "$tmp/alice" seal -o "$out/cli-nested-3.eml" "$tmp/l1"

# ---- openssl cms ----
body() { printf 'Content-Type: text/plain\r\n\r\nfrom openssl cms\r\n'; }
hdr() { printf 'From: %s\r\nTo: %s\r\nSubject: cms\r\n' "$1" "$2"; }
body > "$tmp/body"
cms_sign() { # NAME SIGNER-ID FROM [cms options]
	local name=$1 id=$2 from=$3
	shift 3
	{ hdr "$from" bob@example.test
	  openssl cms -sign -in "$tmp/body" -signer "$fx/$id.pem" \
		-inkey "$fx/$id.key" -certfile "$fx/inter.pem" "$@"; } \
		> "$out/$name.eml"
}
cms_sign ossl-sign-detached alice-rsa alice@example.test
cms_sign ossl-sign-opaque alice-rsa alice@example.test -nodetach
cms_sign ossl-sign-pss alice-rsa alice@example.test -keyopt rsa_padding_mode:pss
cms_sign ossl-sign-ec bob-ec bob@example.test -md sha384
cms_sign ossl-sign-nocerts alice-rsa alice@example.test -nocerts
cms_sign ossl-sign-wrong-signer bob-ec alice@example.test
{ hdr alice@example.test bob@example.test
  openssl cms -sign -in "$tmp/body" -signer "$fx/mallory-alice.pem" \
	-inkey "$fx/mallory-alice.key"; } > "$out/ossl-sign-untrusted.eml"

cms_enc() { # NAME CERT [cms options]
	local name=$1 cert=$2
	shift 2
	{ hdr alice@example.test bob@example.test
	  openssl cms -encrypt -in "$tmp/body" "$@" "$fx/$cert.pem"; } \
		> "$out/$name.eml"
}
cms_enc ossl-enc-aes256cbc-rsa alice-rsa -aes256
cms_enc ossl-enc-aes128cbc-ec bob-ec -aes128
cms_enc ossl-enc-gcm-rsa alice-rsa -aes-256-gcm
{ hdr alice@example.test bob@example.test
  openssl cms -encrypt -in "$tmp/body" -aes256 -recip "$fx/alice-rsa.pem" \
	-keyopt rsa_padding_mode:oaep; } > "$out/ossl-enc-oaep.eml"
cms_enc ossl-enc-keyid alice-rsa -aes256 -keyid
cms_enc ossl-enc-3des alice-rsa -des3
cms_enc ossl-enc-carol-only carol-rsa -aes256
# signed (opaque) then encrypted, by openssl
openssl cms -sign -nodetach -in "$tmp/body" -signer "$fx/bob-ec.pem" \
	-inkey "$fx/bob-ec.key" -certfile "$fx/inter.pem" -out "$tmp/signed"
{ hdr bob@example.test alice@example.test
  openssl cms -encrypt -in "$tmp/signed" -aes256 "$fx/alice-rsa.pem"; } \
	> "$out/ossl-sign-then-enc.eml"
# DER, not base64 (Content-Transfer-Encoding: binary)
{ hdr alice@example.test bob@example.test
  printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n'
  printf 'Content-Transfer-Encoding: binary\r\n\r\n'
  openssl cms -encrypt -in "$tmp/body" -aes256 -outform DER "$fx/alice-rsa.pem"; } \
	> "$out/ossl-enc-binary.eml"
# BER, indefinite lengths, chunked content (-stream)
{ hdr alice@example.test bob@example.test
  openssl cms -encrypt -stream -in "$tmp/body" -aes256 "$fx/alice-rsa.pem"; } \
	> "$out/ossl-enc-stream.eml"

# ---- not S/MIME at the top ----
msg_lf > "$out/plain-lf.eml"
msg_multi > "$out/plain-multipart.eml"
# a signed message forwarded inside multipart/mixed: not "signed"
{ printf 'From: alice@example.test\r\nTo: bob@example.test\r\n'
  printf 'Content-Type: multipart/mixed; boundary="w"\r\n\r\n--w\r\n'
  printf 'Content-Type: text/plain\r\n\r\nsee below\r\n--w\r\n'
  sed -n '/^Content-Type/,$p' "$out/cli-sign-only.eml"
  printf '\r\n--w--\r\n'; } > "$out/wrapped-signed.eml"
printf 'From mbox@example.test Tue Nov 24 12:00:00 2026\n' > "$out/mbox-from.eml"
cat "$out/cli-sign-only.eml" >> "$out/mbox-from.eml"

# ---- damaged copies ----
trunc() { head -c "$2" "$out/$1.eml" > "$out/trunc-$1-$2.eml"; }
trunc cli-sign-encrypt-cbc 900
trunc cli-sign-only 700
trunc ossl-enc-stream 600
flip() { # NAME OFFSET: one base64 letter changed
	cp "$out/$1.eml" "$out/flip-$1.eml"
	local c
	c=$(dd if="$out/$1.eml" bs=1 skip="$2" count=1 2>/dev/null)
	if [ "$c" = A ]; then c=B; else c=A; fi
	printf '%s' "$c" | dd of="$out/flip-$1.eml" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
size=$(stat -c %s "$out/cli-sign-encrypt-gcm.eml")
flip cli-sign-encrypt-gcm $((size - 40))
size=$(stat -c %s "$out/cli-sign-encrypt-cbc.eml")
flip cli-sign-encrypt-cbc $((size - 200))
size=$(stat -c %s "$out/cli-bob-ec-to-self-gcm.eml")
flip cli-bob-ec-to-self-gcm $((size - 40))
# tampered signed body
sed 's/Meet at noon/Meet at nine/' "$out/cli-sign-only.eml" > "$out/tamper-cli-sign-only.eml"
ls "$out" | wc -l
