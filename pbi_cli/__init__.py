"""The `pbi` command-line tool: the project's single command-line entry point."""
