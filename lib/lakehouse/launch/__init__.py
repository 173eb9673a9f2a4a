"""Used by the launcher only: config to a spark-submit command line, and a cluster-mode run's
status.
"""
