from reprodiag.cli import main

main()
