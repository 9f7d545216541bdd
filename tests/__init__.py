"""StudyPilot's test suite. Importing the package installs the network guard, so it is in
place before any conftest or test module imports litellm or anything else."""

from tests import network_guard

network_guard.install()
