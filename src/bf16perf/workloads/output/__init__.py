"""A program's output read into step records: its own metrics file or stdout in one of the
formats the frameworks print (:mod:`.metrics`: the formats and their readers; :mod:`.records`:
the step record; :mod:`.logs`: the frameworks' own lines).  Pure: below both the workload
definitions that name a format and the launchers that read one."""
