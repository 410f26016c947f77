"""`python -m awskinesisstreams`: the kinesis-streams command line."""

import sys

from .cli.main import main

sys.exit(main())
