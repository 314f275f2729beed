//! Normalises an assembled audit event into one ECS document (Auditbeat auditd-module shape).
