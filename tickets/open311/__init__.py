"""Open311 GeoReport v2: the public API through which apps and other systems report to the hotline."""
