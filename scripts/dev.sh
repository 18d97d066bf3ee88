#!/usr/bin/env bash
# Runs the Data Holder on the embedded default: SQLite in dev-data/, development certificates,
# a simulated CDR Register, the bank's authorization server that every registration is
# provisioned into (node-oidc-provider; DCR_PROVISIONING_ENABLED=false runs without it), and a
# freshly created administrator whose credentials are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# Provisioning is on unless turned off; with a registration endpoint of the caller's own, that
# downstream is used and none is started here.
case ${DCR_PROVISIONING_ENABLED:-true} in
  1|true|yes) PROVISIONING=true ;;
  *) PROVISIONING=false ;;
esac
LOCAL_DOWNSTREAM=false
if [ $PROVISIONING = true ] && [ -z "${DCR_PROVISIONING_REGISTRATION_ENDPOINT:-}" ]; then
  LOCAL_DOWNSTREAM=true
  ensure_downstream_as
fi

scripts/build-front.sh
log "building the server (release)"
ensure_apt libssl-dev pkg-config # OpenSSL: webauthn-rs (passkeys)
cargo build --release -p server --bin dcr-server -p dcr-devtools --bin dcr-dev
BIN=$PWD/target/release/dcr-server DEV=$PWD/target/release/dcr-dev
DATA=$PWD/dev-data
mkdir -p "$DATA"
"$DEV" certs "$DATA/certs" >/dev/null

# The CDR Register simulator with one demo software product, whose recipient (keys, client
# certificate) lives in dev-data/adr; the simulator tells the Data Holder about every change.
DEMO_PRODUCT=2f6c1a9e-8b3d-4e5f-a1c2-9d8e7f6a5b4c DEMO_BRAND=7c9e6679-7425-40de-944b-e07fc1f90ae7
"$DEV" adr init "$DATA/adr" --certs "$DATA/certs" --product $DEMO_PRODUCT --brand $DEMO_BRAND >/dev/null
SIM_ADDR=${DCR_SIM_LISTEN:-127.0.0.1:7444}
SIM_URL=https://localhost:${SIM_ADDR##*:}
API_PORT=${DCR_LISTEN_ADDR:-127.0.0.1:7443}
API_PORT=${API_PORT##*:}
"$DEV" register-sim --listen "$SIM_ADDR" --public-url "$SIM_URL" \
  --cert "$DATA/certs/server.pem" --key "$DATA/certs/server.key" --data "$DATA/register-sim.json" \
  --demo-jwks "$DATA/adr/jwks.json" --notify-ca "$DATA/certs/ca.pem" \
  --notify "${DCR_ISSUER:-https://localhost:$API_PORT}/cds-au/v1/admin/register/metadata" \
  >"$DATA/register-sim.log" 2>&1 &
SIM_PID=$!
DS_PID=
trap 'kill $SIM_PID $DS_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  "$DEV" register-sim list --url "$SIM_URL" --ca "$DATA/certs/ca.pem" >/dev/null 2>&1 && break
  kill -0 $SIM_PID 2>/dev/null || { cat "$DATA/register-sim.log"; exit 1; }
  sleep 0.2
done
export DCR_REGISTER_JWKS_URI=$SIM_URL/cdr-register/v1/jwks DCR_REGISTER_BASE_URI=$SIM_URL
export DCR_REGISTER_POLL_SECS=${DCR_REGISTER_POLL_SECS:-10}

# The downstream authorization server (tests/downstream-as/provider.mjs): RFC 7591 registration
# behind an initial access token made for this run, RFC 7592 management, private_key_jwt and
# certificate-bound tokens, on 127.0.0.1 with the dev server certificate. It keeps its clients
# in memory: a registration from an earlier run is not there.
DS_PORT=${DCR_DOWNSTREAM_PORT:-7445}
DS_URL=https://127.0.0.1:$DS_PORT
if [ $LOCAL_DOWNSTREAM = true ]; then
  IAT_FILE=$DATA/downstream-iat
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$IAT_FILE")
  # It fetches the recipients' jwks_uri (the simulator's, dev CA) and allows the scopes this
  # Data Holder grants.
  (cd tests/downstream-as && OP_IAT=$(cat "$IAT_FILE") OP_PORT=$DS_PORT \
    OP_TLS_CERT=$DATA/certs/server.pem OP_TLS_KEY=$DATA/certs/server.key \
    OP_SCOPES="$("$DEV" scopes)" NODE_EXTRA_CA_CERTS=$DATA/certs/ca.pem \
    exec node provider.mjs) >"$DATA/downstream-as.log" 2>&1 &
  DS_PID=$!
  for _ in $(seq 150); do
    grep -q '"ready"' "$DATA/downstream-as.log" && break
    kill -0 $DS_PID 2>/dev/null || { cat "$DATA/downstream-as.log"; exit 1; }
    sleep 0.2
  done
  grep -q '"ready"' "$DATA/downstream-as.log" || { cat "$DATA/downstream-as.log"; exit 1; }
  export DCR_PROVISIONING_MODE=${DCR_PROVISIONING_MODE:-sync}
  export DCR_PROVISIONING_REGISTRATION_ENDPOINT=$DS_URL/reg DCR_PROVISIONING_CA=$DATA/certs/ca.pem
  export DCR_PROVISIONING_INITIAL_ACCESS_TOKEN_FILE=$IAT_FILE
  DOWNSTREAM="$DS_URL  (bank's authorization server; log: $DATA/downstream-as.log)
              try: target/release/dcr-dev adr token --downstream"
elif [ $PROVISIONING = true ]; then
  DOWNSTREAM="$DCR_PROVISIONING_REGISTRATION_ENDPOINT  (provisioning into your authorization server)"
else
  DOWNSTREAM="none  (provisioning off)"
fi
export DCR_PROVISIONING_ENABLED=$PROVISIONING

export DCR_TLS_CERT=$DATA/certs/server.pem DCR_TLS_KEY=$DATA/certs/server.key DCR_CLIENT_CA=$DATA/certs/ca.pem
# Recipients (the simulator serves their JWKS) run on loopback here.
export DCR_OUTBOUND_ALLOWED_ADDRESSES=127.0.0.1,::1
# the portal is plain HTTP on loopback here: cookies cannot be Secure
export DCR_COOKIE_SECURE=false
export DCR_OUTBOUND_CA=$DATA/certs/ca.pem
export DCR_DATABASE_URL=${DCR_DATABASE_URL:-sqlite://$DATA/dcr.db}
export DCR_LISTEN_ADDR=${DCR_LISTEN_ADDR:-127.0.0.1:7443}
export DCR_PORTAL_ADDR=${DCR_PORTAL_ADDR:-127.0.0.1:7080}
export DCR_PORTAL_SITE_ROOT=$PWD/target/site

PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$PASSWORD" | "$BIN" admin add admin >/dev/null

cat <<MSG

  Portal:     http://$DCR_PORTAL_ADDR/
  Username:   admin
  Password:   $PASSWORD
  API:        https://$DCR_LISTEN_ADDR  (discovery: /.well-known/openid-configuration)
  Dev CA:     $DATA/certs/ca.pem   client certificate: $DATA/certs/client.pem
  Register:   $SIM_URL  (simulator; log: $DATA/register-sim.log)
  Downstream: $DOWNSTREAM
  Recipient:  $DATA/adr  (demo software product $DEMO_PRODUCT)
              try: target/release/dcr-dev adr register   (README: "Try the whole flow")

MSG
"$BIN" serve
