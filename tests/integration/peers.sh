# shellcheck shell=bash
# peers.sh - the independent S/MIME implementations the interop tests use:
# gpgsm (GnuPG 2.2), NSS cmsutil/certutil/pk12util (Thunderbird's engine)
# and openssl cms.  Source it, then call peers_init PKI WORK.
#
# Every function returns 0 for "the peer accepted" and non-zero otherwise;
# the peer's own words are kept in $PEERS_WORK/last.out (stdout, status
# lines, cmsutil report) and $PEERS_WORK/last.err (stderr).  Every peer
# call is bounded by `timeout $PEER_TIMEOUT`.
#
# Quirks handled here (see doc/interop.md):
# * gpgsm's exit code is not its verdict: a signature is good only with
#   GOODSIG + VALIDSIG + TRUST_FULLY on --status-fd (it exits 0 for an
#   expired signer); decryption is good only with DECRYPTION_OKAY.
# * gpgsm imports only the 3DES form of PKCS#12 (ID.3des.p12), and its
#   PKCS#12 import crashes on EC keys: gpgsm homes are RSA identities only.
#   It still verifies ECDSA signatures.
# * gpg-agent runs with no-allow-mark-trusted, so no pinentry can trust a
#   root behind our back; the root is trusted by trustlist.txt only.
# * cmsutil -D exits 0 on a bad signature: read signerN.status in its
#   report (-h).  NSS trust for S/MIME is the second trust field ("C,C,").
# * NSS / gpgsm do not read MIME: the helpers take and produce DER;
#   smimetool.py moves DER in and out of messages.

PEER_TIMEOUT=${PEER_TIMEOUT:-60}
PEERS_PKI=
PEERS_WORK=
PEERS_GPG_HOMES=()

# peers_init PKI WORK
peers_init() {
	PEERS_PKI=$1
	PEERS_WORK=$2
	mkdir -p "$PEERS_WORK"
}

# Run a peer command with stdout/stderr captured to last.out/last.err.
_peer() {
	timeout "$PEER_TIMEOUT" "$@" >"$PEERS_WORK/last.out" 2>"$PEERS_WORK/last.err"
}

# Print the last peer output as TAP diagnostics.
peer_diag() {
	sed -e 's/^/#   /' "$PEERS_WORK/last.out" "$PEERS_WORK/last.err" 2>/dev/null | head -n 20
}

# ---------------------------------------------------------------- gpgsm

_gpg_home() { printf '%s/gpgsm-%s' "$PEERS_WORK" "$1"; }

# gpgsm_setup ID [CERT...]: a GnuPG home for identity ID (RSA only) that
# trusts the test root and knows the extra certificates CERT.
gpgsm_setup() {
	local id=$1 home fpr p12 try
	shift
	home=$(_gpg_home "$id")
	rm -rf "$home"
	mkdir -m 700 "$home"
	PEERS_GPG_HOMES+=("$home")
	cat >"$home/gpg-agent.conf" <<-EOF
		allow-loopback-pinentry
		no-allow-mark-trusted
		disable-scdaemon
	EOF
	cat >"$home/gpgsm.conf" <<-EOF
		disable-crl-checks
		disable-dirmngr
		no-common-certs-import
	EOF
	fpr=$(openssl x509 -in "$PEERS_PKI/root.pem" -noout -fingerprint -sha1) || return 1
	printf '%s S\n' "${fpr#*=}" >"$home/trustlist.txt"
	_gpgsm "$id" --import "$PEERS_PKI/root.pem" "$PEERS_PKI/inter.pem" "$@" || return 1
	p12=$PEERS_PKI/$id.3des.p12
	for try in 1 2 3 4 5 6; do
		if _gpgsm "$id" --import "$p12" &&
		    grep -q 'secret keys imported: 1' "$PEERS_WORK/last.err"; then
			return 0
		fi
		# gpgsm 2.2 rejects about 1 in 20 such files ("bad
		# passphrase"), depending on their content: a fresh salt and
		# IV make a new file with the same key
		p12=$PEERS_WORK/$id.$try.3des.p12
		openssl pkcs12 -export -inkey "$PEERS_PKI/$id.key" \
			-in "$PEERS_PKI/$id.chain.pem" \
			-passout "file:$PEERS_PKI/p12pass" \
			-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES \
			-macalg sha1 -out "$p12" 2>/dev/null || return 1
	done
	return 1
}

# _gpgsm ID ARGS...: gpgsm in ID's home, loopback passphrase = p12pass.
_gpgsm() {
	local id=$1
	shift
	GNUPGHOME=$(_gpg_home "$id") _peer gpgsm --batch --status-fd 1 \
		--pinentry-mode loopback --passphrase-fd 3 "$@" 3<"$PEERS_PKI/p12pass"
}

# gpgsm_verify ID SIG [CONTENT] [-o OUT]: detached (CONTENT given) or
# opaque signed-data, DER.  0 iff GOODSIG + VALIDSIG + TRUST_FULLY.
gpgsm_verify() {
	local id=$1 sig=$2 content=${3:-} out=${4:-/dev/null}
	if [ -n "$content" ]; then
		_gpgsm "$id" --verify "$sig" "$content"
	else
		_gpgsm "$id" --output "$out" --verify "$sig"
	fi
	gpgsm_status_good
}

# The last gpgsm run reported a good, valid, fully trusted signature.
gpgsm_status_good() {
	local f=$PEERS_WORK/last.out
	grep -q '^\[GNUPG:\] GOODSIG ' "$f" &&
		grep -q '^\[GNUPG:\] VALIDSIG ' "$f" &&
		grep -q '^\[GNUPG:\] TRUST_FULLY' "$f" &&
		! grep -qE '^\[GNUPG:\] (BADSIG|ERRSIG|EXPSIG|EXPKEYSIG|REVKEYSIG|TRUST_UNDEFINED|TRUST_NEVER)' "$f"
}

# The last gpgsm run reported a BAD signature.
gpgsm_status_bad() {
	grep -q '^\[GNUPG:\] BADSIG ' "$PEERS_WORK/last.out"
}

# gpgsm_decrypt ID IN.der OUT: 0 iff DECRYPTION_OKAY.
gpgsm_decrypt() {
	local id=$1 in=$2 out=$3
	rm -f "$out"
	_gpgsm "$id" --output "$out" --decrypt "$in"
	grep -q '^\[GNUPG:\] DECRYPTION_OKAY' "$PEERS_WORK/last.out" &&
		! grep -q '^\[GNUPG:\] DECRYPTION_FAILED' "$PEERS_WORK/last.out"
}

# gpgsm_sign ID IN OUT.der detached|opaque
gpgsm_sign() {
	local id=$1 in=$2 out=$3 mode=$4 flag=--sign
	[ "$mode" = detached ] && flag=--detach-sign
	rm -f "$out"
	_gpgsm "$id" --include-certs -2 --output "$out" "$flag" "$in" &&
		grep -q '^\[GNUPG:\] SIG_CREATED ' "$PEERS_WORK/last.out"
}

# gpgsm_encrypt ID RCPT IN OUT.der (RCPT's certificate must be in ID's home)
gpgsm_encrypt() {
	local id=$1 rcpt=$2 in=$3 out=$4
	rm -f "$out"
	_gpgsm "$id" --output "$out" --recipient "$rcpt" --encrypt "$in" && [ -s "$out" ]
}

# ------------------------------------------------------------------ NSS

_nss_db() { printf 'sql:%s/nss-%s' "$PEERS_WORK" "$1"; }

# nss_setup ID [CERT...]: an NSS database holding identity ID (from its
# PKCS#12), the test root trusted for S/MIME, and the certificates CERT
# (nicknamed by file name) to encrypt to.
nss_setup() {
	local id=$1 db dir c
	shift
	db=$(_nss_db "$id")
	dir=${db#sql:}
	rm -rf "$dir"
	mkdir -p "$dir"
	_peer certutil -N -d "$db" --empty-password || return 1
	_peer pk12util -i "$PEERS_PKI/$id.p12" -d "$db" -w "$PEERS_PKI/p12pass" -K "" ||
		return 1
	_peer certutil -A -d "$db" -n test-root -t "C,C," -i "$PEERS_PKI/root.pem" || return 1
	# The intermediate came with the PKCS#12; adding it again is a no-op.
	for c in "$@"; do
		_peer certutil -A -d "$db" -n "$(basename "$c" .pem)" -t ",," -i "$c" || return 1
	done
}

# nss_verify ID SIG [CONTENT [OUT]]: 0 iff the cmsutil report shows at
# least one signer and every signer's status is GoodSignature.  CONTENT
# ("" for none) is the detached content; OUT receives the report followed
# by the opaque content.
nss_verify() {
	local id=$1 sig=$2 content=${3:-} out=${4:-}
	local args=(-D -d "$(_nss_db "$id")" -p "" -i "$sig" -h 2)
	[ -n "$content" ] && args+=(-c "$content")
	if [ -n "$out" ]; then args+=(-o "$out"); else args+=(-n); fi
	_peer cmsutil "${args[@]}" || return 1
	# With -o, the -h report goes to OUT, in front of the content.
	[ -n "$out" ] && cp "$out" "$PEERS_WORK/last.out"
	[ "$(_nss_sig_states)" = GoodSignature ]
}

# The distinct signer states of the last cmsutil report, one a line.
_nss_sig_states() {
	grep -oE 'signer[0-9]+\.status=[A-Za-z]+' "$PEERS_WORK/last.out" |
		sed 's/.*=//' | sort -u
}

# nss_status_bad: the last cmsutil report has a signer that is not good.
nss_status_bad() {
	_nss_sig_states | grep -qv '^GoodSignature$'
}

# nss_decrypt ID IN.der OUT: 0 iff cmsutil decoded an envelopedData.
nss_decrypt() {
	local id=$1 in=$2 out=$3
	rm -f "$out"
	_peer cmsutil -D -d "$(_nss_db "$id")" -p "" -i "$in" -o "$out" &&
		[ -s "$out" ]
}

# nss_sign ID IN OUT.der detached|opaque (signing time + SMIMECapabilities)
nss_sign() {
	local id=$1 in=$2 out=$3 mode=$4 email
	local args=(-S -d "$(_nss_db "$id")" -p "" -G -P -H SHA256 -i "$in" -o "$out")
	email=$(openssl x509 -in "$PEERS_PKI/$id.pem" -noout -email | head -n 1)
	args+=(-N "$email")
	[ "$mode" = detached ] && args+=(-T)
	_peer cmsutil "${args[@]}" && [ -s "$out" ]
}

# nss_encrypt ID RCPT IN OUT.der (NSS always uses AES-128-CBC, RSA only)
nss_encrypt() {
	local id=$1 rcpt=$2 in=$3 out=$4
	_peer cmsutil -E -d "$(_nss_db "$id")" -p "" -r "$rcpt" -i "$in" -o "$out" &&
		[ -s "$out" ]
}

# -------------------------------------------------------------- openssl

# ossl_verify IN.eml OUT: S/MIME (multipart/signed or signed-data) input,
# chain to the test root, S/MIME signing purpose.
ossl_verify() {
	local in=$1 out=$2
	_peer openssl cms -verify -in "$in" -CAfile "$PEERS_PKI/root.pem" \
		-purpose smimesign -out "$out"
}

# ossl_decrypt ID IN.eml OUT
ossl_decrypt() {
	local id=$1 in=$2 out=$3
	_peer openssl cms -decrypt -in "$in" -recip "$PEERS_PKI/$id.pem" \
		-inkey "$PEERS_PKI/$id.key" -out "$out"
}

# ------------------------------------------------------------- cleanup

# Stop every gpg-agent we started (each has its own GNUPGHOME).
peers_cleanup() {
	local h
	for h in "${PEERS_GPG_HOMES[@]}"; do
		[ -d "$h" ] && GNUPGHOME=$h timeout 20 gpgconf --kill all >/dev/null 2>&1
	done
	PEERS_GPG_HOMES=()
	return 0
}
