"""Data: what a lab recorded -- records on one clock, the Trace, and its exports. Imports protocol only."""
