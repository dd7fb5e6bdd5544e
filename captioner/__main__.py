"""`python -m captioner ...` (and `torchrun -m captioner train ...`): the captioner command."""

import sys

from captioner.cli import main

sys.exit(main())
