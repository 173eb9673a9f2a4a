"""spark-submit entry file of the stream_ingest job (:mod:`lakehouse.jobs.stream_ingest`)."""

import sys

from lakehouse.jobs.stream_ingest import main

if __name__ == "__main__":
    sys.exit(main())
