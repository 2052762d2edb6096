"""The composition root, above every context: the one Container, the registries built
from each context's `wire(container)`, the supervisor and the process commands.

Nothing below this package reads the environment or builds a `Settings()`."""
