"""The change stream: scheduler, pacing, writers and the event kinds."""
