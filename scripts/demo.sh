#!/usr/bin/env bash
# `make run`: the envelope core end to end on this machine, no AWS account needed.
# Generates a root key, encrypts a sample file in the format Redshift COPY ... ENCRYPTED reads,
# shows the envelope metadata, decrypts it back and checks it is byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
s3seal=.venv/bin/s3seal
sample=${1:-examples/sales.csv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

umask 077
"$s3seal" keygen > "$work/root.key"
echo "1. generated a 256-bit root key into $work/root.key (never printed)"

"$s3seal" encrypt "$sample" "$work/sample.enc" --key-file "$work/root.key"
echo "2. encrypted $sample ($(wc -c < "$sample") bytes) to $work/sample.enc ($(wc -c < "$work/sample.enc") bytes)"

echo "3. the envelope, as S3 object metadata would carry it (inspect needs no key):"
"$s3seal" inspect "$work/sample.enc" | sed 's/^/     /'

"$s3seal" decrypt "$work/sample.enc" "$work/sample.out" --key-file "$work/root.key"
if cmp -s "$sample" "$work/sample.out"; then
  echo "4. decrypted back: byte-identical to $sample"
else
  echo "4. decrypted back: DIFFERENT from $sample" >&2
  exit 1
fi
