"""``python -m lakehouse.launch JOB ...``: the launcher (what ``lakehouse run`` runs)."""

import sys

from lakehouse.launch.launcher import main

sys.exit(main())
