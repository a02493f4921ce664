import sys

from retail_etl.local.cli import main

sys.exit(main())
