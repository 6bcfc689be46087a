"""This machine's noise: A/A sessions measured within and between sessions (the noise file),
and the nightly rules replayed over real A/A sessions.
"""
