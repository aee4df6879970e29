"""Live dashboards: the one event publisher and its outbox, the live views and their socket, the role pages."""
