"""``python -m s3seal.cli``."""

import sys

from . import main

sys.exit(main())
