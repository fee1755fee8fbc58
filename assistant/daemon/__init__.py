"""The daemon as composition: the app (wiring and the per-frame loop), the parts
it is built from (models and the seams' implementations, chosen once), the
local status API."""
