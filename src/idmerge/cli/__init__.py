"""The ``idmerge`` command: a thin layer, every command one library call."""
