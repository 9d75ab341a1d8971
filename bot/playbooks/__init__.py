"""Playbooks: the runbook's debug procedures as YAML, run step by step from chat."""
