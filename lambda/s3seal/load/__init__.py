"""The loading path: staged objects into Amazon Redshift, in batches, each object once.

The loader's Lambda function runs ``handler.handler``. Nothing here imports ``encrypt`` (nor
does it import this): the two paths meet only in the staging bucket.
"""
