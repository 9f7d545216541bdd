"""StudyPilot's domain: the state machine, the session store, and (later) the agents."""
