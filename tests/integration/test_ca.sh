#!/bin/bash
# test_ca.sh - letterlockd's certificate authority end to end: `init`
# makes the hierarchy, `issue` certifies CSRs made by `openssl req`
# (alice and bob RSA-3072, 马克@example.test EC P-256 with an
# SmtpUTF8Mailbox), openssl verifies and shows the profile, requests
# that break it are refused, and letterlock seals from alice to bob with
# the issued certificates; openssl cms and gpgsm verify what it signs.
#
# Output: TAP lines "ok - ..." / "not ok - ..." (no plan), diagnostics as
# "# ..." lines.  Exit status 0 unless the set-up itself failed.
#
#   LETTERLOCKD  the letterlockd binary (default: next to $LETTERLOCK's
#                build tree, else build/src/service/letterlockd)
#   LETTERLOCK   the letterlock binary (default build/src/cli/letterlock)
#   KEEP_TMP=1   keep the temporary directory (its path is printed)
#
# Functions and variables below are mostly used through t() and eval,
# whose single-quoted scripts expand when they run: shellcheck cannot
# see that.
# shellcheck disable=SC2317,SC2016,SC2034
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
tap_init ca
on_cleanup() {
	[ -d "${G:-}" ] && GNUPGHOME=$G gpgconf --kill all >/dev/null 2>&1
	return 0
}
top=$(cd "$here/../.." && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -z "${LETTERLOCKD:-}" ] && [ -n "${LETTERLOCK:-}" ]; then
	LETTERLOCKD=$(dirname "$(dirname "$(abs "$LETTERLOCK")")")/service/letterlockd
fi
LETTERLOCKD=$(abs "${LETTERLOCKD:-$top/build/src/service/letterlockd}")
LETTERLOCK=$(abs "${LETTERLOCK:-$top/build/src/cli/letterlock}")

G=$T/gnupg


[ -x "$LETTERLOCKD" ] || bail "no letterlockd binary at $LETTERLOCKD"
[ -x "$LETTERLOCK" ] || bail "no letterlock binary at $LETTERLOCK"
command -v openssl >/dev/null || bail "no openssl"


lld() { timeout 60 "$LETTERLOCKD" "$@"; }
ll() { timeout 60 "$LETTERLOCK" "$@"; }

# exits CODE CMD...: CMD exits with CODE (its stderr kept in $T/err).
exits() {
	local want=$1 rc
	shift
	"$@" 2>"$T/err"
	rc=$?
	cat "$T/err"
	[ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want"; return 1; }
}

# mode PATH OCTAL
mode() {
	local m
	m=$(stat -c %a "$1") || return 1
	[ "$m" = "$2" ] || { echo "$1: mode $m, expected $2"; return 1; }
}

# text CERT PATTERN...: `openssl x509 -text` of CERT shows every PATTERN.
text() {
	local cert=$1 p out
	shift
	out=$(openssl x509 -in "$cert" -noout -text -nameopt utf8) || return 1
	for p in "$@"; do
		grep -qF -- "$p" <<<"$out" || {
			echo "missing: $p"
			echo "$out"
			return 1
		}
	done
}

# csr NAME KEYSPEC SAN [CN]: NAME.key and NAME.csr with openssl req, the
# subjectAltName in config syntax (a section, so UTF-8 otherNames work).
csr() {
	local name=$1 keyspec=$2 san=$3 cn=${4:-}
	{
		printf '[req]\ndistinguished_name = dn\nprompt = no\n'
		printf 'utf8 = yes\nstring_mask = utf8only\nreq_extensions = ext\n'
		if [ -n "$cn" ]; then
			printf '[dn]\nCN = %s\n' "$cn"
		else
			printf '[dn]\nO = letterlock test\n'
		fi
		printf '[ext]\nsubjectAltName = @san\n[san]\n%s\n' "$san"
	} >"$T/$name.cnf"
	# shellcheck disable=SC2086
	openssl req -new -newkey $keyspec -nodes -keyout "$T/$name.key" \
		-config "$T/$name.cnf" -out "$T/$name.csr" 2>"$T/$name.req.err"
}

# ncerts FILE N: FILE holds N PEM certificates.
ncerts() {
	local n
	n=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$1")
	[ "$n" -eq "$2" ] || { echo "$1: $n certificates, expected $2"; return 1; }
}

# days CERT N: notAfter - notBefore + 1 s is N days.
days() {
	local nb na
	nb=$(date -ud "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s) &&
		na=$(date -ud "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) || return 1
	[ $((na - nb + 1)) -eq $(($2 * 86400)) ] ||
		{ echo "validity $((na - nb + 1)) s, expected $2 days"; return 1; }
}

CA=$T/ca
MAKE=马克@example.test
ROOT=$CA/certs/root.pem
SMIME=$CA/certs/smime-ca.pem
verify() {
	openssl verify -purpose "$2" -CAfile "$ROOT" -untrusted "$SMIME" "$1"
}

# ------------------------------------------------------------------ init

t "letterlockd --help" lld --help
t "letterlockd init --help" lld init --help
t "letterlockd issue --help" lld issue --help
t "init creates the CA" lld init --dir "$CA" --name "Example CA" \
	--base-url http://127.0.0.1:8080
[ -f "$CA/letterlockd.conf" ] || bail "init failed"
t "CA directory is 0700, keys 0700/0600" eval \
	'mode "$CA" 700 && mode "$CA/keys" 700 &&
	 for k in root smime-ca tsa-ca ocsp; do
		mode "$CA/keys/$k.key" 600 || exit 1
		grep -q "BEGIN PRIVATE KEY" "$CA/keys/$k.key" || exit 1
	 done'
t "letterlockd.conf has the [ca] and [store] keys" grep -qxF \
	"crl_url = http://127.0.0.1:8080/crl/smime-ca.crl" "$CA/letterlockd.conf"
cp "$CA/letterlockd.conf" "$T/conf.orig"
t "init refuses to overwrite an existing CA" eval \
	'exits 3 lld init --dir "$CA" && grep -q "refusing" "$T/err" &&
	 cmp "$CA/letterlockd.conf" "$T/conf.orig"'
t "root: EC P-384, CA, pathlen 1, no EKU" eval \
	'text "$ROOT" "NIST CURVE: P-384" "CA:TRUE, pathlen:1" &&
	 ! openssl x509 -in "$ROOT" -noout -text | grep -q "Extended Key Usage"'
t "S/MIME CA: pathlen 0, E-mail Protection, Strict policy" text "$SMIME" \
	"CA:TRUE, pathlen:0" "E-mail Protection" "Policy: 2.23.140.1.5.1.3" \
	"URI:http://127.0.0.1:8080/crl/root.crl"
t "time-stamping CA: EKU Time Stamping only, under the root" eval \
	'text "$CA/certs/tsa-ca.pem" "Time Stamping" &&
	 ! text "$CA/certs/tsa-ca.pem" "E-mail Protection" >/dev/null &&
	 openssl verify -CAfile "$ROOT" "$CA/certs/tsa-ca.pem"'
t "OCSP responder: OCSP Signing, no-check, under the S/MIME CA" eval \
	'text "$CA/certs/ocsp.pem" "OCSP Signing" "OCSP No Check" &&
	 openssl verify -purpose ocsphelper -CAfile "$ROOT" -untrusted "$SMIME" \
		"$CA/certs/ocsp.pem"'

# ----------------------------------------------------------------- issue

csr alice rsa:3072 "email.1 = alice@example.test" alice@example.test ||
	bail "openssl req (alice)"
csr bob rsa:3072 "email.1 = bob@example.test" bob@example.test ||
	bail "openssl req (bob)"
csr make "ec -pkeyopt ec_paramgen_curve:P-256" \
	"otherName.1 = 1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:$MAKE" "$MAKE" ||
	bail "openssl req (马克)"

t "issue alice (RSA-3072)" lld issue --dir "$CA" --email alice@example.test \
	--csr "$T/alice.csr" -o "$T/alice.pem"
t "issue bob (RSA-3072, DER request on stdin)" eval \
	'openssl req -in "$T/bob.csr" -outform DER |
	 lld issue --dir "$CA" --email bob@example.test --csr - >"$T/bob.pem"'
t "issue 马克@example.test (EC P-256)" lld issue --dir "$CA" \
	--email "$MAKE" --csr "$T/make.csr" -o "$T/make.pem"
t "issue writes the certificate and the S/MIME CA" ncerts "$T/alice.pem" 2
t "issue keeps a copy in DIR/issued" eval \
	'[ "$(ls "$CA/issued" | wc -l)" -eq 3 ]'
t "openssl verify -purpose smimesign: alice" verify "$T/alice.pem" smimesign
t "openssl verify -purpose smimeencrypt: alice" verify "$T/alice.pem" smimeencrypt
t "openssl verify -purpose smimesign: 马克" verify "$T/make.pem" smimesign
t "alice: policy, EKU, SAN, key usage, CRL, AIA" text "$T/alice.pem" \
	"Policy: 2.23.140.1.5.1.3" "E-mail Protection" \
	"email:alice@example.test" "Subject: CN=alice@example.test" \
	"Digital Signature, Key Encipherment" "CA:FALSE" \
	"URI:http://127.0.0.1:8080/crl/smime-ca.crl" \
	"OCSP - URI:http://127.0.0.1:8080/ocsp" \
	"CA Issuers - URI:http://127.0.0.1:8080/ca/smime-ca.crt"
t "alice: key usage and basic constraints critical" eval \
	'text "$T/alice.pem" "X509v3 Key Usage: critical" \
		"X509v3 Basic Constraints: critical"'
t "alice: 365 days by default" days "$T/alice.pem" 365
t "马克: otherName SmtpUTF8Mailbox, EC key usage" text "$T/make.pem" \
	"othername: SmtpUTF8Mailbox::$MAKE" "Subject: CN=$MAKE" \
	"Digital Signature, Key Agreement" "Policy: 2.23.140.1.5.1.3"
t "马克: no rfc822Name" eval '! text "$T/make.pem" "email:" >/dev/null'
t "--days 30 --usage sign" eval \
	'lld issue --dir "$CA" --email alice@example.test --csr "$T/alice.csr" \
		--days 30 --usage sign -o "$T/alice30.pem" &&
	 days "$T/alice30.pem" 30 && text "$T/alice30.pem" "Digital Signature" &&
	 ! text "$T/alice30.pem" "Key Encipherment" >/dev/null'

# ------------------------------------------------------------- refusals

t "refused: --days 826 (over 825, S/MIME BR 6.3.2)" eval \
	'exits 1 lld issue --dir "$CA" --email alice@example.test \
		--csr "$T/alice.csr" --days 826 -o "$T/x.pem" &&
	 grep -q 825 "$T/err"'
t "refused: CSR for another address" eval \
	'exits 1 lld issue --dir "$CA" --email bob@example.test \
		--csr "$T/alice.csr" -o "$T/x.pem" &&
	 grep -q "alice@example.test" "$T/err"'
csr extra rsa:2048 "email.1 = alice@example.test
DNS.1 = www.example.test" || bail "openssl req (extra)"
t "refused: CSR with an extra DNS name" eval \
	'exits 1 lld issue --dir "$CA" --email alice@example.test \
		--csr "$T/extra.csr" -o "$T/x.pem" &&
	 grep -q "DNS:www.example.test" "$T/err"'
csr weak rsa:1024 "email.1 = alice@example.test" ||
	bail "openssl req (rsa:1024)"
t "refused: RSA-1024" eval \
	'exits 1 lld issue --dir "$CA" --email alice@example.test \
		--csr "$T/weak.csr" -o "$T/x.pem" && grep -q 1024 "$T/err"'
csr p521 "ec -pkeyopt ec_paramgen_curve:P-521" \
	"email.1 = alice@example.test" || bail "openssl req (P-521)"
t "refused: EC P-521" eval \
	'exits 1 lld issue --dir "$CA" --email alice@example.test \
		--csr "$T/p521.csr" -o "$T/x.pem" && grep -q P-521 "$T/err"'
t "refused: CSR whose signature does not verify" eval \
	'openssl req -in "$T/bob.csr" -outform DER >"$T/bad.der" &&
	 python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,\"rb\").read()); b[-1]^=1; open(p,\"wb\").write(b)" "$T/bad.der" &&
	 exits 1 lld issue --dir "$CA" --email bob@example.test \
		--csr "$T/bad.der" -o "$T/x.pem" && grep -q self-signature "$T/err"'
t "usage error: not an address" exits 2 lld issue --dir "$CA" \
	--email not-an-address --csr "$T/alice.csr" -o "$T/x.pem"
t "nothing issued by the refusals" eval \
	'[ ! -e "$T/x.pem" ] && [ "$(ls "$CA/issued" | wc -l)" -eq 4 ]'

# ------------------------------------------- letterlock with the chain

A=$T/home-alice
B=$T/home-bob
printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: CA test\r\n\r\nhello bob, from a CA-issued certificate\r\n' >"$T/msg.eml"
t "letterlock identity import-pem: alice and bob with the issued chains" eval \
	'll --home "$A" identity import-pem "$T/alice.key" "$T/alice.pem" &&
	 ll --home "$B" identity import-pem "$T/bob.key" "$T/bob.pem"'
t "letterlock trust add: the root (alice, bob); contact add: bob" eval \
	'll --home "$A" trust add "$ROOT" && ll --home "$B" trust add "$ROOT" &&
	 ll --home "$A" contact add "$T/bob.pem"'
t "seal alice -> bob" ll --home "$A" seal -o "$T/sealed.eml" "$T/msg.eml"
t "open as bob: decrypted, signature valid, signer alice" eval \
	'll --home "$B" open --json -o "$T/opened.eml" "$T/sealed.eml" >"$T/open.json";
	 cat "$T/open.json";
	 grep -q "\"decrypted\":true" "$T/open.json" &&
	 grep -q "\"signature\":\"valid\"" "$T/open.json" &&
	 grep -q "\"signer\":\"alice@example.test\"" "$T/open.json" &&
	 grep -q "hello bob, from a CA-issued" "$T/opened.eml"'
t "openssl cms -verify (purpose smimesign) of a letterlock-signed message" \
	eval 'll --home "$A" seal --sign-only -o "$T/signed.eml" "$T/msg.eml" &&
	 openssl cms -verify -in "$T/signed.eml" -CAfile "$ROOT" \
		-purpose smimesign -out "$T/content"'
t "openssl cms refuses it under another root" eval \
	'! openssl cms -verify -in "$T/signed.eml" \
		-CAfile "$CA/certs/tsa-ca.pem" -out /dev/null'

if command -v gpgsm >/dev/null; then
	gpgsm_verify() {
		local fpr
		mkdir -m 700 "$G" &&
			printf 'disable-crl-checks\ndisable-dirmngr\nno-common-certs-import\n' >"$G/gpgsm.conf" &&
			printf 'allow-loopback-pinentry\nno-allow-mark-trusted\ndisable-scdaemon\n' >"$G/gpg-agent.conf" &&
			fpr=$(openssl x509 -in "$ROOT" -noout -fingerprint -sha1) &&
			printf '%s S\n' "${fpr#*=}" >"$G/trustlist.txt" || return 1
		GNUPGHOME=$G timeout 30 gpgsm --batch --import "$ROOT" "$SMIME" || return 1
		ll --home "$A" seal --sign-only --opaque -o "$T/opaque.eml" "$T/msg.eml" &&
			python3 -c 'import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
open(sys.argv[2], "wb").write(m.get_payload(decode=True))' \
				"$T/opaque.eml" "$T/opaque.der" || return 1
		GNUPGHOME=$G timeout 30 gpgsm --batch --status-fd 1 \
			--output /dev/null --verify "$T/opaque.der" >"$T/gpgsm.status"
		cat "$T/gpgsm.status"
		# gpgsm's exit code is not its verdict (doc/interop.md)
		grep -q '^\[GNUPG:\] GOODSIG ' "$T/gpgsm.status" &&
			grep -q '^\[GNUPG:\] VALIDSIG ' "$T/gpgsm.status" &&
			grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/gpgsm.status"
	}
	t "gpgsm verifies a letterlock-signed message (GOODSIG, TRUST_FULLY)" \
		gpgsm_verify
else
	echo "ok - gpgsm verifies a letterlock-signed message # SKIP no gpgsm"
fi
exit 0
