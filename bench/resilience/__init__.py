"""Resilience scenarios on real test networks (hostile peers, churn, crashes, full disks)."""
