"""``python -m referral_orchestrator``."""

import sys

from .surfaces.cli import main

sys.exit(main())
