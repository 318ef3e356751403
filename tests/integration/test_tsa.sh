#!/bin/bash
# test_tsa.sh - letterlockd's RFC 3161 time-stamping authority (POST
# /tsa) against OpenSSL's `ts` as the independent peer:
#
#   * `openssl ts -verify` accepts every reply: SHA-256, -384 and -512
#     imprints, with and without nonce and certReq, checked against the
#     query, against the data, and from the root alone (the unit's
#     certificates from the token, or given as untrusted);
#   * the token: policy, accuracy, a time within seconds of now, the
#     unit's certificate with EKU timeStamping alone and critical under
#     the time-stamping CA, ESSCertIDv2 (signingCertificateV2);
#   * 200 requests from 8 clients at once: every reply verifies, every
#     serial number differs;
#   * refusals are TimeStampResp rejections with the right failInfo:
#     SHA-1, another policy, garbage, an extension, an empty body; HTTP
#     errors for GET and another Content-Type;
#   * `letterlock seal --tsa` puts the token in the signature (detached
#     and opaque): `letterlock open --json` reports the trusted
#     timestamp, `openssl cms -verify` and gpgsm still verify the
#     message (the token is an unsigned attribute they pass over); a TSA
#     that does not answer leaves the message signed with a warning, or
#     with --require-timestamp refused with nothing written;
#   * the TSA keyholder killed: requests get systemFailure, the rest of
#     the service serves on.
#
# Output: TAP lines, then the plan.  Exit status 0 if every case passed.
#   LETTERLOCKD  the letterlockd binary; default: next to $LETTERLOCK's
#                tree (tests/run sets LETTERLOCK), else in $BUILD, else
#                build/
#   KEEP_TMP=1   keep the temporary directory
#
# shellcheck disable=SC2317,SC1091
set -u
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"

for p in curl openssl ss setsid xargs; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "ok 1 - TSA # SKIP missing $p (run scripts/setup)"
		echo "1..1"
		exit 0
	fi
done
abs() { case $1 in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }
if [ -z "${LETTERLOCKD:-}" ]; then
	if [ -n "${LETTERLOCK:-}" ]; then
		LETTERLOCKD=$(dirname "$(dirname "$(abs "$LETTERLOCK")")")/service/letterlockd
	else
		LETTERLOCKD=$(abs "${BUILD:-build}")/src/service/letterlockd
	fi
fi
LETTERLOCKD=$(abs "$LETTERLOCKD")
LETTERLOCK=$(abs "${LETTERLOCK:-$(dirname "$(dirname "$LETTERLOCKD")")/cli/letterlock}")

tap_init tsa
CA=$T/ca
LOG=$T/letterlockd.log
LLD_PID=""


on_cleanup() {
	if [ -n "$LLD_PID" ]; then
		kill -TERM -- "-$LLD_PID" 2>/dev/null
		sleep 0.3
		kill -KILL -- "-$LLD_PID" 2>/dev/null
	fi
}

free_port port || bail "no free port"
URL=http://127.0.0.1:$port

"$LETTERLOCKD" init --dir "$CA" --base-url "$URL" \
	--listen "127.0.0.1:$port" >"$T/init.out" 2>&1 ||
	bail "letterlockd init: $(cat "$T/init.out")"
ROOT=$CA/certs/root.pem
UNTRUSTED=$T/untrusted.pem
cat "$CA/certs/tsa.pem" "$CA/certs/tsa-ca.pem" >"$UNTRUSTED"
POLICY=$(sed -n 's/^#define LLD_TSA_POLICY_DEFAULT "\(.*\)"/\1/p' \
	"$top/src/service/tsa.h")
echo "some data to stamp" >"$T/data"

lld_start() {
	setsid "$LETTERLOCKD" run --dir "$CA" </dev/null >>"$LOG" 2>&1 &
	LLD_PID=$!
	for _ in $(seq 1 100); do
		curl -sf --max-time 2 -o /dev/null "$URL/ca/root.crt" && return 0
		kill -0 "$LLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$LOG"
	return 1
}

# stamp QUERY REPLY [CONTENT-TYPE]: POST QUERY, the reply into REPLY;
# prints the HTTP status
stamp() {
	curl -s --max-time 10 -o "$2" -w '%{http_code}' \
		-H "Content-Type: ${3:-application/timestamp-query}" \
		--data-binary "@$1" "$URL/tsa"
}

# query_stamp NAME OPTS...: a query with OPTS over the data, stamped;
# $T/NAME.tsq and $T/NAME.tsr
query_stamp() {
	local name=$1
	shift
	openssl ts -query -data "$T/data" "$@" -out "$T/$name.tsq" 2>/dev/null &&
		[ "$(stamp "$T/$name.tsq" "$T/$name.tsr")" = 200 ]
}

verify_query() {
	openssl ts -verify -in "$T/$1.tsr" -queryfile "$T/$1.tsq" \
		-CAfile "$ROOT" -untrusted "$UNTRUSTED" 2>&1 | tee /dev/stderr |
		grep -qx 'Verification: OK'
}

t_start() { lld_start; }

t_sha256() {
	query_stamp a -sha256 -cert && verify_query a &&
		openssl ts -verify -in "$T/a.tsr" -data "$T/data" \
			-CAfile "$ROOT" -untrusted "$CA/certs/tsa-ca.pem" 2>&1 |
		grep -qx 'Verification: OK'
}

t_sha384() { query_stamp b -sha384 -no_nonce && verify_query b; }
t_sha512() { query_stamp c -sha512 -cert -tspolicy "$POLICY" && verify_query c; }

# the token's fields, as openssl prints them
t_fields() {
	local text
	text=$(openssl ts -reply -in "$T/a.tsr" -text 2>/dev/null)
	echo "$text"
	grep -q '^Status: Granted' <<<"$text" &&
		grep -q "^Policy OID: $POLICY\$" <<<"$text" &&
		grep -q '^Accuracy: 0x01 seconds' <<<"$text" &&
		grep -q '^Nonce: 0x' <<<"$text" &&
		[ "$(openssl ts -reply -in "$T/b.tsr" -text 2>/dev/null |
			grep -c '^Nonce: unspecified')" = 1 ]
}

# genTime within 5 s of the clock here
t_time() {
	local when now
	when=$(openssl ts -reply -in "$T/a.tsr" -text 2>/dev/null |
		sed -n 's/^Time stamp: //p')
	echo "genTime $when"
	when=$(date -d "$when" +%s) || return 1
	now=$(date +%s)
	[ $((now - when)) -le 5 ] && [ $((when - now)) -le 5 ]
}

# the unit's certificate: timeStamping alone, critical, under tsa-ca;
# the token names it in signingCertificateV2 (RFC 5816)
t_unit_cert() {
	openssl ts -reply -in "$T/a.tsr" -token_out -out "$T/a.tok" 2>/dev/null &&
		openssl pkcs7 -inform DER -in "$T/a.tok" -print_certs \
			-out "$T/a.certs" &&
		openssl x509 -in "$CA/certs/tsa.pem" -noout -ext extendedKeyUsage |
		tee /dev/stderr | grep -A1 'critical' | grep -qx '    Time Stamping' &&
		openssl verify -CAfile "$ROOT" -untrusted "$CA/certs/tsa-ca.pem" \
			-purpose timestampsign "$CA/certs/tsa.pem" &&
		openssl asn1parse -inform DER -in "$T/a.tok" |
		grep -q 'id-smime-aa-signingCertificateV2'
}

# 200 stamps from 8 clients at once, all verified, serials distinct
t_concurrent() {
	local i
	for i in $(seq 1 200); do
		echo "message $i" >"$T/m$i"
		openssl ts -query -data "$T/m$i" -sha256 -cert \
			-out "$T/m$i.tsq" 2>/dev/null || return 1
	done
	# shellcheck disable=SC2016
	seq 1 200 | xargs -P 8 -I{} sh -c \
		'curl -s --max-time 20 -o "$1/m$2.tsr" -H "Content-Type: application/timestamp-query" --data-binary "@$1/m$2.tsq" "$3/tsa"' \
		_ "$T" {} "$URL" || return 1
	for i in $(seq 1 200); do
		openssl ts -verify -in "$T/m$i.tsr" -queryfile "$T/m$i.tsq" \
			-CAfile "$ROOT" -untrusted "$CA/certs/tsa-ca.pem" \
			2>/dev/null | grep -qx 'Verification: OK' ||
			{ echo "reply $i does not verify"; return 1; }
		openssl ts -reply -in "$T/m$i.tsr" -text 2>/dev/null |
			sed -n 's/^Serial number: //p'
	done >"$T/serials"
	[ "$(sort -u "$T/serials" | wc -l)" = 200 ]
}

# rejected REPLY FAILURE-TEXT: status Rejected with that failInfo
rejected() {
	local text
	text=$(openssl ts -reply -in "$1" -text 2>/dev/null)
	echo "$text"
	grep -q '^Status: Rejected' <<<"$text" &&
		grep -q "^Failure info: $2" <<<"$text"
}

t_sha1() {
	openssl ts -query -data "$T/data" -sha1 -out "$T/s1.tsq" 2>/dev/null &&
		[ "$(stamp "$T/s1.tsq" "$T/s1.tsr")" = 200 ] &&
		rejected "$T/s1.tsr" 'unrecognized or unsupported algorithm'
}

t_policy() {
	openssl ts -query -data "$T/data" -sha256 -tspolicy 1.2.3.4 \
		-out "$T/p.tsq" 2>/dev/null &&
		[ "$(stamp "$T/p.tsq" "$T/p.tsr")" = 200 ] &&
		rejected "$T/p.tsr" 'the requested TSA policy is not supported'
}

t_garbage() {
	head -c 300 /dev/urandom >"$T/g.tsq"
	[ "$(stamp "$T/g.tsq" "$T/g.tsr")" = 200 ] &&
		rejected "$T/g.tsr" 'the data submitted has the wrong format'
}

t_empty() {
	: >"$T/e.tsq"
	[ "$(stamp "$T/e.tsq" "$T/e.tsr")" = 200 ] &&
		rejected "$T/e.tsr" 'the data submitted has the wrong format'
}

# a request with an extension (any is refused, RFC 3161 2.4.1): the
# query re-encoded by hand with an extensions field appended
t_extension() {
	python3 - "$T/a.tsq" "$T/x.tsq" <<'EOF' || return 1
import sys
q = open(sys.argv[1], 'rb').read()
assert q[0] == 0x30
# the content of the outer SEQUENCE
if q[1] < 0x80:
    body = q[2:]
else:
    n = q[1] & 0x7f
    body = q[2 + n:]
# [0] IMPLICIT Extensions: one extension 1.2.3.4 = OCTET STRING 05 00
ext = bytes([0x06, 0x03, 0x2a, 0x03, 0x04, 0x04, 0x02, 0x05, 0x00])
ext = bytes([0x30, len(ext)]) + ext
ext = bytes([0xa0, len(ext)]) + ext
body += ext
def hdr(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b
open(sys.argv[2], 'wb').write(bytes([0x30]) + hdr(len(body)) + body)
EOF
	openssl ts -query -in "$T/x.tsq" -text >&2 &&
		[ "$(stamp "$T/x.tsq" "$T/x.tsr")" = 200 ] &&
		rejected "$T/x.tsr" 'the requested extension is not supported'
}

t_http_errors() {
	local get ctype
	get=$(curl -s -o /dev/null -w '%{http_code}' "$URL/tsa")
	ctype=$(stamp "$T/a.tsq" "$T/ct.tsr" application/octet-stream)
	echo "GET $get, octet-stream $ctype"
	[ "$get" = 405 ] && [ "$ctype" = 415 ]
}

# alice, certified by this CA, with its root as her trust anchor
ll() { "$LETTERLOCK" --home "$T/home" "$@"; }
t_alice() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/alice.key" -subj /CN=alice@example.test \
		-addext subjectAltName=email:alice@example.test \
		-out "$T/alice.csr" 2>&1 &&
		"$LETTERLOCKD" issue --dir "$CA" --email alice@example.test \
			--csr "$T/alice.csr" -o "$T/alice.pem" &&
		ll identity import-pem "$T/alice.key" "$T/alice.pem" &&
		ll trust add "$ROOT" &&
		printf 'From: alice@example.test\r\nTo: alice@example.test\r\nSubject: stamped\r\n\r\nhello\r\n' >"$T/msg"
}

# open_json FILE: letterlock open --json of FILE on stdout
open_json() { ll open --json "$1" 2>/dev/null; }

t_seal_stamped() {
	local j
	ll seal --sign-only --tsa "$URL/tsa" -o "$T/s.eml" "$T/msg" &&
		j=$(open_json "$T/s.eml") && echo "$j" &&
		grep -q '"signature":"valid"' <<<"$j" &&
		grep -q '"timestamp":"20[0-9-]*T[0-9:]*Z"' <<<"$j" &&
		grep -q '"errors":\[\]' <<<"$j"
}

# the peer: the signed part verifies with openssl cms, token and all
t_seal_peer() {
	openssl cms -verify -in "$T/s.eml" -CAfile "$ROOT" -purpose any \
		-out /dev/null 2>&1 | tee /dev/stderr |
		grep -q 'Verification successful'
}

# gpgsm (GnuPG 2.2) reads it too: GOODSIG, VALIDSIG, TRUST_FULLY with
# the root in its trust list (its exit code is not its verdict)
t_seal_gpgsm() {
	local g=$T/gnupg fpr
	command -v gpgsm >/dev/null || { echo "no gpgsm"; return 1; }
	mkdir -m 700 "$g" &&
		printf 'disable-crl-checks\ndisable-dirmngr\nno-common-certs-import\n' \
			>"$g/gpgsm.conf" &&
		printf 'no-allow-mark-trusted\ndisable-scdaemon\n' \
			>"$g/gpg-agent.conf" || return 1
	fpr=$(openssl x509 -in "$ROOT" -noout -fingerprint -sha1) || return 1
	printf '%s S\n' "${fpr#*=}" >"$g/trustlist.txt"
	python3 "$here/smimetool.py" split-signed "$T/s.eml" "$T/s.content" \
		"$T/s.p7s" || return 1
	GNUPGHOME=$g timeout 60 gpgsm --batch --import "$ROOT" \
		"$CA/certs/smime-ca.pem" >/dev/null 2>&1
	GNUPGHOME=$g timeout 60 gpgsm --batch --status-fd 1 --verify \
		"$T/s.p7s" "$T/s.content" >"$T/gpgsm.out" 2>"$T/gpgsm.err"
	cat "$T/gpgsm.out" "$T/gpgsm.err"
	GNUPGHOME=$g gpgconf --kill all >/dev/null 2>&1
	grep -q '^\[GNUPG:\] GOODSIG ' "$T/gpgsm.out" &&
		grep -q '^\[GNUPG:\] VALIDSIG ' "$T/gpgsm.out" &&
		grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/gpgsm.out"
}

t_seal_opaque() {
	local j
	ll seal --sign-only --opaque --tsa "$URL/tsa" -o "$T/o.eml" \
		"$T/msg" && j=$(open_json "$T/o.eml") && echo "$j" &&
		grep -q '"signature":"valid"' <<<"$j" &&
		grep -q '"timestamp":"20' <<<"$j"
}

# a TSA that is not there: signed all the same, said on stderr;
# without a token open reports no trusted timestamp
t_seal_no_tsa() {
	local j
	ll seal --sign-only --tsa http://127.0.0.1:1/tsa -o "$T/n.eml" \
		"$T/msg" 2>"$T/n.err" || return 1
	cat "$T/n.err"
	grep -q 'warning: signed without a time-stamp' "$T/n.err" &&
		j=$(open_json "$T/n.eml") && echo "$j" &&
		grep -q '"signature":"valid"' <<<"$j" &&
		grep -q '"timestamp":null' <<<"$j"
}

t_seal_required() {
	local rc
	ll seal --sign-only --tsa http://127.0.0.1:1/tsa --require-timestamp \
		-o "$T/r.eml" "$T/msg"
	rc=$?
	echo "exit $rc"
	[ "$rc" -ne 0 ] && [ ! -e "$T/r.eml" ]
}

# the TSA keyholder killed: systemFailure, the rest serves on
t_keyholder_gone() {
	local kh
	kh=$(pgrep -g "$LLD_PID" -f 'letterlockd run' | while read -r p; do
		[ "$p" = "$LLD_PID" ] || echo "$p"
	done | tail -n 1)
	echo "keyholders: $(pgrep -g "$LLD_PID" | tr '\n' ' ') killing $kh"
	[ -n "$kh" ] && kill -KILL "$kh" || return 1
	sleep 0.3
	[ "$(stamp "$T/a.tsq" "$T/k.tsr")" = 200 ] &&
		rejected "$T/k.tsr" 'the request cannot be handled due to system failure' &&
		curl -sf -o /dev/null "$URL/ca/root.crt" &&
		kill -0 "$LLD_PID"
}

tcase "letterlockd run serves" t_start
[ -n "$LLD_PID" ] || bail "letterlockd run did not start"
tcase "SHA-256 with nonce and certReq: openssl ts -verify accepts it (query, data)" t_sha256
tcase "SHA-384 without nonce or certificates: verifies" t_sha384
tcase "SHA-512 naming the TSA's policy: verifies" t_sha512
tcase "the token carries the policy, accuracy and the nonce asked" t_fields
tcase "genTime is the clock's, within 5 s" t_time
tcase "the unit's certificate: timeStamping alone, critical, under tsa-ca; ESSCertIDv2" t_unit_cert
tcase "200 requests from 8 clients: every reply verifies, serials all distinct" t_concurrent
tcase "SHA-1: rejected with badAlg" t_sha1
tcase "another policy: rejected with unacceptedPolicy" t_policy
tcase "garbage: rejected with badDataFormat" t_garbage
tcase "an empty body: rejected with badDataFormat" t_empty
tcase "a request extension: rejected with unacceptedExtension" t_extension
tcase "GET is 405, another Content-Type 415" t_http_errors
tcase "alice certified by the CA, its root her trust anchor" t_alice
tcase "seal --tsa: open --json reports the trusted timestamp" t_seal_stamped
tcase "the stamped message verifies with openssl cms" t_seal_peer
tcase "the stamped message verifies with gpgsm (GOODSIG, VALIDSIG, TRUST_FULLY)" t_seal_gpgsm
tcase "seal --opaque --tsa: stamped too" t_seal_opaque
tcase "TSA unreachable: signed without a token, with a warning" t_seal_no_tsa
tcase "TSA unreachable with --require-timestamp: refused, nothing written" t_seal_required
tcase "TSA keyholder killed: systemFailure, the service serves on" t_keyholder_gone

plan
