#!/bin/bash
# test_pkx.sh - letterlockd's PKX public key directory (doc/pkx-api.md)
# end to end against the real mail stack (scripts/mailstack), with
# `letterlock enrol`, acmetool.py, curl, openssl, python and NSD:
#
#   * alice enrols with `letterlock enrol`: her certificate is in the
#     directory at once; looked up alone and in a batch, by fingerprint
#     (DER and PEM); addresses normalised (domain case, IDNA, percent-
#     encoded path), the local part's case kept; an absent address
#     answers the same shape; errors, no listing;
#   * caching: a strong ETag over the body, If-None-Match gives 304,
#     Cache-Control short for lookups, immutable by fingerprint;
#   * capabilities stated by the account that ordered the certificate
#     (her key, taken from her letterlock home), refused for another;
#   * a certificate of another CA (made with openssl) published after a
#     mailbox proof (RFC 8823 round trip), refused without one, with a
#     stale one, for another address, for another account, twice on one
#     proof, for the wrong usage;
#   * revocation: gone from lookups, still there by fingerprint;
#   * certificates issued through ACME are in the directory at issuance
#     (bob, and 马克@example.test with a UTF-8 local part);
#   * the rate limit per client address: 429 with Retry-After for one
#     loopback address while another goes on, and after the wait;
#   * letterlockd export-smimea: RFC 8162 owner names computed here with
#     hashlib, the records of the current certificates only, loaded by
#     NSD and answered by dig.
#
# Output: TAP (see test_acme.sh).  Needs root and the packages of
# scripts/setup; skips otherwise.  The harness is lldtest.sh.
#   LETTERLOCKD, LETTERLOCK   the binaries (default: tests/run's, else
#                             build/); KEEP_TMP=1 keeps the directory
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test
CAROL=carol@example.test
MAKE=马克@example.test

lldtest_init pkx "PKX directory end to end"
export MAILSTACK_USERS=$MAKE
unset MAILSTACK_PASSWORD
PKX=$URL/pkx
ORD=""
# a second client: another loopback address
OTHER_IP=127.0.0.2


# ------------------------------------------------------------ helpers

# get URL [CURL ARGS...]: the body into $T/body, the header into
# $T/hdr; prints the status.
get() {
	local u=$1
	shift
	: >"$T/body"
	curl -sS --max-time 20 -o "$T/body" -D "$T/hdr" -w '%{http_code}' \
		"$@" "$u"
}
# status WANT URL [CURL ARGS...]: get answers WANT
status() {
	local want=$1 got
	shift
	got=$(get "$@")
	[ "$got" = "$want" ] && return 0
	echo "$1: HTTP $got, expected $want"
	head -c 600 "$T/body"
	echo
	return 1
}
# hdr NAME: the value of header NAME of the last answer
hdr() {
	awk -v n="$1" 'tolower(substr($0, 1, length(n) + 1)) == tolower(n) ":" {
		v = substr($0, length(n) + 2); sub(/^[ \t]*/, "", v);
		sub(/\r$/, "", v); print v }' "$T/hdr" | tail -n 1
}
# has_hdr NAME VALUE
has_hdr() {
	[ "$(hdr "$1")" = "$2" ] && return 0
	echo "$1: '$(hdr "$1")', expected '$2'"
	return 1
}
# check PYTHON ARGS...: PYTHON holds for d, the JSON of $T/body, and
# a, the ARGS (sha256(path) and der(path) help)
check() {
	local code=$1
	shift
	"$PY" - "$T/body" "$@" <<EOF || { echo "body: $(head -c 800 "$T/body")"; return 1; }
import base64, hashlib, json, sys
d = json.load(open(sys.argv[1]))
a = sys.argv[2:]
def der(path):
    return open(path, 'rb').read()
def sha256(path):
    return hashlib.sha256(der(path)).hexdigest()
def b64u(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
$code
EOF
}
# post_json URL JSON [CURL ARGS...]
post_json() {
	local u=$1 body=$2
	shift 2
	get "$u" -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" "$@"
}
# addresses N: a batch body of N addresses
addresses() {
	"$PY" -c 'import json, sys
print(json.dumps({"addresses": ["u%d@example.test" % i for i in range(int(sys.argv[1]))]}))' "$1"
}

ENTRY_KEYS="['address', 'certificates']"
CERT_KEYS="['capabilities', 'certificate', 'fingerprint', 'notAfter', 'notBefore', 'source', 'url']"

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up (with $MAKE)"

t_init() {
	lld_init || return 1
	# lookups cached a minute; a bucket of two full batches that fills
	# again at a token every 2 s
	printf '\n[pkx]\nrate = 30\nburst = 200\nmax_age = 60\n' \
		>>"$CA/letterlockd.conf"
}
t "letterlockd init, [pkx] rate 30, burst 200, max_age 60" t_init
[ -f "$CA/letterlockd.conf" ] || fatal "letterlockd init failed"
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"

t_directory() {
	status 200 "$URL/acme/directory" &&
		check 'assert d["meta"]["letterlockPkx"] == a[0], d' "$PKX/"
}
t "the ACME directory names the PKX base (meta.letterlockPkx)" t_directory

# ------------------------------------------------------------ alice

AHOME=$T/alice-home
t_enrol() {
	local rc
	pw "$ALICE" >"$T/alice.password" && chmod 600 "$T/alice.password"
	timeout 150 "$LETTERLOCK" --home "$AHOME" enrol "$ALICE" \
		--acme "$URL/acme/directory" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--mail-password-file "$T/alice.password" --key-type p256 \
		--timeout 60 >"$T/out" 2>&1
	rc=$?
	cat "$T/out"
	[ "$rc" -eq 0 ] && grep -q 'enrol: installed' "$T/out" || return 1
	"$LETTERLOCK" --home "$AHOME" identity export-cert "$ALICE" \
		>"$T/alice.pem" &&
		openssl x509 -in "$T/alice.pem" -outform DER -out "$T/alice.der"
}
t "alice enrols with letterlock enrol (key made there, mailbox proven)" t_enrol
[ -s "$T/alice.der" ] || fatal "alice has no certificate"
ALICE_FPR=$(openssl x509 -in "$T/alice.pem" -noout -fingerprint -sha256 |
	sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')

t_alice() {
	status 200 "$PKX/addr/$ALICE" &&
		has_hdr Content-Type application/json &&
		has_hdr Cache-Control "public, max-age=60" || return 1
	hdr ETag | grep -Eqx '"[0-9a-f]{64}"' || { echo "ETag $(hdr ETag)"; return 1; }
	[ "$(hdr ETag)" = "\"$(sha256sum <"$T/body" | cut -c1-64)\"" ] ||
		{ echo "the ETag is not the SHA-256 of the body"; return 1; }
	check "
from cryptography import x509
assert sorted(d) == $ENTRY_KEYS, d
assert d['address'] == a[0]
assert len(d['certificates']) == 1, d
c = d['certificates'][0]
assert sorted(c) == $CERT_KEYS, c
assert c['fingerprint'] == sha256(a[1]) == a[3], c
assert b64u(c['certificate']) == der(a[1])
assert c['url'] == a[2] + '/cert/' + c['fingerprint'], c
assert c['source'] == 'ca', c
# letterlock enrol says what letterlock reads
assert c['capabilities'] == ['aes256-gcm', 'aes128-gcm', 'aes256-cbc', 'aes128-cbc', 'rsaes-oaep'], c
x = x509.load_der_x509_certificate(der(a[1]))
assert c['notAfter'] == x.not_valid_after.strftime('%Y-%m-%dT%H:%M:%SZ'), c
assert c['notBefore'] == x.not_valid_before.strftime('%Y-%m-%dT%H:%M:%SZ'), c
" "$ALICE" "$T/alice.der" "$PKX" "$ALICE_FPR" || return 1
	cp "$T/body" "$T/alice.json"
	ALICE_ETAG=$(hdr ETag)
}
t "lookup of alice: her certificate (DER, fingerprint, validity), source ca, the capabilities letterlock enrol stated, ETag over the body, max-age 60" t_alice

t_normalised() {
	status 200 "$PKX/addr/alice%40EXAMPLE.Test" &&
		cmp "$T/body" "$T/alice.json" &&
		has_hdr ETag "$ALICE_ETAG" || return 1
	status 200 "$PKX/addr/alice@b%C3%BCcher.test" &&
		check 'assert d == {"address": "alice@xn--bcher-kva.test", "certificates": []}, d' ||
		return 1
	# the local part is the mailbox's own: another case, another address
	status 200 "$PKX/addr/Alice@example.test" &&
		check 'assert d == {"address": "Alice@example.test", "certificates": []}, d'
}
t "addresses are normalised: percent-encoded, domain case, U-labels to A-labels; the local part's case is kept" t_normalised

t_absent() {
	local cache
	status 200 "$PKX/addr/$BOB" || return 1
	cache=$(hdr Cache-Control)
	[ "$cache" = "public, max-age=60" ] || { echo "Cache-Control $cache"; return 1; }
	hdr ETag | grep -Eqx '"[0-9a-f]{64}"' || return 1
	check "
assert sorted(d) == $ENTRY_KEYS, d
assert d == {'address': a[0], 'certificates': []}, d
" "$BOB"
}
t "an absent address: 200, the same shape and caching, no certificate" t_absent

t_bad_requests() {
	status 400 "$PKX/addr/not-an-address" &&
		has_hdr Content-Type application/problem+json &&
		check 'assert d["type"] == "urn:ietf:params:acme:error:malformed", d' ||
		return 1
	status 400 "$PKX/addr/" && status 400 "$PKX/addr/a%20b@example.test" &&
		status 404 "$PKX/" && status 404 "$PKX/addr" &&
		status 404 "$PKX/list" && status 404 "$PKX/cert" ||
		return 1
	status 405 "$PKX/addr/$ALICE" -X POST -d x && status 405 "$PKX/lookup"
}
t "malformed addresses 400; no listing (404 for anything else); wrong methods 405" t_bad_requests

t_batch() {
	post_json "$PKX/lookup" "{\"addresses\": [\"$ALICE\", \"$BOB\", \"not an address\", \"alice@EXAMPLE.test\"]}" >"$T/code" &&
		[ "$(cat "$T/code")" = 200 ] &&
		has_hdr Cache-Control "private, max-age=60" || return 1
	check "
one = json.load(open(a[0]))
r = d['results']
assert sorted(d) == ['results'] and len(r) == 4, d
assert r[0] == dict(one, query=a[1]), r[0]
assert r[1] == {'address': a[2], 'certificates': [], 'query': a[2]}, r[1]
assert r[2]['address'] == '' and r[2]['certificates'] == [], r[2]
assert r[2]['query'] == 'not an address' and r[2]['error'], r[2]
assert r[3]['address'] == a[1] and r[3]['certificates'] == one['certificates'], r[3]
" "$T/alice.json" "$ALICE" "$BOB"
}
t "batch lookup: entries in order, the same as one by one; a bad address says why without refusing the batch" t_batch

t_batch_limits() {
	post_json "$PKX/lookup" "$(addresses 101)" >"$T/code" &&
		[ "$(cat "$T/code")" = 400 ] &&
		check 'assert "more than 100" in d["detail"], d' || return 1
	post_json "$PKX/lookup" '{"addresses": []}' >"$T/code" &&
		[ "$(cat "$T/code")" = 400 ] || return 1
	post_json "$PKX/lookup" 'not json' >"$T/code" &&
		[ "$(cat "$T/code")" = 400 ] || return 1
	status 415 "$PKX/lookup" -X POST -H 'Content-Type: text/plain' \
		--data-binary "{\"addresses\": [\"$ALICE\"]}"
}
t "batch limits: more than 100 addresses, an empty list, not JSON: 400; not application/json: 415" t_batch_limits

t_by_fingerprint() {
	status 200 "$PKX/cert/$ALICE_FPR" &&
		has_hdr Content-Type application/pkix-cert &&
		has_hdr Cache-Control "public, max-age=31536000, immutable" &&
		cmp "$T/body" "$T/alice.der" || return 1
	FPR_ETAG=$(hdr ETag)
	status 200 "$PKX/cert/$ALICE_FPR.pem" &&
		has_hdr Content-Type application/pem-certificate-chain &&
		openssl x509 -in "$T/body" -outform DER -out "$T/fpr.der" &&
		cmp "$T/fpr.der" "$T/alice.der" || return 1
	status 404 "$PKX/cert/$(printf x | sha256sum | cut -c1-64)" &&
		status 400 "$PKX/cert/$(echo "$ALICE_FPR" | tr 'a-f' 'A-F')" &&
		status 400 "$PKX/cert/${ALICE_FPR}00"
}
t "by fingerprint: DER and .pem, immutable for a year; unknown 404, not 64 lower-case hex 400" t_by_fingerprint

t_etag() {
	status 304 "$PKX/addr/$ALICE" -H "If-None-Match: $ALICE_ETAG" &&
		[ ! -s "$T/body" ] && has_hdr ETag "$ALICE_ETAG" &&
		has_hdr Cache-Control "public, max-age=60" || return 1
	status 304 "$PKX/addr/$ALICE" -H "If-None-Match: \"x\", W/$ALICE_ETAG" &&
		status 200 "$PKX/addr/$ALICE" -H 'If-None-Match: "x"' &&
		cmp "$T/body" "$T/alice.json" &&
		status 304 "$PKX/cert/$ALICE_FPR" -H "If-None-Match: $FPR_ETAG" &&
		status 304 "$PKX/addr/$ALICE" -I -H "If-None-Match: $ALICE_ETAG" &&
		status 200 "$PKX/addr/$ALICE" -I
}
t "If-None-Match with the ETag: 304 without a body (GET and HEAD, lookups and by fingerprint); another tag: 200" t_etag

# ------------------------------------------------------ capabilities

t_adopt() {
	acme alice adopt-key --home "$AHOME" &&
		acme alice account && expect http 200
}
t "alice's ACME account key, from her letterlock home, finds her account (200)" t_adopt

t_caps_owner() {
	acme alice pkx-caps "$ALICE_FPR" aes256-gcm rsaes-oaep \
		2.16.840.1.101.3.4.1.42 aes256-gcm &&
		expect http 200 &&
		expect capabilities '["aes256-gcm", "rsaes-oaep", "aes256-cbc"]' ||
		return 1
	status 200 "$PKX/addr/$ALICE" &&
		check 'assert d["certificates"][0]["capabilities"] == ["aes256-gcm", "rsaes-oaep", "aes256-cbc"], d' ||
		return 1
	[ "$(hdr ETag)" != "$ALICE_ETAG" ] || { echo "the ETag did not change"; return 1; }
	# a cache holding the old entry gets the new one
	status 200 "$PKX/addr/$ALICE" -H "If-None-Match: $ALICE_ETAG"
}
t "capabilities set by the account that ordered the certificate (JWS): in the entry, OIDs as names, repeats dropped; the ETag changes" t_caps_owner

# a sender's letterlock (bob's home, no certificate of alice yet) finds
# her through the directory: one batch for her and an absent address,
# kept as a pkx contact with what her client reads
BHOME=$T/home-bob-sender
t_client_lookup() {
	"$LETTERLOCK" --home "$BHOME" contact lookup --pkx "$PKX/" \
		"$ALICE" nobody@example.test >"$T/lookup.out" || return 1
	cat "$T/lookup.out"
	grep -qx "$ALICE found pkx" "$T/lookup.out" &&
		grep -qx "nobody@example.test none" "$T/lookup.out" &&
		"$LETTERLOCK" --home "$BHOME" contact list | tee /dev/stderr |
		grep -qx "$ALICE $ALICE_FPR current pkx until .*" &&
		sqlite3 "$BHOME/letterlock.db" \
			"SELECT caps FROM contacts WHERE fpr = '$ALICE_FPR'" |
		grep -qx 21 # aes256-gcm, aes256-cbc, rsa-oaep
}
t "letterlock contact lookup --pkx: alice found in the directory (one batch with an absent address), a pkx contact with her capabilities" t_client_lookup

t_caps_other() {
	acme eve account >/dev/null || return 1
	problem unauthorized eve pkx-caps "$ALICE_FPR" aes128-cbc &&
		expect http 403 || return 1
	status 200 "$PKX/addr/$ALICE" &&
		check 'assert d["certificates"][0]["capabilities"] == ["aes256-gcm", "rsaes-oaep", "aes256-cbc"], d'
}
t "capabilities from another account: 403 unauthorized, nothing changes" t_caps_other

t_caps_bad() {
	problem malformed alice pkx-caps "$ALICE_FPR" chacha20-poly1305 &&
		expect http 400 || return 1
	problem malformed alice pkx-caps \
		"$(printf x | sha256sum | cut -c1-64)" aes128-cbc &&
		expect http 404 || return 1
	# not a JWS
	status 415 "$PKX/caps" -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"certificate\": \"$ALICE_FPR\", \"capabilities\": []}"
}
t "capabilities refused: an unknown name (400), an unknown certificate (404), without a JWS (415)" t_caps_bad

t_caps_null() {
	acme alice pkx-caps "$ALICE_FPR" --null && expect capabilities null ||
		return 1
	status 200 "$PKX/addr/$ALICE" &&
		check 'assert d["certificates"][0]["capabilities"] is None, d' ||
		return 1
	acme alice pkx-caps "$ALICE_FPR" aes256-gcm &&
		expect capabilities '["aes256-gcm"]'
}
t "capabilities null: unknown again" t_caps_null

# ------------------------------------------- another CA's certificates

# leaf NAME SAN EKU: NAME.pem (and .key) issued by "Other CA" for SAN
leaf() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$T/$1.key" \
		-subj "/CN=$1" -out "$T/$1.csr" 2>/dev/null || return 1
	printf '%s\n' "subjectAltName = $2" "extendedKeyUsage = $3" \
		"keyUsage = critical, digitalSignature, keyEncipherment" \
		"basicConstraints = critical, CA:FALSE" >"$T/$1.ext"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/other-ca.pem" \
		-CAkey "$T/other-ca.key" -CAcreateserial -days 30 \
		-extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null &&
		openssl x509 -in "$T/$1.pem" -outform DER -out "$T/$1.der"
}
t_foreign_certs() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/other-ca.key" -out "$T/other-ca.pem" -days 30 \
		-subj "/CN=Other CA" \
		-addext "basicConstraints = critical, CA:TRUE" \
		-addext "keyUsage = critical, keyCertSign, cRLSign" \
		2>/dev/null || return 1
	leaf carol "email:$CAROL" emailProtection &&
		leaf carol2 "email:$CAROL" emailProtection &&
		leaf frank "email:frank@example.test" emailProtection &&
		leaf carol-tls "email:$CAROL" "serverAuth, clientAuth" || return 1
	openssl verify -purpose smimeencrypt -CAfile "$T/other-ca.pem" \
		"$T/carol.pem"
}
t "openssl makes another CA and certificates of it: carol (two), frank, carol for TLS only" t_foreign_certs

t "account main (acmetool)" eval 'acme main account && expect status valid'

t_publish_unproven() {
	new_order main "$CAROL" || return 1
	problem orderNotReady main pkx-publish "$ORD" "$T/carol.pem" &&
		expect http 403
}
t "publishing without a mailbox proof (the order pending): 403 orderNotReady" t_publish_unproven

t "carol's mailbox proven for account main (RFC 8823 reply): order ready" \
	proven "$CAROL"
CAROL_ORD=$ORD

t_publish_refused() {
	acme eve account >/dev/null || return 1
	problem malformed eve pkx-publish "$CAROL_ORD" "$T/carol.pem" &&
		expect http 404 || return 1
	problem rejectedIdentifier main pkx-publish "$CAROL_ORD" \
		"$T/frank.pem" && expect http 403 || return 1
	problem malformed main pkx-publish "$CAROL_ORD" "$T/carol-tls.pem" &&
		expect http 400 || return 1
	status 200 "$PKX/addr/$CAROL" &&
		check 'assert d["certificates"] == [], d' || return 1
	acme main show "$CAROL_ORD" && expect order-status ready
}
t "publishing refused: another account's order (404), a certificate for frank (403 rejectedIdentifier), for TLS only (400); nothing published, the proof not spent" t_publish_refused

t_publish() {
	acme main pkx-publish "$CAROL_ORD" "$T/carol.pem" --cap aes128-cbc &&
		expect http 201 && expect address "$CAROL" &&
		expect source published &&
		expect capabilities '["aes128-cbc"]' || return 1
	CAROL_FPR=$(val fingerprint)
	[ "$CAROL_FPR" = "$(sha256sum <"$T/carol.der" | cut -c1-64)" ] &&
		expect location "$PKX/cert/$CAROL_FPR" || return 1
	acme main show "$CAROL_ORD" && expect order-status valid || return 1
	status 200 "$PKX/addr/$CAROL" &&
		check "
c = d['certificates']
assert len(c) == 1 and c[0]['source'] == 'published', d
assert b64u(c[0]['certificate']) == der(a[0]), d
assert c[0]['capabilities'] == ['aes128-cbc'], d
" "$T/carol.der" || return 1
	status 200 "$PKX/cert/$CAROL_FPR" && cmp "$T/body" "$T/carol.der"
}
t "carol's certificate of another CA published on the proof (PEM, 201): in her entry (source published), by fingerprint; the order spent (valid)" t_publish

t "the same proof again: 403 orderNotReady" eval \
	'problem orderNotReady main pkx-publish "$CAROL_ORD" "$T/carol2.pem" && expect http 403'

t_publish_stale() {
	local id
	proven "$CAROL" || return 1
	id=${ORD##*/}
	# the proof 31 days old: past the 30 days a validation may serve
	sql "$CA/letterlockd.db" "UPDATE challenges SET validated = validated - 31 * 86400 WHERE authz = (SELECT id FROM authzs WHERE order_id = $id); SELECT changes();" |
		grep -qx 1 || { echo "could not age the proof"; return 1; }
	problem unauthorized main pkx-publish "$ORD" "$T/carol2.pem" &&
		expect http 403 || return 1
	sql "$CA/letterlockd.db" "UPDATE challenges SET validated = validated + 31 * 86400 WHERE authz = (SELECT id FROM authzs WHERE order_id = $id)" ||
		return 1
	# as base64url DER this time
	acme main pkx-publish "$ORD" "$T/carol2.pem" --der &&
		expect http 201 && expect capabilities null || return 1
	status 200 "$PKX/addr/$CAROL" &&
		check 'assert len(d["certificates"]) == 2, d'
}
t "a proof older than 30 days: 403 unauthorized; fresh again, a second certificate (base64url DER) joins the first" t_publish_stale

# ------------------------------------------------------------ revocation

t_revoke() {
	acme alice revoke "$T/alice.pem" && expect http 200 || return 1
	status 200 "$PKX/addr/$ALICE" &&
		check "assert d == {'address': a[0], 'certificates': []}, d" \
			"$ALICE" || return 1
	status 200 "$PKX/cert/$ALICE_FPR" && cmp "$T/body" "$T/alice.der"
}
t "alice's certificate revoked (by her account): gone from lookups, still there by fingerprint" t_revoke

# the sender's next lookup, once its answer is older than --max-age,
# learns that: alice's key is replaced, no longer encrypted to
t_client_revoked() {
	sleep 1
	"$LETTERLOCK" --home "$BHOME" contact lookup --pkx "$PKX/" \
		--max-age 1 "$ALICE" >"$T/lookup2.out" || return 1
	cat "$T/lookup2.out"
	grep -qx "$ALICE none" "$T/lookup2.out" &&
		"$LETTERLOCK" --home "$BHOME" contact list | tee /dev/stderr |
		grep -qx "$ALICE $ALICE_FPR replaced pkx until .*"
}
t "the sender's next lookup after the revocation: alice's key replaced, not used" t_client_revoked

# ------------------------------------------------- issued through ACME

# issued USER NAME: USER gets a certificate through acmetool (account
# main) into NAME.pem; the directory has it at once
issued() {
	acme main issue "$1" --user "$1" --key-out "$T/$2.key" \
		--cert-out "$T/$2.chain" &&
		openssl x509 -in "$T/$2.chain" -out "$T/$2.pem" &&
		openssl x509 -in "$T/$2.pem" -outform DER -out "$T/$2.der" ||
		return 1
	status 200 "$PKX/addr/$(printf %s "$1" | "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read()))')" &&
		check "
assert d['address'] == a[1], d
assert [c['fingerprint'] for c in d['certificates']] == [sha256(a[0])], d
assert d['certificates'][0]['source'] == 'ca', d
" "$T/$2.der" "$1"
}
t "bob's certificate issued through ACME is in the directory at once" \
	issued "$BOB" bob
t "$MAKE (UTF-8 local part, SmtpUTF8Mailbox) too, found by the percent-encoded UTF-8 address" \
	issued "$MAKE" make

# ------------------------------------------------------------ rate limit

t_rate_limit() {
	local body retry i
	body=$(addresses 100)
	# from another address: two full batches empty its bucket
	for i in 1 2; do
		post_json "$PKX/lookup" "$body" --interface "$OTHER_IP" \
			>"$T/code" || return 1
		[ "$(cat "$T/code")" = 200 ] ||
			{ echo "batch $i: HTTP $(cat "$T/code")"; return 1; }
	done
	status 429 "$PKX/addr/$BOB" --interface "$OTHER_IP" &&
		check 'assert d["type"] == "urn:ietf:params:acme:error:rateLimited", d' ||
		return 1
	retry=$(hdr Retry-After)
	echo "Retry-After: $retry"
	[ "$retry" -ge 1 ] && [ "$retry" -le 5 ] || return 1
	status 429 "$PKX/lookup" --interface "$OTHER_IP" -X POST \
		-H 'Content-Type: application/json' --data-binary "$body" ||
		return 1
	# another client goes on
	status 200 "$PKX/addr/$BOB" || return 1
	sleep "$retry"
	status 200 "$PKX/addr/$BOB" --interface "$OTHER_IP"
}
t "rate limit per client: after 200 lookups from $OTHER_IP, 429 rateLimited with Retry-After; 127.0.0.1 still served; after Retry-After served again" t_rate_limit

# ------------------------------------------------------------ SMIMEA

# the records of the fragment FILE as "owner hex" lines, sorted
records() {
	"$PY" - "$1" <<'EOF'
import sys
out = []
for line in open(sys.argv[1], encoding='utf-8'):
    if line.startswith(';') or not line.strip():
        continue
    f = line.split()
    assert f[1:7] == ['3600', 'IN', 'SMIMEA', '3', '0', '0'], line
    assert len(f) == 8, line
    out.append(f[0] + ' ' + f[7].lower())
print('\n'.join(sorted(out)))
EOF
}
# expected ADDR:DER...: the records those certificates make, computed
# here (RFC 8162 section 3)
expected() {
	"$PY" - "$@" <<'EOF'
import hashlib, sys
out = []
for arg in sys.argv[1:]:
    addr, path = arg.rsplit(':', 1)
    local, domain = addr.rsplit('@', 1)
    owner = hashlib.sha256(local.encode('utf-8')).digest()[:28].hex()
    out.append('%s._smimecert.%s. %s' % (owner, domain,
                                         open(path, 'rb').read().hex()))
print('\n'.join(sorted(out)))
EOF
}

t_export() {
	"$LETTERLOCKD" export-smimea --dir "$CA" --out "$T/smimea.zone" ||
		return 1
	head -c 400 "$T/smimea.zone"
	echo
	records "$T/smimea.zone" >"$T/got" &&
		expected "$BOB:$T/bob.der" "$MAKE:$T/make.der" \
			"$CAROL:$T/carol.der" "$CAROL:$T/carol2.der" >"$T/want" ||
		return 1
	diff "$T/want" "$T/got" && grep -qx '; 4 record(s)' "$T/smimea.zone"
}
t "export-smimea: SHA-256(local part)[:28]._smimecert.domain SMIMEA 3 0 0 DER for bob, $MAKE and carol's two, not alice's revoked one" t_export

t_export_domain() {
	"$LETTERLOCKD" export-smimea --dir "$CA" --domain EXAMPLE.test \
		--ttl 3600 >"$T/smimea2.zone" &&
		records "$T/smimea2.zone" | diff "$T/got" - || return 1
	"$LETTERLOCKD" export-smimea --dir "$CA" --domain ca.test \
		>"$T/none.zone" && grep -qx '; 0 record(s)' "$T/none.zone" &&
		[ -z "$(records "$T/none.zone")" ]
}
t "export-smimea --domain: the same for example.test, nothing for ca.test" t_export_domain

# dns_has OWNER DER...: NSD answers exactly these certificates at OWNER
dns_has() {
	local owner=$1 f
	shift
	dig @127.0.0.1 -p "$MAILSTACK_DNS_PORT" +short +nosplit +time=5 \
		"$owner" SMIMEA >"$T/dig" || return 1
	echo "$owner:"
	cut -c1-70 "$T/dig"
	for f in "$@"; do
		echo "3 0 0 $(od -An -v -tx1 "$f" | tr -d ' \n')"
	done | sort >"$T/dig.want"
	tr 'A-F' 'a-f' <"$T/dig" | sort | diff "$T/dig.want" -
}
t_export_dns() {
	cat "$T/smimea.zone" >>"$STACK/dns/zones/example.test.records" &&
		"$MS" dns-reload "$STACK" || return 1
	dns_has "$(expected "$CAROL:$T/carol.der" | cut -d' ' -f1)" \
		"$T/carol.der" "$T/carol2.der" &&
		dns_has "$(expected "$MAKE:$T/make.der" | cut -d' ' -f1)" \
			"$T/make.der"
}
t "the fragment loads into NSD (nsd-checkzone); dig gets carol's two and $MAKE's certificate back" t_export_dns

t_help() {
	"$LETTERLOCKD" --help | grep -q 'export-smimea --dir DIR' &&
		"$LETTERLOCKD" export-smimea --help | grep -q 'RFC 8162' || return 1
	"$LETTERLOCKD" export-smimea >/dev/null 2>&1
	[ $? -eq 2 ] || return 1
	"$LETTERLOCKD" export-smimea --dir "$CA" --ttl 5 >/dev/null 2>&1
	[ $? -eq 2 ]
}
t "letterlockd --help and export-smimea --help; usage errors exit 2" t_help

t_still_up() {
	kill -0 "$LLD_PID" && ! grep -Eq 'AddressSanitizer|runtime error' "$LOG"
}
t "letterlockd still runs, no sanitizer report in its log" t_still_up
finish
