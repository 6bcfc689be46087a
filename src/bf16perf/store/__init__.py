"""Every stored file: its format version, schema and migrations, strict reading, and writing
whole or not at all; the baselines, the reference stacks and kept previous versions.
"""
