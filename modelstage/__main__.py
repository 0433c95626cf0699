import sys

from modelstage.cli import main

sys.exit(main())
