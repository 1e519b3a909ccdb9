"""``python -m lbsim``: the same command line as the ``lbsim`` script."""

from lbsim.cli import main

raise SystemExit(main())
