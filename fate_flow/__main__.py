from fate_flow.cli import main

main()
