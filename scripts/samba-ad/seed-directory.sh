#!/usr/bin/env bash
# Seed the people of the Directory Lookup tests (directory.ldif, and Bruno Bigphoto's 3 KiB
# photo) into the Samba AD DC of start.sh, and check that the reader account finds them.
#
#   scripts/samba-ad/seed-directory.sh      # start.sh runs it; alone, it adds the people to a DC
#                                           # started before they existed, without restarting it
#
# Idempotent: when OU=People exists it only checks. Progress goes to stderr.
set -euo pipefail

SAMBA_DIR=${SAMBA_DIR:-/tmp/bems-samba/ad}
ADMIN_PASS='Passw0rd!Test'
READER=bems-scp
READER_PASS='Scp-Reader-Passw0rd!'
PEOPLE='OU=People,DC=corp,DC=example,DC=test'
HERE=$(cd "$(dirname "$0")" && pwd)
admin=(-x -H ldap://127.0.0.1 -D 'Administrator@corp.example.test' -w "$ADMIN_PASS")

log() { printf 'samba-ad: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if ! ldapsearch "${admin[@]}" -LLL -s base -b "$PEOPLE" dn >/dev/null 2>&1; then
  ldapadd "${admin[@]}" -f "$HERE/directory.ldif" >"$SAMBA_DIR/seed-directory.log" 2>&1 ||
    { cat "$SAMBA_DIR/seed-directory.log" >&2; die "seeding directory.ldif failed"; }
  # A photo larger than the tests' max_photo_bytes (2 KiB): a PNG signature and zeros.
  photo=$(mktemp)
  { printf '\211PNG\r\n\032\n'; head -c 3064 /dev/zero; } >"$photo"
  ldapmodify "${admin[@]}" >>"$SAMBA_DIR/seed-directory.log" 2>&1 <<EOF ||
dn: CN=Bruno Bigphoto,$PEOPLE
changetype: modify
replace: thumbnailPhoto
thumbnailPhoto:< file://$photo
EOF
    { rm -f "$photo"; cat "$SAMBA_DIR/seed-directory.log" >&2; die "adding Bruno's photo failed"; }
  rm -f "$photo"
  log "seeded the Directory Lookup people into $PEOPLE"
fi

# What the tests rely on: the reader finds the six enabled people with an address, not the
# disabled account or the contact.
filter='(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(mail=*@contoso.com))'
found=$(ldapsearch -LLL -x -H ldap://127.0.0.1 -D "$READER@corp.example.test" -w "$READER_PASS" \
  -b "$PEOPLE" "$filter" mail | grep -c '^mail:') || true
[ "$found" = 6 ] || die "expected 6 enabled people in $PEOPLE as $READER, found ${found:-none}"
