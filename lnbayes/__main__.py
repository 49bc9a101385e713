from lnbayes.cli import app

app(prog_name="lnbayes")
