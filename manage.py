#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pmo.settings")
    from pmo.cli import run_django_command

    run_django_command(sys.argv)


if __name__ == "__main__":
    main()
