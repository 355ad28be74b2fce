#!/usr/bin/env bash
# Makes a throw-away test PKI with the openssl CLI, for tests, benchmarks and trying TLS out
# (docs/SECURITY.md). Never for production: the keys are unencrypted and the CA's key sits beside.
#   tools/certs.sh DIR [NAME...]
# writes into DIR (created; files of an earlier run are replaced), every certificate ECDSA P-256
# in PEM, each NAME.pem beside its NAME-key.pem:
#   ca.pem            the CA (ca-key.pem its key) that signs everything below but foreign
#   broker.pem        a server certificate: CN meshq-broker, SAN DNS:localhost and IP:127.0.0.1
#   alice.pem bob.pem client certificates, subject CN only (identity "alice", "bob")
#   uri-client.pem    SAN URI:spiffe://meshq.test/svc/echo and DNS:echo.meshq.test, CN echo
#   dns-client.pem    SAN DNS:dns-client.meshq.test, CN dns-client
#   foreign.pem       CN alice, signed by another CA (foreign-ca.pem): refused by ca.pem's peers
#   expired.pem       CN carol, signed by ca.pem, valid only in January 2020
#   NAME.pem          for each extra NAME: a client certificate with CN NAME, signed by ca.pem
# Prints DIR on success.
set -euo pipefail

dir=${1:-}
[[ -n "$dir" ]] || { echo "usage: $0 DIR [NAME...]" >&2; exit 2; }
shift
mkdir -p "$dir"
cd "$dir"
export OPENSSL_CONF=/dev/null  # no site defaults leak into the test certificates

# key NAME: a fresh P-256 key in NAME-key.pem, readable by its owner only.
key() {
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1-key.pem")
}

# ca NAME CN: a self-signed CA certificate NAME.pem, valid ten years.
ca() {
  key "$1"
  openssl req -x509 -new -key "$1-key.pem" -out "$1.pem" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

# leaf NAME CN CA EXTENSIONS...: NAME.pem signed by CA (ca.pem or foreign-ca.pem), valid two
# years, with the given X.509v3 extension lines.
leaf() {
  local name=$1 cn=$2 issuer=$3
  shift 3
  key "$name"
  openssl req -new -key "$name-key.pem" -subj "/CN=$cn" -out "$name.csr"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "authorityKeyIdentifier=keyid" "$@" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 730 -extfile "$name.ext" -out "$name.pem" \
    2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

# client NAME CN [CA [EXTENSIONS...]]
client() {
  local name=$1 cn=$2 issuer=${3:-ca}
  shift $(($# < 3 ? $# : 3))
  leaf "$name" "$cn" "$issuer" "extendedKeyUsage=clientAuth" "$@"
}

ca ca "meshq test CA"
ca foreign-ca "meshq foreign test CA"
leaf broker meshq-broker ca "extendedKeyUsage=serverAuth,clientAuth" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1"
client alice alice
client bob bob
client uri-client echo ca "subjectAltName=URI:spiffe://meshq.test/svc/echo,DNS:echo.meshq.test"
client dns-client dns-client ca "subjectAltName=DNS:dns-client.meshq.test"
client foreign alice foreign-ca
for name in "$@"; do client "$name" "$name"; done

# The expired one: `openssl ca` is what sets past validity dates with OpenSSL 3.0.
key expired
openssl req -new -key expired-key.pem -subj "/CN=carol" -out expired.csr
mkdir -p ca-db
: >ca-db/index.txt
cat >ca-db/openssl.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF
openssl rand -hex 16 >ca-db/serial
openssl ca -batch -notext -config ca-db/openssl.cnf -extensions client -cert ca.pem \
  -keyfile ca-key.pem -startdate 20200101000000Z -enddate 20200131000000Z -in expired.csr \
  -out expired.pem 2>/dev/null
rm -rf ca-db expired.csr
pwd
