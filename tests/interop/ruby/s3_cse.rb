# frozen_string_literal: true

# Interop helper for s3seal's tests: puts or gets objects with the official AWS SDK for Ruby
# S3 encryption clients (Debian package ruby-aws-sdk-s3), against a local S3 endpoint only.
#
#   ruby s3_cse.rb put|get CLIENT ENDPOINT BUCKET KEY FILE [KEY FILE]...
#
# CLIENT:
#   v1         Aws::S3::Encryption::Client, raw AES key (writes V1: AES-CBC, AES-ECB-wrapped key)
#   v2         Aws::S3::EncryptionV2::Client, key_wrap_schema :aes_gcm, content :aes_gcm_no_padding,
#              security_profile :v2 (writes V2: AES-GCM; reads V2 only)
#   v2-legacy  the same V2 client with security_profile :v2_and_legacy (also reads V1 objects)
#
# put: encrypts the plaintext in FILE (streamed from an open File) to KEY.
# get: decrypts KEY and writes the plaintext to FILE (response_target, streamed).
#
# The root key is standard base64 of 32 raw bytes in the environment variable
# S3SEAL_INTEROP_ROOT_KEY, never on the command line. One process handles every KEY FILE pair
# (loading the SDK takes about a second). For each pair it prints one JSON line to stdout:
#   {"key": KEY, "ok": true} or {"key": KEY, "ok": false, "error_class": ..., "message": ...}
# and it exits 0 if every pair succeeded, 1 if any failed, 2 on a usage error. SDK warnings
# (the V1 client's deprecation notice) go to stderr.

require "base64"
require "json"
require "aws-sdk-s3"

ROOT_KEY_VARIABLE = "S3SEAL_INTEROP_ROOT_KEY"
CLIENTS = %w[v1 v2 v2-legacy].freeze
MODES = %w[put get].freeze

def usage(message)
  warn "s3_cse.rb: #{message}"
  warn "usage: ruby s3_cse.rb put|get #{CLIENTS.join('|')} ENDPOINT BUCKET KEY FILE [KEY FILE]..."
  exit 2
end

def root_key
  encoded = ENV.fetch(ROOT_KEY_VARIABLE) { usage("#{ROOT_KEY_VARIABLE} is not set") }
  key = Base64.strict_decode64(encoded)
  usage("#{ROOT_KEY_VARIABLE} must be base64 of 32 bytes") unless key.bytesize == 32
  key
rescue ArgumentError
  usage("#{ROOT_KEY_VARIABLE} is not valid base64")
end

def build_client(kind, endpoint)
  s3 = Aws::S3::Client.new(
    endpoint: endpoint,
    force_path_style: true,
    region: "us-east-1",
    # Static fake credentials: the SDK never looks for others (no IMDS, no profile files). The
    # access key id may be given (s3seal local's server takes only its per-run one).
    credentials: Aws::Credentials.new(ENV.fetch("S3SEAL_TEST_ACCESS_KEY_ID", "testing"), "testing")
  )
  case kind
  when "v1"
    Aws::S3::Encryption::Client.new(client: s3, encryption_key: root_key)
  else
    Aws::S3::EncryptionV2::Client.new(
      client: s3,
      encryption_key: root_key,
      key_wrap_schema: :aes_gcm,
      content_encryption_schema: :aes_gcm_no_padding,
      security_profile: kind == "v2" ? :v2 : :v2_and_legacy
    )
  end
end

def transfer(client, mode, bucket, key, path)
  if mode == "put"
    File.open(path, "rb") { |file| client.put_object(bucket: bucket, key: key, body: file) }
  else
    client.get_object(bucket: bucket, key: key, response_target: path)
  end
end

mode, kind, endpoint, bucket, *pairs = ARGV
usage("first argument must be one of #{MODES.join(', ')}") unless MODES.include?(mode)
usage("second argument must be one of #{CLIENTS.join(', ')}") unless CLIENTS.include?(kind)
usage("ENDPOINT and BUCKET are required") if endpoint.nil? || bucket.nil?
usage("give one or more KEY FILE pairs") if pairs.empty? || pairs.length.odd?

client = build_client(kind, endpoint)
$stdout.sync = true
failed = false
pairs.each_slice(2) do |key, path|
  transfer(client, mode, bucket, key, path)
  puts JSON.generate({ key: key, ok: true })
rescue StandardError, ScriptError => e
  failed = true
  warn "#{mode} #{key}: #{e.class}: #{e.message}"
  puts JSON.generate({ key: key, ok: false, error_class: e.class.name, message: e.message })
end
exit(failed ? 1 : 0)
