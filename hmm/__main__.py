"""`python -m hmm ...` is hmm-run."""
import sys

from .cli import main

sys.exit(main())
