from csr_bench.cli import main

raise SystemExit(main())
