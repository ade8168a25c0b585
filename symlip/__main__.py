import sys

from symlip.cli import main

sys.exit(main())
