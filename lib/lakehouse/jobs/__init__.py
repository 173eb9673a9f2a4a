"""The jobs, one module each; ``jobs/*.py`` at the top of the repository are their spark-submit
entry files.
"""
