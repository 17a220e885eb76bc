"""Loopback fakes of the chat platforms, so end-to-end tests never reach the internet."""
