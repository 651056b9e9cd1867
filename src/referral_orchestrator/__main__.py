"""``python -m referral_orchestrator``."""

import sys

from ._cli import main

sys.exit(main())
