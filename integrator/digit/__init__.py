"""The DIGIT edge: authentication, one method per DIGIT operation, typed errors."""
