"""The only code that knows Redis keys and data layouts."""
