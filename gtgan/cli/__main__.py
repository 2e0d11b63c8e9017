"""`python -m gtgan.cli` (what `torchrun ... -m gtgan.cli train` runs)."""
import sys

from . import main

sys.exit(main())
