#!/usr/bin/env bash
# Installs the Debian packages s3seal's tests and CDK app need, only when they are missing:
#   ruby-aws-sdk-s3  the official AWS SDK for Ruby, the interop oracle for the format
#   nodejs           the runtime jsii needs to run aws-cdk-lib from Python
#   python3-venv     `python3 -m venv` on Debian's own Python
set -euo pipefail

# `install-system-deps.sh run`: only what `make run` (the local demo, pure Python) needs.
missing=()
if [ "${1:-}" != run ]; then
  ruby -e 'require "aws-sdk-s3"' >/dev/null 2>&1 || missing+=(ruby-aws-sdk-s3)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
fi
"${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
