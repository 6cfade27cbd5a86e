"""tasky-ops: build, run, verify and ship the Tasky container image."""
