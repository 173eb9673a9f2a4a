"""spark-submit entry file of the health job (the job is :mod:`lakehouse.jobs.health`)."""

import sys

from lakehouse.jobs.health import main

if __name__ == "__main__":
    sys.exit(main())
