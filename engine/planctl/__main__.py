from planctl.cli.main import main

raise SystemExit(main())
