"""Command-line front end: one module per subcommand, each thin (parse, call the library, print)."""
