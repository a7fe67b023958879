"""One ``ConfigurableResource`` per external system the scheduler talks to."""
