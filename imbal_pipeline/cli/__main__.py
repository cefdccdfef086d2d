"""`python -m imbal_pipeline.cli`, the same as `imbal-pipeline`."""

import sys

from imbal_pipeline.cli.commands import main

sys.exit(main())
