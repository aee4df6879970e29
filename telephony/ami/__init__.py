"""The AMI listener: pyst2's manager client made safe (client.py), events into records and queue state (listener.py)."""
