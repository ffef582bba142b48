"""Test kits that run parts of the runtime, or stand-ins for outside services, in-process."""
