"""``silver.mode: insert_if_absent``: add keys the date does not have; never touch a stored row.

For facts that are written once (a payment, a shipment event): a re-run, a
late duplicate or a corrected source row leaves the stored row as it is.
"""

from __future__ import annotations

from lakehouse.batch.writers.planned import PlannedMerge


class InsertIfAbsentWriter(PlannedMerge):
    """Insert-only MERGE of the keys each date's partition lacks."""

    mode = "insert_if_absent"
    isolated_by_date = True
