"""spark-submit entry file of the maintain job (the job is :mod:`lakehouse.jobs.maintain`)."""

import sys

from lakehouse.jobs.maintain import main

if __name__ == "__main__":
    sys.exit(main())
