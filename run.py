#!/usr/bin/env python3
"""`python run.py ...` is the `symposia` command; the command line lives in orchestrator/cli/main.py.

    python run.py --scenario multiparty [--num-conversations N] [--out DIR] [--seed S]
    python run.py --help
"""

import sys

from orchestrator.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
