"""`python -m awskinesisstreams`: the kinesis-streams command line."""

import sys

from .cli import main

sys.exit(main())
