"""``python -m derivations``: regenerate every teaching page (see build.py)."""

from derivations.build import main

raise SystemExit(main())
