"""Examples of conductor clients: a caller and a runner."""
