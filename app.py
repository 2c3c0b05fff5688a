#!/usr/bin/env python3
"""The CDK app. This is the only place that reads CDK context (cdk.json)."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from infra.nag import add_checks
from infra.settings import SettingsError, StackSettings
from infra.stack import S3SealStack

app = cdk.App()
try:
    settings = StackSettings.from_context(
        app.node.try_get_context, app.node.get_all_context().keys()
    )
except SettingsError as exc:
    sys.exit(f"s3seal: {exc}")  # one line on stderr, exit 1: a setting to fix, not a bug
S3SealStack(app, settings.stack_name, settings=settings)
add_checks(app)
app.synth()
