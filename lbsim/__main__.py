"""``python -m lbsim``: the same command line as the ``lbsim`` script."""

import sys

from lbsim.cli.interrupts import interrupts_held

try:
    with interrupts_held():  # Ctrl-C while the command line's modules load
        from lbsim.cli import console
except KeyboardInterrupt:
    sys.stderr.write("lbsim: error: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(console())
