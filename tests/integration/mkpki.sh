#!/bin/bash
# mkpki.sh OUTDIR - build the interop test PKI with the openssl CLI.
#
# Layout of OUTDIR (all PEM unless noted):
#   root.pem root.key          trusted test root "Letterlock Test Root"
#   inter.pem inter.key        intermediate CA under root (issues every identity)
#   mallory-root.pem/.key      a second root nobody trusts
#   p12pass                    passphrase of every PKCS#12 file (no newline)
#   ID.key                     private key, PKCS#8, unencrypted
#   ID.pem                     end-entity certificate
#   ID.chain.pem               certificate + issuing CA
#   ID.p12                     PKCS#12, OpenSSL 3 default (PBES2/AES-256, SHA-256 MAC)
#   ID.3des.p12                PKCS#12 in the legacy 3DES form gpgsm imports
# for ID in:
#   alice-rsa alice-ec bob-rsa bob-ec carol-rsa   good S/MIME identities
#   alice-expired      alice@example.test, RSA, valid 2020-01-01..2021-01-01
#   alice-noeku        alice@example.test, RSA, EKU serverAuth only
#   mallory-alice      alice@example.test, RSA, issued by mallory-root
#   carol-sign carol-sign2   carol@example.test, RSA, keyUsage
#                      digitalSignature + nonRepudiation only (sign)
#   carol-enc carol-enc2     carol@example.test, RSA, keyUsage
#                      keyEncipherment only (encrypt to)
#   dave-enc           dave@example.test, RSA, keyEncipherment only
#   (the PKCS#12 of these five is named by ID, not by address)
#
# Validity dates are fixed (not "now"), so the PKI is the same on every run
# except for the keys.  Runs in well under 10 s.
set -eu
set -o pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$out"

PASS=letterlock-test
printf '%s' "$PASS" > p12pass

# Fixed validity windows.
CA_START=20190101000000Z
CA_END=20491231235959Z
EE_START=20250101000000Z
EE_END=20491231235959Z
OLD_START=20200101000000Z
OLD_END=20210101000000Z

# One extensions file for everything; sections picked with -extensions.
cat > ext.cnf <<'EOF'
[root_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[inter_ext]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ee_rsa]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:copy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ee_ec]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:copy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# one key to sign, another to encrypt to (commercial CAs, smart cards)
[ee_sign]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
subjectAltName = email:copy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ee_enc]
basicConstraints = critical, CA:false
keyUsage = critical, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:copy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ee_noeku]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = email:copy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# ca_init NAME SERIAL: a minimal `openssl ca` directory and config.
ca_init() {
	local name=$1 serial=$2
	mkdir -p "ca-$name/new"
	: > "ca-$name/index.txt"
	echo "$serial" > "ca-$name/serial"
	cat > "ca-$name/ca.cnf" <<EOF
[ca]
default_ca = ca_default

[ca_default]
dir = $out/ca-$name
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = $out/$name.pem
private_key = $out/$name.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = yes


[policy_any]
commonName = supplied
emailAddress = optional
organizationName = optional

[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = unused
EOF
}

genkey_rsa() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
genkey_ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$1"; }

# sign_csr CA CSR OUT EXTSECTION START END [selfsign]
sign_csr() {
	local ca=$1 csr=$2 cert=$3 ext=$4 start=$5 end=$6 self=${7:-}
	local args=(-batch -notext -preserveDN -config "ca-$ca/ca.cnf" -in "$csr" -out "$cert"
		-extfile ext.cnf -extensions "$ext" -startdate "$start" -enddate "$end")
	if [ -n "$self" ]; then
		args+=(-selfsign -keyfile "$ca.key")
	fi
	openssl ca "${args[@]}" 2>ca.log || { cat ca.log >&2; exit 1; }
}

# make_root NAME SUBJECT SERIAL
make_root() {
	local name=$1 subj=$2 serial=$3
	genkey_rsa "$name.key"
	ca_init "$name" "$serial"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
	sign_csr "$name" "$name.csr" "$name.pem" root_ext "$CA_START" "$CA_END" selfsign
}

# make_ee ISSUER ID EMAIL KEYTYPE EXT START END [NICKNAME]
# NICKNAME names the PKCS#12 (NSS takes it as the nickname); default
# EMAIL.  Two certificates of one address need two.
make_ee() {
	local issuer=$1 id=$2 email=$3 kt=$4 ext=$5 start=$6 end=$7
	local nick=${8:-$email}
	local name=${email%@*}
	"genkey_$kt" "$id.key"
	openssl req -new -key "$id.key" \
		-subj "/CN=${name^} ($id)/emailAddress=$email" -out "$id.csr"
	sign_csr "$issuer" "$id.csr" "$id.pem" "$ext" "$start" "$end"
	cat "$id.pem" "$issuer.pem" > "$id.chain.pem"
	openssl pkcs12 -export -inkey "$id.key" -in "$id.pem" \
		-certfile "$issuer.pem" -name "$nick" -passout "file:p12pass" \
		-out "$id.p12"
	openssl pkcs12 -export -inkey "$id.key" -in "$id.pem" \
		-certfile "$issuer.pem" -name "$nick" -passout "file:p12pass" \
		-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 \
		-out "$id.3des.p12"
	rm -f "$id.csr"
}

make_root root "/O=Letterlock Test/CN=Letterlock Test Root" 1000
make_root mallory-root "/O=Mallory/CN=Mallory Root" 9000

genkey_rsa inter.key
ca_init inter 2000
openssl req -new -key inter.key \
	-subj "/O=Letterlock Test/CN=Letterlock Test Intermediate" -out inter.csr
sign_csr root inter.csr inter.pem inter_ext "$CA_START" "$CA_END"

make_ee inter alice-rsa alice@example.test rsa ee_rsa "$EE_START" "$EE_END"
make_ee inter alice-ec alice@example.test ec ee_ec "$EE_START" "$EE_END"
make_ee inter bob-rsa bob@example.test rsa ee_rsa "$EE_START" "$EE_END"
make_ee inter bob-ec bob@example.test ec ee_ec "$EE_START" "$EE_END"
make_ee inter carol-rsa carol@example.test rsa ee_rsa "$EE_START" "$EE_END"
make_ee inter alice-expired alice@example.test rsa ee_rsa "$OLD_START" "$OLD_END"
make_ee inter alice-noeku alice@example.test rsa ee_noeku "$EE_START" "$EE_END"
make_ee inter carol-sign carol@example.test rsa ee_sign "$EE_START" "$EE_END" carol-sign
make_ee inter carol-enc carol@example.test rsa ee_enc "$EE_START" "$EE_END" carol-enc
make_ee inter carol-enc2 carol@example.test rsa ee_enc "$EE_START" "$EE_END" carol-enc2
make_ee inter carol-sign2 carol@example.test rsa ee_sign "$EE_START" "$EE_END" carol-sign2
make_ee inter dave-enc dave@example.test rsa ee_enc "$EE_START" "$EE_END" dave-enc
make_ee mallory-root mallory-alice alice@example.test rsa ee_rsa "$EE_START" "$EE_END"

rm -f ./*.csr ca.log
