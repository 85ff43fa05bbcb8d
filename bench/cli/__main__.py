"""`python -m bench.cli ...`: the `bench` command without the installed script."""

from bench.cli.main import main

raise SystemExit(main())
