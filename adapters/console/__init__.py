"""The console messenger: cards as text with numbered choices, for `delphi pilot`."""
