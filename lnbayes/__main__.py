from lnbayes.cli import main

main()
