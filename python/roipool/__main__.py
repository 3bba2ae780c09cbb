"""``python -m roipool`` = the ``roipool`` command."""

from roipool.cli import main

raise SystemExit(main())
