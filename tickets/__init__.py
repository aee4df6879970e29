"""Citizens, departments, categories and the unified ticket with its lifecycle."""
