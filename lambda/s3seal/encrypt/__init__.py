"""The encrypting path: an S3 event in, the landed object envelope-encrypted into staging.

``handler.handler`` is the encrypting Lambda function's entry point. Nothing here imports
``load`` (nor does it import this): the two paths meet only in the staging bucket.
"""
