#!/usr/bin/env bash
# Make sure a requirements file's packages are importable by python3, installing them with pip
# when they are not (with --break-system-packages where the system Python is externally
# managed, and python3-pip from Debian when pip itself is missing). Fails loudly otherwise.
#
#   scripts/pip-requirements.sh scripts/ews-schema/requirements.txt xmlschema
#
# The second argument is a module to import as the check that nothing needs installing.
set -euo pipefail
REQUIREMENTS=$1
MODULE=$2
PYTHON=${PYTHON:-python3}
log() { printf 'pip-requirements: %s\n' "$*" >&2; }

if "$PYTHON" - "$REQUIREMENTS" "$MODULE" <<'PY' >/dev/null 2>&1
import importlib, importlib.metadata as md, sys
importlib.import_module(sys.argv[2])
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if "==" in line:
        name, version = line.split("==")
        assert md.version(name.strip()) == version.strip(), line
PY
then
  exit 0
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { log "pip is missing and this is not root: apt-get install python3-pip"; exit 1; }
  log "installing python3-pip (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pip >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pip >/dev/null; }
fi
log "installing $REQUIREMENTS with pip"
pip_log=$(mktemp)
trap 'rm -f "$pip_log"' EXIT
if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >"$pip_log" 2>&1; then
  if grep -q externally-managed-environment "$pip_log"; then
    log "the system Python is externally managed: pip install --break-system-packages"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages -r "$REQUIREMENTS" >"$pip_log" 2>&1 ||
      { tail -n 20 "$pip_log" >&2; log "error: pip could not install $REQUIREMENTS"; exit 1; }
  else
    tail -n 20 "$pip_log" >&2
    log "error: pip could not install $REQUIREMENTS"
    exit 1
  fi
fi
"$PYTHON" -c "import $MODULE" || { log "error: $MODULE still not importable after installing $REQUIREMENTS"; exit 1; }
