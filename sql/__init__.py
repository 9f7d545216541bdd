"""Numbered plain-SQL migrations, applied in order by ``app.migrations``."""
