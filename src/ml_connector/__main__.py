from ml_connector.cli.main import main

main()
