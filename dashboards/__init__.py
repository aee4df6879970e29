"""Live dashboards: the one event publisher, its outbox, and (later) consumers and pages."""
