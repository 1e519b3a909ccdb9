"""``python -m lbsim``: the same command line as the ``lbsim`` script."""

import sys

try:
    from lbsim.cli import console
except KeyboardInterrupt:  # Ctrl-C while the command line's modules load
    sys.stderr.write("lbsim: error: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(console())
