from retailflow.cli import main

main()
