#!/usr/bin/env bash
# Creates .venv with the pinned stack (requirements.txt) and videozoo installed in editable mode, plus the
# Debian packages the tests use (ffmpeg for torchcodec, WordNet for nltk's METEOR, Java for the COCO METEOR
# and tokenizer, sox to check the reverb rewritten from it, Chromium for the demo page's browser test, driven by
# playwright without a browser download). Idempotent: does nothing when .venv is up to date
# with requirements.txt and setup.py.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(ffmpeg wordnet-base wordnet-sense-index sox chromium)
command -v java >/dev/null 2>&1 || debian_packages+=(openjdk-17-jre-headless)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing Debian packages ${missing[*]} (run as root to install them); dependent tests will skip" >&2
  fi
fi

stamp=.venv/.videozoo-installed
digest=$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
echo "$digest" > "$stamp"
