"""Example study files shipped with delphi."""
