"""The web channel on the project's aiohttp app: the patient's chat page, the upload page, the coordinator dashboard."""
