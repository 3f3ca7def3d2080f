import sys

from forcelab.cli import main

sys.exit(main())
