"""Raw input to typed rows, with a reason for every refused row; shared by the stream and the batch
load.
"""

from __future__ import annotations

from lakehouse.decode.events import REASON

__all__ = ["REASON"]
