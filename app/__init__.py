"""StudyPilot's running service: settings, database, auth, HTTP app and CLI."""
