"""Telephony: the FastAGI bridge, the IVR, call records and the AMI listener."""
