"""I/O: the loop thread, the recorder, the tap, the server, the raw client. Never draws or diagnoses."""
