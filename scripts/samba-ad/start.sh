#!/usr/bin/env bash
# Start a throwaway Samba AD DC on loopback for the SCP lookup tests of crates/autodiscover and
# the LDAP Directory Lookup tests of tests/directory.rs.
#
#   eval "$(scripts/samba-ad/start.sh)"     # exports BEMS_SAMBA_AD=<state dir>
#   BEMS_REQUIRE_SERVICES=1 cargo test -p autodiscover --test it scp
#   BEMS_REQUIRE_SERVICES=1 cargo test --test directory
#   scripts/samba-ad/stop.sh
#
# Installs the Debian packages when missing, provisions the domain CORP.EXAMPLE.TEST (DC
# dc1.corp.example.test) into $SAMBA_DIR, makes a test CA and a DC certificate with SANs
# (localhost, 127.0.0.1, ::1), starts `samba` in the background on 127.0.0.1 and ::1, waits until
# LDAP answers, seeds scp.ldif, a reader account, two DNS records and the people of
# directory.ldif (seed-directory.sh), and checks LDAPS.
# stdout carries only shell lines (an export and comments); progress goes to stderr.
#
# Idempotent: when our Samba is already up, seeded from this very start.sh and scp.ldif, it
# just prints the lines again; otherwise it stops ours and provisions afresh.
# Must run as root: Samba's LDAP ports 389/636 are fixed. Recipe and pitfalls:
# shared/reference/samba-ad.md.
set -euo pipefail

SAMBA_DIR=${SAMBA_DIR:-/tmp/bems-samba/ad}
DNS_PORT=${DNS_PORT:-5300}     # Samba's internal DNS (the _autodiscover SRV record lives there)
MODEL=${SAMBA_MODEL:-single}   # single = one process (~60 MB); prefork = Samba's default
ADMIN_PASS='Passw0rd!Test'
# The account the tests bind as (tests/it/scp.rs has the same constants).
READER=bems-scp
READER_PASS='Scp-Reader-Passw0rd!'
PACKAGES=(samba samba-dsdb-modules samba-ad-provision samba-vfs-modules winbind ldap-utils openssl)
HERE=$(cd "$(dirname "$0")" && pwd)

log() { printf 'samba-ad: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { date +%s%3N; }
secs() { local ms=$(($2 - $1)); printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10)); }
ldap_up() { ldapsearch -x -H ldap://127.0.0.1 -l 2 -o nettimeout=2 -s base -b '' dnsHostName >/dev/null 2>&1; }
print_env() {
  echo "export BEMS_SAMBA_AD=$SAMBA_DIR"
  echo "# Samba AD DC dc1.corp.example.test (realm CORP.EXAMPLE.TEST, NetBIOS CORP) on 127.0.0.1 and ::1, pid $(cat "$SAMBA_DIR/samba.pid")"
  echo "#   ldap://127.0.0.1:389 (StartTLS too), ldaps://127.0.0.1:636, DNS 127.0.0.1:$DNS_PORT"
  echo "#   CA: $SAMBA_DIR/tls/ca.pem; bind as $READER@corp.example.test or CORP\\$READER (passwords: start.sh)"
  echo "#   log: $SAMBA_DIR/samba.out; stop: $HERE/stop.sh"
}

[ "$(id -u)" -eq 0 ] || die "run as root: Samba's LDAP ports 389/636 cannot be changed"
T0=$(now_ms)

# 1. Debian packages. samba-dsdb-modules, samba-ad-provision and samba-vfs-modules (acl_xattr,
# needed by provision) are only Recommends of samba.
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; then
    log "apt-get install failed; running apt-get update and trying again"
    apt-get update >>"$apt_log" 2>&1 &&
      apt-get install -y --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1 ||
      { tail -n 20 "$apt_log" >&2; die "could not install ${missing[*]}"; }
  fi
  rm -f "$apt_log"
fi
T1=$(now_ms)

# 2. The state directory: ours alone (root's, not a symlink), since root writes into /tmp.
base=$(dirname "$SAMBA_DIR")
mkdir -p "$base"
for d in "$base" "$SAMBA_DIR"; do
  [ -e "$d" ] || continue
  [ ! -L "$d" ] || die "$d is a symlink; remove it"
  [ "$(stat -c %u "$d")" = 0 ] || die "$d belongs to uid $(stat -c %u "$d"), not root; remove it"
done
chmod 755 "$base"

# 3. Already running and seeded from these very files? Then there is nothing to do.
fingerprint=$(cat "$HERE/start.sh" "$HERE/scp.ldif" "$HERE/seed-directory.sh" "$HERE/directory.ldif" |
  sha256sum | cut -c1-16)
pid=$(cat "$SAMBA_DIR/samba.pid" 2>/dev/null || true)
if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = samba ] &&
  [ "$(cat "$SAMBA_DIR/ready" 2>/dev/null)" = "$fingerprint" ] && ldap_up; then
  log "already running (pid $pid)"
  print_env
  exit 0
fi
"$HERE/stop.sh"
! ldap_up || die "something else answers LDAP on 127.0.0.1:389 (a system Samba or slapd?); stop it first"

# 4. Provision. An empty -s config keeps Debian's /etc/samba/smb.conf out of the generated one.
rm -rf "$SAMBA_DIR"
mkdir -p -m 755 "$SAMBA_DIR/tls" "$SAMBA_DIR/run"
: >"$SAMBA_DIR/empty.conf"
samba-tool domain provision -s "$SAMBA_DIR/empty.conf" \
  --realm=CORP.EXAMPLE.TEST --domain=CORP --server-role=dc --dns-backend=SAMBA_INTERNAL \
  --adminpass="$ADMIN_PASS" --use-rfc2307 --host-name=dc1 --targetdir="$SAMBA_DIR" \
  --option='interfaces=lo' --option='bind interfaces only=yes' \
  --option="dns port=$DNS_PORT" --option="log file=$SAMBA_DIR/log.%m" \
  >"$SAMBA_DIR/provision.log" 2>&1 ||
  { tail -n 20 "$SAMBA_DIR/provision.log" >&2; die "provision failed"; }
T2=$(now_ms)

# 5. A test CA and a DC certificate with SANs: Samba's own has a CN only, which rustls rejects.
# The CA key is deleted once the DC certificate is signed.
(
  cd "$SAMBA_DIR/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 3650 -subj '/CN=bems test AD CA' -addext 'basicConstraints=critical,CA:TRUE' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out dc.csr \
    -subj '/CN=dc1.corp.example.test' 2>/dev/null
  printf '%s\n' \
    'subjectAltName=DNS:dc1.corp.example.test,DNS:corp.example.test,DNS:localhost,IP:127.0.0.1,IP:::1' \
    'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' >ext.cnf
  openssl x509 -req -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 3650 \
    -extfile ext.cnf 2>/dev/null
  rm -f ca.key ca.srl dc.csr ext.cnf
  chmod 600 key.pem
  chmod 644 ca.pem cert.pem
)

# 6. Test-only settings. Provision drops 'ldap server require strong auth', so add it here; the
# run directories move into $SAMBA_DIR so nothing is written outside it.
sed -i -e '/dns forwarder/d' -e "/^\[global\]/a\\
	ldap server require strong auth = no\\
	tls certfile = $SAMBA_DIR/tls/cert.pem\\
	tls keyfile = $SAMBA_DIR/tls/key.pem\\
	tls cafile = $SAMBA_DIR/tls/ca.pem\\
	server services = ldap dns rpc kdc\\
	pid directory = $SAMBA_DIR/run\\
	ncalrpc dir = $SAMBA_DIR/run/ncalrpc\\
	winbindd socket directory = $SAMBA_DIR/run/winbindd\\
	ntp signd socket directory = $SAMBA_DIR/run/ntp_signd" "$SAMBA_DIR/etc/smb.conf"

# 7. The reader account the tests bind as (an ordinary user, as a service account would be).
samba-tool user create "$READER" "$READER_PASS" -H "$SAMBA_DIR/private/sam.ldb" \
  -s "$SAMBA_DIR/etc/smb.conf" >"$SAMBA_DIR/user.log" 2>&1 ||
  { cat "$SAMBA_DIR/user.log" >&2; die "could not create $READER"; }
T3=$(now_ms)

# 8. Start in the foreground of its own session (no systemd needed); its PID is what stop.sh kills.
setsid samba -s "$SAMBA_DIR/etc/smb.conf" -F --no-process-group --debug-stdout -M "$MODEL" \
  </dev/null >"$SAMBA_DIR/samba.out" 2>&1 &
echo $! >"$SAMBA_DIR/samba.pid"
i=0
until ldap_up; do
  i=$((i + 1))
  kill -0 "$(cat "$SAMBA_DIR/samba.pid")" 2>/dev/null ||
    { tail -n 30 "$SAMBA_DIR/samba.out" >&2; die "samba exited"; }
  [ $i -lt 600 ] || { tail -n 30 "$SAMBA_DIR/samba.out" >&2; die "LDAP did not answer within 60 s"; }
  sleep 0.1
done
T4=$(now_ms)

# 9. Seed: SCP objects over LDAP, the SRV and A records over DCE/RPC, the people.
ldapadd -x -H ldap://127.0.0.1 -D 'Administrator@corp.example.test' -w "$ADMIN_PASS" \
  -f "$HERE/scp.ldif" >"$SAMBA_DIR/seed.log" 2>&1 ||
  { cat "$SAMBA_DIR/seed.log" >&2; die "seeding scp.ldif failed"; }
for rec in "_autodiscover._tcp SRV mail.corp.example.test 443 0 0" "mail A 127.0.0.1"; do
  set -- $rec
  name=$1 type=$2
  shift 2
  samba-tool dns add 127.0.0.1 corp.example.test "$name" "$type" "$*" -s "$SAMBA_DIR/etc/smb.conf" \
    -U Administrator --password="$ADMIN_PASS" >>"$SAMBA_DIR/seed.log" 2>&1 ||
    { cat "$SAMBA_DIR/seed.log" >&2; die "adding the DNS record $name $type failed"; }
done

# People for Directory Lookup (OU=People), checked as the reader.
SAMBA_DIR=$SAMBA_DIR "$HERE/seed-directory.sh"

# 10. Check what the tests rely on: LDAPS with the test CA, the reader account, the SCPs.
filter='(&(objectClass=serviceConnectionPoint)(|(keywords=67661d7F-8FC4-4fa7-BFAC-E1D7794C1F68)(keywords=77378F46-2C66-4aa9-A6A6-3E7A48B19596)))'
found=$(LDAPTLS_CACERT="$SAMBA_DIR/tls/ca.pem" ldapsearch -LLL -x -H ldaps://127.0.0.1 \
  -D "$READER@corp.example.test" -w "$READER_PASS" -b 'CN=Configuration,DC=corp,DC=example,DC=test' "$filter" dn |
  grep -c '^dn:') || true
[ "$found" = 8 ] || die "expected 8 SCPs in the configuration NC over LDAPS as $READER, found ${found:-none}"
echo "$fingerprint" >"$SAMBA_DIR/ready"
T5=$(now_ms)

log "packages $(secs "$T0" "$T1"), provision $(secs "$T1" "$T2"), tls+config+user $(secs "$T2" "$T3"), start->LDAP $(secs "$T3" "$T4"), seed+check $(secs "$T4" "$T5"), total $(secs "$T0" "$T5")"
print_env
