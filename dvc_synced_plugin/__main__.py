from dvc_synced_plugin.cli import main

raise SystemExit(main())
