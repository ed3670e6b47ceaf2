"""`python -m helpers.data fetch|verify|info`: the command line lives in helpers.data.cli.

It is a module of its own (not this file) because `helpers.data` exports
`main`: importing this file from the package would run it twice under `-m`.
"""

import sys

from helpers.data.cli import main

sys.exit(main())
