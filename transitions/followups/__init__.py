"""Follow-ups: the check plan, the sweep that judges due checks, the step-down board and metrics."""
