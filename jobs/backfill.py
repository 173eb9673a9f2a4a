"""spark-submit entry file of the backfill job (the job is :mod:`lakehouse.jobs.backfill`)."""

import sys

from lakehouse.jobs.backfill import main

if __name__ == "__main__":
    sys.exit(main())
