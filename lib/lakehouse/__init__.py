"""lakehouse: Kafka events into Delta Lake exactly once, idempotent batch loads, checked runs.

The package is built in wings, each importing only the floors below it
(the contract is checked with import-linter, see ``pyproject.toml``)::

    core -> config | decode -> lake -> quality -> stream | batch -> ops
         -> runtime -> jobs | launch -> cli

Jobs, benchmarks and the CLI import from a wing's face (its ``__init__``).
"""

__version__ = "0.2.0"
