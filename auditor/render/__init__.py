"""Renderers: each turns an AuditResult into one output format and reads nothing else."""
