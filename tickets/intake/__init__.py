"""Web intake (网上诉求): the public form, the progress query and the citizen's rating link; see docs/intake.md."""
