"""spark-submit entry file of the batch_load job (the job is :mod:`lakehouse.jobs.batch_load`)."""

import sys

from lakehouse.jobs.batch_load import main

if __name__ == "__main__":
    sys.exit(main())
