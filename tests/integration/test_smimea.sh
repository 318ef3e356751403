#!/bin/bash
# test_smimea.sh - recipients' certificates from SMIMEA records (RFC
# 8162) through DNS, DNSSEC-validated (issue 4, sections 1 and 4), end
# to end with real parts: letterlockd issues certificates through ACME
# (mailbox proofs on the mail stack), `letterlockd export-smimea` writes
# their records, NSD serves them in example.test signed by
# `scripts/mailstack` (MAILSTACK_DNSSEC, ldns-signzone), and
# `letterlock contact lookup --smimea` asks through libunbound with the
# stack's trust anchor:
#
#   * the signed zone answers with RRSIGs; the fragment loads into it;
#   * alice is found through SMIMEA (source smimea, current), and mail
#     sealed to her opens with her key (openssl cms);
#   * the order of the sources: the directory answers first (pkx); an
#     address only in DNS is found with --smimea, not without it;
#   * refused, with a note: a record added after signing and not signed
#     (bogus), a wrong trust anchor (bogus), a record in the unsigned
#     ca.test (insecure); then the same carol record signed: found;
#   * records that give no certificate: a digest (3 0 1), a certificate
#     for another address;
#   * a key through SMIMEA for an address with a known (expired) key:
#     pending, not used, until contact accept;
#   * the cache: a secure "no such name" holds for its TTL (or
#     --max-age), then the new record is found;
#   * usage errors.
#
# Output: TAP.  Needs root, the packages of scripts/setup (ldnsutils
# among them); skips otherwise.  The harness is lldtest.sh.
#   LETTERLOCKD, LETTERLOCK   the binaries (default: tests/run's, else
#                             build/); KEEP_TMP=1 keeps the directory
#
# shellcheck disable=SC2317,SC2034,SC2016,SC2153,SC1091
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

if ! command -v ldns-signzone >/dev/null 2>&1; then
	echo "ok 1 - SMIMEA through DNSSEC # SKIP missing ldns-signzone (run scripts/setup)"
	echo "1..1"
	exit 0
fi

ALICE=alice@example.test
BOB=bob@example.test
CAROL=carol@example.test

lldtest_init smimea "SMIMEA through DNSSEC"
export MAILSTACK_DNSSEC=example.test
unset MAILSTACK_PASSWORD


# ------------------------------------------------------------ helpers

# owner ADDR: the owner name of ADDR's SMIMEA records (RFC 8162 3)
owner() {
	printf '%s._smimecert.%s' \
		"$(printf %s "${1%@*}" | sha256sum | cut -c1-56)" "${1#*@}"
}
hexder() { openssl x509 -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'; }
fpr() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 |
		sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
# selfsigned NAME ADDR: NAME.pem, a P-256 certificate for ADDR that no
# CA issued (DANE-EE needs none)
selfsigned() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.pem" -days 30 -subj "/CN=$1" \
		-addext "subjectAltName=email:$2" 2>/dev/null
}
ll() { "$LETTERLOCK" --home "$T/$1" "${@:2}"; }
# lookup HOME ARGS...: contact lookup; its output in $T/out, its
# warnings in $T/err, both shown
lookup() {
	local rc
	ll "$1" contact lookup "${@:2}" >"$T/out" 2>"$T/err"
	rc=$?
	cat "$T/out" "$T/err"
	return $rc
}
# has_line TEXT: $T/out has the line TEXT
has_line() { grep -qxF -- "$1" "$T/out"; }
# says TEXT: a warning holds TEXT
says() { grep -qF -- "$1" "$T/err"; }
# dig_sec NAME TYPE: NSD's answer with DNSSEC records
dig_sec() {
	dig @127.0.0.1 -p "$MAILSTACK_DNS_PORT" +dnssec +norecurse +time=5 \
		+nosplit +noall +answer "$1" "$2"
}
ms() { "$MS" "$@" >"$T/ms.out" 2>&1 || { cat "$T/ms.out"; return 1; }; }

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up, example.test DNSSEC-signed (MAILSTACK_DNSSEC)"
# what the lookups with SMIMEA give
SEC=(--smimea --resolver-conf "$MAILSTACK_DNSSEC_RESOLVER_CONF")

t_signed() {
	dig_sec example.test SOA | tee /dev/stderr | grep -q 'RRSIG[[:space:]]*SOA' &&
		grep -q '^example.test.[[:space:]]*IN[[:space:]]*DS' \
			"$MAILSTACK_TRUST_ANCHOR" &&
		grep -q "trust-anchor-file: \"$MAILSTACK_TRUST_ANCHOR\"" \
			"$MAILSTACK_DNSSEC_RESOLVER_CONF" &&
		[ "$MAILSTACK_DNSSEC_DOMAINS" = example.test ] &&
		# ca.test is not signed
		! dig_sec ca.test SOA | grep -q RRSIG
}
t "the zone is signed (RRSIG), its DS the trust anchor of a validating resolver configuration; ca.test unsigned" t_signed

t "letterlockd init and run" eval 'lld_init && lld_start'
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"
t "ACME account (acmetool)" eval 'acme main account && expect status valid'

# issued USER NAME: USER's certificate through ACME into NAME.pem/.key
issued() {
	acme main issue "$1" --user "$1" --key-out "$T/$2.key" \
		--cert-out "$T/$2.chain" &&
		openssl x509 -in "$T/$2.chain" -out "$T/$2.pem"
}
t "alice, bob and carol get certificates through ACME (mailbox proofs)" \
	eval 'issued "$ALICE" alice && issued "$BOB" bob && issued "$CAROL" carol'
[ -s "$T/carol.pem" ] || fatal "no certificates issued"

t_export() {
	"$LETTERLOCKD" export-smimea --dir "$CA" --domain example.test \
		--out "$T/smimea.zone" || return 1
	grep -c 'IN SMIMEA 3 0 0' "$T/smimea.zone" | grep -qx 3 || return 1
	# all but carol's into the zone, signed anew
	grep -v "^$(owner "$CAROL")" "$T/smimea.zone" \
		>>"$STACK/dns/zones/example.test.records" &&
		ms dns-reload "$STACK" || return 1
	dig_sec "$(owner "$ALICE")" SMIMEA | tee /dev/stderr |
		grep -q 'RRSIG[[:space:]]*SMIMEA'
}
t "export-smimea writes the three records; alice's and bob's go into the zone, signed (RRSIG SMIMEA)" t_export

# ------------------------------------------------------------ found

t_found() {
	lookup sender "${SEC[@]}" "$ALICE" nobody@example.test &&
		has_line "$ALICE found smimea" &&
		has_line "nobody@example.test none" || return 1
	ll sender contact list | tee /dev/stderr |
		grep -qx "$ALICE $(fpr "$T/alice.pem") current smimea until .*"
}
t "contact lookup --smimea: alice found (current, source smimea); an absent address none" t_found

t_seal() {
	# seal signs as From: the sender's identity
	selfsigned sender x@example.test &&
		ll sender identity import-pem "$T/sender.key" "$T/sender.pem" \
			>/dev/null || return 1
	printf 'From: x@example.test\r\nTo: %s\r\nSubject: s\r\n\r\nhi\r\n' \
		"$ALICE" >"$T/m" &&
		ll sender seal --cbc -o "$T/e.eml" "$T/m" || return 1
	openssl cms -decrypt -in "$T/e.eml" -inkey "$T/alice.key" \
		-recip "$T/alice.pem" -out "$T/d" && grep -q hi "$T/d"
}
t "mail sealed to alice with the SMIMEA certificate opens with her key (openssl cms)" t_seal

t_order() {
	selfsigned frank frank@example.test &&
		ms dns-add "$STACK" "$(owner frank@example.test)" SMIMEA 3 0 0 \
			"$(hexder "$T/frank.pem")" || return 1
	lookup order --pkx "$URL/pkx/" "${SEC[@]}" "$ALICE" &&
		has_line "$ALICE found pkx" || return 1
	lookup order2 --pkx "$URL/pkx/" frank@example.test &&
		has_line "frank@example.test none" || return 1
	lookup order2 --pkx "$URL/pkx/" "${SEC[@]}" frank@example.test &&
		has_line "frank@example.test found smimea"
}
t "the directory first (alice: pkx); frank, only in DNS: none without --smimea, found with it" t_order

# ------------------------------------------------------------ refused

t_bogus_unsigned() {
	ms dns-add-unsigned "$STACK" "$(owner "$CAROL")" SMIMEA 3 0 0 \
		"$(hexder "$T/carol.pem")" || return 1
	# NSD serves it, without a signature
	dig_sec "$(owner "$CAROL")" SMIMEA | tee /dev/stderr |
		grep -q 'IN[[:space:]]*SMIMEA' || return 1
	! dig_sec "$(owner "$CAROL")" SMIMEA | grep -q RRSIG || return 1
	lookup refused "${SEC[@]}" "$CAROL" && has_line "$CAROL none" &&
		says "SMIMEA for $CAROL: DNSSEC validation failed (bogus)" &&
		[ -z "$(ll refused contact list)" ]
}
t "a record added after signing, not signed: bogus, refused with a note, nothing stored" t_bogus_unsigned

t_signed_now() {
	ms dns-add "$STACK" "$(owner "$CAROL")" SMIMEA 3 0 0 \
		"$(hexder "$T/carol.pem")" || return 1
	# the refusal was not remembered
	lookup refused "${SEC[@]}" "$CAROL" && has_line "$CAROL found smimea"
}
t "the same record signed (dns-add): carol found at once (a refusal is not cached)" t_signed_now

t_wrong_anchor() {
	# the right DS with its digest changed
	sed 's/[0-9a-f]\{8\}$/00000000/' "$MAILSTACK_TRUST_ANCHOR" \
		>"$T/wrong.ds" && ! cmp -s "$T/wrong.ds" "$MAILSTACK_TRUST_ANCHOR" ||
		return 1
	lookup wrong --smimea --resolver-conf "$MAILSTACK_RESOLVER_CONF" \
		--trust-anchor "$T/wrong.ds" "$ALICE" &&
		has_line "$ALICE none" &&
		says "SMIMEA for $ALICE: DNSSEC validation failed (bogus)" ||
		return 1
	# the stack's other resolver configuration (no anchor) with the
	# right one as --trust-anchor
	lookup right --smimea --resolver-conf "$MAILSTACK_RESOLVER_CONF" \
		--trust-anchor "$MAILSTACK_TRUST_ANCHOR" "$ALICE" &&
		has_line "$ALICE found smimea"
}
t "a wrong trust anchor: bogus, refused; the right one given with --trust-anchor: found" t_wrong_anchor

t_insecure() {
	selfsigned acme acme@ca.test &&
		ms dns-add "$STACK" "$(owner acme@ca.test)" SMIMEA 3 0 0 \
			"$(hexder "$T/acme.pem")" || return 1
	dig_sec "$(owner acme@ca.test)" SMIMEA | grep -q 'IN[[:space:]]*SMIMEA' ||
		return 1
	lookup insecure "${SEC[@]}" acme@ca.test &&
		has_line "acme@ca.test none" &&
		says "SMIMEA for acme@ca.test: the answer is not DNSSEC-signed (insecure)"
}
t "a record in the unsigned ca.test: insecure, refused with a note" t_insecure

t_no_cert() {
	selfsigned dave dave@example.test &&
		ms dns-add "$STACK" "$(owner dave@example.test)" SMIMEA 3 0 1 \
			"$(openssl x509 -in "$T/dave.pem" -outform DER | sha256sum | cut -c1-64)" &&
		ms dns-add "$STACK" "$(owner erin@example.test)" SMIMEA 3 0 0 \
			"$(hexder "$T/alice.pem")" || return 1
	lookup nocert "${SEC[@]}" dave@example.test erin@example.test &&
		has_line "dave@example.test none" &&
		has_line "erin@example.test none" &&
		says "SMIMEA for dave@example.test: 3 0 1: a digest" &&
		says "SMIMEA for erin@example.test: a certificate for another address"
}
t "no certificate to take: a digest (3 0 1); alice's certificate at erin's name" t_no_cert

# ------------------------------------------------------------ pending

# expired NAME ADDR: NAME.pem, a certificate for ADDR that expired
expired() {
	"$PY" - "$T/$1.pem" "$2" <<'EOF'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
k = ec.generate_private_key(ec.SECP256R1())
n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'old')])
c = (x509.CertificateBuilder().subject_name(n).issuer_name(n)
     .public_key(k.public_key()).serial_number(x509.random_serial_number())
     .not_valid_before(datetime.datetime(2020, 1, 1))
     .not_valid_after(datetime.datetime(2021, 1, 1))
     .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(sys.argv[2])]), False)
     .sign(k, hashes.SHA256()))
open(sys.argv[1], 'wb').write(c.public_bytes(serialization.Encoding.PEM))
EOF
}

t_pending() {
	expired bobold "$BOB" && ll keen contact add "$T/bobold.pem" || return 1
	lookup keen "${SEC[@]}" "$BOB" && has_line "$BOB none pending" ||
		return 1
	ll keen contact list | tee /dev/stderr >"$T/list"
	grep -qx "$BOB $(fpr "$T/bob.pem") pending smimea until .*" "$T/list" &&
		grep -qx "$BOB $(fpr "$T/bobold.pem") current manual until .*" "$T/list"
}
t "bob known by an expired key: his key through SMIMEA is pending, not used" t_pending

t_accept() {
	ll keen contact accept "$BOB" "$(fpr "$T/bob.pem")" &&
		lookup keen "${SEC[@]}" "$BOB" && has_line "$BOB found smimea" &&
		ll keen contact list |
		grep -qx "$BOB $(fpr "$T/bobold.pem") replaced manual until .*"
}
t "contact accept: bob's SMIMEA key current, the old one replaced" t_accept

# ------------------------------------------------------------ cache

t_cache() {
	local ttl
	lookup cache "${SEC[@]}" gina@example.test &&
		has_line "gina@example.test none" || return 1
	ttl=$(sqlite3 "$T/cache/letterlock.db" \
		"SELECT expires - checked FROM smimea_lookups WHERE address = 'gina@example.test' AND found = 0")
	echo "cached for $ttl s"
	# the negative TTL of the zone (SOA minimum 60)
	[ "$ttl" -gt 0 ] && [ "$ttl" -le 60 ] || return 1
	selfsigned gina gina@example.test &&
		ms dns-add "$STACK" "$(owner gina@example.test)" SMIMEA 3 0 0 \
			"$(hexder "$T/gina.pem")" || return 1
	lookup cache "${SEC[@]}" gina@example.test &&
		has_line "gina@example.test none" || return 1
	sleep 1
	lookup cache "${SEC[@]}" --max-age 1 gina@example.test &&
		has_line "gina@example.test found smimea"
}
t "a secure 'no such name' is cached for its TTL: gina's new record unseen, then found with --max-age 1" t_cache

t_usage() {
	ll u contact lookup --resolver-conf x "$ALICE" >/dev/null 2>&1
	[ $? -eq 2 ] || return 1
	ll u contact lookup "$ALICE" >/dev/null 2>&1
	[ $? -eq 2 ] || return 1
	ll u contact --help | grep -q -- '--smimea'
}
t "usage: --resolver-conf without --smimea, no source: exit 2; --help names --smimea" t_usage

finish
