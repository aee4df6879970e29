"""The FastAGI wire protocol in plain Python, with no Django import."""
