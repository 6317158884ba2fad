"""The package as another app uses it: built into a wheel, installed elsewhere, launched from
any working directory."""
