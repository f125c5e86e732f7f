"""SWAIG tools: webhook functions, data_map functions run in-process, natives."""
