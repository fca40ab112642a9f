from hivemail.cli import main

raise SystemExit(main())
