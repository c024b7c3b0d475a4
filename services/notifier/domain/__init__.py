"""Notifier rules: which event becomes which message, channel choice, quiet hours, opt-out."""
