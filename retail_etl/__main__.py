import sys

from retail_etl.cli import main

sys.exit(main())
