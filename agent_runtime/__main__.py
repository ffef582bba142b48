from agent_runtime.cli.main import main

main()
