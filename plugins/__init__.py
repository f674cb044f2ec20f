"""automl's built-in plugins, installed as ``automl_plugins``.

Each module here is an ordinary plugin registered through the ``automl`` entry-point
group in ``pyproject.toml``, exactly as a third-party plugin would be; nothing in the
engine imports them.
"""
