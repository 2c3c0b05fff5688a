"""The root key: reading it from Secrets Manager, rotating it, keeping its versions readable
(labels, counts, retirement) and re-wrapping data keys under the current version.

``rotation.handler`` is the rotation Lambda function's entry point.
"""
