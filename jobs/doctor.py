"""spark-submit entry file of the doctor job (the job is :mod:`lakehouse.jobs.doctor`)."""

import sys

from lakehouse.jobs.doctor import main

if __name__ == "__main__":
    sys.exit(main())
