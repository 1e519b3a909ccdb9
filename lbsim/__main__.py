"""``python -m lbsim``: the same command line as the ``lbsim`` script."""

from lbsim.cli import console

raise SystemExit(console())
