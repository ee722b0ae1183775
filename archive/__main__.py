"""``python -m archive …``: the archive's command line (see archive/cli.py)."""
from archive.cli import cli

if __name__ == "__main__":
    cli()
