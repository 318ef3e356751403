#!/bin/bash
# Functions below are mostly called through t(); shellcheck cannot see that.
# shellcheck disable=SC2317
#
# test_interop.sh - S/MIME interop between letterlock and three independent
# implementations: openssl cms, gpgsm (GnuPG) and NSS cmsutil (Thunderbird's
# engine), in both directions, plus negative cases.
#
# Output: TAP lines "ok - ..." / "not ok - ..." (no plan), diagnostics as
# "# ..." lines.  Exit status 0 unless the set-up itself failed.
#
#   LETTERLOCK   the letterlock binary (default build/src/cli/letterlock
#                under the source root)
#   KEEP_TMP=1   keep the temporary directory (its path is printed)
#
# The matrix it runs is described in doc/interop.md.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
tap_init interop
on_cleanup() {
	peers_cleanup
}
top=$(cd "$here/../.." && pwd)
LETTERLOCK=${LETTERLOCK:-$top/build/src/cli/letterlock}
case $LETTERLOCK in
/*) ;;
*) LETTERLOCK=$PWD/$LETTERLOCK ;;
esac

# shellcheck source=SCRIPTDIR/peers.sh
. "$here/peers.sh"



st() { python3 "$here/smimetool.py" "$@"; }

P=$T/pki
M=$T/msg
mkdir -p "$M"

[ -x "$LETTERLOCK" ] || bail "no letterlock binary at $LETTERLOCK"
bash "$here/mkpki.sh" "$P" >"$T/mkpki.log" 2>&1 || {
	sed 's/^/# /' "$T/mkpki.log"
	bail "mkpki.sh failed"
}
peers_init "$P" "$T/peers"

# ------------------------------------------------------------------ TAP


# prep CMD... -- CHECK...: run the preparation CMD, then CHECK (for t, so
# a failed preparation still gives a "not ok" line).
prep() {
	local -a p=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		p+=("$1")
		shift
	done
	shift
	"${p[@]}" || { echo "preparation failed: ${p[*]}"; return 1; }
	"$@"
}

# subst FROM TO IN OUT: sed s/FROM/TO/ (change signed content)
subst() { sed "s/$1/$2/" "$3" >"$4"; }

# refuses INPUT CMD...: INPUT exists and CMD fails.
refuses() {
	[ -s "$1" ] || { echo "input $(basename "$1") missing (an earlier step failed)"; return 1; }
	shift
	! "$@"
}

# skip DESC REASON
skip() { echo "ok - $1 # SKIP $2"; }

# probe DESC INPUT CMD...: a combination a peer is known not to support.
# Records what happens: "# SKIP unsupported: <the peer's last error line>",
# or a plain ok saying the peer now supports it.  INPUT must exist (else an
# earlier step failed: not ok).
probe() {
	local desc=$1 input=$2 why
	shift 2
	if [ ! -s "$input" ]; then
		echo "not ok - $desc"
		echo "# input $(basename "$input") missing (an earlier step failed)"
		return 0
	fi
	if "$@" >"$DIAG" 2>&1; then
		echo "ok - $desc (the peer supports it now: update doc/interop.md)"
	else
		why=$(grep -v '^$' "$PEERS_WORK/last.err" 2>/dev/null | tail -n 1)
		echo "ok - $desc # SKIP unsupported: ${why:-no output}"
	fi
}

# --------------------------------------------------------- letterlock

H=$T/homes
mkdir -p "$H"
MARK=Rosebud-4711

ll() { timeout "$PEER_TIMEOUT" "$LETTERLOCK" "$@"; }

# ll_home NAME ID [CONTACT[:CAPS]...]: identity ID, the test root trusted,
# contacts' certificates.  RSA identities are imported from PKCS#12, EC
# ones from PEM, so both import paths are used.
ll_home() {
	local name=$1 id=$2 c caps
	shift 2
	case $id in
	*-ec) ll --home "$H/$name" identity import-pem "$P/$id.key" "$P/$id.chain.pem" ;;
	*) ll --home "$H/$name" identity import "$P/$id.p12" --passphrase-file "$P/p12pass" ;;
	esac >/dev/null || return 1
	ll --home "$H/$name" trust add "$P/root.pem" >/dev/null || return 1
	for c in "$@"; do
		caps=${c#*:}
		if [ "$caps" != "$c" ]; then
			ll --home "$H/$name" contact add --caps "$caps" "$P/${c%%:*}.pem"
		else
			ll --home "$H/$name" contact add "$P/$c.pem"
		fi >/dev/null || return 1
	done
}

# A plain message FROM -> TO.
mkmsg() {
	local from=$1 to=$2 out=$3
	printf '%s\r\n' \
		"From: ${from%%@*} <$from>" \
		"To: ${to%%@*} <$to>" \
		"Subject: interop test" \
		"Date: Tue, 24 Nov 2026 10:00:00 +0000" \
		"Message-ID: <interop-$RANDOM@example.test>" \
		"MIME-Version: 1.0" \
		"Content-Type: text/plain; charset=us-ascii" \
		"" \
		"Hello Bob," \
		"" \
		"this is the interop test body, $MARK." \
		"-- " \
		"alice" >"$out"
}

# The MIME entity (no RFC 5322 headers) that peers sign or encrypt.
printf '%s\r\n' \
	"Content-Type: text/plain; charset=us-ascii" \
	"" \
	"Hello Bob," \
	"" \
	"this is the interop test body, $MARK." >"$M/entity.txt"

# ll_seal HOME IN OUT [FLAGS...]
ll_seal() {
	local home=$1 in=$2 out=$3
	shift 3
	ll --home "$H/$home" seal "$@" -o "$out" "$in"
}

# rc_in RC LIST: RC is one of the |-separated LIST.
rc_in() {
	local rc=$1 w
	local -a alts
	IFS='|' read -ra alts <<<"$2"
	for w in "${alts[@]}"; do
		[ "$rc" = "$w" ] && return 0
	done
	return 1
}

# open_check HOME MSG RCS [KEY=VALUE...]: letterlock open --json; the exit
# status must be in RCS ("0", "4|5", ...), the JSON fields must match.
# Exit 0/1: the opened message must contain the marker text.  Exit 4/5:
# no plaintext anywhere (no -o file content, nothing on stdout).  A crash
# (signal) or a time-out always fails.
open_check() {
	local home=$1 msg=$2 rcs=$3 rc
	shift 3
	local out=$T/open.out json=$T/open.json err=$T/open.err
	rm -f "$out" "$json" "$err"
	if [ ! -s "$msg" ]; then
		echo "input $(basename "$msg") missing (an earlier step failed)"
		return 1
	fi
	ll --home "$H/$home" open --json -o "$out" "$msg" >"$json" 2>"$err"
	rc=$?
	if [ "$rc" -ge 124 ]; then
		echo "letterlock open: exit $rc (crash or time-out)"
		sed 's/^/stderr: /' "$err"
		return 1
	fi
	if ! rc_in "$rc" "$rcs"; then
		echo "letterlock open: exit $rc, want $rcs"
		sed 's/^/json: /' "$json"
		sed 's/^/stderr: /' "$err"
		return 1
	fi
	case $rc in
	0 | 1)
		if [ "${CHECK_MARK:-1}" = 1 ] && ! grep -q "$MARK" "$out" 2>/dev/null; then
			echo "opened message lacks the body text"
			return 1
		fi
		;;
	*)
		if [ -s "$out" ] || grep -q "$MARK" "$json"; then
			echo "plaintext released on exit $rc"
			return 1
		fi
		;;
	esac
	if [ $# -gt 0 ] && ! st jcheck "$json" "$@"; then
		sed 's/^/json: /' "$json"
		return 1
	fi
	return 0
}

# ------------------------------------------------------------- set-up

ll_home alice-rsa alice-rsa bob-rsa carol-rsa || bail "letterlock home alice-rsa"
ll_home alice-ec alice-ec bob-ec || bail "letterlock home alice-ec"
ll_home bob-rsa bob-rsa alice-rsa || bail "letterlock home bob-rsa"
ll_home bob-ec bob-ec alice-ec || bail "letterlock home bob-ec"
ALLCAPS=aes256-gcm,aes128-gcm,aes256-cbc,aes128-cbc,rsa-oaep
ll_home alice-rsa-gcm alice-rsa "bob-rsa:$ALLCAPS" || bail "letterlock home alice-rsa-gcm"
ll_home alice-ec-gcm alice-ec "bob-ec:$ALLCAPS" || bail "letterlock home alice-ec-gcm"

# gpgsm: RSA identities only (its PKCS#12 import crashes on EC keys).
gpgsm_setup alice-rsa "$P/bob-rsa.pem" || { peer_diag; bail "gpgsm home alice-rsa"; }
gpgsm_setup bob-rsa "$P/alice-rsa.pem" || { peer_diag; bail "gpgsm home bob-rsa"; }
# NSS: one database per identity.
for id in alice-rsa alice-ec bob-rsa bob-ec; do
	case $id in
	alice-*) peer=bob-${id#alice-} ;;
	*) peer=alice-${id#bob-} ;;
	esac
	nss_setup "$id" "$P/$peer.pem" || { peer_diag; bail "NSS database $id"; }
done

mkmsg alice@example.test bob@example.test "$M/a2b.eml"
mkmsg alice@example.test carol@example.test "$M/a2c.eml"

# ------------------------------------------------ peer sanity (no letterlock)

# These make sure the peer helpers judge correctly, so a later "ok" means
# something.
openssl cms -sign -binary -in "$M/entity.txt" -signer "$P/alice-rsa.pem" \
	-inkey "$P/alice-rsa.key" -certfile "$P/inter.pem" -outform DER \
	-out "$M/sane.sig" 2>/dev/null
openssl cms -sign -binary -in "$M/entity.txt" -signer "$P/mallory-alice.pem" \
	-inkey "$P/mallory-alice.key" -certfile "$P/mallory-root.pem" -outform DER \
	-out "$M/sane-mallory.sig" 2>/dev/null
openssl cms -sign -binary -in "$M/entity.txt" -signer "$P/alice-expired.pem" \
	-inkey "$P/alice-expired.key" -certfile "$P/inter.pem" -outform DER \
	-out "$M/sane-expired.sig" 2>/dev/null
sed 's/Hello Bob/Jello Bob/' "$M/entity.txt" >"$M/entity-tampered.txt"

t "peer sanity: gpgsm accepts a good openssl signature" \
	gpgsm_verify bob-rsa "$M/sane.sig" "$M/entity.txt"
# gpgsm_bad / nss_bad ID SIG CONTENT: the peer rejects, and says "bad".
gpgsm_bad() { refuses "$2" gpgsm_verify "$@" && gpgsm_status_bad; }
nss_bad() { refuses "$2" nss_verify "$@" && nss_status_bad; }
t "peer sanity: gpgsm rejects a signature from an untrusted root" \
	refuses "$M/sane-mallory.sig" gpgsm_verify bob-rsa "$M/sane-mallory.sig" "$M/entity.txt"
t "peer sanity: gpgsm rejects an expired signer (it exits 0)" \
	refuses "$M/sane-expired.sig" gpgsm_verify bob-rsa "$M/sane-expired.sig" "$M/entity.txt"
t "peer sanity: gpgsm reports BAD signature on changed content" \
	gpgsm_bad bob-rsa "$M/sane.sig" "$M/entity-tampered.txt"
t "peer sanity: NSS accepts a good openssl signature" \
	nss_verify bob-rsa "$M/sane.sig" "$M/entity.txt"
t "peer sanity: NSS rejects an untrusted root (cmsutil exits 0)" \
	nss_bad bob-rsa "$M/sane-mallory.sig" "$M/entity.txt"
t "peer sanity: NSS rejects changed content (cmsutil exits 0)" \
	nss_bad bob-rsa "$M/sane.sig" "$M/entity-tampered.txt"

# =================================================== letterlock -> peers

# seal_mode_flags MODE
seal_flags() {
	case $1 in
	default) ;;
	sign) echo --sign-only ;;
	opaque) echo --sign-only --opaque ;;
	encrypt) echo --encrypt-only ;;
	esac
}

# Peer checks of a letterlock message L (mode MODE) for recipient bob-ALG.
# ossl_open ALG MODE L
ossl_open() {
	local alg=$1 mode=$2 l=$3 d=$T/ossl
	rm -rf "$d"
	mkdir -p "$d"
	case $mode in
	default)
		ossl_decrypt "bob-$alg" "$l" "$d/inner" || { peer_diag; return 1; }
		ossl_verify "$d/inner" "$d/content" || { peer_diag; return 1; }
		;;
	sign | opaque)
		ossl_verify "$l" "$d/content" || { peer_diag; return 1; }
		;;
	encrypt)
		ossl_decrypt "bob-$alg" "$l" "$d/content" || { peer_diag; return 1; }
		;;
	esac
	grep -q "$MARK" "$d/content" || { echo "content lacks the body text"; return 1; }
}

# gpgsm_open MODE L (bob-rsa's home; signatures of any key type)
gpgsm_open() {
	local mode=$1 l=$2 d=$T/gpgsm
	rm -rf "$d"
	mkdir -p "$d"
	case $mode in
	default)
		st der "$l" "$d/env.der" || return 1
		gpgsm_decrypt bob-rsa "$d/env.der" "$d/inner" || { peer_diag; return 1; }
		st split-signed "$d/inner" "$d/content" "$d/sig.der" || return 1
		gpgsm_verify bob-rsa "$d/sig.der" "$d/content" || { peer_diag; return 1; }
		;;
	sign)
		st split-signed "$l" "$d/content" "$d/sig.der" || return 1
		gpgsm_verify bob-rsa "$d/sig.der" "$d/content" || { peer_diag; return 1; }
		;;
	opaque)
		st der "$l" "$d/sig.der" || return 1
		gpgsm_verify bob-rsa "$d/sig.der" "" "$d/content" || { peer_diag; return 1; }
		;;
	encrypt)
		st der "$l" "$d/env.der" || return 1
		gpgsm_decrypt bob-rsa "$d/env.der" "$d/content" || { peer_diag; return 1; }
		;;
	esac
	grep -q "$MARK" "$d/content" || { echo "content lacks the body text"; return 1; }
}

# nss_open ALG MODE L (bob-ALG's database)
nss_open() {
	local alg=$1 mode=$2 l=$3 d=$T/nss
	rm -rf "$d"
	mkdir -p "$d"
	case $mode in
	default)
		st der "$l" "$d/env.der" || return 1
		nss_decrypt "bob-$alg" "$d/env.der" "$d/inner" || { peer_diag; return 1; }
		st split-signed "$d/inner" "$d/content" "$d/sig.der" || return 1
		nss_verify "bob-$alg" "$d/sig.der" "$d/content" || { peer_diag; return 1; }
		;;
	sign)
		st split-signed "$l" "$d/content" "$d/sig.der" || return 1
		nss_verify "bob-$alg" "$d/sig.der" "$d/content" || { peer_diag; return 1; }
		;;
	opaque)
		st der "$l" "$d/sig.der" || return 1
		nss_verify "bob-$alg" "$d/sig.der" "" "$d/content" || { peer_diag; return 1; }
		;;
	encrypt)
		st der "$l" "$d/env.der" || return 1
		nss_decrypt "bob-$alg" "$d/env.der" "$d/content" || { peer_diag; return 1; }
		;;
	esac
	grep -q "$MARK" "$d/content" || { echo "content lacks the body text"; return 1; }
}

# cipher_of L: the content-encryption algorithm of an enveloped message as
# openssl names it (aes-256-cbc, aes-256-gcm, ...).
cipher_of() {
	openssl cms -cmsout -print -in "$1" 2>/dev/null |
		sed -n '/contentEncryptionAlgorithm:/{n;s/.*algorithm: *\([^ ]*\).*/\1/p;q}'
}

# cipher_is L CIPHER SMIME-TYPE
cipher_is() {
	local c
	c=$(cipher_of "$1")
	if [ "$c" != "$2" ] || ! grep -qi "smime-type=$3" "$1"; then
		echo "cipher: ${c:-?}; $(grep -i '^content-type' "$1")"
		return 1
	fi
}

for alg in rsa ec; do
	for mode in default sign opaque encrypt; do
		l=$M/ll-$alg-$mode.eml
		# shellcheck disable=SC2046
		t "letterlock seals $mode ($alg)" \
			ll_seal "alice-$alg" "$M/a2b.eml" "$l" $(seal_flags "$mode")
		case $mode in
		default) fields=(encrypted=true decrypted=true signed=true signature=valid
			signer=alice@example.test signer_matches_from=true cipher=aes-256-cbc) ;;
		sign | opaque) fields=(encrypted=false signed=true signature=valid
			signer=alice@example.test signer_matches_from=true) ;;
		encrypt) fields=(encrypted=true decrypted=true signed=false signature=none
			cipher=aes-256-cbc) ;;
		esac
		t "letterlock opens its own $mode message ($alg)" \
			open_check "bob-$alg" "$l" 0 "${fields[@]}"
		t "openssl cms opens letterlock $mode ($alg)" ossl_open "$alg" "$mode" "$l"
		case $alg:$mode in
		rsa:*)
			t "gpgsm opens letterlock $mode (rsa)" gpgsm_open "$mode" "$l"
			;;
		ec:sign | ec:opaque)
			t "gpgsm verifies letterlock $mode (ec signature)" gpgsm_open "$mode" "$l"
			;;
		*)
			skip "gpgsm opens letterlock $mode (ec)" "gpgsm cannot import EC keys (PKCS#12 import crashes)"
			;;
		esac
		case $alg:$mode in
		ec:default | ec:encrypt)
			# NSS 3.87 has no ECDH (KeyAgreeRecipientInfo).
			probe "NSS opens letterlock $mode (ec, ECDH)" "$l" nss_open "$alg" "$mode" "$l"
			;;
		*)
			t "NSS cmsutil opens letterlock $mode ($alg)" nss_open "$alg" "$mode" "$l"
			;;
		esac
	done
	t "letterlock uses AES-256-CBC for a recipient with unknown capabilities ($alg)" \
		cipher_is "$M/ll-$alg-default.eml" aes-256-cbc enveloped-data
done

# Recipient known to read AES-GCM: AuthEnvelopedData, read by openssl only.
for alg in rsa ec; do
	l=$M/ll-$alg-gcm.eml
	t "letterlock uses AES-256-GCM AuthEnvelopedData for a GCM-capable recipient ($alg)" \
		prep ll_seal "alice-$alg-gcm" "$M/a2b.eml" "$l" -- \
		cipher_is "$l" aes-256-gcm authEnveloped-data
	t "openssl cms opens letterlock AES-256-GCM ($alg)" ossl_open "$alg" default "$l"
	t "letterlock opens its own AES-256-GCM message ($alg)" \
		open_check "bob-$alg" "$l" 0 encrypted=true decrypted=true cipher=aes-256-gcm signature=valid
	l=$M/ll-$alg-gcm-cbc.eml
	t "letterlock --cbc forces AES-256-CBC for a GCM-capable recipient ($alg)" \
		prep ll_seal "alice-$alg-gcm" "$M/a2b.eml" "$l" --cbc -- \
		cipher_is "$l" aes-256-cbc enveloped-data
	# (gpgsm/NSS are not tried: the contact advertised rsa-oaep, so the key
	# transport is RSA-OAEP, which they do not read; see the probes below.)
	t "openssl cms opens letterlock --cbc ($alg)" ossl_open "$alg" default "$l"
done

# seven_bit FILE / short_lines FILE: transport-safe for SMTP without
# 8BITMIME; no line over 998 octets.
seven_bit() {
	[ -s "$1" ] || { echo "$(basename "$1") missing"; return 1; }
	if LC_ALL=C grep -qn '[^[:print:][:space:]]' "$1"; then
		echo "8-bit octets on lines: $(LC_ALL=C grep -n '[^[:print:][:space:]]' "$1" | cut -d: -f1 | tr '\n' ' ')"
		grep -i '^content-transfer-encoding' "$1" | sed 's/^/  /'
		return 1
	fi
}
short_lines() {
	local n
	[ -s "$1" ] || { echo "$(basename "$1") missing"; return 1; }
	n=$(LC_ALL=C awk '{ sub(/\r$/, "") } length($0) > 998 { print NR ": " length($0) " octets" }' "$1")
	[ -z "$n" ] || { echo "long lines: $n"; return 1; }
}

# A body that transports mangle: 8-bit UTF-8, trailing white space, a line
# starting "From ", a lone dot, a 1200-octet line, no final line break.
{
	printf '%s\r\n' "From: Alice <alice@example.test>" "To: bob@example.test" \
		"Subject: =?utf-8?q?tricky_=C3=A9?=" "MIME-Version: 1.0" \
		"Content-Type: text/plain; charset=utf-8" \
		"Content-Transfer-Encoding: 8bit" "" \
		"From the start   " "trailing tab$(printf '\t')" "." \
		"$(printf '\303\251t\303\251 caf\303\251') $MARK" \
		"$(head -c 1200 /dev/zero | tr '\0' x)"
	printf 'no final newline'
} >"$M/tricky.eml"
l=$M/ll-tricky-sign.eml
t "letterlock seals a tricky 8-bit body (sign-only)" \
	ll_seal alice-rsa "$M/tricky.eml" "$l" --sign-only
t "openssl cms verifies letterlock tricky body" ossl_open rsa sign "$l"
t "gpgsm verifies letterlock tricky body" gpgsm_open sign "$l"
t "NSS verifies letterlock tricky body" nss_open rsa sign "$l"
t "letterlock verifies its own tricky body" open_check bob-rsa "$l" 0 signature=valid
# RFC 8551 3.1.3: a multipart/signed sent over SMTP MUST be 7-bit (8-bit
# text gets quoted-printable or base64), else a relay that downgrades for a
# hop without 8BITMIME re-encodes it and breaks the signature.
t "letterlock multipart/signed of an 8-bit body is 7-bit clean (RFC 8551 3.1.3)" \
	seven_bit "$l"
# RFC 5322 2.1.1: lines MUST NOT exceed 998 octets.
t "letterlock multipart/signed has no line over 998 octets (RFC 5322 2.1.1)" \
	short_lines "$l"
l=$M/ll-tricky-default.eml
t "letterlock seals a tricky 8-bit body (sign+encrypt)" \
	ll_seal alice-rsa "$M/tricky.eml" "$l"
t "openssl cms opens letterlock tricky body (sign+encrypt)" ossl_open rsa default "$l"
t "gpgsm opens letterlock tricky body (sign+encrypt)" gpgsm_open default "$l"
t "NSS opens letterlock tricky body (sign+encrypt)" nss_open rsa default "$l"

# Bcc: copy 0 for To/Cc, one copy per Bcc recipient; openssl tells who can
# read which, and copy 0 must not name the Bcc recipient, not even inside.
printf '%s\r\n' "From: alice <alice@example.test>" "To: bob <bob@example.test>" \
	"Bcc: carol <carol@example.test>" "Subject: bcc test" "MIME-Version: 1.0" \
	"Content-Type: text/plain" "" "Hello Bob, $MARK." >"$M/bcc.eml"
bcc_check() {
	local l=$M/ll-bcc.eml
	ll_seal alice-rsa "$M/bcc.eml" "$l" 2>"$T/seal.err" || { cat "$T/seal.err"; return 1; }
	[ -f "$l.bcc1" ] || { echo "no $l.bcc1"; return 1; }
	ossl_decrypt bob-rsa "$l" "$T/bcc0" || { echo "bob cannot read copy 0"; return 1; }
	ossl_decrypt carol-rsa "$l.bcc1" "$T/bcc1" || { echo "carol cannot read her copy"; return 1; }
	if ossl_decrypt carol-rsa "$l" "$T/x"; then echo "carol can read copy 0"; return 1; fi
	if ossl_decrypt bob-rsa "$l.bcc1" "$T/x"; then echo "bob can read carol's copy"; return 1; fi
	if grep -qi carol "$l" "$T/bcc0"; then echo "copy 0 names carol"; return 1; fi
}
t "letterlock Bcc copies: each readable by its recipients only (openssl)" bcc_check

# =================================================== peers -> letterlock

HDRS=("From: alice <alice@example.test>" "To: bob <bob@example.test>"
	"Subject: interop test" "Date: Tue, 24 Nov 2026 10:00:00 +0000")

# ---- openssl
# os_sign ID OUT [detached|opaque] [FROM] : an S/MIME message from openssl.
os_sign() {
	local id=$1 out=$2 mode=${3:-detached} from=${4:-alice@example.test}
	local args=(-sign -in "$M/entity.txt" -signer "$P/$id.pem" -inkey "$P/$id.key"
		-crlfeol -out "$out" -from "$from" -to bob@example.test -subject "interop test")
	case $id in
	mallory-*) args+=(-certfile "$P/mallory-root.pem") ;;
	*) args+=(-certfile "$P/inter.pem") ;;
	esac
	[ "$mode" = opaque ] && args+=(-nodetach)
	_peer openssl cms "${args[@]}"
}

# os_encrypt IN OUT RCPT-ID... [-- OPENSSL-ARGS...] (IN is a MIME entity)
os_encrypt() {
	local in=$1 out=$2
	shift 2
	local args=(-encrypt -in "$in" -out "$out" -crlfeol -from alice@example.test
		-to bob@example.test -subject "interop test")
	local r extra=0
	for r in "$@"; do
		if [ "$extra" = 1 ]; then
			args+=("$r")
		elif [ "$r" = -- ]; then
			extra=1
		else
			args+=(-recip "$P/$r.pem")
		fi
	done
	_peer openssl cms "${args[@]}"
}

for alg in rsa ec; do
	os_sign "alice-$alg" "$M/os-sign-$alg.eml" detached
	t "letterlock verifies openssl multipart/signed ($alg)" \
		open_check "bob-$alg" "$M/os-sign-$alg.eml" 0 signed=true signature=valid \
		signer=alice@example.test signer_matches_from=true encrypted=false
	os_sign "alice-$alg" "$M/os-opaque-$alg.eml" opaque
	t "letterlock verifies openssl signed-data -nodetach ($alg)" \
		open_check "bob-$alg" "$M/os-opaque-$alg.eml" 0 signed=true signature=valid \
		signer=alice@example.test
done

for c in aes256:aes-256-cbc aes128:aes-128-cbc aes-256-gcm:aes-256-gcm; do
	os_encrypt "$M/entity.txt" "$M/os-enc-${c%%:*}.eml" bob-rsa -- "-${c%%:*}"
	t "letterlock decrypts openssl -${c%%:*} (rsa)" \
		open_check bob-rsa "$M/os-enc-${c%%:*}.eml" 0 encrypted=true decrypted=true \
		"cipher=${c#*:}" signed=false signature=none
done
os_encrypt "$M/entity.txt" "$M/os-enc-oaep.eml" bob-rsa -- -aes256 -keyopt rsa_padding_mode:oaep
t "letterlock decrypts openssl RSA-OAEP (SHA-1)" \
	open_check bob-rsa "$M/os-enc-oaep.eml" 0 decrypted=true cipher=aes-256-cbc
os_encrypt "$M/entity.txt" "$M/os-enc-oaep256.eml" bob-rsa -- -aes256 \
	-keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256
t "letterlock decrypts openssl RSA-OAEP (SHA-256)" \
	open_check bob-rsa "$M/os-enc-oaep256.eml" 0 decrypted=true cipher=aes-256-cbc
os_encrypt "$M/entity.txt" "$M/os-enc-ec.eml" bob-ec -- -aes256
t "letterlock decrypts openssl ECDH (default KDF SHA-1)" \
	open_check bob-ec "$M/os-enc-ec.eml" 0 decrypted=true cipher=aes-256-cbc
os_encrypt "$M/entity.txt" "$M/os-enc-ec256.eml" bob-ec -- -aes256 -keyopt ecdh_kdf_md:sha256
t "letterlock decrypts openssl ECDH (KDF SHA-256)" \
	open_check bob-ec "$M/os-enc-ec256.eml" 0 decrypted=true cipher=aes-256-cbc
os_encrypt "$M/entity.txt" "$M/os-enc-ec-gcm.eml" bob-ec -- -aes-256-gcm
t "letterlock decrypts openssl ECDH + AES-256-GCM" \
	open_check bob-ec "$M/os-enc-ec-gcm.eml" 0 decrypted=true cipher=aes-256-gcm
os_encrypt "$M/entity.txt" "$M/os-enc-2rcpt.eml" carol-rsa bob-rsa -- -aes256
t "letterlock decrypts openssl message to two recipients (bob second)" \
	open_check bob-rsa "$M/os-enc-2rcpt.eml" 0 decrypted=true

# sign, then encrypt (what S/MIME clients send)
for alg in rsa ec; do
	_peer openssl cms -sign -in "$M/entity.txt" -signer "$P/alice-$alg.pem" \
		-inkey "$P/alice-$alg.key" -certfile "$P/inter.pem" -crlfeol \
		-out "$M/os-inner-$alg.txt"
	os_encrypt "$M/os-inner-$alg.txt" "$M/os-signenc-$alg.eml" "bob-$alg" -- -aes256
	t "letterlock opens openssl sign+encrypt ($alg)" \
		open_check "bob-$alg" "$M/os-signenc-$alg.eml" 0 encrypted=true decrypted=true \
		signed=true signature=valid signer=alice@example.test signer_matches_from=true
done

# ---- gpgsm (RSA; the micalg is sha-256, gpgsm's default for RSA-2048)
gpgsm_sign alice-rsa "$M/entity.txt" "$M/gs.sig" detached &&
	st wrap-signed "$M/entity.txt" "$M/gs.sig" "$M/gs-sign.eml" sha-256 "${HDRS[@]}"
t "letterlock verifies gpgsm detached signature (multipart/signed)" \
	open_check bob-rsa "$M/gs-sign.eml" 0 signed=true signature=valid signer=alice@example.test

gpgsm_sign alice-rsa "$M/entity.txt" "$M/gs-opaque.der" opaque &&
	st wrap-pkcs7 "$M/gs-opaque.der" "$M/gs-opaque.eml" signed-data "${HDRS[@]}"
t "letterlock verifies gpgsm opaque signed-data" \
	open_check bob-rsa "$M/gs-opaque.eml" 0 signed=true signature=valid signer=alice@example.test

gpgsm_encrypt alice-rsa bob@example.test "$M/entity.txt" "$M/gs-enc.der" &&
	st wrap-pkcs7 "$M/gs-enc.der" "$M/gs-enc.eml" enveloped-data "${HDRS[@]}"
t "letterlock decrypts gpgsm enveloped-data" \
	open_check bob-rsa "$M/gs-enc.eml" 0 encrypted=true decrypted=true signature=none

st wrap-signed "$M/entity.txt" "$M/gs.sig" "$M/gs-inner.txt" sha-256 &&
	gpgsm_encrypt alice-rsa bob@example.test "$M/gs-inner.txt" "$M/gs-signenc.der" &&
	st wrap-pkcs7 "$M/gs-signenc.der" "$M/gs-signenc.eml" enveloped-data "${HDRS[@]}"
t "letterlock opens gpgsm sign+encrypt" \
	open_check bob-rsa "$M/gs-signenc.eml" 0 decrypted=true signed=true signature=valid \
	signer=alice@example.test signer_matches_from=true

# ---- NSS cmsutil
for alg in rsa ec; do
	nss_sign "alice-$alg" "$M/entity.txt" "$M/nss-$alg.sig" detached &&
		st wrap-signed "$M/entity.txt" "$M/nss-$alg.sig" "$M/nss-sign-$alg.eml" sha-256 "${HDRS[@]}"
	t "letterlock verifies NSS detached signature ($alg)" \
		open_check "bob-$alg" "$M/nss-sign-$alg.eml" 0 signed=true signature=valid \
		signer=alice@example.test
	nss_sign "alice-$alg" "$M/entity.txt" "$M/nss-opaque-$alg.der" opaque &&
		st wrap-pkcs7 "$M/nss-opaque-$alg.der" "$M/nss-opaque-$alg.eml" signed-data "${HDRS[@]}"
	t "letterlock verifies NSS opaque signed-data ($alg)" \
		open_check "bob-$alg" "$M/nss-opaque-$alg.eml" 0 signed=true signature=valid \
		signer=alice@example.test
done
nss_encrypt alice-rsa bob@example.test "$M/entity.txt" "$M/nss-enc.der" &&
	st wrap-pkcs7 "$M/nss-enc.der" "$M/nss-enc.eml" enveloped-data "${HDRS[@]}"
t "letterlock decrypts NSS enveloped-data (AES-128-CBC)" \
	open_check bob-rsa "$M/nss-enc.eml" 0 decrypted=true cipher=aes-128-cbc signature=none
st wrap-signed "$M/entity.txt" "$M/nss-rsa.sig" "$M/nss-inner.txt" sha-256 &&
	nss_encrypt alice-rsa bob@example.test "$M/nss-inner.txt" "$M/nss-signenc.der" &&
	st wrap-pkcs7 "$M/nss-signenc.der" "$M/nss-signenc.eml" enveloped-data "${HDRS[@]}"
t "letterlock opens NSS sign+encrypt" \
	open_check bob-rsa "$M/nss-signenc.eml" 0 decrypted=true signed=true signature=valid \
	signer=alice@example.test signer_matches_from=true
probe "NSS cmsutil -E encrypts to an EC recipient" "$M/entity.txt" \
	nss_encrypt alice-ec bob@example.test "$M/entity.txt" "$M/nss-enc-ec.der"

# ---- what gpgsm and NSS do not read (recorded, see doc/interop.md)
st der "$M/os-enc-oaep.eml" "$M/lim-oaep.der" 2>/dev/null
st der "$M/ll-rsa-gcm.eml" "$M/lim-gcm.der" 2>/dev/null
st der "$M/ll-rsa-gcm-cbc.eml" "$M/lim-cbc-oaep.der" 2>/dev/null
probe "gpgsm decrypts openssl RSA-OAEP" "$M/lim-oaep.der" \
	gpgsm_decrypt bob-rsa "$M/lim-oaep.der" "$T/lim.out"
probe "NSS decrypts openssl RSA-OAEP" "$M/lim-oaep.der" \
	nss_decrypt bob-rsa "$M/lim-oaep.der" "$T/lim.out"
probe "gpgsm decrypts letterlock AES-256-GCM (AuthEnvelopedData)" "$M/lim-gcm.der" \
	gpgsm_decrypt bob-rsa "$M/lim-gcm.der" "$T/lim.out"
probe "NSS decrypts letterlock AES-256-GCM (AuthEnvelopedData)" "$M/lim-gcm.der" \
	nss_decrypt bob-rsa "$M/lim-gcm.der" "$T/lim.out"
probe "gpgsm decrypts letterlock --cbc to an OAEP-capable contact (RSA-OAEP)" \
	"$M/lim-cbc-oaep.der" gpgsm_decrypt bob-rsa "$M/lim-cbc-oaep.der" "$T/lim.out"
probe "NSS decrypts letterlock --cbc to an OAEP-capable contact (RSA-OAEP)" \
	"$M/lim-cbc-oaep.der" nss_decrypt bob-rsa "$M/lim-cbc-oaep.der" "$T/lim.out"

# ======================================================== negative cases

# open_not_valid HOME MSG RCS: opens with an exit status in RCS, whatever the
# body, and the signature is not reported valid.
open_not_valid() {
	CHECK_MARK=0 open_check "$@" || return 1
	if st jcheck "$T/open.json" signature=valid >/dev/null; then
		echo "signature reported valid"
		return 1
	fi
}

# ---- tampered ciphertext: no plaintext, exit 4
t "tampered AES-GCM tag: exit 4, no plaintext" \
	prep st tamper-cipher "$M/ll-rsa-gcm.eml" "$M/neg-gcm-tag.eml" tag -- \
	open_check bob-rsa "$M/neg-gcm-tag.eml" 4
t "tampered AES-GCM ciphertext: exit 4, no plaintext" \
	prep st tamper-cipher "$M/ll-rsa-gcm.eml" "$M/neg-gcm-mid.eml" mid -- \
	open_check bob-rsa "$M/neg-gcm-mid.eml" 4
t "tampered openssl AES-GCM ciphertext: exit 4, no plaintext" \
	prep st tamper-cipher "$M/os-enc-aes-256-gcm.eml" "$M/neg-os-gcm.eml" mid -- \
	open_check bob-rsa "$M/neg-os-gcm.eml" 4
t "tampered AES-CBC padding: exit 4, no plaintext" \
	prep st tamper-cipher "$M/ll-rsa-default.eml" "$M/neg-cbc-pad.eml" pad -- \
	open_check bob-rsa "$M/neg-cbc-pad.eml" 4
t "tampered AES-CBC padding (ec): exit 4, no plaintext" \
	prep st tamper-cipher "$M/ll-ec-default.eml" "$M/neg-cbc-pad-ec.eml" pad -- \
	open_check bob-ec "$M/neg-cbc-pad-ec.eml" 4
# ... and the peers refuse the same tampered messages (this also shows the
# tampering hit the ciphertext).  Note: openssl cms -decrypt exits 4 on a
# bad GCM tag but has already written the plaintext to -out.
t "openssl cms refuses tampered AES-GCM (exit status)" \
	refuses "$M/neg-gcm-mid.eml" ossl_decrypt bob-rsa "$M/neg-gcm-mid.eml" "$T/neg.out"
t "openssl cms refuses tampered AES-CBC padding" \
	refuses "$M/neg-cbc-pad.eml" ossl_decrypt bob-rsa "$M/neg-cbc-pad.eml" "$T/neg.out"
st der "$M/neg-cbc-pad.eml" "$M/neg-cbc-pad.der" 2>/dev/null
t "gpgsm refuses tampered AES-CBC padding" \
	refuses "$M/neg-cbc-pad.der" gpgsm_decrypt bob-rsa "$M/neg-cbc-pad.der" "$T/neg.out"
t "NSS refuses tampered AES-CBC padding" \
	refuses "$M/neg-cbc-pad.der" nss_decrypt bob-rsa "$M/neg-cbc-pad.der" "$T/neg.out"
# CBC has no integrity: a flipped middle byte decrypts to garbage, which
# the inner signature must catch.
t "tampered AES-CBC signed+encrypted body: not valid (exit 1, 4 or 5)" \
	prep st tamper-cipher "$M/ll-rsa-default.eml" "$M/neg-cbc-mid.eml" mid -- \
	open_not_valid bob-rsa "$M/neg-cbc-mid.eml" "1|4|5"

# ---- tampered signed content
subst "Hello Bob" "Jello Bob" "$M/ll-rsa-sign.eml" "$M/neg-ll-sign.eml" 2>/dev/null
t "tampered letterlock multipart/signed: invalid, exit 1" \
	open_check bob-rsa "$M/neg-ll-sign.eml" 1 signature=invalid
subst "Hello Bob" "Jello Bob" "$M/os-sign-rsa.eml" "$M/neg-os-sign.eml" 2>/dev/null
t "tampered openssl multipart/signed: invalid, exit 1" \
	open_check bob-rsa "$M/neg-os-sign.eml" 1 signature=invalid
subst "Hello Bob" "Jello Bob" "$M/ll-ec-sign.eml" "$M/neg-ll-sign-ec.eml" 2>/dev/null
t "tampered letterlock multipart/signed (ec): invalid, exit 1" \
	open_check bob-ec "$M/neg-ll-sign-ec.eml" 1 signature=invalid
# ... and the peers agree
st split-signed "$M/neg-ll-sign.eml" "$M/neg.content" "$M/neg.sig" 2>/dev/null
t "gpgsm reports BAD signature on tampered letterlock message" \
	gpgsm_bad bob-rsa "$M/neg.sig" "$M/neg.content"
t "NSS reports a bad signature on tampered letterlock message" \
	nss_bad bob-rsa "$M/neg.sig" "$M/neg.content"
t "openssl cms rejects tampered letterlock message" \
	refuses "$M/neg-ll-sign.eml" ossl_verify "$M/neg-ll-sign.eml" "$T/neg.out"

# ---- truncated base64
t "truncated enveloped message: exit 4 or 5, no crash" \
	prep st truncate "$M/ll-rsa-default.eml" "$M/neg-trunc.eml" -- \
	open_check bob-rsa "$M/neg-trunc.eml" "4|5"
t "truncated opaque signed message: not valid, no crash" \
	prep st truncate "$M/ll-rsa-opaque.eml" "$M/neg-trunc-opaque.eml" -- \
	open_not_valid bob-rsa "$M/neg-trunc-opaque.eml" "1|4|5"

# ---- wrong recipient
os_encrypt "$M/entity.txt" "$M/neg-carol.eml" carol-rsa -- -aes256
t "message encrypted to carol only (openssl): exit 4" \
	open_check bob-rsa "$M/neg-carol.eml" 4
t "message encrypted to carol only (letterlock): exit 4" \
	prep ll_seal alice-rsa "$M/a2c.eml" "$M/neg-ll-carol.eml" -- \
	open_check bob-rsa "$M/neg-ll-carol.eml" 4

# ---- signer problems (signed by openssl, so letterlock's own checks on
# signing do not get in the way)
os_sign alice-rsa "$M/neg-from-bob.eml" detached bob@example.test
t "From: bob, signed by alice: wrong-signer, exit 1" \
	open_check bob-rsa "$M/neg-from-bob.eml" 1 signature=wrong-signer \
	signer=alice@example.test signer_matches_from=false
os_sign alice-expired "$M/neg-expired.eml" detached
t "expired signer: expired, exit 1" \
	open_check bob-rsa "$M/neg-expired.eml" 1 signature=expired
os_sign mallory-alice "$M/neg-mallory.eml" detached
t "signer from an untrusted root (root included): untrusted, exit 1" \
	open_check bob-rsa "$M/neg-mallory.eml" 1 signature=untrusted
os_sign alice-noeku "$M/neg-noeku.eml" detached
t "signer without emailProtection EKU: not valid, exit 1" \
	open_not_valid bob-rsa "$M/neg-noeku.eml" 1

os_encrypt "$M/os-inner-rsa.txt" "$M/neg-reenc.eml" bob-rsa -- -aes256 -from carol@example.test
t "alice's signed part re-encrypted under From: carol: wrong-signer, exit 1" \
	open_check bob-rsa "$M/neg-reenc.eml" 1 signature=wrong-signer signer_matches_from=false

# ---- a signed part embedded in a bigger message signs only that part
# embed SIGNED OUT: unsigned text, then the multipart/signed entity of SIGNED.
embed() {
	[ -s "$1" ] || return 1
	{
		printf '%s\r\n' "From: alice <alice@example.test>" "To: bob <bob@example.test>" \
			"Subject: embedded" "MIME-Version: 1.0" \
			'Content-Type: multipart/mixed; boundary="outer-0123"' "" \
			"--outer-0123" "Content-Type: text/plain" "" "Unsigned text, $MARK." \
			"--outer-0123"
		sed -n '/^Content-Type: multipart\/signed/,$p' "$1"
		printf '\r\n--outer-0123--\r\n'
	} >"$2"
}
t "signed part embedded in multipart/mixed: signature not valid" \
	prep embed "$M/ll-rsa-sign.eml" "$M/neg-embedded.eml" -- \
	open_not_valid bob-rsa "$M/neg-embedded.eml" "0|1"

# ---- no plaintext on stdout either (open without --json)
no_stdout_plaintext() {
	local rc
	ll --home "$H/bob-rsa" open "$1" >"$T/plain.out" 2>/dev/null
	rc=$?
	[ "$rc" = 4 ] || { echo "exit $rc, want 4"; return 1; }
	[ ! -s "$T/plain.out" ] || { echo "stdout not empty"; return 1; }
}
t "tampered AES-GCM, open to stdout: exit 4, stdout empty" \
	no_stdout_plaintext "$M/neg-gcm-mid.eml"

# ---- LF-stored mail
for f in ll-rsa-sign ll-ec-sign ll-rsa-opaque os-sign-rsa ll-rsa-default; do
	st lf "$M/$f.eml" "$M/lf-$f.eml" 2>/dev/null
	alg=rsa
	case $f in *-ec-*) alg=ec ;; esac
	t "LF-stored $f verifies valid" \
		open_check "bob-$alg" "$M/lf-$f.eml" 0 signed=true signature=valid
done

exit 0
