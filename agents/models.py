"""Agent runs and memory arrive with the agents issue."""
