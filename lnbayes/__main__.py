from lnbayes.cli.main import main

main()
