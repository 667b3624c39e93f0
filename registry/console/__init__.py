"""The staff console: server-rendered screens over the same services the JSON API calls."""
