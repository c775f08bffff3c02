"""Components that exist only for the tests: registered through the setting ``components.modules``."""
